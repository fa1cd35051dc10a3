"""Comparing values that came back from a kernel: types, exact equality, closeness.

The functions return ``None`` when the value is acceptable and otherwise a one-line reason a
student can act on. Reasons describe the difference (shape, length, size of the error, where)
but never print the expected value, so they are safe for hidden cases.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from graders.probe.transport import FigureData, KernelArray, Outcome

KINDS = ("float", "int", "number", "str", "bool", "tensor", "ndarray", "array", "list", "tuple",
         "sequence", "dict", "graph", "figure", "dataframe", "sympy")


def type_problem(outcome: Outcome, kind: str) -> str | None:
    """Is the returned value of the promised kind? ``kind`` is one of ``KINDS``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    v, t = outcome.value, outcome.type
    ok = {
        "float": isinstance(v, float) or (isinstance(v, KernelArray) and v.ndim == 0
                                          and v.source.startswith("numpy.float")),
        "int": (isinstance(v, int) and not isinstance(v, bool))
               or (isinstance(v, KernelArray) and v.ndim == 0 and v.source.startswith("numpy.int")),
        "number": _is_number(v),
        "str": isinstance(v, str),
        "bool": isinstance(v, bool),
        "tensor": isinstance(v, KernelArray) and v.source == "torch.Tensor",
        "ndarray": isinstance(v, KernelArray) and v.source == "numpy.ndarray",
        "array": isinstance(v, KernelArray),
        "list": isinstance(v, list),
        "tuple": isinstance(v, tuple),
        "sequence": isinstance(v, (list, tuple)),
        "dict": isinstance(v, dict),
        "graph": t.startswith("networkx."),
        "figure": isinstance(v, FigureData),
        "dataframe": isinstance(v, pd.DataFrame),
        "sympy": t.startswith("sympy."),
    }[kind]
    if ok:
        return None
    return f"should return {_article(kind)}, got {describe_type(outcome)}"


def describe_type(outcome: Outcome) -> str:
    v = outcome.value
    if isinstance(v, KernelArray):
        src = v.source or "array"
        if v.ndim == 0 and not src.startswith("torch"):
            return src
        return f"{'a 0-d ' if v.ndim == 0 else 'a '}{src} of shape {tuple(v.shape)}"
    name = outcome.type.rsplit(".", 1)[-1] if outcome.type else type(v).__name__
    return {"NoneType": "None"}.get(name, f"a {name}")


def _article(kind: str) -> str:
    return {"float": "a Python float", "int": "an int", "tensor": "a torch.Tensor", "ndarray": "a numpy array",
            "array": "an array or tensor", "graph": "a networkx graph", "figure": "a matplotlib figure",
            "dataframe": "a pandas DataFrame", "sympy": "a sympy expression", "sequence": "a list or tuple",
            "number": "a number"}.get(kind, f"a {kind}")


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    return isinstance(v, KernelArray) and v.ndim == 0 and v.dtype.kind in "iuf"


def as_array(v: Any) -> np.ndarray | None:
    """A numeric array from a number, array or (nested) list of numbers; None if not numeric."""
    if isinstance(v, bool):
        return None
    try:
        a = np.asarray(v)
    except (ValueError, TypeError):
        return None
    if a.dtype.kind not in "biuf":
        return None
    return np.asarray(a, dtype=float) if a.dtype.kind == "b" else a


