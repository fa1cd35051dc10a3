"""The general rule kinds: exact, allclose, property. (dataframe, symbolic, statistical and
figure rules live in their own modules.)

Example::

    Check("part4.get_log_prob.basic", "part4",
          probes=(Probe("lp", "get_log_prob", (logits, 3)),),
          rule=AllClose("lp", expected=-1.234, kind="float", atol=1e-5))
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from graders.checks.base import CannotGrade, ValueRule
from graders.checks.values import KINDS, close_problem, exact_problem, type_problem
from graders.probe.transport import Outcome
from graders.results import Verdict


def _select(value: Any, select: Callable[[Any], Any] | None) -> tuple[Any, str | None]:
    if select is None:
        return value, None
    try:
        return select(value), None
    except (IndexError, KeyError, TypeError, AttributeError, ValueError) as exc:
        return None, f"has an unexpected structure ({type(exc).__name__}: {exc})"


class Exact(ValueRule):
    """The value equals ``expected`` exactly (plain data or integer arrays)."""

    def __init__(self, probe: str, expected: Any, *, kind: str | None = None,
                 select: Callable[[Any], Any] | None = None, what: str = "result"):
        super().__init__(probe)
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.expected, self.kind, self.select, self.what = expected, kind, select, what

    def judge(self, value: Any, outcome: Outcome) -> Verdict:
        if self.kind and (p := type_problem(outcome, self.kind)):
            return Verdict.fail(f"{self.what} {p}")
        value, p = _select(value, self.select)
        if p is None:
            p = exact_problem(value, self.expected)
        return Verdict.fail(f"{self.what}: {p}", detail=f"expected {self.expected!r:.300}") if p else Verdict.ok()


class AllClose(ValueRule):
    """Numbers/arrays (or nested tuples/lists/dicts of them) within ``rtol``/``atol``.

    NaN or inf in the answer never passes unless the expected value has it at the same place.
    """

    def __init__(self, probe: str, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-8,
                 kind: str | None = None, select: Callable[[Any], Any] | None = None, what: str = "result"):
        super().__init__(probe)
        if rtol < 0 or atol < 0:
            raise ValueError(f"tolerances must be non-negative, got rtol={rtol}, atol={atol}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.expected, self.rtol, self.atol = expected, rtol, atol
        self.kind, self.select, self.what = kind, select, what

    def judge(self, value: Any, outcome: Outcome) -> Verdict:
        if self.kind and (p := type_problem(outcome, self.kind)):
            return Verdict.fail(f"{self.what} {p}")
        value, p = _select(value, self.select)
        if p is None:
            p = close_problem(value, self.expected, rtol=self.rtol, atol=self.atol)
        if p:
            return Verdict.fail(f"{self.what}: {p}", detail=f"expected {self.expected!r:.500}")
        return Verdict.ok()


class Property:
    """A predicate over the values of one or more probes.

    ``predicate(*values)`` returns ``None`` when the property holds, else the reason (a string).
    It may raise ``CannotGrade``. ``outcomes=True`` passes the Outcome objects instead of values
    (for what was observed of module arguments, such as ``parameters``).
    """

    def __init__(self, probes: Sequence[str], predicate: Callable[..., str | None], *,
                 outcomes: bool = False, kind: str | None = None):
        if isinstance(probes, str) or not probes:
            raise ValueError("probes must be a non-empty list of probe ids")
        if not callable(predicate):
            raise ValueError("predicate must be callable")
        self.probes, self.predicate, self.pass_outcomes, self.kind = list(probes), predicate, outcomes, kind

    def run(self, outcomes) -> Verdict:
        picked = [outcomes[p] for p in self.probes]
        if self.kind:
            for o in picked:
                if p := type_problem(o, self.kind):
                    return Verdict.fail(f"result {p}")
        args = picked if self.pass_outcomes else [o.value for o in picked]
        try:
            problem = self.predicate(*args)
        except CannotGrade as exc:
            return Verdict.cannot_grade(str(exc))
        return Verdict.fail(problem) if problem else Verdict.ok()
