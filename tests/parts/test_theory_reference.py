"""The theory reference against independent oracles (fast; no notebook is executed).

* the notebook's locked cell, the reference module and the grader declare the same symbols;
* every sympy answer against a derivation done another way: torch autograd for gradients,
  ``itertools`` for counting, ``scipy.optimize`` for the optimal policy, sympy ``series`` for the
  second-order claim, exact sums over random categorical distributions for unbiasedness;
* ``reward_model_loss`` against a brute-force loop over pairs, ``kl_estimators`` against the
  formulas, ``dpo_loss`` against TRL's published sigmoid loss and — when ``trl`` is installed
  (requirements-dev.txt) — against TRL's own ``DPOTrainer`` code;
* the statement's claims, as the grader simulates them, hold for the reference at several seeds.
"""
from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from scipy.optimize import minimize

import reference.theory as T
from graders.parts import theory, theory_math
from graders.part import CheckContext
from graders.probe.transport import KernelArray, Outcome
from tools.build_notebooks import split_cells

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(20260101)


def locked_cell(cell_id: str) -> str:
    cells = split_cells((ROOT / "authoring" / "theory.py").read_text(encoding="utf-8"))
    return next(body for kind, arg, body in cells if kind == "locked" and arg == cell_id)


def values(expr, env: dict) -> complex:
    return complex(sp.sympify(expr).xreplace({k: sp.Float(v, 30) for k, v in env.items()}).evalf(30))


def random_env(names, low=-2.0, high=2.0) -> dict:
    return {theory_math.S[n]: float(RNG.uniform(low, high)) for n in names}


# ---- the symbols ---------------------------------------------------------------------------------

def test_locked_symbols_cell_is_copied_verbatim_in_the_reference():
    assert locked_cell("symbols") in (ROOT / "reference" / "theory.py").read_text(encoding="utf-8")


def test_grader_declares_the_notebooks_symbols():
    namespace: dict = {}
    exec(locked_cell("symbols"), namespace)
    declared = {v.name: v for v in namespace.values() if isinstance(v, sp.Symbol)}
    assert set(declared) == set(theory_math.SYMBOLS)
    for name, symbol in declared.items():
        assert symbol == theory_math.SYMBOLS[name], name          # same name and assumptions
    x = sp.Symbol("x", real=True)
    assert namespace["sigmoid"](x) == theory_math.sigmoid(x)
    assert namespace["pi_phi"] == theory_math.PI_PHI


def test_ranges_respect_the_assumptions():
    for name, symbol in theory_math.SYMBOLS.items():
        low, high = theory_math.RANGES[name]
        assert low < high
        if symbol.is_positive:
            assert low > 0, name
    for name, allowed in theory.ALLOWED.items():
        assert set(allowed) <= set(theory_math.SYMBOLS), name
        answer = getattr(T, name)
        used = set().union(*(sp.sympify(a).free_symbols for a in (answer if isinstance(answer, tuple) else [answer])))
        assert {s.name for s in used} <= set(allowed), name


# ---- Q1 --------------------------------------------------------------------------------------------

def test_q1a_pairs_gradient_and_limits():
    for k in range(2, 9):
        assert T.Q1a_num_pairs.subs(T.K, k) == len(list(itertools.combinations(range(k), 2)))
    for delta in RNG.uniform(-6, 6, 5):
        d = torch.tensor(float(delta), dtype=torch.float64, requires_grad=True)
        (-F.logsigmoid(d)).backward()
        assert values(T.Q1a_dloss, {T.Delta: delta}).real == pytest.approx(float(d.grad), rel=1e-12)
    derivative = sp.diff(-sp.log(T.sigmoid(T.Delta)), T.Delta)
    assert tuple(T.Q1a_dloss_limits) == (sp.limit(derivative, T.Delta, sp.oo), sp.limit(derivative, T.Delta, -sp.oo))


