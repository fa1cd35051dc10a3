"""A thief of the reference earns exactly what its stub earns: nothing (see tests/thieves.py).

Its stub is rerun with the reference's helpers bound (error carried forward); if any route from
those helpers led to the reference's version of the function under test, the thief would return
what that computes and pass.
"""
from __future__ import annotations

import pytest

from graders.homework import assets_dir
from helpers import grade, plan_for
from thieves import THIEVES, thief_checks, thief_notebook

pytestmark = pytest.mark.skipif(not (assets_dir() / "models" / "MANIFEST.json").exists(),
                                reason="the shipped models are not built yet")


@pytest.mark.parametrize("part", sorted(THIEVES))
def test_a_thief_earns_nothing_from_the_rerun_with_the_reference_helpers(part):
    result = grade(part, thief_notebook(part))
    graded = {c.id: c for item in result.items for c in item.checks}
    of_thieves = thief_checks(plan_for(part), part)
    assert of_thieves, "no check calls a thief"
    assert not [(i, graded[i].reason) for i in of_thieves if graded[i].passed]
    assert not [i for i in of_thieves if "scored with the reference" in graded[i].reason]
    assert not result.incomplete
