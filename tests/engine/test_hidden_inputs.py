"""What a student can learn or forge through hidden checks (on the real parts, graded once per session).

* An exception message built from hidden inputs never reaches the feedback; the TA still sees it.
* A loss_landscape that does not restore the weights, and rewrites whatever snapshot it can find up
  the call stack, still fails ``restored``: the grader compares with its own copy of the weights.
"""
from __future__ import annotations

import re

from graders.report.feedback import to_html, to_markdown
from helpers import grade, mutant

LEAK = '''    raise ValueError(f"hw4-leak {logits.flatten()[:6].tolist()} {int(token_id)}")
    return'''

FORGERY = '''            import sys as _sys
            frame = _sys._getframe(1)
            while frame is not None:  # copy the final weights into every snapshot found up the stack
                for value in list(frame.f_locals.values()):
                    snaps = value if isinstance(value, list) else [value]
                    for snap in snaps:
                        if isinstance(snap, dict) and snap and all(hasattr(v, "copy_") for v in snap.values()):
                            for name, q in model.named_parameters():
                                if name in snap:
                                    snap[name].copy_(q.detach())
                frame = frame.f_back
            pass'''


def _checks(result):
    return {c.id: c for item in result.items for c in item.checks}


def test_an_exception_message_with_hidden_inputs_never_reaches_the_feedback():
    path = mutant("part4", [("    return float(log_probs[int(token_id)])", LEAK + " 0.0")], label="leaks-hidden-inputs")
    result = grade("part4", path)
    checks = _checks(result)
    public, hidden = checks["part4.get_log_prob"], checks["part4.get_log_prob.hidden"]
    assert not public.passed and "hw4-leak [" in public.reason  # public inputs: the message helps
    assert not hidden.passed and "raised ValueError" in hidden.reason
    assert "hw4-leak" in hidden.detail  # the TA sees everything
    hidden_values = re.findall(r"-?\d+\.\d{6,}", hidden.detail)  # the hidden logits the message carried
    assert len(hidden_values) >= 6
    shown = to_markdown(result) + to_html(result)
    assert not [v for v in hidden_values if v in shown]
    for c in checks.values():
        if not c.public:
            assert "hw4-leak" not in c.reason and not re.search(r"\d\.\d{3}", c.reason), (c.id, c.reason)


def test_rewriting_the_probes_snapshot_does_not_pass_restored():
    honest = mutant("part2", [("            for p, p0 in zip(params, theta):\n                p.copy_(p0)",
                               "            pass")], label="does-not-restore")
    forger = mutant("part2", [("            for p, p0 in zip(params, theta):\n                p.copy_(p0)",
                               FORGERY)], label="forges-the-snapshot")
    for path in (honest, forger):
        checks = _checks(grade("part2", path))
        assert not checks["part2.loss_landscape.restored"].passed, checks["part2.loss_landscape.restored"]
        assert "differ from the shipped weights" in checks["part2.loss_landscape.restored"].reason
