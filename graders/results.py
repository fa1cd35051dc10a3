"""Results as plain data: the JSON files these dataclasses become are the source of truth.

Everything downstream (gradebook, reports, CI output) is a view of ``result.json``; nothing
else is kept. Bump ``SCHEMA_VERSION`` whenever a field changes meaning.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal

from graders.text import clean_data

SCHEMA_VERSION = 1

CheckStatus = Literal["passed", "failed", "error"]
ItemStatus = Literal["passed", "partial", "failed", "error", "manual-pending", "manual", "override"]


@dataclass(frozen=True)
class Verdict:
    """What a rule says about one check.

    ``reason`` goes to the student: one actionable line, never a hidden input or reference value.
    ``detail`` is for TAs only (may show expected values).
    """

    passed: bool
    reason: str = ""
    detail: str = ""
    #: "error" when the check could not be graded (probe crashed, kernel died…), not merely wrong.
    error: bool = False
    #: the grader itself failed (a bug, a crashed checker): the result is not final and a rerun retries it
    grader_error: bool = False

    @classmethod
    def ok(cls, detail: str = "") -> "Verdict":
        return cls(True, "", detail)

    @classmethod
    def fail(cls, reason: str, detail: str = "") -> "Verdict":
        return cls(False, reason, detail)

    @classmethod
    def cannot_grade(cls, reason: str, detail: str = "") -> "Verdict":
        return cls(False, reason, detail, error=True)

    @classmethod
    def grader_failed(cls, reason: str, detail: str = "") -> "Verdict":
        """The grader, not the submission, could not judge: never a grade (see ``CheckResult.grader_error``)."""
        return cls(False, reason, detail, error=True, grader_error=True)


@dataclass(frozen=True)
class CheckResult:
    """One check of one submission."""

    id: str
    passed: bool
    status: CheckStatus
    reason: str = ""
    detail: str = ""
    public: bool = True
    weight: float = 1.0
    #: the grader failed on this check (not the student): the submission's result is incomplete
    grader_error: bool = False
    #: what the check checks, in words (``Check.description``): the feedback leads with it
    description: str = ""


@dataclass(frozen=True)
class ItemResult:
    """One rubric item: points earned from the weighted fraction of its checks that passed."""

    id: str
    part: str
    title: str
    score: float
    max: float
    status: ItemStatus
    manual: bool = False
    checks: tuple[CheckResult, ...] = ()
    #: why the whole item could not be graded (missing notebook, kernel died…), if so
    reason: str = ""
    #: what a TA wrote to the student about this item (a written answer's comment; an override's reason)
    comment: str = ""
    #: when a TA overrode an automatic item (status "override"): what its checks gave
    auto_score: float | None = None
    auto_status: str = ""


@dataclass(frozen=True)
class CellRecord:
    """What happened to one executed cell (outputs are not kept here, only the verdict)."""

    index: int
    status: Literal["ok", "error", "timeout", "not-run"]
    ename: str = ""
    evalue: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ExecutionSummary:
    """How the execution of one notebook went."""

    notebook: str
    seconds: float = 0.0
    cells_run: int = 0
    cells_failed: int = 0
    #: index of the cell during which the kernel died, or None
    kernel_died_in_cell: int | None = None
    notebook_timed_out: bool = False
    #: a problem that stopped the notebook from running at all (unreadable file…)
    error: str = ""
    cells: tuple[CellRecord, ...] = ()
    #: ids of provided (locked) cells whose source was changed
    modified_locked_cells: tuple[str, ...] = ()


@dataclass(frozen=True)
class PartResult:
    name: str
    score: float
    max: float
    notebook: str = ""
    execution: ExecutionSummary | None = None


@dataclass(frozen=True)
class SubmissionResult:
    """The whole grade of one submission. ``total`` counts manual scores entered so far."""

    submission_id: str
    student_id: str
    name: str
    total: float
    max: float
    auto_total: float
    manual_pending: float
    parts: dict[str, PartResult]
    items: tuple[ItemResult, ...]
    public_only: bool = False
    grader_version: str = ""
    rubric_hash: str = ""
    input_hash: str = ""
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION
    notes: tuple[str, ...] = ()
    #: some check ended in a grader error: the totals are not final and a rerun regrades it
    incomplete: bool = False


def automatic_verdict(item: ItemResult) -> tuple[float, str]:
    """(score, status) of an item before any TA entry: what its checks gave, or pending for a written answer."""
    if item.manual:
        return 0.0, "manual-pending"
    if item.auto_score is not None:
        return item.auto_score, item.auto_status
    return item.score, item.status


@dataclass(frozen=True)
class Totals:
    """What a submission's items add up to (the one place sums are taken: score, gradebook, TA folds)."""

    parts: dict[str, float]
    total: float
    auto_total: float
    manual_pending: float


def totals(items: Iterable[ItemResult], parts: Iterable[str] = ()) -> Totals:
    """Part scores (``parts`` first, in that order, then any other part of ``items``), total, the
    checks' own total (an override counts what its checks gave) and the points of written answers
    still pending; each rounded to 6 decimals.
    """
    items = list(items)
    sums = dict.fromkeys(parts, 0.0)
    for it in items:
        sums[it.part] = sums.get(it.part, 0.0) + it.score
    return Totals(parts={name: round(s, 6) for name, s in sums.items()},
                  total=round(sum(i.score for i in items), 6),
                  auto_total=round(sum(automatic_verdict(i)[0] for i in items if not i.manual), 6),
                  manual_pending=round(sum(i.max for i in items if i.status == "manual-pending"), 6))


def to_jsonable(obj: Any) -> Any:
    """Dataclasses → dicts, tuples → lists; everything else as is."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    return obj


def submission_from_dict(data: dict) -> SubmissionResult:
    """Inverse of ``to_jsonable`` for a submission result (checks the schema version)."""
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"result schema version {version!r}, this grader reads {SCHEMA_VERSION}")
    d = dict(data)
    d.pop("extra", None)  # an always-empty field of results written before it was removed
    parts = {}
    for name, p in d["parts"].items():
        p = dict(p)
        ex = p.get("execution")
        if ex is not None:
            ex = dict(ex)
            ex["cells"] = tuple(CellRecord(**c) for c in ex.get("cells", ()))
            ex["modified_locked_cells"] = tuple(ex.get("modified_locked_cells", ()))
            p["execution"] = ExecutionSummary(**ex)
        parts[name] = PartResult(**p)
    d["parts"] = parts
    items = []
    for it in d["items"]:
        it = dict(it)
        it["checks"] = tuple(CheckResult(**c) for c in it.get("checks", ()))
        items.append(ItemResult(**it))
    d["items"] = tuple(items)
    d["notes"] = tuple(d.get("notes", ()))
    return SubmissionResult(**d)


def sanitised(result: SubmissionResult) -> SubmissionResult:
    """``result`` with every string valid UTF-8 (lone surrogates from a kernel replaced by U+FFFD).

    Applied once, where a result is made (``pipeline.grade_submission``), so that its JSON, its
    feedback, the gradebook's sqlite and CSV rows and the terminal all get encodable text.
    """
    return submission_from_dict(clean_data(to_jsonable(result)))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=False, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_submission(path: Path, result: SubmissionResult) -> None:
    write_json_atomic(path, to_jsonable(result))


def load_submission(path: Path) -> SubmissionResult:
    return submission_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
