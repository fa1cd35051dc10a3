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
import re
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from graders.probe.spec import Probe
from graders.probe.transport import Outcome
from graders.results import CheckResult, Verdict

#: error types that mean "could not be graded" rather than "the student's code failed"
UNGRADABLE = {"NoAnswer", "Unreadable"}


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

    def run(self, outcomes: Mapping[str, Outcome]) -> Verdict:
        for probe in self.probes:
            outcome = outcomes.get(probe.id)
            if outcome is None:
                return Verdict.cannot_grade("the check did not run")
            if not outcome.ok:
                what = f"`{probe.target}`" + ("()" if probe.call else "")
                message = outcome.describe_error()
                reason = message if outcome.error_type in UNGRADABLE or outcome.error_type == "NameError" \
                    else f"{what} {message}"
                if self.public:  # what the grader passed (public inputs), and a hint for a known cause
                    from graders.parts.calls import explain_call

                    if hint := explain_call(self.part, probe, outcome):
                        reason = f"{reason} — {hint}"
                detail = outcome.traceback
                if self.has_hidden_inputs and outcome.error_type not in UNGRADABLE and \
                        message != f"name {probe.target!r} is not defined":
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
        reason, detail = verdict.reason, verdict.detail
        if self.has_hidden_inputs and reason:
            shown = withheld(reason)
            if shown != reason:  # the TA still sees everything; the student, the check's own words
                detail = f"{reason}\n{detail}".strip()
            reason = shown
        return CheckResult(id=self.id, passed=verdict.passed, status=status, reason=reason,
                           detail=detail, public=self.public, weight=weight,
                           grader_error=verdict.grader_error)


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
#: packages whose type names a hidden check may show ("got a torch.Tensor"); others are a notebook's own
SAFE_MODULES = ("builtins", "torch", "numpy", "pandas", "networkx", "sympy", "matplotlib", "transformers",
                "collections", "scipy", "plotly")
_BACKTICKS = re.compile(r"(`[^`\n]*`)")
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|“[^”\n]*”")
_DOTTED = re.compile(r"\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\b")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_RAISED = re.compile(r"\braised (\w+)")


def withheld(reason: str) -> str:
    """A hidden check's reason without what may have come from the kernel (values, text, type names).

    Quoted text and numbers become "…", type names outside well-known packages "another type", an
    exception name a notebook may have invented "an exception"; names in backticks are the grader's
    own (the function or answer checked) and stay.
    """
    def scrub(text: str) -> str:
        text = _RAISED.sub(lambda m: "raised " + (m.group(1) if m.group(1) in SAFE_EXCEPTIONS else "an exception"),
                           text)
        text = _QUOTED.sub("'…'", text)
        text = _DOTTED.sub(lambda m: m.group(0) if m.group(0).split(".")[0] in SAFE_MODULES else "another type", text)
        return _NUMBER.sub("…", text)

    parts = _BACKTICKS.split(reason)
    shown = "".join(p if p.startswith("`") and p.endswith("`") and len(p) > 1 else scrub(p) for p in parts)
    if shown != reason:
        shown += " (values and messages from hidden inputs are not shown)"
    return shown[:600]


def unique_ids(checks: Sequence[Check]) -> None:
    seen: set[str] = set()
    for c in checks:
        if c.id in seen:
            raise ValueError(f"duplicate check id {c.id!r}")
        seen.add(c.id)
