"""The question pages for a class: server time per page and per change, for N students (default 150).

A graded HW4 class without kernels (``tests/manual_web/hw4_kit``: the real rubric, part 3 notebooks
with varied answers to question 6, kept outputs), served by the real app through Flask's test client.
Timed: the item page, a question page (first and second load: notebooks are parsed once), the
question's similarity groups, a student's page, applying a rubric item to one answer (with the
refresh of grades.csv, result.json and feedback it triggers), applying one to a group, and editing
an item carried by every answer (every score re-derived and every file refreshed).

    .venv/bin/python bench/manual_class.py [--students 150]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "manual_web"), str(ROOT / "tests")]

from hw4_kit import ANSWERS_Q6, ITEM, QUESTIONS, make_hw4_batch  # noqa: E402

from graders.gradebook import connect  # noqa: E402
from graders.manual.rubric_items import add_rubric_item, set_applied  # noqa: E402
from graders.manual.web import create_app  # noqa: E402

TOKEN = "bench-token"


def timed(label: str, fn):
    t0 = time.perf_counter()
    resp = fn()
    seconds = time.perf_counter() - t0
    assert resp.status_code in (200, 302), (label, resp.status_code)
    print(f"{label:<58} {seconds:7.3f} s")
    return resp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=150)
    args = ap.parse_args()
    variants = list(ANSWERS_Q6.values())
    answers = {f"{401000000 + n:09d}_S{n}": variants[n % len(variants)] + f" (student {n % 7})"
               for n in range(1, args.students + 1)}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = make_hw4_batch(Path(tmp), answers)
        print(f"class of {args.students} built in {time.perf_counter() - t0:.1f} s")
        app = create_app(out, grader="bench", token=TOKEN)
        c = app.test_client()
        c.get(f"/?token={TOKEN}")
        with c.session_transaction() as s:
            csrf = s["csrf"]
        first = sorted(answers)[0]
        with closing(connect(out)) as conn:  # every other question graded: a change on q6 completes the item
            for q in QUESTIONS:
                if q.id != "q6":
                    full = add_rubric_item(conn, ITEM, q.id, q.points, "Correct", grader="bench")
                    set_applied(conn, ITEM, QUESTIONS, q.id, full.id, {s: None for s in answers}, apply=True,
                                grader="bench")
            rid = add_rubric_item(conn, ITEM, "q6", 0.3, "Right", grader="bench").id
        timed("item page", lambda: c.get(f"/item/{ITEM}"))
        timed("question page, first load (parses its notebook)", lambda: c.get(f"/question?item={ITEM}&q=q6&sub={first}"))
        timed("question page, again", lambda: c.get(f"/question?item={ITEM}&q=q6&sub={first}"))
        timed("similar answers of question 6", lambda: c.get(f"/groups?item={ITEM}&q=q6"))
        timed("student page", lambda: c.get(f"/student?sub={first}"))
        timed("apply a rubric item to one answer (+ refresh)", lambda: c.post("/rubric/apply", data={
            "csrf": csrf, "item": ITEM, "q": "q6", "rubric_id": rid, "versions": json.dumps({first: 0})}))
        group = {s: 0 for s in sorted(answers)[1:41]}
        timed(f"apply it to a group of {len(group)} (+ refresh)", lambda: c.post("/rubric/apply", data={
            "csrf": csrf, "item": ITEM, "q": "q6", "rubric_id": rid, "versions": json.dumps(group), "mode": "apply"}))
        timed("edit it: every carrier re-scored (+ refresh)", lambda: c.post("/rubric/edit", data={
            "csrf": csrf, "item": ITEM, "q": "q6", "rubric_id": rid, "points": "0.25", "text": "Right"}))
        with closing(connect(out)) as conn:
            scored = conn.execute("SELECT COUNT(*) FROM manual_scores WHERE item_id = ? AND score = 2.95",
                                  (ITEM,)).fetchone()[0]
        print(f"answers whose score the edit changed to 2.95: {scored} (expected {1 + len(group)})")


if __name__ == "__main__":
    main()
