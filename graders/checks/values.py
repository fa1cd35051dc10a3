"""Comparing values that came back from a kernel: types, exact equality, closeness.

The functions return ``None`` when the value is acceptable and otherwise a one-line reason a
student can act on. Reasons describe the difference (shape, length, size of the error, where)
but never print the expected value; what may come from hidden inputs or from the kernel (the size of
an error, a type or key a notebook made up) sits in a slot (``graders.reasons.hidden``), which a
check with hidden inputs does not show.
"""
from __future__ import annotations

import builtins
import importlib
import math
import sys
import types
from typing import Any, Sequence

import numpy as np
import pandas as pd

from graders.probe.transport import FigureData, KernelArray, Opaque, Outcome, Record
from graders.reasons import hidden

#: packages whose type names a reason shows as they are; a notebook's own type names go in a slot
SAFE_MODULES = ("builtins", "torch", "numpy", "pandas", "networkx", "sympy", "matplotlib", "transformers",
                "collections", "scipy", "plotly")

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


#: built-in types that have no name in ``builtins`` (``type(None)`` reports itself as builtins.NoneType)
_UNNAMED_BUILTINS = frozenset(t.__name__ for t in (type(None), types.FunctionType, types.BuiltinFunctionType,
                                                   types.MethodType, types.GeneratorType, types.ModuleType,
                                                   type(Ellipsis), type(NotImplemented)))


def trusted_type(name: str) -> bool:
    """Does a type name a kernel reported name a real type of a well-known package? A notebook can
    give its classes any ``__module__`` and name (``torch.x.The king …``), so the prefix alone proves
    nothing: the name must resolve, in this process, to a type."""
    module, _, attr = name.rpartition(".")
    top = module.split(".")[0]
    if top not in SAFE_MODULES:
        return False
    if module not in sys.modules and top not in sys.modules:
        try:  # a well-known package the grading process has not needed yet (its submodules are not imported)
            importlib.import_module(top)
        except Exception:
            return False
    if module == "builtins" and attr in _UNNAMED_BUILTINS:
        return True
    found = getattr(builtins if module == "builtins" else sys.modules.get(module), attr, None)
    return isinstance(found, type)


def type_name(name: str) -> str:
    """A type name a kernel reported, as a reason shows it: a real type of a well-known package as it
    is, anything else in a slot (a notebook may name a class after a hidden input)."""
    if not name:
        return "array"
    return name if trusted_type(name) else hidden(name, shown="a type of its own")


def describe_type(outcome: Outcome) -> str:
    v = outcome.value
    if isinstance(v, KernelArray):
        src = type_name(v.source)
        if v.ndim == 0 and not src.startswith("torch"):
            return src
        return f"{'a 0-d ' if v.ndim == 0 else 'a '}{src} of shape {tuple(v.shape)}"
    if not outcome.type:
        return {"NoneType": "None"}.get(type(v).__name__, f"a {type(v).__name__}")
    if not trusted_type(outcome.type):
        return hidden(f"a {outcome.type}", shown="a type of its own")
    name = outcome.type.rpartition(".")[2]
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
            return f"{where}unexpected key(s) {hidden(extra[:5])}"
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
    return f"{where}{n_bad} of {ok.size} value(s) differ; largest error {hidden(f'{float(err.max()):.3g}')}{loc}"


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


# ---- non-answers: what a property check must not pay for -----------------------------------------

def numbers_in(value: Any) -> np.ndarray:
    """Every number in a returned value (arrays, nested lists/tuples/dicts, records), flattened.

    Strings, None and values that are not data (figures, graphs, opaque objects) hold none.
    """
    from graders.probe.transport import Record

    if isinstance(value, bool) or value is None or isinstance(value, str):
        return np.zeros(0)
    if isinstance(value, (int, float)):
        return np.array([float(value)])
    if isinstance(value, np.ndarray):
        a = np.asarray(value)
        return a.astype(float).reshape(-1) if a.dtype.kind in "biuf" else np.zeros(0)
    if isinstance(value, Record):
        value = list(value.fields.values())
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        parts = [numbers_in(v) for v in value]
        return np.concatenate(parts) if parts else np.zeros(0)
    return np.zeros(0)


def _one_hot(a: np.ndarray) -> bool:
    return a.size >= 2 and int(np.count_nonzero(a)) == 1 and float(a[np.flatnonzero(a)[0]]) == 1.0


def _constant(a: np.ndarray) -> bool:
    return a.size >= 2 and bool(np.all((a == a[0]) | (np.isnan(a) & np.isnan(a[0]))))


