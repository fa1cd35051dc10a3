"""Rubric items per question (Gradescope's rubric): items with points and a text, applied to answers.

A written item is graded question by question (``Item.questions`` in rubric.yaml; an item without
them is one question, ``answer``). Each question has its own rubric items — points positive or
negative, and a text — shared by every answer. A TA applies items to an answer (and removes them)
and may add a free adjustment with a reason. A question's score is the sum of its applied items
and adjustment, clipped to [0, its points]; it is graded once an item is applied or an adjustment
given. Editing an item's points or text re-scores every answer that carries it.

An item's score in the gradebook is then derived: the sum of its questions' scores once every
question of that answer is graded (pending until then), with the applied items listed as the
TA's comment — the student's feedback lists them. It is written through ``ledger.record_scores``
(audit trail, refresh of result.json, grades.csv and feedback by the caller), in the same
transaction as the change that caused it. An answer nobody applied a rubric item to keeps the
score typed on the answer page.

Every change is in ``rubric_log`` (who, when, what). Each question of an answer has a version
(its latest log entry): applying or removing with an older version than the current one is
refused, as a stale score is (``ledger``). Tables: ``gradebook.SCHEMA``.
"""
from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from graders.gradebook import GradebookError
from graders.manual.ledger import ScoreChange, now_text, record_scores
from graders.text import points_text

#: longest rubric item text and adjustment reason kept
MAX_TEXT = 2_000


@dataclass(frozen=True)
class RubricItem:
    id: int
    item_id: str
    question: str
    #: 1-based place in its question's list: the key that applies it
    number: int
    points: float
    text: str


@dataclass(frozen=True)
class QuestionGrade:
    """One answer's grading of one question: applied rubric items, adjustment, score (None: not graded)."""

    question: str
    applied: tuple[int, ...] = ()
    adjustment: float | None = None
    reason: str = ""
    score: float | None = None
    version: int = 0


@dataclass
class Outcome:
    """What a change did: the submissions whose item score changed, and the stale answers refused."""

    changed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def rubric(conn: sqlite3.Connection, item_id: str, question: str | None = None) -> list[RubricItem]:
    """The live rubric items of an item (or of one of its questions), in order, numbered per question."""
    rows = conn.execute("SELECT * FROM rubric_items WHERE item_id = ? AND deleted = 0 ORDER BY question, position, id",
                        (item_id,)).fetchall()
    out, counts = [], {}
    for r in rows:
        counts[r["question"]] = counts.get(r["question"], 0) + 1
        if question is None or r["question"] == question:
            out.append(RubricItem(r["id"], r["item_id"], r["question"], counts[r["question"]], r["points"], r["text"]))
    return out


def _checked_points(raw) -> float:
    try:
        points = float(raw)
    except (TypeError, ValueError):
        raise GradebookError(f"points {raw!r} are not a number") from None
    if not math.isfinite(points) or abs(points) > 1e6:
        raise GradebookError(f"points {raw!r} are not a usable number")
    return points


def _checked_text(text: str, what: str) -> str:
    text = " ".join(str(text).split())
    if not text:
        raise GradebookError(f"a {what} needs a text")
    if len(text) > MAX_TEXT:
        raise GradebookError(f"a {what} is at most {MAX_TEXT} characters")
    return text


def _log(conn, item_id: str, question: str, action: str, detail: str, grader: str, submission_id: str = "") -> int:
    return conn.execute("INSERT INTO rubric_log (item_id, question, submission_id, action, detail, grader, entered_at) "
                        "VALUES (?,?,?,?,?,?,?)",
                        (item_id, question, submission_id, action, detail, grader, now_text())).lastrowid


def add_rubric_item(conn: sqlite3.Connection, item_id: str, question: str, points, text: str, *,
                    grader: str) -> RubricItem:
    """A new rubric item at the end of its question's list."""
    points, text = _checked_points(points), _checked_text(text, "rubric item")
    with conn:
        position = conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM rubric_items WHERE item_id = ? AND "
                                "question = ?", (item_id, question)).fetchone()[0]
        rid = conn.execute("INSERT INTO rubric_items (item_id, question, position, points, text, created_by, "
                           "created_at) VALUES (?,?,?,?,?,?,?)",
                           (item_id, question, position, points, text, grader, now_text())).lastrowid
        _log(conn, item_id, question, "add item", f"#{rid} {points_text(points)}: {text}", grader)
    return next(r for r in rubric(conn, item_id, question) if r.id == rid)


