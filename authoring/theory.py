# %% [markdown]
# # LLM HW4 — Theory: RLHF and DPO (35 points)
#
# This notebook is the theory part of the homework. It has two questions: **Q1** is about how a
# model is trained with human feedback (the reward model, the RLHF objective, the policy gradient
# and estimators of the KL penalty); **Q2** derives Direct Preference Optimisation (DPO) from the
# same objective.
#
# Every sub-question is graded in two ways:
#
# * **Written part** (graded by a TA): the explanation or derivation asked for, in the markdown cell
#   marked *Your answer*. Write it in words and LaTeX, as you would on paper.
# * **Answer cells** (graded automatically): you assign **sympy expressions** to named variables,
#   such as `Q1a_dloss = ...`. These are intermediate and final results of the derivation, so a
#   derivation that is right up to some point earns the checkpoints up to that point.
#
# A few functions are also implemented in **torch** (`reward_model_loss`, `dpo_loss`,
# `kl_estimators`) and checked numerically on inputs you do not see.
#
# ### Rules for the answer cells
#
# 1. Build every answer **only from the symbols and helpers of the provided cell below** (it is
#    locked: do not edit it). Each answer says which symbols it may use; using another one fails that
#    answer with a message that names it.
# 2. Any mathematically equivalent form is accepted: answers are compared by evaluating both sides
#    at random points that respect the symbols' assumptions (probabilities in $(0, 1)$, $\beta > 0$,
#    rewards real …) and by `simplify`. You do not need to simplify your answer; `-log(sigmoid(x))`
#    and `log(1 + exp(-x))` are both fine.
# 3. An answer must be a sympy expression, never a string (strings are not read). A vector is a
#    `Matrix([...])` column (a list also works); a matrix is a `Matrix` of the stated shape.
# 4. You may use sympy itself (`diff`, `limit`, `simplify` …) to get an answer, but the written part
#    must show the reasoning.
# 5. Leave an answer as `None` if you skip it. The whole notebook must run from top to bottom
#    without errors in about a minute.
# 6. Do not reuse the symbols' names for numbers (`beta = 0.1`): an answer built after that holds the
#    number where the symbol belongs. Likewise `exp`, `log`, `sqrt` are sympy's here: inside the numeric
#    functions (torch) use `torch.exp`, `torch.log`, `F.logsigmoid` ….
# 7. A property the grader verifies (k3 ≥ 0, π* sums to 1 …) earns points only for a real answer: a
#    constant such as `0` or `Matrix([1, 0, 0])` has such properties and earns nothing.

# %% [locked] imports
import math

import torch
import torch.nn.functional as F

# %% [markdown]
# ### The provided symbols and helpers
#
# `sigmoid`, `softmax` and `kl` are built from sympy primitives, so identities between them are plain
# algebra. `pi_phi` is the list $[\pi_\phi(y_1), \pi_\phi(y_2), \pi_\phi(y_3)]$ of a softmax policy
# with logits `phi1, phi2, phi3` (used in Q1c, Q1d and Q2c).

# %% [locked] symbols
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

# %% [markdown]
# ### A worked example of the answer format
#
# *Not graded.* Suppose a question asked for (i) the derivative of $f(\Delta) = \log(1 + \Delta^2)$
# with respect to $\Delta$, using only `Delta`, and (ii) the vector of probabilities of a two-outcome
# distribution with $P(\text{first}) = p$, using only `p`. The answers would be written like this
# (both forms in (i) are accepted, they are equal):

# %%
EXAMPLE_derivative = 2 * Delta / (1 + Delta**2)
EXAMPLE_derivative_by_sympy = diff(log(1 + Delta**2), Delta)   # the same expression, computed
EXAMPLE_vector = Matrix([p, 1 - p])                            # a 2x1 column
print(simplify(EXAMPLE_derivative - EXAMPLE_derivative_by_sympy), EXAMPLE_vector.shape)

