"""Theory's sympy answers: how each answer check reads the notebook's expression and judges it.

``scalar_check`` / ``vector_check`` match an answer with the reference's (``theory_math.same``:
random points that respect the symbols' assumptions, then ``simplify`` under a time limit); the
verifications check a claim on the student's own expression instead (the score function and the
REINFORCE identity on a softmax policy, k2 equal to KL to second order, k3 exactly unbiased and
never negative, the objective's KL form, pi* normalised and stationary, the DPO gradient). Every
such check is hidden (``public=False``: its expected values are the answers themselves), never paid
for an answer built from none of its symbols, and reads back the symbols it may use (``ALLOWED``),
so that a symbol the notebook rebound to a number is named. The table of answer checks:
``graders.parts.theory.answer_checks``.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import sympy as sp

from graders.checks.base import Check
from graders.checks.symbolic import Symbolic
from graders.parts.theory_math import (COMPARE_SECONDS, PHI, PI_PHI, RANGES, S, alarm, as_expr,
                                       as_matrix, as_vector, canonical, same, seed_for, zero)
from graders.probe.spec import Probe, read_global

#: the part the checks built here belong to
PART_NAME = "theory"

# the symbols each answer may use (the notebook says the same)
SOFTMAX = ("phi1", "phi2", "phi3")
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
