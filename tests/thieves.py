"""Thieves of the reference: graded functions that, when rerun with the reference's helpers (error
carried forward), look for the reference's version of themselves and return what it computes.

Each function of the homework that calls another graded function (``DEPENDS`` of parts 2–4) is
replaced, in the solved notebook, by such a thief: it follows every route a kernel has from the
helpers it is handed — their globals and closures, the garbage collector, the frames above it,
``sys.modules``, the source text in any file it can reach (the check's input folder, the working
folder, ``/tmp``, the helper's own file) — and returns the stolen result, or its stub's non-answer
when it finds nothing. Used by tests/adversarial/test_reference_thieves.py and the bundle's tests.
"""
from __future__ import annotations

import importlib
import inspect
import textwrap
from pathlib import Path

from graders.parts import part2, part3, part4
from helpers import mutant

STEAL = '''
_STOLEN = globals().setdefault("_STOLEN", {})


def _steal(name, helpers, args, kwargs):
    """The result of the reference's ``name`` if any route from the ``helpers`` leads to it."""
    here = globals()
    given = tuple(here.get(h) for h in helpers)
    if all(getattr(fn, "__globals__", here) is here for fn in given):
        return False, None  # the notebook's own helpers: nothing to steal (and no time spent looking)
    key = (name, tuple(id(fn) for fn in given))
    if key not in _STOLEN:  # look once per rerun (samplers are called many times)
        _STOLEN[key] = _routes(name, helpers)
    for fn in _STOLEN[key]:
        try:
            return True, fn(*args, **kwargs)
        except Exception:
            continue
    return False, None


def _routes(name, helpers):
    """Every function called ``name`` (not the notebook's own) that a route from the ``helpers`` reaches."""
    import gc, json, math, os, sys, types
    import numpy as np
    import torch
    import networkx as nx
    here = globals()
    own = here.get(name)
    found = []

    def consider(obj):
        if isinstance(obj, types.FunctionType) and obj.__name__ == name and obj is not own:
            found.append(obj)

    texts, folders = [], [os.getcwd(), "/tmp"]
    for h in helpers:
        fn = here.get(h)
        for obj in list(getattr(fn, "__globals__", {}).values()):
            consider(obj)
        for cell in getattr(fn, "__closure__", None) or ():
            consider(cell.cell_contents)
        code = getattr(fn, "__code__", None)
        if code is not None:
            texts += [c for c in code.co_consts if isinstance(c, str)]
            if os.path.isfile(code.co_filename):
                folders.append(os.path.dirname(code.co_filename))
    for obj in gc.get_objects():
        consider(obj)
        if isinstance(obj, str) and f"def {name}(" in obj and len(obj) < 10**6:
            texts.append(obj)
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            consider(value)
            if isinstance(value, str) and os.path.isdir(value):
                folders += [value, os.path.dirname(value.rstrip("/"))]
        frame = frame.f_back
    for module_name, module in list(sys.modules.items()):
        if module is not None and module_name != "__main__":
            consider(getattr(module, name, None))
    for folder in folders:
        for root, _, files in os.walk(folder):
            for file in files:
                try:
                    with open(os.path.join(root, file), errors="replace") as fh:
                        text = fh.read(4_000_000)
                except OSError:
                    continue
                try:  # a JSON file: its strings
                    stack, strings = [json.loads(text)], []
                    while stack:
                        item = stack.pop()
                        if isinstance(item, str):
                            strings.append(item)
                        elif isinstance(item, (list, dict)):
                            stack.extend(item.values() if isinstance(item, dict) else item)
                    texts += strings
                except ValueError:
                    texts.append(text)
    for text in texts:
        start = text.find(f"def {name}(")
        if start < 0 or "_steal(" in text:  # not there, or the thief itself
            continue
        space = {"torch": torch, "math": math, "np": np, "nx": nx, **{h: here[h] for h in helpers if h in here}}
        try:
            exec(text[start:], space)
            consider(space.get(name))
        except Exception:
            pass
    return found
'''


def _thief(module, name: str, helpers: tuple[str, ...], stub: str) -> str:
    """``name`` with its signature, stealing first and returning ``stub`` when nothing was found."""
    signature = str(inspect.signature(getattr(module, name)))
    params = list(inspect.signature(getattr(module, name)).parameters)
    call = f"({', '.join(params)},), {{}}"
    return STEAL + textwrap.dedent(f'''

        def {name}{signature}:
            stolen, value = _steal({name!r}, {helpers!r}, {call})
            if stolen:
                return value
            return {stub}
        ''')


#: part → (reference module, {function: non-answer its stub returns})
THIEVES = {
    "part2": ("reference.part2", {"loss_landscape": "np.zeros((len(xs), len(ys)))"}),
    "part3": ("reference.part3", {"enhanced_beam_search_decoder": "[(text, 0.0)] * k"}),
    "part4": ("reference.part4", {
        "greedy_search": "(input_ids, nx.DiGraph())",
        "top_k_sampling": "torch.arange(beams)",
        "nucleus_sampling": "torch.arange(beams)",
        "beam_search": "nx.DiGraph()",
    }),
}
DEPENDS = {"part2": part2.DEPENDS, "part3": part3.DEPENDS, "part4": part4.DEPENDS}


def thief_notebook(part: str) -> Path:
    """The solved notebook of ``part`` with each function that calls a graded helper replaced by a thief."""
    module_name, stubs = THIEVES[part]
    ref = importlib.import_module(module_name)
    replacements = []
    for name, stub in stubs.items():
        imports = "import numpy as np\nimport torch\nimport networkx as nx\n"
        replacements.append((inspect.getsource(getattr(ref, name)).rstrip("\n"),
                             imports + _thief(ref, name, DEPENDS[part][name], stub).strip("\n")))
    return mutant(part, replacements, label=f"thief-{part}")




def thief_checks(plan, part: str) -> set[str]:
    """The ids of the checks that call a thief and are rerun with the reference's helpers."""
    targets = set(THIEVES[part][1])
    return {c.id for c in plan.checks[part] if c.depends and any(p.target in targets for p in c.probes)}
