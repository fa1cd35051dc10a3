"""Reference solution of the theory notebook (``assignments/theory.ipynb``).

Three kinds of content, all pulled into the notebook by ``tools/build_notebooks.py``:

* the symbols and helpers of the notebook's locked cell (copied here verbatim; a test checks);
* the answers ``Q1a_…`` … ``Q2c_…``: sympy expressions built only from those symbols and helpers,
  each a self-contained module-level assignment (the notebook shows the student ``NAME = None``);
* the numeric companions ``reward_model_loss``, ``dpo_loss`` and ``kl_estimators`` (torch).

The answers are checked against independent derivations (sympy differentiation, series, the
Lagrangian) in ``tests/parts/test_theory_reference.py``, and ``dpo_loss`` against TRL.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# ---- the notebook's locked cell "symbols" (verbatim) -------------------------------------------
import sympy as sp
from sympy import Matrix, Rational, binomial, diff, exp, limit, log, oo, simplify, sqrt, symbols

# Q1a: the reward model
K = sp.Symbol("K", integer=True, positive=True)             # responses ranked for one prompt
Delta = sp.Symbol("Delta", real=True)                       # r_theta(x, y_w) - r_theta(x, y_l)
# Q1b: the RLHF objective
r = sp.Symbol("r", real=True)                               # r_theta(x, y) of one sampled y
beta = sp.Symbol("beta", positive=True)                     # the KL coefficient
pi_RL, pi_SFT = sp.symbols("pi_RL pi_SFT", positive=True)   # pi_RL(y|x), pi_SFT(y|x) of that y
p_RL, p_SFT = sp.symbols("p_RL p_SFT", positive=True)       # two-outcome policies: P(y1) under each
# Q1c, Q1d, Q2c: a softmax policy over three outcomes y1, y2, y3
phi1, phi2, phi3 = sp.symbols("phi1 phi2 phi3", real=True)  # its logits
r1, r2, r3 = sp.symbols("r1 r2 r3", real=True)              # fixed rewards of y1, y2, y3
G1, G2, G3 = sp.symbols("G1 G2 G3", real=True)              # returns of y1, y2, y3
G = sp.Symbol("G", real=True)                               # the return of one sampled outcome
# Q1e, Q1f: KL estimators, at one sample x ~ q
p, q = sp.symbols("p q", positive=True)                     # p(x) and q(x)
# Q2a: a policy, a reference policy and rewards on three outcomes
pi1, pi2, pi3 = sp.symbols("pi1 pi2 pi3", positive=True)
pi_ref1, pi_ref2, pi_ref3 = sp.symbols("pi_ref1 pi_ref2 pi_ref3", positive=True)
# Q2b: DPO
Z = sp.Symbol("Z", positive=True)                           # the partition function Z(x)
pi_theta, pi_ref = sp.symbols("pi_theta pi_ref", positive=True)   # pi_theta(y|x), pi_ref(y|x)
pi_w, pi_l = sp.symbols("pi_w pi_l", positive=True)         # pi_theta(y_w|x), pi_theta(y_l|x)
ref_w, ref_l = sp.symbols("ref_w ref_l", positive=True)     # pi_ref(y_w|x), pi_ref(y_l|x)
# Q2c: the DPO gradient
logp_w, logp_l = sp.symbols("logp_w logp_l", real=True)     # log pi_theta(y_w|x), log pi_theta(y_l|x)
logref_w, logref_l = sp.symbols("logref_w logref_l", real=True)   # log pi_ref(y_w|x), log pi_ref(y_l|x)
rhat_w, rhat_l = sp.symbols("rhat_w rhat_l", real=True)     # implicit rewards of y_w and y_l


def sigmoid(x):
    """The logistic function 1 / (1 + exp(-x)) as a sympy expression."""
    return 1 / (1 + sp.exp(-x))


def softmax(logits):
    """A list of softmax probabilities (sympy expressions) of a list of logits."""
    return [sp.exp(z) / sum(sp.exp(w) for w in logits) for z in logits]


def kl(P, Q):
    """KL(P || Q) = sum_i P[i] * log(P[i] / Q[i]) for two sequences of probabilities."""
    return sum(a * sp.log(a / b) for a, b in zip(P, Q))


pi_phi = softmax([phi1, phi2, phi3])                        # [pi_phi(y1), pi_phi(y2), pi_phi(y3)]
# ---- end of the locked cell ----------------------------------------------------------------------


# ---- Q1a -----------------------------------------------------------------------------------------
Q1a_num_pairs = K * (K - 1) / 2

Q1a_dloss = sigmoid(Delta) - 1

Q1a_dloss_limits = (sp.Integer(0), sp.Integer(-1))


def reward_model_loss(rewards_ranked):
    """Pairwise ranking loss of a reward model, over every pair of a K-way ranking.

    Args:
        rewards_ranked: float ``torch.Tensor`` of shape ``[B, K]`` with ``K >= 2``. Row ``b`` holds
            the scores r_theta(x_b, y) of the K responses to prompt ``x_b``, sorted by human
            preference: column 0 is the most preferred response, column K-1 the least.

    Returns:
        A 0-d float ``torch.Tensor`` (differentiable): the mean over the B prompts of
        ``-(1 / C(K, 2)) * sum_{i < j} log(sigmoid(r[b, i] - r[b, j]))``.
    """
    B, K = rewards_ranked.shape
    winner, loser = torch.triu_indices(K, K, offset=1)
    margins = rewards_ranked[:, winner] - rewards_ranked[:, loser]
    per_prompt = -F.logsigmoid(margins).sum(dim=1) / (K * (K - 1) / 2)
    return per_prompt.mean()


# ---- Q1b -----------------------------------------------------------------------------------------
Q1b_shaped_reward = r - beta * log(pi_RL / pi_SFT)

Q1b_kl_two_outcomes = p_RL * log(p_RL / p_SFT) + (1 - p_RL) * log((1 - p_RL) / (1 - p_SFT))


# ---- Q1c -----------------------------------------------------------------------------------------
Q1c_expected_reward = r1 * pi_phi[0] + r2 * pi_phi[1] + r3 * pi_phi[2]

Q1c_grad = Matrix([
    pi_phi[0] * (r1 - Q1c_expected_reward),
    pi_phi[1] * (r2 - Q1c_expected_reward),
    pi_phi[2] * (r3 - Q1c_expected_reward),
])


# ---- Q1d -----------------------------------------------------------------------------------------
Q1d_score = Matrix(3, 3, lambda a, i: (1 if a == i else 0) - pi_phi[i])

Q1d_policy_gradient = (pi_phi[0] * G1 * Q1d_score[0, :] + pi_phi[1] * G2 * Q1d_score[1, :]
                       + pi_phi[2] * G3 * Q1d_score[2, :]).T

Q1d_surrogate = G * log(pi_phi[1])


# ---- Q1e -----------------------------------------------------------------------------------------
Q1e_k2 = (log(q) - log(p)) ** 2 / 2


# ---- Q1f -----------------------------------------------------------------------------------------
Q1f_k3 = p / q - 1 - log(p / q)


def kl_estimators(logq, logp):
    """Per-sample estimators of KL(q || p) from samples x_i ~ q.

    Args:
        logq: float ``torch.Tensor`` of shape ``[N]``, ``log q(x_i)``.
        logp: float ``torch.Tensor`` of shape ``[N]``, ``log p(x_i)`` at the same samples.

    Returns:
        A tuple ``(k1, k2, k3)`` of three float ``torch.Tensor`` of shape ``[N]``: the value of each
        estimator at each sample, with rho = p(x_i) / q(x_i) — ``k1 = -log rho`` (the plain estimator),
        ``k2`` the estimator of Q1e (with the constant you found there) and ``k3`` the unbiased
        estimator of Q1f. Their means over the samples are the three estimates of KL(q || p).
    """
    log_ratio = logp - logq
    k1 = -log_ratio
    k2 = 0.5 * log_ratio ** 2
    k3 = torch.expm1(log_ratio) - log_ratio
    return k1, k2, k3


# ---- Q2a -----------------------------------------------------------------------------------------
Q2a_Z = pi_ref1 * exp(r1 / beta) + pi_ref2 * exp(r2 / beta) + pi_ref3 * exp(r3 / beta)

Q2a_pi_star = Matrix([
    pi_ref1 * exp(r1 / beta) / Q2a_Z,
    pi_ref2 * exp(r2 / beta) / Q2a_Z,
    pi_ref3 * exp(r3 / beta) / Q2a_Z,
])

Q2a_kl_form = kl([pi1, pi2, pi3], Q2a_pi_star) - log(Q2a_Z)


# ---- Q2b -----------------------------------------------------------------------------------------
Q2b_reward = beta * log(pi_theta / pi_ref) + beta * log(Z)

Q2b_preference = sigmoid(beta * log(pi_w / ref_w) - beta * log(pi_l / ref_l))

Q2b_loss = -log(sigmoid(beta * log(pi_w / ref_w) - beta * log(pi_l / ref_l)))


def dpo_loss(policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta):
    """The DPO loss of a batch of preference pairs, and the implicit rewards.

    Args:
        policy_chosen_logps: float ``torch.Tensor`` of shape ``[B]``, log pi_theta(y_w | x) of each
            pair's chosen response (summed over its tokens).
        policy_rejected_logps: float ``torch.Tensor`` ``[B]``, log pi_theta(y_l | x).
        ref_chosen_logps: float ``torch.Tensor`` ``[B]``, log pi_ref(y_w | x).
        ref_rejected_logps: float ``torch.Tensor`` ``[B]``, log pi_ref(y_l | x).
        beta: Python float > 0.

    Returns:
        A tuple ``(losses, chosen_rewards, rejected_rewards)`` of three float ``torch.Tensor`` of
        shape ``[B]``: ``losses[i]`` is the DPO loss of pair i as derived in Q2b (per pair, not
        averaged); ``chosen_rewards = beta * (policy_chosen_logps - ref_chosen_logps)`` and
        ``rejected_rewards = beta * (policy_rejected_logps - ref_rejected_logps)`` are the implicit
        rewards of the two responses.
    """
    chosen_logratios = policy_chosen_logps - ref_chosen_logps
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    chosen_rewards = beta * chosen_logratios.detach()
    rejected_rewards = beta * rejected_logratios.detach()
    return losses, chosen_rewards, rejected_rewards


# ---- Q2c -----------------------------------------------------------------------------------------
Q2c_weight = sigmoid(rhat_l - rhat_w)

Q2c_dlogp = Matrix([
    -beta * sigmoid(beta * (logp_l - logref_l) - beta * (logp_w - logref_w)),
    beta * sigmoid(beta * (logp_l - logref_l) - beta * (logp_w - logref_w)),
])

Q2c_grad = -beta * sigmoid(beta * log(pi_phi[1] / pi_ref2) - beta * log(pi_phi[0] / pi_ref1)) * Matrix([1, -1, 0])


# ---- Helpers for graders and tests (not part of the notebook) -----------------------------------

def reward_model_loss_gradient(rewards_ranked):
    """The gradient of ``reward_model_loss`` with respect to ``rewards_ranked`` (float64, as a numpy
    array): what a differentiable student loss must give, by autograd, in the kernel."""
    ranked = torch.as_tensor(rewards_ranked).detach().to(torch.float64).requires_grad_(True)
    reward_model_loss(ranked).backward()
    return ranked.grad.numpy()
