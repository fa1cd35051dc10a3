"""Round 2 against the grading page (``hw4 manual serve``): the theory notebooks that attacked it.

Each function returns a theory notebook as nbformat JSON text: the reference solution
(``reference/solutions/theory.ipynb``, full marks on every check) with some written answers — the Markdown cells
marked ``metadata.hw4.answer`` — replaced.

* ``long_formula_notebook``: Q1a's answer ends with one 98 kB display formula. Typeset by KaTeX it
  made the answer page and the item page take 50–65 s in Chromium (a 16 MB DOM).
* ``split_formula_notebook``: the same 98 kB cut into display formulas of 4 kB each (no single
  formula is long; the answer's math is).
* ``math_answer_notebooks``: three Q1f answers. The first two differ only in their mathematics
  (``$f'(x) > 0$`` and ``$f(x) ~ 0$``) and were put in one answer group; the third is the first
  in other letter case and spacing, and must stay in the first one's group.

The round's third hole (the comment bank form's ``back`` field redirecting off the server) needs
no notebook: see tests/manual_web/test_web_app.py.

To grade them as a class and open the page::

    .venv/bin/python tests/adversarial/round2_manual.py /tmp/round2
    .venv/bin/hw4 grade /tmp/round2 --parts theory --secret-file SECRET --out /tmp/round2-out
    .venv/bin/hw4 manual serve /tmp/round2-out    # items theory.q1a.written and theory.q1f.written
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "solutions" / "theory.ipynb"
LONG_FORMULA_CHARS = 98_000
SPLIT_FORMULA_CHARS = 4_000

SLOPE_POSITIVE = ("Since $f'(x) > 0$ for every $x$, the correction $\\rho - 1$ has mean zero, "
                  "so $k_3$ is unbiased.")
SLOPE_ZERO = "Since $f(x) ~ 0$ for every $x$, the correction $\\rho - 1$ has mean zero, so $k_3$ is unbiased!"
SLOPE_POSITIVE_RESPACED = ("SINCE  $f'(x) > 0$ for every $x$,\nthe correction $\\rho - 1$ has MEAN zero, "
                           "so $k_3$ is  unbiased.")


def long_formula(chars: int = LONG_FORMULA_CHARS) -> str:
    """A display formula ``$$a+b+a+b+…+c$$`` of ``chars`` characters (about 160 bytes of KaTeX DOM each)."""
    return "$$" + "a+b+" * ((chars - 5) // 4) + "c$$"


def theory_notebook(answers: Mapping[str, str]) -> str:
    """The reference theory notebook with the answer cells of ``answers`` (item id → Markdown) replaced."""
    nb = json.loads(REFERENCE.read_text(encoding="utf-8"))
    found = set()
    for cell in nb["cells"]:
        item = cell.get("metadata", {}).get("hw4", {}).get("answer")
        if item in answers:
            cell["source"] = answers[item]
            found.add(item)
    assert found == set(answers), f"no answer cell for {set(answers) - found}"
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def long_formula_notebook() -> str:
    """Q1a answered in words, then with one 98 kB display formula."""
    return theory_notebook({"theory.q1a.written": "The loss only sees the difference of the scores:\n\n"
                                                  + long_formula()})


def split_formula_notebook() -> str:
    """Q1a answered with 98 kB of display formulas, none longer than 4 kB."""
    pieces = [long_formula(SPLIT_FORMULA_CHARS) for _ in range(LONG_FORMULA_CHARS // SPLIT_FORMULA_CHARS)]
    return theory_notebook({"theory.q1a.written": "Written out:\n\n" + "\n\n".join(pieces)})


def math_answer_notebooks() -> tuple[str, str, str]:
    """Q1f answered ``SLOPE_POSITIVE``, ``SLOPE_ZERO`` and ``SLOPE_POSITIVE_RESPACED``."""
    return tuple(theory_notebook({"theory.q1f.written": text})
                 for text in (SLOPE_POSITIVE, SLOPE_ZERO, SLOPE_POSITIVE_RESPACED))


def write_class(folder: Path) -> list[Path]:
    """The notebooks as a class folder (``{STD_Number}_{Name}/theory.ipynb``); returns the submission folders."""
    notebooks = {"402000001_LongFormula": long_formula_notebook(), "402000002_SplitFormula": split_formula_notebook()}
    for name, text in zip(("402000003_SlopePositive", "402000004_SlopeZero", "402000005_SlopePositiveAgain"),
                          math_answer_notebooks()):
        notebooks[name] = text
    made = []
    for name, text in notebooks.items():
        sub = Path(folder) / name
        sub.mkdir(parents=True, exist_ok=True)
        (sub / "theory.ipynb").write_text(text, encoding="utf-8")
        made.append(sub)
    return made


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: round2_manual.py CLASS_FOLDER")
    for sub in write_class(Path(sys.argv[1])):
        print(sub)
