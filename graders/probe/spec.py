"""What a probe asks of a student's kernel, and how its inputs travel there.

A ``Probe`` names a global of the student's notebook and either reads it (theory answers) or
calls it on grader-chosen arguments. Arguments are plain data, numpy arrays, torch tensors or
``Resource`` markers; the kernel builds fresh resources itself (a model loaded from the shipped
files, never the student's own ``model``), so nothing the notebook did to its globals changes
what its functions are tested on.

Inputs travel as ``probes.json`` plus ``.npy`` files (``encode_inputs`` makes their bytes,
``write_inputs`` writes them to a folder); outputs come back through ``graders.probe.transport``.
Nothing crosses as pickle.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class Resource:
    """A value the kernel builds for itself from the shipped assets.

    kind: "causal_lm" | "seq2seq" | "tokenizer" | "generator" | "sympy_symbols"
    options: e.g. {"name": "tiny-lm"}, {"name": "tiny-lm", "padding_side": "left"}, {"seed": 3}
    """

    kind: str
    options: tuple[tuple[str, Any], ...] = ()

    def to_json(self) -> dict:
        return {"$resource": self.kind, "options": dict(self.options)}


def causal_lm(name: str, *, train: bool = False) -> Resource:
    """A fresh eval-mode copy of a shipped causal LM (``train=True`` leaves it in train mode)."""
    return Resource("causal_lm", (("name", name), ("train", train)))


def seq2seq(name: str) -> Resource:
    """A fresh eval-mode copy of a shipped encoder-decoder, with eager attention."""
    return Resource("seq2seq", (("name", name),))


def tokenizer(name: str, *, padding_side: str | None = None, pad_token: str | None = None) -> Resource:
    """A fresh tokenizer; ``padding_side`` and ``pad_token`` (e.g. its EOS token) are set if given."""
    options = (("name", name), ("padding_side", padding_side))
    return Resource("tokenizer", options + ((("pad_token", pad_token),) if pad_token else ()))


def generator(seed: int) -> Resource:
    """A ``torch.Generator`` seeded by the grader."""
    return Resource("generator", (("seed", int(seed)),))


@dataclass(frozen=True)
class Probe:
    """One question to the kernel.

    id:      unique within a notebook's probe plan (e.g. "part4.top_k_filter.case3")
    target:  the global to read or call in the student's namespace
    args/kwargs: call arguments (ignored when ``call`` is False)
    call:    False reads the global itself (e.g. a sympy answer)
    repeat:  call this many times and return the list of results (samplers)
    observe: what to read of the torch module arguments after the call, by name (see
             ``graders/probe/runtime/observe.py``): "parameters" (every parameter, judged by the
             grader against its own copy of the shipped weights) and "training" (whether each is
             in train mode)
    """

    id: str
    target: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    call: bool = True
    repeat: int = 1
    observe: tuple[str, ...] = ()


def read_global(id: str, name: str) -> Probe:
    """A probe that reads a global value (theory answers, notebook results)."""
    return Probe(id=id, target=name, call=False)


class _InputWriter:
    """Turns probe arguments into JSON, with arrays as .npy files beside it (``files``: name → bytes)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.count = 0

    def encode(self, value: Any) -> Any:
        if isinstance(value, Resource):
            return value.to_json()
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value)
        if isinstance(value, np.ndarray):
            return self._array(value, "numpy")
        if type(value).__module__.startswith("torch"):
            return self._array(value.detach().cpu().numpy(), "torch")
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple: a namedtuple in the kernel
            return {"$record": {"type": type(value).__name__,
                                "fields": {f: self.encode(getattr(value, f)) for f in value._fields}}}
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v) for v in value]}
        if type(value).__module__.startswith("networkx") and hasattr(value, "nodes") and hasattr(value, "edges"):
            # a graph argument (e.g. a search tree): nodes and edges with attributes, in insertion order
            return {"$graph": {"directed": bool(value.is_directed()),
                               "nodes": [[self.encode(n), self.encode(dict(a))] for n, a in value.nodes(data=True)],
                               "edges": [[self.encode(u), self.encode(w), self.encode(dict(a))]
                                         for u, w, a in value.edges(data=True)]}}
        if type(value).__module__.startswith("pandas") and hasattr(value, "columns") and hasattr(value, "index"):
            # a DataFrame argument: columns, index and values as plain data
            return {"$dataframe": {"columns": [self.encode(c) for c in value.columns],
                                   "index": [self.encode(i) for i in value.index],
                                   "index_name": self.encode(value.index.name),
                                   "data": [[self.encode(x) for x in value[c].tolist()] for c in value.columns]}}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, Mapping):
            if all(isinstance(k, str) for k in value):
                if any(k.startswith("$") for k in value):
                    raise ValueError("probe argument dict keys may not start with '$'")
                return {k: self.encode(v) for k, v in value.items()}
        raise TypeError(f"cannot send a {type(value).__name__} to the kernel")

    def _array(self, array: np.ndarray, kind: str) -> dict:
        self.count += 1
        name = f"in{self.count}.npy"
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        self.files[name] = buffer.getvalue()
        return {"$array": name, "kind": kind}


def write_inputs(folder: Path, probes: list[Probe]) -> Path:
    """Write ``probes.json`` (+ arrays) for the kernel-side runner; returns the json path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in encode_inputs(probes).items():
        (folder / name).write_bytes(data)
    return folder / "probes.json"


def encode_inputs(probes: list[Probe]) -> dict[str, bytes]:
    """The files of the kernel-side runner's input folder: ``probes.json`` and its arrays (name → bytes)."""
    writer = _InputWriter()
    plan = []
    ids = set()
    for p in probes:
        if p.id in ids:
            raise ValueError(f"duplicate probe id {p.id!r}")
        ids.add(p.id)
        plan.append(
            {
                "id": p.id,
                "target": p.target,
                "call": p.call,
                "args": [writer.encode(a) for a in p.args],
                "kwargs": {k: writer.encode(v) for k, v in p.kwargs.items()},
                "repeat": int(p.repeat),
                "observe": list(p.observe),
            }
        )
    writer.files["probes.json"] = json.dumps(plan).encode("utf-8")
    return writer.files
