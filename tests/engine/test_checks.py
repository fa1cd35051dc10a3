import numpy as np
import pandas as pd
import pytest
import sympy as sp

from graders.checks import AllClose, Exact, FrameMatches, SamplerFits, Symbolic
from graders.checks.statistical import goodness_of_fit
from graders.probe.transport import KernelArray, Outcome


def outcome(value, type_=""):
    return {"p": Outcome("p", True, value=value, type=type_)}


def arr(values, source="torch.Tensor"):
    a = np.asarray(values).view(KernelArray)
    a.source = source
    return a


def test_allclose_reports_shape_without_revealing_expected():
    v = AllClose("p", np.zeros((2, 4, 9, 9))).run(outcome(arr(np.zeros((4, 9, 9)))))
    assert not v.passed and v.reason == "result: expected shape (2, 4, 9, 9), got (4, 9, 9)"


def test_allclose_inf_and_nan_do_not_pass():
    assert not AllClose("p", [1.0, 2.0]).run(outcome([1.0, float("inf")])).passed
    assert "NaN" in AllClose("p", 1.0).run(outcome(float("nan"))).reason


def test_exact_on_nested_structures():
    assert Exact("p", [("a", 1.5), ("b", 2)]).run(outcome([("a", 1.5), ("b", 2)])).passed
    assert not Exact("p", [1, 2]).run(outcome([1, 3])).passed


def test_float_kind_rejects_a_zero_d_tensor():
    v = AllClose("p", 1.0, kind="float").run(outcome(arr(1.0), "torch.Tensor"))
    assert not v.passed and "should return a Python float, got a 0-d torch.Tensor" in v.reason


def test_frame_matches_by_name_ignoring_order_and_extra_columns():
    exp = pd.DataFrame({"mean": [0.6, 0.9]}, index=["m1", "m2"])
    got = pd.DataFrame({"mean": [0.9, 0.6], "n": [4, 4]}, index=["m2", "m1"])
    assert FrameMatches("p", exp, ["mean"]).run(outcome(got)).passed
    got.loc["m1", "mean"] = 0.5
    assert "is wrong for" in FrameMatches("p", exp, ["mean"]).run(outcome(got)).reason


x = sp.Symbol("x", real=True)


@pytest.mark.parametrize("student", [
    sp.log(1 + sp.exp(-x)),                       # -log(sigmoid(x)) written differently
    -sp.log(1 / (1 + sp.exp(-x))),
])
def test_symbolic_accepts_equivalent_forms(student):
    v = Symbolic.equivalent_to("p", -sp.log(1 / (1 + sp.exp(-x))), ranges={"x": (-4, 4)}).run(outcome(student, "sympy.core"))
    assert v.passed, v.reason


def test_symbolic_rejects_wrong_sign_and_maps_symbols_by_name():
    plain_x = sp.Symbol("x")  # re-declared without assumptions: still the same variable
    rule = Symbolic.equivalent_to("p", 1 / (1 + sp.exp(-x)) - 1, ranges={"x": (-4, 4)})
    assert rule.run(outcome(-1 / (1 + sp.exp(plain_x)), "sympy.core")).passed
    assert not rule.run(outcome(1 - 1 / (1 + sp.exp(-plain_x)), "sympy.core")).passed


def test_symbolic_times_out_on_exploding_expressions():
    huge = sp.Pow(sp.Integer(2), sp.Pow(sp.Integer(10), sp.Integer(50), evaluate=False), evaluate=False) * x
    v = Symbolic.equivalent_to("p", x, timeout=2).run(outcome(huge, "sympy.core"))
    assert not v.passed


def test_sampler_fits_accepts_a_correct_sampler_and_catches_a_wrong_one():
    probs = np.array([0.5, 0.3, 0.2, 0.0])
    rng = np.random.default_rng(0)
    good = [list(rng.choice(4, size=2, replace=False, p=probs)) for _ in range(2000)]
    assert SamplerFits("p", probs, 2).run(outcome(good)).passed
    uniform = [list(rng.choice(3, size=2, replace=False)) for _ in range(2000)]
    assert "do not follow" in SamplerFits("p", probs, 2).run(outcome(uniform)).reason
    dup = [[0, 0]] * 10
    assert "same id twice" in SamplerFits("p", probs, 2).run(outcome(dup)).reason
    outside = [[0, 3]] * 10
    assert "should have removed" in SamplerFits("p", probs, 2).run(outcome(outside)).reason