def close_problem(actual: Any, expected: Any, *, rtol: float, atol: float, path: str = "") -> str | None:
    """Structural closeness: numbers/arrays within tolerance, sequences and dicts element-wise."""
    where = f"{path}: " if path else ""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}expected a dict, got {type(actual).__name__}"
        missing = [k for k in expected if k not in actual]
        if missing:
            return f"{where}missing key(s) {missing[:5]}"
        extra = [k for k in actual if k not in expected]
        if extra:
            return f"{where}unexpected key(s) {extra[:5]}"
        for k in expected:
            p = close_problem(actual[k], expected[k], rtol=rtol, atol=atol, path=f"{path}[{k!r}]")
            if p:
                return p
        return None
    if isinstance(expected, (list, tuple)) and not _numeric_leaves(expected):
        if not isinstance(actual, (list, tuple)):
            return f"{where}expected a sequence of {len(expected)}, got {type(actual).__name__}"
        if len(actual) != len(expected):
            return f"{where}expected {len(expected)} elements, got {len(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            p = close_problem(a, e, rtol=rtol, atol=atol, path=f"{path}[{i}]")
            if p:
                return p
        return None
    if isinstance(expected, str) or expected is None or isinstance(expected, bool):
        return None if actual == expected and type(actual) is type(expected) else f"{where}wrong value"
    exp = as_array(expected)
    act = as_array(actual)
    if exp is None:
        raise ValueError(f"cannot compare with expected value of type {type(expected).__name__}")
    if act is None:
        return f"{where}expected numbers, got {type(actual).__name__}"
    if act.shape != exp.shape:
        if act.size == exp.size == 1 and act.ndim <= 1 and exp.ndim <= 1:
            act = act.reshape(exp.shape)
        else:
            return f"{where}expected shape {tuple(exp.shape)}, got {tuple(act.shape)}"
    act64, exp64 = act.astype(float), exp.astype(float)
    bad_nan = np.isnan(act64) & ~np.isnan(exp64)
    if bad_nan.any():
        return f"{where}result contains NaN" + _at(bad_nan)
    inf_mismatch = np.isinf(act64) & ~(act64 == exp64)
    if inf_mismatch.any():
        return f"{where}result contains inf" + _at(inf_mismatch)
    with np.errstate(invalid="ignore"):
        ok = np.isclose(act64, exp64, rtol=rtol, atol=atol, equal_nan=True)
    if ok.all():
        return None
    with np.errstate(invalid="ignore"):
        err = np.where(ok, 0.0, np.abs(act64 - exp64))
    err = np.nan_to_num(err, nan=np.inf)
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    n_bad = int((~ok).sum())
    loc = f" at index {tuple(int(i) for i in worst)}" if err.ndim else ""
    return f"{where}{n_bad} of {ok.size} value(s) differ; largest error {float(err.max()):.3g}{loc}"


def _at(mask: np.ndarray) -> str:
    if mask.ndim == 0:
        return ""
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return f" at index {idx}"


def _numeric_leaves(seq: Any) -> bool:
    a = as_array(seq) if isinstance(seq, (list, tuple)) else None
    return a is not None and a.dtype != object


def exact_problem(actual: Any, expected: Any, *, path: str = "") -> str | None:
    """Exact equality of plain data; arrays must have the same shape and values."""
    where = f"{path}: " if path else ""
    if isinstance(expected, np.ndarray):
        act = as_array(actual)
        if act is None:
            return f"{where}expected an array, got {type(actual).__name__}"
        if act.shape != expected.shape:
            return f"{where}expected shape {expected.shape}, got {act.shape}"
        if not np.array_equal(act, expected):
            return f"{where}{int((act != expected).sum())} of {act.size} value(s) differ"
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)):
            return f"{where}expected a sequence, got {type(actual).__name__}"
        if len(actual) != len(expected):
            return f"{where}expected {len(expected)} elements, got {len(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            p = exact_problem(a, e, path=f"{path}[{i}]")
            if p:
                return p
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return f"{where}expected a dict with keys {sorted(map(str, expected))[:6]}"
        for k in expected:
            p = exact_problem(actual[k], expected[k], path=f"{path}[{k!r}]")
            if p:
                return p
        return None
    if isinstance(expected, float) and isinstance(actual, (int, float)) and math.isnan(expected):
        return None if math.isnan(actual) else f"{where}wrong value"
    if isinstance(actual, KernelArray) and actual.ndim == 0:
        actual = actual.item()
    if actual == expected and isinstance(actual, bool) == isinstance(expected, bool):
        return None
    return f"{where}wrong value"
