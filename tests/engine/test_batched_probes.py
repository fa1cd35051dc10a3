"""Batched probes: consecutive checks of the same visibility asked in one cell, each within its own
time limit, and whatever goes wrong in a batch asked again one check per cell.

One small notebook serves every test; the checks are built so that asking them together or one per
cell (``batch=False``) must give the same results. The cells asked and the folders made are counted
by wrapping ``Kernel.run_probe_cell`` and ``AnswerArea.new_answer_folder`` (the real ones run).
"""
from __future__ import annotations

import itertools
import json
import re

import pytest

from graders import kernel as kernel_module
from graders.checks import AllClose, Check, Exact
from graders.execute import run_notebook
from graders.probe.folders import AnswerArea
from graders.probe.spec import Probe
from graders.rubric import Limits
from helpers import notebook_from_cells

NOTEBOOK = '''import os, time

def double(x):
    return [2 * v for v in x]

def spin(x):
    while True:
        pass

def catches(x):
    """Swallows every Exception: the alarm is not one."""
    try:
        while True:
            pass
    except Exception:
        return "swallowed"

def stubborn(x):
    """Swallows everything, the alarm and the interrupt too: only the batch's backstop ends it."""
    while True:
        try:
            time.sleep(1)
        except BaseException:
            pass

def crash(x):
    os.kill(os.getpid(), 9)

def fails(x):
    raise ValueError("nope")

def returns_anyway(x):
    """Catches the alarm and returns the right value, too late."""
    try:
        while True:
            pass
    except BaseException:
        return [2 * v for v in x]
'''
#: a notebook that tries to disarm the alarm through the signal modules (the runtime kept its own copies)
DISARM = '''import signal, _signal
for module in (signal, _signal):
    module.setitimer = lambda *args, **kwargs: (0.0, 0.0)
    module.signal = lambda *args, **kwargs: None
'''
LIMITS = Limits(cell_timeout=20, notebook_timeout=120, probe_timeout=5, output_chars=2000, restarts=1)
TIMED_OUT = "your code ran longer than the 2 s allowed for this check"


def check(id_, target, arg, expected, *, public=True, timeout=3.0, probes=1):
    """A check of ``target`` on ``arg`` (``probes`` calls of it), ``timeout`` ≥ 10× what a passing call needs."""
    asked = tuple(Probe(f"{id_}.{n}", target, ([arg + n],)) for n in range(probes))
    return Check(id_, "t", asked, AllClose(asked[0].id, expected), public=public, timeout=timeout)


#: public and hidden checks, passing and failing, two that outrun their limit
MIXED = [check("p.one", "double", 1.0, [2.0]),
         check("p.two", "double", 2.0, [4.0], probes=3),
         check("p.fails", "fails", 1.0, [2.0]),
         check("p.spin", "spin", 1.0, [2.0], timeout=2),
         check("p.after", "double", 3.0, [6.0]),
         check("p.late", "returns_anyway", 1.0, [2.0], timeout=2),
         check("h.one", "double", 4.0, [8.0], public=False),
         check("h.catches", "catches", 1.0, [2.0], public=False, timeout=2),
         check("h.missing", "nowhere", 1.0, [2.0], public=False),
         check("h.two", "double", 5.0, [10.0], public=False, probes=2),
         check("p.last", "double", 6.0, [12.0]),
         Check("p.empty", "t", (), Exact("nothing", 0))]


class Asked:
    """What a run asked the kernel: the probe cells, the probe ids of each answer folder, the kernel starts."""

    def __init__(self):
        self.cells: list[str] = []
        self.folders: list[list[str]] = []
        self.starts = 0


