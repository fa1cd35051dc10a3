"""Provided (locked) cells: find what a student changed, and run the originals instead.

The assignment notebooks mark the code a student must not change with the cell metadata
``{"<metadata key>": {"locked": true, "id": ID}}``; ``<the homework's checks>/locked/<part>.json``
holds the sha256 of each such cell's source (HW4's ``graders/parts/locked``, both written by
``tools/build_notebooks.py``). The originals are read from the assignment notebook itself
(``assignments/<notebook>``), which is what students got.

Before a submission runs, ``restore`` compares its cells with the originals, nbgrader-style
("the original is what counts"):

* **modified** — the cell with that id has other source: the original source runs in its place;
* **deleted**  — no code cell carries that id: the original is put back, right after the provided
  cell that precedes it in the assignment (at the top if none does);
* **moved**    — provided cells appear out of their original order: the places they occupy are
  refilled with the originals in the original order (the student's own cells do not move).

Whitespace at the ends of lines and of the cell, and Windows line ends, are not changes. The
changes are reported as ``ID``, ``ID (deleted)`` and ``ID (moved)`` in
``ExecutionSummary.modified_locked_cells``. A student's own copy of a provided cell (without
its metadata) is just another student cell.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import nbformat

from graders.homework import active as active_homework
from graders.nbmeta import locked_cell_id as locked_id  # noqa: F401  (locked_id: the name callers use)

log = logging.getLogger("hw4.locked")


def sha256(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _normal(source: str) -> str:
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


@dataclass(frozen=True)
class ProvidedCells:
    """The provided cells of one part, in assignment order: ``((id, original source), …)``."""

    cells: tuple[tuple[str, str], ...]

    @classmethod
    def from_notebook(cls, path: Path, checksums: dict[str, str] | None = None) -> "ProvidedCells":
        """Read the originals from an assignment notebook; ``checksums`` (id → sha256) cross-checks them."""
        nb = nbformat.read(str(path), as_version=4)
        cells = []
        for cell in nb.cells:
            cid = locked_id(cell)
            if cell.get("cell_type") == "code" and cid and cid not in dict(cells):
                cells.append((cid, cell.source))
        if checksums is not None:
            stale = sorted(cid for cid, src in cells if checksums.get(cid) not in (None, sha256(src)))
            unknown = sorted(set(checksums) - {cid for cid, _ in cells})
            if stale or unknown:
                log.warning("provided cells of %s disagree with their checksums (%s); the notebook's cells "
                            "are used — rebuild with tools/build_notebooks.py", Path(path).name,
                            ", ".join(stale + unknown)[:200])
        return cls(tuple(cells))

    @classmethod
    def from_sources(cls, cells: Sequence[tuple[str, str]]) -> "ProvidedCells":
        return cls(tuple((str(i), str(s)) for i, s in cells))


@functools.lru_cache(maxsize=32)
def _load(part: str, notebook: str, mtime: float) -> ProvidedCells | None:
    checksums = None
    json_path = active_homework().checks / "locked" / f"{part}.json"
    if json_path.is_file():
        try:
            checksums = {str(k): str(v) for k, v in json.loads(json_path.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError, AttributeError):
            log.warning("%s is unreadable; provided cells are taken from the notebook alone", json_path)
    try:
        provided = ProvidedCells.from_notebook(Path(notebook), checksums)
    except (OSError, ValueError) as exc:
        log.warning("cannot read provided cells of %s from %s: %s", part, notebook, exc)
        return None
    return provided if provided.cells else None


def provided_cells(part: str, notebook: Path) -> ProvidedCells | None:
    """The provided cells of ``part`` from its assignment notebook (None if it has none / is missing)."""
    notebook = Path(notebook)
    try:
        mtime = notebook.stat().st_mtime
    except OSError:
        return None
    return _load(part, str(notebook), mtime)


def restore(cells: Sequence[Any], provided: ProvidedCells | None
            ) -> tuple[list[Any], list[int | None], tuple[str, ...]]:
    """(cells to run, where each came from in the submission — None if put back, changes).

    The input cells are not modified; changed ones are copies.
    """
    out = list(cells)
    origins: list[int | None] = list(range(len(cells)))
    if not provided or not provided.cells:
        return out, origins, ()
    originals = dict(provided.cells)
    order = [cid for cid, _ in provided.cells]
    where: dict[str, int] = {}
    for pos, cell in enumerate(cells):
        cid = locked_id(cell)
        if cell.get("cell_type") == "code" and cid in originals and cid not in where:
            where[cid] = pos
    changes: list[str] = []

    def original(cid: str, like: Any = None) -> Any:
        cell = copy.deepcopy(like) if like is not None else nbformat.v4.new_code_cell()
        cell["source"] = originals[cid]
        cell.setdefault("metadata", {})[active_homework().metadata_key] = {"locked": True, "id": cid}
        cell["outputs"], cell["execution_count"] = [], None
        return cell

    for cid, pos in where.items():
        if _normal(cells[pos].get("source", "")) != _normal(originals[cid]):
            out[pos] = original(cid, cells[pos])
            changes.append(cid)
    present = sorted(where, key=where.get)
    canonical = [cid for cid in order if cid in where]
    if present != canonical:
        slots = sorted(where.values())
        for slot, cid in zip(slots, canonical):
            if where[cid] != slot:
                out[slot] = original(cid, cells[slot])
                changes.append(f"{cid} (moved)")
        where = dict(zip(canonical, slots))
    for i, cid in enumerate(order):
        if cid in where:
            continue
        before = [where[c] for c in order[:i] if c in where]
        at = max(before) + 1 if before else 0
        out.insert(at, original(cid))
        origins.insert(at, None)
        where = {c: (p + 1 if p >= at else p) for c, p in where.items()}
        where[cid] = at
        changes.append(f"{cid} (deleted)")
    return out, origins, tuple(changes)
