"""A check: one named unit of grading — the probes it needs and the rule that judges them.

Interfaces every part builds on:

* ``Probe`` (graders.probe.spec): what to ask the kernel.
* ``Outcome`` (graders.probe.transport): what the kernel answered, rebuilt as safe data.
* ``Rule``: anything with ``run(outcomes) -> Verdict``. Constructors only validate and store
  (a ``ValueError`` that names the bad value); ``run`` never modifies its inputs. Most rules judge
  one probe's value: subclass ``ValueRule`` and write ``judge(value, outcome)``.
* ``Check``: id + probes + rule + public flag. ``Check.run`` turns probe failures (exception,
  missing function, kernel died, timeout) into a failed verdict with the student-facing reason, so
  rules only ever see values that arrived; a rule that crashes becomes an "error" verdict.
* ``Verdict`` / ``CheckResult`` (graders.results): plain data.

Two kinds of failure: "the answer is wrong" is a failed verdict; "this cannot be graded" (kernel
died, probe never ran) is a verdict with ``error=True``. Neither raises.
"""
from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from graders.probe.spec import Probe
from graders.probe.transport import HUNG_EARLIER, Outcome
from graders.reasons import kernel_texts, leaks, render, texts_in
from graders.results import CheckResult, Verdict

#: error types that mean "could not be graded" rather than "the student's code failed"
UNGRADABLE = {"NoAnswer", "Unreadable"}
#: error types whose message the grader wrote (not the kernel)
GRADER_WORDS = UNGRADABLE | {HUNG_EARLIER}


class CannotGrade(Exception):
    """Raised by a rule when the answer cannot be graded at all (not merely wrong)."""


class Rule(Protocol):
    def run(self, outcomes: Mapping[str, Outcome]) -> Verdict: ...


