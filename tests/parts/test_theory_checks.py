"""The theory checks on single answers, without a kernel (fast).

Values travel exactly as in grading — encoded by the kernel-side probe runtime, written to disk,
rebuilt by the grader's transport (sympy from the whitelist, unevaluated) — and are judged by the
real checks of ``graders/parts/theory.py``. This covers far more wrong and equivalent answers than
the executed notebooks of ``test_theory_grading.py`` can.
"""
from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

import pytest
import sympy as sp
import torch
import torch.nn.functional as F

import reference.theory as T
from graders.kernel import KERNEL_SIDE
from graders.parts import theory
from graders.part import CheckContext
from graders.parts.theory_math import SYMBOLS
from graders.probe.spec import write_inputs
from helpers import read_outcomes
from graders.rubric import load_rubric
from helpers import TEST_SECRET

ANSWERS = list(theory.ALLOWED)


@pytest.fixture(scope="module")
def runtime():
    if "_hw4_probe" not in sys.modules:
        exec(compile(KERNEL_SIDE, "kernel_side.py", "exec"), {"__name__": "_hw4_kernel_side"})
    return sys.modules["_hw4_probe"]


@pytest.fixture(scope="module")
def checks():
    return {c.id: c for c in theory.build_checks(CheckContext(secret=TEST_SECRET))}


@pytest.fixture(scope="module")
def item_of():
    rubric = load_rubric()
    return {cid: item.id for item in rubric.parts["theory"].items for cid in item.checks}


def reference_namespace() -> dict:
    """The solved notebook's globals that checks read: answers, functions and the provided symbols."""
    names = ANSWERS + ["reward_model_loss", "dpo_loss", "kl_estimators"] + list(SYMBOLS)
    return {name: getattr(T, name) for name in names}


def judge(runtime, check, namespace):
    """Run ``check`` against ``namespace`` as the grader would: probe, transport, rule."""
    folder = Path(tempfile.mkdtemp(prefix="theory-check-"))
    write_inputs(folder / "in", list(check.probes))
    (folder / "out").mkdir()
    runtime.run(namespace, str(folder / "in"), str(folder / "out"), list(range(len(check.probes))))
    return check.run(read_outcomes(folder / "out", list(check.probes)))


def checks_reading(checks, name):
    return [c for c in checks.values() if any(p.target == name for p in c.probes)]


def verdicts(runtime, checks, name, value):
    namespace = reference_namespace()
    namespace[name] = value
    return {c.id: judge(runtime, c, namespace) for c in checks_reading(checks, name)}


def test_every_check_is_in_the_rubric_and_every_rubric_check_exists(checks, item_of):
    assert set(checks) == set(item_of)


def test_each_answer_feeds_one_item_only(checks, item_of):
    for name in ANSWERS + ["reward_model_loss", "dpo_loss"]:
        items = {item_of[c.id] for c in checks_reading(checks, name)}
        assert len(items) == 1, (name, items)


def test_reference_passes_every_check(runtime, checks):
    namespace = reference_namespace()
    failed = {cid: v.reason for cid, v in ((cid, judge(runtime, c, namespace)) for cid, c in checks.items())
              if not v.passed}
    assert failed == {}


D, K, b = T.Delta, T.K, T.beta
PI = T.pi_phi
Matrix = sp.Matrix

