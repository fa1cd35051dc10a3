"""The warm-up's second notebook: one sympy checkpoint (the written answer is graded by a TA)."""
from __future__ import annotations

from graders.checks.symbolic import Symbolic
from graders.part import CheckContext, CheckTable, PartSpec
from graders.probe.spec import read_global

PART_NAME = "derivation"


def build_checks(ctx: CheckContext) -> list:
    ref = ctx.reference(PART_NAME)
    table = CheckTable(PART_NAME, {})
    table.add("dlogsigmoid", [read_global("derivation.dlogsigmoid", "D_logsigmoid")],
              Symbolic.equivalent_to("derivation.dlogsigmoid", ref.D_logsigmoid, ranges={"x": (-4.0, 4.0)}, timeout=60.0,
                                     what="`D_logsigmoid`"),
              "D_logsigmoid is d/dx log(sigmoid(x)), in any equivalent form", public=False)
    return table.checks


PART = PartSpec(
    name=PART_NAME,
    notebook="derivation.ipynb",
    title="Warm-up 2: a derivative",
    required_functions=(),
    assets=(),
    build_checks=build_checks,
)
