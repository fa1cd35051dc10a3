"""Batch grading on real kernels: resume after a killed run, unchanged regrades skipped, Dask.

Uses the tiny two-part homework of ``batch_kit`` (a notebook runs in about a second).
"""
from __future__ import annotations

import functools
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from batch_kit import BAD, GOOD, HERE, PARTS, make_plan, notebook, student_folder, student_zip
from graders import gradebook, grading_task
from graders.batch import grade_all, split_done, write_manifest
from graders.evidence import read_outputs
from graders.grading_task import Graded
from graders.refresh import rebuild
from graders.intake import scan_submissions
from graders.results import load_submission

ROOT = HERE.parent.parent


def make_class(root: Path) -> Path:
    student_folder(root, "401000001_Ali", GOOD)
    student_zip(root, "401000002_Sara", BAD)
    (root / "401000003_Mina_alpha.ipynb").write_text(notebook("alpha", GOOD["alpha"]))
    (root / "401000003_Mina_beta.ipynb").write_text(notebook("beta", BAD["beta"]))
    return root


def grade_batch(root: Path, out: Path, *, jobs: int = 1, force: bool = False) -> list[Graded]:
    plan = make_plan()
    intake = scan_submissions([root], plan.parts, unpack_to=out / ".unpacked")
    events = list(grade_all(intake.submissions, plan, out, jobs=jobs, force=force,
                            plan_factory=functools.partial(make_plan)))
    write_manifest(out, intake)
    rebuild(out, rubric_path=HERE / "fixtures" / "rubric_small.yaml")
    return events


