"""What is compared in one notebook: each graded function with its own helpers, and each written answer.

A graded function's unit is the student's own code for it: its ``def`` (docstrings cut) followed
by the ``def`` of every helper it uses, directly or through another helper, that the student
wrote — found through the names the code refers to (Python's ``ast``), so a helper that a copy
inlines still lines up with the original's. Other graded functions it calls are not appended
(each is compared on its own), nor is anything the assignment provides. Cells are read in
notebook order and a later ``def`` replaces an earlier one, as running the notebook would.

Left out, as in nbgrader and MOSS: provided cells (``metadata.hw4.locked``), any cell whose
source is one of the assignment's cells, and a ``def`` the assignment already contains (an
unanswered stub). The template's signature line of a graded function is not compared either
(see ``tokens.code_tokens(skip_header=True)``).

A written answer's unit is the text of its answer cells (``graders.manual.cells.answer_in_cells``).
Everything here comes from a student: a cell that is not Python, too large or too deep, and a
function whose helpers add up to too much, are left out with a note that says which.
"""
from __future__ import annotations

import ast
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from graders.locked import locked_id
from graders.nbmeta import answer_item

#: a cell (or answer) longer than this is not compared (notebooks are capped at 50 MB elsewhere)
MAX_CELL_CHARS = 200_000
#: a graded function with its helpers longer than this is not compared (helpers may fill many cells)
MAX_UNIT_CHARS = MAX_CELL_CHARS
#: IPython syntax that is not Python: line magics, shell escapes, help
_MAGIC = re.compile(r"^\s*(%|!|\?)|\?\s*$")


@dataclass(frozen=True)
class Unit:
    """One compared piece of one submission.

    kind:   "code" (a graded function and its helpers) or "written" (an answer)
    name:   the function name or the answer's rubric item id
    text:   what is compared and shown (code without docstrings; the answer's Markdown)
    """

    part: str
    kind: str
    name: str
    text: str


@dataclass(frozen=True)
class Template:
    """What the assignment notebook of a part gives every student."""

    part: str
    functions: tuple[str, ...]
    answer_items: tuple[str, ...]
    code_cells: frozenset[str]
    defs: frozenset[str]
    names: frozenset[str]
    code: tuple[str, ...]
    prose: frozenset[str]

    @classmethod
    def from_cells(cls, part: str, cells: list, functions: tuple[str, ...]) -> "Template":
        code_cells, defs, names, code, prose, items = set(), set(), set(), [], set(), []
        for cell in cells:
            src = _source(cell)
            if cell.get("cell_type") == "markdown":
                prose.add(src.strip())
                item = answer_item(cell)
                if isinstance(item, str) and item not in items:
                    items.append(item)
                continue
            if cell.get("cell_type") != "code":
                continue
            code_cells.add(_normal(src))
            code.append(src)
            found, _ = _top_level(src)
            if found is None:
                continue
            tree, lines = found
            for node in tree.body:
                names.update(_bound_at_top(node))
                if isinstance(node, _DEFS):
                    defs.add(_normal(_segment(node, lines)))
        return cls(part, tuple(functions), tuple(items), frozenset(code_cells), frozenset(defs),
                   frozenset(names), tuple(code), frozenset(prose))


@dataclass
class NotebookUnits:
    """The units of one notebook, and why anything in it could not be compared."""

    units: dict[str, Unit] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _source(cell: Mapping) -> str:
    src = cell.get("source", "")
    return "".join(map(str, src)) if isinstance(src, list) else str(src)


def _normal(source: str) -> str:
    """Source with line ends, trailing spaces and blank lines at the ends not mattering."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _top_level(src: str) -> tuple[tuple[ast.Module, list[str]] | None, str]:
    """The cell parsed (if need be with IPython magics blanked, line numbers kept), or None and why not."""
    lines = src.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    try:
        try:
            return (ast.parse("\n".join(lines)), lines), ""
        except SyntaxError:
            lines = ["" if _MAGIC.search(line) else line for line in lines]
            return (ast.parse("\n".join(lines)), lines), ""
    except SyntaxError as exc:
        return None, f"a syntax error at line {exc.lineno}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"code Python cannot read ({type(exc).__name__})"


def _bound_at_top(node: ast.stmt) -> set[str]:
    if isinstance(node, _DEFS):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    out = set()
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    for target in targets:
        for sub in ast.walk(target) if target is not None else ():
            if isinstance(sub, ast.Name):
                out.add(sub.id)
    return out


def _docstring_lines(node: ast.AST) -> set[int]:
    """Line numbers (1-based) taken up only by the docstrings of ``node`` and of the defs inside it."""
    out: set[int] = set()
    for sub in ast.walk(node):
        if not isinstance(sub, _DEFS) or not sub.body:
            continue
        first = sub.body[0]
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            continue
        header_end = max(sub.lineno, *(d.end_lineno or d.lineno for d in sub.decorator_list)) \
            if sub.decorator_list else sub.lineno
        after = sub.body[1].lineno if len(sub.body) > 1 else None
        last = first.end_lineno or first.lineno
        if first.lineno > header_end and (after is None or after > last):
            out.update(range(first.lineno, last + 1))
    return out


def _segment(node: ast.AST, lines: list[str]) -> str:
    """The source lines of a top-level def (decorators included), docstring lines left out."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    end = node.end_lineno or node.lineno
    skip = _docstring_lines(node)
    return "\n".join(lines[i - 1] for i in range(start, end + 1) if i not in skip)


