"""Figure checks by the data a figure draws (bars, lines, images, surfaces), not its pixels.

``FigureCheck(probe, predicate)``: ``predicate(FigureData)`` returns None or a reason. A value
that is not a figure at all is a failed check ("should return a matplotlib figure"); a
predicate may raise ``CannotGrade`` when the figure exists but cannot be read.
"""
from __future__ import annotations

from typing import Any, Callable

from graders.checks.base import ValueRule
from graders.checks.rules import CannotGrade
from graders.probe.transport import FigureData, Outcome
from graders.results import Verdict


class FigureCheck(ValueRule):
    def __init__(self, probe: str, predicate: Callable[[FigureData], str | None], *, what: str = "figure"):
        super().__init__(probe)
        if not callable(predicate):
            raise ValueError("predicate must be callable")
        self.predicate, self.what = predicate, what

    def judge(self, value: Any, outcome: Outcome) -> Verdict:
        if not isinstance(value, FigureData):
            return Verdict.fail(f"{self.what}: should return a matplotlib figure, got {outcome.type or type(value).__name__}")
        if not value.axes:
            return Verdict.fail(f"{self.what}: the figure has no axes")
        try:
            problem = self.predicate(value)
        except CannotGrade as exc:
            return Verdict.cannot_grade(f"{self.what}: {exc}")
        return Verdict.fail(f"{self.what}: {problem}") if problem else Verdict.ok()


def bar_heights(fig: FigureData) -> list[float]:
    return [b["height"] for ax in fig.axes for b in ax.get("bars", [])]


def horizontal_lines(fig: FigureData) -> list[float]:
    """y values of horizontal lines (e.g. an ``axhline(0.5)``)."""
    out = []
    for ax in fig.axes:
        for ln in ax.get("lines", []):
            y = list(ln["y"])
            if len(y) >= 2 and all(v == y[0] for v in y):
                out.append(float(y[0]))
    return out