RUNNER = """
import sys
from pathlib import Path
sys.path[:0] = [{root!r}, {here!r}]
from batch_kit import make_plan
from graders.batch import grade_all
from graders.intake import scan_submissions
plan = make_plan()
out = Path({out!r})
subs = scan_submissions([Path({cls!r})], plan.parts, unpack_to=out / ".unpacked").submissions
for event in grade_all(subs, plan, out, jobs=1):
    print("done", event[0], flush=True)
"""


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the runner and everything it started (kernels run in their own sessions)."""
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kids = []
    proc.kill()
    proc.wait(timeout=30)
    for k in kids:
        try:
            k.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(kids, timeout=30)


def test_resume_after_a_killed_run_gives_an_identical_gradebook(tmp_path):
    cls = make_class(tmp_path / "class")
    # the run that is never interrupted (two workers)
    full = grade_batch(cls, tmp_path / "full", jobs=2)
    assert sorted((e[0], e[1].total) for e in full) == [("401000001_Ali", 90.0), ("401000002_Sara", 0.0),
                                                         ("401000003_Mina", 30.0)]
    # the run that is killed after its first submission is recorded
    out = tmp_path / "killed"
    code = RUNNER.format(root=str(ROOT), here=str(HERE), out=str(out), cls=str(cls))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("done "), first
    finally:
        _kill_tree(proc)
    recorded = sorted(p.parent.name for p in out.glob("*/result.json"))
    assert 1 <= len(recorded) < 3, recorded
    assert not list(out.glob("*/.result.json.*.tmp"))  # nothing half-written
    stamps = {s: load_submission(out / s / "result.json").created_at for s in recorded}
    # the rerun grades only what is missing
    events = grade_batch(cls, out)
    assert sorted(e[0] for e in events if e.skipped) == recorded
    assert all(load_submission(out / s / "result.json").created_at == stamps[s] for s in recorded)
    assert gradebook.dump(out) == gradebook.dump(tmp_path / "full")
    assert (out / "grades.csv").read_text() == (tmp_path / "full" / "grades.csv").read_text()
    assert (out / "items.csv").read_text() == (tmp_path / "full" / "items.csv").read_text()

    # unchanged class: everything skipped, nothing executed
    again = grade_batch(cls, out)
    assert all(e.skipped for e in again) and len(again) == 3
    # one changed notebook: only that submission is regraded
    (cls / "401000003_Mina_beta.ipynb").write_text(notebook("beta", GOOD["beta"]))
    changed = grade_batch(cls, out)
    assert sorted(e[0] for e in changed if not e.skipped) == ["401000003_Mina"]
    assert {e[0]: e[1].total for e in changed}["401000003_Mina"] == 90.0
    # --force regrades everything; a different plan (rubric, code, seed) does too
    plan = make_plan()
    subs = scan_submissions([cls], plan.parts, unpack_to=out / ".unpacked").submissions
    assert len(split_done(subs, plan, out, force=True)[0]) == 3
    assert len(split_done(subs, make_plan(salt="new grader"), out)[0]) == 3
    assert len(split_done(subs, plan, out)[0]) == 0


def test_a_new_intake_note_regrades_the_submission(tmp_path):
    plan = make_plan(("alpha",))
    folder = student_folder(tmp_path / "class", "401000005_Neda", {"alpha": GOOD["alpha"]})
    subs = scan_submissions([tmp_path / "class"], plan.parts).submissions
    list(grade_all(subs, plan, tmp_path / "out"))
    assert split_done(subs, plan, tmp_path / "out")[0] == []
    (folder / "stray.ipynb").write_text(notebook("alpha", "x = 1", meta=False))
    subs = scan_submissions([tmp_path / "class"], plan.parts).submissions
    assert [s.id for s in split_done(subs, plan, tmp_path / "out")[0]] == ["401000005_Neda"]


def test_tasks_and_results_survive_pickling_for_remote_workers(tmp_path):
    plan = make_plan()
    sub = scan_submissions([make_class(tmp_path / "class")], plan.parts, unpack_to=tmp_path / "u").submissions[0]
    factory = functools.partial(make_plan, ("alpha", "beta"))
    sub2, factory2 = pickle.loads(pickle.dumps((sub, factory)))
    assert sub2 == sub and factory2().fingerprint == plan.fingerprint
    g = pickle.loads(pickle.dumps(Graded("x", None, "err", skipped=True)))
    assert tuple(g) == ("x", None, "err") and g.skipped


def test_dask_local_cluster_grades_the_same_as_the_local_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    plan = make_plan(("beta",))
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", {"beta": GOOD["beta"]})
    student_folder(root, "401000002_Sara", {"beta": "print('from a Dask worker')\n" + BAD["beta"]})
    subs = scan_submissions([root], plan.parts).submissions
    factory = functools.partial(make_plan, ("beta",))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        events = list(grade_all(subs, plan, tmp_path / "out", scheduler=cluster, plan_factory=factory))
        assert sorted((e[0], e[1].total, e.skipped) for e in events) == [("401000001_Ali", 60.0, False),
                                                                         ("401000002_Sara", 0.0, False)]
        # the worker wrote the cells' outputs beside the result (they never travel back with it)
        assert read_outputs(tmp_path / "out" / "401000002_Sara") == {
            "beta": {1: [{"kind": "text", "text": "from a Dask worker\n"}]}}
        # results written by the workers are resumed like any others
        again = list(grade_all(subs, plan, tmp_path / "out", scheduler=cluster, plan_factory=factory))
        assert all(e.skipped for e in again)
        # a worker whose plan differs from the client's refuses to grade
        grading_task._WORKER_PLANS.clear()  # (this in-process worker shares the module's cache)
        wrong = functools.partial(make_plan, ("beta",), "other grader")
        bad = list(grade_all(subs, plan, tmp_path / "out2", scheduler=cluster, plan_factory=wrong))
        assert all(e[1] is None and "built a different plan than the client" in e[2] for e in bad)
    with pytest.raises(ValueError, match="plan_factory"):
        list(grade_all(subs, plan, tmp_path / "out3", scheduler="tcp://127.0.0.1:1"))


def test_grade_class_grades_records_and_reports_as_plain_data(tmp_path):
    from graders.batch import ClassReport, grade_class

    root, out = make_class(tmp_path / "class"), tmp_path / "out"
    plan = make_plan()
    intake = scan_submissions([root], plan.parts, unpack_to=out / ".unpacked")
    seen = []
    report = grade_class(intake, plan, out, rubric_path=HERE / "fixtures" / "rubric_small.yaml", on_graded=seen.append)
    assert isinstance(report, ClassReport)
    assert [r.submission_id for r in report.results] == sorted(s.id for s in intake.submissions)
    assert (report.graded, report.skipped, report.incomplete, report.failures) == (3, 0, [], [])
    assert sorted(e[0] for e in seen) == sorted(s.id for s in intake.submissions)
    assert report.manifest == out / "intake.json" and report.manifest.is_file()
    assert [p.name for p in report.gradebook_files] == [gradebook.DB_NAME, "grades.csv", "items.csv"]
    assert all(p.is_file() for p in report.gradebook_files) and not report.gradebook_error
    again = grade_class(intake, plan, out, rubric_path=HERE / "fixtures" / "rubric_small.yaml")
    assert (again.graded, again.skipped) == (0, 3)
    assert [r.total for r in again.results] == [r.total for r in report.results]
