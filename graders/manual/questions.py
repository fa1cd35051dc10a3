"""One written answer seen question by question: each question's text, prompt and evidence cells.

A manual item may declare several questions (``graders.rubric.questions_of``); the assignment gives
one answer cell per question, in order. The cells of an answer (``cells.answer_cells``) fall into
**runs**: a cell with the answer metadata and the Markdown cells the student added after it.

**Splitting an answer** (``split_answer``), most trusted first:

1. one question: the whole answer, no note;
2. as many runs as questions, and a run after the first has text: run k answers question k. Where
   the student wrote several questions into the first of adjacent answer cells (part3's questions
   3–5 share one prompt and three adjacent cells) and left the next ones empty, that text is split
   at its markers for those questions; if it has none it stays where it is, with a note on it and
   on the empty ones (it may answer them too, or the student may have skipped them);
3. otherwise (cells deleted, merged or duplicated, or only the first cell written): the whole text is
   split at its question markers; if that fails it is shown whole under the first question, with a
   note there and on every other question.

A **marker** starts a line: a label and a number ("**Question 3**", "Q3:", "## Answer 3", "سوال ۳")
or, when the text has no label at all, a bare number ("3.", "3)", "(3)", "**3.**", "## 3"; not
indented, since an indented number belongs to a nested list). Markers in fenced code are ignored.
Text is split only when its markers are exactly the numbers of the questions it must cover, in
order, so a list inside one answer ("1. … 2. …" under question 3, or a list that skips or repeats a
number) never splits it. Text before the first marker goes with the first question.

**Prompts** (``question_prompts``) come from the assignment notebook: walking back from each answer
cell to its Markdown, as ``answers._prompts`` does; answer cells that follow another directly share
its prompt, which is split at its markers when it holds one per cell. A split prompt starts at its
question's marker: the section's prose in earlier cells is left out (the TA reads the notebook for
it), while the introduction in the marker's own cell before the first marker (part1's "Answer in a
few sentences each, using your numbers above …") is given to every question of the block.

**Evidence** (``evidence_cells``): the code cells right above a question's prompt, whose outputs the
answer discusses.
"""
from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from graders.manual.cells import ANSWER_PLACEHOLDER
from graders.nbmeta import answer_item, declared_part, homework_meta
from graders.rubric import Question, questions_of

__all__ = ["Question", "QuestionAnswer", "questions_of", "split_answer", "question_prompts", "evidence_cells"]


@dataclass(frozen=True)
class QuestionAnswer:
    """A student's answer to one question of a manual item."""

    question: Question
    #: the Markdown of the answer ("" when there is none); as the notebook has it (not cleaned)
    text: str
    #: the attachments (name → {mime: base64}) of the cells the text came from, for pasted images
    attachments: Mapping
    #: why the split is uncertain ("" when it is clean)
    note: str = ""


@dataclass(frozen=True)
class _Run:
    """One answer cell with the Markdown cells a student added after it."""

    text: str
    attachments: Mapping
    first: int | None
    last: int | None


# --- splitting a student's answer ---------------------------------------------------------------

#: a label and a number at the start of a line: "Question 3", "**Q3:**", "## Answer 3", "سوال ۳"
_LABELLED = re.compile(
    r"^[ \t]{0,3}(?:>[ \t]*)?(?:#{1,6}[ \t]*)?(?:[*_]{1,3}[ \t]*)?"
    r"(?:question|answer|ans|q|سوال|سؤال|پرسش|پاسخ)\.?[ \t]*(?:no\.?[ \t]*|#[ \t]*)?(\d{1,2})(?!\d)",
    re.IGNORECASE | re.MULTILINE)
#: a bare number starting a line, as a list or a heading numbers questions: "3.", "3)", "(3)", "**3.**", "## 3"
_NUMBERED = re.compile(
    r"^ ?(?:#{1,6}[ \t]*(?:[*_]{1,3})?\(?(\d{1,2})[.):]?"
    r"|(?:[*_]{1,3})?(?:\((\d{1,2})\)|(\d{1,2})[.):]))"
    r"(?:[*_]{1,3})?(?=[ \t]|$)", re.MULTILINE)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)
_HEADING = re.compile(r"^#", re.MULTILINE)


#: the notes of an answer shown whole under the first question, and of the other questions
WHOLE_NOTES = ("(this answer could not be split by question: it is shown whole under the first question)",
               "(see question 1: the answer could not be split by question)")


def _may_cover(start: int, stop: int) -> tuple[str, str]:
    """The notes of question ``start`` whose text may also answer the empty cells after it, up to ``stop``."""
    empty = (f"the answer cell of question {start + 2} is empty" if stop - start == 2
             else f"the answer cells of questions {start + 2}–{stop} are empty")
    return (f"({empty} and this text has no question markers: it may answer {'it' if stop - start == 2 else 'them'}"
            f" too)", f"(this answer cell is empty: question {start + 1}'s answer may cover it)")


