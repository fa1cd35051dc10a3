"""Symbolic checks: sympy answers judged in the checker process, under a time and memory limit.

A student's answer arrives as a sympy expression rebuilt from a whitelist
(``graders.probe.sympy_tree``). ``Symbolic(probes, judge)`` runs ``judge(*values)`` in the checker
process of ``graders.checks.isolated`` (never in the grader: an exploding expression must not hang
it), where ``alarm`` can bound each comparison. The judge returns None (right) or the reason (wrong),
or raises ``Problem(reason)``; an exception sympy raises on the answer fails the check with it said
in words (an exception the judge raises itself is a grader bug). Two fairness rules apply to every
symbolic check:

* ``symbols``: an answer built from none of the symbols it may use (``0``, ``Matrix([1, 0, 0])``)
  earns nothing, even when the judged property holds for it (``k3 >= 0``): a property is evidence
  only about an answer that is otherwise plausible;
* ``symbol_probes``: when the check fails and the notebook rebound a provided symbol
  (``beta = 0.1``), the reason says so.

``Symbolic.equivalent_to(probe, expected, ranges=...)`` is the plain case: the answer equals
``expected`` mathematically, not textually (symbols mapped by name onto the declared ones, then
``simplify(answer - expected) == 0``, else random points from each symbol's range).

Example::

    Symbolic.equivalent_to("q1a_grad", sigmoid(D) - 1, ranges={"Delta": (-5, 5)})
    Symbolic(["q1f_k3"], lambda v: None if nonnegative(v) else "`Q1f_k3` can be negative",
             what="`Q1f_k3`", symbols=("p", "q"))
"""
from __future__ import annotations

import functools
import random
import signal
import threading
from typing import Any, Callable, Mapping, Sequence

import sympy as sp

from graders.checks.isolated import run_isolated
from graders.results import Verdict

Judge = Callable[..., "str | None"]
#: a symbol's sampling range for random test points (default: positive → (0.1, 3); otherwise (-3, 3))
Range = tuple[float, float]


class Problem(Exception):
    """The answer is wrong or malformed; the message is the student-facing reason."""


class Alarm(BaseException):
    """Raised by SIGALRM inside the checker (a BaseException so sympy cannot swallow it)."""


class alarm:
    """``with alarm(seconds):`` raises ``Alarm`` after ``seconds``.

    Only in the main thread (where signals are delivered); elsewhere it does not limit anything,
    and the checker's overall time limit (``Symbolic.timeout``) still applies. Not re-entrant.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, _raise_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        return False


def _raise_alarm(signum, frame):
    raise Alarm()


def has_symbols(value: Any) -> bool:
    """Does a sympy answer (an expression, a Matrix, a list of them) contain any symbol?"""
    if isinstance(value, sp.MatrixBase):
        return any(has_symbols(v) for v in value)
    if isinstance(value, (list, tuple, sp.Tuple)):
        return any(has_symbols(v) for v in value)
    return isinstance(value, sp.Basic) and bool(value.free_symbols)


def _judge_in_checker(values: list, judge: Judge, what: str, symbols: Sequence[str]) -> tuple[bool, str]:
    """Runs in the checker process (``graders.checks.isolated``): judge, report (ok, reason)."""
    try:
        problem = judge(*values)
        if problem is None and symbols and not any(has_symbols(v) for v in values):
            problem = (f"{what} does not depend on any of its symbols ({', '.join(symbols)}): a constant is "
                       "not an answer, whatever property it has")
    except Problem as exc:
        problem = str(exc)
    except Alarm:
        problem = f"{what} took too long to check (simplify your expression)"
    except MemoryError:
        problem = f"{what} is too large to check (checking it ran out of memory)"
    except RecursionError:
        problem = f"{what} is nested too deeply to check"
    except Exception as exc:
        if not raised_by_sympy(exc):
            raise  # a bug in the judge: a grader error (graders.checks.isolated says so)
        problem = f"{what} could not be judged: sympy raised {type(exc).__name__} on it ({_words(exc)})"
    return (problem is None), (problem or "")


def raised_by_sympy(exc: BaseException) -> bool:
    """Was ``exc`` raised inside sympy (or mpmath), i.e. by sympy working on the student's expression?

    The judges are the grader's code, run on the reference's answers by the tests; an exception they
    raise themselves is a grader bug. One raised inside sympy is the answer's: sympy refused to do
    what the check needs with it (``Derivative(floor(p), p)`` cannot be differentiated with respect
    to ``p`` once ``p`` is replaced by ``theta + eps``).
    """
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return module.split(".")[0] in ("sympy", "mpmath")


def _words(exc: BaseException) -> str:
    """An exception's message on one short line."""
    text = " ".join(str(exc).split())
    return (text[:200] + "…") if len(text) > 200 else (text or "no message")


