"""Feedback for one student, rendered from one model (``feedback_model.build``): the Markdown and
HTML pages written beside ``result.json``, and the self-check's terminal lines.

Only student-safe text goes here: scores, statuses, each check's description and each failed
check's ``reason``. A check's ``detail`` (which may contain reference values) never does. The
Markdown shows text as written (as before); the HTML escapes every string, and only then turns
`backticks` into <code> (so a kernel's text can never become markup); the terminal gets each piece
through ``text.for_terminal``.
"""
from __future__ import annotations

import html
import re
from pathlib import Path

from graders.latedays import Standing
from graders.report.feedback_model import Feedback, ItemView, Line, build
from graders.results import SubmissionResult
from graders.text import for_terminal, points_text
from graders.homework import active

STATUS_MARK = {"passed": "✅", "partial": "🟡", "failed": "❌", "error": "⚠️", "manual-pending": "📝", "manual": "📝",
               "override": "✍️"}

__all__ = ["to_markdown", "to_html", "to_terminal", "write_feedback"]


def _fmt(x: float) -> str:
    return points_text(x, decimals=2)


def _title(fb: Feedback) -> str:
    return "Estimated score (public checks only, written answers not included)" if fb.public_only else "Score"


def _count(line: Line) -> str:
    return f" ({len(line.ids)} checks)" if len(line.ids) > 1 else ""


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


# --- Markdown ----------------------------------------------------------------------------------

def _md_line(line: Line) -> str:
    what = f"{line.description}{_count(line)} — " if line.description else ""
    ids = f" <sub>{' '.join(f'`{i}`' for i in line.ids)}</sub>" if line.ids else ""
    return f"{what}{line.reason}{ids}"


def _md_items(label: str, items: list[tuple[ItemView, tuple[Line, ...]]]) -> list[str]:
    out = ["", label, ""]
    for it, lines in items:
        out += [f"- **{it.title}**"] + [f"  - {_md_line(ln)}" for ln in lines]
    return out


def to_markdown(r: SubmissionResult, late: Standing | None = None) -> str:
    """``late``: the gradebook's late days and final score (None before the gradebook has them)."""
    fb = build(r)
    out = [f"# {active().name} feedback — {fb.name} ({fb.student})", "",
           f"**{_title(fb)}: {_fmt(fb.total)} / {_fmt(fb.max)}**"
           + (f" — {_fmt(fb.manual_pending)} points of written answers still to be graded by a TA"
              if fb.manual_pending else ""), ""]
    if late is not None:
        head, why = final_line(late, bool(fb.manual_pending))
        out += [f"**{head}** — {why}", ""]
    if fb.notes:
        out += ["## Submission", ""] + [f"- {n}" for n in fb.notes] + [""]
    out += ["| Part | Score | Max |", "|---|---:|---:|"]
    out += [f"| {p.name} | {_fmt(p.score)} | {_fmt(p.max)} |" for p in fb.parts]
    for part in fb.parts:
        out += ["", f"## {part.name}" + (f" — `{part.notebook}`" if part.notebook else ""), ""]
        out += [f"> {note}" for note in part.execution]
        out.append("")
        out += ["| Item | Points | Status |", "|---|---:|---|"]
        out += [f"| {it.title} | {_fmt(it.score)} / {_fmt(it.max)} | {STATUS_MARK.get(it.status, '')} {it.status} |"
                for it in part.items]
        if fixes := [(it, it.fixes) for it in part.items if it.fixes]:
            out += _md_items("What to fix:", fixes)
        if notes := [(it, it.notes) for it in part.items if it.notes]:
            out += _md_items("Notes:", notes)
        if commented := [it for it in part.items if it.comment]:
            out += ["", "Comments from the TA:", ""]
            out += [f"- **{it.title}**: " + " ".join(it.comment.split()) for it in commented]
    return "\n".join(out) + "\n"


# --- HTML --------------------------------------------------------------------------------------

_CODE = re.compile(r"`([^`\n]+)`")


