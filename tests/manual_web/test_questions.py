"""Written answers question by question: the rubric's questions, splitting an answer, prompts, evidence.

Plain data from the course's own notebooks (assignments, reference solutions, the reference example)
and students built from them by editing cells; no notebook is executed.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from graders.homework import active as active_homework
from graders.manual.cells import ANSWER_PLACEHOLDER, answer_cells, answer_cells_in, assignment_prose
from graders.manual.questions import (QuestionAnswer, evidence_cells, question_prompts, split_answer,
                                      split_at_markers)
from graders.pipeline import grading_rubric_hash
from graders.rubric import Question, RubricError, load_rubric, questions_of

ROOT = Path(__file__).resolve().parents[2]
PART3 = "part3_decoding_translation.ipynb"
PART1 = "part1_sycophancy.ipynb"
ASSIGNMENT3 = ROOT / "assignments" / PART3
SOLVED3 = ROOT / "reference" / "solutions" / PART3
SOLVED1 = ROOT / "reference" / "solutions" / PART1
EXAMPLE3 = ROOT / "examples" / "00000000_Reference" / PART3
#: the answer cells of part3.written and part1.written in the course notebooks
CELLS3 = [9, 11, 19, 20, 21, 31, 32, 41, 42, 43]
CELLS1 = [17, 18, 19]
#: a phrase only the reference answer to each question of part3 has
PHRASES3 = ["Without the end-of-sequence rule", "They are very similar", "Blocking is blind to meaning",
            "With n = 2 almost every repetition", "With a factor of 0", "The encoder-decoder (`tiny-t5`) wins",
            "The encoder reads the whole English sentence", "The last decoder layer",
            "No. In the last layer one head", "With a short input"]
NOT_SPLIT = "(this answer could not be split by question: it is shown whole under the first question)"


def _item(item_id: str):
    return next(it for it in load_rubric().items if it.id == item_id)


Q3 = questions_of(_item("part3.written"))
Q1 = questions_of(_item("part1.written"))


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _student(path: Path, answers: dict[int, str] | None = None, *, added: dict[int, list[str]] | None = None,
             deleted: tuple[int, ...] = ()) -> list[dict]:
    """A student's notebook cells: the notebook at ``path`` with cell i's text replaced, Markdown cells
    added after cell i, and cells deleted (indices of the original notebook)."""
    cells = []
    for i, cell in enumerate(copy.deepcopy(_nb(path)["cells"])):
        if i in deleted:
            continue
        if answers and i in answers:
            cell["source"] = answers[i]
        cells.append(cell)
        cells += [_md(t) for t in (added or {}).get(i, [])]
    return cells


def _answer(cells: list[dict], item_id: str, part: str) -> list[dict]:
    """The item's answer cells as the grading page reads them (with the assignment's prose)."""
    return answer_cells_in(cells, prose=assignment_prose(part))[item_id]


def _split3(answers: dict[int, str] | None = None, **kw) -> list[QuestionAnswer]:
    return split_answer(_answer(_student(ASSIGNMENT3, answers, **kw), "part3.written", "part3"), Q3)


def _split1(answers: dict[int, str] | None = None, **kw) -> list[QuestionAnswer]:
    return split_answer(_answer(_student(ROOT / "assignments" / PART1, answers, **kw), "part1.written", "part1"), Q1)


def _texts(split: list[QuestionAnswer]) -> list[str]:
    return [qa.text for qa in split]


# --- the rubric ----------------------------------------------------------------------------------

def test_part1_and_part3_declare_their_questions_and_other_items_are_one_implicit_question():
    assert [(q.id, q.points) for q in Q3] == [(f"q{i}", 0.3) for i in range(1, 11)]
    assert [q.title for q in Q3][:3] == ["Loops", "Diversity", "Context"]
    assert [q.title for q in Q3][-3:] == ["First vs last layer", "Heads", "Input length"]
    assert [(q.id, q.points) for q in Q1] == [("q1", 1.5), ("q2", 1.0), ("q3", 1.5)]
    part2 = _item("part2.written")
    assert part2.questions == () and questions_of(part2) == (Question("answer", part2.title, 1.0),)
    assert all(not it.questions for it in load_rubric().items if not it.manual)


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(active_homework().rubric.read_text(encoding="utf-8"))
    items = {it["id"]: it for part in raw["parts"].values() for it in part["items"]}
    mutate(items)
    path = tmp_path / "rubric.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _questions(*points, ids=None):
    ids = ids or [f"q{i}" for i in range(1, len(points) + 1)]
    return [{"id": i, "title": i.upper(), "points": p} for i, p in zip(ids, points)]


@pytest.mark.parametrize("mutate, message", [
    (lambda items: items["part3.bleu"].update(questions=_questions(4)),
     "item 'part3.bleu' lists questions but is not manual"),
    (lambda items: items["part3.written"].update(questions=_questions(1, 2, ids=["q1", "q1"])),
     "item 'part3.written': question id 'q1' appears twice"),
    (lambda items: items["part3.written"].update(questions=_questions(1, 2, ids=["q1", "Q2"])),
     "item 'part3.written': question id 'Q2' must be lower-case"),
    (lambda items: items["part3.written"].update(questions=_questions(1, 2, ids=["q1", "q 2"])),
     "question id 'q 2' must be lower-case"),
    (lambda items: items["part3.written"].update(questions=[{"title": "no id", "points": 3}]),
     "question id None must be"),
    (lambda items: items["part3.written"].update(questions=_questions(3, 0)),
     "item 'part3.written' question 'q2' points must be positive"),
    (lambda items: items["part3.written"].update(questions=_questions(4, -1)),
     "item 'part3.written' question 'q2' points must be a non-negative number"),
    (lambda items: items["part1.written"].update(questions=_questions(1.5, 1, 1)),
     "item 'part1.written' is worth 4 points but its questions add up to 3.5"),
    (lambda items: items["part1.written"].update(questions=[]),
     "item 'part1.written': questions must be a non-empty list"),
    (lambda items: items["part1.written"].update(questions={"q1": 4}),
     "item 'part1.written': questions must be a non-empty list"),
])
def test_bad_questions_are_refused_by_name(tmp_path, mutate, message):
    with pytest.raises(RubricError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_rubric(_write(tmp_path, mutate))


def test_questions_do_not_change_the_hash_that_decides_a_regrade(tmp_path):
    declared = load_rubric()
    assert any(it.questions for it in declared.items)
    without = load_rubric(_write(tmp_path, lambda items: [it.pop("questions", None) for it in items.values()]))
    assert not any(it.questions for it in without.items)
    assert grading_rubric_hash(declared) == grading_rubric_hash(without)

    def reword(items):
        items["part3.written"]["questions"] = _questions(1, 2)
        items["part1.written"]["questions"][0]["title"] = "something else"
    assert grading_rubric_hash(load_rubric(_write(tmp_path, reword))) == grading_rubric_hash(declared)
    assert not any("questions" in it for part in declared.raw["parts"].values() for it in part["items"])
    assert declared.raw["late_policy"] and declared.raw["parts"]["part1"]["items"][3]["id"] == "part1.written"

    def rescore(items):  # what is scored still changes the hash
        items["part3.bleu"]["checks"]["part3.bleu.corpus"] = 2
    assert grading_rubric_hash(load_rubric(_write(tmp_path, rescore))) != grading_rubric_hash(declared)


def test_the_second_homework_declares_no_questions_and_loads():
    warmup = load_rubric(ROOT / "homeworks" / "warmup" / "rubric.yaml")
    written = next(it for it in warmup.items if it.manual)
    assert written.questions == () and [q.id for q in questions_of(written)] == ["answer"]


# --- the answer cells ----------------------------------------------------------------------------

def test_answer_cells_say_where_each_is_and_which_the_student_added():
    cells = _student(ASSIGNMENT3, {9: "mine"}, added={9: ["and more"]})
    found = _answer(cells, "part3.written", "part3")
    assert [(c["index"], c["marked"]) for c in found[:3]] == [(9, True), (10, False), (12, True)]
    assert [(c["index"], c["marked"]) for c in answer_cells(ASSIGNMENT3)["part3.written"]] == \
        [(i, True) for i in CELLS3]


# --- splitting an answer -------------------------------------------------------------------------

def test_the_reference_answers_map_to_their_questions_one_cell_each():
    split = split_answer(answer_cells(SOLVED3)["part3.written"], Q3)
    assert [qa.question.id for qa in split] == [f"q{i}" for i in range(1, 11)]
    for qa, phrase in zip(split, PHRASES3):
        assert qa.text.startswith(phrase) and qa.note == ""
        assert sum(phrase in other.text for other in split) == 1
    part1 = split_answer(answer_cells(SOLVED1)["part1.written"], Q1)
    assert [qa.text[:6] for qa in part1] == ["**1.**", "**2.**", "**3.**"] and not any(qa.note for qa in part1)


def _reference_texts(path: Path, item_id: str) -> list[str]:
    return [c["source"] for c in answer_cells(path)[item_id]]


def test_everything_in_the_first_cell_under_question_headings_is_split():
    ref = _reference_texts(SOLVED3, "part3.written")
    text = "\n\n".join(f"**Question {k} ({q.title.lower()}).**\n{a}" for k, (q, a) in enumerate(zip(Q3, ref), 1))
    split = _split3({9: text})
    for k, (qa, phrase) in enumerate(zip(split, PHRASES3), 1):
        assert qa.text.startswith(f"**Question {k} (") and phrase in qa.text and qa.note == ""
        assert f"**Question {k + 1} (" not in qa.text


@pytest.mark.parametrize("label", ["Q{k}:", "**Q{k}.**", "### Q{k}", "q{k})", "Answer {k}:", "## Question {k}",
                                   "> **Question {k}**", "سوال {k}:"])
def test_other_labels_split_too(label):
    ref = _reference_texts(SOLVED1, "part1.written")
    bodies = [r.split("** ", 1)[1] for r in ref]  # the reference without its "**1.**"
    split = _split1({17: "\n\n".join(label.format(k=k) + " " + b for k, b in enumerate(bodies, 1))})
    assert [qa.text.split(None, len(label.split()))[-1] for qa in split] == bodies
    assert not any(qa.note for qa in split)


def test_persian_digits_are_question_numbers():
    split = _split1({17: "سوال ۱: بله.\n\nسوال ۲: خیر.\n\nسوال ۳: شاید."})
    assert _texts(split) == ["سوال ۱: بله.", "سوال ۲: خیر.", "سوال ۳: شاید."]


def test_a_numbered_list_in_one_cell_answers_a_numbered_prompt():
    split = _split1({17: "\n\n".join(_reference_texts(SOLVED1, "part1.written"))})
    assert [qa.text[:6] for qa in split] == ["**1.**", "**2.**", "**3.**"] and not any(qa.note for qa in split)
    plain = _split1({17: "1. Yes, about 0.76.\n2. Same order as the true rates.\n3) It raises the ratio."})
    assert _texts(plain) == ["1. Yes, about 0.76.", "2. Same order as the true rates.", "3) It raises the ratio."]


def test_text_without_markers_is_shown_whole_under_the_first_question():
    text = ("Beam search repeats itself because repeating is likely. The hypotheses are all alike.\n\n"
            "Blocking removes good repetitions too; the seq2seq model wins because it sees the whole source.")
    split = _split3({9: text})
    assert split[0] == QuestionAnswer(Q3[0], text, {}, NOT_SPLIT)
    assert all(qa.text == "" and qa.note == "(see question 1: the answer could not be split by question)"
               for qa in split[1:])


def test_markdown_cells_a_student_added_belong_to_the_answer_above():
    ref = _reference_texts(SOLVED3, "part3.written")
    answers = dict(zip(CELLS3, ref))
    split = _split3(answers, added={11: ["Here is a second thought on diversity.", "![plot](attachment:a.png)"]})
    assert split[1].text == ref[1] + "\n\n" + "Here is a second thought on diversity.\n\n![plot](attachment:a.png)"
    assert _texts(split)[2:] == ref[2:] and split[0].text == ref[0]


def test_attachments_go_with_the_question_of_their_cell():
    cells = _answer(_student(ROOT / "assignments" / PART1, {17: "one", 18: "![x](attachment:x.png)", 19: "three"}),
                    "part1.written", "part1")
    cells[1]["attachments"] = {"x.png": {"image/png": "iVBO"}}
    split = split_answer(cells, Q1)
    assert [qa.attachments for qa in split] == [{}, {"x.png": {"image/png": "iVBO"}}, {}]


def test_a_deleted_answer_cell_is_split_by_markers_or_shown_whole():
    ref = _reference_texts(SOLVED3, "part3.written")
    labelled = {i: f"**Question {k}.** {a}" for k, (i, a) in enumerate(zip(CELLS3, ref), 1)}
    labelled[19] += "\n\n" + labelled.pop(20)  # question 4 written under question 3, its cell deleted
    split = _split3(labelled, deleted=(20,))
    assert [qa.text.startswith(f"**Question {k}.** {p}") for k, (qa, p) in enumerate(zip(split, PHRASES3), 1)] \
        == [True] * 10
    unlabelled = dict(zip(CELLS3, ref))
    unlabelled.pop(20)
    split = _split3(unlabelled, deleted=(20,))
    assert split[0].note == NOT_SPLIT and all(p in split[0].text for p in PHRASES3 if p != PHRASES3[3])
    assert _texts(split)[1:] == [""] * 9


def test_several_questions_in_the_first_of_their_adjacent_cells_are_split():
    ref = _reference_texts(SOLVED3, "part3.written")
    answers = dict(zip(CELLS3, ref))
    answers[19] = "\n\n".join(f"**Question {k}**: {ref[k - 1]}" for k in (3, 4, 5))
    answers[20] = answers[21] = ANSWER_PLACEHOLDER
    split = _split3(answers)
    assert [qa.text.startswith(f"**Question {k}**: {PHRASES3[k - 1]}") for k, qa in enumerate(split[2:5], 3)] \
        == [True] * 3
    assert _texts(split)[:2] == ref[:2] and _texts(split)[5:] == ref[5:] and not any(qa.note for qa in split)


def test_a_list_inside_one_answer_is_not_taken_for_question_numbers():
    ref = _reference_texts(SOLVED3, "part3.written")
    answers = dict(zip(CELLS3, ref))
    listed = "Three things differ:\n1. the last layer is sharper;\n2. it is diagonal;\n3. it ends on </s>."
    answers[41], answers[42], answers[43] = listed, ANSWER_PLACEHOLDER, ""
    split = _split3(answers)
    assert split[7].text == listed and split[7].note == ("(the answer cells of questions 9–10 are empty and this "
                                                         "text has no question markers: it may answer them too)")
    assert _texts(split)[8:] == ["", ""]
    assert split[8].note == split[9].note == "(this answer cell is empty: question 8's answer may cover it)"
    assert _texts(split)[:7] == ref[:7] and not any(qa.note for qa in split[:7])
    # every cell answered: a list in one of them is left alone
    answers[42], answers[43] = "1. No.\n2. One head aligns.\n3. Others rest on the prefix.", "Sharper."
    assert _texts(_split3(answers))[7:] == [listed, answers[42], "Sharper."]


@pytest.mark.parametrize("text", [
    "1. Yes.\n1. Same order.\n1. It raises it.",                       # a list numbered "1." throughout
    "1. Yes.\n2. Same order.",                                           # one question short
    "1. Yes.\n3. It raises it.\n2. Same order.",                         # out of order
    "Q1 Yes it is, because:\n1. the ratio is 0.76\n2. the spread is small\n3. n = 400",  # labels win over numbers
    "Yes:\n```\n1. 0.76\n2. 0.64\n3. 0.91\n```",                         # numbers in code
    "Yes.\n  1. nested\n  2. nested\n  3. nested",                       # an indented list
    "0.76 is the mean.\n2.5 standard errors.\n3.1 is nothing",          # decimals
    "Question 1 yes\nQuestion 2 same\nQuestion 2 again\nQuestion 3 it raises",  # a label twice
])
def test_doubtful_markers_never_split(text):
    split = _split1({17: text})
    assert split[0].text == text and split[0].note == NOT_SPLIT and _texts(split)[1:] == ["", ""]


def test_an_answer_in_the_middle_of_adjacent_cells_may_cover_the_next_one():
    split = _split1({18: "Only the second."})
    assert _texts(split) == ["", "Only the second.", ""] and split[0].note == ""
    assert split[1].note == ("(the answer cell of question 3 is empty and this text has no question markers: "
                             "it may answer it too)")
    assert split[2].note == "(this answer cell is empty: question 2's answer may cover it)"


def test_the_text_before_the_first_marker_goes_with_the_first_question():
    assert split_at_markers("My answers:\n\nQ1 yes\nQ2 no", [1, 2]) == ["My answers:\n\nQ1 yes", "Q2 no"]
    assert split_at_markers("Q1 yes\nQ3 no", [1, 2]) is None


def test_one_question_gets_the_whole_answer_and_nothing_answered_is_empty_without_notes():
    cells = [{"source": "first", "attachments": {}, "marked": True}, {"source": "second", "marked": True}]
    one = Question("answer", "Written", 1.0)
    assert split_answer(cells, [one]) == [QuestionAnswer(one, "first\n\nsecond", {})]
    blank = _split3()
    assert _texts(blank) == [""] * 10 and not any(qa.note for qa in blank)
    assert split_answer([], Q1) == [QuestionAnswer(q, "", {}) for q in Q1]
    assert split_answer(cells, []) == []


def test_hostile_and_huge_text_passes_through():
    weird = "\ud800 lone surrogate\n" + "x" * 2_000_000
    split = _split3({9: weird})
    assert split[0].text == weird.strip() and split[0].note == NOT_SPLIT
    lines = "1.\n" * 100_000 + "Q1\n" * 50_000 + "**" * 100_000
    split = _split1({17: lines})  # (linear in the text: its time is in --durations, not asserted)
    assert split[0].note == NOT_SPLIT
    cells = ["not a cell", {"source": None, "marked": True}, {"source": ["a", "b"], "attachments": [1], "index": "x"}]
    assert _texts(split_answer(cells, Q1)) == ["ab", "", ""]
    fences = "```\n1. x\n" * 30_000
    assert split_at_markers(fences + "1. a\n2. b", [1, 2]) is None


# --- the prompts ---------------------------------------------------------------------------------

def test_part3_has_one_prompt_per_question():
    prompts = question_prompts(ASSIGNMENT3, "part3.written", "part3", Q3)
    assert len(set(prompts)) == 10
    for k, prompt in enumerate(prompts, 1):
        assert prompt.startswith(f"**Question {k}") and f"**Question {k + 1}" not in prompt
    assert "Question 3 (context)" in prompts[2] and "refrain" in prompts[2]
    assert "## 1. Beam search" not in prompts[0]  # the section's prose is left out


def test_a_numbered_prompt_is_split_and_each_question_keeps_its_introduction():
    prompts = question_prompts(ROOT / "assignments" / PART1, "part1.written", "part1", Q1)
    for k, prompt in enumerate(prompts, 1):
        assert prompt.startswith("Answer in a few sentences each, using your numbers above.")
        assert f"\n\n{k}. " in prompt and f"\n{k + 1}. " not in prompt and "## Questions" not in prompt
    assert "remaining-mass rule" in prompts[2]


def test_a_prompt_that_cannot_be_split_is_given_whole():
    prompts = question_prompts(ASSIGNMENT3, "part3.written", "part3", Q3[:4])  # 10 answer cells, 4 questions
    assert len(prompts) == 4 and len(set(prompts)) == 1
    assert all(f"**Question {k}" in prompts[0] for k in range(1, 11))
    part2 = _item("part2.written")
    whole = question_prompts(ROOT / "assignments" / "part2_loss_landscape.ipynb", part2.id, "part2", questions_of(part2))
    assert len(whole) == 1 and whole[0].startswith("## 5. Question (1 point, graded by a TA)")


def test_prompts_of_another_part_or_an_unreadable_notebook_are_empty(tmp_path):
    assert question_prompts(ROOT / "assignments" / PART1, "part3.written", "part3", Q3) == [""] * 10
    (tmp_path / "x.ipynb").write_text("{not json")
    assert question_prompts(tmp_path / "x.ipynb", "part3.written", "part3", Q3) == [""] * 10
    assert question_prompts(tmp_path / "gone.ipynb", "part1.written", "part1", Q1) == [""] * 3


# --- the evidence ---------------------------------------------------------------------------------

#: question → the cells above it: the long_beams demo (7), the enhanced beam search demo (17), the
#: translations and BLEU (29), the heatmaps (37–39; 36 is the fourth, past ``most``)
EVIDENCE3 = [[7], [7], [17], [17], [17], [29], [29], [37, 38, 39], [37, 38, 39], [37, 38, 39]]


@pytest.mark.parametrize("path", [ASSIGNMENT3, EXAMPLE3])
def test_evidence_is_the_code_right_above_each_question(path):
    cells = _nb(path)["cells"]
    assert [evidence_cells(cells, "part3.written", k, need_outputs=False) for k in range(10)] == EVIDENCE3
    assert evidence_cells(cells, "part3.written", 7, most=4, need_outputs=False) == [36, 37, 38, 39]
    assert evidence_cells(cells, "part3.written", 10, need_outputs=False) == []
    assert evidence_cells(cells, "part3.written", -1, need_outputs=False) == []


def test_evidence_with_outputs_counts_only_cells_that_have_them():
    cells = _nb(EXAMPLE3)["cells"]
    assert [evidence_cells(cells, "part3.written", k) for k in range(10)] == [[]] * 10  # stored without outputs
    for i in (7, 29, 35, 36, 37, 39):
        cells[i]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "…"}]
    assert [evidence_cells(cells, "part3.written", k) for k in (0, 5, 7)] == [[7], [29], [36, 37, 39]]


def test_evidence_in_a_student_notebook_and_in_part1():
    cells = _student(ASSIGNMENT3, added={8: ["my note"]})
    cells.insert(11, {"cell_type": "code", "metadata": {}, "source": "print(beams)", "outputs": []})  # after Q1's answer
    assert evidence_cells(cells, "part3.written", 0, need_outputs=False) == [7]  # the student's note is passed
    assert evidence_cells(cells, "part3.written", 1, need_outputs=False) == [11]  # the student's own cell
    part1 = _nb(ROOT / "assignments" / PART1)["cells"]
    assert [evidence_cells(part1, "part1.written", k, need_outputs=False) for k in range(3)] == [[15]] * 3
    assert evidence_cells(["junk", {"cell_type": "code"}], "part3.written", 0) == []
    assert evidence_cells("not a list", "part3.written", 0) == []
