"""Closing the loop (TA scores in result.json, feedback, report; surviving a regrade) and the CSV path."""
from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

import graders.cli as cli
from batch.batch_kit import GOOD, make_plan, student_folder
from graders.gradebook import GradebookError, connect
from graders.manual.ledger import ScoreChange, record_scores
from graders.manual.sheets import export_manual, import_manual
from graders.manual.totals import apply_manual_scores, recompute_totals, with_manual_scores
from graders.pipeline import score as pipeline_score
from graders.refresh import rebuild
from graders.results import CheckResult, load_submission

ITEM = "alpha.written"


def entry(score, kind="manual", comment="", reason=""):
    return {"score": score, "kind": kind, "comment": comment, "reason": reason}


def result_of(batch, sub="401000001_Ali"):
    return load_submission(batch / sub / "result.json")


# --- folding ---------------------------------------------------------------------------------------

def test_recompute_totals_sums_as_the_pipeline_does():
    from graders.intake import Submission

    plan = make_plan()
    sub = Submission("401000009_Test", "401000009", "Test", Path("."))
    checks = {"t.double": CheckResult("t.double", True, "passed"), "t.zero": CheckResult("t.zero", False, "failed"),
              "p1.triple": CheckResult("p1.triple", True, "passed")}
    fresh = pipeline_score(sub, {}, checks, plan)
    assert fresh.total == 80 and fresh.manual_pending == 10
    assert recompute_totals(fresh) == fresh


def test_scores_and_comments_are_folded_in_and_can_be_taken_out_again(batch):
    r = result_of(batch)
    folded = with_manual_scores(r, {ITEM: entry(4, comment="Name the KL term."),
                                    "beta.auto": entry(50, "override", "partly right", "the tolerance was too tight")})
    items = {i.id: i for i in folded.items}
    assert (items[ITEM].score, items[ITEM].status, items[ITEM].comment) == (4, "manual", "Name the KL term.")
    assert (items["beta.auto"].score, items["beta.auto"].status, items["beta.auto"].auto_score,
            items["beta.auto"].auto_status) == (50, "override", 60, "passed")
    assert items["beta.auto"].comment == "the tolerance was too tight — partly right"
    assert (folded.total, folded.auto_total, folded.manual_pending) == (84, 90, 5)
    assert (folded.parts["alpha"].score, folded.parts["beta"].score) == (34, 50)
    assert with_manual_scores(folded, {ITEM: entry(4, comment="Name the KL term."),
                                       "beta.auto": entry(50, "override", "partly right",
                                                          "the tolerance was too tight")}) == folded
    assert with_manual_scores(folded, {}) == r  # cleared: back to what the checks gave


def test_a_manual_kind_entry_never_touches_an_automatic_item(batch):
    r = result_of(batch)
    assert with_manual_scores(r, {"beta.auto": entry(1, "manual")}) == r


def test_the_gradebook_reads_the_checks_verdict_from_a_folded_result(batch, tmp_path):
    sheet = tmp_path / "o.csv"
    sheet.write_text("submission_id,item_id,score,override_reason\n401000001_Ali,beta.auto,50,tight tolerance\n")
    import_manual(batch, sheet)
    assert result_of(batch).total == 80
    rebuild(batch)  # rebuilt from the folded result.json
    conn = sqlite3.connect(batch / "gradebook.sqlite")
    assert conn.execute("SELECT auto_score, status FROM items WHERE submission_id='401000001_Ali' "
                        "AND item_id='beta.auto'").fetchone() == (60, "passed")
    with connect(batch) as c:
        record_scores(c, [ScoreChange("401000001_Ali", "beta.auto", None)], grader="TA", source="test")
    apply_manual_scores(batch)
    assert result_of(batch).total == 90


def test_csv_import_updates_result_json_feedback_and_the_report(batch, tmp_path):
    from graders.report.classreport import write_report

    sheet = tmp_path / "s.csv"
    sheet.write_text("student_id,item_id,score,comment\n401000001,alpha.written,3,Half of it.\n"
                     "401000002,alpha.written,5,\n")
    import_manual(batch, sheet, grader="TA Two")
    r = result_of(batch)
    assert (r.total, r.manual_pending) == (93, 5)
    assert "Comments from the TA" in (batch / "401000001_Ali" / "feedback.md").read_text()
    assert "TA: Half of it." in (batch / "401000001_Ali" / "feedback.html").read_text()
    page = write_report(batch).read_text()
    assert "Grading progress (written answers)" in page and "2 of 12 answers graded" in page
    assert "<th>TA Two</th>" in page
    r = CliRunner().invoke(cli.main, ["report", str(batch)])
    assert r.exit_code == 0 and "Written answers: 2 of 12 graded (alpha.written 2/6, beta.written 0/6)" in r.output