def _h(text: str) -> str:
    """``text`` escaped, then its `backtick` spans as <code> (they hold escaped text only)."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def _html_line(line: Line, css: str = "") -> str:
    what = (f"<span class='what'>{_h(line.description)}</span>{_count(line)} — " if line.description else "")
    ids = (" <small class='ids'>" + " ".join(f"<code class='id'>{html.escape(i)}</code>" for i in line.ids)
           + "</small>") if line.ids else ""
    cls = f" class='{css}'" if css else ""
    return f"<li{cls}>{what}{_h(line.reason)}{ids}</li>"


def to_html(r: SubmissionResult, late: Standing | None = None) -> str:
    e = html.escape
    fb = build(r)
    body = [f"<h1>{e(active().name)} feedback — {e(fb.name)} ({e(fb.student)})</h1>",
            f"<p class='total'><b>{e(_title(fb))}: {_fmt(fb.total)} / {_fmt(fb.max)}</b>"
            + (f" — {_fmt(fb.manual_pending)} points of written answers still to be graded" if fb.manual_pending else "")
            + "</p>"]
    if late is not None:
        head, why = final_line(late, bool(fb.manual_pending))
        body.append(f"<p class='final'><b>{e(head)}</b> — {e(why)}</p>")
    if fb.notes:
        body.append("<h2>Submission</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in fb.notes) + "</ul>")
    body.append("<table><tr><th>Part</th><th>Score</th><th>Max</th></tr>" + "".join(
        f"<tr><td>{e(p.name)}</td><td>{_fmt(p.score)}</td><td>{_fmt(p.max)}</td></tr>" for p in fb.parts)
        + "</table>")
    for part in fb.parts:
        body.append(f"<h2>{e(part.name)}" + (f" — <code>{e(part.notebook)}</code>" if part.notebook else "") + "</h2>")
        if part.execution:
            body.append("<ul class='notes'>" + "".join(f"<li>{e(n)}</li>" for n in part.execution) + "</ul>")
        rows = []
        for it in part.items:
            reasons = "".join(_html_line(ln) for ln in it.fixes)
            reasons += "".join(_html_line(ln, "note") for ln in it.notes)
            if it.comment:
                reasons += f"<li class='comment'>TA: {e(it.comment)}</li>"
            rows.append(f"<tr class='{e(it.status)}'><td>{e(it.title)}</td><td>{_fmt(it.score)} / {_fmt(it.max)}</td>"
                        f"<td>{e(it.status)}</td><td><ul>{reasons}</ul></td></tr>")
        body.append("<table><tr><th>Item</th><th>Points</th><th>Status</th><th>What to fix</th></tr>"
                    + "".join(rows) + "</table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}.passed td:nth-child(3){color:#070}"
             ".failed td:nth-child(3),.error td:nth-child(3){color:#a00}.partial td:nth-child(3){color:#a60}"
             "li{margin:.3em 0}.what{font-weight:600}.ids{color:#777;font-size:.75em}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(active().name)} feedback</title><style>{style}</style>"
            f"</head><body>{''.join(body)}</body></html>\n")


# --- terminal (the self-check) -------------------------------------------------------------------

_MARK = {"passed": "PASS", "partial": "PART", "failed": "FAIL", "error": "ERR ", "manual-pending": "TA  ",
         "manual": "TA  ", "override": "TA  "}


def _t(text: str, limit: int = 1000) -> str:
    return for_terminal(text, limit)


def to_terminal(r: SubmissionResult) -> list[str]:
    """The self-check's lines for ``r``: per part, each item's score, then per cause what was checked
    and why it failed (the pages have the same, with the checks' ids)."""
    fb = build(r)
    out = []
    for part in fb.parts:
        out.append(f"{_t(part.notebook or part.name)} ({_t(part.name)}): {_fmt(part.score)} / {_fmt(part.max)}"
                   + (" from the public checks" if fb.public_only else ""))
        out += [f"  ! {_t(note)}" for note in part.execution]
        for it in part.items:
            if it.status == "manual-pending":
                out.append(f"  {_MARK[it.status]} {_t(it.title)}: a written answer ({_fmt(it.max)} "
                           f"point{'' if it.max == 1 else 's'}), graded by a TA")
                continue
            out.append(f"  {_MARK.get(it.status, '    ')} {_t(it.title)}: {_fmt(it.score)}/{_fmt(it.max)}")
            for line in it.fixes:
                out += _terminal_line(line)
            for line in it.notes:
                out += _terminal_line(line, "note: ")
            if it.comment:
                out.append(f"       TA: {_t(it.comment)}")
    return out


def _terminal_line(line: Line, lead: str = "") -> list[str]:
    if not line.description:
        return [f"       - {lead}{_t(line.reason)}"]
    return [f"       - {lead}{_t(line.description)}{_count(line)}", f"         {_t(line.reason)}"]


def write_feedback(r: SubmissionResult, folder: Path, late: Standing | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feedback.md").write_text(to_markdown(r, late), encoding="utf-8")
    (folder / "feedback.html").write_text(to_html(r, late), encoding="utf-8")
