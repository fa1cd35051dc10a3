"""Rubric items per question: applying, removing, editing, adjusting — and the item score they make.

Every score a rubric change makes must reach the gradebook (through the ledger, with its audit
trail), result.json and the feedback, exactly as a typed score does.
"""
from __future__ import annotations

import json
from collections import namedtuple
from contextlib import closing

import pytest

from graders.gradebook import GradebookError, connect
from graders.manual.ledger import ScoreChange, current_entry, record_scores
from graders.manual.rubric_items import (add_rubric_item, edit_rubric_item, move_rubric_item, question_grades,
                                         rubric, set_adjustment, set_applied)
from graders.refresh import after_manual_change

Q = namedtuple("Q", "id title points")
ITEM = "alpha.written"  # 5 points in the small rubric
TWO = (Q("q1", "First", 3.0), Q("q2", "Second", 2.0))
SUBS = ("401000001_Ali", "401000002_Sara", "401000003_Mina")


@pytest.fixture
def conn(batch):
    with closing(connect(batch)) as c:
        yield c


def score(conn, sub):
    return current_entry(conn, sub, ITEM)["score"]


def test_an_item_score_is_the_sum_of_its_questions_once_all_are_graded(conn):
    full1 = add_rubric_item(conn, ITEM, "q1", 3, "Correct", grader="TA")
    slip = add_rubric_item(conn, ITEM, "q1", -1, "Sign slip", grader="TA")
    full2 = add_rubric_item(conn, ITEM, "q2", 2, "Correct", grader="TA")
    assert (full1.number, slip.number, full2.number) == (1, 2, 1)  # numbered per question: the keys

    set_applied(conn, ITEM, TWO, "q1", full1.id, {SUBS[0]: 0}, apply=True, grader="TA")
    assert score(conn, SUBS[0]) is None  # q2 not graded yet: pending
    set_applied(conn, ITEM, TWO, "q1", slip.id, {SUBS[0]: None}, apply=True, grader="TA")
    set_applied(conn, ITEM, TWO, "q2", full2.id, {SUBS[0]: None}, apply=True, grader="TA")
    entry = current_entry(conn, SUBS[0], ITEM)
    assert entry["score"] == 4.0 and entry["grader"] == "TA"
    assert "Sign slip (−1)" in entry["comment"] and "First: 2/3" in entry["comment"]

    out = set_applied(conn, ITEM, TWO, "q1", slip.id, {SUBS[0]: None}, apply=None, grader="TA")  # toggle off
    assert out.changed == [SUBS[0]] and score(conn, SUBS[0]) == 5.0


def test_a_question_score_stays_within_its_points(conn):
    plus = add_rubric_item(conn, ITEM, "q1", 2.5, "Good", grader="TA")
    more = add_rubric_item(conn, ITEM, "q1", 2.5, "Great", grader="TA")
    minus = add_rubric_item(conn, ITEM, "q2", -3, "Wrong", grader="TA")
    set_applied(conn, ITEM, TWO, "q1", plus.id, {SUBS[0]: None}, apply=True, grader="TA")
    set_applied(conn, ITEM, TWO, "q1", more.id, {SUBS[0]: None}, apply=True, grader="TA")
    set_applied(conn, ITEM, TWO, "q2", minus.id, {SUBS[0]: None}, apply=True, grader="TA")
    g = question_grades(conn, ITEM, TWO, [SUBS[0]])[SUBS[0]]
    assert (g["q1"].score, g["q2"].score) == (3.0, 0.0)
    assert score(conn, SUBS[0]) == 3.0


def test_editing_an_item_rescores_every_answer_carrying_it_and_the_files_follow(batch, conn):
    ok = add_rubric_item(conn, ITEM, "answer", 4, "Right idea", grader="TA")
    one = (Q("answer", "Whole", 5.0),)
    out = set_applied(conn, ITEM, one, "answer", ok.id, {s: 0 for s in SUBS}, apply=True, grader="TA")
    after_manual_change(batch, out.changed)
    assert [score(conn, s) for s in SUBS] == [4.0, 4.0, 4.0]

    out = edit_rubric_item(conn, ITEM, one, ok.id, points=4.5, text="Right idea, well argued", grader="TB")
    after_manual_change(batch, out.changed)
    assert sorted(out.changed) == sorted(SUBS)
    for s in SUBS:
        assert score(conn, s) == 4.5
        result = json.loads((batch / s / "result.json").read_text())
        item = next(i for i in result["items"] if i["id"] == ITEM)
        assert item["score"] == 4.5 and "Right idea, well argued (+4.5)" in item["comment"]
        assert "Right idea, well argued" in (batch / s / "feedback.md").read_text()
    grades = (batch / "grades.csv").read_text()
    assert grades.count("4.5") >= 3
    untouched = "401000004_Omid"
    assert score(conn, untouched) is None
    log = conn.execute("SELECT source, grader FROM manual_score_log WHERE submission_id = ? ORDER BY id",
                       (SUBS[0],)).fetchall()
    assert [tuple(r) for r in log] == [("rubric", "TA"), ("rubric edit", "TB")]