class Symbolic:
    """A judge over the probes' sympy values, run in the checker process (see the module docstring).

    what:          how the answer is named in reasons ("`Q1a_dloss`")
    timeout:       seconds the checker may spend on this check
    detail:        TA-only text kept with a failure (e.g. the expected expression)
    symbols:       the symbols the answer may use (empty: a constant answer is fine, e.g. a limit)
    symbol_probes: symbol name → the probe reading that global of the notebook
    """

    def __init__(self, probes: Sequence[str], judge: Judge, *, what: str = "your answer", timeout: float = 40.0,
                 detail: str = "", symbols: Sequence[str] = (), symbol_probes: Mapping[str, str] | None = None):
        if isinstance(probes, str) or not probes:
            raise ValueError("probes must be a non-empty list of probe ids")
        if not callable(judge):
            raise ValueError("judge must be callable")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.probes, self.judge, self.timeout, self.detail, self.what = list(probes), judge, timeout, detail, what
        self.symbols, self.symbol_probes = tuple(symbols), dict(symbol_probes or {})

    @classmethod
    def equivalent_to(cls, probe: str, expected: sp.Basic, *, ranges: Mapping[str, Range] | None = None,
                      timeout: float = 10.0, points: int = 12, rtol: float = 1e-6, what: str = "answer",
                      simplify: bool = True) -> "Symbolic":
        """The answer is a sympy expression equivalent to ``expected``.

        ranges: symbol or undefined-function name → (low, high) for random test points;
                probabilities as (0.05, 0.95), β as (0.1, 3) …
        """
        if not isinstance(expected, sp.Basic):
            raise ValueError(f"expected must be a sympy expression, got {type(expected).__name__}")
        judge = functools.partial(_equivalence_problem, expected=expected, ranges=dict(ranges or {}),
                                  points=points, rtol=rtol, what=what, simplify=simplify)
        return cls([probe], judge, what=what, timeout=timeout, detail=f"expected {expected}")

    def run(self, outcomes) -> Verdict:
        values = [outcomes[p].value for p in self.probes]
        ok, reason = run_isolated(_judge_in_checker, values, args=(self.judge, self.what, self.symbols),
                                  timeout=self.timeout)
        if ok:
            return Verdict.ok()
        if reason.startswith(("took longer than", "could not be checked")):
            reason = f"{self.what} {reason}"
        return Verdict.fail(reason + rebound_note(outcomes, self.symbol_probes), detail=self.detail)


def rebound_note(outcomes, symbol_probes: Mapping[str, str]) -> str:
    """"; note: `beta` is no longer the symbol …" for each provided symbol the notebook rebound."""
    rebound = []
    for name, pid in symbol_probes.items():
        o = outcomes.get(pid)
        if o is None or not o.ok:
            continue
        if not (isinstance(o.value, sp.Symbol) and o.value.name == name):
            kind = o.type.rsplit(".", 1)[-1] if o.type else type(o.value).__name__
            rebound.append(f"`{name}` (now a {kind})")
    if not rebound:
        return ""
    return (f"; note: your notebook rebinds the provided symbol(s) {', '.join(rebound)}: an answer built after "
            "that holds the value instead of the symbol — give numbers other names")


