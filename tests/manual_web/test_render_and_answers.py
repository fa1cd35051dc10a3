"""Answers: reading them from notebooks, grouping them, rendering their Markdown and LaTeX safely."""
from __future__ import annotations

import html as htmllib
import json

import nbformat
from adversarial.round2_manual import (SLOPE_POSITIVE, SLOPE_POSITIVE_RESPACED, SLOPE_ZERO, long_formula,
                                       math_answer_notebooks)

from graders.homework import active as active_homework
from graders.manual.answers import Answer, AnswerStore, group_answers, normalise, reference_for
from graders.manual.cells import answer_cells
from graders.manual.render import MATH_BUDGET, MAX_ANSWER_CHARS, render_markdown

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="


# --- rendering -----------------------------------------------------------------------------------

def test_raw_html_and_script_urls_come_out_as_text():
    html = render_markdown('<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n'
                           "[a](javascript:alert(3)) [b](JAVASCRIPT:alert(4)) [c](data:text/html,<script>)")
    assert "<script" not in html and "<img src=x" not in html and "href=\"javascript" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "href=\"data:text" not in html


def test_math_is_left_escaped_for_katex():
    html = render_markdown(r"Inline $a_b < c$, display $$\sum_i x_i$$, \(z\) and" "\n\n" r"\[ \frac{1}{2} \]"
                           "\n\n" r"\begin{align} a &= b \end{align}")
    assert '<span class="math-tex">a_b &lt; c</span>' in html
    assert '<span class="math-tex display">\\sum_i x_i</span>' in html
    assert '<span class="math-tex">z</span>' in html
    assert '<div class="math-tex display">\\frac{1}{2}</div>' in html
    assert '<div class="math-tex display">\\begin{align} a &amp;= b \\end{align}</div>' in html
    assert "<em>" not in html  # underscores inside math are not emphasis


def deferred(tex: str, tag: str = "div") -> str:
    """A formula shown as its source with a button (past the answer's math budget)."""
    return (f'<{tag} class="math-source"><button type="button" class="render-math">Render this formula '
            f'({len(tex):,} characters)</button><span class="math-tex display deferred">{htmllib.escape(tex)}</span>'
            f'</{tag}>')


