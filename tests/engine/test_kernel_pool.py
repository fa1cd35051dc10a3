"""Warm kernels (``graders.kernel_pool``): a kernel started ahead runs a notebook exactly as one started
on demand, is handed out once and only for its own request, and stops with the pool."""
from __future__ import annotations

import dataclasses

import pytest

from graders.checks import AllClose, Check, Exact
from graders.execute import kernel_request, run_notebook
from graders.kernel_pool import WarmKernels
from graders.probe.spec import Probe, read_global
from graders.rubric import Limits
from helpers import notebook_from_cells

LIMITS = Limits(cell_timeout=20, notebook_timeout=120, probe_timeout=20, output_chars=2000)
CHECKS = [
    Check("w.double", "w", (Probe("double", "double", ([1.0, 2.5],)),), AllClose("double", [2.0, 5.0], kind="list")),
    Check("w.flags", "w", (read_global("flags", "FLAGS"),), Exact("flags", [False, False])),
]
#: ``colorsys`` is imported ahead (the probe runtime itself never imports it), yet a notebook that
#: never imports it cannot use the name
CELLS = ["import sys\nFLAGS = ['colorsys' in globals(), 'cs' in globals()]\nAHEAD = 'colorsys' in sys.modules",
         "colorsys.rgb_to_hsv(0, 0, 0)",
         "def double(x):\n    return [2 * v for v in x]"]
AHEAD = Check("w.ahead", "w", (read_global("ahead", "AHEAD"),), Exact("ahead", True))


def _request(**kw):
    return kernel_request(CHECKS, limits=LIMITS, preload=("colorsys",), **kw)


def _summary(run):
    """What the student reads: each cell's status and error, each probe's answer (not its timing)."""
    return ([(c.index, c.status, c.ename, c.evalue) for c in run.summary.cells],
            {k: dataclasses.replace(o, seconds=0) for k, o in run.outcomes.items() if k != "ahead"})


@pytest.fixture(scope="module")
def pool():
    warm = WarmKernels()
    yield warm
    warm.close()


def test_a_warm_kernel_runs_a_notebook_as_a_kernel_started_for_it(pool):
    path = notebook_from_cells(CELLS)
    pool.warm(_request())
    started = pool.take(_request())
    assert started is not None and started.runtime_ok
    warm = run_notebook(path, CHECKS + [AHEAD], limits=LIMITS, started=started)
    cold = run_notebook(path, CHECKS + [AHEAD], limits=LIMITS)
    assert AHEAD.result(warm.outcomes).passed and not AHEAD.result(cold.outcomes).passed
    cells, outcomes = _summary(warm)
    assert cells[1][1:3] == ("error", "NameError")  # `colorsys` was never imported by the notebook
    assert all(c.result(outcomes).passed for c in CHECKS), outcomes
    assert (cells, outcomes) == _summary(cold)
    assert started.kernel is None and started.folders is None  # run_notebook stopped it and removed its folders


def test_a_warm_kernel_is_handed_out_once_and_only_for_its_own_request(pool):
    pool.warm(_request())
    assert pool.take(_request(keep_workdir=True)) is None  # another request: started on demand
    started = pool.take(_request())
    assert started is not None
    started.close()
    assert pool.take(_request()) is None  # never twice


def test_a_warm_kernel_nobody_takes_is_stopped_for_the_next_guess_and_with_the_pool():
    warm = WarmKernels(size=1)
    try:
        warm.warm(_request())
        first = warm._pending[0][1].result()
        process = first.kernel.client.km.provisioner.process
        assert process.poll() is None
        warm.warm(_request(keep_workdir=True))  # the pool is full: the first guess is stopped
        second = warm._pending[0][1].result()
        assert process.wait(timeout=60) is not None
        assert [r for r, _ in warm._pending] == [_request(keep_workdir=True)]
        process = second.kernel.client.km.provisioner.process
    finally:
        warm.close()
    assert process.wait(timeout=60) is not None
    assert warm.take(_request(keep_workdir=True)) is None


def test_a_closed_pool_warms_nothing():
    warm = WarmKernels()
    warm.close()
    warm.warm(_request())
    assert warm.take(_request()) is None and warm._starter is None