def non_answer(answers: Sequence[Any]) -> str | None:
    """Why ``answers`` (a function's results, one per input it was given, or the parts of one
    result) are a non-answer, or None.

    A property — "the entries add up to 1", "the tensors have the parameters' shapes", "the model
    stays in eval mode" — is evidence only about an answer that is otherwise plausible: zero, a
    constant, a one-hot, or the same result whatever the input satisfies many properties and
    answers nothing. Property checks pay only when this returns None.
    """
    arrays = [numbers_in(a) for a in answers]
    everything = np.concatenate(arrays) if arrays else np.zeros(0)
    if everything.size == 0:
        return None
    if len(arrays) >= 2 and all(a.shape == arrays[0].shape and np.array_equal(a, arrays[0], equal_nan=True)
                                for a in arrays[1:]):
        return "it gives the same result whatever the input"
    if _constant(everything):
        return "it is zero everywhere" if everything[0] == 0 else "every number in it is the same"
    sized = [a for a in arrays if a.size >= 2]
    if sized and all(_one_hot(a) for a in sized):
        return "it is a one-hot vector (a single 1, zeros elsewhere)"
    if sized and len(sized) == len(arrays) and all(_constant(a) for a in sized):
        return "each of its results is a constant array"
    return None


# ---- several results in one: name the member that is wrong --------------------------------------

def members_problem(actual: Any, expected: Sequence[Any], names: Sequence[str], *, rtol: float,
                    atol: float) -> str | None:
    """A tuple of results (``(losses, chosen_rewards, rejected_rewards)``) compared member by member,
    naming the member and its shape when one is wrong."""
    if len(names) != len(expected):
        raise ValueError("one name per expected member")
    listing = ", ".join(names)
    if not isinstance(actual, (list, tuple)):
        return f"should return a tuple ({listing}), got {describe_value(actual)}"
    if len(actual) != len(expected):
        return f"should return a tuple of {len(expected)} ({listing}), got {len(actual)} values"
    for name, got, want in zip(names, actual, expected):
        want_arr = as_array(want)
        got_arr = as_array(got)
        if got_arr is None:
            return f"`{name}` should be numbers, got {describe_value(got)}"
        if want_arr is not None and got_arr.shape != want_arr.shape and not (got_arr.size == want_arr.size == 1):
            return f"`{name}` has shape {tuple(got_arr.shape)}, expected {tuple(want_arr.shape)}"
        p = close_problem(got, want, rtol=rtol, atol=atol)
        if p:
            return f"`{name}`: {p}"
    return None


def describe_value(v: Any) -> str:
    """A value's kind in a few words: "a torch.Tensor of shape (3, 4) (float32)", "a tuple of 2", "a str".
    What a notebook chose — a type it made up, a container's length — sits in a slot."""
    if isinstance(v, KernelArray):
        src = type_name(v.source)
        return f"a {src} of shape {tuple(v.shape)} ({v.dtype})" if v.ndim else f"a 0-d {src} ({v.dtype})"
    if isinstance(v, (Opaque, Record)):
        return f"a {v.type}" if trusted_type(v.type) else hidden(f"a {v.type}", shown="a type of its own")
    if isinstance(v, (list, tuple)):
        return f"a {type(v).__name__}" + hidden(f" of {len(v)}", shown="")
    if v is None:
        return "None"
    return f"a {type(v).__name__}"


def brief(v: Any, limit: int = 80) -> str:
    """A returned value in a few characters, for "got …": numbers and short arrays in full, longer
    ones by kind and shape. Kernel text: always inside a ``hidden`` slot when it reaches a reason."""
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, (int, float)):
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    if isinstance(v, KernelArray) and v.dtype.kind in "biuf":
        flat = np.asarray(v).reshape(-1)
        if flat.size <= 6:
            numbers = ", ".join(f"{x:.6g}" if v.dtype.kind == "f" else str(x) for x in flat.tolist())
            return f"{describe_value(v)} [{numbers}]" if v.ndim else f"{describe_value(v)} {numbers}"
        return describe_value(v)
    if isinstance(v, str):
        return repr(v) if len(v) <= limit else repr(v[:limit]) + "…"
    if isinstance(v, (list, tuple)):
        members = [brief(x, max(20, limit // 2)) for x in v[:4]] + (["…"] if len(v) > 4 else [])
        text = ", ".join(members)
        text = f"[{text}]" if isinstance(v, list) else f"({text}{',' if len(v) == 1 else ''})"
        return text if len(text) <= 2 * limit else f"{describe_value(v)}"
    return describe_value(v)


def as_number(v: Any) -> float | None:
    """A number (an int, a float, or any one-element numeric array or tensor) as a float; else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, KernelArray) and v.size == 1 and v.dtype.kind in "iuf":
        return float(np.asarray(v).reshape(-1)[0])
    return None


def python_float_problem(v: Any, what: str) -> str | None:
    """None if ``v`` is a plain number (a Python or numpy scalar), else why not — a tensor where the
    docstring promises a Python float is named, with the fix."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return None
    if isinstance(v, KernelArray) and v.ndim == 0 and v.source.startswith("numpy.") and v.dtype.kind in "iuf":
        return None
    if isinstance(v, KernelArray) and v.size == 1 and v.dtype.kind in "iuf":
        return f"{what} should be a Python float, got {describe_value(v)} (use float(...))"
    return f"{what} should be a Python float, got {describe_value(v)}"
