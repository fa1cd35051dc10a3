"""Grader-side mathematics of the theory part: its symbols, and how a sympy answer is judged.

A student's answer arrives as a sympy expression rebuilt (unevaluated, from a whitelist) by
``graders.probe.sympy_tree``. Here it is

1. converted: a number becomes a sympy number, a list/tuple/``Matrix`` a vector or matrix; a
   string, an equation or an undefined function is refused with a reason (never parsed);
2. guarded: an expression with absurd size or nesting, a huge integer or exponent (``2**(10**100)``)
   is refused in time linear in its size, before anything evaluates it (Python's big-integer
   arithmetic cannot be interrupted);
3. canonicalised: every symbol is mapped *by name* onto the notebook's declared symbol (so a
   symbol re-declared without assumptions still counts); a name this answer should not use is
   refused, naming the symbols it may use;
4. compared *mathematically*: both sides are evaluated at random points that respect the
   symbols' assumptions (probabilities in (0, 1), beta > 0 …) with 30 significant digits;
   when the points disagree or cannot be evaluated, ``simplify(actual - expected) == 0`` gets the
   last word, under its own time limit.

Everything runs inside a ``graders.checks.symbolic.Symbolic`` rule: the checker process of
``graders.checks.isolated`` (started by the grader itself, never forked from it) with a wall-clock
limit and an address-space limit, and a per-comparison alarm inside it, so a hanging or exploding
expression fails its check with a reason and never stalls the grader.

Verification-style checks (k3 exactly unbiased, k2 equal to KL to second order, pi* stationary for
the Lagrangian …) are judges written with ``same`` / ``zero`` in ``graders/parts/theory_answers.py``.
"""
from __future__ import annotations

import random
import zlib
from typing import Any, Mapping, Sequence

import sympy as sp
from sympy.core.function import AppliedUndef

from graders.checks.symbolic import Alarm as _Alarm
from graders.checks.symbolic import Problem, alarm

# ---- the notebook's symbols (same names and assumptions as the locked cell; a test checks) ------
_REAL = dict(real=True)
_POS = dict(positive=True)
_DECLARED: list[tuple[str, dict]] = [
    ("K", dict(integer=True, positive=True)), ("Delta", _REAL), ("r", _REAL), ("beta", _POS),
    ("pi_RL", _POS), ("pi_SFT", _POS), ("p_RL", _POS), ("p_SFT", _POS),
    ("phi1", _REAL), ("phi2", _REAL), ("phi3", _REAL), ("r1", _REAL), ("r2", _REAL), ("r3", _REAL),
    ("G1", _REAL), ("G2", _REAL), ("G3", _REAL), ("G", _REAL), ("p", _POS), ("q", _POS),
    ("pi1", _POS), ("pi2", _POS), ("pi3", _POS), ("pi_ref1", _POS), ("pi_ref2", _POS), ("pi_ref3", _POS),
    ("Z", _POS), ("pi_theta", _POS), ("pi_ref", _POS), ("pi_w", _POS), ("pi_l", _POS),
    ("ref_w", _POS), ("ref_l", _POS), ("logp_w", _REAL), ("logp_l", _REAL), ("logref_w", _REAL),
    ("logref_l", _REAL), ("rhat_w", _REAL), ("rhat_l", _REAL),
]
#: what a symbol stands for (the locked cell's comments), for reasons that name a misused symbol
MEANINGS: dict[str, str] = {
    "K": "the number of ranked responses (Q1a)", "Delta": "the reward difference of Q1a",
    "r": "the reward r_theta(x, y) of Q1b", "beta": "the KL coefficient",
    "pi_RL": "pi_RL(y|x) of Q1b", "pi_SFT": "pi_SFT(y|x) of Q1b", "p_RL": "P(y1) under pi_RL (Q1b)",
    "p_SFT": "P(y1) under pi_SFT (Q1b)", "G": "the return of one sampled outcome (Q1d)",
    "p": "p(x) of Q1e/Q1f", "q": "q(x) of Q1e/Q1f", "Z": "the partition function Z(x) of Q2b",
    "pi_theta": "pi_theta(y|x) of Q2b", "pi_ref": "pi_ref(y|x) of Q2b",
}
SYMBOLS: dict[str, sp.Symbol] = {name: sp.Symbol(name, **kw) for name, kw in _DECLARED}
S = SYMBOLS