def test_a_stale_toggle_is_refused_and_a_group_apply_skips_only_the_stale(conn):
    ok = add_rubric_item(conn, ITEM, "q1", 3, "Correct", grader="TA")
    seen = {s: g["q1"].version for s, g in question_grades(conn, ITEM, TWO, SUBS).items()}
    set_applied(conn, ITEM, TWO, "q1", ok.id, {SUBS[1]: seen[SUBS[1]]}, apply=True, grader="TB")  # someone else
    out = set_applied(conn, ITEM, TWO, "q1", ok.id, seen, apply=True, grader="TA")
    assert out.stale == [SUBS[1]]
    applied = question_grades(conn, ITEM, TWO, SUBS)
    assert all(ok.id in applied[s]["q1"].applied for s in SUBS)
    who = {r[0]: r[1] for r in conn.execute("SELECT submission_id, grader FROM rubric_log WHERE action = 'apply'")}
    assert who[SUBS[1]] == "TB" and who[SUBS[0]] == "TA"


def test_an_adjustment_needs_a_reason_and_counts(conn):
    one = (Q("answer", "Whole", 5.0),)
    with pytest.raises(GradebookError, match="needs a text"):
        set_adjustment(conn, ITEM, one, "answer", SUBS[0], 1, "  ", expected_version=0, grader="TA")
    set_adjustment(conn, ITEM, one, "answer", SUBS[0], 2, "partial derivation", expected_version=0, grader="TA")
    assert score(conn, SUBS[0]) == 2.0
    assert "partial derivation (+2)" in current_entry(conn, SUBS[0], ITEM)["comment"]
    out = set_adjustment(conn, ITEM, one, "answer", SUBS[0], None, "", expected_version=0, grader="TA")
    assert out.stale == [SUBS[0]] and score(conn, SUBS[0]) == 2.0  # the version moved on: refused
    set_adjustment(conn, ITEM, one, "answer", SUBS[0], None, "", expected_version=None, grader="TA")
    assert score(conn, SUBS[0]) is None


def test_deleting_and_moving_items(conn):
    one = (Q("answer", "Whole", 5.0),)
    a = add_rubric_item(conn, ITEM, "answer", 5, "Full", grader="TA")
    b = add_rubric_item(conn, ITEM, "answer", 1, "Some", grader="TA")
    move_rubric_item(conn, ITEM, b.id, -1, grader="TA")
    assert [(r.id, r.number) for r in rubric(conn, ITEM, "answer")] == [(b.id, 1), (a.id, 2)]
    set_applied(conn, ITEM, one, "answer", a.id, {SUBS[0]: None}, apply=True, grader="TA")
    edit_rubric_item(conn, ITEM, one, a.id, delete=True, grader="TA")
    assert score(conn, SUBS[0]) is None and [r.id for r in rubric(conn, ITEM)] == [b.id]
    with pytest.raises(GradebookError):
        set_applied(conn, ITEM, one, "answer", a.id, {SUBS[0]: None}, apply=True, grader="TA")


def test_a_typed_score_stands_until_a_rubric_item_is_applied(conn):
    one = (Q("answer", "Whole", 5.0),)
    record_scores(conn, [ScoreChange(SUBS[2], ITEM, 3.0, "typed")], grader="TA", source="web")
    a = add_rubric_item(conn, ITEM, "answer", 5, "Full", grader="TA")
    set_applied(conn, ITEM, one, "answer", a.id, {SUBS[0]: None}, apply=True, grader="TA")
    assert score(conn, SUBS[2]) == 3.0
    set_applied(conn, ITEM, one, "answer", a.id, {SUBS[2]: None}, apply=True, grader="TA")
    assert score(conn, SUBS[2]) == 5.0


@pytest.mark.parametrize("points", ["abc", "nan", "inf", "1e300"])
def test_unusable_points_are_refused(conn, points):
    with pytest.raises(GradebookError):
        add_rubric_item(conn, ITEM, "q1", points, "x", grader="TA")