# %% [markdown]
# ---
# ## Question 1 — Learning from human feedback (22 points)
#
# A **reward model** $r_\theta(x, y)$ scores a response $y$ to a prompt $x$. For each prompt,
# labellers rank $K$ responses; every pair $(y_w, y_l)$ taken from the ranking, with $y_w$ preferred
# to $y_l$, is one comparison. The reward model is trained with
#
# $$\mathcal{L}(\theta) = -\frac{1}{\binom{K}{2}}\; \mathbb{E}_{(x, y_w, y_l) \sim D}
# \Big[\log \sigma\big(r_\theta(x, y_w) - r_\theta(x, y_l)\big)\Big],
# \qquad \sigma(z) = \frac{1}{1 + e^{-z}}.$$
#
# ### Q1a (3 points)
#
# Explain how this loss keeps the reward model away from **very large differences between the
# scores** of responses, and why that is useful. Say also what the factor $1/\binom{K}{2}$ does.
#
# **Checkpoints** (answer cell below). Write $\Delta = r_\theta(x, y_w) - r_\theta(x, y_l)$ and
# $\ell(\Delta) = -\log\sigma(\Delta)$ for the loss of one pair.
#
# | variable | what | symbols |
# |---|---|---|
# | `Q1a_num_pairs` | the number of comparisons a ranking of $K$ responses gives | `K` |
# | `Q1a_dloss` | $\dfrac{d\ell}{d\Delta}$ | `Delta` |
# | `Q1a_dloss_limits` | the tuple $\big(\lim_{\Delta\to+\infty} \frac{d\ell}{d\Delta},\ \lim_{\Delta\to-\infty} \frac{d\ell}{d\Delta}\big)$ | none (numbers) |

# %% [solution-vars] Q1a_num_pairs Q1a_dloss Q1a_dloss_limits
# Q1a checkpoints

# %% [markdown]
# **Numeric companion.** Implement the loss over a batch of rankings in torch: every one of the
# $\binom{K}{2}$ pairs of each ranking, normalised by $\binom{K}{2}$, averaged over the prompts.
# Use a numerically stable form (`F.logsigmoid`).

# %% [solution] reward_model_loss

# %%
# try it: two prompts, three ranked responses each
print(reward_model_loss(torch.tensor([[2.0, 0.5, -1.0], [0.3, 0.1, 0.4]])))

# %% [markdown]
# **Your answer (Q1a, written).**

# %% [answer] theory.q1a.written
# The loss depends on the two scores only through their difference $\Delta$, and its slope
# $\frac{d\ell}{d\Delta} = \sigma(\Delta) - 1 = -\sigma(-\Delta)$ lies in $(-1, 0)$. It is close to
# $-1$ when the pair is ranked the wrong way ($\Delta \ll 0$) and tends to $0$ once the preferred
# response leads by a comfortable margin ($\Delta \to +\infty$). So a pair that is already ranked
# correctly with some margin stops pushing the two scores apart: there is nothing to gain from an
# ever larger gap, and no single pair (or a noisy label) can pull with more than unit strength. The
# reward therefore stays on a moderate, comparable scale (only differences are identified; it is
# usually normalised afterwards). That matters for the RL stage: a reward with exploding gaps
# would give high-variance, unstable policy updates and an easy target for reward hacking.
#
# A ranking of $K$ responses gives $\binom{K}{2} = K(K-1)/2$ comparisons, strongly correlated
# because each response appears in $K-1$ of them. Dividing by $\binom{K}{2}$ (and putting all
# comparisons of one prompt in the same batch element) gives every prompt the same weight whatever
# $K$ is, and avoids the over-fitting seen when each correlated comparison is treated as an
# independent example.

# %% [markdown]
# ### Q1b (3 points)
#
# The policy $\pi^{RL}_\phi$ is then trained to maximise
#
# $$\text{objective}(\phi) = \mathbb{E}_{(x, y) \sim D_{\pi^{RL}_\phi}}\Big[r_\theta(x, y)
# - \beta \log\frac{\pi^{RL}_\phi(y \mid x)}{\pi^{SFT}(y \mid x)}\Big]
# + \gamma\, \mathbb{E}_{x \sim D_{\text{pretrain}}}\big[\log \pi^{RL}_\phi(x)\big].$$
#
# Explain what each term is for and why it is there.
#
# **Checkpoints.**
#
# | variable | what | symbols |
# |---|---|---|
# | `Q1b_shaped_reward` | the quantity inside the first expectation for one sample $(x, y)$, with $r = r_\theta(x, y)$, `pi_RL` $=\pi^{RL}_\phi(y\mid x)$, `pi_SFT` $=\pi^{SFT}(y\mid x)$ | `r, beta, pi_RL, pi_SFT` |
# | `Q1b_kl_two_outcomes` | if only two responses $y_1, y_2$ are possible, with $\pi^{RL}_\phi(y_1 \mid x) = $ `p_RL` and $\pi^{SFT}(y_1 \mid x) = $ `p_SFT`: the expectation $\mathbb{E}_{y \sim \pi^{RL}_\phi}\big[\log \frac{\pi^{RL}_\phi(y\mid x)}{\pi^{SFT}(y\mid x)}\big]$ | `p_RL, p_SFT` |