# ---- plain equivalence (``Symbolic.equivalent_to``) ----------------------------------------------

def _equivalence_problem(value: Any, *, expected: sp.Basic, ranges: Mapping[str, Range], points: int,
                         rtol: float, what: str, simplify: bool) -> str | None:
    """Runs in the checker: None if ``value`` is a sympy expression (or a number) equal to ``expected``."""
    if value is None:
        return f"{what} is not answered yet (still None)"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = sp.nsimplify(value) if isinstance(value, float) else sp.Integer(value)
    if not isinstance(value, sp.Basic):
        return f"{what} should be a sympy expression, got {type(value).__name__}"
    ok, reason = equivalent(value, expected, ranges, points=points, rtol=rtol, simplify=simplify)
    return None if ok else f"{what} {reason}"




def default_range(sym: sp.Symbol) -> Range:
    return (0.1, 3.0) if sym.is_positive or sym.is_nonnegative else (-3.0, 3.0)


def _applied_functions(expr: sp.Basic) -> list:
    from sympy.core.function import AppliedUndef

    return sorted(expr.atoms(AppliedUndef), key=sp.default_sort_key)


def equivalent(actual: sp.Basic, expected: sp.Basic, ranges: Mapping[str, Range], *,
               points: int = 12, seed: int = 0, rtol: float = 1e-6,
               simplify: bool = True) -> tuple[bool, str]:
    """(equivalent?, reason). Runs in the current process: rules call it through ``run_isolated``."""
    expected_syms = {s.name: s for s in expected.free_symbols if isinstance(s, sp.Symbol)}
    declared = set(ranges) | set(expected_syms)
    unknown = sorted(s.name for s in actual.free_symbols if isinstance(s, sp.Symbol) and s.name not in declared)
    if unknown:
        return False, f"uses symbols that are not part of this answer: {', '.join(unknown[:6])}"
    canonical = {s: expected_syms.get(s.name, sp.Symbol(s.name, **_assumptions(ranges, s)))
                 for s in actual.free_symbols if isinstance(s, sp.Symbol)}
    actual = actual.xreplace(canonical)
    try:
        actual = actual.doit()
        expected = expected.doit()
    except Exception:
        pass
    if simplify:
        try:
            if sp.simplify(actual - expected) == 0:
                return True, ""
        except Exception:
            pass
    # random points: each symbol and each applied undefined function (pi(y), r(x, y)…) gets a value
    rng = random.Random(seed)
    atoms = sorted((actual.free_symbols | expected.free_symbols), key=lambda s: s.name)
    funcs = sorted(set(_applied_functions(actual)) | set(_applied_functions(expected)), key=sp.default_sort_key)
    checked = 0
    for _ in range(points * 3):
        if checked >= points:
            break
        subs = {}
        for s in atoms:
            lo, hi = ranges.get(s.name, default_range(s))
            subs[s] = sp.Float(rng.uniform(lo, hi), 30)
        for f in funcs:
            lo, hi = ranges.get(f.func.__name__, (0.1, 3.0))
            subs[f] = sp.Float(rng.uniform(lo, hi), 30)
        try:
            a = complex(sp.N(actual.xreplace(subs) if not funcs else actual.subs(subs), 30))
            e = complex(sp.N(expected.xreplace(subs) if not funcs else expected.subs(subs), 30))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            continue
        if not all(map(_finite, (a, e))):
            continue
        checked += 1
        if abs(a - e) > rtol * (1 + abs(e)):
            return False, "is not equivalent to the expected expression (differs at a test point)"
    if checked == 0:
        return False, "could not be evaluated at any test point (check the symbols you used)"
    return True, ""


def _finite(z: complex) -> bool:
    return all(map(lambda x: x == x and abs(x) != float("inf"), (z.real, z.imag)))


def _assumptions(ranges: Mapping[str, Range], s: sp.Symbol) -> dict:
    lo, _ = ranges.get(s.name, (-1, 1))
    return {"positive": True} if lo > 0 else {"real": True}
