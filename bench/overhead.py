"""Overhead of grading over bare execution, measured side by side in one run.

For one submission (default: the bundled reference), alternately (a) execute each notebook
with bare nbclient in a folder holding its assets, (b) grade the submission with warm kernels and
batched probes (``graders.kernel_pool``: each notebook's kernel started while the one before it runs, and the
first one while the previous round's last notebook ran, as in a worker grading a class) and
(c) grade it as before them: every kernel started on demand and every check asked in a cell
of its own (``--no-pool --no-batch``). The per-batch Plan is built
once beforehand, its checks included, as in a real batch. Prints the median of each over --runs
rounds, the ratios to bare, and the load average.

    .venv/bin/python bench/overhead.py [--runs 5] [--parts part4,theory] [SUBMISSION_DIR]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders import kernel_pool  # noqa: E402
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
    secret = read_secret(args.secret_file) or new_secret()
    warm = prepare(parts=parts, secret=secret)
    cold = prepare(parts=parts, secret=secret, warm_kernels=False, batch_probes=False)
    dict(warm.checks), dict(cold.checks)  # reference values computed before any timing
    kernel_pool.shared().ahead = True     # as in a worker: the next round's first kernel is warmed
    sub = find_submissions([Path(args.submission)], warm.parts)[0]
    sub.scope = tuple(warm.parts)
    bare(sub, warm)  # warm-up: file caches, first kernel start
    graded(sub, warm)
    b, w, c = [], [], []
    for i in range(args.runs):
        b.append(bare(sub, warm))
        w.append(graded(sub, warm))
        c.append(graded(sub, cold))
        print(f"round {i + 1}: bare {b[-1]:.2f} s, graded with warm kernels {w[-1]:.2f} s, "
              f"without {c[-1]:.2f} s", flush=True)
    mb, mw, mc = statistics.median(b), statistics.median(w), statistics.median(c)
    print(f"notebooks: {', '.join(sorted(set(sub.notebooks) & set(warm.parts)))}")
    print(f"median bare nbclient: {mb:.2f} s   graded, warm kernels: {mw:.2f} s (ratio {mw / mb:.3f})   "
          f"graded, --no-pool --no-batch: {mc:.2f} s (ratio {mc / mb:.3f})")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
