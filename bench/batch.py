"""Batch grading speed, measured side by side in one run: 2 workers vs 1, a Dask cluster vs the local pool, and an unchanged regrade vs a first grade.

Builds a class folder of N copies of each example submission (``examples/*``, renamed
``{STD_Number}_{Name}``), prepares the plan once, then times, on the same folder:

1. a first grade with 1 worker (into a fresh OUT1),
2. a first grade with 2 workers (into a fresh OUT2),
3. a regrade of the unchanged class into OUT2 (every result up to date: resume skips them all),
4. with ``--scheduler``: a first grade on a Dask cluster (into a fresh OUT3) — by default a
   ``distributed.LocalCluster`` of 2 worker processes with 1 thread each, started (and timed)
   before the grade, as a TA starts a cluster beforehand; or the cluster at ``--scheduler ADDRESS``.

Each timing covers intake (unzip, part matching, hashing), grading and the gradebook build.
Prints the times and the ratios 1-worker / 2-workers, local pool / Dask and first grade /
unchanged regrade. ``--synthetic`` uses the tiny two-part homework of the batch tests instead of
the course's parts.

    .venv/bin/python bench/batch.py [--copies 3] [--parts theory,part2] [--synthetic] [--scheduler [ADDRESS]]
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from graders.batch import grade_all, write_manifest  # noqa: E402
from graders.intake import scan_submissions  # noqa: E402
from graders.pipeline import prepare  # noqa: E402
from graders.refresh import rebuild  # noqa: E402
from graders.secret import new_secret, read_secret  # noqa: E402


def make_class(folder: Path, examples: list[Path], copies: int) -> int:
    n = 0
    for i in range(copies):
        for ex in examples:
            n += 1
            shutil.copytree(ex, folder / f"{40100000 + n}_{ex.name.split('_', 1)[-1]}_{i}")
    return n


def synthetic_examples(folder: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT / "tests" / "batch"))
    from batch_kit import BAD, GOOD, student_folder

    return [student_folder(folder, "00000000_Good", GOOD), student_folder(folder, "99999999_Bad", BAD)]


def timed_batch(cls: Path, plan, factory, out: Path, jobs: int, rubric_path: Path | None,
                scheduler=None) -> tuple[float, int, int]:
    start = time.perf_counter()
    intake = scan_submissions([cls], plan.parts, unpack_to=out / ".unpacked")
    graded = skipped = 0
    for event in grade_all(intake.submissions, plan, out, jobs=jobs, plan_factory=factory, scheduler=scheduler):
        if event[1] is None:
            raise SystemExit(f"grader error on {event[0]}:\n{event[2]}")
        skipped += event.skipped
        graded += not event.skipped
    write_manifest(out, intake, rubric_path=rubric_path)
    rebuild(out, rubric_path=rubric_path)
    return time.perf_counter() - start, graded, skipped


def timed_dask(cls: Path, plan, factory, out: Path, rubric_path: Path | None, address: str) -> tuple[float, float, int]:
    """(seconds to start the cluster, seconds of the first grade on it, submissions graded).

    ``address`` "local": a LocalCluster of 2 worker processes (1 thread each, no dashboard), closed after.
    """
    from distributed import LocalCluster

    start = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) \
        if address == "local" else None
    started = time.perf_counter() - start
    try:
        seconds, graded, _ = timed_batch(cls, plan, factory, out, 2, rubric_path,
                                         scheduler=cluster.scheduler_address if cluster else address)
    finally:
        if cluster is not None:
            cluster.close()
    return started, seconds, graded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=3, help="copies of each example submission")
    ap.add_argument("--parts", default="", help="comma-separated parts (default: those the examples have)")
    ap.add_argument("--synthetic", action="store_true", help="the tiny test homework instead of the course's")
    ap.add_argument("--secret-file", default=None, help="course secret (default: a fresh one)")
    ap.add_argument("--scheduler", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="also time a first grade on Dask: a LocalCluster of 2 worker processes × 1 thread "
                         "(no ADDRESS), or the cluster at ADDRESS")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hw4-bench-batch-"))
    try:
        rubric_path = None
        if args.synthetic:
            examples = synthetic_examples(work / "examples")
            from batch_kit import RUBRIC, make_plan

            plan, rubric_path, factory = make_plan(), RUBRIC, functools.partial(make_plan)
        else:
            examples = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())
            if not examples:
                raise SystemExit("no example submissions under examples/; use --synthetic")
            parts = [p for p in args.parts.split(",") if p] or None
            if parts is None:
                from graders.homework import all_parts

                have = {nb.name for nb in examples[0].glob("*.ipynb")}
                parts = [n for n, spec in all_parts().items() if spec.notebook in have]
            factory = functools.partial(prepare, parts=parts, secret=read_secret(args.secret_file) or new_secret())
            plan = factory()  # each worker process prepares its own checks: that time is in the figures
        cls = work / "class"
        n = make_class(cls, examples, args.copies)
        print(f"{n} submissions ({args.copies} copies of {len(examples)} examples), "
              f"{len(plan.parts)} part(s) each, {os.cpu_count()} CPU(s); load average at start: "
              f"{' '.join('%.2f' % x for x in os.getloadavg())}", flush=True)
        t1, g1, _ = timed_batch(cls, plan, factory, work / "out1", 1, rubric_path)
        t2, g2, _ = timed_batch(cls, plan, factory, work / "out2", 2, rubric_path)
        t3, g3, s3 = timed_batch(cls, plan, factory, work / "out2", 2, rubric_path)
        assert g1 == g2 == n and g3 == 0 and s3 == n, (g1, g2, g3, s3)
        if args.scheduler:
            started, t4, g4 = timed_dask(cls, plan, factory, work / "out3", rubric_path, args.scheduler)
            assert g4 == n, (g4, n)
        print(f"first grade, 1 worker : {t1:8.2f} s  ({t1 / n:.2f} s per submission)")
        print(f"first grade, 2 workers: {t2:8.2f} s")
        if args.scheduler:
            where = "LocalCluster, 2 workers" if args.scheduler == "local" else args.scheduler
            print(f"first grade, Dask     : {t4:8.2f} s  ({where}; the cluster started in {started:.1f} s before: "
                  f"{t4 + started:.2f} s with it)")
        print(f"regrade, unchanged    : {t3:8.2f} s  ({s3} skipped)")
        print(f"speed-up of 2 workers over 1      : {t1 / t2:.2f}x")
        if args.scheduler:
            print(f"speed-up of Dask over 1 worker    : {t1 / t4:.2f}x")
            print(f"local pool (2) / Dask             : {t2 / t4:.2f}x")
        print(f"first grade / unchanged regrade   : {t2 / t3:.0f}x")
        print(f"load average at end: {' '.join('%.2f' % x for x in os.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
