"""Batched probes against one cell per check: the same results, and the time each takes.

Grades each submission (default: every one under examples/) with batched probes and with one probe
cell per check (``prepare(batch_probes=...)``, as ``hw4 grade --no-batch``), with the test suite's
course secret unless --secret-file is given. Compares what every check says (id, passed, status,
reason, weight) and every item's score and status: they must be identical, and the script exits
with status 1 if they are not. Prints the wall seconds of each grading, the seconds spent in probe
cells and their number (executing the notebooks varies more from run to run than batching saves:
compare the probe cells' seconds), and the load average (the machine may be shared).

    .venv/bin/python bench/batching.py [--rounds 1] [--parts part2,theory] [SUBMISSION_DIR ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from graders import kernel  # noqa: E402
from graders.intake import find_submissions  # noqa: E402
from graders.pipeline import grade_submission, prepare  # noqa: E402
from graders.results import SubmissionResult  # noqa: E402
from graders.secret import read_secret  # noqa: E402


def what_it_says(result: SubmissionResult) -> dict:
    """Every check's and item's verdict (not ``detail``: a traceback names the kernel's own folder)."""
    checks = {c.id: (c.passed, c.status, c.reason, c.weight) for item in result.items for c in item.checks}
    items = {item.id: (item.score, item.status, item.reason) for item in result.items}
    return {"checks": checks, "items": items, "total": result.total}


def differences(a: dict, b: dict) -> list[str]:
    """Where two ``what_it_says`` differ, one line each."""
    out = [f"total: {a['total']} vs {b['total']}"] if a["total"] != b["total"] else []
    for kind in ("checks", "items"):
        for key in sorted(set(a[kind]) | set(b[kind])):
            if a[kind].get(key) != b[kind].get(key):
                out.append(f"{kind[:-1]} {key}: {a[kind].get(key)} vs {b[kind].get(key)}")
    return out


class CellCount:
    """Counts the probe cells sent to kernels and the seconds they took (the real
    ``Kernel.run_probe_cell`` runs)."""

    def __init__(self):
        self.cells, self.seconds = 0, 0.0
        self._original = kernel.Kernel.run_probe_cell

    def __enter__(self):
        original, count = self._original, self

        def counted(self, source, timeout):
            count.cells += 1
            start = time.perf_counter()
            try:
                return original(self, source, timeout)
            finally:
                count.seconds += time.perf_counter() - start

        kernel.Kernel.run_probe_cell = counted
        return self

    def __exit__(self, *exc):
        kernel.Kernel.run_probe_cell = self._original


def grade(sub, plan) -> tuple[dict, float, CellCount]:
    """Grade ``sub``: what it says, the wall seconds, the probe cells asked (and their seconds)."""
    with CellCount() as count:
        start = time.perf_counter()
        result = grade_submission(sub, plan)
        seconds = time.perf_counter() - start
    return what_it_says(result), seconds, count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("submissions", nargs="*", help="submission folders (default: every one under examples/)")
    ap.add_argument("--rounds", type=int, default=1, help="gradings of each submission each way (order alternates)")
    ap.add_argument("--parts", default="", help="comma-separated parts (default: all)")
    ap.add_argument("--secret-file", default=None, help="course secret (default: the test suite's)")
    args = ap.parse_args()
    from helpers import TEST_SECRET

    secret = read_secret(args.secret_file) if args.secret_file else TEST_SECRET
    parts = [p for p in args.parts.split(",") if p] or None
    plans = {batch: prepare(parts=parts, secret=secret, batch_probes=batch) for batch in (True, False)}
    for plan in plans.values():
        len(plan.checks)  # built now (reference values computed), not inside the first timing
    folders = [Path(s) for s in args.submissions] or sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    same = True
    for folder in folders:
        sub = find_submissions([folder], plans[True].parts)[0]
        sub.scope = tuple(plans[True].parts)
        said, seconds, probing, cells = ({True: [], False: []} for _ in range(4))
        for r in range(args.rounds):
            for batch in ((True, False) if r % 2 == 0 else (False, True)):
                what, s, count = grade(sub, plans[batch])
                said[batch].append(what)
                seconds[batch].append(s)
                probing[batch].append(count.seconds)
                cells[batch].append(count.cells)
                print(f"  {folder.name} {'batched' if batch else 'one per check'}: {s:.1f} s, of which "
                      f"{count.seconds:.1f} s in {count.cells} probe cells", flush=True)
        found = [d for a in said[True] for b in said[False] for d in differences(a, b)]
        same &= not found
        batched, alone = statistics.median(seconds[True]), statistics.median(seconds[False])
        in_cells = {b: statistics.median(probing[b]) for b in probing}
        print(f"{folder.name}: {len(said[True][0]['checks'])} checks, total {said[True][0]['total']}; median of "
              f"{args.rounds}: batched {batched:.1f} s ({in_cells[True]:.1f} s in {cells[True][0]} probe cells), "
              f"one per check {alone:.1f} s ({in_cells[False]:.1f} s in {cells[False][0]} probe cells); "
              f"{'identical' if not found else f'{len(found)} DIFFERENCES'}", flush=True)
        for line in dict.fromkeys(found):
            print("  " + line)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
