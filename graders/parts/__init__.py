"""The registry of parts. A part module defines ``PART``; add it to ``_MODULES``.

A part module is a table of checks (``base.CheckTable``: id, probes, rule, description, public,
timeout; ``depends`` from the part's ``DEPENDS``) built by ``build_checks(ctx)``, plus the judges
and input builders it needs (``part4`` keeps them in ``part4_judges`` and ``part4_inputs``).
"""
from __future__ import annotations

import importlib

from graders.parts.base import CheckContext, PartSpec

_MODULES = ("theory", "part1", "part2", "part3", "part4")


def all_parts() -> dict[str, PartSpec]:
    parts = {}
    for name in _MODULES:
        module = importlib.import_module(f"graders.parts.{name}")
        parts[name] = module.PART
    return parts


__all__ = ["PartSpec", "CheckContext", "all_parts"]
