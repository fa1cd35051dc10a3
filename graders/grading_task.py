"""What one worker runs for one submission, in this process, a spawned worker or a Dask worker.

It sits below both ``graders.batch`` (which hands submissions out) and ``graders.workers`` (the
pool of spawned processes), so that each imports it and neither imports the other. Everything
here is a module-level function or class: a spawned worker and a Dask worker pickle them by
reference and import this module to run them.

The process that grades a submission records it (``OUT/<id>/``, a shared folder for Dask): the
cells' outputs (``outputs.json``) are written there and never travel back; ``Graded`` carries the
result alone.
"""
from __future__ import annotations

import threading
import traceback
from pathlib import Path
from typing import Callable

from graders import kernel_pool
from graders.intake import Submission
from graders.pipeline import Plan, grade_submission
from graders.results import SubmissionResult


class Graded(tuple):
    """``(submission id, result or None, grader error text)``; ``.skipped`` is True for a resumed result."""

    skipped: bool

    def __new__(cls, sid: str, result: SubmissionResult | None, error: str, skipped: bool = False):
        self = super().__new__(cls, (sid, result, error))
        self.skipped = skipped
        return self

    def __reduce__(self):  # crosses process boundaries (pool, Dask) intact
        return (Graded, (*self, self.skipped))


def grade_with(sub: Submission, plan: Plan, out_dir: Path | None) -> Graded:
    """Grade one submission; a grader bug becomes a ``Graded`` with the error text, never an exception."""
    try:
        return Graded(sub.id, grade_submission(sub, plan, out_dir), "")
    except Exception:  # a grader bug: report it, keep going with the others
        return Graded(sub.id, None, traceback.format_exc(limit=8))


_WORKER_PLANS: dict[str, Plan] = {}
_WORKER_LOCK = threading.Lock()


def build_worker_plan(factory: Callable[[], Plan], fingerprint: str) -> Plan:
    """The plan of this worker process (built once per fingerprint), refused if it differs from the client's."""
    with _WORKER_LOCK:
        plan = _WORKER_PLANS.get(fingerprint)
        if plan is None:
            plan = factory()
            if plan.fingerprint != fingerprint:
                raise RuntimeError("this Dask worker built a different plan than the client (grader code, rubric, "
                                   "assets or seed differ): install the same version of the grader on every worker")
            _WORKER_PLANS[fingerprint] = plan
        return plan


def grade_remote(sub: Submission, factory: Callable[[], Plan], fingerprint: str, out_dir: Path | None) -> Graded:
    """The task a Dask worker runs: build (once) or reuse the plan, then grade one submission."""
    try:
        plan = build_worker_plan(factory, fingerprint)
    except Exception:
        return Graded(sub.id, None, traceback.format_exc(limit=8))
    kernel_pool.shared().ahead = True  # a Dask worker grades one submission after another
    return grade_with(sub, plan, out_dir)
