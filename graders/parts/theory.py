"""Theory: RLHF and DPO — the checks behind its rubric items (see rubric.yaml, part `theory`).

This module is the part's tables of checks (``answer_checks``, ``numeric_checks``, ``build_checks``);
the sympy answers' checks are built in ``theory_answers`` (with the mathematics of
``theory_math``), the numeric companions' and the simulations in ``theory_numeric``.

Three kinds of checks:

* **answers** — a sympy expression the notebook assigns (``Q1a_dloss`` …), read with
  ``read_global`` and compared *mathematically* with the reference's answer
  (``graders.parts.theory_math.same``: random points that respect the symbols' assumptions, then
  ``simplify`` under a time limit). Their expected values are the answers themselves, so these
  checks are hidden (``public=False``): they never ship in a student bundle.
* **verifications** — where a claim can be checked rather than matched, the grader checks it on
  the student's own expression: k3 is exactly unbiased on a three-outcome categorical family and
  non-negative; E_q[k2] equals KL(q‖p) to second order in a perturbation and Var_q[k2] = O(ε⁴);
  π* is normalised and makes the Lagrangian stationary on a three-outcome simplex; the REINFORCE
  identity and the surrogate's gradient on a softmax policy; the objective's KL form on the simplex.
* **numeric companions** — ``reward_model_loss``, ``dpo_loss``, ``kl_estimators`` called on
  fixed (public) and seeded (hidden) tensors and compared with the reference; and the statement's
  claims checked by simulation with a grader seed: the mean of k3 matches the exact KL, and k2 has a
  far smaller variance than k1 (and a small bias) on a close pair of distributions.

Every check belongs to exactly one sub-question's item, so a wrong answer costs points there and
nowhere else.

Non-answers: a verification is evidence only about an answer that is otherwise plausible, so no
answer check pays for an answer built from none of its symbols (``0``, ``Matrix([1, 0, 0])``) —
``Symbolic(symbols=...)`` — and the simulations pay nothing for constant estimators. A symbol the
notebook rebound to a number (``beta = 0.1``) is named in the reason of a failed answer.

Contract clauses → checks (each clause of the notebook's docstrings, and a check that fails an
implementation breaking that clause alone):

* ``reward_model_loss``: ``[B, K]`` with column 0 preferred, every pair ``i < j``, normalised by
  C(K, 2), the mean over prompts → ``theory.q1a.reward_model_loss.public``,
  ``theory.q1a.reward_model_loss.hidden``; a 0-d tensor → ``theory.q1a.reward_model_loss.public``;
  differentiable, with the right gradient → ``theory.q1a.reward_model_loss.public`` (the kernel's
  ``input_gradients`` observer).
* ``dpo_loss``: three tensors ``[B]``, losses per pair (not averaged), the implicit rewards with
  beta → ``theory.q2b.dpo_loss.public``, ``theory.q2b.dpo_loss.hidden``.
* ``kl_estimators``: three tensors ``[N]``; k1 and k2 (constant 1/2) → ``theory.q1e.kl_estimators.public``,
  ``theory.q1e.kl_estimators.hidden``; k3 → ``theory.q1f.kl_estimators.public``,
  ``theory.q1f.kl_estimators.hidden``; the claims of Q1e and Q1f → ``theory.q1e.k2_simulation``,
  ``theory.q1f.k3_simulation``.
* each sympy answer ``Q…`` (its symbols, its form) → the check of the same name in ``answer_checks``.
"""
from __future__ import annotations

import numpy as np

from graders.checks.base import Check
from graders.parts import theory_answers
from graders.part import CheckContext, PartSpec
from graders.parts.theory_answers import (_dpo_grad_check, _k2_taylor_check, _k3_nonnegative_check,
                                          _k3_unbiased_check, _objective_kl_form_check, _pi_star_normalised_check,
                                          _pi_star_stationary_check, _policy_gradient_check, _score_matrix_check,
                                          _surrogate_check, scalar_check, vector_check)
