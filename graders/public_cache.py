"""Expected values of the public checks, recorded from the reference and replayed without it.

The student bundle has no ``reference/``. ``hw4 release`` builds every part's public checks
with a ``Recorder`` standing in for each reference module: it calls the real module and writes
down, in order, what each access returned (encoded with the same tagged JSON/.npy format that
values from a kernel use). In the bundle, a ``Replayer`` answers the same sequence of accesses
from those files. ``build_checks`` runs the same code both times, so the sequences agree; if
they do not (the bundle is stale), replay stops with a clear error instead of guessing.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from graders.probe.transport import Decoder, KernelArray

CACHE_DIR = Path(__file__).resolve().parent / "public_expected"


def _encoder_class():
    from graders.kernel import KERNEL_SIDE

    namespace: dict = {}
    exec(compile(KERNEL_SIDE, "kernel_side.py", "exec"), namespace)  # our own source, not a kernel's
    import sys

    return sys.modules["_hw4_probe"].Encoder


class StaleCache(RuntimeError):
    """The recorded public values do not match what the checks ask for."""


class Recorder:
    """Wraps a reference module; records each attribute value / call result in order."""

    def __init__(self, module, name: str, folder: Path):
        self._module, self._name, self._folder = module, name, folder / name
        self._folder.mkdir(parents=True, exist_ok=True)
        self._log: list[dict] = []
        self._encoder = _encoder_class()

    def _store(self, attr: str, kind: str, value: Any) -> None:
        n = len(self._log)
        encoded = self._encoder(str(self._folder), str(n)).encode(value)
        self._log.append({"attr": attr, "kind": kind, "value": encoded})
        (self._folder / "log.json").write_text(json.dumps(self._log, allow_nan=True), encoding="utf-8")

    def __getattr__(self, attr: str):
        value = getattr(self._module, attr)
        if not callable(value) or isinstance(value, type):
            self._store(attr, "value", value)
            return value

        def call(*args, **kwargs):
            result = value(*args, **kwargs)
            self._store(attr, "call", result)
            return result

        return call


def _to_torch(value: Any) -> Any:
    """Arrays that were tensors in the reference become tensors again."""
    if isinstance(value, KernelArray):
        plain = np.asarray(value).copy()
        if value.source == "torch.Tensor":
            import torch

            return torch.from_numpy(plain)
        return plain
    if isinstance(value, list):
        return [_to_torch(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_to_torch(v) for v in value)
    if isinstance(value, dict):
        return {k: _to_torch(v) for k, v in value.items()}
    return value


class Replayer:
    """Answers the recorded sequence of accesses to one reference module."""

    def __init__(self, name: str, folder: Path = CACHE_DIR):
        path = folder / name / "log.json"
        if not path.is_file():
            raise StaleCache(f"no recorded public values for {name} (expected {path})")
        self._name, self._folder = name, folder / name
        self._log = json.loads(path.read_text(encoding="utf-8"))
        self._next = 0

    def _take(self, attr: str, kind: str) -> Any:
        entry = self._log[self._next] if self._next < len(self._log) else None
        if entry is None or entry["attr"] != attr or entry["kind"] != kind:
            raise StaleCache(f"the recorded public values of {self._name} do not match its checks "
                             f"(access {self._next}: {attr}); rebuild the bundle with `hw4 release`")
        self._next += 1
        return _to_torch(Decoder(self._folder).decode(entry["value"]))

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        entry = self._log[self._next] if self._next < len(self._log) else {}
        if entry.get("kind") == "value" and entry.get("attr") == attr:
            return self._take(attr, "value")
        return lambda *args, **kwargs: self._take(attr, "call")


def reset(folder: Path = CACHE_DIR) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
