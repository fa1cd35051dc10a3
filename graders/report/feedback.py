"""Feedback for one student: Markdown and HTML views of a ``SubmissionResult``.

Only student-safe text goes here: scores, statuses and each failed check's ``reason``.
A check's ``detail`` (which may contain reference values) never does.
"""
from __future__ import annotations

import html
from pathlib import Path

from graders.latedays import Standing
from graders.results import ExecutionSummary, ItemResult, SubmissionResult
from graders.text import points_text

STATUS_MARK = {"passed": "✅", "partial": "🟡", "failed": "❌", "error": "⚠️", "manual-pending": "📝", "manual": "📝",
               "override": "✍️"}


def _fmt(x: float) -> str:
    return points_text(x, decimals=2)


def execution_notes(ex: ExecutionSummary | None) -> list[str]:
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


def final_line(late: Standing, pending: bool) -> tuple[str, str]:
    """(the final score, why: its late days) as the gradebook holds them, so grades.csv and the student agree."""
    head = f"Final score{' so far' if pending else ''}: {_fmt(late.final)} / {_fmt(late.max)}"
    if not late.policy:
        return head, "no late policy"
    if late.late_days is None:
        return head, "no submission time known: no late penalty"
    days = f"{late.late_days} late day{'' if late.late_days == 1 else 's'}"
    if not late.charged_days:
        why = f"{days}{f' ({late.free_used} free)' if late.free_used else ''}: no late penalty"
    else:
        why = (f"{days} ({late.free_used} free, {late.charged_days} charged): "
               f"{_fmt(late.penalty_percent)} % late penalty")
    return head, why


def note_lines(item: ItemResult) -> list[str]:
    """What a passed check has to say (e.g. that it was scored with a reference helper)."""
    return [f"{c.id}: {c.reason}" for c in item.checks if c.passed and c.reason]


def failed_lines(item: ItemResult) -> list[str]:
    lines = [f"{c.id}: {c.reason}" for c in item.checks if not c.passed and c.reason]
    if item.reason and not lines:
        lines.append(item.reason)
    return lines


def to_markdown(r: SubmissionResult, late: Standing | None = None) -> str:
    """``late``: the gradebook's late days and final score (None before the gradebook has them)."""
    title = "Estimated score (public checks only, written answers not included)" if r.public_only else "Score"
    out = [f"# HW4 feedback — {r.name} ({r.student_id or r.submission_id})", "",
           f"**{title}: {_fmt(r.total)} / {_fmt(r.max)}**"
           + (f" — {_fmt(r.manual_pending)} points of written answers still to be graded by a TA"
              if r.manual_pending else ""), ""]
    if late is not None:
        head, why = final_line(late, bool(r.manual_pending))
        out += [f"**{head}** — {why}", ""]
    if r.notes:
        out += ["## Submission", ""] + [f"- {n}" for n in r.notes] + [""]
    out += ["| Part | Score | Max |", "|---|---:|---:|"]
    out += [f"| {p.name} | {_fmt(p.score)} | {_fmt(p.max)} |" for p in r.parts.values()]
    for part in r.parts.values():
        out += ["", f"## {part.name}" + (f" — `{part.notebook}`" if part.notebook else ""), ""]
        for note in execution_notes(part.execution):
            out.append(f"> {note}")
        out.append("")
        out += ["| Item | Points | Status |", "|---|---:|---|"]
        items = [i for i in r.items if i.part == part.name]
        for it in items:
            out.append(f"| {it.title} | {_fmt(it.score)} / {_fmt(it.max)} | {STATUS_MARK.get(it.status, '')} {it.status} |")
        problems = [(it, failed_lines(it)) for it in items]
        problems = [(it, lines) for it, lines in problems if lines and it.status not in ("passed", "manual-pending")]
        if problems:
            out += ["", "What to fix:", ""]
            for it, lines in problems:
                out += [f"- **{it.title}**"] + [f"  - {ln}" for ln in lines]
        noted = [(it, note_lines(it)) for it in items if note_lines(it)]
        if noted:
            out += ["", "Notes:", ""]
            for it, lines in noted:
                out += [f"- **{it.title}**"] + [f"  - {ln}" for ln in lines]
        commented = [it for it in items if it.comment]
        if commented:
            out += ["", "Comments from the TA:", ""]
            out += [f"- **{it.title}**: " + " ".join(it.comment.split()) for it in commented]
    return "\n".join(out) + "\n"


def to_html(r: SubmissionResult, late: Standing | None = None) -> str:
    e = html.escape
    title = "Estimated score (public checks only, written answers not included)" if r.public_only else "Score"
    body = [f"<h1>HW4 feedback — {e(r.name)} ({e(r.student_id or r.submission_id)})</h1>",
            f"<p class='total'><b>{e(title)}: {_fmt(r.total)} / {_fmt(r.max)}</b>"
            + (f" — {_fmt(r.manual_pending)} points of written answers still to be graded" if r.manual_pending else "")
            + "</p>"]
    if late is not None:
        head, why = final_line(late, bool(r.manual_pending))
        body.append(f"<p class='final'><b>{e(head)}</b> — {e(why)}</p>")
    if r.notes:
        body.append("<h2>Submission</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in r.notes) + "</ul>")
    body.append("<table><tr><th>Part</th><th>Score</th><th>Max</th></tr>" + "".join(
        f"<tr><td>{e(p.name)}</td><td>{_fmt(p.score)}</td><td>{_fmt(p.max)}</td></tr>" for p in r.parts.values())
        + "</table>")
    for part in r.parts.values():
        body.append(f"<h2>{e(part.name)}</h2>")
        notes = execution_notes(part.execution)
        if notes:
            body.append("<ul class='notes'>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
        rows = []
        for it in (i for i in r.items if i.part == part.name):
            reasons = "".join(f"<li>{e(ln)}</li>" for ln in failed_lines(it)) if it.status not in ("passed", "manual-pending") else ""
            reasons += "".join(f"<li class='note'>{e(ln)}</li>" for ln in note_lines(it))
            if it.comment:
                reasons += f"<li class='comment'>TA: {e(it.comment)}</li>"
            rows.append(f"<tr class='{e(it.status)}'><td>{e(it.title)}</td><td>{_fmt(it.score)} / {_fmt(it.max)}</td>"
                        f"<td>{e(it.status)}</td><td><ul>{reasons}</ul></td></tr>")
        body.append("<table><tr><th>Item</th><th>Points</th><th>Status</th><th>What to fix</th></tr>"
                    + "".join(rows) + "</table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}.passed td:nth-child(3){color:#070}"
             ".failed td:nth-child(3),.error td:nth-child(3){color:#a00}.partial td:nth-child(3){color:#a60}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>HW4 feedback</title><style>{style}</style>"
            f"</head><body>{''.join(body)}</body></html>\n")


def write_feedback(r: SubmissionResult, folder: Path, late: Standing | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feedback.md").write_text(to_markdown(r, late), encoding="utf-8")
    (folder / "feedback.html").write_text(to_html(r, late), encoding="utf-8")