# %% [solution-vars] Q1b_shaped_reward Q1b_kl_two_outcomes
# Q1b checkpoints

# %% [markdown]
# **Your answer (Q1b, written).**

# %% [answer] theory.q1b.written
# * $r_\theta(x, y)$ — the learned reward: it is what makes the policy produce the responses that
#   humans prefer; it is the only term that carries the preference data.
# * $-\beta \log \frac{\pi^{RL}_\phi(y\mid x)}{\pi^{SFT}(y\mid x)}$ — a per-sample KL penalty: its
#   expectation under $\pi^{RL}_\phi$ is $\mathrm{KL}(\pi^{RL}_\phi \,\|\, \pi^{SFT})$ (the checkpoint
#   shows it for two outcomes). It keeps the policy close to the SFT model, in the region where the
#   reward model was trained and can be trusted; without it the policy drifts to responses that
#   exploit the reward model's errors (reward hacking / over-optimisation), collapses its diversity
#   and loses fluency. $\beta$ sets the trade-off between reward and staying close.
# * $\gamma\, \mathbb{E}_{x \sim D_{\text{pretrain}}}[\log \pi^{RL}_\phi(x)]$ — the pre-training
#   language-modelling log-likelihood mixed into RL (PPO-ptx). It counteracts the "alignment tax":
#   regressions on ordinary NLP tasks and on the pre-training distribution caused by optimising
#   only the reward. $\gamma$ sets its strength ($\gamma = 0$ is plain PPO).

# %% [markdown]
# ### Q1c (3 points)
#
# The objective is differentiated with respect to $\phi$, yet it contains $r_\theta(x, y)$, which is a
# function of $\theta$ (the reward model is frozen during RL). Explain why the reward is still in the
# objective and why its contribution to the gradient is not zero.
#
# **Checkpoints.** Take a policy over three responses $y_1, y_2, y_3$ with
# $\pi_\phi = \text{softmax}(\phi_1, \phi_2, \phi_3)$ (the provided `pi_phi`) and fixed rewards
# $r_1, r_2, r_3$.
#
# | variable | what | symbols |
# |---|---|---|
# | `Q1c_expected_reward` | $\mathbb{E}_{y \sim \pi_\phi}[r(y)]$ | `phi1, phi2, phi3, r1, r2, r3` |
# | `Q1c_grad` | the 3x1 `Matrix` $\big[\partial\, \mathbb{E}[r] / \partial\phi_i\big]_{i=1,2,3}$ | the same |

# %% [solution-vars] Q1c_expected_reward Q1c_grad
# Q1c checkpoints

# %% [markdown]
# **Your answer (Q1c, written).**

# %% [answer] theory.q1c.written
# During RL the reward model's parameters $\theta$ are frozen, so for a fixed response
# $\partial r_\theta(x, y)/\partial\phi = 0$. But the objective is an *expectation over responses
# sampled from the policy*: $\mathbb{E}_{y\sim\pi_\phi}[r(y)] = \sum_y \pi_\phi(y\mid x)\, r(y)$. The
# distribution depends on $\phi$, so the gradient flows through the probabilities with which each
# response is produced, and the reward is the weight of each response:
# $\nabla_\phi \mathbb{E}[r] = \sum_y r(y)\, \nabla_\phi \pi_\phi(y\mid x) \neq 0$. In the softmax
# example $\partial \mathbb{E}[r]/\partial\phi_i = \pi_i (r_i - \mathbb{E}[r])$: raising the logit
# of a response with above-average reward increases the objective. The reward acts as a fixed,
# possibly non-differentiable score (a black box is enough), which is exactly why the gradient has
# to be estimated from samples (Q1d).

# %% [markdown]
# ### Q1d (5 points)
#
# Introduce a method that makes the gradient of this objective easy to implement. Hint: write the
# objective as $\mathcal{L}_\theta = \mathbb{E}_{\tau \sim \pi_\theta}[G_\tau]$ and show that
# $\nabla_\theta \mathcal{L}_\theta = \mathbb{E}_{\tau \sim \pi_\theta}\big[\nabla_\theta \log
# \pi_\theta(\tau)\, G_\tau\big]$. Explain how it is used in practice.
#
# **Checkpoints**, on the softmax policy of Q1c with returns $G_1, G_2, G_3$ of the three responses:
#
# | variable | what | symbols |
# |---|---|---|
# | `Q1d_score` | the 3x3 `Matrix` whose entry $[a, i]$ is $\partial \log \pi_\phi(y_{a+1}) / \partial \phi_{i+1}$ (row $a$ is the score $\nabla_\phi \log\pi_\phi(y_{a+1})$) | `phi1, phi2, phi3` |
# | `Q1d_policy_gradient` | the 3x1 `Matrix` $\sum_a \pi_\phi(y_a)\, G_a\, \nabla_\phi \log \pi_\phi(y_a)$ — the grader checks that it equals $\nabla_\phi \mathbb{E}[G]$ | `phi1, phi2, phi3, G1, G2, G3` |
# | `Q1d_surrogate` | one response, $y_2$, was sampled and got return $G$: a scalar surrogate objective $\tilde J(\phi)$ (to be *maximised* by autograd) whose gradient $\nabla_\phi \tilde J$ is the single-sample estimate $G\, \nabla_\phi \log \pi_\phi(y_2)$ | `phi1, phi2, phi3, G` |

