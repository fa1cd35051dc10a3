"""The structural limits of graders.probe.sympy_tree: checked on the tree, before anything is built."""
from __future__ import annotations

import pytest
import sympy as sp

import reference.theory as T
from graders.parts.theory import ALLOWED
from graders.probe import sympy_tree
from graders.probe.sympy_tree import (MAX_ARGS, MAX_CONDITIONS, MAX_DEPTH, MAX_ENTRIES, MAX_NODES,
                                      MAX_PIECES, TooComplex, TreeError, measure, rebuild, to_tree)
from graders.probe.transport import BadValue, Decoder

X = {"node": "Symbol", "name": "x", "assumptions": {"real": True}}
ONE = {"node": "One"}


def node(kind, *args):
    return {"node": kind, "args": list(args)}


def gt(i: int):
    return node("StrictGreaterThan", X, {"node": "Integer", "value": str(i)})


def piecewise(conditions_per_piece: list[int]):
    """A Piecewise whose piece i is guarded by an And of ``conditions_per_piece[i]`` comparisons."""
    pieces, k = [], 0
    for n in conditions_per_piece:
        cond = node("And", *[gt(k + j) for j in range(n)]) if n > 1 else gt(k)
        k += n
        pieces.append(node("ExprCondPair", X, cond))
    return node("Piecewise", *pieces, node("ExprCondPair", ONE, {"node": "BooleanTrue"}))


def nested(depth: int):
    tree = X
    for _ in range(depth):
        tree = node("exp", tree)
    return tree


@pytest.mark.parametrize("tree, match", [
    (piecewise([1] * (MAX_PIECES)), "Piecewise pieces"),  # the True piece is one more
    (piecewise([3, 3, 3, 4]), "conditions"),
    (node("And", *[gt(i) for i in range(MAX_CONDITIONS + 1)]), "conditions"),
    (node("Add", *[X] * (MAX_ARGS + 1)), "arguments"),
    ({"node": "Matrix", "rows": MAX_ENTRIES + 1, "cols": 1, "args": [X] * (MAX_ENTRIES + 1)}, "entries"),
    (nested(MAX_DEPTH + 1), "nested too deeply"),
    (node("Add", *[node("Add", *[X] * 999)] * (MAX_NODES // 1000 + 1)), "nodes"),
])
def test_beyond_a_limit_is_too_complex(tree, match):
    with pytest.raises(TooComplex, match=match):
        measure(tree)
    with pytest.raises(TooComplex, match=match):
        rebuild(tree)


def test_just_within_the_limits_is_rebuilt():
    for tree in (piecewise([1] * (MAX_PIECES - 1)), piecewise([3, 3, 3, 3]), node("Add", *[X] * MAX_ARGS),
                 nested(MAX_DEPTH - 1)):
        measure(tree)
        assert isinstance(rebuild(tree), sp.Basic)


def test_limits_are_checked_before_any_sympy_object_is_built(monkeypatch):
    built = []
    monkeypatch.setattr(sympy_tree, "_rebuild", lambda tree: built.append(tree))
    with pytest.raises(TooComplex):
        rebuild(piecewise([4] * 19))
    assert built == []


def test_a_piecewise_is_rebuilt_unevaluated():
    """Evaluating would drop the piece whose condition repeats an earlier one's."""
    x = sp.Symbol("x", real=True)
    pw = sp.Piecewise((x, x > 0), (2 * x, x > 0), (3, True), evaluate=False)
    assert len(sp.Piecewise(*pw.args).args) == 2
    back = rebuild(to_tree(pw))
    assert isinstance(back, sp.Piecewise) and len(back.args) == 3


def test_an_applied_undefined_function_is_rebuilt_unevaluated():
    f = sp.Function("f")
    back = rebuild(to_tree(f(sp.Float(2.5), evaluate=False)))
    assert type(back).__name__ == "f" and back.args == (sp.Float(2.5),)


def test_the_reference_answers_are_far_within_every_limit():
    for name in ALLOWED:
        value = getattr(T, name)
        for part in (value if isinstance(value, (tuple, list)) else [value]):
            tree = to_tree(sp.sympify(part))
            measure(tree)
            assert rebuild(tree) == sp.sympify(part)


def test_the_reason_says_too_complex_and_what_to_do():
    with pytest.raises(BadValue, match=r"^is too complex to judge \(more than 8 Piecewise "
                                       r"pieces\): simplify it$"):
        Decoder(None).decode({"$sympy": piecewise([1] * 9)})
    with pytest.raises(BadValue, match="was refused: .*not allowed"):
        Decoder(None).decode({"$sympy": node("Lambda", X, X)})


def test_malformed_trees_are_still_tree_errors():
    for tree in (node("Add", 5), {"node": "Add", "args": "x"}, [X]):
        with pytest.raises(TreeError):
            rebuild(tree)


@pytest.mark.parametrize("leaf", [
    {"node": "Symbol", "name": "x", "assumptions": {"positive": True, "negative": True}},
    {"node": "Float", "value": "1.2.3"},
])
def test_a_leaf_sympy_refuses_is_a_malformed_tree(leaf):
    with pytest.raises(TreeError, match="malformed"):
        rebuild(node("Add", leaf, X))
