"""The adversarial corpus, case by case: status, score, wall seconds and the grader's peak memory.

Every case of ``tests/adversarial/adv_corpus.py`` plus two correct students is graded through the
real intake, execution, checks, scoring and recording — each in a grading process of its own
(``--jobs`` at a time), so the peak resident memory (RSS) measured is that case's alone. Prints,
per case, the status of each check (passed / failed / error), the score, whether it matched what
the case expects, its wall seconds against the submission's time budget, and the grading
process's peak RSS (with the RSS it had before grading: imports). Then the slowest case against
its budget and the largest peak. Run from the repository root:

    .venv/bin/python bench/adversarial.py [--jobs 2] [--markdown] [--only CASE ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "adversarial"), str(ROOT)]

from adv_corpus import CASES, CHECK_IDS, GOOD, GOOD_TWIN, LIMITS, Context, build_class, listen_port  # noqa: E402

from graders import sandbox  # noqa: E402

#: grades one case in a fresh process and prints one JSON line about it
_ONE = r"""
import json, resource, sys, time
sys.path[:0] = [{tests!r}, {root!r}]
from pathlib import Path
from adv_corpus import CASES, GOOD, GOOD_TWIN, Context, make_plan, problems, scan
from graders import sandbox
from graders.pipeline import grade_submission
case = {{c.name: c for c in [GOOD, GOOD_TWIN, *CASES]}}[{name!r}]
ctx = Context(Path({klass!r}), Path({out!r}), {port})
plan = make_plan()
subs = scan(ctx.class_dir, Path({unpack!r})).submissions
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
result = grade_submission(subs[0], plan, ctx.out_dir)
seconds = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
checks = {{c.id: c.status for it in result.items for c in it.checks}}
print(json.dumps({{"checks": checks, "total": result.total, "seconds": seconds, "rss_before": before / 1024,
                   "rss_peak": peak / 1024,
                   "problems": problems(case, result, sandbox.current().isolated, ctx)}}))
"""


def _grade(case, base: Path, port: int) -> dict:
    folder = base / case.name
    ctx = Context(folder / "class", folder / "out", port)
    build_class([case], ctx.class_dir, ctx)
    code = _ONE.format(tests=str(ROOT / "tests" / "adversarial"), root=str(ROOT), name=case.name,
                       klass=str(ctx.class_dir), out=str(ctx.out_dir), unpack=str(folder / "unpacked"), port=port)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    try:
        row = json.loads(lines[-1])
    except (IndexError, ValueError):
        row = {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    row["wall"] = time.monotonic() - start
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases graded at the same time")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--only", nargs="*", default=None, help="grade only these cases")
    args = parser.parse_args()
    box = sandbox.current()
    cases = [GOOD, GOOD_TWIN] + [c for c in CASES if box.isolated or not c.isolated]
    if args.only:
        cases = [c for c in cases if c.name in args.only]
    base = Path(tempfile.mkdtemp(prefix="hw4-bench-adversarial-"))
    srv, port = listen_port()
    os.environ["HW4_SECRET"] = "987654321"
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda c: _grade(c, base, port), cases))
    wall = time.monotonic() - started
    srv.close()
    budget = LIMITS.submission_timeout
    table = []
    for case, row in zip(cases, rows):
        if "error" in row:
            table.append((case.name, "GRADER ERROR: " + row["error"], "-", "no", f"{row['wall']:.1f}", "-"))
            continue
        statuses = " ".join(row["checks"].get(c, "-") for c in CHECK_IDS)
        table.append((case.name, statuses, f"{row['total']:g}/10", "yes" if not row["problems"] else "NO",
                      f"{row['seconds']:.1f}", f"{row['rss_peak']:.0f} ({row['rss_before']:.0f})"))
    header = ("case", "double grid answer", "score", "as expected", "seconds", "peak RSS MB (before)")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in table:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
        for line in [header, *table]:
            print("  ".join(str(c).ljust(w) for c, w in zip(line, widths)))
    graded = [(c.name, r) for c, r in zip(cases, rows) if "error" not in r]
    if graded:
        slow_name, slow = max(graded, key=lambda x: x[1]["seconds"])
        big_name, big = max(graded, key=lambda x: x[1]["rss_peak"])
        print(f"\nslowest: {slow_name} {slow['seconds']:.1f} s of its {budget:.0f} s budget; "
              f"largest peak RSS: {big_name} {big['rss_peak']:.0f} MB ({big['rss_before']:.0f} MB before grading)")
        for name, row in graded:
            for problem in row["problems"]:
                print(f"  {name}: {problem}")
    print(f"sandbox: {box.kind}; {len(cases)} submissions, {args.jobs} at a time; {wall:.1f} s wall; "
          f"{sum(r[3] == 'yes' for r in table)}/{len(table)} as expected")


if __name__ == "__main__":
    main()