# %% [solution-vars] Q1d_score Q1d_policy_gradient Q1d_surrogate
# Q1d checkpoints

# %% [markdown]
# **Your answer (Q1d, written).**

# %% [answer] theory.q1d.written
# **Score-function (REINFORCE) gradient.** $G$ does not depend on $\theta$, so
# $$\nabla_\theta \mathbb{E}_{\tau\sim\pi_\theta}[G_\tau] = \nabla_\theta \sum_\tau \pi_\theta(\tau)\,G_\tau
# = \sum_\tau \nabla_\theta\pi_\theta(\tau)\, G_\tau
# = \sum_\tau \pi_\theta(\tau)\, \nabla_\theta \log\pi_\theta(\tau)\, G_\tau
# = \mathbb{E}_{\tau\sim\pi_\theta}\big[\nabla_\theta\log\pi_\theta(\tau)\, G_\tau\big],$$
# using the log-derivative trick $\nabla\pi = \pi\,\nabla\log\pi$. The right-hand side is an
# expectation under the policy, so it can be estimated by sampling:
# $\hat g = \frac1N \sum_{i} G_{\tau_i}\, \nabla_\theta \log \pi_\theta(\tau_i)$, $\tau_i \sim \pi_\theta$,
# an unbiased estimate that needs only log-probabilities of sampled sequences and the scalar
# rewards (the reward model need not be differentiable). For a trajectory,
# $\pi_\theta(\tau) = \rho(s_0)\prod_t \pi_\theta(a_t\mid s_t) P(s_{t+1}\mid s_t, a_t)$, so
# $\nabla_\theta \log \pi_\theta(\tau) = \sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t)$: the
# dynamics drop out; for a language model this is the sum of the token log-probabilities of the
# response.
#
# **In practice**: sample responses, score them, and let autograd differentiate the surrogate
# $\tilde J(\theta) = \frac1N\sum_i G_i \log\pi_\theta(\tau_i)$ with the $G_i$ treated as constants
# (detached) — i.e. minimise $-\tilde J$. Because $\mathbb{E}[\nabla \log \pi_\theta] = 0$, a baseline
# $b$ can be subtracted ($G_i - b$) to reduce variance without bias; PPO adds an advantage estimate
# and a clipped ratio on top of this.

# %% [markdown]
# ### Q1e (4 points)
#
# The second term of the objective involves $\log\big(\pi^{RL}_\phi(y\mid x)/\pi^{SFT}(y\mid x)\big)$,
# whose expectation is the KL divergence between the learned policy and the initial one. First
# explain why this KL divergence cannot be computed exactly. Then, writing $q$ for the distribution
# we sample from and $p$ for the other one, show that the estimator
#
# $$\mathrm{KL}(q\,\|\,p) \approx \frac{1}{N}\sum_{i=1}^N c\,\big[\log q(x_i) - \log p(x_i)\big]^2,
# \qquad x_i \sim q,$$
#
# is a suitable estimator with a smaller variance than the plain one
# $\frac1N\sum_i \log\big(q(x_i)/p(x_i)\big)$. (The statement writes the constant $c$ as $1/\gamma$;
# find the value that makes it suitable.) With $\rho = p(x)/q(x)$ the three estimators of this question
# and the next are $k_1 = -\log \rho$, $k_2$ above, and $k_3$ of Q1f.
#
# **Checkpoint.**
#
# | variable | what | symbols |
# |---|---|---|
# | `Q1e_k2` | the per-sample estimator $k_2$ with the right constant, at one sample $x$, with `p` $= p(x)$ and `q` $= q(x)$ — the grader also checks that $\mathbb{E}_q[k_2]$ equals $\mathrm{KL}(q \Vert p)$ to second order when $p$ is a small perturbation of $q$ | `p, q` |
#
# Write $\rho$ as `p / q` in your answers: the symbol `r` is the reward of Q1b, not this ratio.