def test_manual_scores_survive_a_forced_regrade(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "prepare", lambda **kw: make_plan(("beta",)))
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", {"beta": GOOD["beta"]})
    out = tmp_path / "out"
    run = lambda *a: CliRunner().invoke(cli.main, [str(x) for x in a], catch_exceptions=False)  # noqa: E731
    assert run("grade", root, "--out", out).exit_code == 0
    sheet = tmp_path / "s.csv"
    sheet.write_text("student_id,item_id,score,comment\n401000001,beta.written,4,Clear.\n")
    assert run("manual", "import", out, sheet).exit_code == 0
    assert load_submission(out / "401000001_Ali" / "result.json").total == 64
    forced = run("grade", root, "--out", out, "--force")
    assert forced.exit_code == 0 and "64/65" in forced.output
    r = load_submission(out / "401000001_Ali" / "result.json")
    item = next(i for i in r.items if i.id == "beta.written")
    assert (r.total, item.status, item.comment) == (64, "manual", "Clear.")
    again = run("grade", root, "--out", out)  # resume still sees it as up to date
    assert "0 graded, 1 unchanged" in again.output


# --- the CSV path goes through the same versions -----------------------------------------------------

def read_sheet(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_sheet(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def web_change(batch, sub, score, grader="TA Web"):
    with connect(batch) as c:
        return record_scores(c, [ScoreChange(sub, ITEM, score)], grader=grader, source="web")


def test_a_sheet_cannot_overwrite_a_score_changed_after_its_export(batch):
    web_change(batch, "401000001_Ali", 2)
    sheet = next(p for p in export_manual(batch) if p.name == f"{ITEM}.csv")
    rows = read_sheet(sheet)
    assert rows[0]["version"] == "1" and rows[1]["version"] == "0"
    web_change(batch, "401000001_Ali", 3)  # another TA, after the export
    rows[0]["score"], rows[1]["score"] = "5", "4"
    write_sheet(sheet, rows)
    with pytest.raises(GradebookError) as err:
        import_manual(batch, sheet)
    assert (f"{ITEM}.csv line 2: 401000001_Ali / {ITEM} was changed after you loaded it: TA Web set it to 3"
            in str(err.value))
    assert "nothing was recorded" in str(err.value)
    with connect(batch) as c:
        assert c.execute("SELECT COUNT(*) FROM manual_scores").fetchone()[0] == 1


def test_a_sheet_row_left_as_exported_keeps_the_newer_score(batch):
    web_change(batch, "401000001_Ali", 2)
    sheet = next(p for p in export_manual(batch) if p.name == f"{ITEM}.csv")
    rows = read_sheet(sheet)
    web_change(batch, "401000001_Ali", 3)
    rows[1]["score"] = "4"  # the TA filled in Sara, left Ali's exported 2 as it was
    write_sheet(sheet, rows)
    s = import_manual(batch, sheet, grader="TA Sheet")
    assert (s.recorded, s.unchanged) == (1, 1)
    with connect(batch) as c:
        scores = dict(c.execute("SELECT submission_id, score FROM manual_scores").fetchall())
        log = c.execute("SELECT submission_id, score, grader, source FROM manual_score_log ORDER BY id").fetchall()
    assert scores == {"401000001_Ali": 3, "401000002_Sara": 4}
    assert [tuple(x) for x in log][-1] == ("401000002_Sara", 4, "TA Sheet", f"csv {ITEM}.csv")


def test_reimporting_a_sheet_records_nothing_new(batch, tmp_path):
    sheet = tmp_path / "s.csv"
    sheet.write_text("student_id,item_id,score\n401000001,alpha.written,3\n")
    assert import_manual(batch, sheet).recorded == 1
    s = import_manual(batch, sheet)
    assert (s.recorded, s.unchanged) == (0, 1)
    with connect(batch) as c:
        assert c.execute("SELECT COUNT(*) FROM manual_score_log").fetchone()[0] == 1


def test_a_bad_version_is_reported_with_the_other_problems(batch):
    sheet = next(p for p in export_manual(batch) if p.name == f"{ITEM}.csv")
    rows = read_sheet(sheet)
    rows[0]["score"], rows[0]["version"] = "3", "x1"
    write_sheet(sheet, rows)
    with pytest.raises(GradebookError, match="line 2: version 'x1' is not a whole number"):
        import_manual(batch, sheet)


def test_override_kind_is_kept_in_the_audit_trail(batch, tmp_path):
    sheet = tmp_path / "o.csv"
    sheet.write_text("submission_id,item_id,score,override_reason\n401000002_Sara,beta.auto,30,partial credit\n")
    assert import_manual(batch, sheet, grader="TA").overrides == 1
    with connect(batch) as c:
        row = c.execute("SELECT kind, reason, previous_score FROM manual_score_log").fetchone()
    assert tuple(row) == ("override", "partial credit", None)
    r = result_of(batch, "401000002_Sara")
    item = next(i for i in r.items if i.id == "beta.auto")
    assert (item.status, item.score, item.auto_score) == ("override", 30, 60)
    assert json.loads((batch / "401000002_Sara" / "result.json").read_text())["total"] == 60