from graders.parts.theory_numeric import (DPO_MEMBERS, KL_MEMBERS, PUBLIC_DPO, PUBLIC_KL, PUBLIC_RANKINGS,
                                          _dpo_cases, _hidden_numeric_inputs, _kl_cases, _rm_cases, _tensor_result,
                                          _tensors, numeric_check, simulation_checks)

#: the numeric companions' arguments, and what the docstring says they are (named when a call
#: raises; see ``graders.calls``)
ARGUMENTS = {
    "reward_model_loss": (("rewards_ranked", "[B, K], column 0 the most preferred"),),
    "dpo_loss": (("policy_chosen_logps", "[B]"), ("policy_rejected_logps", "[B]"), ("ref_chosen_logps", "[B]"),
                 ("ref_rejected_logps", "[B]"), ("beta", "a float")),
    "kl_estimators": (("logq", "[N]"), ("logp", "[N]")),
}
#: the symbols each answer may use (the notebook says the same; declared beside the answers' checks)
ALLOWED = theory_answers.ALLOWED


# ---- the numeric companions ------------------------------------------------------------------------------

def numeric_checks(ctx: CheckContext, ref) -> list[Check]:
    """reward_model_loss, dpo_loss and kl_estimators on the public inputs, then the hidden ones; then
    the simulations (hidden)."""
    checks = []
    sets = [("public", True, PUBLIC_RANKINGS, PUBLIC_DPO, PUBLIC_KL)]
    if ctx.hidden:
        sets.append(("hidden", False, *_hidden_numeric_inputs(ctx)))
    for label, public, rankings, dpo, kls in sets:
        rm_cases = _rm_cases(ref, rankings)
        checks.append(numeric_check(
            f"theory.q1a.reward_model_loss.{label}", "reward_model_loss", rm_cases,
            what="reward_model_loss", public=public, shape=_tensor_result,
            gradients=[np.asarray(ref.reward_model_loss_gradient(args[0])) for args, _ in rm_cases],
            description="Q1a: reward_model_loss over all C(K,2) pairs, differentiable"))
        checks.append(numeric_check(
            f"theory.q2b.dpo_loss.{label}", "dpo_loss", _dpo_cases(ref, dpo), what="dpo_loss",
            members=DPO_MEMBERS, public=public, shape=_tensors(DPO_MEMBERS),
            description="Q2b: dpo_loss per pair, with the implicit rewards"))
        kl_cases = _kl_cases(ref, kls)
        checks.append(numeric_check(
            f"theory.q1e.kl_estimators.{label}", "kl_estimators",
            [(args, exp[:2]) for args, exp in kl_cases], what="kl_estimators", members=KL_MEMBERS[:2],
            public=public, shape=_tensors(KL_MEMBERS), select=lambda v: tuple(v[:2]),
            description="Q1e: the k1 and k2 estimators"))
        checks.append(numeric_check(
            f"theory.q1f.kl_estimators.{label}", "kl_estimators",
            [(args, exp[2:]) for args, exp in kl_cases], what="kl_estimators", members=KL_MEMBERS[2:],
            public=public, shape=_tensors(KL_MEMBERS), select=lambda v: tuple(v[2:]),
            description="Q1f: the k3 estimator"))
    if ctx.hidden:
        checks.extend(simulation_checks(ctx))
    return checks


# ---- all checks ----------------------------------------------------------------------------------------

