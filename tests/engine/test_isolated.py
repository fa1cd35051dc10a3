"""The checker process of graders.checks.isolated: time limits that work in any grading process."""
from __future__ import annotations

import multiprocessing as mp
import time

import pytest
import sympy as sp

from graders.checks import Check, isolated
from graders.checks.isolated import JUDGE_MEMORY, CheckerUnavailable, run_isolated
from graders.checks.symbolic import Symbolic
from graders.probe.plain import to_plain
from graders.probe.spec import read_global
from graders.probe.transport import Decoder, KernelArray, Opaque, Outcome, Record


def _same(values, expected):
    return values[0] == expected, "differs"


def _slow(values):
    time.sleep(600)
    return True, ""


def _buggy(values):
    raise KeyError("a bug in a judge")


def _kind(values):
    return True, type(values[0]).__name__


def test_values_cross_as_data_and_come_back_equal():
    x, y = sp.symbols("x y", positive=True)
    f = sp.Function("pi")
    array = KernelArray.__new__(KernelArray, (2,), dtype=float)
    array[:] = [1.5, float("nan")]
    array.source = "torch.Tensor"
    value = {"e": sp.exp(x) / (1 + f(y)) - sp.Rational(1, 3) * sp.sqrt(2), "f": sp.Float("0.1", 30), "m": sp.ImmutableMatrix([[x, 1]]),
             "t": (1, "a", None), "a": array, "r": Record("Row", {"p": 0.5}), "o": Opaque("mod.Thing")}
    back = Decoder(None).decode(to_plain(value))
    for key in ("f", "m", "t", "r", "o"):
        assert back[key] == value[key], key
    assert sp.simplify(back["e"] - value["e"]) == 0  # rebuilt unevaluated, the same mathematics
    assert Decoder(None).decode(to_plain(back))["e"] == back["e"]  # what a kernel sent crosses unchanged
    assert back["a"].source == "torch.Tensor" and back["a"][0] == 1.5 and back["a"][1] != back["a"][1]
    assert run_isolated(_same, [value["e"]], args=(value["e"],)) == (True, "differs")


def test_a_judgement_over_time_is_stopped_and_the_next_one_runs():
    assert run_isolated(_slow, [1], timeout=1) == (False, "took longer than 1 s to check (simplify your expression)")
    assert run_isolated(_kind, [sp.Symbol("z")]) == (True, "Symbol")


def test_a_new_checkers_start_is_not_counted_in_a_judgements_time():
    """A fresh checker imports sympy and the grader's judges (seconds on a loaded machine): a judgement
    of milliseconds under a 2-second limit failed with "took longer than 10 s" when that counted."""
    isolated._forget_checker()
    assert run_isolated(_kind, [sp.Symbol("z")], timeout=2) == (True, "Symbol")


def test_a_bug_in_a_judge_is_a_grader_error_not_a_grade():
    with pytest.raises(CheckerUnavailable, match="KeyError"):
        run_isolated(_buggy, [1])
    check = Check("t.sym", "theory", (read_global("p", "ANSWER"),), _BuggyRule())
    result = check.result({"p": Outcome("p", True, value=sp.Symbol("z"))})
    assert result.status == "error" and result.grader_error


class _BuggyRule:
    def run(self, outcomes):
        from graders.checks.isolated import run_isolated

        return run_isolated(_buggy, [outcomes["p"].value])


def _symbolic_in_a_daemon(queue):
    x = sp.Symbol("x", real=True)
    rule = Symbolic.equivalent_to("p", sp.exp(x) - 1)
    verdict = rule.run({"p": Outcome("p", True, value=sp.exp(x) - sp.Integer(1))})
    queue.put((verdict.passed, verdict.error))


def test_symbolic_checks_work_inside_a_daemonic_process():
    """A Dask nanny runs tasks in a daemonic process, which may not have multiprocessing children."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_symbolic_in_a_daemon, args=(queue,), daemon=True)
    proc.start()
    try:
        assert queue.get(timeout=300) == (True, False)
    finally:
        proc.join(30)


def _hog(values):
    block = bytearray(3 * JUDGE_MEMORY)  # more than the checker may have: refused there, not here
    return True, str(len(block))


def test_a_judgement_that_runs_out_of_memory_fails_in_the_checker_and_the_next_one_runs():
    assert run_isolated(_hog, [1]) == (False, "is too large to check (checking it ran out of memory)")
    assert run_isolated(_kind, [sp.Symbol("z")]) == (True, "Symbol")


def _differentiate_at(value):
    """A judge that substitutes an expression for p (as the k2 check does), which sympy may refuse."""
    p, t = sp.Symbol("p", positive=True), sp.Symbol("t", positive=True)
    value.xreplace({p: t + 1})
    return None


def _typo(value):
    return undefined_name  # noqa: F821 - a bug in the judge itself


def test_sympy_refusing_the_answer_fails_the_check_and_says_why():
    p = sp.Symbol("p", positive=True)
    rule = Symbolic(["a"], _differentiate_at, what="`Q1e_k2`")
    verdict = rule.run({"a": Outcome("a", True, value=sp.Derivative(sp.floor(p), p))})
    assert not verdict.passed and not verdict.error
    assert verdict.reason.startswith("`Q1e_k2` could not be judged: sympy raised ValueError on it (Can't calculate "
                                     "derivative wrt t + 1")
    assert rule.run({"a": Outcome("a", True, value=sp.floor(p))}).passed


def test_a_bug_in_a_symbolic_judge_is_still_a_grader_error():
    check = Check("t.sym", "theory", (read_global("a", "ANSWER"),), Symbolic(["a"], _typo))
    result = check.result({"a": Outcome("a", True, value=sp.Symbol("z"))})
    assert result.status == "error" and result.grader_error and "NameError" in result.detail
