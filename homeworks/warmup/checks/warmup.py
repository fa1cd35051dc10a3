"""The warm-up's first notebook: softmax with a temperature, entropy, KL divergence.

Each function is called on fixed inputs (public: a student sees the inputs and the expected value)
and on inputs drawn from the course secret (hidden). Expected values come from the reference.
"""
from __future__ import annotations

import numpy as np

from graders.checks.rules import AllClose
from graders.part import CheckContext, CheckTable, PartSpec
from graders.probe.spec import Probe

PART_NAME = "warmup"
PUBLIC_LOGITS = np.array([1.0, 2.0, 0.5, -1.0])


def _distribution(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.uniform(0.05, 1.0, size=n)
    return p / p.sum()


def build_checks(ctx: CheckContext) -> list:
    ref = ctx.reference(PART_NAME)
    table = CheckTable(PART_NAME, {})

    def softmax(id_, logits, temperature, public):
        table.add(id_, [Probe(f"warmup.{id_}", "softmax", (logits, temperature))],
                  AllClose(f"warmup.{id_}", ref.softmax(logits, temperature), rtol=1e-6, atol=1e-9,
                           what="softmax(logits, temperature)"),
                  "softmax(logits / temperature), a distribution over the logits", public=public)

    def kl(id_, p, q, public):
        table.add(id_, [Probe(f"warmup.{id_}", "kl_divergence", (p, q))],
                  AllClose(f"warmup.{id_}", ref.kl_divergence(p, q), rtol=1e-6, atol=1e-9, what="KL(p || q)"),
                  "KL(p || q) in nats for two distributions", public=public)

    softmax("softmax.public", PUBLIC_LOGITS, 0.5, True)
    if ctx.hidden:
        rng = ctx.rng("warmup.softmax.hidden")
        softmax("softmax.hidden", rng.normal(0.0, 2.0, size=7), float(rng.uniform(0.3, 3.0)), False)
    probs = np.array([0.5, 0.25, 0.25, 0.0])
    table.add("entropy", [Probe("warmup.entropy", "entropy", (probs,))],
              AllClose("warmup.entropy", ref.entropy(probs), rtol=1e-6, what="entropy(probs)"),
              "the entropy in nats of a distribution with a zero entry (0 log 0 = 0)")
    kl("kl.public", np.array([0.5, 0.5]), np.array([0.9, 0.1]), True)
    if ctx.hidden:
        rng = ctx.rng("warmup.kl.hidden")
        kl("kl.hidden", _distribution(rng, 5), _distribution(rng, 5), False)
    return table.checks


PART = PartSpec(
    name=PART_NAME,
    notebook="warmup.ipynb",
    title="Warm-up 1: softmax, entropy, KL",
    required_functions=("softmax", "entropy", "kl_divergence"),
    assets=(),
    build_checks=build_checks,
)