def test_q1b_shaped_reward_and_its_kl():
    from scipy.stats import entropy

    for _ in range(5):
        a, b = RNG.uniform(0.05, 0.95, 2)
        got = values(T.Q1b_kl_two_outcomes, {T.p_RL: a, T.p_SFT: b}).real
        assert got == pytest.approx(entropy([a, 1 - a], [b, 1 - b]), rel=1e-10)
    env = {T.r: 1.3, T.beta: 0.2, T.pi_RL: 0.3, T.pi_SFT: 0.6}
    assert values(T.Q1b_shaped_reward, env).real == pytest.approx(1.3 - 0.2 * math.log(0.3 / 0.6))


def softmax_env():
    phi = torch.tensor(RNG.normal(size=3), dtype=torch.float64, requires_grad=True)
    env = {T.phi1: float(phi[0].detach()), T.phi2: float(phi[1].detach()), T.phi3: float(phi[2].detach())}
    return phi, env


def as_numbers(matrix, env):
    return np.array([[values(x, env).real for x in row] for row in sp.Matrix(matrix).tolist()])


def test_q1c_expected_reward_gradient_by_autograd():
    phi, env = softmax_env()
    rewards = torch.tensor(RNG.normal(size=3), dtype=torch.float64)
    env.update({T.r1: float(rewards[0]), T.r2: float(rewards[1]), T.r3: float(rewards[2])})
    expected = (torch.softmax(phi, 0) * rewards).sum()
    expected.backward()
    assert values(T.Q1c_expected_reward, env).real == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(as_numbers(T.Q1c_grad, env).ravel(), phi.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_q1d_score_policy_gradient_and_surrogate_by_autograd():
    phi, env = softmax_env()
    jacobian = torch.autograd.functional.jacobian(lambda z: torch.log_softmax(z, 0), phi.detach())
    np.testing.assert_allclose(as_numbers(T.Q1d_score, env), jacobian.numpy(), rtol=1e-10, atol=1e-12)
    returns = torch.tensor(RNG.normal(size=3), dtype=torch.float64)
    env.update({T.G1: float(returns[0]), T.G2: float(returns[1]), T.G3: float(returns[2]), T.G: 1.7})
    (torch.softmax(phi, 0) * returns).sum().backward()
    np.testing.assert_allclose(as_numbers(T.Q1d_policy_gradient, env).ravel(), phi.grad.numpy(), rtol=1e-10, atol=1e-12)
    surrogate_grad = [values(sp.diff(T.Q1d_surrogate, v), env).real for v in (T.phi1, T.phi2, T.phi3)]
    np.testing.assert_allclose(surrogate_grad, 1.7 * jacobian[1].numpy(), rtol=1e-10, atol=1e-12)


def test_q1e_k2_matches_kl_to_second_order_by_series():
    theta, eps = sp.symbols("theta eps", positive=True)
    q, p = [theta, 1 - theta], [theta + eps, 1 - theta - eps]
    kl = sum(a * sp.log(a / b) for a, b in zip(q, p))
    expected_k2 = sum(a * T.Q1e_k2.xreplace({T.q: a, T.p: b}) for a, b in zip(q, p))
    assert sp.simplify(sp.series(expected_k2 - kl, eps, 0, 3).removeO()) == 0
    assert sp.simplify(sp.series(expected_k2, eps, 0, 3).removeO()) != 0   # not trivially zero
    k1_var = sum(a * sp.log(a / b) ** 2 for a, b in zip(q, p)) - kl ** 2
    assert sp.simplify(sp.series(k1_var, eps, 0, 3).removeO() - eps ** 2 / (theta * (1 - theta))) == 0


def test_q1f_k3_is_exactly_unbiased_and_nonnegative():
    for _ in range(5):
        qd, pd = RNG.dirichlet(np.ones(5)), RNG.dirichlet(np.ones(5))
        mean = sum(a * values(T.Q1f_k3, {T.q: a, T.p: b}).real for a, b in zip(qd, pd))
        assert mean == pytest.approx(float(np.sum(qd * np.log(qd / pd))), rel=1e-10)
    for a, b in itertools.product([0.01, 0.3, 0.99], repeat=2):
        assert values(T.Q1f_k3, {T.q: a, T.p: b}).real >= 0


# ---- Q2 --------------------------------------------------------------------------------------------

def q2a_env():
    refs = RNG.dirichlet(np.ones(3))
    rewards = RNG.normal(size=3)
    beta = float(RNG.uniform(0.2, 2.0))
    env = {T.beta: beta, T.r1: rewards[0], T.r2: rewards[1], T.r3: rewards[2],
           T.pi_ref1: refs[0], T.pi_ref2: refs[1], T.pi_ref3: refs[2]}
    return refs, rewards, beta, env


def test_q2a_optimal_policy_by_numerical_optimisation():
    for _ in range(3):
        refs, rewards, beta, env = q2a_env()

        def negative_objective(z):
            pi = np.exp(z) / np.exp(z).sum()
            return -(pi @ rewards - beta * np.sum(pi * np.log(pi / refs)))

        best = minimize(negative_objective, np.zeros(3), method="BFGS", options={"gtol": 1e-10})
        optimum = np.exp(best.x) / np.exp(best.x).sum()
        np.testing.assert_allclose(as_numbers(T.Q2a_pi_star, env).ravel(), optimum, atol=1e-6)
        assert values(T.Q2a_Z, env).real == pytest.approx(float(np.sum(refs * np.exp(rewards / beta))))


def test_q2a_kl_form_is_the_objective_on_the_simplex():
    refs, rewards, beta, env = q2a_env()
    pi = RNG.dirichlet(np.ones(3))
    env.update({T.pi1: pi[0], T.pi2: pi[1], T.pi3: pi[2]})
    objective = pi @ rewards - beta * np.sum(pi * np.log(pi / refs))
    assert values(T.Q2a_kl_form, env).real == pytest.approx(-objective / beta, rel=1e-10)


def test_q2b_reward_inverts_pi_star_and_z_cancels():
    r, rw, rl = sp.symbols("r r_w r_l", real=True)
    b, Z = T.beta, T.Z
    star = T.pi_ref * sp.exp(r / b) / Z
    assert sp.simplify(T.Q2b_reward.xreplace({T.pi_theta: star}) - r) == 0
    substituted = T.Q2b_preference.xreplace({T.pi_w: T.ref_w * sp.exp(rw / b) / Z, T.pi_l: T.ref_l * sp.exp(rl / b) / Z})
    assert sp.simplify(substituted - T.sigmoid(rw - rl)) == 0
    assert sp.simplify(T.Q2b_loss + sp.log(T.Q2b_preference)) == 0


def test_q2c_gradients_by_autograd():
    logs = torch.tensor(RNG.uniform(-8, -0.5, 4), dtype=torch.float64, requires_grad=True)
    beta = 0.3
    loss = -F.logsigmoid(beta * ((logs[0] - logs[2]) - (logs[1] - logs[3])))
    loss.backward()
    lw, ll, rw, rl = logs.detach().tolist()
    env = {T.beta: beta, T.logp_w: lw, T.logp_l: ll, T.logref_w: rw, T.logref_l: rl}
    np.testing.assert_allclose(as_numbers(T.Q2c_dlogp, env).ravel(), logs.grad[:2].numpy(), rtol=1e-10)
    rhat_w, rhat_l = beta * (lw - rw), beta * (ll - rl)
    weight = values(T.Q2c_weight, {T.rhat_w: rhat_w, T.rhat_l: rhat_l}).real
    assert float(logs.grad[0]) == pytest.approx(-beta * weight, rel=1e-10)
    # the softmax policy of Q1c, y_w = y1, y_l = y2
    phi, env = softmax_env()
    refs = RNG.uniform(0.1, 0.5, 2)
    env.update({T.beta: beta, T.pi_ref1: refs[0], T.pi_ref2: refs[1]})
    logpi = torch.log_softmax(phi, 0)
    loss = -F.logsigmoid(beta * (logpi[0] - math.log(refs[0])) - beta * (logpi[1] - math.log(refs[1])))
    loss.backward()
    np.testing.assert_allclose(as_numbers(T.Q2c_grad, env).ravel(), phi.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---- numeric companions --------------------------------------------------------------------------

@pytest.mark.parametrize("b,k", [(1, 2), (3, 4), (2, 7)])
def test_reward_model_loss_against_a_loop_over_pairs(b, k):
    rewards = torch.tensor(RNG.normal(0, 2, (b, k)), dtype=torch.float64, requires_grad=True)
    brute = sum(-math.log(1 / (1 + math.exp(-(float(row[i]) - float(row[j])))))
                for row in rewards.detach() for i, j in itertools.combinations(range(k), 2)) / (b * math.comb(k, 2))
    loss = T.reward_model_loss(rewards)
    assert loss.shape == () and loss.item() == pytest.approx(brute, rel=1e-12)
    loss.backward()  # differentiable
    assert rewards.grad is not None


def trl_formula(pc, pr, rc, rr, beta):
    """TRL's published sigmoid DPO loss: -logsigmoid(beta * ((pc - rc) - (pr - rr)))."""
    logits = (pc - rc) - (pr - rr)
    return -F.logsigmoid(beta * logits), beta * (pc - rc).detach(), beta * (pr - rr).detach()


def dpo_inputs(n=8):
    pc, pr = (torch.tensor(RNG.uniform(-40, -5, n)) for _ in range(2))
    return pc, pr, pc + torch.tensor(RNG.normal(0, 3, n)), pr + torch.tensor(RNG.normal(0, 3, n))


@pytest.mark.parametrize("beta", [0.05, 0.1, 0.5, 2.0])
def test_dpo_loss_against_trl_formula(beta):
    inputs = dpo_inputs()
    for got, want in zip(T.dpo_loss(*inputs, beta), trl_formula(*inputs, beta)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_dpo_loss_against_trl_itself():
    """TRL's DPOTrainer._compute_loss, on a stand-in model whose sequence log-probs we choose."""
    dpo_trainer = pytest.importorskip("trl.trainer.dpo_trainer")

    class StandIn:
        training = False

        def __init__(self, logps):
            self.logps = logps

        def __call__(self, **kwargs):
            n = self.logps.shape[0]
            log_probs = torch.zeros(n, 2, dtype=self.logps.dtype)
            log_probs[:, 0] = self.logps  # summed over the completion by TRL
            return SimpleNamespace(log_probs=log_probs, entropy=torch.zeros(n, 2), mean_logits=torch.zeros(n, 2),
                                   is_top1=torch.zeros(n, 2, dtype=torch.bool))

    def trl_pair(pc, pr, rc, rr, beta):
        model = StandIn(torch.stack([pc, pr]))
        metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        trainer = SimpleNamespace(
            model=model, accelerator=SimpleNamespace(gather=lambda x: x, gather_for_metrics=lambda x: x, device="cpu"),
            aux_loss_enabled=False, ld_alpha=None, precompute_ref_logps=True, f_divergence_type="reverse_kl",
            loss_types=["sigmoid"], loss_weights=[1.0], beta=beta, use_weighting=False, _metrics=metrics,
            _total_train_tokens=0)
        ones = torch.ones(2, 3, dtype=torch.long)
        inputs = {"input_ids": ones * 0, "attention_mask": ones, "completion_mask": ones,
                  "ref_chosen_logps": rc.reshape(1), "ref_rejected_logps": rr.reshape(1)}
        loss = dpo_trainer.DPOTrainer._compute_loss(trainer, model, inputs, return_outputs=False)
        return float(loss), metrics["eval"]["rewards/chosen"][0], metrics["eval"]["rewards/rejected"][0]

    beta = 0.1
    inputs = dpo_inputs(6)
    losses, chosen, rejected = T.dpo_loss(*inputs, beta)
    for n in range(6):
        loss, c, r = trl_pair(*(x[n] for x in inputs), beta)
        assert float(losses[n]) == pytest.approx(loss, rel=1e-10)
        assert float(chosen[n]) == pytest.approx(c, rel=1e-10)
        assert float(rejected[n]) == pytest.approx(r, rel=1e-10)


def test_kl_estimators_against_the_formulas():
    logq = torch.tensor(RNG.uniform(-4, -0.1, 50))
    logp = torch.tensor(RNG.uniform(-4, -0.1, 50))
    k1, k2, k3 = T.kl_estimators(logq, logp)
    ratio = np.exp(logp.numpy() - logq.numpy())
    np.testing.assert_allclose(k1.numpy(), -np.log(ratio), rtol=1e-12)
    np.testing.assert_allclose(k2.numpy(), 0.5 * np.log(ratio) ** 2, rtol=1e-12)
    np.testing.assert_allclose(k3.numpy(), (ratio - 1) - np.log(ratio), rtol=1e-10, atol=1e-14)


def as_kernel_tuple(tensors):
    out = []
    for t in tensors:
        a = t.detach().numpy().view(KernelArray)
        a.source = "torch.Tensor"
        out.append(a)
    return tuple(out)


@pytest.mark.parametrize("seed", [1, 2, 3, 17, 2026])
def test_the_simulated_claims_hold_for_the_reference(seed):
    for check in theory.simulation_checks(CheckContext(secret=f"test secret {seed}")):
        (probe,) = check.probes
        result = T.kl_estimators(*probe.args)
        verdict = check.run({probe.id: Outcome(probe.id, True, as_kernel_tuple(result), type="builtins.tuple")})
        assert verdict.passed, (check.id, verdict.reason)


def test_the_simulations_catch_wrong_estimators():
    checks = {c.id: c for c in theory.simulation_checks(CheckContext(secret="test secret 5"))}

    def run(cid, fn):
        (probe,) = checks[cid].probes
        value = as_kernel_tuple(fn(*probe.args))
        return checks[cid].run({probe.id: Outcome(probe.id, True, value, type="builtins.tuple")})

    def k2_without_half(lq, lp):
        k1, k2, k3 = T.kl_estimators(lq, lp)
        return k1, 2 * k2, k3

    def k2_is_k1(lq, lp):
        k1, k2, k3 = T.kl_estimators(lq, lp)
        return k1, k1, k3

    def k3_swapped(lq, lp):
        k1, k2, k3 = T.kl_estimators(lq, lp)
        return k1, k2, torch.expm1(lq - lp) - (lq - lp)

    assert "close to KL" in run("theory.q1e.k2_simulation", k2_without_half).reason
    assert "smaller variance" in run("theory.q1e.k2_simulation", k2_is_k1).reason
    assert "unbiased" in run("theory.q1f.k3_simulation", k3_swapped).reason


def test_requirements_dev_names_trl():
    text = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    assert re.search(r"^trl==", text, re.M)


def test_generated_notebooks_are_up_to_date():
    from tools.build_notebooks import outputs

    for path, text in outputs("theory").items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run tools/build_notebooks.py theory"


def test_public_checks_replay_in_the_student_bundle(tmp_path, monkeypatch):
    """``hw4 release`` records the reference's public values; the bundle rebuilds the same checks."""
    from graders import public_cache

    recorded = theory.build_checks(CheckContext(public_only=True, reference_mode="record", record_folder=tmp_path))
    original = public_cache.Replayer
    monkeypatch.setattr(public_cache, "Replayer", lambda name: original(name, tmp_path))
    replayed = theory.build_checks(CheckContext(public_only=True, reference_mode="replay"))
    assert [c.id for c in replayed] == [c.id for c in recorded]
    assert all(c.public for c in replayed) and len(replayed) == 4
    for check in replayed:
        outcomes = {}
        for probe in check.probes:
            result = getattr(T, probe.target)(*probe.args)
            value = as_kernel_tuple(result) if isinstance(result, tuple) else as_kernel_tuple([result])[0]
            outcomes[probe.id] = Outcome(probe.id, True, value, type="torch.Tensor")
        verdict = check.run(outcomes)
        assert verdict.passed, (check.id, verdict.reason)
