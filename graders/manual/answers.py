"""The students' written answers of a graded batch, the reference answers, and answer groups.

An answer is read from the notebook the submission was graded from (``OUT/intake.json``) with the
``manual.cells.answer_cells`` (the cells marked ``metadata.hw4.answer`` plus the Markdown cells a
student added after them). Each notebook is parsed once per server and again only when it changes.

**Answer groups.** Answers whose normalised text is the same form a group, so a TA can score them
at once (Gradescope's answer groups). A group is scored as one answer, so normalising changes only
what cannot change an answer: spacing (runs of white space become one space, and none is kept
next to a sign, so "a + b" is "a+b") and the letter case of prose. Every sign is kept — ``'``,
``>`` and ``~`` in "$f'(x) > 0$" and "$f(x) ~ 0$" are mathematics — and so is the case inside
math and code (``$X$`` is not ``$x$``, ``\\Delta`` is not ``\\delta``). "The KL is positive." and
"the  KL is POSITIVE." are one group; "a+b" and "a-b" are not, nor are "positive" and
"**positive**". Unanswered answers share one group per reason (not answered, no notebook…).
"""
from __future__ import annotations

import functools
import json
import re
import threading
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from graders.homework import active as active_homework
from graders.nbmeta import answer_item, declared_part
from graders.manual.cells import ANSWER_PLACEHOLDER, answer_cells, assignment_prose, unanswered_reason
from graders.manual.questions import question_prompts, split_answer

#: a notebook larger than this is not parsed for its answers (the TA is told to open it directly)
MAX_NOTEBOOK_BYTES = 64 * 2**20


@dataclass(frozen=True)
class Answer:
    """One submission's answer to one manual item."""

    submission_id: str
    student_id: str
    name: str
    item_id: str
    #: the answer cells' Markdown, joined ("" when there is nothing to grade)
    text: str
    #: why there is nothing to grade ("" when there is an answer)
    problem: str = ""
    #: the answer cells' attachments (name → {mime: base64}), for pasted images
    attachments: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: for one question of the answer: why its split from the others is uncertain ("" when clean)
    note: str = ""

    @property
    def group_key(self) -> str:
        return "missing: " + self.problem if self.problem else normalise(self.text)


@dataclass(frozen=True)
class Group:
    """Answers with the same normalised text; ``answers[0]`` is shown for all of them."""

    key: str
    answers: tuple[Answer, ...]

    @property
    def size(self) -> int:
        return len(self.answers)


#: math ($…$, $$…$$, \(…\), \[…\], \begin{env}…\end{env}) and code spans, whose letter case matters; an
#: opening mark never closed runs to the end of the text (in time linear in its length, on any text)
_CASED = re.compile(r"\$\$(?:.*?\$\$|.*)|\$(?:.*?\$|.*)|\\\((?:.*?\\\)|.*)|\\\[(?:.*?\\\]|.*)"
                    r"|\\begin\{([a-zA-Z]+\*?)\}(?:.*?\\end\{\1\}|.*)|(`+)(?:.*?\2|.*)", re.S)
#: white space next to a sign (not after a backslash: "\ " is a TeX space)
_SPACE_AROUND_SIGNS = re.compile(r"(?<!\\)\s*([^\w\s\\])\s*")


def normalise(text: str) -> str:
    """The text two answers must share to be grouped: spacing and the case of prose ignored (module docstring)."""
    t = unicodedata.normalize("NFC", text)  # "é" composed or not is the same text; NFKC would turn "x²" into "x2"
    pieces, start = [], 0
    for m in _CASED.finditer(t):
        pieces += [t[start:m.start()].casefold(), m.group()]
        start = m.end()
    pieces.append(t[start:].casefold())
    return _SPACE_AROUND_SIGNS.sub(r"\1", " ".join("".join(pieces).split()))


def group_answers(answers: list[Answer]) -> list[Group]:
    """Answer groups, largest first (ties in the order of their first answer)."""
    groups: dict[str, list[Answer]] = {}
    for a in answers:
        groups.setdefault(a.group_key, []).append(a)
    ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))  # stable: first-seen order among equals
    return [Group(key, tuple(members)) for key, members in ordered]


