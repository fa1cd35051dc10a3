"""The wall-clock budgets of one notebook and of the whole submission it belongs to."""
from __future__ import annotations

import time

from graders.rubric import Limits

class Clock:
    """The notebook's and the submission's wall-clock budgets."""

    def __init__(self, limits: Limits, deadline: float | None):
        self.started = time.monotonic()
        self.deadline = deadline if deadline is not None else self.started + limits.submission_timeout
        self.notebook_timeout = limits.notebook_timeout
        self.stopped = ("grading stopped after {:.0f} s: the submission used up its time budget"
                        .format(limits.submission_timeout))

    def left(self) -> float:
        """Seconds left of the submission's budget."""
        return self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.left() <= 0

    def notebook_left(self) -> float:
        return self.notebook_timeout - (time.monotonic() - self.started)
