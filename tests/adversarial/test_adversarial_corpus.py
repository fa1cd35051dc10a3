"""Every corpus case, graded through intake → execute → check → score → record, as expected.

One test per case (xdist spreads them). Each asserts the case's expected status and reason per
check, the total, what the execution summary must show, that the result on disk is the one
returned, and that nothing besides that result appeared among the results.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from adv_corpus import CASES, Context, build_class, comparable, listen_port, make_plan, problems, scan

from graders import sandbox
from graders.evidence import read_outputs
from graders.pipeline import grade_submission
from graders.results import load_submission

ISOLATED = sandbox.current().isolated
PLAN = make_plan()


@pytest.fixture(scope="module")
def port():
    srv, number = listen_port()
    yield number
    srv.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(case, tmp_path, port, monkeypatch):
    if case.isolated and not ISOLATED:
        pytest.skip("only meaningful (and only safe) inside the bubblewrap sandbox")
    monkeypatch.setenv("HW4_SECRET", "987654321")  # must not reach any kernel
    ctx = Context(tmp_path / "class", tmp_path / "out", port)
    build_class([case], ctx.class_dir, ctx)
    intake = scan(ctx.class_dir, tmp_path / "unpacked")
    subs = [s for s in intake.submissions if s.id == case.sub_id]
    assert len(subs) == 1, (intake.submissions, intake.rejected)

    result = grade_submission(subs[0], PLAN, ctx.out_dir)

    assert problems(case, result, ISOLATED, ctx) == []
    stored = load_submission(ctx.out_dir / case.sub_id / "result.json")
    assert comparable(stored) == comparable(result)
    assert sorted(p.name for p in ctx.out_dir.iterdir()) == [case.sub_id]
    assert sorted(p.name for p in (ctx.out_dir / case.sub_id).iterdir()) == ["feedback.html", "feedback.md",
                                                                               "outputs.json", "result.json"]
    outputs = read_outputs(ctx.out_dir / case.sub_id)  # whatever the case printed, read back as safe data
    assert set(outputs) <= set(result.parts) and all(o["kind"] in ("text", "image", "error")
                                                     for cells in outputs.values() for os in cells.values() for o in os)
    assert not Path("/escaped.txt").exists()


def test_corpus_is_large_enough_and_every_case_says_why():
    assert len(CASES) >= 25
    assert all(c.why and c.name.isidentifier() for c in CASES)
    # every case expects something specific: a failing check, an execution detail or an intake note
    trivial = [c.name for c in CASES if not c.expect and c.summary is None and not c.notes and c.after is None]
    assert set(trivial) <= {"background_thread", "exit_builtin", "print_1gb", "iopub_flood", "reads_grader_files",
                            "network_and_secrets", "patches_json", "patches_numpy_save", "patches_builtins",
                            "shadows_builtins", "deletes_probe_module", "nbformat3", "reads_other_kernels",
                            "renames_answer_folder", "fills_run_folder", "reaches_for_warm_neighbour"}, trivial
