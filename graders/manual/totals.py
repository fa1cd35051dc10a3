"""Closing the loop: the TA's scores and comments in each ``result.json`` and its feedback.

The gradebook holds what TAs entered; a result file holds what its checks gave. ``with_manual_scores``
folds the first into the second — a written answer's score replaces its pending 0, an override
replaces an automatic score (which is kept in ``auto_score``/``auto_status``), comments go to the
student — and ``recompute_totals`` sums parts and totals with ``results.totals``, as ``pipeline.score`` does. Folding
starts from the checks' verdicts each time, so it can be repeated, and a cleared score goes back to
pending. ``apply_manual_scores`` rewrites the files after every change and after every ``hw4 grade``
(a regrade writes fresh results; the scores in the gradebook are folded in again).
"""
from __future__ import annotations

import dataclasses
from contextlib import closing
from pathlib import Path
from typing import Iterable, Mapping

from graders.gradebook import connect
from graders.report import write_feedback
from graders.results import SubmissionResult, automatic_verdict, load_submission, save_submission, totals


def recompute_totals(result: SubmissionResult) -> SubmissionResult:
    """Part scores, ``total``, ``auto_total`` and ``manual_pending`` from the items (``results.totals``)."""
    sums = totals(result.items, result.parts)
    parts = {name: dataclasses.replace(p, score=sums.parts[name]) for name, p in result.parts.items()}
    return dataclasses.replace(result, parts=parts, total=sums.total, auto_total=sums.auto_total,
                               manual_pending=sums.manual_pending)


def with_manual_scores(result: SubmissionResult, entries: Mapping[str, Mapping]) -> SubmissionResult:
    """``result`` with the TA's entries (item id → a ``manual_scores`` row) folded in and totals recomputed.

    A written answer takes the entered score (status "manual") and comment; an automatic item takes
    an override's score (status "override"; the reason and comment go to the student); an entry
    that is not an override does not touch an automatic item (the gradebook's rule).
    """
    items = []
    for it in result.items:
        auto, status = automatic_verdict(it)
        base = dataclasses.replace(it, score=auto, status=status, comment="", auto_score=None, auto_status="")
        e = entries.get(it.id)
        if e is not None and it.manual:
            base = dataclasses.replace(base, score=float(e["score"]), status="manual", comment=e["comment"] or "")
        elif e is not None and e["kind"] == "override":
            comment = " — ".join(x for x in (e["reason"] or "", e["comment"] or "") if x)
            base = dataclasses.replace(base, score=float(e["score"]), status="override", comment=comment,
                                       auto_score=auto, auto_status=status)
        items.append(base)
    return recompute_totals(dataclasses.replace(result, items=tuple(items)))


def _result_path(out_dir: Path, submission_id: str) -> Path | None:
    if not submission_id or submission_id in (".", "..") or "/" in submission_id or "\0" in submission_id:
        return None
    return Path(out_dir) / submission_id / "result.json"


def apply_manual_scores(out_dir: Path, *, submission_ids: Iterable[str] | None = None) -> list[str]:
    """Rewrite ``result.json`` and the feedback of each submission (or those given) whose TA entries changed.

    Returns the ids rewritten. A result that cannot be read, a self-check estimate (public checks
    only) and a file replaced while it was being updated (a regrade running at the same time) are
    left alone; the next ``hw4 grade`` folds the scores in again.
    """
    out_dir = Path(out_dir)
    with closing(connect(out_dir)) as conn:
        entries: dict[str, dict[str, dict]] = {}
        for e in conn.execute("SELECT * FROM manual_scores"):
            entries.setdefault(e["submission_id"], {})[e["item_id"]] = dict(e)
    if submission_ids is None:
        paths = sorted(out_dir.glob("*/result.json"))
    else:
        paths = [p for p in (_result_path(out_dir, s) for s in sorted(set(submission_ids))) if p is not None]
    changed = []
    for path in paths:
        try:
            before = path.stat()
            result = load_submission(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if result.public_only:
            continue
        updated = with_manual_scores(result, entries.get(result.submission_id, {}))
        if updated == result:
            continue
        try:
            now = path.stat()
        except OSError:
            continue
        if (now.st_ino, now.st_mtime_ns, now.st_size) != (before.st_ino, before.st_mtime_ns, before.st_size):
            continue  # regraded meanwhile: its grading run folds the scores in
        save_submission(path, updated)
        write_feedback(updated, path.parent)
        changed.append(result.submission_id)
    return changed
