"""Fair verdicts on single values, without a kernel (fast): non-answers earn no property points,
reasons name what a student must change (the tuple member, the BLEU ingredient, the arguments of a
call that raised, a rebound symbol), equivalent containers pass with a note, and a plotly figure
is read like a matplotlib one."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch

from graders.checks.figure import FigureCheck, figure_data, horizontal_lines
from graders.checks.rules import AllOf, Note, Property
from graders.checks.statistical import SamplerFits
from graders.checks.values import members_problem, non_answer, python_float_problem
from graders import calls
from graders.parts import part1, part3, part4
from graders.checks.symbolic import Symbolic, rebound_note
from graders.probe.spec import Probe, causal_lm
from graders.probe.transport import FigureData, KernelArray, Outcome
from graders.reasons import render


def arr(values, source="torch.Tensor", dtype=None):
    a = np.asarray(values, dtype=dtype).view(KernelArray)
    a.source = source
    return a


def outcomes(**values):
    return {k: Outcome(k, True, value=v, type="") for k, v in values.items()}


# ---- non-answers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("answers, why", [
    ([arr(np.zeros((3, 4)))], "zero everywhere"),
    ([arr(np.full(5, 0.25))], "the same"),
    ([arr([0.0, 1.0, 0.0]), arr([1.0, 0.0])], "one-hot"),
    ([{"A": 0.5, "B": 0.5}, {"A": 0.5, "B": 0.5}], "whatever the input"),
    ([{"A": 1.0, "B": 0.0}, {"A": 1.0, "B": 0.0}, {"A": 1.0, "B": 0.0}], "whatever the input"),
    ([arr(np.full((2, 3), 1.5)), arr(np.full(4, -0.2))], "constant array"),
])
def test_non_answers_are_named(answers, why):
    assert why in non_answer(answers)


@pytest.mark.parametrize("answers", [
    [arr(np.random.default_rng(0).normal(size=(3, 4)))],
    [{"A": 0.51, "B": 0.49}, {"A": 0.47, "B": 0.53}],
    [arr([0.2, 0.8]), arr([0.3, 0.7])],
    [0.0],                      # one number alone says nothing
    ["text", None],             # no numbers at all
])
def test_real_answers_pass_the_gate(answers):
    assert non_answer(answers) is None


def test_a_property_check_pays_nothing_for_a_non_answer_and_keeps_its_own_reason_first():
    sums_to_one = Property(["p"], lambda v: None if abs(sum(v.values()) - 1) < 1e-9 else "does not sum to 1",
                           gate=True, what="the probabilities")
    assert sums_to_one.run(outcomes(p={"A": 0.3, "B": 0.7})).passed
    verdict = sums_to_one.run(outcomes(p={"A": 1.0, "B": 0.0}))
    assert not verdict.passed and "the probabilities is not an answer yet (it is a one-hot" in verdict.reason
    assert sums_to_one.run(outcomes(p={"A": 0.9, "B": 0.9})).reason == "does not sum to 1"


def test_the_sympy_rule_refuses_an_answer_without_its_symbols():
    p, q = sp.symbols("p q", positive=True)
    nonnegative = lambda v: None  # noqa: E731  (a property every constant >= 0 has)
    rule = Symbolic(["a"], nonnegative, what="`Q1f_k3`", symbols=("p", "q"), timeout=20)
    assert rule.run(outcomes(a=p / q - 1 - sp.log(p / q))).passed
    for constant in (sp.Integer(0), 0, sp.Integer(3), sp.Matrix([1, 0, 0])):
        verdict = rule.run(outcomes(a=constant))
        assert not verdict.passed and "does not depend on any of its symbols (p, q)" in verdict.reason
    assert Symbolic(["a"], nonnegative, symbols=(), timeout=20).run(outcomes(a=sp.Integer(0))).passed


def test_a_rebound_symbol_is_named_in_the_reason():
    beta = sp.Symbol("beta", positive=True)
    found = {"b": Outcome("b", True, value=0.1, type="builtins.float"),
             "k": Outcome("k", True, value=sp.Symbol("K"), type="sympy.core.symbol.Symbol")}
    note = rebound_note(found, {"beta": "b", "K": "k"})
    assert "`beta` (now a float)" in note and "`K`" not in note
    assert rebound_note({"b": Outcome("b", True, value=beta, type="sympy.core.symbol.Symbol")}, {"beta": "b"}) == ""


# ---- reasons -------------------------------------------------------------------------------------

def test_a_wrong_tuple_member_is_named_with_its_shape():
    expected = (np.zeros(4), np.ones(4), np.full(4, 2.0))
    names = ("losses", "chosen_rewards", "rejected_rewards")
    got = (arr(np.zeros(4)), arr([1.0, 1.0, 1.5, 1.0]), arr(np.full(4, 2.0)))
    assert members_problem(got, expected, names, rtol=1e-6, atol=1e-9).startswith("`chosen_rewards`: 1 of 4")
    got = (arr(np.zeros((4, 1))), arr(np.ones(4)), arr(np.full(4, 2.0)))
    assert members_problem(got, expected, names, rtol=1e-6, atol=1e-9) == "`losses` has shape (4, 1), expected (4,)"
    assert "(losses, chosen_rewards, rejected_rewards)" in members_problem(arr(np.zeros(4)), expected, names,
                                                                           rtol=1e-6, atol=1e-9)


def test_python_float_is_required_where_promised():
    assert python_float_problem(0.5, "score") is None
    assert python_float_problem(arr(0.5, source="numpy.float64"), "score") is None
    assert python_float_problem(arr(0.5), "score") == \
        "score should be a Python float, got a 0-d torch.Tensor (float64) (use float(...))"


def test_bleu_reasons_give_inputs_ingredients_and_the_mistake():
    from reference import part3 as ref

    preds, refs = ["the the the the cat sat on the mat"], ["the cat sat on the mat"]
    report = ref.bleu_report(preds, refs)
    unclipped = report["variants"]["without clipping the n-gram counts"]
    reason = render(part3.bleu_problem(unclipped, report, (preds, refs)), hide=False)
    assert f"expected {report['bleu']:.6g}" in reason and repr(preds) in reason and repr(refs) in reason
    assert "precisions p1..p4" in reason and "brevity penalty" in reason
    assert reason.endswith("your value is the BLEU computed without clipping the n-gram counts")
    # on a hidden check: the sentence without its values, still naming the mistake
    assert render(part3.bleu_problem(unclipped, report, (preds, refs)), hide=True) == (
        "the BLEU is not the expected one: your value is the BLEU computed without clipping the n-gram counts")
    wrong = part3.bleu_problem(0.123, report, (preds, refs))
    assert render(wrong, hide=False).endswith("compare your precisions and brevity penalty with these")
    assert render(wrong, hide=True) == ("the BLEU is not the expected one: compare your clipped n-gram precisions, sums "
                                        "over the corpus and brevity penalty with the docstring's definitions")
    assert part3.bleu_problem(report["bleu"], report, None) is None
    assert "Python float" in part3.bleu_problem(arr(report["bleu"]), report, None)


def test_the_bleu_variants_are_the_mistakes_they_name():
    from reference import part3 as ref

    preds, refs = ["  the cat\tsat on  the mat ", "a dog runs\nin the  big park"], \
                  ["the cat sat  on the mat", " the dog runs in the big park\t"]
    report = ref.bleu_report(preds, refs)
    assert report["bleu"] == pytest.approx(ref.calculate_bleu_score(preds, refs))
    split_on_space = report["variants"]["with tokens from str.split(' ') (the docstring says str.split(): any run of whitespace)"]
    assert abs(split_on_space - report["bleu"]) > 1e-3  # the public whitespace corpus tells them apart


def test_a_call_that_raised_is_described_with_its_arguments_and_a_hint():
    probe = Probe("x", "get_log_prob", (torch.zeros(57), 12))
    failed = Outcome("x", False, error_type="IndexError", message="too many indices for tensor of dimension 1")
    text = calls.explain_call("part4", probe, failed)
    assert text.startswith("`get_log_prob` was called with logits = a torch.Tensor of shape [57] (float32) "
                           "([vocab_size]: the logits of one position, not the model's [1, seq, vocab] output)")
    assert "token_id = 12" in text and "indexes its input with more dimensions" in text
    sympy_exp = Outcome("x", False, error_type="TypeError", message="Cannot convert expression to float")
    assert "torch.exp" in calls.explain_call("theory", Probe("y", "kl_estimators", (torch.zeros(3), torch.zeros(3))),
                                             sympy_exp)
    assert calls.explain_call("part4", probe, Outcome("x", True, value=1.0)) is None
    assert "a fresh tiny-lm model" in calls.describe_call(Probe("z", "compute_loss", (causal_lm("tiny-lm"), {})))


# ---- equivalent containers ------------------------------------------------------------------------

def test_a_list_of_ids_where_a_longtensor_is_asked_passes_with_a_note():
    judge = part4._greedy_sampling_judge(np.array([4, 1, 7]))
    assert isinstance(judge(Outcome("g", True, value=[4, 1, 7])), Note)
    assert judge(Outcome("g", True, value=arr([4, 1, 7], dtype=np.int64))) is None
    assert judge(Outcome("g", True, value=[4, 7, 1])) == "the right ids in the wrong order: the most probable first"


def test_per_layer_attention_tuples_pass_with_a_note():
    rng = np.random.default_rng(0)
    enc, cross, ids = rng.random((2, 1, 4, 5, 5)), rng.random((2, 1, 4, 3, 5)), np.array([[0, 5, 9]])
    as_tuple = (tuple(arr(layer) for layer in enc), tuple(arr(layer) for layer in cross), arr(ids))
    problem = part3._attention_problem(as_tuple, (enc, cross, ids))
    assert isinstance(problem, Note) and "torch.stack" in problem
    assert part3._attention_problem((arr(enc), arr(cross), arr(ids)), (enc, cross, ids)) is None


def test_a_result_row_as_a_plain_tuple_passes_with_a_note_but_a_tensor_field_does_not():
    rule = part1._pairs_rule(["r"], [(0.7, 0.3)], ["case"])
    assert rule.run(outcomes(r=(0.7, 0.3))).reason.startswith("analysis_result returned a tuple")
    assert rule.run(outcomes(r=(0.7, 0.3))).passed
    assert "p_matching should be a Python float" in rule.run(outcomes(r=(arr(0.7), 0.3))).reason


# ---- samplers: one source of randomness -----------------------------------------------------------

def test_a_sampler_must_repeat_its_draws_with_a_generator_seeded_alike():
    probs = np.array([0.5, 0.3, 0.2])
    rng = np.random.default_rng(1)
    draws = [arr(rng.choice(3, size=2, replace=False, p=probs), dtype=np.int64) for _ in range(2000)]
    rule = SamplerFits("s", probs, 2, replay="again")
    assert rule.run(outcomes(s=draws, again=draws[:20])).passed
    other = [arr(rng.choice(3, size=2, replace=False, p=probs), dtype=np.int64) for _ in range(20)]
    assert "seeded the same way gave other draws" in rule.run(outcomes(s=draws, again=other)).reason
    as_lists = [list(map(int, d)) for d in draws]
    verdict = SamplerFits("s", probs, 2).run(outcomes(s=as_lists))
    assert verdict.passed and "torch.LongTensor" in verdict.reason


def test_a_filter_that_changes_its_argument_in_place_fails():
    logits = np.array([1.0, 3.0, 2.0], dtype=np.float32)
    fine = Outcome("f", True, value=None, observed={"arguments": [logits.tolist(), None]})
    changed = Outcome("f", True, value=None, observed={"arguments": [[-np.inf, 3.0, 2.0], None]})
    assert part4.modified_problem(fine, logits, "top_k_filter") is None
    assert "in place" in part4.modified_problem(changed, logits, "top_k_filter")
    assert part4.modified_problem(Outcome("f", True, value=None), logits, "top_k_filter") is None  # not observed


# ---- plotly figures --------------------------------------------------------------------------------

def _as_sent(fig) -> FigureData:
    """A plotly figure as the kernel sends it: ``to_plotly_json``'s data and layout (template left out)."""
    spec = fig.to_plotly_json()
    layout = {k: v for k, v in spec["layout"].items() if k != "template"}
    return FigureData("plotly", ({"kind": "plotly", "traces": spec["data"], "layout": layout},))