#: where random test points are drawn for each symbol (respecting its assumptions)
RANGES: dict[str, tuple[float, float]] = {
    "K": (2.0, 12.0), "Delta": (-6.0, 6.0), "r": (-3.0, 3.0), "beta": (0.1, 3.0),
    "pi_RL": (0.05, 0.95), "pi_SFT": (0.05, 0.95), "p_RL": (0.05, 0.95), "p_SFT": (0.05, 0.95),
    "phi1": (-2.0, 2.0), "phi2": (-2.0, 2.0), "phi3": (-2.0, 2.0),
    "r1": (-3.0, 3.0), "r2": (-3.0, 3.0), "r3": (-3.0, 3.0),
    "G1": (-3.0, 3.0), "G2": (-3.0, 3.0), "G3": (-3.0, 3.0), "G": (-3.0, 3.0),
    "p": (0.02, 0.98), "q": (0.02, 0.98),
    # pi3 is 1 - pi1 - pi2 wherever the simplex matters
    "pi1": (0.05, 0.45), "pi2": (0.05, 0.45), "pi3": (0.05, 0.45),
    "pi_ref1": (0.05, 0.45), "pi_ref2": (0.05, 0.45), "pi_ref3": (0.05, 0.45),
    "Z": (0.3, 3.0), "pi_theta": (0.02, 0.98), "pi_ref": (0.02, 0.98),
    "pi_w": (0.02, 0.98), "pi_l": (0.02, 0.98), "ref_w": (0.02, 0.98), "ref_l": (0.02, 0.98),
    "logp_w": (-8.0, -0.1), "logp_l": (-8.0, -0.1), "logref_w": (-8.0, -0.1), "logref_l": (-8.0, -0.1),
    "rhat_w": (-4.0, 4.0), "rhat_l": (-4.0, 4.0),
}


def sigmoid(x):
    return 1 / (1 + sp.exp(-x))


def softmax(logits):
    return [sp.exp(z) / sum(sp.exp(w) for w in logits) for z in logits]


PHI = [S["phi1"], S["phi2"], S["phi3"]]
PI_PHI = softmax(PHI)

DIGITS = 30
RTOL = 1e-8
#: seconds allowed for one comparison (evaluation at the points, then simplify) inside the checker
COMPARE_SECONDS = 8.0
SIMPLIFY_SECONDS = 4.0


# ---- converting a value that came out of the kernel ----------------------------------------------

def as_expr(value: Any, name: str) -> sp.Expr:
    """A scalar sympy expression from a returned value, or ``Problem``."""
    if value is None:
        raise Problem(f"`{name}` is not answered yet (still None)")
    if isinstance(value, bool):
        raise Problem(f"`{name}` should be a sympy expression, got a bool")
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, float):
        return sp.Float(value)
    if isinstance(value, str):
        raise Problem(f"`{name}` should be a sympy expression, not a string (strings are never parsed)")
    if isinstance(value, sp.MatrixBase) and value.shape == (1, 1):
        value = value[0, 0]
    if isinstance(value, sp.Basic) and not isinstance(value, sp.Expr):
        raise Problem(f"`{name}` should be an expression, got a sympy {type(value).__name__}")
    if not isinstance(value, sp.Expr):
        raise Problem(f"`{name}` should be a sympy expression, got {_kind(value)}")
    return value


def _opaque(value: Any) -> str | None:
    kind = getattr(value, "type", None)
    if type(value).__name__ == "Opaque" and isinstance(kind, str):
        return (f"an object of type {kind.rsplit('.', 1)[-1]}, which cannot be read as a sympy expression "
                "(build answers from the provided symbols and sympy functions only)")
    return None


