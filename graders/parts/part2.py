"""Part 2: Loss landscape — the checks behind its rubric items (see rubric.yaml, part `part2`)."""
from __future__ import annotations

from graders.checks.base import Check
from graders.parts.base import CheckContext, PartSpec


def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("part2")``."""
    return []


PART = PartSpec(
    name="part2",
    notebook="part2_loss_landscape.ipynb",
    title="Part 2: Loss landscape",
    required_functions=('load_model', 'encode', 'compute_loss', 'random_directions', 'cosine_similarity', 'loss_landscape', 'plot_landscape'),
    assets=('models/tiny-lm',),
    build_checks=build_checks,
)
