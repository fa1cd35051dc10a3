"""What a run tells the TA on the terminal: submissions with nothing to grade, and a --jobs it cannot use."""
from __future__ import annotations

import csv

import click
import pytest
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


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_grade_refuses_fewer_than_one_job(tmp_path, monkeypatch, jobs):
    monkeypatch.setattr(cli, "prepare", cli_plan())
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", GOOD)
    out = tmp_path / "out"
    r = run("grade", root, "--out", out, "--jobs", jobs)
    assert r.exit_code == 2
    assert f"Invalid value for '--jobs' / '-j': {jobs} is not in the range x>=1." in r.output
    assert "worker(s)" not in r.output and not out.exists()


def _commands(group, path=()):
    yield path, group
    for name, sub in getattr(group, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_command_with_jobs_needs_at_least_one():
    with_jobs = {path: p for path, cmd in _commands(cli.main) for p in cmd.params if p.name == "jobs"}
    assert ("grade",) in with_jobs
    for path, param in with_jobs.items():
        assert isinstance(param.type, click.IntRange) and param.type.min == 1 and not param.type.min_open, path