WRONG = [
    ("Q1a_num_pairs", K * (K - 1)),
    ("Q1a_num_pairs", K ** 2 / 2),
    ("Q1a_dloss", T.sigmoid(-D)),
    ("Q1a_dloss", -sp.log(T.sigmoid(D))),                      # the loss, not its derivative
    ("Q1a_dloss_limits", (0, -sp.oo)),
    ("Q1a_dloss_limits", (-1, 0)),
    ("Q1b_shaped_reward", T.r - sp.log(T.pi_RL / T.pi_SFT)),   # no beta
    ("Q1b_kl_two_outcomes", T.p_SFT * sp.log(T.p_SFT / T.p_RL) + (1 - T.p_SFT) * sp.log((1 - T.p_SFT) / (1 - T.p_RL))),
    ("Q1c_expected_reward", (T.r1 + T.r2 + T.r3) / 3),
    ("Q1c_grad", Matrix([PI[0] * T.r1, PI[1] * T.r2, PI[2] * T.r3])),
    ("Q1d_score", Matrix(3, 3, lambda a, i: (1 if a == i else 0) - PI[a])),   # transposed
    ("Q1d_policy_gradient", (T.G1 * T.Q1d_score[0, :] + T.G2 * T.Q1d_score[1, :] + T.G3 * T.Q1d_score[2, :]).T),
    ("Q1d_surrogate", -T.G * sp.log(PI[1])),                  # a loss: the gradient points the other way
    ("Q1d_surrogate", T.G * PI[1]),                           # no log
    ("Q1e_k2", sp.log(T.q / T.p)),                            # that is k1
    ("Q1e_k2", (T.p / T.q - 1) ** 2 / 2),
    ("Q1f_k3", T.p / T.q - 1 + sp.log(T.p / T.q)),
    ("Q1f_k3", sp.log(T.q / T.p) + (T.p / T.q - 1) / 2),      # unbiased, but can be negative
    ("Q2a_Z", sp.exp(T.r1 / b) + sp.exp(T.r2 / b) + sp.exp(T.r3 / b)),
    ("Q2a_pi_star", Matrix([T.pi_ref1 * sp.exp(b * T.r1), T.pi_ref2 * sp.exp(b * T.r2), T.pi_ref3 * sp.exp(b * T.r3)])
     / (T.pi_ref1 * sp.exp(b * T.r1) + T.pi_ref2 * sp.exp(b * T.r2) + T.pi_ref3 * sp.exp(b * T.r3))),
    ("Q2a_kl_form", T.kl([T.pi1, T.pi2, T.pi3], T.Q2a_pi_star) + sp.log(T.Q2a_Z)),
    ("Q2b_preference", T.sigmoid(b * sp.log(T.pi_l / T.ref_l) - b * sp.log(T.pi_w / T.ref_w))),
    ("Q2b_loss", -sp.log(T.sigmoid(b * sp.log(T.pi_w / T.ref_w) + b * sp.log(T.pi_l / T.ref_l)))),
    ("Q2c_dlogp", -T.Q2c_dlogp),
    ("Q2c_grad", -T.Q2c_grad),
    ("Q2c_weight", T.sigmoid(T.rhat_l - T.rhat_w) ** 2),
]


@pytest.mark.parametrize("name,value", WRONG, ids=[f"{n}-{i}" for i, (n, _) in enumerate(WRONG)])
def test_wrong_answers_fail_their_own_checks(runtime, checks, item_of, name, value):
    results = verdicts(runtime, checks, name, value)
    failed = {cid for cid, v in results.items() if not v.passed}
    assert failed, f"no check caught the wrong {name}"
    assert {item_of[cid] for cid in failed} == {f"theory.{name[:3].lower()}.auto"}
    assert not any(v.error for v in results.values())
    for cid in failed:  # a reason the student can act on, which never shows the expected answer
        assert results[cid].reason.startswith(("`", "E_q", "Var_q", "the "))
        assert str(getattr(T, name)) not in results[cid].reason


