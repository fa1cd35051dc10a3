"""Late days only from a trusted submission time: a class whose files are dated today is charged nothing.

A fresh clone, a copy or a download dates every file to that day; a zip's member times come from the
student's machine. Neither is a submission time: without the platform's CSV (``--times``) the late
days are unknown, the penalty 0 and final = total, the run and the report say so once, and each
student's feedback shows the final score the gradebook holds.
"""
from __future__ import annotations

import csv
import datetime as dt
import zipfile

import pytest
from click.testing import CliRunner

import graders.cli as cli
from batch_kit import GOOD, PARTS, cli_plan, fake_result, notebook, student_folder
from graders.latedays import Standing
from graders.report.feedback import to_markdown

NO_TIMES = ("2 submission(s) have no trusted submission time (no --times CSV from the course platform; give one "
            "with: hw4 gradebook export DIR --times FILE): no late penalty applied")


def run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)


def grades(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {r["student_id"]: r for r in csv.DictReader(fh)}


def late_columns(row):
    return (row["late_days"], row["free_late_days_used"], row["charged_late_days"], row["penalty_percent"],
            row["total"], row["final"])


def zip_dated(root, sub_id, date_time):
    """A student's zip whose member carries ``date_time`` (as the student's machine would write it)."""
    path = root / f"{sub_id}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo(PARTS["beta"].notebook, date_time=date_time), notebook("beta", GOOD["beta"]))
    return path


def test_a_class_dated_today_is_charged_nothing_until_the_platform_times_come(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "prepare", cli_plan(("beta",)))
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", {"beta": GOOD["beta"]})
    zip_dated(root, "401000002_Sara", (2024, 1, 20, 10, 0, 0))  # member dated 15 days after the deadline
    today = dt.datetime.now().timestamp() - 3600
    assert all(p.stat().st_mtime > today for p in root.rglob("*"))  # the premise: files dated today, as in a clone
    out = tmp_path / "out"

    graded = run("grade", root, "--out", out)
    assert graded.exit_code == 0, graded.output
    assert graded.output.count(NO_TIMES) == 1
    rows = grades(out)
    assert late_columns(rows["401000001"]) == ("", "", "", "0", "60", "60")
    assert late_columns(rows["401000002"]) == ("", "", "", "0", "60", "60")  # the zip's member time is not charged
    for sub in ("401000001_Ali", "401000002_Sara"):
        md = (out / sub / "feedback.md").read_text(encoding="utf-8")
        assert "**Final score so far: 60 / 65** — no submission time known: no late penalty" in md
        assert ("<p class='final'><b>Final score so far: 60 / 65</b> — no submission time known: no late penalty</p>"
                in (out / sub / "feedback.html").read_text(encoding="utf-8"))

    reported = run("report", out)
    assert reported.exit_code == 0, reported.output
    assert reported.output.count(NO_TIMES) == 1
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert page.count(NO_TIMES) == 1
    assert "mean after late penalties 60." in page and "No submission with a known submission time was late." in page

    # the platform's export for Sara only: she is charged, Ali still is not, and her feedback shows the new final
    times = tmp_path / "times.csv"
    times.write_text("student_id,submitted_at\n401000002,1402-10-22 10:00\n")
    exported = run("gradebook", "export", out, "--times", times)
    assert exported.exit_code == 0, exported.output
    assert exported.output.count("1 submission(s) have no trusted submission time (not in the --times CSV): "
                                 "no late penalty applied") == 1
    rows = grades(out)
    assert late_columns(rows["401000001"]) == ("", "", "", "0", "60", "60")
    assert late_columns(rows["401000002"]) == ("7", "5", "2", "20", "60", "48")
    sara = out / "401000002_Sara"
    assert "**Final score so far: 48 / 65** — 7 late days (5 free, 2 charged): 20 % late penalty" in \
        (sara / "feedback.md").read_text(encoding="utf-8")
    assert "<b>Final score so far: 48 / 65</b> — 7 late days (5 free, 2 charged): 20 % late penalty" in \
        (sara / "feedback.html").read_text(encoding="utf-8")

    # a rerun keeps the platform's times; a TA's score moves the final in grades.csv and the feedback alike
    again = run("grade", root, "--out", out)
    assert "0 graded, 2 unchanged" in again.output and NO_TIMES not in again.output
    assert grades(out)["401000002"]["final"] == "48"
    sheet = tmp_path / "scores.csv"
    sheet.write_text("student_id,item_id,score\n401000002,beta.written,5\n")
    assert run("manual", "import", out, sheet, "--grader", "TA1").exit_code == 0
    assert late_columns(grades(out)["401000002"]) == ("7", "5", "2", "20", "65", "52")
    assert "**Final score: 52 / 65** — 7 late days (5 free, 2 charged): 20 % late penalty" in \
        (sara / "feedback.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("standing, line", [
    (Standing(90, 100, 0, 0, 0, 0.0), "**Final score so far: 90 / 100** — 0 late days: no late penalty"),
    (Standing(90, 100, 1, 1, 0, 0.0), "**Final score so far: 90 / 100** — 1 late day (1 free): no late penalty"),
    (Standing(72, 100, 7, 5, 2, 20.0),
     "**Final score so far: 72 / 100** — 7 late days (5 free, 2 charged): 20 % late penalty"),
    (Standing(90, 100, None, None, None, 0.0),
     "**Final score so far: 90 / 100** — no submission time known: no late penalty"),
    (Standing(90, 100, 0, 0, 0, 0.0, policy=False), "**Final score so far: 90 / 100** — no late policy"),
])
def test_the_feedback_states_the_final_score_and_its_late_days(standing, line):
    result = fake_result("401000001_Ali", {"t.double", "t.zero", "p1.triple"})  # 90, written answers pending
    assert line in to_markdown(result, standing).splitlines()
    assert "Final score" not in to_markdown(result)  # before the gradebook holds a final, none is shown
