"""Grade many submissions: in this process, or in a pool of forked workers.

Workers are forked after the ``Plan`` is built, so the plan (checks, expected values) is
computed once per run and inherited, never pickled. Each submission is graded in isolation:
anything that goes wrong with one becomes its own result, never the batch's end.
"""
from __future__ import annotations

import multiprocessing as mp
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterator, Sequence

from graders.intake import Submission
from graders.pipeline import Plan, grade_submission
from graders.results import SubmissionResult

_PLAN: Plan | None = None
_OUT: Path | None = None


def _grade_one(sub: Submission) -> tuple[str, SubmissionResult | None, str]:
    try:
        return sub.id, grade_submission(sub, _PLAN, _OUT), ""
    except Exception:  # a grader bug: report it, keep going with the others
        return sub.id, None, traceback.format_exc(limit=8)


def grade_all(subs: Sequence[Submission], plan: Plan, out_dir: Path | None, *, jobs: int = 1,
              on_done: Callable[[str, SubmissionResult | None, str], None] | None = None
              ) -> Iterator[tuple[str, SubmissionResult | None, str]]:
    """Yield ``(submission id, result or None, grader error text)`` as each finishes."""
    global _PLAN, _OUT
    _PLAN, _OUT = plan, out_dir
    if jobs <= 1 or len(subs) <= 1:
        for sub in subs:
            yield _grade_one(sub)
        return
    ctx = mp.get_context("fork")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_grade_one, s) for s in subs]
        for fut in as_completed(futures):
            yield fut.result()
