"""Reading a submitted notebook: any nbformat version as v4, outputs dropped, every way it can be
unreadable said in words (``NotebookUnreadable``), never an exception of nbformat's."""
from __future__ import annotations

from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class NotebookUnreadable(Exception):
    """The file is not a notebook we can run (bad JSON, wrong format, too large…)."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read any nbformat version as v4, outputs dropped; raise ``NotebookUnreadable`` with a reason."""
    path = Path(path)
    if path.is_symlink():
        raise NotebookUnreadable(f"{path.name} is a symbolic link; submit the notebook file itself")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotebookUnreadable(f"cannot open {path.name}: {exc.strerror}") from None
    if not path.is_file():
        raise NotebookUnreadable(f"{path.name} is not a regular file")
    if size == 0:
        raise NotebookUnreadable(f"{path.name} is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookUnreadable(f"{path.name} is {size / 2**20:.0f} MB; notebooks over "
                                 f"{MAX_NOTEBOOK_BYTES // 2**20} MB are not graded (clear the outputs)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookUnreadable(f"{path.name} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise NotebookUnreadable(f"cannot read {path.name}: {exc.strerror}") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises NotJSONError, ValidationError, KeyError…
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise NotebookUnreadable(f"{path.name} is not a valid notebook: {first}") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookUnreadable(f"{path.name} has no cells")
    for cell in nb.cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("source", ""), str):
            raise NotebookUnreadable(f"{path.name} has a malformed cell")
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb
