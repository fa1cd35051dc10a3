"""Part 3: Beam search, BLEU, translation, attention — the checks behind its rubric items (see rubric.yaml, part `part3`)."""
from __future__ import annotations

from graders.checks.base import Check
from graders.parts.base import CheckContext, PartSpec


def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("part3")``."""
    return []


PART = PartSpec(
    name="part3",
    notebook="part3_decoding_translation.ipynb",
    title="Part 3: Beam search, BLEU, translation, attention",
    required_functions=('beam_search_decoder', 'calculate_hamming_penalty', 'enhanced_beam_search_decoder', 'calculate_bleu_score', 'get_attention_weights'),
    assets=('models/tiny-lm', 'models/tiny-t5', 'models/tiny-translator', 'data/part3_test.tsv'),
    build_checks=build_checks,
)
