"""Grader validity for the theory notebook, on executed notebooks.

The solved notebook earns every automatic point, the blank one none; each realistic wrong answer
(a textual bug injected into the solved notebook) costs points on its own sub-question and nowhere
else; a notebook full of equivalent-but-different correct forms earns every automatic point; a
notebook with hostile expressions is refused on those answers only. Each notebook is executed once
per session (``tests.helpers`` memoises). Faster, finer checks on single answers without a kernel
are in ``test_theory_checks.py``.
"""
from __future__ import annotations

import pytest

from helpers import (assert_mistakes_cost_their_items, auto_max, blank_notebook, grade, item_scores, lost_items,
                     mutant, solved_notebook)

PART = "theory"


def _checks(result) -> dict:
    return {c.id: c for item in result.items for c in item.checks}


@pytest.fixture(scope="module")
def reference():
    return grade(PART, solved_notebook(PART))


def test_solved_notebook_gets_every_automatic_point(reference):
    assert reference.auto_total == pytest.approx(auto_max(reference))
    failed = {c.id: c.reason for c in _checks(reference).values() if not c.passed}
    assert failed == {}
    statuses = {i.id: i.status for i in reference.items}
    assert {s for i, s in statuses.items() if i.endswith(".written")} == {"manual-pending"}
    assert {s for i, s in statuses.items() if i.endswith(".auto")} == {"passed"}
    # ran cleanly: no cell failed
    assert reference.parts[PART].execution.cells_failed == 0


def test_blank_notebook_gets_nothing():
    result = grade(PART, blank_notebook(PART))
    assert result.auto_total == 0
    assert all(score == 0 for score in item_scores(result).values())
    reasons = {c.id: c.reason for c in _checks(result).values()}
    assert "still None" in reasons["theory.q1a.dloss"]
    assert "NotImplementedError" in reasons["theory.q2b.dpo_loss.public"]


#: realistic wrong answers: (label, replacements in the solved notebook, the only item that loses)
BUGS = [
    ("dloss-sign", [("Q1a_dloss = sigmoid(Delta) - 1", "Q1a_dloss = 1 - sigmoid(Delta)")], "theory.q1a.auto"),
    ("rm-loss-normalised-by-K", [("per_prompt = -F.logsigmoid(margins).sum(dim=1) / (K * (K - 1) / 2)",
                                  "per_prompt = -F.logsigmoid(margins).sum(dim=1) / K")], "theory.q1a.auto"),
    ("shaped-reward-sign", [("Q1b_shaped_reward = r - beta * log(pi_RL / pi_SFT)",
                             "Q1b_shaped_reward = r + beta * log(pi_RL / pi_SFT)")], "theory.q1b.auto"),
    ("grad-without-pi", [("pi_phi[0] * (r1 - Q1c_expected_reward),", "(r1 - Q1c_expected_reward),"),
                         ("pi_phi[1] * (r2 - Q1c_expected_reward),", "(r2 - Q1c_expected_reward),"),
                         ("pi_phi[2] * (r3 - Q1c_expected_reward),", "(r3 - Q1c_expected_reward),")],
     "theory.q1c.auto"),
    ("score-wrong-index", [("(1 if a == i else 0) - pi_phi[i]", "(1 if a == i else 0) - pi_phi[a]")],
     "theory.q1d.auto"),
    ("k2-without-half", [("Q1e_k2 = (log(q) - log(p)) ** 2 / 2", "Q1e_k2 = (log(q) - log(p)) ** 2"),
                         ("k2 = 0.5 * log_ratio ** 2", "k2 = log_ratio ** 2")], "theory.q1e.auto"),
    ("k3-terms-swapped", [("Q1f_k3 = p / q - 1 - log(p / q)", "Q1f_k3 = q / p - 1 - log(q / p)"),
                          ("k3 = torch.expm1(log_ratio) - log_ratio", "k3 = torch.expm1(-log_ratio) + log_ratio")],
     "theory.q1f.auto"),
    ("pi-star-unnormalised", [("pi_ref1 * exp(r1 / beta) / Q2a_Z,", "pi_ref1 * exp(r1 / beta),"),
                              ("pi_ref2 * exp(r2 / beta) / Q2a_Z,", "pi_ref2 * exp(r2 / beta),"),
                              ("pi_ref3 * exp(r3 / beta) / Q2a_Z,", "pi_ref3 * exp(r3 / beta),")],
     "theory.q2a.auto"),
    ("gibbs-without-beta", [("exp(r1 / beta)", "exp(r1)"), ("exp(r2 / beta)", "exp(r2)"),
                            ("exp(r3 / beta)", "exp(r3)")], "theory.q2a.auto"),
    ("dpo-missing-beta", [("Q2b_loss = -log(sigmoid(beta * log(pi_w / ref_w) - beta * log(pi_l / ref_l)))",
                           "Q2b_loss = -log(sigmoid(log(pi_w / ref_w) - log(pi_l / ref_l)))"),
                          ("losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))",
                           "losses = -F.logsigmoid(chosen_logratios - rejected_logratios)")], "theory.q2b.auto"),
    ("reward-without-log-Z", [("Q2b_reward = beta * log(pi_theta / pi_ref) + beta * log(Z)",
                               "Q2b_reward = beta * log(pi_theta / pi_ref)")], "theory.q2b.auto"),
    ("gradient-without-sigma-weight", [(
        "Q2c_grad = -beta * sigmoid(beta * log(pi_phi[1] / pi_ref2) - beta * log(pi_phi[0] / pi_ref1)) * Matrix([1, -1, 0])",
        "Q2c_grad = -beta * Matrix([1, -1, 0])")], "theory.q2c.auto"),
    ("weight-rewards-swapped", [("Q2c_weight = sigmoid(rhat_l - rhat_w)", "Q2c_weight = sigmoid(rhat_w - rhat_l)")],
     "theory.q2c.auto"),
]


