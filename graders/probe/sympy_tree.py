"""Rebuild a sympy expression from the node tree a kernel sent, from a whitelist only.

Each node is ``{"node": ClassName, "args": [...]}`` or a leaf (Symbol, Integer, Rational,
Float, a named constant). Unknown node names are refused; numbers and sizes are bounded;
everything is built with ``evaluate=False`` so rebuilding never does mathematics (a hostile
``2**(10**100)`` is rebuilt as an unevaluated power, and the symbolic check's time limit
deals with it). No string is ever parsed as code.

Rebuilding runs in the grading process, so its cost must not depend on what the expression
means. ``measure`` walks the tree before any sympy object is built and refuses, as too complex
to judge, more nodes, depth or arguments than any answer needs — and more than a few Piecewise
pieces or conditions. Some constructors cannot be told not to evaluate (``And``/``Or``
canonicalise their operands; ``ExprCondPair``, ``Sum``, ``Integral`` fold a Piecewise inside
them), and the checker's first ``xreplace`` evaluates every node: Piecewise's evaluation is
exponential in its pieces and conditions (19 pieces of four conditions, 2 KB of sympy, took a
grading worker 20 minutes and 15 GB).
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.core.function import AppliedUndef

MAX_NODES = 20_000
MAX_DEPTH = 400
#: arguments of one node (a Matrix's entries are bounded by MAX_ENTRIES instead)
MAX_ARGS = 1_000
MAX_ENTRIES = 10_000
#: Piecewise pieces, and conditions (comparisons, and the operands of And/Or/Not), in the whole
#: expression: the reference's answers have none; 8 pieces of 4 conditions already take minutes
MAX_PIECES = 8
MAX_CONDITIONS = 12
MAX_DIGITS = 300
MAX_NAME = 100

_NAME_RE = re.compile(r"[A-Za-z_\\{}^'0-9.,\- ]{1,100}")

#: node name → constructor taking the rebuilt args (all unevaluated)
_OPS = {
    "Add": lambda *a: sp.Add(*a, evaluate=False),
    "Mul": lambda *a: sp.Mul(*a, evaluate=False),
    "Pow": lambda b, e: sp.Pow(b, e, evaluate=False),
}
for _name in [
    "exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos", "atan", "atanh",
    "Abs", "sign", "floor", "ceiling", "Heaviside", "erf", "gamma", "loggamma", "factorial",
    "binomial", "KroneckerDelta", "Max", "Min", "re", "im", "conjugate",
]:
    _fn = getattr(sp, _name)
    _OPS[_name] = (lambda f: (lambda *a: f(*a, evaluate=False)))(_fn)
from sympy.functions.elementary.piecewise import ExprCondPair

_OPS["Piecewise"] = lambda *a: sp.Piecewise(*a, evaluate=False)
_OPS["Derivative"] = lambda *a: sp.Derivative(*a, evaluate=False)
# no evaluate=False for these: their constructors' work is bounded by MAX_PIECES and MAX_CONDITIONS
for _name, _cls in [("Sum", sp.Sum), ("Product", sp.Product), ("Integral", sp.Integral), ("Tuple", sp.Tuple),
                    ("ExprCondPair", ExprCondPair), ("Indexed", sp.Indexed), ("Idx", sp.Idx),
                    ("And", sp.And), ("Or", sp.Or), ("Not", sp.Not)]:
    _OPS[_name] = (lambda cls: (lambda *a: cls(*a)))(_cls)
for _name, _cls in [("Equality", sp.Eq), ("Unequality", sp.Ne), ("StrictLessThan", sp.Lt),
                    ("LessThan", sp.Le), ("StrictGreaterThan", sp.Gt), ("GreaterThan", sp.Ge)]:
    _OPS[_name] = (lambda cls: (lambda a, b: cls(a, b, evaluate=False)))(_cls)

_CONSTANTS = {
    "Pi": sp.pi, "Exp1": sp.E, "ImaginaryUnit": sp.I, "Infinity": sp.oo,
    "NegativeInfinity": -sp.oo, "ComplexInfinity": sp.zoo, "NaN": sp.nan, "Half": sp.S.Half,
    "One": sp.S.One, "Zero": sp.S.Zero, "NegativeOne": sp.S.NegativeOne, "EulerGamma": sp.EulerGamma,
    "BooleanTrue": sp.true, "BooleanFalse": sp.false,
}

_ASSUMPTIONS = {
    "positive", "negative", "nonnegative", "nonpositive", "real", "integer", "finite", "nonzero",
    "zero", "rational", "complex", "extended_real", "commutative", "odd", "even", "prime",
}


_LOGIC = {"And", "Or", "Not"}
_TRUTH = {"BooleanTrue", "BooleanFalse"}
_RELATIONS = {"Equality", "Unequality", "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan"}


class TreeError(ValueError):
    """The tree is malformed, too big, or uses a node that is not allowed."""


class TooComplex(TreeError):
    """The tree is well formed but beyond what is judged (the message says which limit)."""


def rebuild(tree) -> sp.Basic:
    """The expression of ``tree``, after ``measure`` has found it within every limit."""
    measure(tree)
    try:
        return _rebuild(tree)
    except (TreeError, RecursionError, MemoryError):
        raise
    except Exception as exc:  # a constructor refused a leaf (inconsistent assumptions, a bad float …)
        raise TreeError(f"malformed expression ({type(exc).__name__})") from None


def measure(tree) -> None:
    """Raise ``TooComplex`` (or ``TreeError``) unless the tree is within every structural limit.

    Iterative and linear in the tree's size up to the node limit; builds nothing.
    """
    nodes = pieces = conditions = 0
    stack = [(tree, 0, False)]  # (node, depth, is it a condition: an operand of And/Or/Not or a piece's)
    while stack:
        node, depth, condition = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise TooComplex(f"nested too deeply, more than {MAX_DEPTH} levels")
        if not isinstance(node, dict) or not isinstance(node.get("node"), str):
            raise TreeError("malformed expression tree")
        kind, args = node["node"], node.get("args", [])
        if not isinstance(args, list):
            raise TreeError(f"node {kind[:40]} has no argument list")
        if nodes + len(stack) + len(args) > MAX_NODES:  # the nodes seen, those waiting, and these
            raise TooComplex(f"more than {MAX_NODES:,} nodes")
        if len(args) > (MAX_ENTRIES if kind == "Matrix" else MAX_ARGS):
            raise TooComplex(f"a Matrix of more than {MAX_ENTRIES:,} entries" if kind == "Matrix"
                             else f"a term of more than {MAX_ARGS:,} arguments")
        if kind == "ExprCondPair":
            pieces += 1
            if pieces > MAX_PIECES:
                raise TooComplex(f"more than {MAX_PIECES} Piecewise pieces")
        if kind in _RELATIONS or (condition and kind not in _LOGIC and kind not in _TRUTH):
            conditions += 1
            if conditions > MAX_CONDITIONS:
                raise TooComplex(f"more than {MAX_CONDITIONS} conditions in its Piecewise, And, Or and comparisons")
        for i, child in enumerate(args):
            stack.append((child, depth + 1, kind in _LOGIC or (kind == "ExprCondPair" and i == 1)))


def _name(value) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME or not _NAME_RE.fullmatch(value):
        raise TreeError(f"symbol or function name {str(value)[:40]!r} is not allowed")
    return value


def _int(value: str) -> int:
    if not isinstance(value, str) or len(value.lstrip("-")) > MAX_DIGITS or not re.fullmatch(r"-?[0-9]+", value):
        raise TreeError("an integer in the expression is malformed or too large")
    return int(value)


def _rebuild(node):
    if not isinstance(node, dict) or not isinstance(node.get("node"), str):
        raise TreeError("malformed expression tree")
    kind = node["node"]
    if kind in ("Symbol", "Dummy"):
        raw = node.get("assumptions") or {}
        if not isinstance(raw, dict):
            raise TreeError("malformed symbol assumptions")
        assumptions = {k: bool(v) for k, v in raw.items() if k in _ASSUMPTIONS and isinstance(v, bool)}
        return sp.Symbol(_name(node.get("name")), **assumptions)
    if kind == "Integer":
        return sp.Integer(_int(node.get("value")))
    if kind == "Rational":
        q = _int(node.get("q"))
        if q == 0:
            raise TreeError("a rational with zero denominator")
        return sp.Rational(_int(node.get("p")), q)
    if kind == "Float":
        value = node.get("value")
        prec = node.get("precision", 53)
        if not isinstance(value, str) or len(value) > 400 or not re.fullmatch(r"-?[0-9.eE+\-]+|[-+]?inf|nan", value):
            raise TreeError("a float in the expression is malformed")
        if not isinstance(prec, int) or not 1 <= prec <= 1000:
            raise TreeError("a float precision is out of range")
        return sp.Float(value, precision=prec)
    if kind in _CONSTANTS:
        return _CONSTANTS[kind]
    if kind == "UndefinedFunction":
        return sp.Function(_name(node.get("name")))
    args = node.get("args")
    if not isinstance(args, list):
        raise TreeError(f"node {kind} has no argument list")
    children = [_rebuild(a) for a in args]
    if kind == "AppliedUndef":
        return sp.Function(_name(node.get("name")))(*children, evaluate=False)
    if kind == "IndexedBase":
        return sp.IndexedBase(children[0])
    if kind == "Matrix":
        rows, cols = node.get("rows"), node.get("cols")
        if not (isinstance(rows, int) and isinstance(cols, int) and 0 <= rows * cols == len(children) <= MAX_ENTRIES):
            raise TreeError("malformed matrix")
        return sp.ImmutableMatrix(rows, cols, children)
    op = _OPS.get(kind)
    if op is None:
        raise TreeError(f"expression node {kind!r} is not allowed in answers")
    try:
        return op(*children)
    except TreeError:
        raise
    except Exception as exc:  # wrong arity etc.
        raise TreeError(f"malformed {kind} node ({type(exc).__name__})") from None


def to_tree(expr) -> dict:
    """The node tree of a sympy expression the grader holds (the inverse of ``rebuild``).

    Used to hand a student's rebuilt expression to a checker process as data, never as a pickle.
    """
    from sympy.core.function import UndefinedFunction

    if isinstance(expr, sp.Symbol):
        assumptions = {k: v for k, v in expr.assumptions0.items() if v is not None and k in _ASSUMPTIONS}
        return {"node": "Dummy" if isinstance(expr, sp.Dummy) else "Symbol", "name": expr.name,
                "assumptions": assumptions}
    if isinstance(expr, sp.Integer):
        return {"node": "Integer", "value": str(int(expr))}
    if isinstance(expr, sp.Rational):
        return {"node": "Rational", "p": str(int(expr.p)), "q": str(int(expr.q))}
    if isinstance(expr, sp.Float):
        return {"node": "Float", "value": str(expr), "precision": int(expr._prec)}
    if isinstance(expr, AppliedUndef):
        return {"node": "AppliedUndef", "name": type(expr).__name__, "args": [to_tree(a) for a in expr.args]}
    if isinstance(expr, UndefinedFunction):
        return {"node": "UndefinedFunction", "name": expr.__name__}
    if isinstance(expr, sp.IndexedBase):
        return {"node": "IndexedBase", "args": [to_tree(expr.label)]}
    if isinstance(expr, sp.MatrixBase):
        return {"node": "Matrix", "rows": expr.rows, "cols": expr.cols, "args": [to_tree(x) for x in expr]}
    if isinstance(expr, sp.Basic) and not expr.args:
        return {"node": type(expr).__name__}
    return {"node": type(expr).__name__, "args": [to_tree(a) for a in expr.args]}
