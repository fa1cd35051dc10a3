"""Sampler checks by statistics, so that any correct sampler passes whatever RNG calls it makes.

Given many calls' results (each a list of ``beams`` ids), check that every id lies in the
support of the target distribution, that the ids of one call are distinct, and that the first
id of each call follows the target distribution (chi-square goodness of fit at a tiny
significance level; bins with small expected counts are pooled).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy import stats

from graders.checks.base import ValueRule
from graders.checks.values import as_array
from graders.probe.transport import KernelArray, Outcome
from graders.reasons import hidden
from graders.results import Verdict


def goodness_of_fit(first_ids: np.ndarray, probs: np.ndarray, *, min_expected: float = 5.0) -> float:
    """p-value of a chi-square test of ``first_ids`` against ``probs`` (pooling small bins)."""
    n = len(first_ids)
    observed = np.bincount(first_ids, minlength=len(probs)).astype(float)
    expected = probs * n
    order = np.argsort(-expected)
    obs_bins, exp_bins = [], []
    acc_o = acc_e = 0.0
    for i in order:
        if expected[i] <= 0:
            continue
        acc_o += observed[i]
        acc_e += expected[i]
        if acc_e >= min_expected:
            obs_bins.append(acc_o)
            exp_bins.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0:
        if exp_bins:
            obs_bins[-1] += acc_o
            exp_bins[-1] += acc_e
        else:
            obs_bins.append(acc_o)
            exp_bins.append(acc_e)
    if len(exp_bins) < 2:
        return 1.0
    exp_arr = np.array(exp_bins)
    obs_arr = np.array(obs_bins)
    exp_arr *= obs_arr.sum() / exp_arr.sum()
    return float(stats.chisquare(obs_arr, exp_arr).pvalue)


class SamplerFits(ValueRule):
    """The probe returned a list of draws; each draw has ``beams`` distinct ids in the support
    of ``probs`` and first ids fit ``probs`` at significance ``alpha``."""

    def __init__(self, probe: str, probs: np.ndarray, beams: int, *, alpha: float = 1e-6, what: str = "sampler",
                 replay: str | None = None, unchanged: Callable[[Outcome], str | None] | None = None):
        super().__init__(probe)
        probs = np.asarray(probs, dtype=float)
        if probs.ndim != 1 or (probs < 0).any() or not np.isclose(probs.sum(), 1.0, atol=1e-6):
            raise ValueError("probs must be a probability vector")
        if beams < 1:
            raise ValueError(f"beams must be ≥ 1, got {beams}")
        self.probs, self.beams, self.alpha, self.what = probs, int(beams), alpha, what
        self.replay, self.unchanged = replay, unchanged

    def run(self, outcomes) -> Verdict:
        """The draws judged; then, if asked, the same first draws from the ``replay`` probe (a generator
        seeded alike: all randomness must come from the ``generator`` argument), and the arguments
        left unchanged (``unchanged(outcome)`` returns a reason or None)."""
        verdict = super().run(outcomes)
        if not verdict.passed:
            return verdict
        if self.unchanged is not None and (problem := self.unchanged(outcomes[self.probe])):
            return Verdict.fail(problem)
        if self.replay is not None:
            first, again = outcomes[self.probe].value, outcomes[self.replay].value
            if not isinstance(again, list) or len(again) > len(first) or any(
                    (a := as_array(x)) is None or (b := as_array(y)) is None or not np.array_equal(a, b)
                    for x, y in zip(first, again)):
                return Verdict.fail(f"{self.what}: a generator seeded the same way gave other draws: take every "
                                    "random number from the `generator` argument (not torch's global random state)")
        return verdict

    def judge(self, value: Any, outcome: Outcome) -> Verdict:
        if not isinstance(value, list) or not value:
            return Verdict.fail(f"{self.what}: expected a list of draws")
        draws = []
        for d in value:
            a = as_array(d)
            if a is None or a.dtype.kind not in "iu" and not (a.dtype.kind == "f" and np.all(a == np.round(a))):
                return Verdict.fail(f"{self.what} should return integer token ids, got a {type(d).__name__}")
            draws.append(a.reshape(-1).astype(np.int64))
        sizes = {len(d) for d in draws}
        if sizes != {self.beams}:
            return Verdict.fail(f"{self.what} should return `beams` ids per call"
                                + hidden(f" ({self.beams}), got {sorted(sizes)[:3]}", shown=""))
        allowed = self.probs > 0
        for d in draws:
            if (d < 0).any() or (d >= len(self.probs)).any() or not allowed[d].all():
                bad = [int(x) for x in d if x < 0 or x >= len(self.probs) or not allowed[x]]
                return Verdict.fail(f"{self.what} returned token id {hidden(bad[0], shown='(one of yours)')}, which the "
                                    "filter should have removed")
            if len(set(d.tolist())) != len(d):
                return Verdict.fail(f"{self.what} returned the same id twice in one call (sample without replacement)")
        p = goodness_of_fit(np.array([d[0] for d in draws]), self.probs)
        if p < self.alpha:
            return Verdict.fail(f"{self.what}: the first sampled ids do not follow the filtered distribution "
                                f"(chi-square p = {hidden(f'{p:.1e}')} over {len(draws)} draws)")
        if not all(isinstance(d, KernelArray) and d.source == "torch.Tensor" for d in value):
            return Verdict(True, f"{self.what} returned its ids as a {type(value[0]).__name__}; the docstring asks "
                                 "for a torch.LongTensor (accepted: the same ids)", f"p = {p:.3g}")
        return Verdict.ok(detail=f"p = {p:.3g}")
