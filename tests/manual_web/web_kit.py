"""A small graded batch with written answers for the grading-page tests (no kernels: fake results).

Six students answer ``alpha.written`` (5 points): three the same sentence in different spacing and
letter case (one answer group), one a cross-site-scripting attempt, one with LaTeX, one left blank.
"""
from __future__ import annotations

from pathlib import Path

from batch.batch_kit import GOOD, PARTS, notebook, write_fake_batch
from graders.refresh import rebuild

XSS = ('<script>window.__xss = 1</script>\n\n<img src=x onerror="window.__xss = 2">\n\n'
       '[click me](javascript:window.__xss=3)')
MATH = r"The slope is $\sigma(-\Delta)$, and $$\sum_i x_i^2 \ge 0.$$"
ANSWERS = {
    "401000001_Ali": "The KL is positive.",
    "401000002_Sara": "the KL is positive .",
    "401000003_Mina": "The  KL\n  IS Positive.",
    "401000004_Omid": XSS,
    "401000005_Reza": MATH,
    "401000006_Leila": "_Write your answer here._",
}
GROUP = ("401000001_Ali", "401000002_Sara", "401000003_Mina")
ALL_CHECKS = {"t.double", "t.zero", "p1.triple"}


def make_batch(root: Path) -> Path:
    """``root/out``: results, intake.json, notebooks with ``ANSWERS`` and a built gradebook."""
    out = write_fake_batch(root / "out", {s: ALL_CHECKS for s in ANSWERS}, notebooks_root=root / "nbs")
    for sub, text in ANSWERS.items():
        for part in ("alpha", "beta"):
            (root / "nbs" / sub / PARTS[part].notebook).write_text(notebook(part, GOOD[part], answer=text),
                                                                    encoding="utf-8")
    rebuild(out)
    return out
