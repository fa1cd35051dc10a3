"""Theory: RLHF and DPO — the checks behind its rubric items (see rubric.yaml, part `theory`).

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

import math
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from graders.checks.base import Check
from graders.checks.rules import Property
from graders.checks.symbolic import Symbolic
from graders.checks.values import close_problem, describe_value, members_problem, type_problem
from graders.parts.base import CheckContext, PartSpec
from graders.parts.theory_math import (COMPARE_SECONDS, PHI, PI_PHI, RANGES, S, alarm, as_expr,
                                       as_matrix, as_vector, canonical, same, seed_for, zero)
from graders.probe.spec import Probe, read_global
from graders.probe.transport import KernelArray

PART_NAME = "theory"

# the symbols each answer may use (the notebook says the same)
SOFTMAX = ("phi1", "phi2", "phi3")

#: the numeric companions' arguments, and what the docstring says they are (named when a call
#: raises; see ``graders.parts.calls``)
ARGUMENTS = {
    "reward_model_loss": (("rewards_ranked", "[B, K], column 0 the most preferred"),),
    "dpo_loss": (("policy_chosen_logps", "[B]"), ("policy_rejected_logps", "[B]"), ("ref_chosen_logps", "[B]"),
                 ("ref_rejected_logps", "[B]"), ("beta", "a float")),
    "kl_estimators": (("logq", "[N]"), ("logp", "[N]")),
}
ALLOWED = {
    "Q1a_num_pairs": ("K",),
    "Q1a_dloss": ("Delta",),
    "Q1a_dloss_limits": (),
    "Q1b_shaped_reward": ("r", "beta", "pi_RL", "pi_SFT"),
    "Q1b_kl_two_outcomes": ("p_RL", "p_SFT"),
    "Q1c_expected_reward": SOFTMAX + ("r1", "r2", "r3"),
    "Q1c_grad": SOFTMAX + ("r1", "r2", "r3"),
    "Q1d_score": SOFTMAX,
    "Q1d_policy_gradient": SOFTMAX + ("G1", "G2", "G3"),
    "Q1d_surrogate": SOFTMAX + ("G",),
    "Q1e_k2": ("p", "q"),
    "Q1f_k3": ("p", "q"),
    "Q2a_Z": ("beta", "r1", "r2", "r3", "pi_ref1", "pi_ref2", "pi_ref3"),
    "Q2a_pi_star": ("beta", "r1", "r2", "r3", "pi_ref1", "pi_ref2", "pi_ref3"),
    "Q2a_kl_form": ("beta", "r1", "r2", "r3", "pi_ref1", "pi_ref2", "pi_ref3", "pi1", "pi2", "pi3"),
    "Q2b_reward": ("beta", "pi_theta", "pi_ref", "Z"),
    "Q2b_preference": ("beta", "pi_w", "pi_l", "ref_w", "ref_l"),
    "Q2b_loss": ("beta", "pi_w", "pi_l", "ref_w", "ref_l"),
    "Q2c_weight": ("rhat_w", "rhat_l"),
    "Q2c_dlogp": ("beta", "logp_w", "logp_l", "logref_w", "logref_l"),
    "Q2c_grad": SOFTMAX + ("beta", "pi_ref1", "pi_ref2"),
}

#: on the simplex, pi3 = 1 - pi1 - pi2
SIMPLEX = {S["pi3"]: 1 - S["pi1"] - S["pi2"]}


def _own(value) -> sp.Expr:
    """One of our own expected values as a sympy expression (ints allowed; never a student's value)."""
    return sp.Integer(value) if isinstance(value, int) else value


def _answer(name: str, value: Any) -> sp.Expr:
    return canonical(as_expr(value, name), ALLOWED[name], name)


def _vector(name: str, value: Any, n: int) -> list[sp.Expr]:
    return [canonical(v, ALLOWED[name], name) for v in as_vector(value, n, name)]


def _probe(cid: str, name: str) -> Probe:
    return read_global(f"{cid}:{name}", name)


def _sympy_check(cid: str, names: Sequence[str], judge: Callable[..., str | None], description: str) -> Check:
    """A check of the answers ``names``: judged by ``judge``, never paid for a constant (unless the
    answer is one), and with the provided symbols it may use read back, so that a symbol the
    notebook rebound to a number is named in the reason."""
    probes = tuple(_probe(cid, n) for n in names)
    symbols = tuple(dict.fromkeys(s for n in names for s in ALLOWED[n]))
    symbol_probes = {s: read_global(f"{cid}:symbol:{s}", s) for s in symbols}
    what = ", ".join(f"`{n}`" for n in names)
    rule = Symbolic([p.id for p in probes], judge, what=what, symbols=symbols,
                    symbol_probes={s: p.id for s, p in symbol_probes.items()})
    return Check(cid, PART_NAME, probes + tuple(symbol_probes.values()), rule,
                 public=False, description=description, timeout=30.0)


# ---- matched answers ---------------------------------------------------------------------------------

def scalar_check(cid: str, name: str, expected: sp.Expr, wrong: str, description: str, *,
                 subs: dict | None = None) -> Check:
    """The answer ``name`` equals ``expected`` (after ``subs``, e.g. the simplex constraint)."""
    expected = _own(expected)

    def judge(value):
        actual = _answer(name, value)
        a, e = (actual.xreplace(subs), expected.xreplace(subs)) if subs else (actual, expected)
        return None if same(a, e, seed=seed_for(name)) else f"`{name}` {wrong}"

    return _sympy_check(cid, [name], judge, description)


def vector_check(cid: str, name: str, expected: Sequence[sp.Expr], wrong: str, description: str, *,
                 labels: Sequence[str] | None = None) -> Check:
    """The answer ``name`` is a vector equal to ``expected`` entry by entry."""
    expected = [_own(e) for e in expected]
    labels = labels or [str(i) for i in range(len(expected))]

    def judge(value):
        actual = _vector(name, value, len(expected))
        for i, (a, e) in enumerate(zip(actual, expected)):
            if not same(a, e, seed=seed_for(name) + i):
                return f"`{name}` entry {i} ({labels[i]}) {wrong}"
        return None

    return _sympy_check(cid, [name], judge, description)


# ---- verifications -----------------------------------------------------------------------------------

def _score_matrix_check(cid: str) -> Check:
    name = "Q1d_score"
    truth = [[sp.diff(sp.log(PI_PHI[a]), PHI[i]) for i in range(3)] for a in range(3)]

    def judge(value):
        table = [[canonical(v, ALLOWED[name], name) for v in row] for row in as_matrix(value, 3, 3, name)]
        for a in range(3):
            for i in range(3):
                if not same(table[a][i], truth[a][i], seed=seed_for(name) + 3 * a + i):
                    return (f"`{name}`[{a}, {i}] is not d log pi_phi(y{a + 1}) / d phi{i + 1} "
                            f"(row a holds the gradient of log pi_phi(y_(a+1)))")
        return None

    return _sympy_check(cid, [name], judge, "Q1d: the score function of a softmax policy")


def _policy_gradient_check(cid: str) -> Check:
    name = "Q1d_policy_gradient"
    returns = [S["G1"], S["G2"], S["G3"]]
    expected_return = sum(pa * g for pa, g in zip(PI_PHI, returns))
    truth = [sp.diff(expected_return, phi) for phi in PHI]

    def judge(value):
        actual = _vector(name, value, 3)
        for i in range(3):
            if not same(actual[i], truth[i], seed=seed_for(name) + i):
                return (f"`{name}` entry {i} is not d E[G] / d phi{i + 1}: the REINFORCE identity "
                        f"E[G grad log pi] = grad E[G] does not hold for it")
        return None

    return _sympy_check(cid, [name], judge, "Q1d: the REINFORCE identity on a softmax policy")


def _surrogate_check(cid: str) -> Check:
    name = "Q1d_surrogate"
    target = [S["G"] * sp.diff(sp.log(PI_PHI[1]), phi) for phi in PHI]

    def judge(value):
        surrogate = _answer(name, value)
        for i, phi in enumerate(PHI):
            if not same(sp.diff(surrogate, phi), target[i], seed=seed_for(name) + i):
                return (f"the gradient of `{name}` with respect to phi{i + 1} is not the single-sample "
                        f"REINFORCE estimate G * d log pi_phi(y2) / d phi{i + 1}")
        return None

    return _sympy_check(cid, [name], judge, "Q1d: a surrogate whose gradient is the REINFORCE estimate")


_theta, _eps = sp.Symbol("theta_", positive=True), sp.Symbol("eps_", real=True)
_FAMILY_RANGES = {**RANGES, "theta_": (0.1, 0.9)}


def _k2_taylor_check(cid: str) -> Check:
    """E_q[k2] - KL(q||p) = O(eps^3) and Var_q[k2] = O(eps^4) on q = (θ, 1-θ), p = (θ+ε, 1-θ-ε)."""
    name = "Q1e_k2"
    qs = [_theta, 1 - _theta]
    ps = [_theta + _eps, 1 - _theta - _eps]
    kl_exact = sum(qi * sp.log(qi / pi_) for qi, pi_ in zip(qs, ps))

    def judge(value):
        k2 = _answer(name, value)
        values = [k2.xreplace({S["p"]: pi_, S["q"]: qi}) for pi_, qi in zip(ps, qs)]
        mean = sum(qi * v for qi, v in zip(qs, values))
        var = sum(qi * v ** 2 for qi, v in zip(qs, values)) - mean ** 2
        gap = mean - kl_exact
        for order in range(3):
            coefficient = sp.diff(gap, _eps, order).xreplace({_eps: 0})
            if not zero(coefficient, ranges=_FAMILY_RANGES, seed=seed_for(name) + order):
                return (f"E_q[{name}] does not match KL(q||p) to second order: on a two-outcome family "
                        f"p = q + eps, the eps^{order} terms of E_q[k2] - KL differ")
        for order in range(4):
            coefficient = sp.diff(var, _eps, order).xreplace({_eps: 0})
            if not zero(coefficient, ranges=_FAMILY_RANGES, seed=seed_for(name) + 10 + order):
                return (f"Var_q[{name}] is not O(eps^4) on a two-outcome family p = q + eps "
                        f"(its eps^{order} term is not zero), so it does not have k2's small variance")
        return None

    return _sympy_check(cid, [name], judge, "Q1e: k2 matches KL to second order, with O(eps^4) variance")


_q1, _q2, _p1, _p2 = sp.symbols("q1_ q2_ p1_ p2_", positive=True)
_CATEGORICAL_RANGES = {**RANGES, "q1_": (0.05, 0.45), "q2_": (0.05, 0.45), "p1_": (0.05, 0.45), "p2_": (0.05, 0.45)}


def _k3_unbiased_check(cid: str) -> Check:
    """E_q[k3] = KL(q||p) exactly, for every pair of three-outcome categorical distributions."""
    name = "Q1f_k3"
    qs = [_q1, _q2, 1 - _q1 - _q2]
    ps = [_p1, _p2, 1 - _p1 - _p2]
    kl_exact = sum(qi * sp.log(qi / pi_) for qi, pi_ in zip(qs, ps))

    def judge(value):
        k3 = _answer(name, value)
        mean = sum(qi * k3.xreplace({S["p"]: pi_, S["q"]: qi}) for pi_, qi in zip(ps, qs))
        if not same(mean, kl_exact, ranges=_CATEGORICAL_RANGES, seed=seed_for(name)):
            return f"E_q[{name}] is not exactly KL(q||p) on three-outcome distributions: the estimator is biased"
        return None

    return _sympy_check(cid, [name], judge, "Q1f: k3 is exactly unbiased")


def _k3_nonnegative_check(cid: str) -> Check:
    name = "Q1f_k3"
    grid = [0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95, 0.99]

    def judge(value):
        k3 = _answer(name, value)
        with alarm(COMPARE_SECONDS):
            for pv in grid:
                for qv in grid:
                    try:
                        number = complex(k3.xreplace({S["p"]: sp.Float(pv, 30), S["q"]: sp.Float(qv, 30)}).evalf(30))
                    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
                        return f"`{name}` cannot be evaluated at p = {pv}, q = {qv}"
                    if abs(number.imag) > 1e-12 or number.real < -1e-12:
                        return f"`{name}` is negative (or not real) at p = {pv}, q = {qv}; k3 is never negative"
        return None

    return _sympy_check(cid, [name], judge, "Q1f: k3 is never negative")


def _objective_kl_form_check(cid: str) -> Check:
    """KL(pi || pi*) - log Z equals -J(pi)/beta on the simplex (J = E[r] - beta KL(pi || pi_ref))."""
    name = "Q2a_kl_form"
    pis = [S["pi1"], S["pi2"], S["pi3"]]
    refs = [S["pi_ref1"], S["pi_ref2"], S["pi_ref3"]]
    rewards = [S["r1"], S["r2"], S["r3"]]
    beta = S["beta"]
    objective = sum(a * r for a, r in zip(pis, rewards)) - beta * sum(a * sp.log(a / b) for a, b in zip(pis, refs))
    target = (-objective / beta).xreplace(SIMPLEX)

    def judge(value):
        actual = _answer(name, value).xreplace(SIMPLEX)
        if not same(actual, target, seed=seed_for(name)):
            return (f"`{name}` is not -J(pi)/beta on the simplex, where J(pi) = E_pi[r] - beta KL(pi || pi_ref): "
                    "minimising it is not the same as maximising the objective")
        return None

    return _sympy_check(cid, [name], judge, "Q2a: the objective as a KL divergence to the Gibbs distribution")


def _pi_star_normalised_check(cid: str) -> Check:
    name = "Q2a_pi_star"

    def judge(value):
        star = _vector(name, value, 3)
        if not same(sum(star), sp.Integer(1), seed=seed_for(name)):
            return f"the entries of `{name}` do not add up to 1: pi* is not normalised"
        return None

    return _sympy_check(cid, [name], judge, "Q2a: pi* is a probability distribution")


def _pi_star_stationary_check(cid: str) -> Check:
    """d/d pi_i [sum pi r - beta sum pi log(pi/pi_ref) - lambda (sum pi - 1)] = 0 for one lambda."""
    name = "Q2a_pi_star"
    refs = [S["pi_ref1"], S["pi_ref2"], S["pi_ref3"]]
    rewards = [S["r1"], S["r2"], S["r3"]]
    beta = S["beta"]

    def judge(value):
        star = _vector(name, value, 3)
        # dL/dpi_i = r_i - beta (log(pi_i / pi_ref_i) + 1) - lambda: the same lambda for every i
        slopes = [rewards[i] - beta * sp.log(star[i] / refs[i]) for i in range(3)]
        for i in (1, 2):
            if not zero(slopes[0] - slopes[i], seed=seed_for(name) + i):
                return (f"`{name}` does not make the Lagrangian stationary on the simplex: "
                        f"r_i - beta log(pi_i / pi_ref_i) differs between y1 and y{i + 1}")
        return None

    return _sympy_check(cid, [name], judge, "Q2a: pi* is a stationary point of the Lagrangian")


def _dpo_grad_check(cid: str, ref) -> Check:
    """The gradient of the (reference's) DPO loss of one pair, for y_w = y1, y_l = y2 of ``pi_phi``.

    The loss comes from the reference rather than being written here: this module ships in the
    student bundle, and the DPO loss is the answer to Q2b.
    """
    name = "Q2c_grad"
    loss = ref.Q2b_loss.xreplace({S["pi_w"]: PI_PHI[0], S["pi_l"]: PI_PHI[1],
                                  S["ref_w"]: S["pi_ref1"], S["ref_l"]: S["pi_ref2"]})
    truth = [sp.diff(loss, phi) for phi in PHI]

    def judge(value):
        actual = _vector(name, value, 3)
        for i in range(3):
            if not same(actual[i], truth[i], seed=seed_for(name) + i):
                return f"`{name}` entry {i} is not d L_DPO / d phi{i + 1} for the softmax policy"
        return None

    return _sympy_check(cid, [name], judge, "Q2c: the DPO gradient on a softmax policy")


# ---- numeric companions --------------------------------------------------------------------------------

def _tensor(array, dtype="float32"):
    import torch

    return torch.tensor(np.asarray(array, dtype=dtype))


def numeric_check(cid: str, target: str, cases: Sequence[tuple[tuple, Any]], *, what: str, public: bool,
                  members: Sequence[str] | None = None, select: Callable[[Any], Any] | None = None,
                  shape: Callable[[Any], str | None] | None = None, rtol: float = 1e-4, atol: float = 1e-5,
                  gradients: Sequence[Any] | None = None, description: str = "") -> Check:
    """``target(*args)`` for each case, compared with the expected value (after ``select``).

    ``members``: the names of the returned tuple's members (after ``select``), so that a reason
    names the one that is wrong. ``gradients``: per case, the expected gradient of the (scalar)
    result with respect to the first argument: the result must be differentiable, and right.
    """
    observe = ("input_gradients",) if gradients is not None else ()
    probes = tuple(Probe(f"{cid}:{n}", target, args, observe=observe) for n, (args, _) in enumerate(cases))
    expected = [e for _, e in cases]

    def predicate(*outcomes):
        for n, (outcome, exp) in enumerate(zip(outcomes, expected)):
            value = outcome.value
            case = f" (case {n + 1})" if len(expected) > 1 else ""
            problem = shape(outcome) if shape else None
            if problem:
                return f"{what}{case}: {problem}"
            if select is not None:
                value = select(value)
            if members:
                problem = members_problem(value, exp, members, rtol=rtol, atol=atol)
            else:
                problem = close_problem(value, exp, rtol=rtol, atol=atol)
            if problem is None and gradients is not None:
                problem = _gradient_problem(outcome, gradients[n], rtol=rtol, atol=atol)
            if problem:
                return f"{what}{case}: {problem}"
        return None

    return Check(cid, PART_NAME, probes, Property([p.id for p in probes], predicate, outcomes=True),
                 public=public, description=description, timeout=60.0)


def _gradient_problem(outcome, expected: np.ndarray, *, rtol: float, atol: float) -> str | None:
    """The gradient the kernel computed through the student's result, against the reference's.

    ``input_gradients`` (a kernel-side observer) is None on a kernel runtime that does not have it:
    differentiability is then not observed.
    """
    seen = outcome.observed.get("input_gradients")
    if not isinstance(seen, dict):
        return None
    if not seen.get("differentiable"):
        return ("the result is not differentiable: compute it with torch operations on the input tensor "
                "(no float(), .item(), numpy or torch.tensor(...) of a computed number), so that a reward "
                "model can be trained with it")
    grads = seen.get("gradients") or [None]
    if grads[0] is None:
        return "the result does not depend (differentiably) on rewards_ranked"
    problem = close_problem(grads[0], expected, rtol=rtol, atol=atol)
    return f"its gradient with respect to rewards_ranked is wrong: {problem}" if problem else None


def _tensor_result(outcome) -> str | None:
    """A 0-d float tensor (a loss to call .backward() on)."""
    if p := type_problem(outcome, "tensor"):
        return p
    if outcome.value.ndim != 0:
        return f"should return a 0-d tensor (the mean over the prompts), got shape {tuple(outcome.value.shape)}"
    return None


def _tensors(names: Sequence[str]):
    """The result is a tuple of torch tensors named ``names`` (in that order)."""
    listing = ", ".join(names)

    def check(outcome) -> str | None:
        value = outcome.value
        if not isinstance(value, (tuple, list)) or len(value) != len(names):
            return f"should return a tuple ({listing}) of {len(names)} tensors, got {describe_value(value)}"
        for name, v in zip(names, value):
            if not (isinstance(v, KernelArray) and v.source == "torch.Tensor"):
                return f"`{name}` should be a torch.Tensor, got {describe_value(v)}"
        return None

    return check


def _rm_cases(ref, inputs: Sequence[np.ndarray]) -> list:
    import torch

    cases = []
    for x in inputs:
        t = _tensor(x)
        cases.append(((t,), float(ref.reward_model_loss(t.to(torch.float64)))))
    return cases


def _dpo_cases(ref, inputs: Sequence[tuple]) -> list:
    import torch

    cases = []
    for pc, pr, rc, rr, beta in inputs:
        tensors = tuple(_tensor(a) for a in (pc, pr, rc, rr))
        out = ref.dpo_loss(*(t.to(torch.float64) for t in tensors), float(beta))
        cases.append(((*tensors, float(beta)), tuple(o.numpy() for o in out)))
    return cases


def _kl_cases(ref, inputs: Sequence[tuple]) -> list:
    import torch

    cases = []
    for logq, logp in inputs:
        tq, tp = _tensor(logq), _tensor(logp)
        out = ref.kl_estimators(tq.to(torch.float64), tp.to(torch.float64))
        cases.append(((tq, tp), tuple(o.numpy() for o in out)))
    return cases


def _categorical_pair(rng: np.random.Generator, m: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """log q and log p of two categorical distributions over m outcomes; p = q tilted by delta·z."""
    q = rng.dirichlet(np.full(m, 2.0))
    logq = np.log(q)
    logp = logq + delta * rng.normal(size=m)
    logp -= np.log(np.exp(logp).sum())
    return logq, logp


def _samples(rng: np.random.Generator, logq: np.ndarray, logp: np.ndarray, n: int):
    x = rng.choice(len(logq), size=n, p=np.exp(logq) / np.exp(logq).sum())
    return logq[x], logp[x]


KL_MEMBERS = ("k1", "k2", "k3")
DPO_MEMBERS = ("losses", "chosen_rewards", "rejected_rewards")


def _estimates(outcome) -> list:
    """The three estimators' values: a property of them counts only if they are not constants."""
    return list(outcome.value)


def simulation_checks(ctx: CheckContext) -> list[Check]:
    """The statement's claims about k2 and k3, checked by simulation with the grader's seed."""
    rng = ctx.rng("theory.kl_simulation")
    checks = []
    # k2 on a close pair: a far smaller variance than k1, and a small bias
    logq, logp = _categorical_pair(rng, 8, 0.1)
    kl_close = float(np.sum(np.exp(logq) * (logq - logp)))
    sq, sp_ = _samples(rng, logq, logp, 50_000)

    def k2_claims(outcome):
        problem = _tensors(KL_MEMBERS)(outcome)
        if problem:
            return f"kl_estimators {problem}"
        k1, k2 = (np.asarray(v, dtype=np.float64) for v in outcome.value[:2])
        if k1.shape != sq.shape or k2.shape != sq.shape or not (np.isfinite(k1).all() and np.isfinite(k2).all()):
            return "kl_estimators: k1 and k2 should be finite, one value per sample"
        if not k2.var() < 0.25 * k1.var():
            return "on a close pair of distributions k2 should have a much smaller variance than k1; yours does not"
        tolerance = 0.1 * kl_close + 5 * k2.std() / math.sqrt(k2.size)
        if abs(k2.mean() - kl_close) > tolerance:
            return "on a close pair of distributions the mean of k2 should be close to KL(q||p); yours is not"
        return None

    probe = Probe("theory.q1e.k2_simulation:kl", "kl_estimators", (_tensor(sq), _tensor(sp_)))
    checks.append(Check("theory.q1e.k2_simulation", PART_NAME, (probe,),
                        Property([probe.id], k2_claims, outcomes=True, gate=_estimates, what="kl_estimators"), public=False, timeout=60.0,
                        description="Q1e: k2 has lower variance than k1 (simulation)"))
    # k3 on a pair that is not close: unbiased (mean within 5 standard errors of the exact KL), >= 0
    logq, logp = _categorical_pair(rng, 8, 0.8)
    kl_far = float(np.sum(np.exp(logq) * (logq - logp)))
    fq, fp = _samples(rng, logq, logp, 200_000)

    def k3_claims(outcome):
        problem = _tensors(KL_MEMBERS)(outcome)
        if problem:
            return f"kl_estimators {problem}"
        k3 = np.asarray(outcome.value[2], dtype=np.float64)
        if k3.shape != fq.shape or not np.isfinite(k3).all():
            return "kl_estimators: k3 should be finite, one value per sample"
        if (k3 < -1e-6).any():
            return "kl_estimators: some k3 values are negative; k3 is never negative"
        standard_error = k3.std() / math.sqrt(k3.size)
        if abs(k3.mean() - kl_far) > 5 * standard_error + 1e-6:
            return "the mean of k3 over many samples is not KL(q||p): k3 should be unbiased"
        return None

    probe = Probe("theory.q1f.k3_simulation:kl", "kl_estimators", (_tensor(fq), _tensor(fp)))
    checks.append(Check("theory.q1f.k3_simulation", PART_NAME, (probe,),
                        Property([probe.id], k3_claims, outcomes=True, gate=_estimates, what="kl_estimators"), public=False, timeout=60.0,
                        description="Q1f: k3 is unbiased (simulation)"))
    return checks


# public inputs (fixed; their expected values may be shown to students)
PUBLIC_RANKINGS = [
    [[2.0, 0.5, -1.0], [0.3, 0.1, 0.4]],
    [[1.5, 1.2, -0.3, -2.0]],
    [[0.0, 1.0]],
]
PUBLIC_DPO = [(
    [-12.0, -30.5, -8.25, -20.0],   # policy chosen
    [-14.0, -29.0, -9.5, -26.0],    # policy rejected
    [-13.0, -31.0, -8.0, -21.5],    # reference chosen
    [-13.5, -30.0, -9.0, -24.0],    # reference rejected
    0.1,
)]
PUBLIC_KL = [(
    [-1.2, -0.7, -2.3, -0.4, -1.6, -3.0],   # log q(x_i)
    [-1.0, -1.1, -1.9, -0.5, -2.4, -1.8],   # log p(x_i)
)]


def _hidden_numeric_inputs(ctx: CheckContext):
    rng = ctx.rng("theory.numeric")
    rankings = []
    for b, k in [(1, 2), (3, 5), (8, 4), (2, 7)]:
        rankings.append(rng.normal(0.0, 1.5, size=(b, k)))
    dpo = []
    for beta in (float(rng.choice([0.05, 0.1])), float(rng.choice([0.5, 1.0]))):
        n = 16
        pc = rng.uniform(-40, -5, n)
        pr = rng.uniform(-40, -5, n)
        rc = pc + rng.normal(0, 3, n)
        rr = pr + rng.normal(0, 3, n)
        dpo.append((pc, pr, rc, rr, beta))
    kls = []
    for m, delta in [(6, 0.5), (12, 1.5)]:
        logq, logp = _categorical_pair(rng, m, delta)
        kls.append(_samples(rng, logq, logp, 64))
    return rankings, dpo, kls


def numeric_checks(ctx: CheckContext, ref) -> list[Check]:
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
