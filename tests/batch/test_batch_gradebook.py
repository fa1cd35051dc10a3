"""The gradebook as a view of results: exports, the manual/override rule, import validation, late days."""
from __future__ import annotations

import csv
import json
import sqlite3

import pytest

from batch_kit import write_fake_batch
from graders import gradebook
from graders.gradebook import GradebookError
from graders.refresh import rebuild
from graders.manual.sheets import export_manual, import_manual

ALL = {"t.double", "t.zero", "p1.triple"}


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def batch(tmp_path):
    out = write_fake_batch(tmp_path / "out", {
        "401000001_Ali": ALL,                           # 95 auto
        "401000002_Sara": {"t.double"},                 # 20 auto
        "401000003_Mina": {"t.zero", "p1.triple"},      # 70 auto
    }, file_times={"401000003_Mina": "2024-01-07T10:00:00+00:00"}, notebooks_root=tmp_path / "nbs")
    rebuild(out)
    return out


def grades(out):
    return {r["student_id"]: r for r in read_csv(out / "grades.csv")}


def test_grades_csv_has_one_row_per_student_with_parts_total_late_days_and_final(batch):
    rows = grades(batch)
    assert list(read_csv(batch / "grades.csv")[0])[:8] == ["student_id", "name", "submission_id", "status", "alpha",
                                                          "beta", "total", "max"]
    assert rows["401000001"]["status"] == "written answers pending"
    # no platform times given: late days unknown, nothing charged, final = total
    assert {k: rows["401000001"][k] for k in ("alpha", "beta", "total", "manual_pending", "late_days",
                                               "free_late_days_used", "charged_late_days", "penalty_percent",
                                               "final")} == \
        {"alpha": "30", "beta": "60", "total": "90", "manual_pending": "10", "late_days": "", "free_late_days_used": "",
         "charged_late_days": "", "penalty_percent": "0", "final": "90"}
    assert rows["401000002"]["total"] == "20"
    # Mina's file time (2024-01-07 13:30 Tehran, 2 days after the deadline) is not a trusted time: not charged
    assert (rows["401000003"]["late_days"], rows["401000003"]["penalty_percent"], rows["401000003"]["final"]) == \
        ("", "0", "70")
    items = read_csv(batch / "items.csv")
    assert len(items) == 3 * 4
    assert {(i["item_id"], i["status"]) for i in items if i["student_id"] == "401000002"} == {
        ("alpha.auto", "partial"), ("alpha.written", "manual-pending"), ("beta.auto", "failed"),
        ("beta.written", "manual-pending")}


def test_tables_hold_students_submissions_items_checks(batch):
    conn = sqlite3.connect(batch / "gradebook.sqlite")
    count = lambda t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: E731
    assert (count("students"), count("submissions"), count("items"), count("checks"), count("late_days")) == \
        (3, 3, 12, 9, 3)
    assert conn.execute("SELECT reason FROM checks WHERE submission_id='401000002_Sara' AND check_id='p1.triple'"
                        ).fetchone()[0] == "expected 6, got 5"


def test_manual_scores_fill_the_pending_items_and_survive_a_rebuild(batch, tmp_path):
    sheet = tmp_path / "scores.csv"
    sheet.write_text("student_id,item_id,score,comment\n401000001,alpha.written,4.5,good\n"
                     "401000001,beta.written,5,\n401000002,alpha.written,,\n")
    s = import_manual(batch, sheet)
    assert (s.recorded, s.blank, s.overrides) == (2, 1, 0)
    row = grades(batch)["401000001"]
    assert (row["alpha"], row["total"], row["manual_pending"], row["final"]) == ("34.5", "99.5", "0", "99.5")
    rebuild(batch)  # a regrade rebuilds everything from results: the manual scores stay
    assert grades(batch)["401000001"]["total"] == "99.5"
    saved = json.loads((batch / "manual_scores.json").read_text())
    assert {(r["item_id"], r["score"], r["kind"]) for r in saved} == {("alpha.written", 4.5, "manual"),
                                                                      ("beta.written", 5.0, "manual")}


def test_automatic_items_change_only_by_an_explicit_override_with_a_reason(batch, tmp_path):
    sheet = tmp_path / "o.csv"
    sheet.write_text("submission_id,item_id,score\n401000002_Sara,beta.auto,60\n")
    with pytest.raises(GradebookError, match="beta.auto is graded automatically; to override it, give an "
                                             "override_reason"):
        import_manual(batch, sheet)
    sheet.write_text("submission_id,item_id,score,override_reason\n401000002_Sara,beta.auto,60,"
                     "regrade request: the check's tolerance was too tight\n")
    assert import_manual(batch, sheet).overrides == 1
    assert grades(batch)["401000002"]["total"] == "80"
    item = [i for i in read_csv(batch / "items.csv") if i["student_id"] == "401000002" and i["item_id"] == "beta.auto"]
    assert item[0]["status"] == "override" and "tolerance" in item[0]["reason"]


