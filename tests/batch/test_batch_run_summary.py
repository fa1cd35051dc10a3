"""What a run tells the TA on the terminal: submissions with nothing to grade."""
from __future__ import annotations

import csv

from click.testing import CliRunner

import graders.cli as cli
from batch_kit import GOOD, cli_plan, notebook, student_folder


def run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)


def test_the_run_summary_names_each_submission_with_no_notebook_of_the_homework(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "prepare", cli_plan())
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", GOOD)
    empty = root / "401000002_Sara"
    empty.mkdir()
    (empty / "report.pdf").write_bytes(b"%PDF-1.4")
    other = root / "401000003_Mina"
    other.mkdir()  # another course's notebook: no hw4 metadata, no part's name, none of its functions
    (other / "hw3_rnn.ipynb").write_text(notebook("rnn", "def forward(x):\n    return x", meta=False))
    out = tmp_path / "out"

    r = run("grade", root, "--out", out)
    assert r.exit_code == 0, r.output
    summary = r.output[r.output.index("graded, 0 unchanged"):]  # after the progress lines: the run's summary
    assert ("2 submission(s) with no notebook of this homework, scored 0:\n"
            "  401000002_Sara: no notebook in it\n"
            "  401000003_Mina: hw3_rnn.ipynb: not recognised as any part of the homework (ignored)\n") in summary
    assert "401000001_Ali:" not in summary
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        totals = {row["student_id"]: row["total"] for row in csv.DictReader(fh)}
    assert totals == {"401000001": "90", "401000002": "0", "401000003": "0"}


def test_a_class_with_a_notebook_for_every_student_has_no_such_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "prepare", cli_plan())
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", GOOD)
    student_folder(root, "401000002_Sara", {"alpha": GOOD["alpha"]})  # a part missing is a note, not "nothing"
    r = run("grade", root, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "no notebook of this homework" not in r.output