def test_a_plotly_bar_chart_is_read_like_a_matplotlib_one():
    import plotly.graph_objects as go

    summary = part1.PUBLIC_SUMMARY
    fig = go.Figure(go.Bar(x=list(summary.index), y=list(summary["mean"])))
    fig.add_hline(y=0.5)
    data = figure_data(_as_sent(fig))
    assert [b["height"] for b in data.axes[0]["bars"]] == list(summary["mean"])
    assert horizontal_lines(data) == [0.5]
    rule = part1.plot_rule("p", list(summary["mean"]), list(summary.index))
    assert rule.run(outcomes(p=_as_sent(fig))).passed
    fig.layout.shapes = ()
    assert "reference line at 0.5" in rule.run(outcomes(p=_as_sent(fig))).reason


def test_a_plotly_surface_and_heatmap_are_read():
    import plotly.graph_objects as go

    xs, ys = np.array([-0.5, 0.0, 0.4]), np.array([0.1, 0.7])
    Z = np.arange(6.0).reshape(3, 2)
    surface = go.Figure(go.Surface(x=xs, y=ys, z=Z.T))   # plotly: z[j][i] at (x[i], y[j])
    surface.update_layout(scene=dict(xaxis_title="d1", yaxis_title="d2"))
    from graders.parts import part2

    check = FigureCheck("f", part2._surface_problem(xs, ys, Z))
    assert check.run(outcomes(f=_as_sent(surface))).passed
    heat = go.Figure(go.Heatmap(z=np.eye(3)[:2], x=["a", "b", "c"], y=["u", "v"]))
    axes = figure_data(_as_sent(heat)).axes[0]
    assert axes["xticklabels"] == ["a", "b", "c"] and np.asarray(axes["images"][0]).shape == (2, 3)


def test_allof_reports_the_first_failure():
    ok = Property(["a"], lambda v: None)
    bad = Property(["a"], lambda v: "wrong")
    assert AllOf(ok, bad).run(outcomes(a=1)).reason == "wrong"
    assert AllOf(ok, ok).run(outcomes(a=1)).passed