def graded(cells, checks, *, batch=True):
    """Run the notebook; its ``NotebookRun`` and what it asked the kernel."""
    asked = Asked()
    run_probe_cell, new_folder, enter = (kernel_module.Kernel.run_probe_cell, AnswerArea.new_answer_folder,
                                         kernel_module.Kernel.__enter__)

    def counted_cell(self, source, timeout):
        asked.cells.append(source)
        return run_probe_cell(self, source, timeout)

    def recorded_folder(self, inputs={}):
        asked.folders.append([p["id"] for p in json.loads(inputs["probes.json"])])
        return new_folder(self, inputs)

    def counted_start(self):
        asked.starts += 1
        return enter(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernel_module.Kernel, "run_probe_cell", counted_cell)
        mp.setattr(AnswerArea, "new_answer_folder", recorded_folder)
        mp.setattr(kernel_module.Kernel, "__enter__", counted_start)
        run = run_notebook(notebook_from_cells(cells), checks, limits=LIMITS, batch=batch)
    return run, asked


def results(run, checks):
    return {c.id: c.result(run.outcomes) for c in checks}


def seen(result) -> tuple:
    """What a check's result says, but the kernel's working folder (another per kernel) in a traceback."""
    return result.passed, result.status, result.reason, re.sub(r"/hw4-kernel-\w+/", "/hw4-kernel-X/", result.detail)


@pytest.fixture(scope="module")
def mixed():
    """The mixed checks asked in batches and one per cell, in a notebook that tried to disarm the alarm."""
    return {batch: graded([NOTEBOOK, DISARM], MIXED, batch=batch) for batch in (True, False)}


def test_batches_give_the_results_of_one_cell_per_check(mixed):
    together, alone = (results(mixed[b][0], MIXED) for b in (True, False))
    assert {c: seen(r) for c, r in together.items()} == {c: seen(r) for c, r in alone.items()}
    assert [c for c, r in together.items() if r.passed] == ["p.one", "p.two", "p.after", "h.one", "h.two", "p.last"]
    assert together["p.spin"].reason == TIMED_OUT and together["p.spin"].status == "error"
    assert together["h.catches"].reason == TIMED_OUT  # its `except Exception` did not swallow the alarm
    assert together["p.late"].reason == TIMED_OUT  # a right answer after the limit is not an answer


def test_one_probe_cell_per_run_of_checks_of_the_same_visibility(mixed):
    runs = [list(g) for _, g in itertools.groupby([c for c in MIXED if c.probes], key=lambda c: c.public)]
    _, together = mixed[True]
    _, alone = mixed[False]
    assert len(together.cells) == len(runs) == 3 and together.starts == 1  # the alarms, not the backstop
    assert len(alone.cells) == len([c for c in MIXED if c.probes])
    assert all("seconds=" in cell for cell in together.cells) and not any("seconds=" in cell for cell in alone.cells)


def test_a_hidden_checks_inputs_are_never_in_a_public_checks_folder(mixed):
    public = {p.id: c.public for c in MIXED for p in c.probes}
    for batch in (True, False):
        folders = mixed[batch][1].folders
        assert all(len({public[p] for p in folder}) == 1 for folder in folders), folders
    runs = [[p.id for c in g for p in c.probes]
            for _, g in itertools.groupby([c for c in MIXED if c.probes], key=lambda c: c.public)]
    assert mixed[True][1].folders == runs


def test_a_check_that_swallows_the_alarm_is_caught_by_the_backstop_and_costs_only_itself():
    checks = [check("a", "double", 1.0, [2.0]), check("b", "stubborn", 1.0, [2.0], timeout=2),
              check("c", "double", 2.0, [4.0])]
    run, asked = graded([NOTEBOOK], checks)
    res = results(run, checks)
    assert res["a"].passed and res["c"].passed, res
    assert res["b"].status == "error" and res["b"].reason == TIMED_OUT
    # the batch, then each check alone in a fresh kernel (the batch's restart blames nobody), where
    # `stubborn` hangs its kernel once more: the restart that costs it
    assert asked.cells[0].count("seconds=") == 1 and len(asked.cells) == 4 and asked.starts == 3