def split_answer(cells: list[dict], questions: Sequence[Question]) -> list[QuestionAnswer]:
    """One ``QuestionAnswer`` per question, in order, from an item's answer cells (``cells.answer_cells``;
    a cell without ``marked`` counts as an answer cell). The rules: the module docstring."""
    questions = list(questions)
    runs = _runs(cells)
    if len(questions) <= 1:
        return [QuestionAnswer(q, _joined(runs), _all_attachments(runs)) for q in questions]
    if len(runs) == len(questions) and any(r.text for r in runs[1:]):
        answers = [QuestionAnswer(q, r.text, r.attachments) for q, r in zip(questions, runs)]
        for start, stop in _written_in_first_cell(runs):
            answers[start:stop] = _split_or_whole(runs[start].text, runs[start].attachments, questions, start, stop,
                                                  _may_cover(start, stop))
        return answers
    return _split_or_whole(_joined(runs), _all_attachments(runs), questions, 0, len(questions), WHOLE_NOTES)


def _runs(cells) -> list[_Run]:
    groups: list[list[dict]] = []
    for cell in cells if isinstance(cells, list) else ():
        if not isinstance(cell, dict):
            continue
        if cell.get("marked", True) or not groups:
            groups.append([])
        groups[-1].append(cell)
    return [_Run(_text(g), _attachments(g), _index(g[0]), _index(g[-1])) for g in groups]


def _text(cells: list[dict]) -> str:
    sources = (_source(c).strip() for c in cells)
    return "\n\n".join(s for s in sources if s and s != ANSWER_PLACEHOLDER)


def _attachments(cells: list[dict]) -> dict:
    found = {}
    for c in cells:
        atts = c.get("attachments")
        for name, data in (atts.items() if isinstance(atts, dict) else ()):
            if isinstance(name, str) and isinstance(data, dict):
                found[name] = data
    return found


def _index(cell: dict) -> int | None:
    i = cell.get("index")
    return i if isinstance(i, int) and not isinstance(i, bool) else None


def _joined(runs: list[_Run]) -> str:
    return "\n\n".join(r.text for r in runs if r.text)


def _all_attachments(runs: list[_Run]) -> dict:
    return {name: data for r in runs for name, data in r.attachments.items()}


def _written_in_first_cell(runs: list[_Run]) -> list[tuple[int, int]]:
    """Spans [start, stop) of adjacent runs (one prompt's answer cells) where only the first has text."""
    spans, k = [], 0
    while k < len(runs):
        stop = k + 1
        while (stop < len(runs) and not runs[stop].text and runs[stop].first is not None
               and runs[stop - 1].last is not None and runs[stop].first == runs[stop - 1].last + 1):
            stop += 1
        if runs[k].text and stop - k > 1:
            spans.append((k, stop))
        k = stop
    return spans


def _split_or_whole(text: str, attachments: Mapping, questions: list[Question], start: int, stop: int,
                    notes: tuple[str, str]) -> list[QuestionAnswer]:
    """Questions [start, stop) answered by ``text``: split at its markers, else whole under the first
    (``notes``: the first question's, the others')."""
    covered = questions[start:stop]
    if not text:
        return [QuestionAnswer(q, "", {}) for q in covered]
    parts = split_at_markers(text, list(range(start + 1, stop + 1)))
    if parts is not None:
        return [QuestionAnswer(q, part, attachments) for q, part in zip(covered, parts)]
    return ([QuestionAnswer(covered[0], text, attachments, notes[0])]
            + [QuestionAnswer(q, "", {}, notes[1]) for q in covered[1:]])


def split_at_markers(text: str, numbers: list[int]) -> list[str] | None:
    """``text`` cut before each question marker, when its markers are exactly ``numbers`` in order
    (labelled markers if it has any, else bare numbers); None otherwise. Text before the first
    marker stays with the first part."""
    found = _markers(text, _LABELLED) or _markers(text, _NUMBERED)
    if not found or [n for _, n in found] != numbers:
        return None
    starts = [pos for pos, _ in found]
    parts = [text[a:b].strip() for a, b in zip(starts, starts[1:] + [len(text)])]
    preamble = text[:starts[0]].strip()
    if preamble:
        parts[0] = preamble + "\n\n" + parts[0]
    return parts


def _markers(text: str, pattern: re.Pattern) -> list[tuple[int, int]]:
    """(position, number) of each marker outside fenced code."""
    fenced = _fenced_spans(text)
    starts = [a for a, _ in fenced]
    found = []
    for m in pattern.finditer(text):
        k = bisect.bisect_right(starts, m.start()) - 1
        if k < 0 or m.start() >= fenced[k][1]:
            found.append((m.start(), int(next(g for g in m.groups() if g))))
    return found


def _fenced_spans(text: str) -> list[tuple[int, int]]:
    spans, opened = [], None
    for m in _FENCE.finditer(text):
        if opened is None:
            opened = (m.start(), m.group(1)[0])
        elif m.group(1)[0] == opened[1]:
            spans.append((opened[0], m.end()))
            opened = None
    if opened is not None:
        spans.append((opened[0], len(text)))
    return spans


# --- the prompts, from the assignment notebook --------------------------------------------------