# %% [solution-vars] Q1e_k2
# Q1e checkpoint

# %% [markdown]
# **Your answer (Q1e, written).**

# %% [answer] theory.q1e.written
# **Why not exactly.** $\mathrm{KL}(\pi^{RL}\|\pi^{SFT}) = \sum_y \pi^{RL}(y\mid x)\log\frac{\pi^{RL}(y\mid x)}{\pi^{SFT}(y\mid x)}$
# sums over every possible response: all token sequences, $|V|^T$ of them. We can only evaluate
# the log-probabilities of the responses we sampled, so the KL has to be estimated from samples
# $x_i \sim q$.
#
# **Why $k_2 = \frac12(\log q - \log p)^2$ works.** Let $\rho = p/q = 1 + \delta$. Since
# $\mathbb{E}_q[\rho] = \sum_x q\,\frac pq = 1$, $\mathbb{E}_q[\delta] = 0$. Expanding
# $\log \rho = \delta - \delta^2/2 + O(\delta^3)$:
# $\mathbb{E}_q[k_1] = \mathbb{E}_q[-\log \rho] = \frac12\mathbb{E}_q[\delta^2] + O(\delta^3)$ and
# $\mathbb{E}_q[k_2] = \frac12\mathbb{E}_q[(\log \rho)^2] = \frac12\mathbb{E}_q[\delta^2] + O(\delta^3)$.
# So $k_2$ agrees with the KL to second order when $p \approx q$ — this needs the constant
# $c = \frac12$ ($\gamma = 2$); in general $\mathbb{E}_q[k_2]$ is an $f$-divergence with
# $f(\rho) = \frac12(\log \rho)^2$, whose second derivative at $\rho=1$ is 1, like the KL's.
#
# **Variance.** $k_1 = -\delta + O(\delta^2)$ has variance $\mathbb{E}_q[\delta^2] + \dots = O(\varepsilon^2)$
# (it is negative for many samples even though the KL is $\ge 0$), while $k_2 = O(\delta^2)$ is
# always $\ge 0$ and has variance $O(\varepsilon^4)$. In RLHF the policy stays close to the SFT model,
# exactly the regime where $k_2$ is much less noisy. The price is a small bias (third order).

# %% [markdown]
# ### Q1f (4 points)
#
# Although $k_2$ has a smaller variance than the plain estimator, it is biased. Change it so that
# the bias goes away too (keeping the variance small).
#
# **Checkpoint.**
#
# | variable | what | symbols |
# |---|---|---|
# | `Q1f_k3` | the per-sample unbiased, low-variance estimator $k_3$ at one sample — the grader checks that $\mathbb{E}_q[k_3] = \mathrm{KL}(q \Vert p)$ exactly and that $k_3 \ge 0$ | `p, q` |

# %% [solution-vars] Q1f_k3
# Q1f checkpoint

# %% [markdown]
# **Numeric companion.** Implement the three estimators per sample, from the log-probabilities of
# samples $x_i \sim q$. The grader checks the values, and then checks the two claims of Q1e and Q1f
# by simulation on its own distributions: $k_2$ has a much smaller variance than $k_1$ when $p$ is
# close to $q$, and the mean of $k_3$ over many samples is the exact KL.

# %% [solution] kl_estimators

# %%
# try it: two categorical distributions over 10 outcomes, 100 000 samples from q
demo_gen = torch.Generator().manual_seed(0)
demo_logq = torch.log_softmax(torch.randn(10, generator=demo_gen), dim=0)
demo_logp = torch.log_softmax(demo_logq + 0.3 * torch.randn(10, generator=demo_gen), dim=0)
demo_x = torch.multinomial(demo_logq.exp(), 100_000, replacement=True, generator=demo_gen)
demo_kl = float((demo_logq.exp() * (demo_logq - demo_logp)).sum())
print(f"exact KL(q||p) = {demo_kl:.5f}")
for demo_name, demo_k in zip(("k1", "k2", "k3"), kl_estimators(demo_logq[demo_x], demo_logp[demo_x])):
    print(f"{demo_name}: mean {float(demo_k.mean()):.5f}   std {float(demo_k.std()):.5f}")

# %% [markdown]
# **Your answer (Q1f, written).**

