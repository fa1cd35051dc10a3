"""The class run always ends: spawned workers, an outside deadline, grader errors never taken as grades.

Uses the tiny homework of ``batch_kit`` (notebooks run in about a second) and, for the libgomp
regression, the real Part 4 notebooks.
"""
from __future__ import annotations

import csv
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
from click.testing import CliRunner

import graders.cli as cli
from batch_kit import GOOD, GRADER_BUG, GRADER_HANG, HERE, cli_plan, marker_student, student_folder, trap_plan
from helpers import TEST_SECRET
from graders.batch import grade_all, split_done
from graders.evidence import read_outputs
from graders.intake import scan_submissions
from graders.report.classreport import write_report
from graders.results import load_submission

ROOT = HERE.parent.parent


def _class(root: Path, students: dict[str, dict[str, str]]) -> list:
    for sid, codes in students.items():
        student_folder(root, sid, codes)
    return scan_submissions([root], trap_plan().parts).submissions


def test_a_stuck_worker_is_killed_from_outside_and_its_result_is_not_a_grade(tmp_path):
    # a budget the good student cannot miss on a loaded machine (its kernel takes ~2 s quiet) and a grader
    # that hangs for an hour on the other: killed at budget + grace (30 + 30 s: limits.stop_grace)
    subs = _class(tmp_path / "class", {"401000001_Ali": GOOD, "401000002_Hung": marker_student(GRADER_HANG)})
    plan = trap_plan(budget=30.0)
    out = tmp_path / "out"
    events = {e[0]: e for e in grade_all(subs, plan, out, jobs=2, plan_factory=functools.partial(trap_plan, 30.0))}
    assert events["401000001_Ali"][1].total == 90.0 and not events["401000001_Ali"][1].incomplete
    hung = events["401000002_Hung"][1]
    assert hung is not None and hung.incomplete
    reasons = {c.reason for i in hung.items for c in i.checks}
    assert len(reasons) == 1 and reasons.pop().startswith("grading stopped after")
    assert all(c.grader_error for i in hung.items for c in i.checks)
    assert load_submission(out / "401000002_Hung" / "result.json").incomplete  # recorded, with its feedback
    assert (out / "401000002_Hung" / "feedback.md").is_file()
    # its outputs died with its worker: an empty outputs.json, no older run's; the other's was written by its worker
    assert read_outputs(out / "401000002_Hung") == {} and (out / "401000002_Hung" / "outputs.json").is_file()
    assert (out / "401000001_Ali" / "outputs.json").is_file()
    # a plain rerun (no --force) grades it again; the finished one is kept
    todo, done = split_done(subs, plan, out)
    assert [s.id for s in todo] == ["401000002_Hung"] and list(done) == ["401000001_Ali"]


def test_a_grader_error_is_never_a_grade(tmp_path, monkeypatch):
    root = tmp_path / "class"
    _class(root, {"401000001_Ali": GOOD, "401000002_Bug": marker_student(GRADER_BUG)})
    monkeypatch.setattr(cli, "prepare", functools.partial(_trap_prepare))
    out = tmp_path / "out"
    done = CliRunner().invoke(cli.main, ["grade", str(root), "--out", str(out), "--ci",
                                         "--fail-under", "0"], catch_exceptions=False)
    assert done.exit_code == 2, done.output  # a failure of the run, whatever --fail-under says
    assert "1 submission(s) with grader errors — not final; rerun to retry them" in done.output
    assert "401000002_Bug: incomplete — t.zero: the grader could not judge this answer" in done.output
    bug = load_submission(out / "401000002_Bug" / "result.json")
    assert bug.incomplete and [c.id for i in bug.items for c in i.checks if c.grader_error] == ["t.zero"]
    rows = {r["student_id"]: r for r in csv.DictReader(open(out / "grades.csv", encoding="utf-8"))}
    assert rows["401000002"]["status"].startswith("INCOMPLETE") and rows["401000002"]["total"] == ""
    assert rows["401000002"]["final"] == "" and rows["401000001"]["total"] == "90"
    page = write_report(out).read_text(encoding="utf-8")
    assert "Not final: grader errors" in page and "401000002_Bug" in page
    assert "1 submission(s). Mean total 90" in page  # the incomplete one is left out of the numbers
    # a plain rerun regrades the incomplete submission and keeps the other
    again = CliRunner().invoke(cli.main, ["grade", str(root), "--out", str(out)],
                               catch_exceptions=False)
    assert "1 graded, 1 unchanged since the last run (kept)" in again.output


def _trap_prepare(**_options):
    return trap_plan()


SIGTERM_RUNNER = """
import sys, functools
sys.path[:0] = [{root!r}, {here!r}]
import graders.cli as cli
from batch_kit import cli_plan
cli.prepare = cli_plan()
cli.main(["grade", {cls!r}, "--out", {out!r}, "--jobs", "1"])
"""


def test_sigterm_stops_a_batch_cleanly_and_a_rerun_resumes(tmp_path):
    root = tmp_path / "class"
    for n in range(6):
        student_folder(root, f"40100000{n}_S{n}", GOOD)
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}  # every kernel folder of this run lives under tmp
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_RUNNER.format(root=str(ROOT), here=str(HERE),
                                                                         cls=str(root), out=str(out))],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        for line in proc.stderr:
            if line.startswith("[1/6]"):
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=120) == 130, rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Stopped:" in rest and "rerun the same command" in rest
    kept = sorted(p.parent.name for p in out.glob("*/result.json"))
    assert 1 <= len(kept) < 6
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if str(tmp) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []  # kernels, guards and workers are all gone
    monkey = cli.prepare
    try:
        cli.prepare = cli_plan()
        again = CliRunner().invoke(cli.main, ["grade", str(root), "--out", str(out)],
                                   catch_exceptions=False)
    finally:
        cli.prepare = monkey
    assert f"{6 - len(kept)} graded, {len(kept)} unchanged since the last run (kept)" in again.output


PART4_RUNNER = """
import functools, sys
sys.path[:0] = [{root!r}]
import torch
torch.set_num_threads(2)
x = torch.randn(600, 600)
for _ in range(20):
    torch.nn.functional.layer_norm(x @ x, (600,)).sum()  # torch's thread pool now runs in this process
from graders.batch import grade_all
from graders.intake import scan_submissions
from graders.pipeline import prepare
factory = functools.partial(prepare, parts=["part4"], secret={secret!r})
plan = factory()
subs = scan_submissions([{cls!r}], plan.parts).submissions
for sid, result, error in grade_all(subs, plan, None, jobs=2, plan_factory=factory):
    print(sid, result.auto_total if result else error, flush=True)
"""


def test_a_part4_class_on_two_workers_after_torch_threads_finishes(tmp_path):
    """The regression of a libgomp deadlock: forked workers of a process that ran torch's threads hung."""
    cls = tmp_path / "class"
    for sid, source in (("401000001_Ref", "00000000_Reference"), ("401000002_Blank", "99999999_Blank")):
        (cls / sid).mkdir(parents=True)
        (cls / sid / "part4_advanced_decoding.ipynb").write_bytes(
            (ROOT / "examples" / source / "part4_advanced_decoding.ipynb").read_bytes())
    done = subprocess.run([sys.executable, "-c", PART4_RUNNER.format(root=str(ROOT), cls=str(cls), secret=TEST_SECRET)],
                          capture_output=True, text=True, timeout=1500)  # a hang detector, not a timing test
    assert done.returncode == 0, done.stderr[-3000:]
    totals = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert float(totals["401000001_Ref"]) > 0 and float(totals["401000002_Blank"]) == 0.0