def question_grades(conn: sqlite3.Connection, item_id: str, questions: Sequence,
                    submission_ids: Iterable[str] | None = None) -> dict[str, dict[str, QuestionGrade]]:
    """submission → question id → its grade, for the answers that have rubric state (or all asked for)."""
    live = {r.id: r for r in rubric(conn, item_id)}
    qmax = {q.id: q.points for q in questions}
    applied: dict[tuple[str, str], list[int]] = {}
    for r in conn.execute("SELECT a.* FROM rubric_applied a JOIN rubric_items r ON r.id = a.rubric_id "
                          "WHERE a.item_id = ? AND r.deleted = 0 ORDER BY r.position, r.id", (item_id,)):
        applied.setdefault((r["submission_id"], r["question"]), []).append(r["rubric_id"])
    adjust = {(r["submission_id"], r["question"]): (r["points"], r["reason"]) for r in
              conn.execute("SELECT * FROM question_adjustments WHERE item_id = ?", (item_id,))}
    versions = {(r[0], r[1]): r[2] for r in conn.execute(
        "SELECT submission_id, question, MAX(id) FROM rubric_log WHERE item_id = ? AND submission_id != '' "
        "GROUP BY submission_id, question", (item_id,))}
    subs = set(submission_ids) if submission_ids is not None else {k[0] for k in (*applied, *adjust, *versions)}
    out: dict[str, dict[str, QuestionGrade]] = {}
    for sub in subs:
        for q in qmax:
            ids = tuple(applied.get((sub, q), ()))
            adj, reason = adjust.get((sub, q), (None, ""))
            score = None
            if ids or adj is not None:
                raw = sum(live[i].points for i in ids) + (adj or 0.0)
                score = round(min(max(raw, 0.0), qmax[q]), 6)
            out.setdefault(sub, {})[q] = QuestionGrade(q, ids, adj, reason, score, versions.get((sub, q), 0))
    return out


def set_applied(conn: sqlite3.Connection, item_id: str, questions: Sequence, question: str, rubric_id: int,
                targets: Mapping[str, int | None], *, apply: bool | None, grader: str) -> Outcome:
    """Apply (``apply`` True), remove (False) or toggle (None) one rubric item on answers.

    ``targets``: submission → the question's version the TA saw (None: do not check). A stale
    answer is left alone and named in ``Outcome.stale``; the others change.
    """
    if question not in {q.id for q in questions}:
        raise GradebookError(f"{item_id} has no question {question!r}")
    live = {r.id: r for r in rubric(conn, item_id, question)}
    if rubric_id not in live:
        raise GradebookError(f"rubric item {rubric_id} is not one of {item_id} / {question}")
    outcome = Outcome()
    touched = []
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        grades = question_grades(conn, item_id, questions, targets)
        for sub, seen in targets.items():
            now = grades[sub][question]
            if seen is not None and seen != now.version:
                outcome.stale.append(sub)
                continue
            on = rubric_id in now.applied
            want = (not on) if apply is None else apply
            if want == on:
                continue
            if want:
                conn.execute("INSERT INTO rubric_applied VALUES (?,?,?,?)", (sub, item_id, question, rubric_id))
            else:
                conn.execute("DELETE FROM rubric_applied WHERE submission_id = ? AND item_id = ? AND question = ? "
                             "AND rubric_id = ?", (sub, item_id, question, rubric_id))
            r = live[rubric_id]
            _log(conn, item_id, question, "apply" if want else "remove",
                 f"#{r.number} {points_text(r.points)}: {r.text}", grader, sub)
            touched.append(sub)
        outcome.changed = _sync(conn, item_id, questions, touched, grader=grader, source="rubric")
    return outcome


def set_adjustment(conn: sqlite3.Connection, item_id: str, questions: Sequence, question: str, submission_id: str,
                   points, reason: str, *, expected_version: int | None, grader: str) -> Outcome:
    """Give (``points`` not None) or clear a free adjustment of one answer's question, with its reason."""
    if question not in {q.id for q in questions}:
        raise GradebookError(f"{item_id} has no question {question!r}")
    if points is not None:
        points, reason = _checked_points(points), _checked_text(reason, "point adjustment (the reason)")
    outcome = Outcome()
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        now = question_grades(conn, item_id, questions, [submission_id])[submission_id][question]
        if expected_version is not None and expected_version != now.version:
            outcome.stale.append(submission_id)
            return outcome
        if points is None:
            conn.execute("DELETE FROM question_adjustments WHERE submission_id = ? AND item_id = ? AND question = ?",
                         (submission_id, item_id, question))
            detail = "adjustment cleared"
        else:
            conn.execute("INSERT OR REPLACE INTO question_adjustments VALUES (?,?,?,?,?)",
                         (submission_id, item_id, question, points, reason))
            detail = f"adjustment {points_text(points)}: {reason}"
        _log(conn, item_id, question, "adjust", detail, grader, submission_id)
        outcome.changed = _sync(conn, item_id, questions, [submission_id], grader=grader, source="rubric")
    return outcome


