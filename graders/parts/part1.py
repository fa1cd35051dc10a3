"""Part 1: Sycophancy — the checks behind its rubric items (see rubric.yaml, part `part1`)."""
from __future__ import annotations

from graders.checks.base import Check
from graders.parts.base import CheckContext, PartSpec


def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("part1")``."""
    return []


PART = PartSpec(
    name="part1",
    notebook="part1_sycophancy.ipynb",
    title="Part 1: Sycophancy",
    required_functions=('next_token_ab_probs', 'analysis_result', 'summarize'),
    assets=('models/tiny-lm', 'data/sycophancy_on_nlp_survey.jsonl', 'data/api_results.json'),
    build_checks=build_checks,
)
