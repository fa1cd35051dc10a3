"""The executor and probes on one small fixture notebook per behaviour.

Every fixture defines ``double(x)`` (or fails to) and is graded by the same three checks, so
each test asserts what a student would read: the status and the reason.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from graders.checks import AllClose, Check
from graders.execute import run_notebook
from graders.probe.spec import Probe
from graders.rubric import Limits
from helpers import notebook_from_cells

DOUBLE = "def double(x):\n    return [2 * v for v in x]"
LIMITS = Limits(cell_timeout=4, notebook_timeout=60, probe_timeout=10, output_chars=2000)

CHECKS = [
    Check("t.double", "t", (Probe("double", "double", ([1.0, 2.5],)),),
          AllClose("double", [2.0, 5.0], kind="list")),
    Check("t.twice", "t", (Probe("twice", "double", ([0.0],)),), AllClose("twice", [0.0])),
]

_RUNS: dict[Path, object] = {}


def run(path: Path):
    if path not in _RUNS:
        _RUNS[path] = run_notebook(path, CHECKS, limits=LIMITS)
    return _RUNS[path]


def results(path: Path):
    r = run(path)
    return {c.id: c.result(r.outcomes) for c in CHECKS}


def test_correct_notebook_passes():
    res = results(notebook_from_cells([DOUBLE]))
    assert all(r.passed for r in res.values()), res


def test_a_raising_cell_is_recorded_and_later_cells_still_run():
    path = notebook_from_cells(["raise ValueError('boom')", DOUBLE])
    r = run(path)
    assert r.summary.cells[0].status == "error"
    assert r.summary.cells[0].ename == "ValueError" and "boom" in r.summary.cells[0].evalue
    assert all(x.passed for x in results(path).values())


def test_infinite_loop_times_out_and_later_checks_still_run():
    path = notebook_from_cells(["while True:\n    pass", DOUBLE])
    r = run(path)
    assert r.summary.cells[0].status == "timeout"
    assert "longer than" in r.summary.cells[0].evalue
    assert all(x.passed for x in results(path).values())


def test_dead_kernel_fails_every_check_with_the_cell_number():
    path = notebook_from_cells([DOUBLE, "import os\nos._exit(1)", "x = 1"])
    r = run(path)
    assert r.summary.kernel_died_in_cell == 2
    for res in results(path).values():
        assert not res.passed and res.status == "error"
        assert res.reason == "the kernel died in cell 2, so nothing after it could be checked"


def test_missing_function_is_named():
    res = results(notebook_from_cells(["def triple(x):\n    return x"]))
    assert not res["t.double"].passed
    assert res["t.double"].reason == "name 'double' is not defined"
    assert res["t.double"].status == "failed"


def test_wrong_return_type_says_what_came_back():
    res = results(notebook_from_cells(["import numpy as np\ndef double(x):\n    return np.asarray(x) * 2"]))
    assert not res["t.double"].passed
    assert "should return a list, got a numpy.ndarray of shape (2,)" in res["t.double"].reason
    assert res["t.twice"].passed  # no kind required there: values are right


def test_nan_never_passes_silently():
    res = results(notebook_from_cells(["def double(x):\n    return [float('nan')] * len(x)"]))
    assert not res["t.double"].passed and "NaN" in res["t.double"].reason


def test_exception_in_student_function_is_reported_with_its_type():
    res = results(notebook_from_cells(["def double(x):\n    raise NotImplementedError('double is not implemented yet')"]))
    assert res["t.double"].status == "failed"
    assert res["t.double"].reason == "`double`() raised NotImplementedError: double is not implemented yet"


def test_function_that_kills_the_kernel_costs_only_its_own_check():
    cells = [DOUBLE.replace("def double", "def _ok"),
             "def double(x):\n    if x == [0.0]:\n        import os; os._exit(3)\n    return _ok(x)"]
    res = results(notebook_from_cells(cells))
    assert res["t.double"].passed
    assert not res["t.twice"].passed and "kernel died while this check" in res["t.twice"].reason


def test_huge_output_is_capped():
    path = notebook_from_cells(["for i in range(20000):\n    print('spam ' * 20)", DOUBLE])
    r = run(path)
    assert r.summary.cells[0].status == "ok"
    assert all(x.passed for x in results(path).values())


@pytest.mark.parametrize("content, reason", [
    (b"{ this is not json", "is not a valid notebook"),
    (b"", "is empty"),
    (b"\xff\xfe\x00garbage", "is not UTF-8"),
])
def test_unreadable_notebooks_fail_every_check_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    r = run_notebook(path, CHECKS, limits=LIMITS)
    assert reason in r.summary.error
    for c in CHECKS:
        res = c.result(r.outcomes)
        assert res.status == "error" and reason in res.reason


def test_nbformat_3_notebook_is_converted_and_graded(tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"},
          "worksheets": [{"cells": [{"cell_type": "code", "language": "python", "input": DOUBLE,
                                     "outputs": [], "metadata": {}}], "metadata": {}}]}
    path = tmp_path / "v3.ipynb"
    path.write_text(json.dumps(v3))
    r = run_notebook(path, CHECKS, limits=LIMITS)
    assert not r.summary.error
    assert all(c.result(r.outcomes).passed for c in CHECKS)


def test_empty_notebook_runs_and_every_check_fails_cleanly(tmp_path):
    path = tmp_path / "empty.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    r = run_notebook(path, CHECKS, limits=LIMITS)
    assert not r.summary.error and r.summary.cells_run == 0
    for c in CHECKS:
        res = c.result(r.outcomes)
        assert res.status == "failed" and "not defined" in res.reason


def test_the_secret_never_reaches_the_kernel(monkeypatch):
    monkeypatch.setenv("HW4_SECRET", "987654321")
    check = Check("t.env", "t", (Probe("env", "read_env"),), AllClose("env", 0.0))
    path = notebook_from_cells(["import os\ndef read_env():\n    return float(os.environ.get('HW4_SECRET', '0'))"])
    r = run_notebook(path, [check], limits=LIMITS)
    assert check.result(r.outcomes).passed
