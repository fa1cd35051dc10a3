"""The question pages over HTTP (Flask's client): rubric forms, stale changes, groups, anonymity, regrade
requests, and the rubric sheets through ``hw4 manual export`` / ``import`` — on HW4's part 3."""
from __future__ import annotations

import csv
import json
import re
from contextlib import closing

from click.testing import CliRunner

from conftest import LocalClient, login
from graders.cli import main
from graders.gradebook import connect
from graders.manual.ledger import current_entry
from graders.manual.rubric_items import add_rubric_item, question_grades, set_applied
from graders.manual.web import create_app
from hw4_kit import ALI, ANSWERS_Q6, ITEM, MINA, OMID, QUESTIONS, SARA


def client_for(out, **kw):
    app = create_app(out, grader="TA One", token="test-token-123", port=5005, **kw)
    app.test_client_class = LocalClient
    c = app.test_client()
    c.csrf = login(c)
    return c


def post(client, path, **form):
    return client.post(path, data={"csrf": client.csrf, **form})


def test_the_question_page_shows_one_question_its_prompt_and_reference(hw4):
    c = client_for(hw4)
    page = c.get(f"/question?item={ITEM}&q=q6&sub={ALI}").get_data(as_text=True)
    assert "Which model wins" in page and "Question 6." in page and "Question 7." not in page
    assert ANSWERS_Q6[ALI].split(":")[0] in page
    assert "The encoder reads the whole English sentence" not in page  # question 7's reference is not here
    assert c.get(f"/question?item={ITEM}&q=q99&sub={ALI}").status_code == 404
    assert c.get(f"/question?item={ITEM}&q=q6&sub=nobody").status_code == 404


def test_a_stale_toggle_is_refused_over_http(hw4):
    c = client_for(hw4)
    with closing(connect(hw4)) as conn:
        r = add_rubric_item(conn, ITEM, "q6", 0.3, "Right", grader="TA One")
    page = c.get(f"/question?item={ITEM}&q=q6&sub={ALI}").get_data(as_text=True)
    versions = re.search(r'name="versions" value="([^"]+)"', page).group(1).replace("&#34;", '"')
    with closing(connect(hw4)) as conn:  # another TA, meanwhile
        set_applied(conn, ITEM, QUESTIONS, "q6", r.id, {ALI: None}, apply=True, grader="TA Two")
    resp = post(c, "/rubric/apply", item=ITEM, q="q6", rubric_id=str(r.id), versions=versions,
                back=f"/question?item={ITEM}&q=q6&sub={ALI}")
    assert resp.status_code == 302
    page = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert "yours was not applied" in page
    with closing(connect(hw4)) as conn:
        assert question_grades(conn, ITEM, QUESTIONS, [ALI])[ALI]["q6"].applied == (r.id,)  # TA Two's stands