EQUIVALENT = [
    ("Q1a_num_pairs", sp.binomial(K, 2)),
    ("Q1a_num_pairs", sp.factorial(K) / (2 * sp.factorial(K - 2))),
    ("Q1a_dloss", -T.sigmoid(-D)),
    ("Q1a_dloss", -1 / (1 + sp.exp(D))),
    ("Q1a_dloss", sp.Derivative(sp.log(1 + sp.exp(-D)), D)),   # left unevaluated
    ("Q1a_dloss_limits", [0, -1]),
    ("Q1a_dloss_limits", sp.Tuple(0.0, -1.0)),
    ("Q1b_shaped_reward", T.r + b * sp.log(T.pi_SFT) - b * sp.log(T.pi_RL)),
    ("Q1b_kl_two_outcomes", T.kl([T.p_RL, 1 - T.p_RL], [T.p_SFT, 1 - T.p_SFT])),
    ("Q1c_grad", [sp.diff(T.Q1c_expected_reward, v) for v in (T.phi1, T.phi2, T.phi3)]),
    ("Q1c_grad", Matrix([[PI[i] * (r - T.Q1c_expected_reward) for i, r in enumerate((T.r1, T.r2, T.r3))]])),  # a row
    ("Q1d_score", [[sp.diff(sp.log(PI[a]), v) for v in (T.phi1, T.phi2, T.phi3)] for a in range(3)]),
    ("Q1d_surrogate", T.G * (T.phi2 - sp.log(sp.exp(T.phi1) + sp.exp(T.phi2) + sp.exp(T.phi3))) + 3),
    ("Q1e_k2", sp.log(T.q / T.p) ** 2 / 2),
    ("Q1e_k2", 0.5 * (sp.log(T.p) - sp.log(T.q)) ** 2),
    ("Q1f_k3", sp.exp(sp.log(T.p) - sp.log(T.q)) - 1 - (sp.log(T.p) - sp.log(T.q))),
    ("Q2a_pi_star", Matrix([sp.exp(sp.log(ref) + r / b) for ref, r in
                            ((T.pi_ref1, T.r1), (T.pi_ref2, T.r2), (T.pi_ref3, T.r3))]) / T.Q2a_Z),
    ("Q2a_kl_form", sum(pi * sp.log(pi) - pi * sp.log(ref) - pi * r / b for pi, ref, r in
                        ((T.pi1, T.pi_ref1, T.r1), (T.pi2, T.pi_ref2, T.r2), (T.pi3, T.pi_ref3, T.r3)))),
    ("Q2b_reward", b * sp.log(T.pi_theta * T.Z / T.pi_ref)),
    ("Q2b_preference", 1 / (1 + (T.pi_l * T.ref_w / (T.pi_w * T.ref_l)) ** b)),
    ("Q2b_loss", sp.log(1 + sp.exp(-(b * sp.log(T.pi_w / T.ref_w) - b * sp.log(T.pi_l / T.ref_l))))),
    ("Q2c_weight", 1 - T.sigmoid(T.rhat_w - T.rhat_l)),
    ("Q2c_weight", T.sigmoid(sp.Symbol("rhat_l") - sp.Symbol("rhat_w"))),     # symbols without assumptions
    ("Q2c_dlogp", [sp.diff(-sp.log(T.sigmoid(b * (T.logp_w - T.logref_w) - b * (T.logp_l - T.logref_l))), v)
                   for v in (T.logp_w, T.logp_l)]),
    ("Q2c_grad", [sp.diff(-sp.log(T.sigmoid(b * sp.log(PI[0] / T.pi_ref1) - b * sp.log(PI[1] / T.pi_ref2))), v)
                  for v in (T.phi1, T.phi2, T.phi3)]),
]


@pytest.mark.parametrize("name,value", EQUIVALENT, ids=[f"{n}-{i}" for i, (n, _) in enumerate(EQUIVALENT)])
def test_equivalent_forms_pass(runtime, checks, name, value):
    results = verdicts(runtime, checks, name, value)
    assert {cid: v.reason for cid, v in results.items() if not v.passed} == {}


MALFORMED = [
    ("Q1a_dloss", "sigmoid(Delta) - 1", "not a string"),
    ("Q1a_dloss", sp.Eq(D, 1), "should be an expression"),
    ("Q1a_dloss", sp.Function("f")(D) + 1, "undefined function f"),
    ("Q1a_dloss", sp.Function("f")(D), "cannot be read as a sympy expression"),
    ("Q1a_dloss", T.sigmoid(T.r) - 1, "r (the reward r_theta(x, y) of Q1b); use only Delta"),
    ("Q1a_dloss", T.sigmoid(sp.Symbol("x")) - 1, "unknown symbol(s) x"),
    ("Q1c_grad", Matrix([1, 2]), "3 entries"),
    ("Q1d_score", Matrix([1, 2, 3]), "3x3 Matrix"),
    ("Q1a_dloss", True, "got a bool"),
]


