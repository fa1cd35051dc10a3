"""The bars the engine is held to (issue "One homework = one folder").

* the engine (``graders/`` outside the homework's checks, ``graders/parts/``) names none of the
  homework's parts, models, datasets, graded functions or point groups: a homework is a folder
  with a spec, read through ``graders.homework``;
* no module under ``graders/`` is over 600 lines and no function over 150 lines.

Names are looked for in code (names, attributes, strings that are not docstrings), not in prose.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from graders.homework import load

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "graders"
HOMEWORK_CHECKS = ENGINE / "parts"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 600, 150


def _engine_files() -> list[Path]:
    return [f for f in sorted(ENGINE.rglob("*.py"))
            if HOMEWORK_CHECKS not in f.parents and ENGINE / "bundle" not in f.parents]


def _homework_words() -> set[str]:
    """What a line of the engine must not name: HW4's parts, models, datasets, graded functions, groups."""
    hw = load(ROOT)
    words = set(hw.parts) | set(hw.models) | {Path(p).name for p in hw.datasets.values()} | set(hw.datasets)
    for spec in hw.part_specs().values():
        words |= set(spec.required_functions)
    words |= set(yaml_groups(hw.rubric))
    words.discard("encode")  # part2's `encode` is also every string's method
    return words


def yaml_groups(rubric: Path) -> dict:
    import yaml

    return yaml.safe_load(rubric.read_text(encoding="utf-8"))["groups"]


def _code_texts(tree: ast.AST):
    """(line, text) of every name, attribute and non-docstring string of a module."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr


def test_the_engine_names_nothing_of_the_homework():
    words = _homework_words()
    assert {"part4", "tiny-lm", "sycophancy", "beam_search_decoder", "theory", "practical"} <= words
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(map(re.escape, sorted(words, key=len, reverse=True))) + r")(?![\w-])")
    found = []
    for path in _engine_files():
        for line, text in _code_texts(ast.parse(path.read_text(encoding="utf-8"))):
            if m := pattern.search(text):
                found.append(f"{path.relative_to(ROOT)}:{line}: {m.group(1)!r} in {text[:60]!r}")
    assert found == []


def test_no_module_over_600_lines_and_no_function_over_150():
    too_big = []
    for path in sorted(ENGINE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            too_big.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_big.append(f"{path.relative_to(ROOT)}: {node.name} is {length} lines")
    assert too_big == []
