"""What the grader passed to a student function that raised, said so that the student can act on it.

A bare exception ("IndexError: too many indices for tensor of dimension 1") tells a student that
the code failed, not why: the usual cause is a function written for other arguments than the
docstring promises (the model's ``[1, seq, vocab]`` output where one position's ``[vocab]`` logits
are passed). ``explain_call(part, probe, outcome)`` describes the call — each argument by name,
with its type and shape and what the docstring says it is — and adds a hint for exceptions with a
known cause (sympy's ``exp`` called on a tensor in the theory notebook).

The argument names and what they are come from each part module's ``ARGUMENTS`` (the notebook's
contract, in short; a test checks the names against the reference's signatures). Only public
checks should show this: their inputs may be shown.
"""
from __future__ import annotations

import importlib
import re
from typing import Any

import numpy as np

from graders.probe.spec import Probe, Resource
from graders.probe.transport import Outcome

#: (pattern in the exception, hint): causes that are the same in every part
_HINTS = [
    (re.compile(r"sympy|SympifyError|Cannot convert expression|can't convert expression|Sympify", re.I),
     "exp, log, sqrt … here are sympy's (the notebook imports them for the sympy answers): inside a numeric "
     "function use torch.exp, torch.log, F.logsigmoid …"),
    (re.compile(r"too many indices for tensor of dimension|IndexError: index \d+ is out of bounds for dimension", re.I),
     "the function indexes its input with more dimensions than it has: compare the shapes above with the code"),
]


def describe_argument(value: Any) -> str:
    """One argument in a few words: "a torch.Tensor of shape [57] (float32)", "a fresh tiny-lm model"."""
    if isinstance(value, Resource):
        options = dict(value.options)
        return {"causal_lm": f"a fresh {options.get('name', '')} model (eval mode)",
                "seq2seq": f"a fresh {options.get('name', '')} encoder-decoder (eval mode)",
                "tokenizer": f"the {options.get('name', '')} tokenizer",
                "generator": "a seeded torch.Generator"}.get(value.kind, f"a {value.kind}")
    module = type(value).__module__ or ""
    if module.startswith("torch") and hasattr(value, "shape"):
        return f"a torch.Tensor of shape [{', '.join(map(str, value.shape))}] ({str(value.dtype).replace('torch.', '')})"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape ({', '.join(map(str, value.shape))}{',' if value.ndim == 1 else ''}) ({value.dtype})"
    if module.startswith("networkx"):
        return f"a networkx {type(value).__name__} of {value.number_of_nodes()} nodes"
    if module.startswith("pandas"):
        return f"a pandas {type(value).__name__} of {len(value)} rows"
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else f"a str of {len(value)} characters"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))[:6]}"
    return f"a {type(value).__name__}"


def describe_call(probe: Probe, arguments: tuple = ()) -> str:
    """"f was called with x = …, y = …" — names from ``arguments`` ((name, what it is) pairs)."""
    parts = []
    for i, value in enumerate(probe.args):
        name, what = arguments[i] if i < len(arguments) else (f"argument {i + 1}", "")
        parts.append(f"{name} = {describe_argument(value)}" + (f" ({what})" if what else ""))
    parts += [f"{k} = {describe_argument(v)}" for k, v in probe.kwargs.items()]
    listing = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else "no arguments"
    return f"`{probe.target}` was called with {listing}"


def explain_call(part: str, probe: Probe, outcome: Outcome) -> str | None:
    """What to add to the reason of a call that raised: the call's arguments and, for a known
    cause, a hint. None for a probe that reads a value or a call that did not raise."""
    if not probe.call or outcome.ok or outcome.error_type in ("NameError", "NoAnswer", "Unreadable", "Timeout",
                                                                "ValueTooLarge", "BadValue"):
        return None
    try:
        arguments = getattr(importlib.import_module(f"graders.parts.{part}"), "ARGUMENTS", {}).get(probe.target, ())
    except ImportError:
        arguments = ()
    text = describe_call(probe, arguments)
    said = f"{outcome.error_type}: {outcome.message}\n{outcome.traceback}"
    for pattern, hint in _HINTS:
        if pattern.search(said):
            return f"{text}; {hint}"
    return text
