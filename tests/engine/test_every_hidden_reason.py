"""Every check with hidden inputs, fed answers that echo its inputs, gives a sentence without them.

No kernel runs here: each hidden check of the real plan is judged on made-up outcomes that carry its
own hidden inputs back in every channel a notebook has — returned strings wrapped in backticks,
quotes or parentheses, hypotheses, dict keys, numbers, arrays of other shapes, a class named after
a prompt, exception messages and exception names. The reason a student reads must

* contain none of those inputs and no number with three decimals or more (an expected value, an
  error size, a hidden logit);
* read as a sentence: no "…" glued to a letter or digit ("k…", "a …-d tensor", "d… and d…"), no
  "another type" standing for the grader's own words;
* come from the check's own sentence, not from the net that replaces a reason still repeating
  kernel text (``graders.reasons.leaks``): the net is a backstop.

The TA's ``detail`` keeps what the student does not see.
"""
from __future__ import annotations

import re
from typing import Iterator

import numpy as np
import pytest

from graders.homework import assets_dir
from graders.probe.transport import HUNG_EARLIER, KernelArray, Outcome, Record
from graders.reasons import texts_in
from helpers import plan_for

pytestmark = pytest.mark.skipif(not (assets_dir() / "models" / "MANIFEST.json").exists(),
                                reason="the shipped models are not built yet")

PARTS = ("theory", "part1", "part2", "part3", "part4")
GARBLED = re.compile(r"\w…|…-\w|…\w|another type")
LONG_NUMBER = re.compile(r"\d\.\d{3,}")
NET = "the details are not shown: they would repeat what your code returned"


def _array(values, source: str = "torch.Tensor") -> KernelArray:
    a = np.asarray(values).view(KernelArray)
    a.source = source
    return a


def _secret_strings(check) -> list[str]:
    return [t for p in check.probes for t in texts_in((p.args, p.kwargs), keys=False) if len(t) >= 6]


def _echoes(check) -> Iterator[tuple[str, dict[str, Outcome]]]:
    """(label, outcomes) pairs: answers built from the check's own hidden inputs."""
    words = _secret_strings(check) or ["The king and the queen"]
    prompt = words[0]
    numbers = [float(x) for p in check.probes for x in np.asarray(
        [a for a in p.args if isinstance(a, (int, float)) and not isinstance(a, bool)] or [0.123456789]).ravel()]

    def each(make) -> dict[str, Outcome]:
        return {p.id: make(p) for p in check.probes}

    yield "backticks", each(lambda p: Outcome(p.id, True, value=f"`HIDDEN {prompt} {numbers}`", type="builtins.str"))
    yield "quotes", each(lambda p: Outcome(p.id, True, value=f"'{prompt}' \"{prompt}\" “{prompt}”",
                                           type="builtins.str"))
    yield "hypotheses", each(lambda p: Outcome(p.id, True, value=[(f"`{prompt}` ({w})", 0.1234567) for w in words],
                                               type="builtins.list"))
    yield "dict keys", each(lambda p: Outcome(p.id, True, value={w: 0.5 for w in words}, type="builtins.dict"))
    yield "numbers", each(lambda p: Outcome(p.id, True, value=numbers[0] + 0.1234567, type="builtins.float"))
    yield "wrong values", each(lambda p: Outcome(p.id, True, value=_array(np.full(7, 0.7654321, np.float32)),
                                                 type="torch.Tensor"))
    yield "a 2-d tensor", each(lambda p: Outcome(p.id, True, value=_array(np.full((3, 5), 1.2345678, np.float32)),
                                                 type="torch.Tensor"))
    yield "own class", each(lambda p: Outcome(p.id, True, value=Record(f"__main__.{_identifier(prompt)}",
                                                                        {"text": prompt}),
                                              type=f"__main__.{_identifier(prompt)}"))
    yield "exception", each(lambda p: Outcome(p.id, False, error_type="ValueError",
                                              message=f"{prompt} k={numbers} `{prompt}`"))
    yield "own exception", each(lambda p: Outcome(p.id, False, error_type=_identifier(prompt),
                                                  message=f"{prompt}"))
    yield "grader's own words", each(lambda p: Outcome(p.id, False, error_type=HUNG_EARLIER,
                                                       message=f"not checked: `{p.target}` hung in an earlier check, "
                                                               "so it is not called again"))
    yield "no answer", each(lambda p: Outcome(p.id, False, error_type="NoAnswer",
                                              message="your code ran longer than the 60 s allowed for this check"))
    yield "a tuple", each(lambda p: Outcome(p.id, True, value=(prompt, 0.1234567, {prompt: prompt}),
                                            type="builtins.tuple"))


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)[:60] or "Secret"


def _hidden_checks():
    for part in PARTS:
        for check in plan_for(part).checks[part]:
            if check.has_hidden_inputs:
                yield pytest.param(part, check.id, id=check.id)


def _find(part: str, check_id: str):
    return next(c for c in plan_for(part).checks[part] if c.id == check_id)


@pytest.mark.parametrize("part,check_id", list(_hidden_checks()))
def test_a_hidden_reason_is_a_sentence_without_its_hidden_inputs(part, check_id):
    check = _find(part, check_id)
    secrets = [s.casefold() for s in _secret_strings(check)] + ["the king and the queen"]
    for label, outcomes in _echoes(check):
        result = check.result(outcomes)
        reason = result.reason
        if result.passed:
            continue
        shown = reason.casefold()
        assert not [s for s in secrets if s in shown], (label, reason)
        assert "hidden" not in shown.replace("hidden input", ""), (label, reason)
        assert not LONG_NUMBER.search(reason), (label, reason)
        assert not GARBLED.search(reason), (label, reason)
        assert NET not in reason, (label, reason)
        assert reason and reason[0].isprintable(), (label, reason)
