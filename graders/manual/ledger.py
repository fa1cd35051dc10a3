"""The ledger of TA scores: one way in for every manual score, its versions, its audit trail, the comment bank.

Every manual score — from a CSV sheet (``graders.manual.sheets``) or the grading page
(``graders.manual.web``) — is checked by ``validate_score`` and written by ``record_scores``,
which keeps each change in ``manual_score_log`` (the audit trail: who, when, from what to what)
and refuses a stale write: each score has a version (the id of its latest change), and a change
made against an older version than the current one is refused with the current value.
``refresh.after_manual_change`` then refreshes the CSV exports and the submissions'
``result.json`` and feedback.

Scores are validated on import (unknown submission or item, a score outside [0, max], a
duplicate row → a clear error naming the line); one bad row means nothing is written.

The tables are the gradebook's (``graders.gradebook``: its schema, and ``effective_score``, which
reads them under the manual/override rule); the rules for writing them are the manual grading's,
so they sit here, above the gradebook.
"""
from __future__ import annotations

import datetime as dt
import math
import sqlite3
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from graders.gradebook import GradebookError
from graders.text import points_text


def now_text() -> str:
    """The time a change is recorded with: UTC, to the second, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ScoreChange:
    """A score a TA wants recorded for one submission's item (``score`` None: clear it, pending again)."""

    submission_id: str
    item_id: str
    score: float | None
    comment: str = ""
    #: why an automatic item's score is overridden (required for those, unused for written answers)
    override_reason: str = ""
    #: the score's version the TA saw (``score_versions``); None: do not check (a hand-made sheet)
    expected_version: int | None = None

    def kind(self, item: Mapping) -> str:
        return "manual" if item["manual"] else "override"


@dataclass
class RecordOutcome:
    written: list[ScoreChange] = field(default_factory=list)
    unchanged: list[ScoreChange] = field(default_factory=list)
    #: changes refused because the score changed since the TA saw it: the current entry of each
    stale: list[dict] = field(default_factory=list)


def validate_score(item: Mapping, raw: str | float, *, override_reason: str = "") -> float:
    """The score ``raw`` for ``item`` (an ``items`` row) under the manual/override rule, or GradebookError.

    The one validation of an entered score, for the CSV import and the web page alike.
    """
    try:
        score = float(raw)
    except (TypeError, ValueError):
        raise GradebookError(f"score {raw!r} is not a number") from None
    if math.isnan(score) or not 0 <= score <= item["max"]:
        raise GradebookError(f"score {raw} for {item['item_id']} is outside [0, {points_text(item['max'])}]")
    if not item["manual"] and not override_reason.strip():
        raise GradebookError(f"{item['item_id']} is graded automatically; to override it, give an override_reason")
    return score