def test_bad_forms_are_refused_and_change_nothing(hw4):
    c = client_for(hw4)
    assert post(c, "/rubric/apply", item=ITEM, q="q6", rubric_id="x", versions="{}").status_code == 400
    assert post(c, "/rubric/apply", item=ITEM, q="q6", rubric_id="1", versions='{"nobody": 0}').status_code == 400
    resp = post(c, "/rubric/add", item=ITEM, q="q6", points="lots", text="x")
    assert "Not added" in c.get(resp.headers["Location"]).get_data(as_text=True)
    assert post(c, "/rubric/add", item=ITEM, q="q99", points="1", text="x").status_code == 404
    assert c.post("/rubric/add", data={"item": ITEM, "q": "q6", "points": "1", "text": "x"}).status_code == 403  # no CSRF
    with closing(connect(hw4)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM rubric_items").fetchone()[0] == 0


def test_groups_split_and_merge_over_http(hw4):
    c = client_for(hw4)
    page = c.get(f"/groups?item={ITEM}&q=q6").get_data(as_text=True)
    first = page.split('id="group-1"')[1].split('id="group-2"')[0]
    assert all(s in first for s in (ALI, SARA, MINA)) and OMID not in first
    post(c, "/groups/split", item=ITEM, q="q6", sub=MINA, back=f"/groups?item={ITEM}&q=q6")
    first = c.get(f"/groups?item={ITEM}&q=q6").get_data(as_text=True).split('id="group-1"')[1].split('id="group-2"')[0]
    assert MINA not in first and ALI in first
    post(c, "/groups/merge", item=ITEM, q="q6", group=[json.dumps([ALI, SARA]), json.dumps([OMID])])
    page = c.get(f"/groups?item={ITEM}&q=q6").get_data(as_text=True)
    merged = page.split('id="group-1"')[1].split('id="group-2"')[0]
    assert all(s in merged for s in (ALI, SARA, OMID)) and "grouped by hand" in merged
    for odd in ("nonsense", "nan", "inf", "-3"):
        assert c.get(f"/groups?item={ITEM}&q=q6&threshold={odd}").status_code == 200


def test_a_group_applies_only_to_its_ticked_members(hw4):
    c = client_for(hw4)
    with closing(connect(hw4)) as conn:
        r = add_rubric_item(conn, ITEM, "q6", 0.3, "Right", grader="TA One")
    versions = json.dumps({ALI: 0, SARA: 0, MINA: 0})
    post(c, "/rubric/apply", item=ITEM, q="q6", rubric_id=str(r.id), versions=versions, mode="apply", group="1",
         member=[ALI, MINA])
    resp = post(c, "/rubric/apply", item=ITEM, q="q6", rubric_id=str(r.id), versions=versions, mode="apply",
                group="1")
    assert "Tick at least one" in c.get(resp.headers["Location"]).get_data(as_text=True)
    with closing(connect(hw4)) as conn:
        g = question_grades(conn, ITEM, QUESTIONS, [ALI, SARA, MINA])
    assert {s for s in (ALI, SARA, MINA) if g[s]["q6"].applied} == {ALI, MINA}


def test_anonymous_pages_never_name_the_student(hw4):
    c = client_for(hw4, anonymous=True)
    pages = [c.get("/").get_data(as_text=True), c.get(f"/item/{ITEM}").get_data(as_text=True),
             c.get(f"/groups?item={ITEM}&q=q6").get_data(as_text=True)]
    alias = re.search(r"Answer (A-[0-9a-f]{8})", pages[1]).group(1)
    pages.append(c.get(f"/question?item={ITEM}&q=q6&sub={alias}").get_data(as_text=True))
    pages.append(c.get(f"/student?sub={alias}").get_data(as_text=True))
    for page in pages:
        visible = re.sub(r'<input[^>]*type="(hidden|checkbox)"[^>]*>|value=\'[^\']*\'', "", page)
        for sub in ANSWERS_Q6:
            name = sub.split("_")[1]
            assert name not in visible and sub.split("_")[0] not in visible
    assert "Answer A-" in pages[3]
    assert client_for(hw4, anonymous=True).get(f"/item/{ITEM}").get_data(as_text=True).count(alias) >= 1  # stable


def test_a_regrade_request_is_recorded_answered_and_keeps_the_score_change(hw4):
    c = client_for(hw4)
    with closing(connect(hw4)) as conn:
        for q in QUESTIONS:
            r = add_rubric_item(conn, ITEM, q.id, q.points if q.id != "q6" else 0.1, "Graded", grader="TA One")
            set_applied(conn, ITEM, QUESTIONS, q.id, r.id, {OMID: None}, apply=True, grader="TA One")
        assert current_entry(conn, OMID, ITEM)["score"] == 2.8
    post(c, "/regrade/request", item=ITEM, sub=OMID, q="q6", text="My BLEU numbers were right.")
    assert "My BLEU numbers were right." in c.get("/").get_data(as_text=True)  # open requests on the progress page
    with closing(connect(hw4)) as conn:
        rid = conn.execute("SELECT id FROM rubric_items WHERE question = 'q6'").fetchone()[0]
    post(c, "/rubric/edit", item=ITEM, q="q6", rubric_id=str(rid), points="0.3", text="Graded")
    with closing(connect(hw4)) as conn:
        req = conn.execute("SELECT id FROM regrade_requests").fetchone()[0]
    post(c, "/regrade/answer", request_id=str(req), item=ITEM, text="Agreed, corrected.")
    page = c.get(f"/student?sub={OMID}").get_data(as_text=True)
    assert "Agreed, corrected." in page and "score now 3" in page and "score then 2.8" in page
    assert "My BLEU numbers were right." not in c.get("/").get_data(as_text=True)


def test_rubric_sheets_round_trip_through_the_cli(hw4):
    with closing(connect(hw4)) as conn:
        r = add_rubric_item(conn, ITEM, "q6", 0.3, "Right model", grader="TA One")
        add_rubric_item(conn, ITEM, "q6", -0.1, "No numbers", grader="TA One")
        set_applied(conn, ITEM, QUESTIONS, "q6", r.id, {ALI: None, SARA: None}, apply=True, grader="TA One")
    runner = CliRunner()
    result = runner.invoke(main, ["manual", "export", str(hw4)])
    assert result.exit_code == 0, result.output
    rubric_csv, applied_csv = hw4 / "manual" / "rubric.csv", hw4 / "manual" / "rubric_applied.csv"
    rows = list(csv.DictReader(rubric_csv.open(encoding="utf-8")))
    assert [(x["question"], x["number"], x["points"], x["text"]) for x in rows] == [
        ("q6", "1", "0.3", "Right model"), ("q6", "2", "-0.1", "No numbers")]
    applied = list(csv.DictReader(applied_csv.open(encoding="utf-8")))
    assert {(x["submission_id"], x["items"]) for x in applied} == {(ALI, "1"), (SARA, "1")}

    # edit in a spreadsheet: item 1 now 0.25; Sara gets 1 and 2; Mina gets 1
    rows[0]["points"] = "0.25"
    with rubric_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    applied = [dict(x, items="1;2") if x["submission_id"] == SARA else x for x in applied]
    applied.append(dict(applied[0], submission_id=MINA, student_id=MINA.split("_")[0], items="1"))
    with applied_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(applied[0]))
        w.writeheader()
        w.writerows(applied)
    for sheet in (rubric_csv, applied_csv):
        result = runner.invoke(main, ["manual", "import", str(hw4), str(sheet), "--grader", "TA Two"])
        assert result.exit_code == 0, result.output
    with closing(connect(hw4)) as conn:
        g = question_grades(conn, ITEM, QUESTIONS, [ALI, SARA, MINA])
    assert (g[ALI]["q6"].score, g[SARA]["q6"].score, g[MINA]["q6"].score) == (0.25, 0.15, 0.25)

    # one bad line: nothing recorded, every problem named
    applied.append(dict(applied[0], items="7"))
    applied.append(dict(applied[0], submission_id="nobody"))
    with applied_csv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(applied[0]))
        w.writeheader()
        w.writerows(applied)
    result = runner.invoke(main, ["manual", "import", str(hw4), str(applied_csv)])
    assert result.exit_code != 0
    assert "no rubric item '7'" in result.output and "unknown submission 'nobody'" in result.output
    assert "nothing was recorded" in result.output