def _referenced(node: ast.AST) -> list[str]:
    """Names ``node`` refers to, in order of first appearance in the source."""
    found = [(n.lineno, n.col_offset, n.id) for n in ast.walk(node) if isinstance(n, ast.Name)]
    return list(dict.fromkeys(name for *_, name in sorted(found)))


def _with_helpers(name: str, own: Mapping[str, tuple[str, ast.AST]], graded: set[str]) -> list[str] | None:
    """The texts of ``name``'s def and of the student's helpers it uses, first used first; None past
    ``MAX_UNIT_CHARS``. A name is queued once and the walk stops at the bound, so a notebook of many
    large helpers costs time linear in its size, not in its size squared."""
    texts, size, queue, seen = [], 0, deque([name]), {name}
    while queue:
        text, node = own[queue.popleft()]
        size += len(text)
        if size > MAX_UNIT_CHARS:
            return None
        texts.append(text)
        for helper in _referenced(node):
            if helper not in seen and helper not in graded and helper in own:
                seen.add(helper)
                queue.append(helper)
    return texts


def notebook_units(cells: list, template: Template, *, answer_text) -> NotebookUnits:
    """The units of one notebook of ``template.part``.

    answer_text(cells, item_id) gives a written answer's text (None if the notebook has none).
    """
    out = NotebookUnits()
    defs: dict[str, tuple[str, ast.AST]] = {}
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or locked_id(cell):
            continue
        src = _source(cell)
        if not src.strip() or _normal(src) in template.code_cells:
            continue
        mentions = [f for f in template.functions if f"def {f}" in src]
        if len(src) > MAX_CELL_CHARS:
            if mentions:
                out.problems.append(f"{template.part}: cell {number} has over {MAX_CELL_CHARS:,} characters; "
                                    f"{', '.join(mentions)} not compared")
            continue
        found, why = _top_level(src)
        if found is None:
            if mentions:
                out.problems.append(f"{template.part}: cell {number} has {why}; {', '.join(mentions)} not compared")
            continue
        tree, lines = found
        for node in tree.body:
            if isinstance(node, _DEFS):
                defs[node.name] = (_segment(node, lines), node)
            else:
                for name in _bound_at_top(node):
                    defs.pop(name, None)  # rebound by something other than a def
    own = {name: (text, node) for name, (text, node) in defs.items() if _normal(text) not in template.defs}
    graded = set(template.functions)
    for name in template.functions:
        if name not in own:
            continue
        texts = _with_helpers(name, own, graded)
        if texts is None:
            out.problems.append(f"{template.part}: {name} with the helpers it uses has over "
                                f"{MAX_UNIT_CHARS:,} characters; {name} not compared")
            continue
        out.units[name] = Unit(template.part, "code", name, "\n\n".join(texts))
    for item in template.answer_items:
        text = answer_text(cells, item)
        if text is None:
            continue
        # the placeholder (or any other cell text of the assignment) left in an answer cell is not an answer
        text = "\n\n".join(chunk for chunk in text.split("\n\n") if chunk.strip() not in template.prose)
        if not text.strip():
            continue
        if len(text) > MAX_CELL_CHARS:
            out.problems.append(f"{template.part}: the answer {item} has over {MAX_CELL_CHARS:,} characters; "
                                f"only the first {MAX_CELL_CHARS:,} are compared")
            text = text[:MAX_CELL_CHARS]
        out.units[item] = Unit(template.part, "written", item, text)
    return out


def read_template(notebook: Path, part: str, functions: tuple[str, ...]) -> Template:
    """The template of ``part`` from its assignment notebook."""
    from graders.notebook_file import read_notebook

    return Template.from_cells(part, list(read_notebook(notebook).cells), functions)
