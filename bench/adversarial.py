"""The adversarial corpus as one class, graded as a batch: the table of case, status and seconds.

Every case of ``tests/adversarial/adv_corpus.py`` plus two correct students go into one class
folder, graded with ``--jobs`` workers through the real intake and batch code. Prints, per case,
the status of each check (passed / failed / error), the score, whether it matched what the case
expects, and the seconds its grading took (from its own execution summary when it ran, else the
batch's view), then the wall time of the whole batch. Run from the repository root:

    .venv/bin/python bench/adversarial.py [--jobs 2] [--markdown]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "adversarial"), str(ROOT)]

from adv_corpus import (CASES, CHECK_IDS, GOOD, GOOD_TWIN, Context, build_class, listen_port,  # noqa: E402
                        make_plan, problems, scan)

from graders import sandbox  # noqa: E402
from graders.batch import grade_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    box = sandbox.current()
    cases = [GOOD, GOOD_TWIN] + [c for c in CASES if box.isolated or not c.isolated]
    tmp = Path(tempfile.mkdtemp(prefix="hw4-bench-adversarial-"))
    srv, port = listen_port()
    os.environ["HW4_HIDDEN_SEED"] = "987654321"
    ctx = Context(tmp / "class", tmp / "out", port)
    build_class(cases, ctx.class_dir, ctx)
    subs = scan(ctx.class_dir, tmp / "unpacked").submissions
    started = time.monotonic()
    finished: dict[str, float] = {}
    results = {}
    for sid, result, error in grade_all(subs, make_plan(), ctx.out_dir, jobs=args.jobs):
        finished[sid] = time.monotonic() - started
        results[sid] = (result, error)
    wall = time.monotonic() - started
    srv.close()
    rows = []
    for case in cases:
        result, error = results[case.sub_id]
        if result is None:
            rows.append((case.name, "GRADER ERROR", "-", "no", f"{finished[case.sub_id]:.1f}"))
            continue
        checks = {c.id: c.status for it in result.items for c in it.checks}
        statuses = " ".join(checks.get(c, "-") for c in CHECK_IDS)
        part = result.parts.get("adv")
        seconds = part.execution.seconds if part and part.execution and part.execution.seconds else 0.0
        ok = "yes" if not problems(case, result, box.isolated) else "NO"
        rows.append((case.name, statuses, f"{result.total:g}/10", ok, f"{seconds:.1f}"))
    header = ("case", "double grid answer", "score", "as expected", "seconds")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print(f"\nsandbox: {box.kind}; {len(cases)} submissions, {args.jobs} workers; "
          f"whole batch {wall:.1f} s wall; {sum(r[3] == 'yes' for r in rows)}/{len(rows)} as expected")


if __name__ == "__main__":
    main()
