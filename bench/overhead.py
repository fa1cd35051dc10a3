"""Overhead of grading over bare execution, measured side by side in one run.

For one submission (default: the bundled reference), alternately (a) execute each notebook
with bare nbclient in a folder holding its assets and (b) grade the submission (execute +
probe + check + score; the per-batch Plan is built once beforehand, as in a real batch).
Prints the median of each over --runs rounds and the ratio (target ≤ 1.10).

    .venv/bin/python bench/overhead.py [--runs 5] [--parts part4,theory] [SUBMISSION_DIR]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders.workspace import prepare_workdir  # noqa: E402
from graders.intake import find_submissions  # noqa: E402
from graders.pipeline import grade_submission, prepare  # noqa: E402
from graders.secret import new_secret, read_secret  # noqa: E402


def bare(sub, plan) -> float:
    start = time.perf_counter()
    for part, path in sub.notebooks.items():
        if part not in plan.parts:
            continue
        workdir = prepare_workdir(plan.parts[part].assets)
        try:
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": str(workdir)}}).execute()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return time.perf_counter() - start


def graded(sub, plan) -> float:
    start = time.perf_counter()
    grade_submission(sub, plan)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("submission", nargs="?", default=str(ROOT / "examples" / "00000000_Reference"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--parts", default="", help="comma-separated parts (default: all)")
    ap.add_argument("--secret-file", default=None, help="course secret (default: a fresh one)")
    args = ap.parse_args()
    parts = [p for p in args.parts.split(",") if p] or None
    plan = prepare(parts=parts, secret=read_secret(args.secret_file) or new_secret())
    sub = find_submissions([Path(args.submission)], plan.parts)[0]
    sub.scope = tuple(plan.parts)
    bare(sub, plan)  # warm-up: file caches, first kernel start
    b, g = [], []
    for i in range(args.runs):
        b.append(bare(sub, plan))
        g.append(graded(sub, plan))
        print(f"round {i + 1}: bare {b[-1]:.2f} s, graded {g[-1]:.2f} s", flush=True)
    mb, mg = statistics.median(b), statistics.median(g)
    print(f"notebooks: {', '.join(sorted(set(sub.notebooks) & set(plan.parts)))}")
    print(f"median bare nbclient: {mb:.2f} s   median grading: {mg:.2f} s   ratio: {mg / mb:.3f}")


if __name__ == "__main__":
    main()
