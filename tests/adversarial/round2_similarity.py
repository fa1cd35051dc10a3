"""Round 2 of the hostile-student test, similarity: one statement of 66,000 implicitly joined ``""``.

``write_attack(folder)`` writes two submissions of Part 3 (the solved notebook) whose graded
``calculate_hamming_penalty`` holds, after its first statement, a bare statement of ``strings``
empty literals joined by spaces (``"" "" "" …``): valid Python that does nothing, so the function
still works and every check still passes, and the cell stays under the 200,000 characters above
which a cell is not compared. Tokenising it once took time quadratic in ``strings`` (each literal
rescanned the rest of the statement to see whether it was a bare string statement).

Put the two folders into a class, grade it and run ``hw4 similarity`` on it:

    python -c "import sys; sys.path[:0] = ['tests/adversarial']; \\
               from round2_similarity import write_attack; write_attack('CLASS')"
    .venv/bin/hw4 grade CLASS --out OUT --secret-file course.secret && .venv/bin/hw4 similarity OUT
"""
from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "part3_decoding_translation.ipynb"
FUNCTION = "calculate_hamming_penalty"
STUDENTS = ("99000001_QuadraticA", "99000002_QuadraticB")
ANCHOR = "    agreements = 0\n"


def attacked_source(source: str, strings: int = 66_000) -> str:
    """``source`` (the solved ``calculate_hamming_penalty`` cell) with the joined literals after its first statement."""
    if ANCHOR not in source:
        raise ValueError(f"the cell of {FUNCTION} no longer has the line {ANCHOR.strip()!r}")
    return source.replace(ANCHOR, ANCHOR + "    " + " ".join(['""'] * strings) + "\n", 1)


def write_attack(folder: Path | str, strings: int = 66_000,
                 students: tuple[str, ...] = STUDENTS) -> list[Path]:
    """Write ``folder/<student>/part3_decoding_translation.ipynb`` for each student; return the notebooks."""
    written = []
    for student in students:
        nb = nbformat.read(ROOT / "reference" / "solutions" / NOTEBOOK, as_version=4)
        cell = next(c for c in nb.cells
                    if FUNCTION in (c.get("metadata", {}).get("hw4", {}).get("solution") or []))
        cell.source = attacked_source(cell.source, strings)
        path = Path(folder) / student / NOTEBOOK
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        written.append(path)
    return written
