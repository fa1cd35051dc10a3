"""Grade many submissions: in this process, in a pool of spawned workers, or on a Dask cluster.

Each submission is graded in isolation (``graders.grading_task``, what any worker runs for one
submission): anything that goes wrong with one becomes its own result, never the batch's end.

**Workers.** With more than one submission to grade (or ``jobs`` > 1) and a ``plan_factory`` (a
picklable callable such as ``functools.partial(prepare, ...)``), submissions are graded by
``graders.workers.WorkerPool``: spawned processes that each build the plan once, grade one
submission at a time and are killed and replaced when a submission overruns its budget from
outside. Without a factory, or for a single submission with ``jobs`` 1, grading happens in this
process.

**Resume.** Results are the source of truth. A submission whose ``OUT/<id>/result.json`` was
made from the same notebook bytes and the same plan fingerprint (grader code, reference and
assets content hash, rubric, course secret (a keyed digest), parts — see ``pipeline.prepare``), carries the same
intake notes and is complete (no grader error) is not graded again: its stored result is
yielded as is. A killed run therefore continues where it stopped, and an unchanged class
regrades almost instantly; ``force=True`` regrades everything.

**Dask.** With ``scheduler`` (an address such as ``tcp://host:8786``, or a ``distributed``
Cluster/Client object) the same per-submission task runs on a Dask distributed cluster instead
of the local pool. A worker builds the plan once from ``plan_factory`` and checks that its
fingerprint equals the client's (same code, rubric, assets and seed). Workers must see the
submissions and the output folder at the same paths (a shared file system), and the factory
carries the course secret to them: use a cluster you trust, with TLS across machines. The budget
of a submission is enforced inside execution there; no one kills a Dask task from outside.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from graders.gradebook import DB_NAME, GradebookError
from graders.grading_task import Graded, grade_remote, grade_with
from graders.intake import Intake, Submission
from graders.manual.totals import apply_manual_scores
from graders.pipeline import Plan, record, stopped_result, submission_input_hash
from graders.refresh import rebuild
from graders.results import SubmissionResult, load_submission, write_json_atomic
from graders.text import for_terminal, points_text
from graders.workers import WorkerPool
from graders.homework import active as active_homework


def stored_result(sub: Submission, plan: Plan, out_dir: Path | None) -> SubmissionResult | None:
    """The result already in ``out_dir`` for ``sub`` if it is up to date, else None."""
    if out_dir is None:
        return None
    try:
        result = load_submission(Path(out_dir) / sub.id / "result.json")
        expected = submission_input_hash(sub, plan)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (result.incomplete or result.input_hash != expected or tuple(result.notes) != tuple(sub.problems)
            or result.student_id != sub.student_id or result.name != sub.name
            or result.public_only != plan.public_only):
        return None
    return result


def split_done(subs: Sequence[Submission], plan: Plan, out_dir: Path | None, *, force: bool = False
               ) -> tuple[list[Submission], dict[str, SubmissionResult]]:
    """(submissions still to grade, up-to-date stored results by submission id)."""
    if force or out_dir is None:
        return list(subs), {}
    todo, done = [], {}
    for sub in subs:
        stored = stored_result(sub, plan, out_dir)
        if stored is None:
            todo.append(sub)
        else:
            done[sub.id] = stored
    return todo, done


def grade_all(subs: Sequence[Submission], plan: Plan, out_dir: Path | None, *, jobs: int = 1,
              force: bool = False, scheduler: Any = None,
              plan_factory: Callable[[], Plan] | None = None) -> Iterator[Graded]:
    """Yield a ``Graded`` ``(submission id, result or None, grader error text)`` as each finishes.

    Up-to-date stored results come first (``.skipped`` True) unless ``force``; see the module
    docstring for the worker pool, resume and ``scheduler``/``plan_factory`` (Dask).
    """
    todo, done = split_done(subs, plan, out_dir, force=force)
    for sub in subs:
        if sub.id in done:
            yield Graded(sub.id, done[sub.id], "", skipped=True)
    if not todo:
        return
    if scheduler is not None:
        if plan_factory is None:
            raise ValueError("grading on a Dask cluster needs plan_factory (workers build the plan themselves)")
        yield from _grade_dask(todo, plan, out_dir, scheduler, plan_factory)
    elif plan_factory is not None and (jobs > 1 or len(todo) > 1):
        def stopped(sub: Submission, seconds: float) -> SubmissionResult:
            result = stopped_result(sub, plan, f"grading stopped after {seconds:.0f} s: the grader had to stop this "
                                               "submission (rerun to retry it)",
                                    input_hash=submission_input_hash(sub, plan))
            if out_dir is not None:
                record(result, out_dir)
            return result

        pool = WorkerPool(jobs, plan_factory, plan.fingerprint, out_dir, budget=plan.limits.submission_timeout,
                          stopped=stopped, grace=plan.limits.stop_grace)
        yield from pool.grade(todo)
    elif jobs > 1:
        raise ValueError("grading with several workers needs plan_factory (each worker builds the plan itself)")
    else:
        dict(plan.checks)  # build the checks now: a rubric or reference problem stops the batch here
        for sub in todo:
            yield grade_with(sub, plan, out_dir)


# --- Dask --------------------------------------------------------------------------------------

def _grade_dask(todo: Sequence[Submission], plan: Plan, out_dir: Path | None, scheduler: Any,
                factory: Callable[[], Plan]) -> Iterator[Graded]:
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise RuntimeError("--scheduler needs Dask: pip install \"dask[distributed]\"") from None
    if not todo:
        return
    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        futures, by_key = [], {}
        for sub in todo:
            fut = client.submit(grade_remote, sub, factory, plan.fingerprint, out_dir, pure=False,
                                key=f"hw4-grade-{sub.id}-{submission_input_hash(sub, plan)[:12]}")
            futures.append(fut)
            by_key[fut.key] = sub
        for fut in dask_completed(futures):
            sub = by_key[fut.key]
            try:
                yield Graded(*fut.result())
            except Exception as exc:  # the worker died or the task could not run
                yield Graded(sub.id, None, f"the Dask task failed: {type(exc).__name__}: {exc}")
    finally:
        if own:
            client.close()


# --- a class: grade, then record ------------------------------------------------------------

@dataclass
class ClassReport:
    """What ``grade_class`` did, as plain data: the CLI prints it and picks its exit status from it."""

    #: one result per submission graded or kept, sorted by id, with the TAs' scores folded in
    results: list[SubmissionResult] = field(default_factory=list)
    graded: int = 0
    #: up-to-date stored results kept as they were (resume)
    skipped: int = 0
    #: submissions whose result is not final: a grader error in a check, or no result at all
    incomplete: list[str] = field(default_factory=list)
    #: (submission id, grader error text) of the submissions that got no result at all
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: ``OUT/intake.json`` (None for public checks only: nothing is recorded beside the results)
    manifest: Path | None = None
    #: the gradebook and its CSV exports, when they were updated
    gradebook_files: list[Path] = field(default_factory=list)
    #: why the gradebook was not updated ("" when it was, or when there is none: public checks only)
    gradebook_error: str = ""
    #: what the gradebook's rebuild has to say (e.g. submissions without a trusted submission time)
    gradebook_warnings: list[str] = field(default_factory=list)
    #: (submission id, why) of the submissions in which no notebook of the homework was found: they score 0,
    #: and a TA should hear it from the run, not from the student
    nothing_graded: list[tuple[str, str]] = field(default_factory=list)


def grade_class(intake: Intake, plan: Plan, out_dir: Path, *, jobs: int = 1, force: bool = False,
                scheduler: Any = None, plan_factory: Callable[[], Plan] | None = None,
                rubric_path: Path | None = None, on_graded: Callable[[Graded], None] | None = None) -> ClassReport:
    """Grade every submission of ``intake`` (``grade_all``), then record the batch: ``OUT/intake.json``,
    the gradebook with grades.csv and items.csv, and the TAs' scores folded into the fresh results
    (not for a public-checks-only plan, whose results are estimates). ``on_graded`` sees each
    submission as it finishes (progress). A ``KeyboardInterrupt`` stops the batch; what was
    recorded stays and a rerun resumes.
    """
    report = ClassReport(nothing_graded=[(s.id, _why_nothing(s)) for s in intake.submissions if not s.notebooks])
    for event in grade_all(intake.submissions, plan, out_dir, jobs=jobs, force=force, scheduler=scheduler,
                           plan_factory=plan_factory):
        if on_graded is not None:
            on_graded(event)
        sid, result, error = event
        report.skipped += event.skipped
        report.graded += not event.skipped
        if result is None:
            report.failures.append((sid, error))
        if result is None or result.incomplete:
            report.incomplete.append(sid)
        if result is not None:
            report.results.append(result)
    if not plan.public_only:
        report.manifest = write_manifest(out_dir, intake, rubric_path=rubric_path)
        report.results = with_manual_scores(out_dir, report.results)  # before the rebuild, which writes the feedback
        try:
            book = rebuild(out_dir, rubric_path=rubric_path)
            report.gradebook_files = [Path(out_dir) / DB_NAME, book.grades_csv, book.items_csv]
            report.gradebook_warnings = list(book.warnings)
        except GradebookError as exc:
            report.gradebook_error = str(exc)
    report.results.sort(key=lambda r: r.submission_id)
    return report


def _why_nothing(sub: Submission) -> str:
    """Why no notebook of ``sub`` was graded: its intake notes other than the parts' "no notebook" lines."""
    said = [p for p in sub.problems if not p.startswith("no notebook for ")]
    return "; ".join(said) if said else "no notebook in it"