def test_import_validation_lists_every_bad_line_and_writes_nothing(batch, tmp_path):
    before = gradebook.dump(batch)
    grades_before = (batch / "grades.csv").read_text()
    sheet = tmp_path / "bad.csv"
    sheet.write_text("student_id,item_id,score\n"
                     "401000001,alpha.written,4\n"      # fine, but the file has errors: not recorded
                     "999999999,alpha.written,4\n"      # unknown student
                     "401000001,alpha.essay,4\n"        # unknown item
                     "401000001,beta.written,6\n"       # above max
                     "401000002,beta.written,-1\n"      # below 0
                     "401000002,alpha.written,abc\n"    # not a number
                     "401000003,alpha.written,nan\n"    # not a number either
                     "401000001,alpha.written,3\n")     # duplicate
    with pytest.raises(GradebookError) as err:
        import_manual(batch, sheet)
    msg = str(err.value)
    assert msg.startswith("7 problem(s) in bad.csv; nothing was recorded:")
    for expected in ["bad.csv line 3: unknown student '999999999'",
                     "bad.csv line 4: unknown item 'alpha.essay'",
                     "bad.csv line 5: score 6 for beta.written is outside [0, 5]",
                     "bad.csv line 6: score -1 for beta.written is outside [0, 5]",
                     "bad.csv line 7: score 'abc' is not a number",
                     "bad.csv line 8: score nan for alpha.written is outside [0, 5]",
                     "bad.csv line 9: 401000001_Ali / alpha.written already given on line 2"]:
        assert expected in msg
    assert gradebook.dump(batch) == before
    assert (batch / "grades.csv").read_text() == grades_before


def test_import_needs_the_right_columns(batch, tmp_path):
    sheet = tmp_path / "cols.csv"
    sheet.write_text("who,what,points\n1,2,3\n")
    with pytest.raises(GradebookError, match="needs the columns submission_id \\(or student_id\\), item_id and score"):
        import_manual(batch, sheet)


def test_manual_export_has_each_students_answer_text_and_round_trips(batch):
    written = export_manual(batch)
    assert sorted(p.name for p in written) == ["alpha.written.csv", "alpha.written.html", "beta.written.csv",
                                              "beta.written.html"]
    rows = read_csv(batch / "manual" / "alpha.written.csv")
    assert [(r["submission_id"], r["answer"], r["score"]) for r in rows] == [
        ("401000001_Ali", "Answer of 401000001_Ali.", ""), ("401000002_Sara", "Answer of 401000002_Sara.", ""),
        ("401000003_Mina", "Answer of 401000003_Mina.", "")]
    # the TA fills in the sheet and imports it as is
    for r, score in zip(rows, ["5", "2.5", ""]):
        r["score"] = score
    with open(batch / "manual" / "alpha.written.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert import_manual(batch, batch / "manual" / "alpha.written.csv").recorded == 2
    assert grades(batch)["401000002"]["alpha"] == "22.5"
    again = read_csv(next(p for p in export_manual(batch) if p.name == "alpha.written.csv"))  # now pre-filled
    assert [r["score"] for r in again] == ["5", "2.5", ""]


def test_late_days_from_platform_times_and_the_term_ledger(batch, tmp_path):
    times = tmp_path / "times.csv"
    times.write_text("student_id,submitted_at\n401000001,1402-10-15 23:59\n401000002,1402-10-18 09:00\n"
                     "401000003,2024-01-12 08:00\n")
    used = tmp_path / "used.csv"
    used.write_text("student_id,days_used\n401000002,4\n401000003,0\n")
    rebuild(batch, times_csv=times, days_used_csv=used)
    rows = grades(batch)
    # Ali: on time. Sara: 3 days late, 1 free day left → 2 charged → 20 %. Mina: 7 days late → 2 charged.
    assert [(rows[s]["late_days"], rows[s]["free_late_days_used"], rows[s]["charged_late_days"],
             rows[s]["penalty_percent"], rows[s]["final"]) for s in ("401000001", "401000002", "401000003")] == [
        ("0", "0", "0", "0", "90"), ("3", "1", "2", "20", "16"), ("7", "5", "2", "20", "56")]
    rebuild(batch)  # the times and the ledger are remembered
    assert grades(batch)["401000002"]["final"] == "16"


def test_answer_text_includes_cells_the_student_added_but_not_the_assignments_prose(tmp_path):
    import nbformat

    from graders.manual.cells import answers_for

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("**Your answer (Q1).**"),
                nbformat.v4.new_markdown_cell("First part.", metadata={"hw4": {"answer": "q1.written"}}),
                nbformat.v4.new_markdown_cell("A cell I added."),
                nbformat.v4.new_markdown_cell("### Question 2"),
                nbformat.v4.new_markdown_cell("Unrelated notes.")]
    path = tmp_path / "nb.ipynb"
    path.write_text(nbformat.writes(nb))
    prose = {"**Your answer (Q1).**", "### Question 2"}
    assert answers_for(path, "q1.written", prose=prose) == "First part.\n\nA cell I added."
    assert answers_for(path, "q1.written") == "First part."
    assert answers_for(path, "q2.written", prose=prose) is None