def clean_text(text: str) -> str:
    """Text that can be sent to a browser: lone surrogates (from JSON escapes) become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8") if isinstance(text, str) else str(text)


class AnswerStore:
    """Answers of a batch under ``out_dir``, read from the notebooks and cached per notebook."""

    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self._lock = threading.Lock()
        self._notebooks: dict[str, tuple[tuple, dict | None]] = {}
        self._prose: dict[str, set[str]] = {}
        self._intake: tuple[tuple, dict] | None = None

    def _manifest(self) -> dict:
        """intake.json's submissions, read again only when the file changes (a regrade rewrites it)."""
        path = self.out_dir / "intake.json"
        try:
            st = path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if self._intake is not None and self._intake[0] == stamp:
                return self._intake[1]
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        subs = data.get("submissions") if isinstance(data, dict) else None
        subs = subs if isinstance(subs, dict) else {}
        self._intake = (stamp, subs)
        return subs

    def _answers_in(self, notebook: Path, part: str) -> dict | None | str:
        """The notebook's answers (item → cells), None if unreadable, or a problem text if too large."""
        try:
            st = notebook.stat()
        except OSError:
            return None
        if st.st_size > MAX_NOTEBOOK_BYTES:
            return f"(the notebook is too large to show here: {st.st_size / 2**20:.0f} MB; open {notebook.name})"
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        key = str(notebook)
        with self._lock:
            cached = self._notebooks.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            if part not in self._prose:
                self._prose[part] = assignment_prose(part)
            prose = self._prose[part]
        found = answer_cells(notebook, prose=prose)
        with self._lock:
            self._notebooks[key] = (stamp, found)
        return found

    def answer(self, row: Mapping, notebook: str | None) -> Answer:
        """The answer of one ``items`` row (with ``student_id`` and ``name``) from ``notebook``."""
        base = dict(submission_id=row["submission_id"], student_id=row["student_id"] or "", name=row["name"] or "",
                    item_id=row["item_id"])
        text, cells = None, None
        if notebook and Path(notebook).is_file():
            found = self._answers_in(Path(notebook), row["part"])
            if isinstance(found, str):
                return Answer(**base, text="", problem=found)
            cells = (found or {}).get(row["item_id"])
            if cells is not None:
                text = "\n\n".join(c["source"] for c in cells if c["source"])
        problem = unanswered_reason(notebook, row["part"], row["item_id"], text)
        if problem:
            return Answer(**base, text="", problem=problem)
        attachments = {}
        for c in cells or ():
            for name, data in (c.get("attachments") or {}).items():
                if isinstance(name, str) and isinstance(data, dict):
                    attachments[name] = data
        return Answer(**base, text=clean_text(text), attachments=attachments)

    def notebook_of(self, row: Mapping) -> str | None:
        """The path of the notebook ``row``'s answer was graded from (None: none was submitted)."""
        entry = self._manifest().get(row["submission_id"])
        notebooks = entry.get("notebooks") if isinstance(entry, dict) else None
        nb = notebooks.get(row["part"]) if isinstance(notebooks, dict) else None
        return nb if isinstance(nb, str) and nb else None

    def by_question(self, rows: list[Mapping], questions) -> dict[str, list[Answer]]:
        """Each row's answer split per question (``questions.split_answer``): submission → one Answer per question."""
        out = {}
        for row in rows:
            nb = self.notebook_of(row)
            whole = self.answer(row, nb)
            if whole.problem or len(questions) == 1:
                out[row["submission_id"]] = [whole] * len(questions)
                continue
            found = self._answers_in(Path(nb), row["part"])
            cells = (found or {}).get(row["item_id"]) if isinstance(found, dict) else None
            split = []
            for qa in split_answer(cells or [], questions):
                problem = "" if qa.text.strip() or qa.note else "(not answered)"
                split.append(replace(whole, text=clean_text(qa.text), problem=problem, note=qa.note,
                                     attachments=qa.attachments or {}))
            out[row["submission_id"]] = split
        return out

    def answers(self, rows: list[Mapping]) -> list[Answer]:
        """The answers of ``rows`` (``items`` rows of one manual item, with ``student_id`` and ``name``)."""
        return [self.answer(row, self.notebook_of(row)) for row in rows]


@dataclass(frozen=True)
class Reference:
    """What a TA grades against: the questions (the assignment's prompts) and the reference answer."""

    questions: tuple[str, ...] = ()
    answer: str = ""


def reference_for(item_id: str, part: str) -> Reference:
    """The questions of ``item_id`` from the assignment notebook and its answer from the homework's
    solved notebooks (``reference/solutions``)."""
    homework = active_homework()
    questions: list[str] = []
    for nb in sorted(homework.assignments.glob("*.ipynb")):
        questions += _prompts(nb, item_id, part)
    answer = ""
    if homework.solutions.is_dir():
        for nb in sorted(homework.solutions.glob("*.ipynb")):
            cells = (answer_cells(nb) or {}).get(item_id)
            if cells:
                answer = "\n\n".join(c["source"] for c in cells if c["source"] and c["source"] != ANSWER_PLACEHOLDER)
                break
    return Reference(tuple(dict.fromkeys(questions)), answer)


def question_reference(item_id: str, part: str, questions: tuple) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Per question of ``item_id``: its prompt (from the assignment notebook) and its reference answer
    (the solved notebook's answer cells, split as a student's are); "" where there is none."""
    homework = active_homework()
    return _question_reference(homework.assignments, homework.solutions, item_id, part, questions)


@functools.lru_cache(maxsize=64)
def _question_reference(assignments: Path, solutions: Path, item_id: str, part: str,
                        questions: tuple) -> tuple[tuple[str, ...], tuple[str, ...]]:
    prompts = [""] * len(questions)
    for nb in sorted(assignments.glob("*.ipynb")):
        found = question_prompts(nb, item_id, part, questions)
        if any(found):
            prompts = list(found)
            break
    answers = [""] * len(questions)
    if solutions.is_dir():
        for nb in sorted(solutions.glob("*.ipynb")):
            cells = (answer_cells(nb) or {}).get(item_id)
            if cells:
                answers = [qa.text for qa in split_answer(cells, questions)]
                break
    return tuple(prompts), tuple(a if a.strip() != ANSWER_PLACEHOLDER else "" for a in answers)


def _prompts(notebook: Path, item_id: str, part: str, *, most: int = 4) -> list[str]:
    """The question of each answer cell of ``item_id`` in an assignment notebook.

    Walking back from the answer cell: the Markdown cells (code is skipped) up to a heading (kept),
    an earlier answer cell, or ``most`` cells.
    """
    try:
        data = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if declared_part(data) != part:
        return []
    cells = [c for c in data.get("cells") or [] if isinstance(c, dict)]
    answers = [answer_item(c) for c in cells]
    prompts = []
    for i, answer in enumerate(answers):
        if answer != item_id:
            continue
        found: list[str] = []
        for j in range(i - 1, -1, -1):
            if answers[j] or len(found) >= most:
                break
            if cells[j].get("cell_type") != "markdown":
                continue
            src = cells[j].get("source", "")
            src = ("".join(src) if isinstance(src, list) else str(src)).strip()
            found.insert(0, src)
            if any(line.startswith("#") for line in src.splitlines()):
                break
        prompts.append("\n\n".join(found))
    return [p for p in prompts if p]