def edit_rubric_item(conn: sqlite3.Connection, item_id: str, questions: Sequence, rubric_id: int, *,
                     points=None, text: str | None = None, delete: bool = False, grader: str) -> Outcome:
    """Change an item's points or text, or delete it; every answer carrying it is re-scored."""
    row = conn.execute("SELECT * FROM rubric_items WHERE id = ? AND item_id = ? AND deleted = 0",
                       (rubric_id, item_id)).fetchone()
    if row is None:
        raise GradebookError(f"rubric item {rubric_id} is not one of {item_id}'s")
    new_points = row["points"] if points is None else _checked_points(points)
    new_text = row["text"] if text is None else _checked_text(text, "rubric item")
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        if delete:
            conn.execute("UPDATE rubric_items SET deleted = 1 WHERE id = ?", (rubric_id,))
            detail = f"#{rubric_id} deleted ({points_text(row['points'])}: {row['text']})"
        else:
            conn.execute("UPDATE rubric_items SET points = ?, text = ? WHERE id = ?", (new_points, new_text, rubric_id))
            detail = (f"#{rubric_id} {points_text(row['points'])}: {row['text']} → "
                      f"{points_text(new_points)}: {new_text}")
        _log(conn, item_id, row["question"], "edit item", detail, grader)
        carriers = [r[0] for r in conn.execute("SELECT DISTINCT submission_id FROM rubric_applied WHERE rubric_id = ?",
                                               (rubric_id,))]
        changed = _sync(conn, item_id, questions, carriers, grader=grader, source="rubric edit")
    return Outcome(changed=changed)


def move_rubric_item(conn: sqlite3.Connection, item_id: str, rubric_id: int, step: int, *, grader: str) -> None:
    """Move a rubric item up (``step`` −1) or down (+1) its question's list (its key changes with it)."""
    row = conn.execute("SELECT * FROM rubric_items WHERE id = ? AND item_id = ? AND deleted = 0",
                       (rubric_id, item_id)).fetchone()
    if row is None:
        raise GradebookError(f"rubric item {rubric_id} is not one of {item_id}'s")
    order = [r.id for r in rubric(conn, item_id, row["question"])]
    i = order.index(rubric_id)
    j = i + (1 if step > 0 else -1)
    if not 0 <= j < len(order):
        return
    order[i], order[j] = order[j], order[i]
    with conn:
        for pos, rid in enumerate(order, 1):
            conn.execute("UPDATE rubric_items SET position = ? WHERE id = ?", (pos, rid))
        _log(conn, item_id, row["question"], "move item", f"#{rubric_id} to place {j + 1}", grader)


def feedback_text(questions: Sequence, grades: Mapping[str, QuestionGrade], items: Mapping[int, RubricItem]) -> str:
    """What the student reads: per question, its score and the applied items (the item's TA comment)."""
    parts = []
    for q in questions:
        g = grades.get(q.id)
        if g is None or g.score is None:
            continue
        bits = [f"{items[i].text} ({_signed(items[i].points)})" for i in g.applied]
        if g.adjustment is not None:
            bits.append(f"{g.reason} ({_signed(g.adjustment)})")
        head = f"{q.title}: {points_text(g.score)}/{points_text(q.points)}" if len(questions) > 1 else ""
        parts.append(" — ".join(x for x in (head, "; ".join(bits)) if x))
    return " | ".join(parts)


def _signed(x: float) -> str:
    return ("+" if x >= 0 else "−") + points_text(abs(x))


def _sync(conn, item_id: str, questions: Sequence, submission_ids: Iterable[str], *, grader: str,
          source: str) -> list[str]:
    """Write the derived item score of each answer (module docstring); returns those that changed."""
    subs = sorted(set(submission_ids))
    if not subs:
        return []
    grades = question_grades(conn, item_id, questions, subs)
    items = {r.id: r for r in rubric(conn, item_id)}
    changes = []
    for sub in subs:
        g = grades[sub]
        if all(x.score is not None for x in g.values()):
            total = round(sum(x.score for x in g.values()), 6)
            changes.append(ScoreChange(sub, item_id, total, feedback_text(questions, g, items)))
        else:
            changes.append(ScoreChange(sub, item_id, None))
    outcome = record_scores(conn, changes, grader=grader, source=source)
    return [c.submission_id for c in outcome.written]
