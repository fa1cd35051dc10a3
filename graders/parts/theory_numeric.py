"""Theory's numeric companions: ``reward_model_loss``, ``dpo_loss`` and ``kl_estimators`` called on
tensors, and the statement's claims about k2 and k3 checked by simulation.

``numeric_check`` builds one check of a function on several cases, compared with the reference's
values (a tuple's wrong member named; for ``reward_model_loss`` the gradient through the result
too, from the kernel's ``input_gradients`` observer); ``_rm_cases`` / ``_dpo_cases`` /
``_kl_cases`` compute the expected values of given inputs; the public inputs are fixed
(``PUBLIC_RANKINGS`` …), the hidden ones drawn from ``ctx.rng("theory.numeric")``.
``simulation_checks`` draws samples from ``ctx.rng("theory.kl_simulation")``: the mean of k3 matches
the exact KL, and k2 has a far smaller variance than k1 (and a small bias) on a close pair; neither
pays for constant estimators. The table that uses them: ``graders.parts.theory.numeric_checks``.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from graders.checks.base import Check
from graders.checks.rules import Property
from graders.checks.values import close_problem, describe_value, members_problem, type_problem
from graders.part import CheckContext
from graders.probe.spec import Probe
from graders.probe.transport import KernelArray

#: the part the checks built here belong to
PART_NAME = "theory"


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
