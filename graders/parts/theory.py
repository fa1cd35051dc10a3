"""Theory: RLHF and DPO — the checks behind its rubric items (see rubric.yaml, part `theory`)."""
from __future__ import annotations

from graders.checks.base import Check
from graders.parts.base import CheckContext, PartSpec


def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("theory")``."""
    return []


PART = PartSpec(
    name="theory",
    notebook="theory.ipynb",
    title="Theory: RLHF and DPO",
    required_functions=('reward_model_loss', 'dpo_loss', 'kl_estimators'),
    assets=(),
    build_checks=build_checks,
)