# %% [answer] theory.q1f.written
# Add to $k_1 = -\log \rho$ a quantity whose expectation is zero, a *control variate*: $\rho - 1$, since
# $\mathbb{E}_q[\rho - 1] = \sum_x q(x)\frac{p(x)}{q(x)} - 1 = 0$. Then $-\log \rho + \lambda (\rho - 1)$ is
# unbiased for every $\lambda$. Choosing $\lambda = 1$ gives
# $$k_3 = (\rho - 1) - \log \rho, \qquad \rho = \frac{p(x)}{q(x)}.$$
# Because $\log$ is concave, $\log \rho \le \rho - 1$ (the tangent at $\rho = 1$), so $k_3 \ge 0$ for every
# sample: it is the gap between $\log$ and its tangent (a Bregman divergence). Near $\rho = 1$,
# $k_3 = \frac12 \delta^2 + O(\delta^3)$ like $k_2$, so its variance is still $O(\varepsilon^4)$ —
# the linear term $-\delta$ that made $k_1$ noisy is exactly cancelled by $\lambda = 1$ — but now
# $\mathbb{E}_q[k_3] = \mathrm{KL}(q\|p)$ exactly, for any $p$ and $q$.

# %% [markdown]
# ---
# ## Question 2 — Direct Preference Optimisation (13 points)
#
# This question derives the DPO loss.
#
# ### Q2a (5 points)
#
# Show that the solution of
#
# $$\max_{\pi_\theta}\; \mathbb{E}_{x\sim D,\, y\sim\pi_\theta(y\mid x)}\big[r_\phi(x, y)\big]
# - \beta\, \mathbb{D}_{KL}\big[\pi_\theta(y\mid x)\,\|\,\pi_{ref}(y\mid x)\big]$$
#
# is
#
# $$\pi_r(y\mid x) = \frac{1}{Z(x)}\, \pi_{ref}(y\mid x)\, \exp\Big(\frac1\beta\, r(x, y)\Big).$$
#
# **Checkpoints**, for one prompt and three responses $y_1, y_2, y_3$ with rewards $r_1, r_2, r_3$,
# reference probabilities `pi_ref1, pi_ref2, pi_ref3` and a policy `pi1, pi2, pi3` (with
# `pi1 + pi2 + pi3 = 1`):
#
# | variable | what | symbols |
# |---|---|---|
# | `Q2a_Z` | the partition function $Z$ | `beta, r1, r2, r3, pi_ref1, pi_ref2, pi_ref3` |
# | `Q2a_kl_form` | the objective rewritten as the quantity to *minimise*: a KL divergence from the policy to the normalised distribution $\pi^*$, minus $\log Z$ (you may use the provided `kl`) — the grader checks it equals $-\frac1\beta\times$ the objective for every policy on the simplex | those, and `pi1, pi2, pi3` |
# | `Q2a_pi_star` | the optimal policy, a 3x1 `Matrix` $[\pi^*(y_1), \pi^*(y_2), \pi^*(y_3)]$ — the grader checks it is normalised and that it makes the Lagrangian of the problem on the simplex stationary | `beta, r1, r2, r3, pi_ref1, pi_ref2, pi_ref3` |

# %% [solution-vars] Q2a_Z Q2a_pi_star Q2a_kl_form
# Q2a checkpoints

# %% [markdown]
# **Your answer (Q2a, written).**

# %% [answer] theory.q2a.written
# For one prompt $x$ (the outer expectation over $x$ is a sum of independent problems), with
# $Z(x) = \sum_y \pi_{ref}(y\mid x) \exp(r(x,y)/\beta)$ and $\pi^*(y\mid x) = \pi_{ref}(y\mid x)\exp(r(x,y)/\beta)/Z(x)$:
# $$\begin{aligned}
# \mathbb{E}_{y\sim\pi}[r(x,y)] - \beta\,\mathrm{KL}(\pi\|\pi_{ref})
# &= -\beta\, \mathbb{E}_{y\sim\pi}\Big[\log\frac{\pi(y\mid x)}{\pi_{ref}(y\mid x)} - \frac{r(x,y)}{\beta}\Big] \\
# &= -\beta\, \mathbb{E}_{y\sim\pi}\Big[\log\frac{\pi(y\mid x)}{\pi_{ref}(y\mid x)\exp(r(x,y)/\beta)/Z(x)} - \log Z(x)\Big] \\
# &= -\beta\,\big[\mathrm{KL}(\pi\,\|\,\pi^*) - \log Z(x)\big].
# \end{aligned}$$
# $Z(x)$ does not depend on $\pi$, and $\pi^*$ is a probability distribution (it is normalised by
# $Z$), so by Gibbs' inequality $\mathrm{KL}(\pi\|\pi^*) \ge 0$ with equality if and only if
# $\pi = \pi^*$. Maximising the objective is minimising $\mathrm{KL}(\pi\|\pi^*)$, so the maximum is
# reached exactly at $\pi = \pi^* = \pi_r$, with value $\beta \log Z(x)$.
#
# The same result from a Lagrangian: $\frac{\partial}{\partial\pi(y)}\Big[\sum_y \pi(y) r(y) - \beta\sum_y
# \pi(y)\log\frac{\pi(y)}{\pi_{ref}(y)} - \lambda\big(\sum_y\pi(y) - 1\big)\Big] = r(y) - \beta\log\frac{\pi(y)}{\pi_{ref}(y)} - \beta - \lambda = 0$
# gives $\pi(y) \propto \pi_{ref}(y)\exp(r(y)/\beta)$, and the constraint fixes the constant $1/Z$;
# the objective is strictly concave in $\pi$, so this stationary point is the maximum.

