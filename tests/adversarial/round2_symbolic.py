"""Round 2, symbolic: hostile theory notebooks that attack the grading process through sympy.

Each attack is the reference theory notebook with one answer line replaced, so every other check
still passes and only the listed checks may fail. ``ATTACKS[name].notebook()`` is the notebook as
nbformat JSON text; ``fails`` maps each check id it must fail to a regex its reason must match
(``re.search``). Nothing else about the result may change: no ``incomplete``, no grader error.

Example::

    attack = ATTACKS["piecewise_bomb"]
    (folder / "theory.ipynb").write_text(attack.notebook())
    # grade the folder, then for cid, pattern in attack.fails.items(): assert a failed check cid
    # whose reason matches pattern
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import nbformat

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "solutions" / "theory.ipynb"


@dataclass(frozen=True)
class Attack:
    notebook: Callable[[], str]
    fails: Mapping[str, str] = field(default_factory=dict)


def _replace(assignments: Mapping[str, str]) -> str:
    """The reference notebook with the line ``NAME = …`` of each answer cell replaced by a new cell
    body (``assignments[NAME]``); the other lines of that cell are kept."""
    nb = nbformat.read(str(REFERENCE), as_version=4)
    left = dict(assignments)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            for name in list(left):
                if line.startswith(f"{name} = "):
                    lines[i] = left.pop(name)
        cell.source = "\n".join(lines)
    if left:
        raise ValueError(f"the reference notebook assigns none of {sorted(left)} on one line")
    return nbformat.writes(nb)


PIECEWISE_BOMB = """\
# a 'piecewise gradient': 19 pieces, each guarded by four conditions, built unevaluated
Q1a_dloss = sp.Piecewise(*[
    (sigmoid(Delta) - 1, sp.And(Delta > i - 9, Delta > i - 8, Delta > i - 7, sp.sin(Delta) < sp.Rational(i, 20)))
    for i in range(19)
], evaluate=False)"""


def piecewise_bomb() -> str:
    """``Q1a_dloss`` is an unevaluated ``Piecewise`` of 19 ``(value, And(...))`` pairs (about 2 KB
    of sympy): evaluating it (``Piecewise.eval`` collapsing the conditions) converts an ``Or`` of
    negated ``And``s to conjunctive normal form, exponential in the pairs — the grading worker
    spent 20 minutes and 15.6 GB on it before it was bounded."""
    return _replace({"Q1a_dloss": PIECEWISE_BOMB})


FLOOR_DERIVATIVE = "Q1e_k2 = sp.Derivative(sp.floor(p), p)"


def derivative_of_floor() -> str:
    """``Q1e_k2 = Derivative(floor(p), p)``: an unevaluated derivative that ``doit`` leaves as it is;
    substituting ``p -> theta + eps`` (the second-order check) makes sympy raise ValueError
    ("Can't calculate derivative wrt theta + eps"), which was a grader error."""
    return _replace({"Q1e_k2": FLOOR_DERIVATIVE})


ATTACKS: dict[str, Attack] = {
    "piecewise_bomb": Attack(piecewise_bomb, {
        "theory.q1a.dloss": r"^`Q1a_dloss` is too complex to judge \(more than \d+ .*\): simplify it$",
    }),
    "derivative_of_floor": Attack(derivative_of_floor, {
        "theory.q1e.k2": r"`Q1e_k2`",
        "theory.q1e.k2_second_order": r"`Q1e_k2`.*could not be judged.*ValueError",
    }),
}
