"""A hostile notebook and the warm kernel waiting beside it (``graders.kernel_pool``).

While a notebook runs, the next notebook's kernel is already up. The hostile notebook tries every way
to it: read its connection file (its key would let it execute code there: define the next student's
answers), connect to its sockets, signal its processes, write into its working folder, fill the disk
they might share. Then the warm kernel is taken and runs a blank notebook: it must be alive, unslowed
and clean (the blank notebook defines nothing, so its checks fail by NameError).

Warm kernels are used only when each kernel runs as a user of its own (``sandbox.own_users``); that is
the condition of this test, not a way out of it.
"""
from __future__ import annotations

import pytest

from graders import sandbox
from graders.checks import Check, Exact
from graders.execute import kernel_request, run_notebook
from graders.kernel_pool import WarmKernels
from graders.probe.spec import read_global
from graders.rubric import Limits
from adv_corpus import NEIGHBOUR_ATTACK
from helpers import notebook_from_cells

pytestmark = pytest.mark.skipif(not sandbox.own_users(sandbox.current()),
                                reason="warm kernels are used only when each kernel runs as a user of its own")

LIMITS = Limits(cell_timeout=60, notebook_timeout=240, probe_timeout=30, output_chars=4000, processes=64)

REACHED = Check("n.reached", "n", (read_global("reached", "REACHED"),), Exact("reached", []))
ANSWER = Check("n.answer", "n", (read_global("answer", "ANSWER"),), Exact("answer", 42))


def test_a_hostile_notebook_cannot_reach_the_warm_kernel_beside_it():
    pool = WarmKernels()
    try:
        request = kernel_request([ANSWER], limits=LIMITS, preload=("colorsys",))
        pool.warm(request)
        pool._pending[0][1].result()  # the warm kernel is up and waiting before the hostile notebook runs
        hostile = run_notebook(notebook_from_cells([NEIGHBOUR_ATTACK]), [REACHED], limits=LIMITS)
        assert hostile.summary.cells[0].status == "ok", hostile.summary.cells
        assert REACHED.result(hostile.outcomes).passed, hostile.outcomes["reached"]
        started = pool.take(request)
        assert started is not None, "the warm kernel did not survive its neighbour"
        blank = run_notebook(notebook_from_cells(["x = 1"]), [ANSWER], limits=LIMITS, started=started)
        assert blank.outcomes["answer"].error_type == "NameError", blank.outcomes
    finally:
        pool.close()
