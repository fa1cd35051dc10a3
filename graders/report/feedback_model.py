"""What one student's feedback says, as plain data: parts → items → lines.

The Markdown page, the HTML page and the self-check's terminal output are renderings of this one
model (``graders.report.feedback``), so they cannot drift apart. A line says what was checked (the
checks' descriptions, in words), then why it failed (the student-facing ``reason``), and which checks
it covers: checks that failed for the same cause — an unimplemented function fails every check that
calls it — share one line. Only student-safe text comes in: scores, statuses, descriptions, reasons;
never a check's ``detail``.
"""
from __future__ import annotations

from dataclasses import dataclass

from graders.calls import without_call
from graders.results import CheckResult, ExecutionSummary, ItemResult, SubmissionResult

#: items whose checks' reasons are not listed as things to fix
QUIET = ("passed", "manual-pending")


@dataclass(frozen=True)
class Line:
    """One cause: what was checked, why it failed (or a passed check's remark), the checks it covers."""

    #: the covered checks' descriptions, each once, joined by "; " ("" when none is known)
    description: str
    reason: str
    #: the ids of the checks this line covers (none for an item-wide reason)
    ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemView:
    title: str
    score: float
    max: float
    status: str
    #: failed checks, one line per cause (empty for a passed or pending item)
    fixes: tuple[Line, ...] = ()
    #: what passed checks have to say (e.g. scored with a reference helper)
    notes: tuple[Line, ...] = ()
    #: the TA's comment
    comment: str = ""


@dataclass(frozen=True)
class PartView:
    name: str
    notebook: str
    score: float
    max: float
    #: how the notebook ran (cells that raised, a dead kernel, changed provided cells)
    execution: tuple[str, ...]
    items: tuple[ItemView, ...]


@dataclass(frozen=True)
class Feedback:
    name: str
    student: str
    public_only: bool
    total: float
    max: float
    manual_pending: float
    #: problems with the submission itself (naming, missing parts)
    notes: tuple[str, ...]
    parts: tuple[PartView, ...]


def build(r: SubmissionResult) -> Feedback:
    """The feedback of ``r``."""
    parts = tuple(
        PartView(p.name, p.notebook, p.score, p.max, tuple(execution_notes(p.execution)),
                 tuple(item_view(it) for it in r.items if it.part == p.name))
        for p in r.parts.values())
    return Feedback(r.name, r.student_id or r.submission_id, r.public_only, r.total, r.max, r.manual_pending,
                    tuple(r.notes), parts)


def item_view(it: ItemResult) -> ItemView:
    fixes = ()
    if it.status not in QUIET:
        fixes = tuple(lines([c for c in it.checks if not c.passed and c.reason]))
        if not fixes and it.reason:
            fixes = (Line("", it.reason),)
    notes = tuple(lines([c for c in it.checks if c.passed and c.reason]))
    return ItemView(it.title, it.score, it.max, it.status, fixes, notes, it.comment)


def lines(checks: list[CheckResult]) -> list[Line]:
    """One line per cause, in the order of the checks: checks whose reasons are the same but for the
    arguments of the call that raised (``calls.without_call``) share a line, which shows the first
    one's reason. Only a public check's reason describes a call, so a hidden check shares a line only
    with checks whose reason is its own, give or take a public call's arguments."""
    groups: dict[str, list[CheckResult]] = {}
    for c in checks:
        groups.setdefault(without_call(c.reason), []).append(c)
    out = []
    for group in groups.values():
        described = dict.fromkeys(c.description for c in group if c.description)
        out.append(Line("; ".join(described), group[0].reason, tuple(c.id for c in group)))
    return out


def execution_notes(ex: ExecutionSummary | None) -> list[str]:
    """What went wrong while the notebook ran, one sentence each."""
    if ex is None:
        return []
    notes = []
    if ex.error:
        notes.append(f"The notebook could not be run: {ex.error}")
    if ex.kernel_died_in_cell:
        notes.append(f"The kernel died in cell {ex.kernel_died_in_cell}; later cells and checks could not run.")
    if ex.notebook_timed_out:
        notes.append("The notebook ran out of time; some cells were not run.")
    for c in ex.cells:
        if c.status == "error":
            notes.append(f"Cell {c.index + 1} raised {c.ename}: {c.evalue}".strip())
        elif c.status == "timeout":
            notes.append(f"Cell {c.index + 1} {c.evalue} and was interrupted.")
    for cid in ex.modified_locked_cells:  # "ID", "ID (deleted)" or "ID (moved)" (graders.locked)
        name, _, how = cid.partition(" (")
        what = {"deleted)": "deleted; it was put back", "moved)": "moved; it ran in its original place"}.get(
            how, "modified; the original is what counts")
        notes.append(f"The provided cell {name} was {what}.")
    return notes