class ValueRule:
    """A rule about the value of one probe. Subclasses implement ``judge``."""

    def __init__(self, probe: str):
        if not isinstance(probe, str) or not probe:
            raise ValueError(f"probe must be a probe id, got {probe!r}")
        self.probe = probe

    def run(self, outcomes: Mapping[str, Outcome]) -> Verdict:
        outcome = outcomes[self.probe]
        return self.judge(outcome.value, outcome)

    def judge(self, value: Any, outcome: Outcome) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Check:
    """One graded unit named in rubric.yaml.

    id:          stable id, e.g. "part4.top_k_filter.ties" (the same whatever the course secret)
    part:        the part whose notebook the probes run in ("theory", "part1", …)
    probes:      what to ask that notebook's kernel (run together, in one cell)
    rule:        judges the outcomes
    public:      True if inputs and expected values may be shown to students / shipped in the bundle
    description: what is checked, in a few words a student understands
    timeout:     seconds allowed for this check's probes in the kernel
    explain:     for a call that raised on a public check, what to add to its reason (the call's
                 arguments by name, a hint for a known cause; the homework gives it: ``graders.calls``)
    depends:     the student's own graded functions the probed function calls (e.g.
                 ``("calculate_hamming_penalty",)``): when the check fails, it is run again with the
                 reference's versions of these bound in the kernel, so one mistake is charged once
                 ("error carried forward"; see ``graders.execute``)
    """

    id: str
    part: str
    probes: tuple[Probe, ...]
    rule: Rule
    public: bool = True
    description: str = ""
    timeout: float = 60.0
    depends: tuple[str, ...] = ()
    explain: Callable[[Probe, Outcome], str | None] | None = field(default=None, compare=False, repr=False)

    def run(self, outcomes: Mapping[str, Outcome]) -> Verdict:
        for probe in self.probes:
            outcome = outcomes.get(probe.id)
            if outcome is None:
                return Verdict.cannot_grade("the check did not run")
            if not outcome.ok:
                what = f"`{probe.target}`" + ("()" if probe.call else "")
                message = outcome.describe_error()
                missing = outcome.error_type == "NameError" and message == f"name {probe.target!r} is not defined"
                own_words = outcome.error_type in UNGRADABLE or outcome.error_type == HUNG_EARLIER or missing
                reason = message if own_words or outcome.error_type == "NameError" else f"{what} {message}"
                if self.public and self.explain is not None and outcome.error_type != HUNG_EARLIER:
                    if hint := self.explain(probe, outcome):  # what the grader passed, and a hint
                        reason = f"{reason} — {hint}"
                detail = outcome.traceback
                if self.has_hidden_inputs and not own_words:
                    reason, detail = _hidden_error(what, outcome), f"{message}\n{detail}".strip()
                if outcome.error_type in UNGRADABLE:
                    return Verdict.cannot_grade(reason, detail)
                return Verdict.fail(reason, detail)
        try:
            return self.rule.run(outcomes)
        except CannotGrade as exc:
            return Verdict.cannot_grade(str(exc))
        except Exception as exc:  # a grader bug must not take the submission down
            return Verdict.grader_failed("the grader could not judge this answer (grader error)",
                                         f"{type(exc).__name__}: {exc}")

    @property
    def has_hidden_inputs(self) -> bool:
        """A hidden check that calls student code on inputs students must not see."""
        return not self.public and any(p.call for p in self.probes)

    def result(self, outcomes: Mapping[str, Outcome], weight: float = 1.0) -> CheckResult:
        verdict = self.run(outcomes)
        status = "passed" if verdict.passed else ("error" if verdict.error else "failed")
        hide = self.has_hidden_inputs
        reason, detail = render(verdict.reason, hide=hide), render(verdict.detail, hide=False)
        if hide and reason:  # the TA sees everything; the student, the sentence without its hidden slots
            full = render(verdict.reason, hide=False)
            if full != reason:
                detail = f"{full}\n{detail}".strip()
                reason += " (values from hidden inputs are not shown)"
            if leaks(reason, self._secret_texts(outcomes), names=self._calls):
                reason = (f"{self._calls_text} gave a wrong answer on a hidden input (the details are not shown: "
                          f"they would repeat what your code returned; the public checks show theirs)")
        return CheckResult(id=self.id, passed=verdict.passed, status=status, reason=reason[:REASON_CHARS],
                           detail=detail, public=self.public, weight=weight,
                           grader_error=verdict.grader_error)

    @property
    def _calls(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.target for p in self.probes if p.call))

    @property
    def _calls_text(self) -> str:
        return ", ".join(f"`{name}`" for name in self._calls) or "your answer"

    def _secret_texts(self, outcomes: Mapping[str, Outcome]) -> list[str]:
        """What a hidden check's reason must not repeat: the text its kernel sent and its hidden inputs."""
        mine = [o for o in (outcomes.get(p.id) for p in self.probes)
                if o is not None and o.error_type not in GRADER_WORDS]
        return [*kernel_texts(mine), *(t for p in self.probes for t in texts_in((p.args, p.kwargs), keys=False))]


#: a reason is one line a student reads; anything longer is cut
REASON_CHARS = 600


#: what a kernel reports in its own words on a hidden input, said in the grader's instead
_KERNEL_REPORTS = {"Timeout": "ran out of the time allowed for this check",
                   "ValueTooLarge": "returned a value too large to be read",
                   "BadValue": "returned a value that could not be read"}


def _hidden_error(what: str, outcome: Outcome) -> str:
    """Why a call on hidden inputs failed, without its message (a notebook may put the inputs in it)."""
    if outcome.error_type in _KERNEL_REPORTS:
        return f"{what} {_KERNEL_REPORTS[outcome.error_type]} on a hidden input"
    name = outcome.error_type if outcome.error_type in SAFE_EXCEPTIONS else "an exception"
    return f"{what} raised {name} on a hidden input (its message is not shown; the public checks show theirs)"


#: exception names a hidden check may show (a notebook can give its own exception classes any name)
SAFE_EXCEPTIONS = frozenset(name for name, obj in vars(builtins).items()
                            if isinstance(obj, type) and issubclass(obj, BaseException))


def unique_ids(checks: Sequence[Check]) -> None:
    seen: set[str] = set()
    for c in checks:
        if c.id in seen:
            raise ValueError(f"duplicate check id {c.id!r}")
        seen.add(c.id)
