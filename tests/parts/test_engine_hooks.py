"""Fair verdicts that rest on pieces of the engine (kernel runtime, ``Check.run``):

* kernel observer ``input_gradients`` — a float computed outside autograd and wrapped in
  ``torch.tensor`` is not a differentiable reward-model loss;
* kernel observer ``arguments`` — a filter that changes its ``logits`` in place breaks "not modified";
* kernel encoding of plotly figures (``to_plotly_json``) — a plotly bar chart is graded like a
  matplotlib one;
* ``Check.run`` calling ``graders.calls.explain_call`` — a call that raised is described
  with the arguments the grader passed.
"""
from __future__ import annotations

import inspect

import pytest

from helpers import assert_mistakes_cost_their_items, grade, mutant, solved_notebook


@pytest.fixture(scope="module")
def references():
    return {}


def _reference(references, part):
    if part not in references:
        references[part] = grade(part, solved_notebook(part))
    return references[part]


def test_a_loss_wrapped_in_torch_tensor_is_not_differentiable(references):
    mistakes = {"loss_computed_outside_autograd": (
        [("    return per_prompt.mean()", "    return torch.tensor(float(per_prompt.mean()))")],
        {"theory.q1a.auto"}, {"theory.q1a.reward_model_loss.public", "theory.q1a.reward_model_loss.hidden"}, set())}
    result = assert_mistakes_cost_their_items("theory", _reference(references, "theory"), mistakes,
                                              label="theory-not-differentiable")
    reason = {c.id: c.reason for i in result.items for c in i.checks}["theory.q1a.reward_model_loss.public"]
    assert "the result is not differentiable" in reason


def test_a_filter_that_changes_its_logits_in_place_loses_its_item(references):
    mistakes = {"top_k_filter_in_place": (
        [('    return logits.masked_fill(logits < kth_value, float("-inf"))',
          '    return logits.masked_fill_(logits < kth_value, float("-inf"))')],
        {"part4.top_k"}, {"part4.top_k_filter", "part4.top_k_filter.hidden"}, {"part4.tree_search"})}
    result = assert_mistakes_cost_their_items("part4", _reference(references, "part4"), mistakes,
                                              label="part4-in-place")
    assert "in place" in {c.id: c.reason for i in result.items for c in i.checks}["part4.top_k_filter"]


def test_a_plotly_bar_chart_gets_full_marks(references):
    plotly_plot = '''    import plotly.graph_objects as go
    fig = go.Figure(go.Bar(x=[str(name) for name in summary.index], y=list(summary["mean"])))
    fig.add_hline(y=0.5, line_dash="dash")
    return fig'''
    reference_plot = inspect.getsource(__import__("reference.part1", fromlist=["x"]).plot_summary)
    body = reference_plot[reference_plot.index("    fig, ax = plt.subplots"):].rstrip("\n")
    result = grade("part1", mutant("part1", [(body, plotly_plot)], label="part1-plotly"))
    checks = {c.id: c for i in result.items for c in i.checks}
    assert checks["part1.summarize.plot"].passed, checks["part1.summarize.plot"].reason


def test_a_call_that_raised_is_described_with_its_arguments(references):
    mistakes = {"get_log_prob_for_the_model_output": (
        [("    log_probs = torch.log_softmax(logits, dim=-1)\n    return float(log_probs[int(token_id)])",
          "    log_probs = torch.log_softmax(logits[0, -1, :], dim=-1)\n    return float(log_probs[int(token_id)])")],
        {"part4.get_log_prob"}, {"part4.get_log_prob"}, set())}
    result = assert_mistakes_cost_their_items("part4", _reference(references, "part4"), mistakes,
                                              label="part4-raised")
    reason = {c.id: c.reason for i in result.items for c in i.checks}["part4.get_log_prob"]
    assert "`get_log_prob` was called with logits = a torch.Tensor of shape [" in reason
    assert "not the model's [1, seq, vocab] output" in reason
