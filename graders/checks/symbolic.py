"""Symbolic equivalence of a student's sympy answer with the expected expression.

Equivalence is mathematical, not textual: the student's symbols are mapped by name onto the
declared ones (so a symbol re-declared without assumptions still counts), then
``simplify(answer - expected) == 0`` is tried, and otherwise both are evaluated at random points
drawn from each symbol's declared range. The work runs in the checker process of
``graders.checks.isolated`` with a time limit, so an exploding expression fails this check with a
reason and never hangs the grader.

Example::

    Symbolic("q1a_grad", expected=sigmoid(D) - 1, symbols={"Delta": (-5, 5)})
"""
from __future__ import annotations

import random
from typing import Any, Mapping

import sympy as sp

from graders.checks.base import ValueRule
from graders.checks.isolated import run_isolated
from graders.probe.transport import Outcome
from graders.results import Verdict

#: default sampling range for a symbol: positive → (0.1, 3); otherwise (-3, 3)
Range = tuple[float, float]


def default_range(sym: sp.Symbol) -> Range:
    return (0.1, 3.0) if sym.is_positive or sym.is_nonnegative else (-3.0, 3.0)


def _applied_functions(expr: sp.Basic) -> list:
    from sympy.core.function import AppliedUndef

    return sorted(expr.atoms(AppliedUndef), key=sp.default_sort_key)


def equivalent(actual: sp.Basic, expected: sp.Basic, ranges: Mapping[str, Range], *,
               points: int = 12, seed: int = 0, rtol: float = 1e-6,
               simplify: bool = True) -> tuple[bool, str]:
    """(equivalent?, reason). Runs in the current process: rules call it through ``run_isolated``."""
    expected_syms = {s.name: s for s in expected.free_symbols if isinstance(s, sp.Symbol)}
    declared = set(ranges) | set(expected_syms)
    unknown = sorted(s.name for s in actual.free_symbols if isinstance(s, sp.Symbol) and s.name not in declared)
    if unknown:
        return False, f"uses symbols that are not part of this answer: {', '.join(unknown[:6])}"
    canonical = {s: expected_syms.get(s.name, sp.Symbol(s.name, **_assumptions(ranges, s)))
                 for s in actual.free_symbols if isinstance(s, sp.Symbol)}
    actual = actual.xreplace(canonical)
    try:
        actual = actual.doit()
        expected = expected.doit()
    except Exception:
        pass
    if simplify:
        try:
            if sp.simplify(actual - expected) == 0:
                return True, ""
        except Exception:
            pass
    # random points: each symbol and each applied undefined function (pi(y), r(x, y)…) gets a value
    rng = random.Random(seed)
    atoms = sorted((actual.free_symbols | expected.free_symbols), key=lambda s: s.name)
    funcs = sorted(set(_applied_functions(actual)) | set(_applied_functions(expected)), key=sp.default_sort_key)
    checked = 0
    for _ in range(points * 3):
        if checked >= points:
            break
        subs = {}
        for s in atoms:
            lo, hi = ranges.get(s.name, default_range(s))
            subs[s] = sp.Float(rng.uniform(lo, hi), 30)
        for f in funcs:
            lo, hi = ranges.get(f.func.__name__, (0.1, 3.0))
            subs[f] = sp.Float(rng.uniform(lo, hi), 30)
        try:
            a = complex(sp.N(actual.xreplace(subs) if not funcs else actual.subs(subs), 30))
            e = complex(sp.N(expected.xreplace(subs) if not funcs else expected.subs(subs), 30))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            continue
        if not all(map(_finite, (a, e))):
            continue
        checked += 1
        if abs(a - e) > rtol * (1 + abs(e)):
            return False, "is not equivalent to the expected expression (differs at a test point)"
    if checked == 0:
        return False, "could not be evaluated at any test point (check the symbols you used)"
    return True, ""


def _finite(z: complex) -> bool:
    return all(map(lambda x: x == x and abs(x) != float("inf"), (z.real, z.imag)))


def _assumptions(ranges: Mapping[str, Range], s: sp.Symbol) -> dict:
    lo, _ = ranges.get(s.name, (-1, 1))
    return {"positive": True} if lo > 0 else {"real": True}


def _equivalent_values(values: list, expected: sp.Basic, ranges: Mapping[str, Range], points: int, rtol: float,
                       simplify: bool) -> tuple[bool, str]:
    """Runs in the checker process (``graders.checks.isolated``)."""
    return equivalent(values[0], expected, ranges, points=points, rtol=rtol, simplify=simplify)


class Symbolic(ValueRule):
    """The answer is a sympy expression equivalent to ``expected``.

    ranges: symbol or undefined-function name → (low, high) for random test points; probabilities
            as (0.05, 0.95), β as (0.1, 3) …
    """

    def __init__(self, probe: str, expected: sp.Basic, *, ranges: Mapping[str, Range] | None = None,
                 timeout: float = 10.0, points: int = 12, rtol: float = 1e-6, what: str = "answer",
                 simplify: bool = True):
        super().__init__(probe)
        if not isinstance(expected, sp.Basic):
            raise ValueError(f"expected must be a sympy expression, got {type(expected).__name__}")
        self.expected, self.ranges = expected, dict(ranges or {})
        self.timeout, self.points, self.rtol, self.what, self.simplify = timeout, points, rtol, what, simplify

    def judge(self, value: Any, outcome: Outcome) -> Verdict:
        if value is None:
            return Verdict.fail(f"{self.what} is not answered yet (still None)")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = sp.nsimplify(value) if isinstance(value, float) else sp.Integer(value)
        if not isinstance(value, sp.Basic):
            return Verdict.fail(f"{self.what} should be a sympy expression, got {outcome.type or type(value).__name__}")
        ok, reason = run_isolated(_equivalent_values, [value], timeout=self.timeout,
                                  args=(self.expected, self.ranges, self.points, self.rtol, self.simplify))
        return Verdict.ok() if ok else Verdict.fail(f"{self.what} {reason}", detail=f"expected {self.expected}")
