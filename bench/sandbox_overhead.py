"""Cost of the bubblewrap sandbox: the same small submission graded with and without it, side by side.

Alternates HW4_SANDBOX=bwrap and HW4_SANDBOX=none on the adversarial corpus's reference
submission (imports numpy, three checks), --runs rounds each, and prints the medians and their
ratio. Run from the repository root:

    .venv/bin/python bench/sandbox_overhead.py [--runs 10]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "adversarial"), str(ROOT)]

from adv_corpus import GOOD, Context, build_class, make_plan, scan  # noqa: E402

from graders import sandbox  # noqa: E402
from graders.pipeline import grade_submission  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hw4-bench-sandbox-"))
    ctx = Context(tmp / "class", tmp / "out")
    build_class([GOOD], ctx.class_dir, ctx)
    (sub,) = scan(ctx.class_dir, tmp / "unpacked").submissions
    plan = make_plan()
    if not sandbox.current("bwrap").isolated:
        raise SystemExit("bubblewrap is not usable here")
    times: dict[str, list[float]] = {"bwrap": [], "none": []}
    for _ in range(args.runs):
        for mode in times:
            os.environ["HW4_SANDBOX"] = mode
            start = time.perf_counter()
            result = grade_submission(sub, plan)
            times[mode].append(time.perf_counter() - start)
            assert result.total == 10.0, result
    b, n = statistics.median(times["bwrap"]), statistics.median(times["none"])
    print(f"runs: {args.runs} each, alternating; submission: {GOOD.name} (1 notebook, 3 checks)")
    print(f"median with bubblewrap + rlimits: {b:.3f} s")
    print(f"median with rlimits only:         {n:.3f} s")
    print(f"ratio bwrap / none: {b / n:.3f}")


if __name__ == "__main__":
    main()