def with_manual_scores(out_dir: Path, results: list[SubmissionResult]) -> list[SubmissionResult]:
    """Fold the TAs' scores kept in the gradebook into the fresh results (they survive a regrade)."""
    changed = set(apply_manual_scores(out_dir))
    return [load_submission(Path(out_dir) / r.submission_id / "result.json") if r.submission_id in changed else r
            for r in results]


# --- bookkeeping -------------------------------------------------------------------------------

def write_manifest(out_dir: Path, intake: Intake, *, rubric_path: Path | None = None) -> Path:
    """``OUT/intake.json``: what each submission was graded from (merged with earlier runs by id), and the
    homework's folder, which later commands on ``OUT`` activate when no ``--homework`` is given."""
    path = Path(out_dir) / "intake.json"
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = {}
    subs = dict(old.get("submissions", {}))
    for s in intake.submissions:
        subs[s.id] = {"student_id": s.student_id, "name": s.name, "source": str(s.source), "kind": s.kind,
                      "file_time": s.file_time, "notebooks": {p: str(nb) for p, nb in sorted(s.notebooks.items())},
                      "problems": list(s.problems)}
    data = {"rubric": str(rubric_path) if rubric_path else old.get("rubric", ""),
            "homework": str(active_homework().folder),
            "submissions": dict(sorted(subs.items())),
            "rejected": [{"entry": e, "reason": r} for e, r in intake.rejected]}
    write_json_atomic(path, data)
    return path