def test_a_check_that_kills_the_kernel_in_a_batch_costs_only_itself_and_no_restart():
    checks = [check("a", "double", 1.0, [2.0]), check("b", "crash", 1.0, [2.0]), check("c", "double", 2.0, [4.0])]
    run, asked = graded([NOTEBOOK], checks)
    res = results(run, checks)
    # with one restart allowed per function, `c` is asked after `crash` killed a kernel alone: the
    # batch's lost kernel was not charged to anyone
    assert res["a"].passed and res["c"].passed, res
    assert res["b"].status == "error" and res["b"].reason == "the kernel died while this check called your code"
    assert len(asked.cells) == 4 and asked.starts == 3


# --- how batches are cut, without a kernel --------------------------------------------------------

def test_a_batch_is_a_run_of_one_visibility_within_its_time_caps():
    import time

    from graders.budget import Clock
    from graders.probe.driver import BATCH_MARGIN, MAX_BATCH_SECONDS, next_batch

    def ids(checks, left=10_000.0, alone=()):
        return [c.id for c in next_batch(checks, LIMITS, Clock(LIMITS, time.monotonic() + left), set(alone))]

    a, b, h, c = (check("a", "f", 1.0, 0), check("b", "f", 1.0, 0), check("h", "f", 1.0, 0, public=False),
                  check("c", "f", 1.0, 0))
    assert ids([a, b, h, c]) == ["a", "b"] and ids([h, c]) == ["h"]
    assert ids([a, b, c], alone={"b"}) == ["a"] and ids([a, b, c], alone={"a"}) == ["a"]
    assert ids([a, b, c], left=2 * 3.0 + BATCH_MARGIN + 1) == ["a", "b"]  # the third might not fit the budget
    long = [check(f"l{n}", "f", 1.0, 0, timeout=MAX_BATCH_SECONDS / 2) for n in range(3)]
    assert ids(long) == ["l0", "l1"] and ids([long[0]], left=1.0) == ["l0"]


def test_the_runtime_stops_a_check_at_its_own_limit_and_goes_on(tmp_path, monkeypatch):
    from graders.kernel import KERNEL_SIDE
    from graders.probe.driver import ALARM
    from graders.probe.spec import write_inputs
    from graders.probe.transport import read_one

    monkeypatch.delitem(__import__("sys").modules, "_hw4_probe", raising=False)
    exec(KERNEL_SIDE, {})
    runtime = __import__("sys").modules["_hw4_probe"]
    namespace = {}
    exec(NOTEBOOK, namespace)
    probes = [Probe("spin", "spin", (1,)), Probe("one", "double", ([1.0],)), Probe("two", "double", ([2.0],))]
    write_inputs(tmp_path, probes)
    runtime.run(namespace, str(tmp_path), str(tmp_path), [[0], [1, 2]], seconds=[0.2, 5.0])
    spun, one, two = (read_one(tmp_path, n, p.id) for n, p in enumerate(probes))
    assert (spun.error_type, spun.message) == ALARM
    assert one.value == [2.0] and two.value == [4.0]
    assert set(str(runtime.digest()).strip("'").replace("=", ",").split(",")[::2]) == {"0.json", "1.json", "2.json"}
    import signal
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --- the homework itself ----------------------------------------------------------------------------

@pytest.mark.slow
def test_every_example_submission_grades_the_same_with_and_without_batches():
    """``bench/batching.py`` as a test: every check's and item's verdict, batched and one per cell."""
    import importlib.util
    from pathlib import Path

    from graders.intake import find_submissions
    from graders.pipeline import prepare
    from helpers import ROOT, TEST_SECRET

    spec = importlib.util.spec_from_file_location("bench_batching", ROOT / "bench" / "batching.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    plans = {batch: prepare(secret=TEST_SECRET, batch_probes=batch) for batch in (True, False)}
    for folder in sorted(p for p in Path(ROOT / "examples").iterdir() if p.is_dir()):
        sub = find_submissions([folder], plans[True].parts)[0]
        sub.scope = tuple(plans[True].parts)
        (together, _, fewer), (alone, _, more) = (bench.grade(sub, plans[batch]) for batch in (True, False))
        assert bench.differences(together, alone) == [], folder.name
        assert fewer.cells < more.cells, folder.name
