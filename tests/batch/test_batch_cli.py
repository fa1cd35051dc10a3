"""The TA workflow through the CLI: grade (resume), gradebook export, manual export/import, report."""
from __future__ import annotations

import csv

from click.testing import CliRunner

import graders.cli as cli
from batch_kit import BAD, GOOD, cli_plan, student_folder, student_zip, write_fake_batch


def run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)


def test_grade_resumes_and_writes_the_gradebook(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "prepare", cli_plan(("beta",)))
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", {"beta": GOOD["beta"]})
    student_zip(root, "401000002_Sara", {"beta": BAD["beta"]})
    (root / "notes.txt").write_text("hi")
    out = tmp_path / "out"
    first = run("grade", root, "--out", out)
    assert first.exit_code == 0, first.output
    assert "intake: notes.txt: not a .zip, a folder or a notebook; not graded" in first.output
    assert "2 graded, 0 unchanged since the last run (kept), 0 with grader errors (not final)" in first.output
    assert "401000001_Ali: 60/65" in first.output and "s elapsed" in first.output  # one line each, with an ETA
    rows = {r["student_id"]: r for r in csv.DictReader(open(out / "grades.csv"))}
    assert (rows["401000001"]["beta"], rows["401000002"]["beta"]) == ("60", "0")
    second = run("grade", root, "--out", out)
    assert "0 graded, 2 unchanged since the last run (kept)" in second.output
    forced = run("grade", root, "--out", out, "--force")
    assert "2 graded, 0 unchanged" in forced.output


def test_gradebook_manual_and_report_commands(tmp_path):
    out = write_fake_batch(tmp_path / "out", {"401000001_Ali": {"t.double", "t.zero", "p1.triple"},
                                              "401000002_Sara": {"t.zero"}}, notebooks_root=tmp_path / "nbs")
    times = tmp_path / "times.csv"
    times.write_text("student_id,submitted_at\n401000002,1402-10-22 10:00\n")
    r = run("gradebook", "export", out, "--times", times)
    assert r.exit_code == 0 and "2 submission(s)" in r.output
    r = run("manual", "export", out)
    assert r.exit_code == 0 and "alpha.written.csv" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("student_id,item_id,score\n401000001,alpha.written,9\n")
    r = run("manual", "import", out, bad)
    assert r.exit_code != 0
    assert "bad.csv line 2: score 9 for alpha.written is outside [0, 5]" in r.output
    assert "Traceback" not in r.output
    good = tmp_path / "good.csv"
    good.write_text("student_id,item_id,score\n401000001,alpha.written,5\n")
    r = run("manual", "import", out, good, "--grader", "TA1")
    assert r.exit_code == 0 and "recorded 1 score(s)" in r.output
    rows = {r["student_id"]: r for r in csv.DictReader(open(out / "grades.csv"))}
    assert rows["401000001"]["total"] == "95"
    # Sara: 7 days late (22 Dey): 5 free, 2 charged at 10 % each
    assert (rows["401000002"]["late_days"], rows["401000002"]["penalty_percent"]) == ("7", "20")
    r = run("report", out)
    assert r.exit_code == 0 and (out / "report" / "index.html").is_file()
    assert (out / "report" / "hist_alpha.png").is_file()


def test_commands_on_an_empty_folder_say_what_to_do(tmp_path):
    for args in (("manual", "export", tmp_path), ("report", tmp_path)):
        r = run(*args)
        assert r.exit_code != 0 and "grade first" in r.output, r.output
