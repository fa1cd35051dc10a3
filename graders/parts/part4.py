"""Part 4: Advanced decoding — the checks behind its rubric items (see rubric.yaml, part `part4`)."""
from __future__ import annotations

from graders.checks.base import Check
from graders.parts.base import CheckContext, PartSpec


def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("part4")``."""
    return []


PART = PartSpec(
    name="part4",
    notebook="part4_advanced_decoding.ipynb",
    title="Part 4: Advanced decoding",
    required_functions=('get_log_prob', 'greedy_search', 'greedy_sampling', 'top_k_filter', 'top_k_sampling', 'top_p_filter', 'nucleus_sampling', 'beam_search', 'get_best_sequence'),
    assets=('models/tiny-lm',),
    build_checks=build_checks,
)
