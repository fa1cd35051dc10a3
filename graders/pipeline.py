"""The flow of one submission, as a declared list of small steps:

    intake ─► execute + probe ─► check ─► score ─► record ─► report

``prepare`` builds a ``Plan`` once per batch (rubric, checks, expected values from the
reference); ``grade_submission`` runs the steps for one submission. Each step is a plain
function of plain data; the JSON written by ``record`` is the source of truth.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from graders import ROOT, __version__, kernel_pool
from graders.checks.base import Check, unique_ids
from graders.execute import NotebookRun, kernel_request, run_notebook
from graders.notebook_kernel import KernelRequest
from graders.probe.driver import CarryForward
from graders.locked import provided_cells
from graders.sandbox import SandboxUnavailable, own_users
from graders.sandbox import current as current_sandbox
from graders.intake import Submission
from graders.homework import SPEC_FILE, Homework, HomeworkError, assets_dir
from graders.homework import active as active_homework
from graders.homework import load as load_homework
from graders.homework import use as use_homework
from graders.part import CheckContext, PartSpec
from graders.calls import explain_call
from graders.evidence import Output, write_outputs
from graders.secret import SECRET_ENV, SecretError, checked, fingerprint_part, read_secret
from graders.results import CheckResult, PartResult, SubmissionResult, sanitised, save_submission, totals
from graders.rubric import Limits, Rubric, load_rubric, score_item



class PlanError(ValueError):
    """The grading run cannot start (bad rubric, no course secret…): a message for the TA."""


class LazyChecks(Mapping):
    """part → its checks, built (reference values computed) on first use, once.

    A batch that grades in worker processes never needs the checks in the main process: each
    worker builds its own plan (see ``graders.workers``), so the main process skips the work.
    """

    def __init__(self, build: Callable[[], dict[str, list[Check]]]):
        self._build, self._checks, self._lock = build, None, threading.Lock()

    def _get(self) -> dict[str, list[Check]]:
        with self._lock:
            if self._checks is None:
                self._checks = self._build()
            return self._checks

    def __getitem__(self, part: str) -> list[Check]:
        return self._get()[part]

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def _build_checks(specs: Mapping[str, PartSpec], chosen: Sequence[str], ctx: CheckContext,
                  rubric: Rubric | None) -> dict[str, list[Check]]:
    """Every check of the chosen parts (none for the others); validated against ``rubric`` if given."""
    checks: dict[str, list[Check]] = {}
    for name in specs:
        built = specs[name].build_checks(ctx) if name in chosen else []
        if ctx.public_only:
            built = [c for c in built if c.public]
        explain = functools.partial(explain_call, name)
        checks[name] = [c if c.explain is not None else dataclasses.replace(c, explain=explain) for c in built]
    every = [c for cs in checks.values() for c in cs]
    unique_ids(every)
    if rubric is not None:
        rubric.validate_checks(c.id for c in every)
    return checks


@dataclass
class Plan:
    """Everything prepared once per run and shared by every submission."""

    rubric: Rubric
    parts: dict[str, PartSpec]
    #: part → its checks (a ``LazyChecks`` from ``prepare``: built on first use)
    checks: Mapping[str, list[Check]]
    public_only: bool
    limits: Limits
    #: hash of what determines a result besides the submission itself (for resume)
    fingerprint: str = ""
    notes: list[str] = field(default_factory=list)
    #: asset path → a file that replaces it in every kernel's folder (``hw4 grade --dataset``)
    asset_overrides: dict[str, Path] = field(default_factory=dict)
    #: the homework graded (``graders.homework``); None: this repository's
    homework: Homework | None = None
    #: start each notebook's kernel while the one before it runs (``graders.kernel_pool``)
    warm_kernels: bool = True
    #: ask consecutive checks of the same visibility in one probe cell (False: one cell per check,
    #: for comparing; the results are the same, so it is not in the fingerprint)
    batch_probes: bool = True


def prepare(*, rubric_path: Path | str | None = None, parts: Sequence[str] | None = None,
            secret: str | None = None, public_only: bool = False,
            reference_mode: str | None = None, record_folder: Path | None = None,
            asset_overrides: Mapping[str, Path] | None = None, homework: Path | str | None = None,
            warm_kernels: bool = True, batch_probes: bool = True) -> Plan:
    """Activate the homework (its folder; None: this repository's), load its rubric, decide the
    sandbox, and prepare the checks (built, with their expected values, on first use — once per
    process); the rubric is validated against them then.

    ``asset_overrides``: asset path → replacement file for the kernels (e.g. the real dataset).
    ``warm_kernels``: False starts every kernel when its notebook's turn comes (``hw4 grade --no-pool``).
    ``batch_probes``: see ``Plan.batch_probes``.
    """
    try:
        hw = use_homework(homework)
        rubric = load_rubric(rubric_path or hw.rubric)
        specs = hw.part_specs()
    except HomeworkError as exc:
        raise PlanError(str(exc)) from None
    chosen = list(parts) if parts else list(specs)
    unknown = [p for p in chosen if p not in specs]
    if unknown:
        raise PlanError(f"unknown part(s) {unknown}; choose from {list(specs)}")
    if public_only:
        secret = None
    else:
        try:
            secret = read_secret() if secret is None else checked(secret)
        except SecretError as exc:
            raise PlanError(str(exc)) from None
        if secret is None:
            raise PlanError(f"hidden checks need the course secret: pass --secret-file FILE or set {SECRET_ENV} "
                            "(make one with `hw4 secret new --out FILE`), or use --public-only for public checks only")
    try:  # decide the kernel sandbox (and warn if it is rlimits only) once per grading process
        current_sandbox()
    except SandboxUnavailable as exc:
        raise PlanError(str(exc)) from None
    if reference_mode is None:
        reference_mode = "import" if hw.has_reference() else "replay"
    if reference_mode == "replay" and not public_only:
        raise PlanError("the reference solutions are not here (student bundle): only --public-only checks can run")
    ctx = CheckContext(secret=secret, public_only=public_only,
                       reference_mode=reference_mode, record_folder=record_folder)
    validate = not public_only and set(chosen) == set(specs)
    checks = LazyChecks(functools.partial(_build_checks, specs, chosen, ctx, rubric if validate else None))
    overrides = {}
    for rel, path in (asset_overrides or {}).items():
        path = Path(path)
        if not path.is_file():
            raise PlanError(f"{path}: no such file (given to replace {rel})")
        overrides[rel] = path.resolve()
    override_hash = "|".join(f"{rel}={hashlib.sha256(p.read_bytes()).hexdigest()}" for rel, p in sorted(overrides.items()))
    fingerprint = hashlib.sha256(
        f"{__version__}|{grader_content_hash(hw.folder)}|{grading_rubric_hash(rubric)}|{public_only}|{fingerprint_part(secret)}"
        f"|{sorted(chosen)}"
        f"|{override_hash}".encode()).hexdigest()
    return Plan(rubric, {n: specs[n] for n in chosen}, checks, public_only, rubric.limits, fingerprint,
                asset_overrides=overrides, homework=hw, warm_kernels=warm_kernels,
                batch_probes=batch_probes)


#: top-level rubric keys that do not change how a notebook is scored (a change does not force a regrade)
NON_GRADING_RUBRIC_KEYS = ("late_policy",)


def grading_rubric_hash(rubric: Rubric) -> str:
    """Hash of the rubric without the keys that do not affect scores (the late-day policy)."""
    import json

    data = {k: v for k, v in dict(rubric.raw).items() if k not in NON_GRADING_RUBRIC_KEYS}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=4)
def grader_content_hash(homework_folder: Path) -> str:
    """Content hash of the grader code and the homework (spec, checks, reference, assets), for resume."""
    hw = load_homework(homework_folder)
    h = hashlib.sha256()
    for base in dict.fromkeys((ROOT / "graders", hw.checks, hw.reference, hw.assignments, hw.folder / SPEC_FILE)):
        paths = sorted(base.rglob("*")) if base.is_dir() else [base]
        for path in paths:
            if "__pycache__" in path.parts or path.suffix == ".pyc" or not path.is_file() or path.is_symlink():
                continue
            where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.relative_to(hw.folder)
            h.update(str(where).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


# --- the steps -------------------------------------------------------------------------------

class Verdicts:
    """The checks of one notebook, each judged once: when the executor asks which failed checks to rerun
    with the reference's helpers (error carried forward), and again only if its answers changed since."""

    def __init__(self, checks: Sequence[Check]):
        self.checks = list(checks)
        self._judged: dict[str, tuple[tuple, CheckResult]] = {}

    def result(self, check: Check, outcomes: Mapping) -> CheckResult:
        answers = tuple(outcomes.get(p.id) for p in check.probes)
        seen = self._judged.get(check.id)
        if seen is None or len(seen[0]) != len(answers) or any(a is not b for a, b in zip(seen[0], answers)):
            seen = self._judged[check.id] = (answers, check.result(outcomes))
        return seen[1]

    def to_rerun(self, outcomes: Mapping) -> list[Check]:
        """The checks that call other graded functions and failed on their own answers."""
        return [c for c in self.checks if c.depends and all(p.id in outcomes for p in c.probes)
                and self.result(c, outcomes).status == "failed"]


def execute_parts(sub: Submission, plan: Plan, *,
                  workroot: Path | None = None) -> tuple[dict[str, NotebookRun], dict[str, Verdicts]]:
    """execute + probe: one kernel per notebook of the submission, all within its wall budget; each
    notebook's ``Verdicts`` (the checks judged so far, for error carried forward)."""
    import time

    from graders.probe.transport import ReadBudget

    deadline = time.monotonic() + plan.limits.submission_timeout
    budget = ReadBudget()  # bytes of answers read, for all the submission's notebooks together
    runs, verdicts = {}, {}
    todo = [name for name in plan.parts if name in sub.notebooks and name in (sub.scope or plan.parts)]
    # a warm kernel waits beside a running notebook: only when each kernel is a user of its own
    pool = kernel_pool.shared() if plan.warm_kernels and own_users(current_sandbox()) else None
    for n, name in enumerate(todo):
        spec, limits = plan.parts[name], part_limits(plan, name)
        started = pool.take(warm_request(plan, name, workroot)) if pool is not None else None
        if pool is not None:  # the next notebook's kernel starts while this one runs
            following = todo[n + 1] if n + 1 < len(todo) else next(iter(plan.parts)) if pool.ahead else None
            if following is not None:
                pool.warm(warm_request(plan, following, workroot))
        verdicts[name] = Verdicts(plan.checks[name])
        reference = reference_source((plan.homework or active_homework()).reference, name)
        carry = CarryForward(reference, verdicts[name].to_rerun) if reference is not None else None
        runs[name] = run_notebook(sub.notebooks[name], plan.checks[name], assets=spec.assets, limits=limits,
                                  workroot=workroot, provided=provided_cells(name, assets_dir() / spec.notebook),
                                  overrides=plan.asset_overrides, deadline=deadline, read_budget=budget,
                                  carry=carry, started=started, batch=plan.batch_probes)
    return runs, verdicts


def part_limits(plan: Plan, part: str) -> Limits:
    """The plan's limits, with the part's own cell timeout if it has one."""
    spec = plan.parts[part]
    if not spec.cell_timeout:
        return plan.limits
    return Limits(**{**plan.limits.__dict__, "cell_timeout": spec.cell_timeout})


def warm_request(plan: Plan, part: str, workroot: Path | None) -> KernelRequest:
    """The kernel a warm start makes for ``part``'s notebook (``graders.kernel_pool``): with the modules
    its homework preloads (a plan made by hand, without a homework, preloads none)."""
    return kernel_request(plan.checks[part], assets=plan.parts[part].assets, limits=part_limits(plan, part),
                          workroot=workroot, overrides=plan.asset_overrides,
                          preload=plan.homework.preload if plan.homework is not None else ())


@functools.lru_cache(maxsize=None)
def reference_source(reference: Path, part: str) -> str | None:
    """The source of the homework's ``reference/<part>.py`` (None in the bundle), from which a rerun's
    helpers are cut out one by one in this process (``graders.reference_helpers``): it never reaches a kernel."""
    path = reference / f"{part}.py"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def run_checks(sub: Submission, runs: Mapping[str, NotebookRun], plan: Plan,
               verdicts: Mapping[str, Verdicts] | None = None) -> dict[str, CheckResult]:
    """check: judge every probe outcome in the grading process (once: ``verdicts`` keeps what was judged
    during execution); each result carries its check's description, which the feedback leads with."""
    results = {}
    for name, checks in plan.checks.items():
        run = runs.get(name)
        judged = (verdicts or {}).get(name) or Verdicts(checks)
        for check in checks:
            if run is None:
                reason = (f"no notebook for {name} was submitted" if name not in sub.notebooks
                          else f"{name} was not graded in this run")
                result = CheckResult(check.id, False, "error", reason, public=check.public)
            else:
                result = carried_forward(check, judged.result(check, run.outcomes), run)
            results[check.id] = dataclasses.replace(result, description=check.description)
    return results


def carried_forward(check: Check, result: CheckResult, run: NotebookRun) -> CheckResult:
    """Error carried forward: a check failed only because of a helper it calls (graded on its own
    item) scores as it does with the reference's helper, and says so; one that fails with the
    reference's helper too is told why it fails then — its own mistake, not the helper's."""
    if result.status != "failed" or check.id not in run.carried:
        return result
    again = check.result(run.carried[check.id])
    names = ", ".join(f"`{name}`" for name in check.depends)
    if again.passed:
        return dataclasses.replace(
            again, reason=f"scored with the reference {names}, whose own item is graded separately",
            detail=f"with your own {names}: {result.reason}\n{result.detail}".strip())
    if again.status != "failed" or not again.reason:  # the rerun could not judge: the first run's reason stands
        return result
    return dataclasses.replace(
        again, reason=f"even with the reference {names}: {again.reason}",
        detail=f"{again.detail}\nwith your own {names}: {result.reason}\n{result.detail}".strip())


def score(sub: Submission, runs: Mapping[str, NotebookRun], results: Mapping[str, CheckResult], plan: Plan,
          *, input_hash: str = "") -> SubmissionResult:
    """score: items from checks, parts from items, totals from parts (written answers pending)."""
    in_scope = set(sub.scope or plan.parts) & set(plan.parts)
    items = []
    for part in plan.rubric.parts.values():
        if part.name not in in_scope:
            continue
        reason = ""
        run = runs.get(part.name)
        if part.name not in sub.notebooks:
            reason = f"no notebook for {part.name} was submitted"
        elif run is not None and run.summary.error:
            reason = f"the notebook could not be read: {run.summary.error}"
        for item in part.items:
            items.append(score_item(item, results, public_only=plan.public_only, reason=reason))
    sums = totals(items, [name for name in plan.rubric.parts if name in in_scope])
    parts = {}
    for name, part_score in sums.parts.items():
        run = runs.get(name)
        parts[name] = PartResult(name, part_score, plan.rubric.parts[name].points,
                                 notebook=sub.notebooks[name].name if name in sub.notebooks else "",
                                 execution=run.summary if run else None)
    return sanitised(SubmissionResult(  # the one boundary: every string of a result is valid UTF-8
        submission_id=sub.id, student_id=sub.student_id, name=sub.name, total=sums.total,
        max=round(sum(p.max for p in parts.values()), 6), auto_total=sums.auto_total,
        manual_pending=sums.manual_pending,
        parts=parts, items=tuple(items), public_only=plan.public_only, grader_version=__version__,
        rubric_hash=plan.rubric.sha256, input_hash=input_hash,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), notes=tuple(sub.problems),
        incomplete=any(c.grader_error for i in items for c in i.checks),
    ))