def score_versions(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """(submission id, item id) → version of its manual score: the id of its latest change (0: never changed)."""
    return {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT submission_id, item_id, MAX(id) FROM manual_score_log GROUP BY submission_id, item_id")}


def current_entry(conn: sqlite3.Connection, submission_id: str, item_id: str) -> dict:
    """The manual score of one submission's item as recorded now, with its version (score None: none)."""
    row = conn.execute("SELECT * FROM manual_scores WHERE submission_id = ? AND item_id = ?",
                       (submission_id, item_id)).fetchone()
    version = conn.execute("SELECT MAX(id) FROM manual_score_log WHERE submission_id = ? AND item_id = ?",
                           (submission_id, item_id)).fetchone()[0] or 0
    entry = dict(row) if row is not None else {"submission_id": submission_id, "item_id": item_id, "score": None,
                                                "kind": "", "reason": "", "comment": "", "grader": "",
                                                "entered_at": ""}
    entry["version"] = version
    return entry


def untouched_since(conn: sqlite3.Connection, change: ScoreChange) -> bool:
    """True when the score changed after version ``expected_version`` and ``change`` still holds that old value."""
    now = current_entry(conn, change.submission_id, change.item_id)
    if now["version"] == change.expected_version:
        return False
    if change.expected_version:
        then = conn.execute("SELECT score, comment FROM manual_score_log WHERE id = ? AND submission_id = ? "
                            "AND item_id = ?", (change.expected_version, change.submission_id, change.item_id)
                            ).fetchone()
    else:  # version 0: before the first logged change
        then = conn.execute("SELECT previous_score AS score, previous_comment AS comment FROM manual_score_log "
                            "WHERE submission_id = ? AND item_id = ? ORDER BY id LIMIT 1",
                            (change.submission_id, change.item_id)).fetchone()
    return then is not None and then["score"] == change.score and (then["comment"] or "") == change.comment


def stale_message(entry: Mapping) -> str:
    """What a TA reads when their change is refused: who changed the score, when, and to what."""
    now = "cleared it" if entry["score"] is None else f"set it to {points_text(entry['score'])}"
    who = entry["grader"] or "someone"
    when = f" at {entry['entered_at']}" if entry["entered_at"] else ""
    comment = f" (comment: {entry['comment']!r})" if entry["comment"] else ""
    return (f"{entry['submission_id']} / {entry['item_id']} was changed after you loaded it: {who} {now}{when}"
            f"{comment}")


def record_scores(conn: sqlite3.Connection, changes: Iterable[ScoreChange], *, grader: str, source: str,
                  partial: bool = False) -> RecordOutcome:
    """Record validated changes in one transaction, each with who, when and what it replaced (the audit trail).

    A change whose ``expected_version`` is not the score's current version is stale: refused (the
    current entry goes in ``outcome.stale``) unless it asks for exactly what is recorded. With a
    stale change nothing is written, unless ``partial`` (then the others are). A change equal to
    what is recorded is not written again.
    """
    outcome = RecordOutcome()
    now = now_text()
    with conn:
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")  # no other writer between reading the versions and writing
        todo = []
        for c in changes:
            item = conn.execute("SELECT * FROM items WHERE submission_id = ? AND item_id = ?",
                                (c.submission_id, c.item_id)).fetchone()
            if item is None:
                raise GradebookError(f"{c.submission_id} / {c.item_id} is not in the gradebook")
            cur = current_entry(conn, c.submission_id, c.item_id)
            reason = c.override_reason if c.kind(item) == "override" else ""
            same = (cur["score"] is None and c.score is None) or (
                cur["score"] is not None and c.score is not None and cur["score"] == c.score
                and cur["comment"] == c.comment and cur["reason"] == reason)
            if same:
                outcome.unchanged.append(c)
            elif c.expected_version is not None and c.expected_version != cur["version"]:
                outcome.stale.append(cur)
            else:
                todo.append((c, item, cur, reason))
        if outcome.stale and not partial:
            return outcome
        for c, item, cur, reason in todo:
            kind = c.kind(item)
            if c.score is None:
                conn.execute("DELETE FROM manual_scores WHERE submission_id = ? AND item_id = ?",
                             (c.submission_id, c.item_id))
            else:
                conn.execute("INSERT OR REPLACE INTO manual_scores VALUES (?,?,?,?,?,?,?,?)",
                             (c.submission_id, c.item_id, c.score, kind, reason, c.comment, grader, now))
            conn.execute("INSERT INTO manual_score_log (submission_id, item_id, score, previous_score, kind, reason, "
                         "comment, previous_comment, grader, entered_at, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                         (c.submission_id, c.item_id, c.score, cur["score"], kind, reason, c.comment,
                          cur["comment"] or "", grader, now, source))
            outcome.written.append(c)
    return outcome


def score_history(conn: sqlite3.Connection, *, submission_id: str | None = None, item_id: str | None = None,
                  limit: int = 500) -> list[dict]:
    """The audit trail, newest first: every change of a manual score (who, when, from what to what, how)."""
    where, args = [], []
    if submission_id is not None:
        where.append("submission_id = ?")
        args.append(submission_id)
    if item_id is not None:
        where.append("item_id = ?")
        args.append(item_id)
    sql = ("SELECT * FROM manual_score_log" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY id DESC LIMIT ?")
    return [dict(r) for r in conn.execute(sql, (*args, limit))]


def comment_bank(conn: sqlite3.Connection, item_id: str, *, limit: int = 30) -> list[str]:
    """Reusable comments of an item: the ones added to its bank, then those already given, most used first."""
    bank = [r[0] for r in conn.execute("SELECT text FROM comment_bank WHERE item_id = ? ORDER BY added_at, text",
                                       (item_id,))]
    used = [r[0] for r in conn.execute("SELECT comment FROM manual_scores WHERE item_id = ? AND comment != '' "
                                       "GROUP BY comment ORDER BY COUNT(*) DESC, comment", (item_id,))]
    return list(dict.fromkeys(bank + used))[:limit]


def add_to_bank(conn: sqlite3.Connection, item_id: str, text: str, *, grader: str) -> None:
    """Add a reusable comment to an item's bank (once)."""
    text = text.strip()
    if not text:
        raise GradebookError("an empty comment cannot go in the bank")
    with conn:
        conn.execute("INSERT OR IGNORE INTO comment_bank VALUES (?, ?, ?, ?)", (item_id, text, grader, now_text()))
