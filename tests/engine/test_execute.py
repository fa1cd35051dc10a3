"""The executor and probes on one small fixture notebook per behaviour.

Every fixture defines ``double(x)`` (or fails to) and is graded by the same three checks, so
each test asserts what a student would read: the status and the reason.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import nbformat
import pytest

from graders.checks import AllClose, Check
from graders.execute import run_notebook
from graders.calls import explain_call
from graders.pipeline import Verdicts
from graders.probe.driver import CarryForward
from graders.probe.spec import Probe
from graders.rubric import Limits
from helpers import notebook_from_cells

DOUBLE = "def double(x):\n    return [2 * v for v in x]"
LIMITS = Limits(cell_timeout=4, notebook_timeout=60, probe_timeout=10, output_chars=2000)

CHECKS = [
    Check("t.double", "t", (Probe("double", "double", ([1.0, 2.5],)),),
          AllClose("double", [2.0, 5.0], kind="list"), explain=functools.partial(explain_call, "t")),
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
    assert res["t.double"].reason == ("`double`() raised NotImplementedError: double is not implemented yet"
                                      " — `double` was called with argument 1 = a list of 2")  # a public check says how


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


# --- the submission's time budget, restarts, processes left behind --------------------------------

def test_the_submission_budget_stops_a_cell_and_every_check_says_why():
    # the cell limit (60 s) is above the submission's budget (20 s): the budget is what stops the cell
    limits = Limits(cell_timeout=60, notebook_timeout=90, probe_timeout=10, output_chars=2000, submission_timeout=20)
    path = notebook_from_cells(["import time\ntime.sleep(1000)", DOUBLE])
    r = run_notebook(path, CHECKS, limits=limits)
    first, second = r.summary.cells
    assert first.status == "timeout" and first.evalue == "ran out of the submission's 20 s time budget"
    assert second.status == "not-run" and r.summary.notebook_timed_out
    for c in CHECKS:
        res = c.result(r.outcomes)
        assert res.status == "error"
        assert res.reason == "grading stopped after 20 s: the submission used up its time budget"


def test_checks_share_the_submission_budget():
    # each check may take 30 s, but the submission has 8 s in all
    limits = Limits(cell_timeout=4, notebook_timeout=60, probe_timeout=30, output_chars=2000, submission_timeout=8)
    checks = [Check(c.id, c.part, c.probes, c.rule, timeout=30) for c in CHECKS]
    path = notebook_from_cells(["def double(x):\n    import time\n    time.sleep(1000)"])
    r = run_notebook(path, checks, limits=limits)
    for c in checks:
        res = c.result(r.outcomes)
        assert res.status == "error"
        assert res.reason == "grading stopped after 8 s: the submission used up its time budget"


def test_a_notebook_reached_after_the_deadline_is_not_run(tmp_path):
    import time

    r = run_notebook(notebook_from_cells([DOUBLE, "x = 1"]), CHECKS, limits=LIMITS, deadline=time.monotonic() - 1)
    assert [c.status for c in r.summary.cells] == ["not-run", "not-run"] and r.summary.notebook_timed_out
    assert all(c.result(r.outcomes).reason == "grading stopped after 1800 s: the submission used up its time budget"
               for c in CHECKS)


@pytest.mark.parametrize("batch", [False, True])
def test_a_restart_that_fails_costs_the_remaining_checks_not_the_submission(monkeypatch, batch):
    import graders.kernel as kernel

    starts = []
    enter = kernel.Kernel.__enter__

    def start(self):
        starts.append(1)
        if len(starts) > 1:
            raise kernel.KernelStartFailed("Kernel died before replying to kernel_info")
        return enter(self)

    monkeypatch.setattr(kernel.Kernel, "__enter__", start)
    path = notebook_from_cells(["def double(x):\n    import os\n    os._exit(3)", TRIPLE])
    checks = [CHECKS[0], TRIPLE_CHECK]
    r = run_notebook(path, checks, limits=LIMITS, batch=batch)
    first, second = (c.result(r.outcomes) for c in checks)
    not_restarted = ("the kernel could not be restarted (Kernel died before replying to kernel_info), "
                     "so this check could not run")
    # asked together, the kernel died in a batch: no check is blamed before a restart finds which
    assert first.status == "error" and first.reason == (
        not_restarted if batch else "the kernel died while this check called your code")
    assert second.status == "error" and second.reason == not_restarted


TRIPLE = "def triple(x):\n    return [3 * v for v in x]"
TRIPLE_CHECK = Check("t.triple", "t", (Probe("triple", "triple", ([1.0],)),), AllClose("triple", [3.0], kind="list"))
#: ``double`` ignores the interrupt and spins on its first call in every fresh kernel (not during the cells)
HANGS_IN_EVERY_KERNEL = ("import signal\nCALLS = []\ndef double(x):\n    CALLS.append(x)\n    if len(CALLS) == 1:\n"
                         "        signal.signal(signal.SIGINT, signal.SIG_IGN)\n        while True:\n            pass\n"
                         "    return [2 * v for v in x]")


@pytest.mark.parametrize("batch", [False, True])
def test_a_function_that_hangs_every_fresh_kernel_costs_only_its_own_checks(batch):
    checks = [Check(c.id, c.part, c.probes, c.rule, timeout=3) for c in CHECKS] + [TRIPLE_CHECK]
    r = run_notebook(notebook_from_cells([HANGS_IN_EVERY_KERNEL, TRIPLE]), checks, limits=LIMITS, batch=batch)
    first, second, third = (c.result(r.outcomes) for c in checks)
    assert first.status == "error" and first.reason == "your code ran longer than the 3 s allowed for this check"
    if batch:  # in a batch the check's alarm stops the spin (it ignores SIGINT, not SIGALRM): nothing hung
        assert second.passed, second
    else:
        assert second.status == "failed" and second.reason == (
            "not checked: `double` hung in an earlier check, so it is not called again")
    assert third.passed, third


def test_without_restarts_the_checks_after_a_hang_say_so():
    limits = Limits(**{**LIMITS.__dict__, "restarts": 0})
    checks = [Check(c.id, c.part, c.probes, c.rule, timeout=3) for c in CHECKS[:1]] + [TRIPLE_CHECK]
    r = run_notebook(notebook_from_cells([HANGS_IN_EVERY_KERNEL, TRIPLE]), checks, limits=limits, batch=False)
    assert checks[1].result(r.outcomes).reason == (
        "not checked: the kernel was restarted as often as allowed (0 time(s) per function)")


def test_a_daemon_the_notebook_started_dies_with_its_kernel():
    import os
    import time
    import uuid

    marker = f"hw4-test-daemon-{uuid.uuid4().hex}"
    spawn = ("import os, sys\nchild = os.fork()\nif child == 0:\n    try:\n        os.setsid()\n"
             "        if os.fork() == 0:\n"
             f"            os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}])\n"
             "    finally:\n        os._exit(0)\nos.waitpid(child, 0)")
    r = run_notebook(notebook_from_cells([spawn, DOUBLE]), CHECKS, limits=LIMITS)
    assert r.summary.cells[0].status == "ok"

    def alive():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    found += [pid] if marker.encode() in fh.read() else []
            except OSError:
                pass
        return found

    deadline = time.monotonic() + 30
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive() == []


def test_files_planted_in_the_working_folder_or_home_do_not_run_at_a_restart():
    plant = ("import os\nfor name in ['numpy.py', 'ipykernel_launcher.py', 'sitecustomize.py', 'json.py',\n"
             "             os.path.join(os.environ['IPYTHONDIR'], 'profile_default', 'startup', '0.py')]:\n"
             "    try:\n        open(name, 'w').write('import os\\nos._exit(1)\\n')\n    except OSError:\n        pass")
    cells = [plant, "def double(x):\n    import os; os._exit(3)", TRIPLE]
    checks = [CHECKS[0], TRIPLE_CHECK]
    r = run_notebook(notebook_from_cells(cells), checks, limits=LIMITS)
    res = {c.id: c.result(r.outcomes) for c in checks}
    assert "kernel died while this check" in res["t.double"].reason
    assert res["t.triple"].passed  # the restarted kernel started, ran the cells again, and answered


def _own_user_possible() -> bool:
    from graders import sandbox

    return os.geteuid() == 0 and sandbox.others_can_run_python()


import os  # noqa: E402


@pytest.mark.skipif(not _own_user_possible(), reason="needs a root grader whose Python other users can run")
def test_a_root_grader_without_bubblewrap_still_gives_each_kernel_a_user_of_its_own(monkeypatch):
    from graders.checks import Exact
    from graders.probe.spec import read_global

    monkeypatch.setenv("HW4_SANDBOX", "none")
    cell = ("import os, ipykernel\n"
            "INFO = {'uid': os.getuid(), 'mode': oct(os.stat('.').st_mode & 0o777),\n"
            "        'owner': os.stat('.').st_uid == os.getuid(),\n"
            "        'connection': oct(os.stat(ipykernel.get_connection_file()).st_mode & 0o777)}\n"
            "try:\n    os.listdir(os.path.dirname(os.getcwd()))\n    INFO['parent'] = 'listed'\n"
            "except OSError:\n    INFO['parent'] = 'refused'")
    info = Check("t.info", "t", (read_global("info", "INFO"),), Exact("info", 0))
    r = run_notebook(notebook_from_cells([cell, DOUBLE]), [info, *CHECKS], limits=LIMITS)
    seen = r.outcomes["info"].value
    assert seen["uid"] != 0 and seen["owner"] and seen["mode"] == "0o700" and seen["connection"] == "0o600"
    assert seen["parent"] == "refused"  # the grader's folder around it: not even listable
    assert all(c.result(r.outcomes).passed for c in CHECKS)


SNOOP = '''import glob, json, sys
FOUND_AT_RUN_TIME = sorted(glob.glob("/tmp/**/probes.json", recursive=True) + glob.glob("../**/probes.json", recursive=True))

def snoop(x):
    """The probe ids this call can see: the inputs folder of the cell it is called from."""
    frame = sys._getframe(1)
    while frame is not None and "input_dir" not in frame.f_locals:
        frame = frame.f_back
    with open(frame.f_locals["input_dir"] + "/probes.json") as fh:
        return sorted(p["id"] for p in json.load(fh))'''


@pytest.mark.parametrize("batch", [False, True])
def test_a_probe_cell_carries_only_its_own_inputs_and_the_plan_never_enters_the_kernel(batch):
    from graders.checks import Exact
    from graders.probe.spec import read_global

    # t.a and t.c, public and consecutive, share a cell when batched; t.b, hidden, is never in theirs
    together = ["a1", "a2", "c"] if batch else ["a1", "a2"]
    checks = [Check("t.a", "t", (Probe("a1", "snoop", (1,)), Probe("a2", "snoop", (2,))), Exact("a1", together)),
              Check("t.c", "t", (Probe("c", "snoop", (4,)),), Exact("c", together if batch else ["c"])),
              Check("t.b", "t", (Probe("b", "snoop", (3,)),), Exact("b", ["b"]), public=False),
              Check("t.seen", "t", (read_global("seen", "FOUND_AT_RUN_TIME"),), Exact("seen", []))]
    r = run_notebook(notebook_from_cells([SNOOP]), checks, limits=LIMITS, batch=batch)
    results = {c.id: c.result(r.outcomes) for c in checks}
    assert all(res.passed for res in results.values()), results


HELPERS = '''def helper(x):
    return x + 1

def twice(x):
    """Calls the graded helper: a wrong helper must not cost this check too."""
    return 2 * helper(x)'''
REFERENCE = '''from __future__ import annotations
import math

def helper(x):
    return x + math.floor(1.5)

def twice(x):
    return 2 * helper(x)
'''


def test_a_check_failed_only_through_its_helper_is_scored_with_the_reference_helper():
    from graders.pipeline import carried_forward

    wrong = HELPERS.replace("x + 1", "x + 5")
    checks = [Check("t.helper", "t", (Probe("h", "helper", (1,)),), AllClose("h", 2.0)),
              Check("t.twice", "t", (Probe("w", "twice", (1,)),), AllClose("w", 4.0), depends=("helper",)),
              Check("t.after", "t", (Probe("a", "helper", (1,)),), AllClose("a", 6.0))]
    r = run_notebook(notebook_from_cells([wrong]), checks, limits=LIMITS,
                     carry=CarryForward(REFERENCE, Verdicts(checks).to_rerun))
    own = {c.id: c.result(r.outcomes) for c in checks}
    assert not own["t.helper"].passed and not own["t.twice"].passed and own["t.after"].passed
    assert set(r.carried) == {"t.twice"}  # only the dependent check is rerun
    fair = carried_forward(checks[1], own["t.twice"], r)
    assert fair.passed and fair.reason == "scored with the reference `helper`, whose own item is graded separately"
    assert "with your own `helper`" in fair.detail
    # a check wrong in its own code stays wrong
    broken = HELPERS.replace("2 * helper(x)", "3 * helper(x)")
    r = run_notebook(notebook_from_cells([broken]), checks[:2], limits=LIMITS,
                     carry=CarryForward(REFERENCE, Verdicts(checks[:2]).to_rerun))
    result = carried_forward(checks[1], checks[1].result(r.outcomes), r)
    # the rerun's own reason (its own mistake), not the first run's, which blamed the helper
    assert not result.passed and result.reason.startswith("even with the reference `helper`: ") and "value" in \
        result.reason
    assert "with your own `helper`" in result.detail