def test_goodness_of_fit_pools_small_bins():
    probs = np.array([0.9] + [0.1 / 50] * 50)
    draws = np.random.default_rng(1).choice(51, size=300, p=probs)
    assert goodness_of_fit(draws, probs) > 1e-6


def one(value, type_=""):
    return Outcome("p", True, value=value, type=type_)


def test_cases_names_the_failing_case_keeps_its_detail_and_the_first_note():
    from graders.checks import Cases
    from graders.checks.rules import Note
    from graders.reasons import render

    within = lambda want: (lambda v: None if abs(v - want) < 1e-6 else f"got {v}, expected {want}")  # noqa: E731
    rule = Cases(["a", "b"], [within(1.0), within(2.0)], details=["a: x = 1", "b: x = 2"])
    ok = rule.run({"a": one(1.0), "b": one(2.0)})
    assert ok.passed and ok.detail == "2 case(s)"
    bad = rule.run({"a": one(1.0), "b": one(3.0)})
    assert not bad.passed and bad.detail == "b: x = 2"
    # a public check shows the case's inputs and the value returned; a hidden one, the judge's words only
    assert render(bad.reason, hide=False) == "case 2 of 2: got 3.0, expected 2.0 (inputs: b: x = 2; your value: 3)"
    assert render(bad.reason, hide=True) == "case 2 of 2: got 3.0, expected 2.0"
    assert render(Cases(["a"], [within(1.0)]).run({"a": one(0.0)}).reason, hide=False) == (
        "got 0.0, expected 1.0 (your value: 0)")
    own = Cases(["a", "b"], [within(1.0), within(2.0)], prefix=False)
    assert render(own.run({"a": one(5.0), "b": one(2.0)}).reason, hide=True) == "got 5.0, expected 1.0"
    noted = Cases(["a", "b"], [lambda v: Note("a list, accepted"), lambda v: None]).run(
        {"a": one(1), "b": one(2)})
    assert noted.passed and noted.reason == "a list, accepted"
    typed = Cases(["a"], [lambda o: None if o.type == "builtins.float" else "not a float"], outcomes=True)
    assert typed.run({"a": one(1.0, "builtins.float")}).passed
    assert render(typed.run({"a": one(1, "builtins.int")}).reason, hide=True) == "not a float"


@pytest.mark.parametrize("args, kwargs", [
    (("a", [lambda v: None]), {}),                         # probes as one string
    (([], []), {}),                                         # no case
    ((["a", "b"], [lambda v: None]), {}),                   # a judge missing
    ((["a"], ["not callable"]), {}),
    ((["a"], [lambda v: None]), {"details": ["x", "y"]}),  # details do not match the cases
])
def test_cases_refuses_malformed_arguments(args, kwargs):
    from graders.checks import Cases

    with pytest.raises(ValueError):
        Cases(*args, **kwargs)


def test_a_check_table_prefixes_ids_and_takes_depends_from_the_first_probe():
    from graders.checks import Exact
    from graders.part import CheckTable
    from graders.probe.spec import Probe

    table = CheckTable("partx", {"outer": ("inner",)}, timeout=90.0)
    first = table.add("outer", [Probe("partx.outer", "outer", (1,))], Exact("partx.outer", 2), "outer(1) is 2")
    second = table.add("inner", [Probe("partx.inner", "inner", (1,))], Exact("partx.inner", 1), "inner(1) is 1",
                       public=False, timeout=5.0)
    assert table.checks == [first, second]
    assert (first.id, first.part, first.depends, first.timeout, first.public) == ("partx.outer", "partx", ("inner",),
                                                                                 90.0, True)
    assert (second.id, second.depends, second.timeout, second.public) == ("partx.inner", (), 5.0, False)
    with pytest.raises(ValueError):
        table.add("empty", [], Exact("p", 1), "no probe")
    with pytest.raises(ValueError):
        CheckTable("")
