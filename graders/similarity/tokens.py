"""Turn a student's code or prose into the tokens that are compared, each with its place in the text.

Code is read with Python's own tokenizer, so comments, blank lines, whitespace and line breaks
inside brackets never reach the comparison, and docstrings (a statement that is only a string)
are dropped. A name the student chose — a variable, a parameter, a helper's name — becomes ``V``:
renaming hides nothing. What a student cannot rename without writing different code stays as it
is: keywords, operators, numbers, built-ins, attribute names (``.softmax``), keyword arguments
(``dim=``) and the names the assignment itself provides (``torch``, ``np``, the graded
functions…) unless the student binds that name again. Strings become ``S``.

Prose is split into words (letters and digits), each folded with NFKC and ``casefold`` so that
case, accents written two ways, punctuation, Markdown and line breaks do not matter.
"""
from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import tokenize
import unicodedata
from dataclasses import dataclass
from typing import Iterable

#: a student-chosen name, after normalisation
NAME = "V"
#: any string literal
STRING = "S"
#: the end of a statement (a line break or ";")
END = ";"

_BUILTINS = frozenset(dir(builtins))
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER,
         tokenize.ENCODING, getattr(tokenize, "FSTRING_MIDDLE", -1), getattr(tokenize, "FSTRING_END", -1)}
_FSTRING_START = getattr(tokenize, "FSTRING_START", -2)
_WORD = re.compile(r"\w+")


class Untokenizable(ValueError):
    """The text is not Python the tokenizer can read (the message says where)."""


@dataclass(frozen=True)
class Token:
    """One compared token: its normal form and the characters ``text[start:end]`` it came from."""

    value: str
    start: int
    end: int


def bound_names(tree: ast.AST) -> set[str]:
    """Every name ``tree`` binds: assignment and loop targets, parameters, defs, imports, ``as`` names."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return names


def _offsets(text: str) -> list[int]:
    """Character offset of the start of each line (1-based line numbers index it directly)."""
    starts = [0, 0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def code_tokens(text: str, *, provided: Iterable[str] = (), skip_header: bool = False) -> list[Token]:
    """The normalised tokens of Python source ``text``.

    provided:    names the assignment binds (kept as they are unless ``text`` binds them itself)
    skip_header: leave out the first ``def`` line up to its colon (its signature is the template's)
    """
    try:
        bound = bound_names(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise Untokenizable(f"not valid Python ({type(exc).__name__})") from None
    keep = (set(provided) | _BUILTINS) - bound
    starts = _offsets(text)
    raw = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type not in _SKIP:
                raw.append(tok)
    except (tokenize.TokenError, SyntaxError, RecursionError) as exc:
        raise Untokenizable(f"not valid Python ({type(exc).__name__})") from None
    out: list[Token] = []
    depth: list[str] = []          # open brackets
    in_header = False              # between "def"/"class" and its ":"
    header_skipped = not skip_header
    skipping = False
    line_start = True              # the previous kept token ended a statement
    bare_end = 0                   # raw[i] for i < bare_end is in a statement made only of strings
    for i, tok in enumerate(raw):
        kind, s = tok.type, tok.string
        start = starts[tok.start[0]] + tok.start[1]
        end = starts[tok.end[0]] + tok.end[1]
        prev = raw[i - 1].string if i else ""
        if kind == tokenize.OP and s in "([{":
            depth.append(s)
        elif kind == tokenize.OP and s in ")]}" and depth:
            depth.pop()
        if kind == tokenize.NAME and s in ("def", "class") and not depth:
            in_header = True
            if not header_skipped and s == "def":
                skipping = True
        if kind == tokenize.OP and s == ":" and in_header and not depth:
            in_header = False
            if skipping:
                skipping, header_skipped = False, True
                line_start = True
                continue
        if skipping:
            continue
        if kind in (tokenize.NEWLINE,) or (kind == tokenize.OP and s == ";"):
            if out and out[-1].value != END:
                out.append(Token(END, start, end))
            line_start = True
            continue
        if kind == tokenize.STRING or kind == _FSTRING_START:
            if i < bare_end:
                continue  # the rest of a bare string statement
            if line_start:
                bare_end = _bare_string_end(raw, i)
                if i < bare_end:
                    continue  # a docstring or a bare string statement
            value = STRING
        elif kind == tokenize.NAME:
            if keyword.iskeyword(s):
                value = s
            elif prev == "." and i and raw[i - 1].type == tokenize.OP:
                value = s  # an attribute: .softmax, .shape
            elif (not in_header and depth and depth[-1] == "(" and i + 1 < len(raw)
                  and raw[i + 1].string == "=" and prev in ("(", ",")):
                value = s  # a keyword argument: dim=-1
            elif s in keep and not in_header:
                value = s
            else:
                value = NAME
        else:
            value = s
        line_start = False
        out.append(Token(value, start, end))
    while out and out[-1].value == END:
        out.pop()
    return out


def _bare_string_end(raw: list, i: int) -> int:
    """Where the statement starting at token ``i`` ends (its NEWLINE or ``;``, or the end of ``raw``) if
    it is nothing but (implicitly joined) strings; else ``i``.

    The caller skips the tokens up to that end rather than asking again at each of them: asked
    once per literal, a statement of 66,000 joined ``""`` took time quadratic in their number.
    """
    for j in range(i, len(raw)):
        tok = raw[j]
        if tok.type == tokenize.NEWLINE or (tok.type == tokenize.OP and tok.string == ";"):
            return j
        if tok.type not in (tokenize.STRING, _FSTRING_START) and tok.type not in _SKIP:
            return i
    return len(raw)


def word_tokens(text: str) -> list[Token]:
    """The words of ``text`` (letters and digits), case- and compatibility-folded, with their places."""
    return [Token(unicodedata.normalize("NFKC", m.group()).casefold(), m.start(), m.end())
            for m in _WORD.finditer(text)]
