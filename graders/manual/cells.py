"""Where a written answer is in a notebook: its answer cells, and why there is none.

An answer is the cells marked ``metadata.hw4.answer`` (``graders.nbmeta``) plus the Markdown cells
a student added after them — told apart from the assignment's own prose, which is not part of any
answer. Used by the manual sheets, the grading page and the similarity report.
"""
from __future__ import annotations

import json
from pathlib import Path

from graders.nbmeta import answer_item, declared_part, homework_meta

#: what an answer cell holds until the student writes in it
ANSWER_PLACEHOLDER = "_Write your answer here._"


def assignment_prose(part: str) -> set[str]:
    """The markdown cells of the assignment notebook of ``part`` (to tell them from a student's own)."""
    from graders.homework import assets_dir

    prose: set[str] = set()
    for nb in sorted(assets_dir().glob("*.ipynb")):
        try:
            data = json.loads(nb.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if declared_part(data) != part:
            continue
        for cell in data.get("cells") or []:
            if cell.get("cell_type") == "markdown":
                src = cell.get("source", "")
                prose.add(("".join(src) if isinstance(src, list) else str(src)).strip())
    return prose


def answer_cells(notebook: Path, *, prose: set[str] | None = None) -> dict[str, list[dict]] | None:
    """Every answer in a notebook, read once: item id → its cells (``source`` text, ``attachments``,
    ``index`` in the notebook, and ``marked``: True for a cell with the answer metadata, False for a
    Markdown cell the student added after one — which tells where each answer cell's run begins).

    None when the notebook cannot be read. Which cells belong to an answer: see ``answers_for``.
    """
    try:
        data = json.loads(Path(notebook).read_bytes().decode("utf-8", errors="replace"))
        cells = data.get("cells") or []
    except (OSError, ValueError, AttributeError):
        return None
    return answer_cells_in(cells, prose=prose)


def answer_cells_in(cells, *, prose: set[str] | None = None) -> dict[str, list[dict]] | None:
    """``answer_cells`` on a notebook's cells already read (any JSON: None unless a list)."""
    if not isinstance(cells, list):
        return None
    found: dict[str, list[dict]] = {}
    current = None
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        meta = homework_meta(cell)
        src = cell.get("source", "")
        src = ("".join(map(str, src)) if isinstance(src, list) else str(src)).strip()
        attachments = cell.get("attachments") if isinstance(cell.get("attachments"), dict) else {}
        answer = answer_item(cell)
        if isinstance(answer, str):
            current = answer
            found.setdefault(answer, []).append({"source": src, "attachments": attachments, "index": index,
                                                 "marked": True})
        elif (current is not None and prose is not None and not meta and cell.get("cell_type") == "markdown"
              and src not in prose):
            found[current].append({"source": src, "attachments": attachments, "index": index, "marked": False})
        else:
            current = None
    return found


def answers_for(notebook: Path, item_id: str, *, prose: set[str] | None = None) -> str | None:
    """The text of a student's answer cells for ``item_id`` (None: the notebook has none).

    An answer cell is a markdown cell whose metadata says ``hw4.answer = item_id``. Markdown cells
    that follow it without hw4 metadata are part of the answer when the student added them —
    that is, when ``prose`` (the assignment's own markdown) is given and does not contain them;
    without ``prose`` only the answer cells count.
    """
    cells = (answer_cells(notebook, prose=prose) or {}).get(item_id)
    if cells is None:
        return None
    return "\n\n".join(c["source"] for c in cells if c["source"])


def answer_in_cells(cells, item_id: str, *, prose: set[str] | None = None) -> str | None:
    """``answers_for`` on a notebook's cells already read (the similarity report parses each notebook once)."""
    found = (answer_cells_in(cells, prose=prose) or {}).get(item_id)
    return None if found is None else "\n\n".join(c["source"] for c in found if c["source"])


def unanswered_reason(notebook: str | None, part: str, item_id: str, text: str | None) -> str:
    """Why there is no answer to grade ("" when there is one): no notebook, gone, no answer cell, left blank.

    ``text`` is what ``answers_for`` returned (it is not read when the notebook is missing).
    """
    if not notebook:
        return f"(no notebook for {part} was submitted)"
    if not Path(notebook).is_file():
        return f"(the notebook {notebook} is no longer there)"
    if text is None:
        return f"(no answer cell for {item_id} in {Path(notebook).name})"
    if not text.strip() or text.strip() == ANSWER_PLACEHOLDER:
        return "(not answered)"
    return ""
