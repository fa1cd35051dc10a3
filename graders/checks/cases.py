"""One check made of several cases: one probe and one judge per case.

A judge gets its case's value (or its ``Outcome`` with ``outcomes=True``) and returns None (right),
a ``Note`` (right, with a remark kept as the check's reason) or the reason it is wrong. The first
wrong case gives the verdict; its reason names the case by its number when the check has several
("case 2 of 3: …"), unless the judges name their cases themselves (``prefix=False``), and ends
with ``details`` (that case's inputs and expected value) and the value returned — on a public check
only: both sit in a slot that a check with hidden inputs leaves out (``graders.reasons``).

Example::

    Cases(["lp.0", "lp.1"], [lambda v: None if abs(v + 1.2) < 1e-5 else "wrong log-probability",
                             lambda v: None if abs(v + 0.3) < 1e-5 else "wrong log-probability"],
          details=["vocab 10, token 3", "vocab 50, token 7"])
    # a wrong second value fails with "case 2 of 2: wrong log-probability"
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from graders.checks.rules import Note, verdict_of
from graders.checks.values import brief
from graders.reasons import hidden
from graders.results import Verdict

Judge = Callable[[Any], "str | None"]


class Cases:
    """``probes[n]`` judged by ``judges[n]``; see the module docstring.

    details:  one TA-only description per case, kept as the failing verdict's detail
    outcomes: the judges get the ``Outcome`` (its type, what was observed) instead of the value
    prefix:   False when the judges' reasons name their cases themselves (no "case n of N: ")
    """

    def __init__(self, probes: Sequence[str], judges: Sequence[Judge], *, details: Sequence[str] | None = None,
                 outcomes: bool = False, prefix: bool = True):
        if isinstance(probes, str) or not probes:
            raise ValueError("probes must be a non-empty list of probe ids")
        if len(judges) != len(probes) or not all(callable(j) for j in judges):
            raise ValueError(f"one callable judge per probe, got {len(judges)} for {len(probes)} probes")
        if details is not None and len(details) != len(probes):
            raise ValueError(f"one detail per probe, got {len(details)} for {len(probes)} probes")
        self.probes, self.judges, self.details = list(probes), list(judges), details
        self.pass_outcomes, self.prefix = outcomes, prefix

    def where(self, n: int) -> str:
        """How the reason names case ``n`` (0-based)."""
        return f"case {n + 1} of {len(self.probes)}: " if self.prefix and len(self.probes) > 1 else ""

    @staticmethod
    def _call(detail: str, outcome) -> str:
        """" (inputs: …; your value: …)": what the case was called with and what came back — shown on a
        public check, left out on a hidden one (a slot whose hidden form is empty)."""
        got = brief(outcome.value) if outcome.ok else ""
        said = "; ".join(part for part in (f"inputs: {detail}" if detail else "",
                                            f"your value: {got}" if got else "") if part)
        return hidden(f" ({said})", shown="") if said else ""

    def run(self, outcomes) -> Verdict:
        notes = []
        for n, (pid, judge) in enumerate(zip(self.probes, self.judges)):
            outcome = outcomes[pid]
            problem = judge(outcome if self.pass_outcomes else outcome.value)
            if isinstance(problem, Note):
                notes.append(problem)
            elif problem:
                detail = self.details[n] if self.details else ""
                return Verdict.fail(self.where(n) + problem + self._call(detail, outcome), detail=detail)
        return verdict_of(notes[0] if notes else None,
                          detail=f"{len(self.probes)} case(s)" if self.details else "")
