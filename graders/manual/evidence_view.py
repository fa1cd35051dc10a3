"""The student's own outputs beside a written answer: the cells a question refers to, as the grader ran them.

Which cells: ``questions.evidence_cells`` on the submitted notebook (the code cells before the
question's prompt). Their outputs: ``OUT/<submission>/outputs.json``, kept by the grader from
its own execution (``graders.evidence``: text, PNG/JPEG images and errors, already sanitised and
re-validated when read) — never the outputs stored in the submitted file, which a student can
write by hand. The page shows text escaped and images as ``data:`` URIs; nothing else is shown.
"""
from __future__ import annotations

import json
from pathlib import Path

from graders.evidence import read_outputs
from graders.manual.questions import evidence_cells

#: lines of a cell's code shown above its outputs
SOURCE_LINES = 6
NOT_KEPT = "(no outputs were kept for this submission: it was graded before outputs were kept; regrade it to see them)"


def _folder(out_dir: Path, submission_id: str) -> Path | None:
    if not submission_id or submission_id in (".", "..") or "/" in submission_id or "\0" in submission_id:
        return None
    return Path(out_dir) / submission_id


def for_question(out_dir: Path, submission_id: str, part: str, notebook: str | None, item_id: str,
                 k: int) -> dict:
    """``{"cells": [{"index", "source", "outputs"}], "note": str}`` for question ``k`` of ``item_id``."""
    folder = _folder(out_dir, submission_id)
    if folder is None or not notebook:
        return {"cells": [], "note": ""}
    try:
        data = json.loads(Path(notebook).read_bytes().decode("utf-8", errors="replace"))
        cells = data.get("cells") if isinstance(data, dict) else None
    except (OSError, ValueError):
        cells = None
    if not isinstance(cells, list):
        return {"cells": [], "note": ""}
    indices = evidence_cells(cells, item_id, k, need_outputs=False)
    if not (folder / "outputs.json").is_file():
        return {"cells": [], "note": NOT_KEPT if indices else ""}
    outputs = read_outputs(folder).get(part, {})
    shown = []
    for i in indices:
        src = cells[i].get("source", "") if isinstance(cells[i], dict) else ""
        src = "".join(map(str, src)) if isinstance(src, list) else str(src)
        lines = src.splitlines()
        head = "\n".join(lines[:SOURCE_LINES]) + ("\n…" if len(lines) > SOURCE_LINES else "")
        shown.append({"index": i, "source": head, "outputs": outputs.get(i, [])})
    return {"cells": shown, "note": ""}
