"""What the grader passed to a student function that raised, said so that the student can act on it.

A bare exception ("IndexError: too many indices for tensor of dimension 1") tells a student that
the code failed, not why: the usual cause is a function written for other arguments than the
docstring promises (the model's ``[1, seq, vocab]`` output where one position's ``[vocab]`` logits
are passed). ``explain_call(part, probe, outcome)`` describes the call — each argument by name,
with its type and shape and what the docstring says it is — and adds a hint for exceptions with a
known cause (sympy's ``exp`` called on a tensor in the theory notebook).

The argument names and what they are come from each part module's ``ARGUMENTS`` (the notebook's
contract, in short; a test checks the names against the reference's signatures); an argument that
``ARGUMENTS`` does not list is named from the function's ``def`` in the assignment notebook (which
the student bundle ships too), so a student never reads "argument 5". Only public checks should
show this: their inputs may be shown.

``without_call(reason)`` is the reason less the call's description: what checks that failed for the
same cause have in common (the feedback gives one line per cause).
"""
from __future__ import annotations

import ast
import functools
import json
import re
from typing import Any

import numpy as np

from graders.homework import active as active_homework
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


def describe_call(probe: Probe, arguments: tuple = (), names: tuple[str, ...] = ()) -> str:
    """"f was called with x = …, y = …" — names and what they are from ``arguments`` ((name, what it
    is) pairs), else from ``names`` (the parameters of the notebook's ``def``)."""
    parts = []
    for i, value in enumerate(probe.args):
        name, what = (arguments[i] if i < len(arguments)
                      else (names[i] if i < len(names) else f"argument {i + 1}", ""))
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
        module = active_homework().part_module(part)
    except (ImportError, OSError):
        module = None
    arguments = getattr(module, "ARGUMENTS", {}).get(probe.target, ())
    names = ()
    if module is not None and len(probe.args) > len(arguments) and hasattr(module, "PART"):
        names = notebook_signatures(module.PART.notebook).get(probe.target, ())
    text = describe_call(probe, arguments, names)
    said = f"{outcome.error_type}: {outcome.message}\n{outcome.traceback}"
    for pattern, hint in _HINTS:
        if pattern.search(said):
            return f"{text}; {hint}"
    return text


@functools.lru_cache(maxsize=None)
def notebook_signatures(notebook: str) -> dict[str, tuple[str, ...]]:
    """Function → its positional parameters, from the ``def``s of the assignment notebook ``notebook``
    (the blank one the students got: its signatures are the contract); {} when it cannot be read."""
    from graders.homework import assets_dir

    try:
        cells = json.loads((assets_dir() / notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    found = {}
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:  # IPython magics
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[node.name] = tuple(a.arg for a in (*node.args.posonlyargs, *node.args.args))
    return found


#: where ``explain_call``'s text starts in a check's reason (``Check.run`` joins them with " — ")
_CALL = re.compile(r" — `[^`]+` was called with .*\Z", re.S)


def without_call(reason: str) -> str:
    """``reason`` less the description of the call that raised: two checks that called a function
    with other arguments and got the same exception have the same cause."""
    return _CALL.sub("", reason, count=1)