# %% [markdown]
# ### Q2b (4 points)
#
# Using the result of Q2a, substitute into the reward model's loss (for a pair, $K = 2$) and derive
# the DPO loss.
#
# **Checkpoints.**
#
# | variable | what | symbols |
# |---|---|---|
# | `Q2b_reward` | $r(x, y)$ written through the optimal policy, with `pi_theta` $=\pi^*(y\mid x)$, `pi_ref` $=\pi_{ref}(y\mid x)$ and `Z` $= Z(x)$ | `beta, pi_theta, pi_ref, Z` |
# | `Q2b_preference` | the Bradley–Terry probability $p(y_w \succ y_l \mid x)$ written with the policies only, with `pi_w, pi_l` $= \pi_\theta(y_w\mid x), \pi_\theta(y_l\mid x)$ and `ref_w, ref_l` the reference's | `beta, pi_w, pi_l, ref_w, ref_l` |
# | `Q2b_loss` | the DPO loss of one pair | the same |

# %% [solution-vars] Q2b_reward Q2b_preference Q2b_loss
# Q2b checkpoints

# %% [markdown]
# **Numeric companion.** Implement the DPO loss of a batch of pairs from the summed log-probabilities
# of the chosen and rejected responses under the policy and the reference model. Return the
# per-pair losses and the implicit rewards $\hat r = \beta \log(\pi_\theta/\pi_{ref})$ of both
# responses. Use a numerically stable form (`F.logsigmoid`).

# %% [solution] dpo_loss

# %%
# try it: two pairs
print(dpo_loss(torch.tensor([-10.0, -7.0]), torch.tensor([-12.0, -6.0]),
               torch.tensor([-11.0, -7.5]), torch.tensor([-11.5, -6.5]), 0.1))

# %% [markdown]
# **Your answer (Q2b, written).**

# %% [answer] theory.q2b.written
# Taking logs in Q2a's result and solving for the reward:
# $$r(x,y) = \beta\log\frac{\pi_r(y\mid x)}{\pi_{ref}(y\mid x)} + \beta\log Z(x).$$
# The reward model of Q1 (with $K = 2$) is the Bradley–Terry model
# $p(y_w \succ y_l\mid x) = \sigma\big(r(x,y_w) - r(x,y_l)\big)$. Only the *difference* of rewards
# enters, so the intractable $\beta\log Z(x)$ cancels:
# $$p(y_w \succ y_l\mid x) = \sigma\Big(\beta\log\frac{\pi_r(y_w\mid x)}{\pi_{ref}(y_w\mid x)} - \beta\log\frac{\pi_r(y_l\mid x)}{\pi_{ref}(y_l\mid x)}\Big).$$
# The preference probability is now a function of the policy alone. Parametrising the optimal
# policy by $\pi_\theta$ and maximising the likelihood of the observed preferences (the reward
# model's loss, with the reward replaced by the *implicit reward* $\hat r_\theta = \beta\log\frac{\pi_\theta}{\pi_{ref}}$) gives
# $$\mathcal{L}_{DPO}(\pi_\theta;\pi_{ref}) = -\mathbb{E}_{(x,y_w,y_l)\sim D}\Big[\log\sigma\Big(\beta\log\frac{\pi_\theta(y_w\mid x)}{\pi_{ref}(y_w\mid x)} - \beta\log\frac{\pi_\theta(y_l\mid x)}{\pi_{ref}(y_l\mid x)}\Big)\Big].$$
# Fitting the reward model and solving the KL-regularised RL problem become one supervised loss on
# the policy: no reward model, no sampling during training.