def answer_checks(ref) -> list[Check]:
    """The sympy answers: matched against the reference, or verified."""
    return [
        # Q1a
        scalar_check("theory.q1a.num_pairs", "Q1a_num_pairs", ref.Q1a_num_pairs,
                     "is not the number of pairs among K ranked responses", "Q1a: C(K, 2)"),
        scalar_check("theory.q1a.dloss", "Q1a_dloss", ref.Q1a_dloss,
                     "is not d/dDelta of -log(sigmoid(Delta))", "Q1a: the gradient of the pair loss"),
        vector_check("theory.q1a.dloss_limits", "Q1a_dloss_limits", list(ref.Q1a_dloss_limits),
                     "is not the right limit of the gradient", "Q1a: the gradient is bounded",
                     labels=["Delta -> +oo", "Delta -> -oo"]),
        # Q1b
        scalar_check("theory.q1b.shaped_reward", "Q1b_shaped_reward", ref.Q1b_shaped_reward,
                     "is not the per-sample reward with its KL penalty", "Q1b: the KL-shaped reward"),
        scalar_check("theory.q1b.kl_two_outcomes", "Q1b_kl_two_outcomes", ref.Q1b_kl_two_outcomes,
                     "is not E_{y ~ pi_RL}[log(pi_RL(y) / pi_SFT(y))] for the two-outcome policies",
                     "Q1b: the penalty's expectation is a KL divergence"),
        # Q1c
        scalar_check("theory.q1c.expected_reward", "Q1c_expected_reward", ref.Q1c_expected_reward,
                     "is not E_{y ~ pi_phi}[r(y)] for the softmax policy", "Q1c: the expected reward"),
        vector_check("theory.q1c.grad", "Q1c_grad", list(ref.Q1c_grad),
                     "is not the derivative of the expected reward", "Q1c: its gradient in phi",
                     labels=["d/dphi1", "d/dphi2", "d/dphi3"]),
        # Q1d
        _score_matrix_check("theory.q1d.score"),
        _policy_gradient_check("theory.q1d.policy_gradient"),
        _surrogate_check("theory.q1d.surrogate"),
        # Q1e
        scalar_check("theory.q1e.k2", "Q1e_k2", ref.Q1e_k2, "is not the k2 estimator", "Q1e: k2"),
        _k2_taylor_check("theory.q1e.k2_second_order"),
        # Q1f
        scalar_check("theory.q1f.k3", "Q1f_k3", ref.Q1f_k3, "is not the k3 estimator", "Q1f: k3"),
        _k3_unbiased_check("theory.q1f.k3_unbiased"),
        _k3_nonnegative_check("theory.q1f.k3_nonnegative"),
        # Q2a
        scalar_check("theory.q2a.partition", "Q2a_Z", ref.Q2a_Z, "is not the partition function Z",
                     "Q2a: the partition function"),
        _objective_kl_form_check("theory.q2a.kl_form"),
        vector_check("theory.q2a.pi_star", "Q2a_pi_star", list(ref.Q2a_pi_star),
                     "is not the optimal policy", "Q2a: pi*",
                     labels=["pi*(y1)", "pi*(y2)", "pi*(y3)"]),
        _pi_star_normalised_check("theory.q2a.pi_star_normalised"),
        _pi_star_stationary_check("theory.q2a.pi_star_stationary"),
        # Q2b
        scalar_check("theory.q2b.reward", "Q2b_reward", ref.Q2b_reward,
                     "is not the reward expressed through the optimal policy", "Q2b: r from pi*"),
        scalar_check("theory.q2b.preference", "Q2b_preference", ref.Q2b_preference,
                     "is not the Bradley-Terry preference probability written with the policies",
                     "Q2b: the preference probability"),
        scalar_check("theory.q2b.loss", "Q2b_loss", ref.Q2b_loss, "is not the DPO loss of one pair",
                     "Q2b: the DPO loss"),
        # Q2c
        scalar_check("theory.q2c.weight", "Q2c_weight", ref.Q2c_weight,
                     "is not the weight of the DPO gradient", "Q2c: the weight sigma(rhat_l - rhat_w)"),
        vector_check("theory.q2c.dlogp", "Q2c_dlogp", list(ref.Q2c_dlogp),
                     "is not the derivative of the DPO loss", "Q2c: dL/dlog pi(y_w), dL/dlog pi(y_l)",
                     labels=["d/dlogp_w", "d/dlogp_l"]),
        _dpo_grad_check("theory.q2c.softmax_grad", ref),
    ]


def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("theory")``."""
    ref = ctx.reference("theory")
    checks = numeric_checks(ctx, ref)
    if ctx.hidden:
        checks.extend(answer_checks(ref))
    return checks


PART = PartSpec(
    name="theory",
    notebook="theory.ipynb",
    title="Theory: RLHF and DPO",
    required_functions=('reward_model_loss', 'dpo_loss', 'kl_estimators'),
    assets=(),
    build_checks=build_checks,
)