def question_prompts(assignment_notebook: Path, item_id: str, part: str, questions: Sequence[Question], *,
                     most: int = 4) -> list[str]:
    """The prompt (Markdown) of each question of ``item_id``, from the assignment notebook of ``part``:
    "" each when the notebook is not that part's or has no answer cell for the item. When the
    notebook's answer cells are not one per question, or a shared prompt cannot be split, a question
    gets the whole prompt (``most``: Markdown cells kept per prompt, as ``answers._prompts``)."""
    questions = list(questions)
    blank = [""] * len(questions)
    try:
        data = json.loads(Path(assignment_notebook).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return blank
    if declared_part(data) != part or not isinstance(data.get("cells"), list):
        return blank
    blocks = _prompt_blocks([c if isinstance(c, dict) else {} for c in data["cells"]], item_id, most)
    if not blocks:
        return blank
    if len(questions) == 1 or sum(n for _, n in blocks) != len(questions):
        whole = "\n\n".join(dict.fromkeys("\n\n".join(texts) for texts, _ in blocks if texts))
        return [whole] * len(questions)
    prompts: list[str] = []
    for texts, n in blocks:
        first = len(prompts) + 1
        parts = _split_prompt(texts, [list(range(first, first + n)), list(range(1, n + 1))])
        prompts += parts or ["\n\n".join(texts)] * n
    return prompts


def _prompt_blocks(cells: list[dict], item_id: str, most: int) -> list[tuple[list[str], int]]:
    """(the prompt's Markdown cells, how many answer cells follow it) for each prompt of the item."""
    blocks: list[tuple[list[str], int]] = []
    for i, cell in enumerate(cells):
        if answer_item(cell) != item_id:
            continue
        found: list[str] = []
        for j in range(i - 1, -1, -1):
            if answer_item(cells[j]) or len(found) >= most:
                break
            if cells[j].get("cell_type") != "markdown":
                continue
            src = _source(cells[j]).strip()
            found.insert(0, src)
            if _HEADING.search(src):
                break
        if not found and blocks and i > 0 and answer_item(cells[i - 1]) == item_id:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + 1)  # answer cells one after another share a prompt
        else:
            blocks.append((found, 1))
    return blocks


def _split_prompt(texts: list[str], numberings: list[list[int]]) -> list[str] | None:
    """One prompt per question of a block, split at its markers (labelled ones; bare numbers only when
    the block has several answer cells), each with the introduction of the first marker's cell."""
    joined = "\n\n".join(texts)
    found = _markers(joined, _LABELLED)
    if not found and len(numberings[0]) > 1:
        found = _markers(joined, _NUMBERED)
    if [n for _, n in found] not in numberings:
        return None
    starts = [pos for pos, _ in found]
    cell_start = max(o for o in _offsets(texts) if o <= starts[0])
    intro = "\n".join(line for line in joined[cell_start:starts[0]].splitlines() if not line.startswith("#")).strip()
    parts = [joined[a:b].strip() for a, b in zip(starts, starts[1:] + [len(joined)])]
    return [intro + "\n\n" + p if intro else p for p in parts]


def _offsets(texts: list[str]) -> list[int]:
    """Where each text starts in ``"\\n\\n".join(texts)``."""
    offsets, pos = [], 0
    for t in texts:
        offsets.append(pos)
        pos += len(t) + 2
    return offsets


# --- the cells an answer refers to ---------------------------------------------------------------

def evidence_cells(notebook_cells: list[dict], item_id: str, k: int, *, most: int = 3,
                   need_outputs: bool = True) -> list[int]:
    """Indices, in notebook order, of the code cells whose outputs question ``k`` (0-based) discusses.

    From the k-th answer cell of ``item_id``: past the Markdown right above it (its prompt, and any
    earlier answers and prompts that directly precede it), the code cells up to the next Markdown
    cell, nearest first, at most ``most``. A cell counts if it has outputs (``need_outputs``) or
    else any source; a cell defining the graded functions (``hw4.solution``) never counts — it is
    the student's code, not what the answer discusses. [] when there is no k-th answer cell.
    """
    if not isinstance(notebook_cells, list) or isinstance(k, bool) or not isinstance(k, int) or k < 0:
        return []
    cells = [c if isinstance(c, dict) else {} for c in notebook_cells]
    starts = [i for i, c in enumerate(cells) if answer_item(c) == item_id]
    if k >= len(starts):
        return []
    j = starts[k] - 1
    while j >= 0 and cells[j].get("cell_type") == "markdown":
        j -= 1
    found: list[int] = []
    while j >= 0 and len(found) < most and cells[j].get("cell_type") != "markdown":
        cell = cells[j]
        if cell.get("cell_type") == "code" and not homework_meta(cell).get("solution"):
            outputs = cell.get("outputs")
            if (isinstance(outputs, list) and outputs) if need_outputs else _source(cell).strip():
                found.append(j)
        j -= 1
    return sorted(found)


def _source(cell: dict) -> str:
    src = cell.get("source")
    return "".join(map(str, src)) if isinstance(src, list) else "" if src is None else str(src)
