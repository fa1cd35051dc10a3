"""Bringing the files made from the gradebook up to date, after a rebuild and after a TA's change.

The gradebook (``graders.gradebook``) holds the scores; files show them: grades.csv, items.csv
and manual_scores.json (``graders.gradebook_export``), each ``result.json`` with the TAs' scores
folded in (``graders.manual.totals``) and each feedback file with the gradebook's late days and
final score (``graders.report``). This module sits above all of them, so that none of them
imports upward: ``rebuild`` rebuilds the gradebook and rewrites the exports and every feedback;
``after_manual_change`` rewrites what a TA's change touched.
"""
from __future__ import annotations

from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterable

from graders.gradebook import BuildSummary, build, connect, malformed, standings
from graders.gradebook_export import export_csvs, write_manual_json
from graders.manual.totals import apply_manual_scores
from graders.report import write_feedback
from graders.results import load_submission, sanitised


def rebuild(out_dir: Path, *, rubric_path: Path | None = None, times_csv: Path | None = None,
            days_used_csv: Path | None = None) -> BuildSummary:
    """Rebuild the gradebook from the results under ``out_dir`` (``gradebook.build``); write the CSV exports
    and every feedback with the gradebook's late days and final score.

    ``times_csv`` (the platform's submission times) and ``days_used_csv`` (late days already used
    this term) replace what the gradebook held before; without them the stored ones are used.
    """
    out_dir = Path(out_dir)
    summary = build(out_dir, rubric_path=rubric_path, times_csv=times_csv, days_used_csv=days_used_csv)
    summary.grades_csv, summary.items_csv = export_csvs(out_dir)
    with _manual_lock(out_dir):
        refresh_feedback(out_dir)
    return summary


def after_manual_change(out_dir: Path, submission_ids: Iterable[str]) -> None:
    """Bring every view up to date after scores changed: grades.csv, items.csv, manual_scores.json, and
    the changed submissions' result.json and feedback. Serialised across processes (two TAs' servers).
    """
    out_dir = Path(out_dir)
    ids = sorted(set(submission_ids))
    if not ids:
        return
    with _manual_lock(out_dir):
        export_csvs(out_dir)
        write_manual_json(out_dir)
        apply_manual_scores(out_dir, submission_ids=ids)
        refresh_feedback(out_dir, ids)


@contextmanager
def _manual_lock(out_dir: Path):
    """One writer of result.json and feedback at a time across processes (TAs' servers, a rebuild)."""
    import fcntl

    with open(Path(out_dir) / ".manual.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def refresh_feedback(out_dir: Path, submission_ids: Iterable[str] | None = None) -> None:
    """Rewrite the feedback of every result (or those given) with the gradebook's late days and final score.

    Only beside a readable result whose own submission id names its folder (a stray file in OUT cannot
    send a write elsewhere). The caller holds ``_manual_lock``.
    """
    out_dir = Path(out_dir)
    with closing(connect(out_dir)) as conn:
        held = standings(conn)
    if submission_ids is None:
        paths = sorted(out_dir.glob("*/result.json"))
    else:
        paths = [out_dir / s / "result.json" for s in sorted(set(submission_ids))
                 if s not in ("", ".", "..") and "/" not in s and "\0" not in s]
    for path in paths:
        try:
            r = sanitised(load_submission(path))
        except Exception:  # any file: gradebook.load_results lists it as unreadable
            continue
        if r.submission_id == path.parent.name and not r.public_only and not malformed(r):
            write_feedback(r, path.parent, late=held.get(r.submission_id))