@pytest.mark.parametrize("label,replacements,item", BUGS, ids=[b[0] for b in BUGS])
def test_each_bug_costs_points_on_its_own_item_only(reference, label, replacements, item):
    result = grade(PART, mutant(PART, replacements, label=f"theory-{label}"))
    assert lost_items(result, reference) == {item}
    assert result.parts[PART].execution.cells_failed == 0


# mistakes graded together: name → (replacements, own items, checks that must fail, carried items)
MISTAKES = {
    "losses_averaged": (
        [("    return losses, chosen_rewards, rejected_rewards", "    return losses.mean(), chosen_rewards, rejected_rewards")],
        {"theory.q2b.auto"}, {"theory.q2b.dpo_loss.public", "theory.q2b.dpo_loss.hidden"}, set()),
    "beta_rebound_to_a_number": (  # the answers built after it hold 0.1 where beta belongs
        [("Q2c_weight = sigmoid(rhat_l - rhat_w)", "beta = 0.1\nQ2c_weight = sigmoid(rhat_l - rhat_w)")],
        {"theory.q2c.auto"}, {"theory.q2c.dlogp", "theory.q2c.softmax_grad"}, set()),
    "k2_written_with_the_reward_symbol": (  # r is Q1b's reward, not p/q
        [("Q1e_k2 = (log(q) - log(p)) ** 2 / 2", "Q1e_k2 = log(r) ** 2 / 2")],
        {"theory.q1e.auto"}, {"theory.q1e.k2", "theory.q1e.k2_second_order"}, set()),
}


def test_mistakes_cost_their_own_items_with_reasons_to_act_on(reference):
    result = assert_mistakes_cost_their_items(PART, reference, MISTAKES, label="theory-mistakes")
    reasons = {c.id: c.reason for c in _checks(result).values()}
    assert reasons["theory.q2b.dpo_loss.public"] == "dpo_loss: `losses` has shape (), expected (4,)"
    assert "`beta` (now a float)" in reasons["theory.q2c.dlogp"]
    assert "r (the reward r_theta(x, y) of Q1b)" in reasons["theory.q1e.k2"]


