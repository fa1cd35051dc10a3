"""The general rule kinds: exact, allclose, property. (dataframe, symbolic, statistical and
figure rules live in their own modules.)

A *property* check pays for a property of the answer rather than for equality with the
reference ("the entries add up to 1", "the model stays in eval mode"). Such a property is evidence
only about an answer that is otherwise plausible, so ``Property(..., gate=...)`` first refuses a
non-answer — zero, a constant, a one-hot, the same result whatever the input
(``graders.checks.values.non_answer``) — and only then judges the property.

Example::

    Check("part4.get_log_prob.basic", "part4",
          probes=(Probe("lp", "get_log_prob", (logits, 3)),),
          rule=AllClose("lp", expected=-1.234, kind="float", atol=1e-5))
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from graders.checks.base import CannotGrade, ValueRule
from graders.checks.values import KINDS, close_problem, exact_problem, non_answer, type_problem
from graders.probe.transport import Outcome
from graders.reasons import hidden
from graders.results import Verdict


def _select(value: Any, select: Callable[[Any], Any] | None) -> tuple[Any, str | None]:
    if select is None:
        return value, None
    try:
        return select(value), None
    except (IndexError, KeyError, TypeError, AttributeError, ValueError) as exc:
        return None, f"has an unexpected structure ({type(exc).__name__}: {hidden(exc)})"


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


class Note(str):
    """A predicate's "right, but": the check passes and the note is kept as its reason — e.g. an
    equivalent container accepted ("a list of ids where a LongTensor is asked")."""


def verdict_of(problem: str | None, detail: str = "") -> Verdict:
    """A predicate's answer as a verdict: None passes, a ``Note`` passes with the note, a string fails."""
    if isinstance(problem, Note):
        return Verdict(True, str(problem), detail)
    return Verdict.fail(problem, detail) if problem else Verdict.ok(detail)


class Property:
    """A predicate over the values of one or more probes.

    ``predicate(*values)`` returns ``None`` when the property holds, a ``Note`` when it holds with a
    remark, else the reason (a string).
    It may raise ``CannotGrade``. ``outcomes=True`` passes the Outcome objects instead of values
    (for what was observed of module arguments, such as ``parameters``).

    ``gate``: for a property check, the answers that must not be a non-answer before the property
    counts — ``True`` for the probes' values themselves (one answer per probe), or a function of
    the same arguments as ``predicate`` that returns the answers (e.g. the per-conversation dicts
    of one returned list). ``what`` names the answer in the gate's reason.
    """

    def __init__(self, probes: Sequence[str], predicate: Callable[..., str | None], *,
                 outcomes: bool = False, kind: str | None = None,
                 gate: bool | Callable[..., Sequence[Any]] = False, what: str = "the result"):
        if isinstance(probes, str) or not probes:
            raise ValueError("probes must be a non-empty list of probe ids")
        if not callable(predicate):
            raise ValueError("predicate must be callable")
        if not (isinstance(gate, bool) or callable(gate)):
            raise ValueError("gate must be True, False or a function returning the answers")
        self.probes, self.predicate, self.pass_outcomes, self.kind = list(probes), predicate, outcomes, kind
        self.gate, self.what = gate, what

    def run(self, outcomes) -> Verdict:
        picked = [outcomes[p] for p in self.probes]
        if self.kind:
            for o in picked:
                if p := type_problem(o, self.kind):
                    return Verdict.fail(f"result {p}")
        args = picked if self.pass_outcomes else [o.value for o in picked]
        try:
            problem = self.predicate(*args)
            if (not problem or isinstance(problem, Note)) and self.gate:
                problem = gate_problem([o.value for o in picked] if self.gate is True else self.gate(*args),
                                       self.what) or problem
        except CannotGrade as exc:
            return Verdict.cannot_grade(str(exc))
        return verdict_of(problem)


def gate_problem(answers: Sequence[Any], what: str) -> str | None:
    """The reason a property check gives nothing to a non-answer, or None."""
    why = non_answer(answers)
    if why is None:
        return None
    return (f"{what} is not an answer yet ({why}); this check pays for a property of a real answer, "
            "which a constant also has")


class AllOf:
    """Several rules judged in order, as one check: the first that fails gives the verdict; when all
    pass, the first note (if any) is kept."""

    def __init__(self, *rules):
        if not rules:
            raise ValueError("AllOf needs at least one rule")
        self.rules = rules

    def run(self, outcomes) -> Verdict:
        verdicts = []
        for rule in self.rules:
            verdict = rule.run(outcomes)
            if not verdict.passed:
                return verdict
            verdicts.append(verdict)
        return next((v for v in verdicts if v.reason), verdicts[0])
