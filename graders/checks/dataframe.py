"""DataFrame checks: rows matched by index label, only the named columns compared.

Row order and extra columns do not matter (a student may add columns or sort differently).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from graders.checks.base import ValueRule
from graders.checks.values import describe_type
from graders.probe.transport import Outcome
from graders.reasons import hidden
from graders.results import Verdict


class FrameMatches(ValueRule):
    def __init__(self, probe: str, expected: pd.DataFrame, columns: Sequence[str], *,
                 rtol: float = 1e-6, atol: float = 1e-9, what: str = "table"):
        super().__init__(probe)
        missing = [c for c in columns if c not in expected.columns]
        if missing:
            raise ValueError(f"expected frame lacks columns {missing}")
        self.expected, self.columns, self.rtol, self.atol, self.what = expected, list(columns), rtol, atol, what

    def judge(self, value: Any, outcome: Outcome) -> Verdict:
        if not isinstance(value, pd.DataFrame):
            return Verdict.fail(f"{self.what} should be a pandas DataFrame, got {describe_type(outcome)}")
        missing_cols = [c for c in self.columns if c not in value.columns]
        if missing_cols:
            return Verdict.fail(f"{self.what} has no column {missing_cols[0]!r}")
        want = [str(i) for i in self.expected.index]
        have = [str(i) for i in value.index]
        missing_rows = [i for i in want if i not in have]
        if missing_rows:
            return Verdict.fail(f"{self.what} should be indexed by name: {len(missing_rows)} of {len(want)} row(s) "
                                f"missing{hidden(f' (e.g. {missing_rows[0]!r})', shown='')}")
        if len(set(have)) != len(have):
            return Verdict.fail(f"{self.what} has duplicate index labels")
        got = value.copy()
        got.index = have
        for col in self.columns:
            for label, exp_val in zip(want, self.expected[col]):
                cell = got.loc[label, col]
                if isinstance(cell, (bool, np.bool_)) or not isinstance(cell, (int, float, np.number)):
                    return Verdict.fail(f"{self.what}[{col!r}] for {hidden(repr(label), shown='a row')} should be a "
                                        f"number (a float column), got a {type(cell).__name__}")
                act = float(cell)
                if not np.isclose(act, float(exp_val), rtol=self.rtol, atol=self.atol):
                    return Verdict.fail(f"{self.what}[{col!r}] is wrong for {hidden(repr(label), shown='a row')}"
                                        + hidden(f" (expected {float(exp_val):.6g}, got {act:.6g})", shown=""))
        return Verdict.ok()
