"""Similarity report speed on a synthetic class: ``hw4 similarity`` on N students (default 200).

Each synthetic student has the five notebooks. Per part, its code starts from one of the correct
solutions the tests hold (the reference, or an alternative written differently) and is made its
own: every name it binds renamed, and after each statement, with probability ``--edit``, a
statement of its own (``_t42 = 17 * 3``) — so two students from the same solution share runs of
a few statements, as students who follow the same lecture do. Written answers are random text.
Each notebook carries ``--output-kb`` of output (a plot), as a real one does. ``--planted`` pairs
are disguised copies (``tests/similarity/class_kit.disguise``). Building the class is not timed.

``--joined-strings N`` adds the two students of the hostile-student test, round 2
(``tests/adversarial/round2_similarity.py``: a statement of N joined ``""`` in a graded function).

Prints the seconds of ``analyse`` (read every notebook, fingerprint every unit once, score every
pair of every unit; wall and CPU: the machine is shared) and of writing the page, CSV and
histogram; the pairs scored; how many planted pairs were listed, and how many other pairs were.

    .venv/bin/python bench/similarity.py [--students 200] [--planted 10] [--edit 0.5] [--output-kb 200]
                                         [--joined-strings 66000]
"""
from __future__ import annotations

import argparse
import ast
import base64
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "similarity"),
                str(ROOT / "tests" / "adversarial")]
os.environ.setdefault("MPLBACKEND", "Agg")

import nbformat  # noqa: E402

from graders.homework import all_parts  # noqa: E402
from graders.similarity import analyse  # noqa: E402
from graders.similarity.report import by_pair, write  # noqa: E402
from graders.similarity.tokens import bound_names  # noqa: E402


class _OwnStatements(ast.NodeTransformer):
    """Inside function bodies, a statement of the student's own after each statement, with probability ``p``."""

    def __init__(self, rng: random.Random, p: float):
        self.rng, self.p = rng, p

    def generic_visit(self, node):
        super().generic_visit(node)
        inside = isinstance(node, (ast.FunctionDef, ast.For, ast.If, ast.While, ast.With))
        for field in ("body", "orelse") if inside else ():
            block = getattr(node, field, None)
            if not block:
                continue
            out = []
            for stmt in block:
                out.append(stmt)
                if self.rng.random() < self.p and not isinstance(stmt, (ast.Return, ast.Raise, ast.Continue,
                                                                          ast.Break)):
                    out.append(ast.parse(f"_t{self.rng.randrange(10**6)} = {self.rng.randrange(1000)} * "
                                         f"{self.rng.randrange(1000)}").body[0])
            setattr(node, field, out)
        return node