#: correct answers written differently from the reference (one notebook holds them all)
ALTERNATIVES = [
    ("Q1a_num_pairs = K * (K - 1) / 2", "Q1a_num_pairs = binomial(K, 2)"),
    ("Q1a_dloss = sigmoid(Delta) - 1", "Q1a_dloss = -sigmoid(-Delta)"),
    ("Q1a_dloss_limits = (sp.Integer(0), sp.Integer(-1))",
     "Q1a_dloss_limits = [limit(diff(-log(sigmoid(Delta)), Delta), Delta, oo), "
     "limit(diff(-log(sigmoid(Delta)), Delta), Delta, -oo)]"),
    ("Q1b_shaped_reward = r - beta * log(pi_RL / pi_SFT)",
     "Q1b_shaped_reward = r - beta * log(pi_RL) + beta * log(pi_SFT)"),
    ("Q1c_grad = Matrix([", "Q1c_grad = [diff(Q1c_expected_reward, v) for v in (phi1, phi2, phi3)]\n_unused = Matrix(["),
    ("Q1d_score = Matrix(3, 3, lambda a, i: (1 if a == i else 0) - pi_phi[i])",
     "Q1d_score = Matrix(3, 3, lambda a, i: diff(log(pi_phi[a]), [phi1, phi2, phi3][i]))"),
    ("Q1d_surrogate = G * log(pi_phi[1])",
     "Q1d_surrogate = G * (phi2 - log(exp(phi1) + exp(phi2) + exp(phi3))) + 7"),
    ("Q1e_k2 = (log(q) - log(p)) ** 2 / 2", "Q1e_k2 = 0.5 * log(q / p) ** 2"),
    ("Q1f_k3 = p / q - 1 - log(p / q)", "Q1f_k3 = exp(log(p) - log(q)) - 1 - (log(p) - log(q))"),
    ("pi_ref1 * exp(r1 / beta) / Q2a_Z,", "exp(log(pi_ref1) + r1 / beta) / Q2a_Z,"),
    ("Q2b_loss = -log(sigmoid(beta * log(pi_w / ref_w) - beta * log(pi_l / ref_l)))",
     "Q2b_loss = log(1 + exp(-(beta * log(pi_w / ref_w) - beta * log(pi_l / ref_l))))"),
    ("Q2c_weight = sigmoid(rhat_l - rhat_w)",
     "rhat_w, rhat_l = symbols('rhat_w rhat_l')  # re-declared without assumptions\n"
     "Q2c_weight = 1 - sigmoid(rhat_w - rhat_l)"),
    # numeric companions written differently
    ("losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))",
     "losses = -torch.log(torch.sigmoid(beta * (chosen_logratios - rejected_logratios)))"),
    ("chosen_rewards = beta * chosen_logratios.detach()", "chosen_rewards = beta * chosen_logratios"),
    ("k3 = torch.expm1(log_ratio) - log_ratio", "k3 = torch.exp(logp - logq) - 1 - (logp - logq)"),
    ("k2 = 0.5 * log_ratio ** 2", "k2 = (logq - logp) ** 2 / 2"),
    ("per_prompt = -F.logsigmoid(margins).sum(dim=1) / (K * (K - 1) / 2)\n    return per_prompt.mean()",
     "total = 0.0\n    for b in range(B):\n        for i in range(K):\n            for j in range(i + 1, K):\n"
     "                total = total - torch.log(torch.sigmoid(rewards_ranked[b, i] - rewards_ranked[b, j]))\n"
     "    return total / (B * math.comb(K, 2))"),
]


def test_equivalent_correct_forms_get_full_marks(reference):
    result = grade(PART, mutant(PART, ALTERNATIVES, label="theory-alternatives"))
    failed = {c.id: c.reason for c in _checks(result).values() if not c.passed}
    assert failed == {}
    assert result.auto_total == pytest.approx(auto_max(result))


HOSTILE = [
    # a huge power: must be refused before anything evaluates it
    ("Q1a_dloss = sigmoid(Delta) - 1",
     "Q1a_dloss = sp.Mul(sp.Pow(sp.Integer(2), sp.Integer(10) ** 100, evaluate=False), Delta, evaluate=False)"),
    # deep nesting, under the transport's limit but far beyond any real answer
    ("Q1e_k2 = (log(q) - log(p)) ** 2 / 2",
     "Q1e_k2 = q\nfor _ in range(150):\n    Q1e_k2 = exp(Q1e_k2)"),
    # deeper than the kernel may send
    ("Q1f_k3 = p / q - 1 - log(p / q)", "Q1f_k3 = q\nfor _ in range(400):\n    Q1f_k3 = exp(Q1f_k3)"),
    # too many nodes
    ("Q2b_loss = -log(sigmoid(beta * log(pi_w / ref_w) - beta * log(pi_l / ref_l)))",
     "Q2b_loss = sp.Add(*[sp.Symbol(f'junk{i}') for i in range(30000)], evaluate=False)"),
]


def test_hostile_expressions_are_refused_with_a_reason(reference):
    result = grade(PART, mutant(PART, HOSTILE, label="theory-hostile"))
    assert lost_items(result, reference) == {"theory.q1a.auto", "theory.q1e.auto", "theory.q1f.auto",
                                             "theory.q2b.auto"}
    checks = _checks(result)
    assert "exponent too large" in checks["theory.q1a.dloss"].reason
    assert "nested too deeply" in checks["theory.q1e.k2"].reason
    assert "nested too deeply" in checks["theory.q1f.k3"].reason
    assert "nodes" in checks["theory.q2b.loss"].reason
    for cid in ("theory.q1a.dloss", "theory.q1e.k2", "theory.q1f.k3", "theory.q2b.loss"):
        assert checks[cid].status == "failed"  # the student's answer is wrong, not "cannot grade"
