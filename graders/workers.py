"""A pool of grading processes that always ends: spawned workers, an outside deadline per submission.

Each worker is a fresh Python process (``spawn``, never ``fork``: the main process may have used
torch's threads, and libgomp deadlocks in a forked child). It builds the plan once from a
picklable factory — the same way a Dask worker does — checks that its fingerprint matches the
main process's, and then grades one submission at a time, writing its result itself.

The main process watches the clock. A submission's grading is budgeted
(``limits.submission_timeout``, enforced inside execution); if a worker is still busy with one
submission ``grace`` seconds after that, it is killed — its kernels go with it (their guard
processes die with their parent) — and replaced, and the submission gets a result whose checks all
say the grading was stopped: an *incomplete* result, never taken as a grade, regraded by a rerun.
A worker that dies (out of memory, a crash) costs its submission one retry, then a grader error.
Closing the pool (a finished batch, Ctrl-C, SIGTERM, an exception) kills every worker.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from graders import kernel_pool
from graders.grading_task import Graded, build_worker_plan, grade_with
from graders.intake import Submission
from graders.pipeline import Plan
from graders.sandbox import die_with_parent

#: how many times one submission is retried after its worker process died
RETRIES = 1


class PoolError(RuntimeError):
    """The pool cannot grade at all (a worker could not build the plan): a message for the TA."""


def worker_main(conn: Connection, factory: Callable[[], Plan], fingerprint: str, out_dir: Path | None,
                parent_pid: int) -> None:
    """A worker's life: build the plan, then grade what the main process sends until it sends None."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    logging.getLogger("hw4.sandbox").setLevel(logging.ERROR)  # the main process already warned
    try:
        plan = build_worker_plan(factory, fingerprint)
        dict(plan.checks)  # build the checks (and their expected values) now, not inside a budget
    except BaseException:
        conn.send(("plan-error", traceback.format_exc(limit=6)))
        return
    kernel_pool.shared().ahead = True  # more submissions may follow: warm the next one's first kernel
    conn.send(("ready", None))
    while True:
        try:
            sub = conn.recv()
        except EOFError:
            return
        if sub is None:
            return
        conn.send(("graded", grade_with(sub, plan, out_dir)))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    ready: bool = False
    sub: Submission | None = None
    started: float = 0.0
    #: recent messages the worker sent (kept for a plan error)
    log: list[str] = field(default_factory=list)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(10)
        self.conn.close()


class WorkerPool:
    """``jobs`` spawned workers grading ``Submission``s; see the module docstring.

    ``stopped(sub, seconds)`` makes the result of a submission whose worker had to be killed.
    """

    def __init__(self, jobs: int, factory: Callable[[], Plan], fingerprint: str, out_dir: Path | None, *,
                 budget: float, stopped: Callable[[Submission, float], Any], grace: float):
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs, self.factory, self.fingerprint, self.out_dir = jobs, factory, fingerprint, out_dir
        self.budget, self.grace, self.stopped = budget, grace, stopped
        self._ctx = mp.get_context("spawn")
        self._workers: list[_Worker] = []

    def _start(self) -> _Worker:
        mine, theirs = self._ctx.Pipe()
        process = self._ctx.Process(target=worker_main, name="hw4-grading-worker",
                                    args=(theirs, self.factory, self.fingerprint, self.out_dir, os.getpid()))
        process.start()
        theirs.close()
        worker = _Worker(process, mine)
        self._workers.append(worker)
        return worker

    def _drop(self, worker: _Worker) -> None:
        worker.kill()
        self._workers.remove(worker)

    def grade(self, subs: Sequence[Submission]):
        """Yield ``Graded`` events as submissions finish (in any order)."""
        queue, attempts = deque(subs), Counter()
        try:
            while queue or any(w.sub is not None for w in self._workers):
                busy = sum(1 for w in self._workers if w.sub is not None)
                while len(self._workers) < min(self.jobs, busy + len(queue)):
                    self._start()
                for worker in self._workers:
                    if worker.ready and worker.sub is None and queue:
                        worker.sub, worker.started = queue.popleft(), time.monotonic()
                        worker.conn.send(worker.sub)
                for event in self._collect(queue, attempts):
                    yield event
        finally:
            self.close()

    def _collect(self, queue: deque, attempts: Counter) -> Iterator[Graded]:
        """Wait a little for messages, deaths and overruns; yield the events they make."""
        waits = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        wait(waits, timeout=self._next_timeout())
        now = time.monotonic()
        for worker in list(self._workers):
            message = None
            try:
                if worker.conn.poll():
                    message = worker.conn.recv()
            except (EOFError, OSError):
                message = None
            if message is not None:
                kind, payload = message
                if kind == "plan-error":
                    raise PoolError(f"a grading worker could not prepare the checks:\n{payload}")
                if kind == "ready":
                    worker.ready = True
                elif kind == "graded":
                    worker.sub = None
                    yield payload
                continue
            if not worker.process.is_alive():
                sub = worker.sub
                self._drop(worker)
                if not worker.ready:
                    raise PoolError(f"a grading worker process ended before it was ready "
                                    f"(exit code {worker.process.exitcode})")
                if sub is not None:
                    attempts[sub.id] += 1
                    if attempts[sub.id] <= RETRIES:
                        queue.appendleft(sub)
                    else:
                        yield Graded(sub.id, None, "a grading worker process died (out of memory?) while grading "
                                                    "this submission, twice; rerun to retry it")
                continue
            if worker.sub is not None and now - worker.started > self.budget + self.grace:
                sub, seconds = worker.sub, now - worker.started
                self._drop(worker)
                yield Graded(sub.id, self.stopped(sub, seconds), "")

    def _next_timeout(self) -> float:
        now = time.monotonic()
        deadlines = [w.started + self.budget + self.grace - now for w in self._workers if w.sub is not None]
        return max(0.05, min([5.0, *deadlines]))

    def close(self) -> None:
        """Stop every worker (an idle one is asked to finish, a busy one is killed with its kernels)."""
        for worker in list(self._workers):
            if worker.sub is None and worker.process.is_alive():
                try:
                    worker.conn.send(None)
                    worker.process.join(2)
                except (OSError, ValueError):
                    pass
            self._drop(worker)