def own_version(source: str, rng: random.Random, p: float, keep: set[str]) -> str:
    """``source`` as one more student would have written it from the same solution."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    imported = {(a.asname or a.name).split(".")[0] for a in ast.walk(tree) if isinstance(a, ast.alias)}
    renames = {n: f"{n}_{rng.randrange(100)}" for n in bound_names(tree) - keep - imported}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in renames:
            node.id = renames[node.id]
        elif isinstance(node, ast.arg) and node.arg in renames:
            node.arg = renames[node.arg]
        elif isinstance(node, ast.FunctionDef) and node.name in renames:
            node.name = renames[node.name]
    return ast.unparse(ast.fix_missing_locations(_OwnStatements(rng, p).visit(tree)))


def random_answer(rng: random.Random, vocabulary: list[str]) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(rng.randrange(60, 160))) + "."


def build(folder: Path, *, students: int, planted: int, edit: float, output_kb: int, seed: int = 0,
          joined_strings: int = 0):
    from class_kit import _alternative_notebooks, disguise
    from helpers import solved_notebook

    rng = random.Random(seed)
    parts = all_parts()
    keep = {f for p in parts.values() for f in p.required_functions}
    alternatives = _alternative_notebooks()
    bases = {part: [nbformat.read(solved_notebook(part), as_version=4)]
             + [nbformat.read(by_part[part], as_version=4) for by_part in alternatives.values()
                if part in by_part and part != "theory"] for part in parts}
    vocabulary = [f"w{rng.randrange(10**6)}" for _ in range(3000)]
    picture = base64.b64encode(rng.randbytes(output_kb * 768)).decode() if output_kb else ""
    notebooks: dict[str, dict[str, str]] = {}
    for n in range(students):
        sid = f"{402000000 + n}_Student{n}"
        copy_of = sorted(notebooks)[n - students + planted] if n >= students - planted else None
        for part, spec in parts.items():
            path = folder / "class" / sid / spec.notebook
            path.parent.mkdir(parents=True, exist_ok=True)
            if copy_of:
                nb = nbformat.read(notebooks[copy_of][part], as_version=4)
                for cell in nb.cells:
                    if cell.cell_type == "code" and not cell.get("metadata", {}).get("hw4", {}).get("locked"):
                        cell.source = disguise(cell.source, keep=keep)
            else:
                nb = nbformat.from_dict(rng.choice(bases[part]))
                for cell in nb.cells:
                    meta = cell.get("metadata", {}).get("hw4", {})
                    if cell.cell_type == "code" and meta.get("solution"):
                        cell.source = own_version(cell.source, rng, edit, keep)
                    elif cell.cell_type == "markdown" and meta.get("answer"):
                        cell.source = random_answer(rng, vocabulary)
                if picture:
                    first = next(c for c in nb.cells if c.cell_type == "code")
                    first.outputs = [nbformat.v4.new_output("display_data", data={"image/png": picture})]
            nbformat.write(nb, path)
            notebooks.setdefault(sid, {})[part] = str(path)
    if joined_strings:
        from round2_similarity import write_attack

        for path in write_attack(folder / "class", joined_strings):
            notebooks[path.parent.name] = {"part3": str(path)}
    from class_kit import write_intake

    out = folder / "out"
    out.mkdir(parents=True, exist_ok=True)
    write_intake(out, notebooks)
    ids = sorted(sid for sid in notebooks if sid.startswith("402"))
    pairs = {tuple(sorted((ids[students - planted + i], ids[i]))) for i in range(planted)}
    return out, pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=200)
    ap.add_argument("--planted", type=int, default=10, help="disguised copies among the students")
    ap.add_argument("--edit", type=float, default=0.5, help="chance of a statement of its own after each statement")
    ap.add_argument("--output-kb", type=int, default=200, help="output (a plot) carried by each notebook")
    ap.add_argument("--joined-strings", type=int, default=0,
                    help="add two students with a statement of this many joined \"\" in a graded function")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw4-sim-bench-") as tmp:
        start = time.perf_counter()
        out, planted = build(Path(tmp), students=args.students, planted=args.planted, edit=args.edit,
                             output_kb=args.output_kb, joined_strings=args.joined_strings)
        print(f"built {args.students} students ({args.planted} planted copies) in {time.perf_counter() - start:.1f} s")
        start, cpu = time.perf_counter(), time.process_time()
        analysis = analyse(out)
        analysed, analysed_cpu = time.perf_counter() - start, time.process_time() - cpu
        start = time.perf_counter()
        write(analysis, out / "similarity")
        written = time.perf_counter() - start
        listed = {pair for pair, _ in by_pair(analysis)}
        scored = sum(c.pairs for c in analysis.compared)
        print(f"analyse: {analysed:.1f} s, {analysed_cpu:.1f} s CPU ({len(analysis.compared)} units, "
              f"{scored:,} pair scores); "
              f"write page/CSV/histogram: {written:.1f} s; total {analysed + written:.1f} s")
        print(f"planted pairs listed: {len(planted & listed)}/{len(planted)}; other pairs listed: "
              f"{len(listed - planted)} of {args.students * (args.students - 1) // 2:,}; problems: {len(analysis.problems)}")


if __name__ == "__main__":
    main()