class Progress:
    """Progress of a batch on stderr, with an ETA: a tqdm bar on a terminal, one line per submission otherwise.

    Resumed (skipped) submissions are counted but do not weigh on the ETA.
    """

    def __init__(self, total: int, *, stream=None, bar: bool | None = None):
        self.total, self.stream = total, stream or sys.stderr
        self.done = self.skipped = self.errors = 0
        self._start = time.monotonic()
        use_bar = self.stream.isatty() if bar is None else bar
        self._bar = None
        if use_bar:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="sub", file=self.stream, dynamic_ncols=True, mininterval=0.5,
                             smoothing=0.1)

    def update(self, event: Graded) -> None:
        sid, result, error = event
        self.done += 1
        self.skipped += bool(getattr(event, "skipped", False))
        self.errors += result is None or result.incomplete
        shown = for_terminal(sid)
        if result is None:
            self.write(f"{shown}: GRADER ERROR\n" + "\n".join(for_terminal(line, 1000) for line in error.splitlines()))
        elif result.incomplete:
            self.write(f"{shown}: incomplete — " + for_terminal("; ".join(_grader_errors(result)), 2000))
        if self._bar is not None:
            if getattr(event, "skipped", False):
                self._bar.total -= 1  # no time spent: keep it out of the rate
                self._bar.refresh()
            else:
                self._bar.update(1)
            if result is not None:
                self._bar.set_postfix_str(f"{shown} {points_text(result.total)}/{points_text(result.max)}", refresh=False)
            return
        graded = self.done - self.skipped
        elapsed = time.monotonic() - self._start
        left = self.total - self.done
        eta = f"~{elapsed / graded * left:.0f} s left" if graded else "ETA unknown"
        what = "unchanged, kept" if getattr(event, "skipped", False) else \
            ("grader error" if result is None else "incomplete (grader error)" if result.incomplete
             else f"{points_text(result.total)}/{points_text(result.max)}")
        print(f"[{self.done}/{self.total}] {shown}: {what}  ({elapsed:.0f} s elapsed, {eta})", file=self.stream,
              flush=True)

    def write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> str:
        """Close the bar; return a one-line summary."""
        if self._bar is not None:
            self._bar.close()
        graded = self.done - self.skipped
        return (f"{graded} graded, {self.skipped} unchanged since the last run (kept), {self.errors} with grader "
                f"errors (not final) in {time.monotonic() - self._start:.0f} s")


def _grader_errors(result: SubmissionResult, limit: int = 3) -> list[str]:
    """The first few checks of ``result`` that ended in a grader error, with their TA detail."""
    found = [f"{c.id}: {c.reason}" + (f" ({c.detail[:200]})" if c.detail else "")
             for item in result.items for c in item.checks if c.grader_error]
    return found[:limit] + ([f"… and {len(found) - limit} more"] if len(found) > limit else [])