def record(result: SubmissionResult, out_dir: Path,
           outputs: Mapping[str, Mapping[int, Sequence[Output]]] | None = None) -> Path:
    """record + report: the feedback files, the student's cell outputs (``outputs.json``: part → cell →
    outputs, ``graders.evidence``; none given, none kept, so no older run's outputs stay beside this
    result), then ``OUT/<submission-id>/result.json`` atomically.

    result.json comes last: a result on disk always has its feedback and outputs beside it. Outputs
    that cannot be written are logged and left out, never the grade's failure.
    """
    from graders.report import write_feedback

    folder = Path(out_dir) / result.submission_id
    write_feedback(result, folder)
    write_outputs(folder, outputs or {})
    path = folder / "result.json"
    save_submission(path, result)
    return path


def stopped_result(sub: Submission, plan: Plan, reason: str, *, input_hash: str = "") -> SubmissionResult:
    """The result of a submission whose grading was stopped from outside (its worker was killed).

    Every check ends in a grader error with ``reason``: the result is incomplete, so it is never
    taken as a grade and a rerun grades the submission again.
    """
    results = {cid: CheckResult(cid, False, "error", reason, grader_error=True)
               for item in plan.rubric.items for cid in item.checks}
    return score(sub, {}, results, plan, input_hash=input_hash)


def submission_input_hash(sub: Submission, plan: Plan) -> str:
    """The ``input_hash`` of ``sub``'s result under ``plan``: its notebooks' contents and the plan's
    fingerprint (a stored result with another one is stale: see ``batch.stored_result``)."""
    h = hashlib.sha256()
    for part in sorted(sub.notebooks):
        h.update(part.encode())
        h.update(hashlib.sha256(sub.notebooks[part].read_bytes()).digest())
    return f"{h.hexdigest()}:{plan.fingerprint}"


def grade_submission(sub: Submission, plan: Plan, out_dir: Path | None = None) -> SubmissionResult:
    """All steps for one submission; never raises for anything the submission contains."""
    runs, verdicts = execute_parts(sub, plan)
    results = run_checks(sub, runs, plan, verdicts)
    result = score(sub, runs, results, plan, input_hash=submission_input_hash(sub, plan))
    if out_dir is not None:  # the outputs go to disk here, in the process that ran the notebooks
        record(result, out_dir, {name: run.outputs for name, run in runs.items()})
    return result