# %% [markdown]
# ### Q2c (4 points)
#
# Compute the gradient of the DPO loss and explain intuitively what each term of it does.
#
# **Checkpoints.** Write $\hat r_w = \beta(\log\pi_\theta(y_w) - \log\pi_{ref}(y_w))$ and
# $\hat r_l = \beta(\log\pi_\theta(y_l) - \log\pi_{ref}(y_l))$ for the implicit rewards.
#
# | variable | what | symbols |
# |---|---|---|
# | `Q2c_weight` | the scalar weight $w$ in $\nabla_\theta \mathcal{L}_{DPO} = -\beta\, w\, [\nabla_\theta\log\pi_\theta(y_w) - \nabla_\theta\log\pi_\theta(y_l)]$ for one pair, as a function of the implicit rewards | `rhat_w, rhat_l` |
# | `Q2c_dlogp` | the 2x1 `Matrix` $\big[\partial\mathcal{L}/\partial\log\pi_\theta(y_w),\ \partial\mathcal{L}/\partial\log\pi_\theta(y_l)\big]$ of the loss of one pair, with `logp_w, logp_l, logref_w, logref_l` the four log-probabilities | `beta, logp_w, logp_l, logref_w, logref_l` |
# | `Q2c_grad` | for the softmax policy `pi_phi` of Q1c, with $y_w = y_1$, $y_l = y_2$ and reference probabilities `pi_ref1, pi_ref2`: the 3x1 `Matrix` $\nabla_\phi \mathcal{L}_{DPO}$ | `phi1, phi2, phi3, beta, pi_ref1, pi_ref2` |

# %% [solution-vars] Q2c_weight Q2c_dlogp Q2c_grad
# Q2c checkpoints

# %% [markdown]
# **Your answer (Q2c, written).**

# %% [answer] theory.q2c.written
# With $u = \hat r_w - \hat r_l$, $\frac{d}{du}[-\log\sigma(u)] = -(1 - \sigma(u)) = -\sigma(-u)$, and
# $\nabla_\theta u = \beta\,[\nabla_\theta\log\pi_\theta(y_w) - \nabla_\theta\log\pi_\theta(y_l)]$, so
# $$\nabla_\theta\mathcal{L}_{DPO} = -\beta\,\mathbb{E}_{(x,y_w,y_l)\sim D}\Big[\underbrace{\sigma(\hat r_l - \hat r_w)}_{\text{weight}}
# \big[\underbrace{\nabla_\theta\log\pi_\theta(y_w\mid x)}_{\text{raise } y_w} - \underbrace{\nabla_\theta\log\pi_\theta(y_l\mid x)}_{\text{lower } y_l}\big]\Big].$$
# A gradient-descent step therefore
# * increases the likelihood of the preferred response $y_w$ and decreases that of the dispreferred
#   $y_l$ (a contrastive, likelihood-based update);
# * weights each pair by $\sigma(\hat r_l - \hat r_w)$: how strongly the implicit reward model
#   currently gets the pair *wrong*. Pairs it already ranks correctly with a margin contribute
#   little; mis-ranked pairs contribute most. Without this weight (plain unlikelihood training) the
#   model degenerates; with it, updates stop once the preference is learnt;
# * is scaled by $\beta$, which also sets how far from $\pi_{ref}$ the implicit reward lets the
#   policy move (the KL strength of Q2a).
# On the softmax example, $\nabla_\phi\log\pi(y_1) - \nabla_\phi\log\pi(y_2) = e_1 - e_2$: only the
# logits of the two compared responses move, in opposite directions, by $\beta\,\sigma(\hat r_l - \hat r_w)$.

# %% [markdown]
# ---
# ### Before you submit
#
# The cell below lists the answers that are still `None`. Run the whole notebook from the top
# (Kernel → Restart & Run All) and make sure no cell fails.

# %%
ANSWER_NAMES = [
    "Q1a_num_pairs", "Q1a_dloss", "Q1a_dloss_limits", "Q1b_shaped_reward", "Q1b_kl_two_outcomes",
    "Q1c_expected_reward", "Q1c_grad", "Q1d_score", "Q1d_policy_gradient", "Q1d_surrogate",
    "Q1e_k2", "Q1f_k3", "Q2a_Z", "Q2a_pi_star", "Q2a_kl_form", "Q2b_reward", "Q2b_preference",
    "Q2b_loss", "Q2c_weight", "Q2c_dlogp", "Q2c_grad",
]
missing = [name for name in ANSWER_NAMES if globals().get(name) is None]
print("unanswered:", ", ".join(missing) if missing else "none")