def test_a_formula_past_the_math_budget_is_shown_as_source_with_a_button():
    tex = "a+b+" * (MATH_BUDGET // 4) + "c</span><script>window.__xss = 4</script>"
    html = render_markdown(r"First $\sigma(z) < 1$." f"\n\n$${tex}$$\n\n" r"Then $\sigma(z) < 1$ again.")
    assert deferred(tex) in html and html.count("render-math") == 1
    assert html.count('<span class="math-tex">\\sigma(z) &lt; 1</span>') == 2  # before and after it: as ever
    assert "<script" not in html
    inline = render_markdown(f"Inline $${tex}$$ too.")
    assert deferred(tex, "span") in inline


def test_the_math_budget_is_for_the_whole_answer():
    tex = "x+" * (MATH_BUDGET // 10) + "y"
    fits = MATH_BUDGET // len(tex)
    html = render_markdown("\n\n".join([f"$${tex}$$"] * (fits + 2)))
    assert html.count('<div class="math-tex display">') == fits
    assert html.count(deferred(tex)) == 2
    one = render_markdown(long_formula())  # round 2's 98 kB formula
    assert deferred(long_formula()[2:-2]) in one and "math-tex display\"" not in one


def test_every_reference_answer_is_typeset_whole():
    answers = {}
    for nb in sorted(active_homework().solutions.glob("*.ipynb")):
        answers.update(answer_cells(nb) or {})
    pages = {item: render_markdown("\n\n".join(c["source"] for c in cells)) for item, cells in answers.items()}
    assert sum('class="math-tex' in html for html in pages.values()) >= 9  # the nine theory answers
    assert [item for item, html in pages.items() if "render-math" in html] == []


def test_markdown_is_rendered():
    html = render_markdown("**bold** and *it*\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two")
    assert "<strong>bold</strong>" in html and "<em>it</em>" in html and "<table>" in html and "<li>one</li>" in html


def test_pasted_images_are_inlined_and_remote_ones_are_not_loaded():
    html = render_markdown("![derivation](attachment:photo.png) ![x](attachment:evil.svg) "
                           "![t](https://tracker.example/pixel.gif)",
                           {"photo.png": {"image/png": PNG}, "evil.svg": {"image/svg+xml": "PHN2Zz4="}})
    assert f'<img src="data:image/png;base64,{PNG}" alt="derivation" class="attachment">' in html
    assert "[attachment evil.svg cannot be shown]" in html and "svg+xml" not in html
    assert "tracker.example/pixel.gif]" in html and 'src="https://tracker' not in html


def test_bad_text_does_not_break_the_page():
    assert "\ufffd" not in render_markdown("lone \ud800 surrogate") and "surrogate" in render_markdown("\ud800 surrogate")
    long = render_markdown("word " * (MAX_ANSWER_CHARS // 4))
    assert "the first 100,000 are shown" in long
    deep = render_markdown("> " * 3000 + "deep")  # nesting is capped (the page also shows the source)
    assert 0 < deep.count("<blockquote>") <= 100


# --- grouping ------------------------------------------------------------------------------------

def test_normalising_ignores_spacing_and_the_case_of_prose_only():
    assert normalise("The KL is positive.") == normalise("the  KL is\nPOSITIVE .") == normalise(" The KL is positive. ")
    assert normalise("a + b") == normalise("a+b")
    assert normalise("e\u0301") == normalise("\u00e9")  # the same text, composed or not
    assert normalise("a+b") != normalise("a-b")
    assert normalise("KL ≥ 0") != normalise("KL ≤ 0")
    assert normalise("it is positive") != normalise("it is not positive")
    # every sign counts: round 2 merged these two when normalising dropped ', > and ~
    assert normalise(SLOPE_POSITIVE) != normalise(SLOPE_ZERO)
    assert normalise(SLOPE_POSITIVE) == normalise(SLOPE_POSITIVE_RESPACED)
    assert normalise("x²") != normalise("x2")
    assert normalise("The KL is **positive**.") != normalise("The KL is positive!") != normalise("The KL is positive.")
    assert normalise(r"a\ +b") != normalise(r"a\+b")  # "\ " is a TeX space
    # letter case counts in math and code
    assert normalise("$X > 0$ HOLDS") != normalise("$x > 0$ holds") == normalise("$x > 0$ Holds")
    for upper, lower in [(r"$$\Delta$$", r"$$\delta$$"), (r"\(P\)", r"\(p\)"), (r"\[P\]", r"\[p\]"), ("`KL`", "`kl`"),
                         (r"\begin{align} P \end{align}", r"\begin{align} p \end{align}"), ("$P unclosed", "$p unclosed")]:
        assert normalise(upper) != normalise(lower), upper


def answer(sub, text, problem=""):
    return Answer(sub, sub, "", "q.written", text, problem)


def test_groups_are_largest_first_and_unanswered_ones_group_by_reason():
    groups = group_answers([answer("1", "Yes."), answer("2", "no"), answer("3", "yes."), answer("4", "", "(not answered)"),
                            answer("5", "", "(not answered)"), answer("6", " YES ."), answer("7", "", "(no notebook)")])
    assert [[a.submission_id for a in g.answers] for g in groups] == [["1", "3", "6"], ["4", "5"], ["2"], ["7"]]


def test_round2_answers_that_differ_in_their_mathematics_are_not_grouped(tmp_path):
    store = AnswerStore(tmp_path)
    answers = []
    for i, text in enumerate(math_answer_notebooks()):
        (tmp_path / f"{i}.ipynb").write_text(text, encoding="utf-8")
        sub = f"40200000{i}_Q1f"
        answers.append(store.answer({"submission_id": sub, "student_id": sub[:9], "name": "Q1f", "part": "theory",
                                     "item_id": "theory.q1f.written"}, str(tmp_path / f"{i}.ipynb")))
    assert [a.text for a in answers] == [SLOPE_POSITIVE, SLOPE_ZERO, SLOPE_POSITIVE_RESPACED]
    groups = group_answers(answers)
    assert [[a.text for a in g.answers] for g in groups] == [[SLOPE_POSITIVE, SLOPE_POSITIVE_RESPACED], [SLOPE_ZERO]]


# --- reading answers -----------------------------------------------------------------------------

def write_nb(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["hw4"] = {"part": "alpha"}
    nb.cells = cells
    path.write_text(nbformat.writes(nb))
    return path


def row(sub="401_A", item="alpha.written"):
    return {"submission_id": sub, "student_id": "401", "name": "A", "item_id": item, "part": "alpha"}


def test_answers_keep_pasted_images_and_say_why_one_is_missing(tmp_path):
    md = nbformat.v4.new_markdown_cell
    nb = write_nb(tmp_path / "a.ipynb", [
        md("![x](attachment:p.png)", metadata={"hw4": {"answer": "alpha.written"}},
           attachments={"p.png": {"image/png": PNG}}),
        md("_Write your answer here._", metadata={"hw4": {"answer": "alpha.other"}})])
    store = AnswerStore(tmp_path)
    got = store.answer(row(), str(nb))
    assert got.text == "![x](attachment:p.png)" and got.attachments == {"p.png": {"image/png": PNG}}
    assert store.answer(row(item="alpha.other"), str(nb)).problem == "(not answered)"
    assert store.answer(row(item="alpha.third"), str(nb)).problem == "(no answer cell for alpha.third in a.ipynb)"
    assert store.answer(row(), None).problem == "(no notebook for alpha was submitted)"
    assert store.answer(row(), str(tmp_path / "gone.ipynb")).problem.startswith("(the notebook ")


def test_hostile_notebooks_cost_only_their_own_answer(tmp_path, monkeypatch):
    import graders.manual.answers as answers

    bad = tmp_path / "bad.ipynb"
    bad.write_text(json.dumps({"cells": [{"cell_type": "markdown", "metadata": [1, 2], "source": "x"},
                                         {"cell_type": "markdown", "metadata": {"hw4": {"answer": ["list"]}}},
                                         "not a cell", {"cell_type": "markdown", "source": 7,
                                                        "metadata": {"hw4": {"answer": "alpha.written"}}}]}))
    store = AnswerStore(tmp_path)
    assert store.answer(row(), str(bad)).text == "7"
    (tmp_path / "junk.ipynb").write_bytes(b"\xff\xfe not json")
    assert store.answer(row(), str(tmp_path / "junk.ipynb")).problem.startswith("(no answer cell")
    monkeypatch.setattr(answers, "MAX_NOTEBOOK_BYTES", 10)
    assert "too large to show here" in AnswerStore(tmp_path).answer(row(), str(bad)).problem


def test_a_changed_notebook_is_read_again(tmp_path):
    md = nbformat.v4.new_markdown_cell
    path = tmp_path / "a.ipynb"
    write_nb(path, [md("first", metadata={"hw4": {"answer": "alpha.written"}})])
    store = AnswerStore(tmp_path)
    assert store.answer(row(), str(path)).text == "first"
    write_nb(path, [md("second version", metadata={"hw4": {"answer": "alpha.written"}})])
    assert store.answer(row(), str(path)).text == "second version"


def test_reference_answers_and_questions_come_from_the_course_notebooks():
    ref = reference_for("theory.q1a.written", "theory")
    assert ref.answer.startswith("The loss depends on the two scores only through their difference")
    assert any("reward model" in q for q in ref.questions)
    part3 = reference_for("part3.written", "part3")
    assert any(q.startswith("**Question 2 (diversity).**") for q in part3.questions)
    assert reference_for("no.such.item", "theory") == type(ref)((), "")