@pytest.mark.parametrize("name,value,reason", MALFORMED, ids=[m[2] for m in MALFORMED])
def test_malformed_answers_fail_with_a_reason(runtime, checks, name, value, reason):
    results = verdicts(runtime, checks, name, value)
    for v in results.values():
        assert not v.passed and not v.error
        assert reason in v.reason


def test_a_slow_expression_fails_in_bounded_time(runtime, checks, monkeypatch):
    """Within every size limit, but nothing can evaluate it: the time limits end the check."""
    from graders.parts import theory_math

    monkeypatch.setattr(theory_math, "COMPARE_SECONDS", 1.0)  # (the judging child inherits these)
    monkeypatch.setattr(theory_math, "SIMPLIFY_SECONDS", 1.0)
    nested = D
    for _ in range(40):
        nested = sp.exp(nested)
    results = verdicts(runtime, checks, "Q1a_dloss", nested)
    assert all(not v.passed and not v.error for v in results.values())


def test_huge_numbers_are_refused_before_evaluation(runtime, checks):
    huge = sp.Mul(sp.Pow(sp.Integer(2), sp.Integer(10) ** 100, evaluate=False), D, evaluate=False)
    results = verdicts(runtime, checks, "Q1a_dloss", huge)
    assert [v.reason for v in results.values()] == ["`Q1a_dloss` contains a power with an exponent too large to be checked"]
    results = verdicts(runtime, checks, "Q1a_num_pairs", sp.factorial(sp.Integer(10) ** 6, evaluate=False))
    assert all("too large" in v.reason for v in results.values())


# ---- numeric companions with wrong or differently written implementations -------------------------

def rm_adjacent_pairs(rewards_ranked):
    margins = rewards_ranked[:, :-1] - rewards_ranked[:, 1:]
    return -F.logsigmoid(margins).mean()


def rm_loop(rewards_ranked):
    B, K = rewards_ranked.shape
    total = torch.zeros(())
    for row in rewards_ranked:
        for i, j in itertools.combinations(range(K), 2):
            total = total + torch.log1p(torch.exp(-(row[i] - row[j])))
    return total / (B * K * (K - 1) / 2)


def dpo_mean(pc, pr, rc, rr, beta):
    losses, cr, rj = T.dpo_loss(pc, pr, rc, rr, beta)
    return losses.mean(), cr, rj


def dpo_naive(pc, pr, rc, rr, beta):
    chosen, rejected = beta * (pc - rc), beta * (pr - rr)
    return -torch.log(torch.sigmoid(chosen - rejected)), chosen, rejected


def kl_stacked(logq, logp):
    return torch.stack(T.kl_estimators(logq, logp))


def kl_float64(logq, logp):
    lq, lp = logq.double(), logp.double()
    return (lq - lp), (lq - lp) ** 2 / 2, (lp - lq).exp() - 1 - (lp - lq)


NUMERIC = [  # (function, implementation, the items it should lose: none if it is correct)
    ("reward_model_loss", rm_adjacent_pairs, {"theory.q1a.auto"}),
    ("reward_model_loss", rm_loop, set()),
    ("dpo_loss", dpo_mean, {"theory.q2b.auto"}),
    ("dpo_loss", dpo_naive, set()),
    ("kl_estimators", kl_stacked, {"theory.q1e.auto", "theory.q1f.auto"}),  # breaks the contract of both
    ("kl_estimators", kl_float64, set()),
]


@pytest.mark.parametrize("name,fn,lost", NUMERIC, ids=[f.__name__ for _, f, _ in NUMERIC])
def test_numeric_companions(runtime, checks, item_of, name, fn, lost):
    results = verdicts(runtime, checks, name, fn)
    failed = {cid: v.reason for cid, v in results.items() if not v.passed}
    assert {item_of[cid] for cid in failed} == lost
    assert not any(v.error for v in results.values())
