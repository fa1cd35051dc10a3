"""Hostile submissions in a class: the batch survives and everyone else is graded as if alone.

The non-slow test puts the nastiest cases (fork and memory bombs, output floods, forgers, dying
kernels, unreadable files) in one class with two correct students, grades it with 2 worker
processes, and compares the correct students' results with the same notebook graded alone. The
slow test does the same with the whole corpus.
"""
from __future__ import annotations

import pytest
from adv_corpus import (CASES, GOOD, GOOD_TWIN, Context, build_class, comparable, listen_port, make_plan,
                        problems, scan)

from graders import sandbox
from graders.batch import grade_all
from graders.pipeline import grade_submission

ISOLATED = sandbox.current().isolated
PLAN = make_plan()
NASTIEST = ["fork_bomb", "memory_bomb", "print_1gb", "forged_results", "os_exit", "segfault", "kill_in_check",
            "background_thread", "reads_grader_files", "fake_probe_module", "zip_bomb", "notebook_200mb",
            "reads_other_kernels", "daemon_outlives_kernel", "renames_answer_folder", "hardlinked_sparse_answers"]
BY_NAME = {c.name: c for c in CASES}


@pytest.fixture(scope="module")
def port():
    srv, number = listen_port()
    yield number
    srv.close()


def _alone(tmp_path, port):
    ctx = Context(tmp_path / "alone", tmp_path / "alone-out", port)
    build_class([GOOD], ctx.class_dir, ctx)
    (sub,) = scan(ctx.class_dir, tmp_path / "alone-unpacked").submissions
    return grade_submission(sub, PLAN, ctx.out_dir)


def _same_student(a: dict, b: dict) -> None:
    """Two correct students' results are equal up to who they are."""
    for data in (a, b):
        for key in ("submission_id", "student_id", "name", "input_hash"):
            data.pop(key, None)
    assert a == b


def _grade_class(cases, tmp_path, port, monkeypatch):
    monkeypatch.setenv("HW4_SECRET", "987654321")
    ctx = Context(tmp_path / "class", tmp_path / "out", port)
    build_class([GOOD, GOOD_TWIN, *cases], ctx.class_dir, ctx)
    subs = scan(ctx.class_dir, tmp_path / "unpacked").submissions
    assert len(subs) == len(cases) + 2
    events = list(grade_all(subs, PLAN, ctx.out_dir, jobs=2, plan_factory=make_plan))
    errors = {sid: err for sid, res, err in events if res is None}
    assert errors == {}, errors
    results = {sid: res for sid, res, _ in events}
    assert sorted(p.name for p in ctx.out_dir.iterdir()) == sorted(s.id for s in subs)
    return results, ctx


def _check_class(cases, results, ctx, tmp_path, port):
    alone = comparable(_alone(tmp_path, port))
    assert alone["total"] == 10.0
    assert comparable(results[GOOD.sub_id]) == alone
    _same_student(comparable(results[GOOD_TWIN.sub_id]), comparable(results[GOOD.sub_id]))
    wrong = {c.name: problems(c, results[c.sub_id], ISOLATED, ctx) for c in cases}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_nasty_neighbours_change_nobody_elses_result(tmp_path, port, monkeypatch):
    cases = [BY_NAME[n] for n in NASTIEST if ISOLATED or not BY_NAME[n].isolated]
    results, ctx = _grade_class(cases, tmp_path, port, monkeypatch)
    _check_class(cases, results, ctx, tmp_path, port)


@pytest.mark.slow
def test_the_whole_corpus_in_one_batch(tmp_path, port, monkeypatch):
    cases = [c for c in CASES if ISOLATED or not c.isolated]
    results, ctx = _grade_class(cases, tmp_path, port, monkeypatch)
    _check_class(cases, results, ctx, tmp_path, port)