def as_vector(value: Any, n: int, name: str) -> list[sp.Expr]:
    """n scalar expressions from a list, tuple, sympy Tuple or an n×1 / 1×n Matrix."""
    if value is None:
        raise Problem(f"`{name}` is not answered yet (still None)")
    if isinstance(value, sp.MatrixBase):
        if value.shape not in ((n, 1), (1, n)):
            raise Problem(f"`{name}` should have {n} entries (a {n}x1 Matrix), got a {value.rows}x{value.cols} Matrix")
        items = list(value)
    elif isinstance(value, (list, tuple, sp.Tuple)):
        items = list(value)
        if len(items) != n:
            raise Problem(f"`{name}` should have {n} entries, got {len(items)}")
    else:
        raise Problem(f"`{name}` should be a Matrix (or list) of {n} sympy expressions, got {_kind(value)}")
    return [as_expr(v, f"{name}[{i}]") for i, v in enumerate(items)]


def as_matrix(value: Any, rows: int, cols: int, name: str) -> list[list[sp.Expr]]:
    """A rows×cols table of scalar expressions from a Matrix or a nested list."""
    if value is None:
        raise Problem(f"`{name}` is not answered yet (still None)")
    if isinstance(value, sp.MatrixBase):
        if value.shape != (rows, cols):
            raise Problem(f"`{name}` should be a {rows}x{cols} Matrix, got {value.rows}x{value.cols}")
        table = [[value[i, j] for j in range(cols)] for i in range(rows)]
    elif isinstance(value, (list, tuple)) and len(value) == rows and all(
            isinstance(row, (list, tuple)) and len(row) == cols for row in value):
        table = [list(row) for row in value]
    else:
        raise Problem(f"`{name}` should be a {rows}x{cols} Matrix, got {_kind(value)}")
    return [[as_expr(v, f"{name}[{i}, {j}]") for j, v in enumerate(row)] for i, row in enumerate(table)]


def _kind(value: Any) -> str:
    if _opaque(value):
        return _opaque(value)
    if isinstance(value, sp.MatrixBase):
        return f"a {value.rows}x{value.cols} Matrix"
    return f"a {type(value).__name__}"


def canonical(expr: sp.Expr, allowed: Sequence[str], name: str) -> sp.Expr:
    """Map the answer's symbols by name onto the declared ones; refuse names it should not use."""
    funcs = expr.atoms(AppliedUndef)
    if funcs:
        fname = sorted(type(f).__name__ for f in funcs)[0]
        raise Problem(f"`{name}` uses an undefined function {fname}(...); use the provided symbols and helpers")
    names = {s.name: s for s in expr.free_symbols if isinstance(s, sp.Symbol)}
    bad = sorted(n for n in names if n not in allowed)
    if bad:
        unknown = [n for n in bad if n not in SYMBOLS]
        what = "unknown symbol(s)" if unknown else "symbol(s) this answer does not depend on"
        shown = ", ".join(f"{n} ({MEANINGS[n]})" if n in MEANINGS else n for n in bad[:5])
        raise Problem(f"`{name}` uses {what} {shown}; use only {', '.join(allowed) or 'numbers'}")
    guard(expr, name)
    mapping = {s: SYMBOLS[n] for n, s in names.items() if s != SYMBOLS[n]}
    if mapping:
        expr = expr.xreplace(mapping)
    if expr.has(sp.Derivative, sp.Integral, sp.Sum, sp.Product):
        try:
            with alarm(COMPARE_SECONDS):
                expr = expr.doit()
        except (_Alarm, MemoryError, RecursionError):
            raise
        except Exception:  # an unevaluable Sum/Derivative stays as it is
            pass
    return expr


#: bounds on an answer before any mathematics is done with it (the reference's answers have
#: at most ~150 nodes, depth 11, small integers): beyond them an expression is refused at once
MAX_NODES = 5_000
MAX_DEPTH = 60
MAX_INTEGER_BITS = 100
MAX_EXPONENT = 1_000
_GROWING = (sp.factorial, sp.factorial2, sp.gamma, sp.binomial, sp.loggamma)


def _beyond(x: sp.Basic, bound: float) -> bool:
    """Is ``x`` a number (not a symbol) of magnitude above ``bound``, or not finite?"""
    if not x.is_Number:
        return False
    try:
        return not bool(abs(x) <= bound)
    except TypeError:  # nan
        return True


