"""Regrade requests: a student's request about one written answer, the TA's answer, the score before and after.

A TA records the request as the student sent it (by mail, on the forum …) on the student's page,
changes the score as usual (rubric items, adjustment: the changes are in the history), and
answers the request; the answer records the item's score at that moment beside the score when
the request came in, so the change it made is on record.
"""
from __future__ import annotations

import sqlite3

from graders.gradebook import GradebookError
from graders.manual.ledger import current_entry, now_text

MAX_TEXT = 5_000


def _text(text: str, what: str) -> str:
    text = str(text).strip()
    if not text:
        raise GradebookError(f"a {what} needs a text")
    if len(text) > MAX_TEXT:
        raise GradebookError(f"a {what} is at most {MAX_TEXT} characters")
    return text


def record_request(conn: sqlite3.Connection, submission_id: str, item_id: str, question: str, text: str, *,
                   recorded_by: str) -> int:
    """Record a student's request (about one question, or ``question`` "" for the whole item)."""
    text = _text(text, "regrade request")
    before = current_entry(conn, submission_id, item_id)["score"]
    with conn:
        return conn.execute("INSERT INTO regrade_requests (submission_id, item_id, question, request, requested_at, "
                            "recorded_by, score_before) VALUES (?,?,?,?,?,?,?)",
                            (submission_id, item_id, question, text, now_text(), recorded_by, before)).lastrowid


def answer(conn: sqlite3.Connection, request_id: int, text: str, *, responded_by: str) -> None:
    """The TA's answer to a request, with the item's score now (the score after the regrade)."""
    text = _text(text, "regrade answer")
    row = conn.execute("SELECT * FROM regrade_requests WHERE id = ?", (request_id,)).fetchone()
    if row is None:
        raise GradebookError(f"no regrade request {request_id}")
    after = current_entry(conn, row["submission_id"], row["item_id"])["score"]
    with conn:
        conn.execute("UPDATE regrade_requests SET response = ?, responded_by = ?, responded_at = ?, score_after = ? "
                     "WHERE id = ?", (text, responded_by, now_text(), after, request_id))


def for_answer(conn: sqlite3.Connection, submission_id: str, item_id: str) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT * FROM regrade_requests WHERE submission_id = ? AND item_id = ? "
                                          "ORDER BY id", (submission_id, item_id))]


def for_submission(conn: sqlite3.Connection, submission_id: str) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT * FROM regrade_requests WHERE submission_id = ? ORDER BY id",
                                          (submission_id,))]


def open_requests(conn: sqlite3.Connection) -> list[dict]:
    """Requests not answered yet, oldest first (the progress page lists them)."""
    return [dict(r) for r in conn.execute("SELECT * FROM regrade_requests WHERE responded_at = '' ORDER BY id")]
