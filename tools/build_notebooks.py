"""Build the student notebooks and the solved notebooks from one source of truth.

Sources: ``authoring/<part>.py`` (a percent-format template: the prose and provided code) and
``reference/<part>.py`` (the solution code, importable and tested). Outputs:

* ``assignments/<notebook>``            — student version: solutions replaced by stubs
* ``reference/solutions/<notebook>``    — solved version
* ``examples/00000000_Reference/`` and ``examples/99999999_Blank/`` — the bundled example submissions
* ``graders/parts/locked/<part>.json``  — sha256 of every provided (locked) cell, for tamper checks

Template cell markers (one per cell, on its own line):

    # %% [markdown]            markdown; each line's leading "# " is removed
    # %%                       ordinary code, the same in both versions
    # %% [locked] ID           provided code the student must not change (checksummed)
    # %% [solution] f g        the reference's functions f, g; students get signature + docstring + raise
    # %% [solution-vars] A B   the reference's module-level assignments A, B; students get ``A = None``
    # %% [answer] ITEM-ID      a written answer (markdown) for a manual rubric item; the template text
                               is the reference's sample answer, students get a placeholder

``python tools/build_notebooks.py`` writes everything; ``--check`` only verifies that the
committed files are up to date (a test runs it).
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import importlib
import json
import re
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: part → notebook file name (kept in step with graders/parts/*.py)
NOTEBOOKS = {
    "theory": "theory.ipynb",
    "part1": "part1_sycophancy.ipynb",
    "part2": "part2_loss_landscape.ipynb",
    "part3": "part3_decoding_translation.ipynb",
    "part4": "part4_advanced_decoding.ipynb",
}
REFERENCE_EXAMPLE = "00000000_Reference"
BLANK_EXAMPLE = "99999999_Blank"
ANSWER_PLACEHOLDER = "_Write your answer here._"
_MARKER = re.compile(r"^# %%(?: \[(?P<kind>[a-z-]+)\])?(?P<rest>.*)$")


def split_cells(text: str) -> list[tuple[str, str, str]]:
    """(kind, argument, body) for each cell of a percent-format template."""
    cells: list[tuple[str, str, list[str]]] = []
    for line in text.splitlines():
        m = _MARKER.match(line)
        if m:
            cells.append((m.group("kind") or "code", m.group("rest").strip(), []))
        elif cells:
            cells[-1][2].append(line)
    return [(k, a, "\n".join(body).strip("\n")) for k, a, body in cells]


def _markdown(body: str) -> str:
    return "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in body.splitlines())


def _function_sources(module_path: Path, names: list[str]) -> dict[str, tuple[str, str]]:
    """name → (full source, stub source) for top-level functions/classes of a module."""
    text = module_path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    lines = text.splitlines()
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            full = "\n".join(lines[start:node.end_lineno])
            if isinstance(node, ast.ClassDef):
                found[node.name] = (full, full)  # classes (e.g. a NamedTuple) are given, not stubbed
                continue
            body0 = node.body[0]
            has_doc = isinstance(body0, ast.Expr) and isinstance(getattr(body0, "value", None), ast.Constant) \
                and isinstance(body0.value.value, str)
            head_end = body0.end_lineno if has_doc else body0.lineno - 1
            indent = " " * (body0.col_offset)
            stub = "\n".join(lines[start:head_end]) + f"\n{indent}# YOUR CODE HERE\n" \
                f"{indent}raise NotImplementedError(\"{node.name} is not implemented yet\")"
            found[node.name] = (full, stub)
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit(f"{module_path}: no top-level function or class named {missing}")
    return found


def _assignments(module_path: Path, names: list[str]) -> dict[str, tuple[str, str]]:
    text = module_path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    found = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id in names:
                src = ast.get_source_segment(text, node)
                found[t.id] = (src, f"{t.id} = None  # YOUR ANSWER HERE (a sympy expression)")
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit(f"{module_path}: no module-level assignment to {missing}")
    return found


def build(part: str) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode, dict[str, str]]:
    """(student notebook, solved notebook, locked-cell checksums) for one part."""
    template = (ROOT / "authoring" / f"{part}.py").read_text(encoding="utf-8")
    ref_path = ROOT / "reference" / f"{part}.py"
    student, solved, locked = [], [], {}
    for kind, arg, body in split_cells(template):
        if kind == "markdown":
            md = _markdown(body)
            student.append(nbformat.v4.new_markdown_cell(md))
            solved.append(nbformat.v4.new_markdown_cell(md))
        elif kind == "code":
            student.append(nbformat.v4.new_code_cell(body))
            solved.append(nbformat.v4.new_code_cell(body))
        elif kind == "locked":
            if not arg:
                raise SystemExit(f"{part}: a [locked] cell needs an id")
            meta = {"hw4": {"locked": True, "id": arg}}
            student.append(nbformat.v4.new_code_cell(body, metadata=meta))
            solved.append(nbformat.v4.new_code_cell(body, metadata=meta))
            locked[arg] = hashlib.sha256(body.encode()).hexdigest()
        elif kind in ("solution", "solution-vars"):
            names = arg.split()
            pick = _function_sources if kind == "solution" else _assignments
            sources = pick(ref_path, names)
            prefix = (body + "\n\n") if body else ""
            meta = {"hw4": {"solution": names}}
            solved.append(nbformat.v4.new_code_cell(prefix + "\n\n\n".join(sources[n][0] for n in names), metadata=meta))
            student.append(nbformat.v4.new_code_cell(prefix + "\n\n\n".join(sources[n][1] for n in names), metadata=meta))
        elif kind == "answer":
            meta = {"hw4": {"answer": arg}}
            solved.append(nbformat.v4.new_markdown_cell(_markdown(body), metadata=meta))
            student.append(nbformat.v4.new_markdown_cell(ANSWER_PLACEHOLDER, metadata=meta))
        else:
            raise SystemExit(f"{part}: unknown cell kind [{kind}]")
    notebooks = []
    for cells in (student, solved):
        nb = nbformat.v4.new_notebook()
        nb.cells = cells
        nb.metadata = {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
            "hw4": {"part": part, "format": 1},
        }
        for i, c in enumerate(nb.cells):
            c["id"] = f"{part}-{i:03d}"
        notebooks.append(nb)
    return notebooks[0], notebooks[1], locked


def outputs(part: str) -> dict[Path, str]:
    student, solved, locked = build(part)
    name = NOTEBOOKS[part]
    s_text, r_text = nbformat.writes(student) + "\n", nbformat.writes(solved) + "\n"
    return {
        ROOT / "assignments" / name: s_text,
        ROOT / "reference" / "solutions" / name: r_text,
        ROOT / "examples" / BLANK_EXAMPLE / name: s_text,
        ROOT / "examples" / REFERENCE_EXAMPLE / name: r_text,
        ROOT / "graders" / "parts" / "locked" / f"{part}.json": json.dumps(locked, indent=1, sort_keys=True) + "\n",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", help="parts to build (default: every part with a template)")
    parser.add_argument("--check", action="store_true", help="only verify the committed files are up to date")
    args = parser.parse_args(argv)
    parts = args.parts or [p for p in NOTEBOOKS if (ROOT / "authoring" / f"{p}.py").exists()]
    stale = []
    for part in parts:
        for path, text in outputs(part).items():
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current == text:
                continue
            if args.check:
                stale.append(path.relative_to(ROOT))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run python tools/build_notebooks.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
