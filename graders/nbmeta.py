"""The homework's own notebook metadata (``metadata.<key>``), read in one place from any JSON.

The key is the homework's (``metadata_key`` in its spec; HW4's is ``hw4``, the examples below).
A submitted notebook is hostile JSON: ``metadata`` or the key may be a list, a string or absent.
Every reader goes through ``homework_meta``, which gives a dict whatever it finds. What the
homework's notebooks carry (HW4's ``tools/build_notebooks.py`` writes it):

* notebook: ``{"hw4": {"part": "part1", "format": 1}}`` — which part it is (``declared_part``);
* cell: ``{"hw4": {"locked": true, "id": "load-model"}}`` — a provided cell (``locked_cell_id``);
  ``{"hw4": {"answer": "part4.written"}}`` — a written answer (``answer_item``);
  ``{"hw4": {"solution": ["top_k_filter"]}}`` — where a solution goes.
"""
from __future__ import annotations

from typing import Any

from graders.homework import active


def homework_meta(node: Any) -> dict:
    """``node["metadata"][<key>]`` of a notebook or a cell, or {} when any level is not a dict."""
    meta = node.get("metadata") if isinstance(node, dict) else None
    found = meta.get(active().metadata_key) if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def declared_part(notebook: Any) -> str | None:
    """The part a notebook's JSON says it is, or None."""
    part = homework_meta(notebook).get("part")
    return part if isinstance(part, str) else None


def answer_item(cell: Any) -> str | None:
    """The rubric item whose written answer a cell holds, or None."""
    item = homework_meta(cell).get("answer")
    return item if isinstance(item, str) else None


def locked_cell_id(cell: Any) -> str | None:
    """The id of a provided (locked) cell, or None for a student's cell."""
    meta = homework_meta(cell)
    return meta["id"] if meta.get("locked") and isinstance(meta.get("id"), str) else None