def guard(expr: sp.Basic, name: str) -> None:
    """Refuse, in time linear in its size, an answer whose evaluation could explode.

    Python's big-integer arithmetic cannot be interrupted by a signal, so ``2**(10**100)`` must be
    refused *before* anything evaluates it: huge integers, huge exponents, factorials of big
    numbers, and absurd sizes or nesting depths.
    """
    stack = [(expr, 0)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise Problem(f"`{name}` is too large to be checked (more than {MAX_NODES:,} nodes); simplify it")
        if depth > MAX_DEPTH:
            raise Problem(f"`{name}` is nested too deeply to be checked (more than {MAX_DEPTH} levels); simplify it")
        if isinstance(node, sp.Rational) and max(abs(node.p).bit_length(), node.q.bit_length()) > MAX_INTEGER_BITS:
            raise Problem(f"`{name}` contains a number too large to be checked")
        if isinstance(node, sp.Float) and _beyond(node, 1e30):
            raise Problem(f"`{name}` contains a number too large to be checked")
        if isinstance(node, sp.Pow) and _beyond(node.exp, MAX_EXPONENT):
            raise Problem(f"`{name}` contains a power with an exponent too large to be checked")
        if isinstance(node, _GROWING) and any(_beyond(a, MAX_EXPONENT) for a in node.args):
            raise Problem(f"`{name}` contains a factorial or binomial of a number too large to be checked")
        stack.extend((a, depth + 1) for a in node.args)


# ---- comparing -----------------------------------------------------------------------------------

def _point(rng: random.Random, symbols: Sequence[sp.Symbol], ranges: Mapping[str, tuple[float, float]]) -> dict:
    return {s: sp.Float(rng.uniform(*ranges.get(s.name, (-2.0, 2.0))), DIGITS) for s in symbols}


def _evaluate(expr: sp.Expr, subs: dict) -> complex | None:
    try:
        # substituting 30-digit Floats evaluates the tree in fixed-precision arithmetic (fast even
        # where the value is exactly 0, unlike evalf's adaptive precision); evalf finishes the rest
        value = complex(expr.xreplace(subs).evalf(DIGITS))
    except (MemoryError, RecursionError):
        raise
    except Exception:  # not a number there (a pole, a leftover symbol, an overflow …)
        return None
    if value != value or abs(value) == float("inf"):
        return None
    return value


def _simplifies_to_zero(actual: sp.Expr, expected: sp.Expr) -> bool:
    try:
        with alarm(SIMPLIFY_SECONDS):
            return sp.simplify(actual - expected) == 0
    except _Alarm:
        return False
    except (MemoryError, RecursionError):
        raise
    except Exception:
        return False


def _points_agree(actual: sp.Expr, expected: sp.Expr, ranges, points: int, seed: int) -> bool | None:
    """True if ``points`` random points agree, False at the first disagreement, None if too few
    points could be evaluated."""
    symbols = sorted(actual.free_symbols | expected.free_symbols, key=lambda s: s.name)
    rng = random.Random(seed)
    agreed = 0
    for _ in range(points * 4):
        if agreed >= points:
            return True
        subs = _point(rng, symbols, ranges)
        a, e = _evaluate(actual, subs), _evaluate(expected, subs)
        if a is None or e is None:
            continue
        if abs(a - e) > RTOL * (1.0 + abs(e)):
            return False
        agreed += 1
    return True if agreed >= points else None


def same(actual: sp.Expr, expected: sp.Expr, *, ranges: Mapping[str, tuple[float, float]] = RANGES,
         points: int = 10, seed: int = 0) -> bool:
    """Is ``actual`` mathematically equal to ``expected``? (Both already canonical.)

    Random points first (fast, and decisive when they agree), each side evaluated with 30
    significant digits; when they disagree or cannot be evaluated, ``simplify(actual - expected)
    == 0`` has the last word. Each phase has its own time limit; running out of time counts as
    "not shown equal".
    """
    try:
        with alarm(COMPARE_SECONDS):
            agree = _points_agree(actual, expected, ranges, points, seed)
    except _Alarm:
        agree = None
    if agree:
        return True
    return _simplifies_to_zero(actual, expected)


def zero(expr: sp.Expr, **kwargs) -> bool:
    """Is ``expr`` identically zero (for the symbols' ranges)?"""
    return same(expr, sp.Integer(0), **kwargs)


def seed_for(name: str) -> int:
    """A fixed seed for the random points of one answer (the same in every run)."""
    return zlib.crc32(name.encode())
