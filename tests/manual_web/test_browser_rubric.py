"""Written answers question by question, with rubric items, in a real headless Chromium — on HW4's part 3.

A TA creates a rubric item, applies it by key to three answers, edits its points and sees the
three scores change in result.json, grades.csv and the feedback; scores a group of near-identical
answers at once; sees the student's own outputs beside the answer; grades the ten part 3 questions
of one student from the keyboard alone — and no script from student content runs.
"""
from __future__ import annotations

import csv
import json
from contextlib import closing

import pytest

from browser_kit import WAIT, keys, needs_browser
from graders.gradebook import connect
from graders.manual.ledger import current_entry
from graders.manual.rubric_items import add_rubric_item, question_grades, set_applied
from graders.manual.server import make_grading_server
from hw4_kit import ALI, ANSWERS_Q6, BLEU_TEXT, HEATMAP_CELL, ITEM, MINA, OMID, QUESTIONS, REZA, SARA

pytestmark = needs_browser


@pytest.fixture
def server(hw4):
    srv = make_grading_server(hw4, grader="TA One")
    srv.start_in_thread()
    yield srv
    srv.shutdown()


def wait_for(browser, condition):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def on_question(browser, sub, title):
    from selenium.webdriver.common.by import By

    wait_for(browser, lambda d: d.find_element(By.ID, "student").text == sub
             and d.find_element(By.TAG_NAME, "h1").text.startswith(title)
             and d.execute_script("return document.readyState") == "complete")


def item_score(out, sub):
    with closing(connect(out)) as conn:
        return current_entry(conn, sub, ITEM)["score"]


def full_marks_elsewhere(out, subs, but="q6"):
    """Every question but ``but`` graded full for ``subs`` (so the item's score is complete once it is)."""
    with closing(connect(out)) as conn:
        for q in QUESTIONS:
            if q.id != but:
                full = add_rubric_item(conn, ITEM, q.id, q.points, "Correct", grader="setup")
                set_applied(conn, ITEM, QUESTIONS, q.id, full.id, {s: None for s in subs}, apply=True, grader="setup")


def everywhere(out, sub):
    """The item's score and TA comment in result.json, and the feedback of ``sub``."""
    result = json.loads((out / sub / "result.json").read_text())
    item = next(i for i in result["items"] if i["id"] == ITEM)
    return item["score"], item["comment"], (out / sub / "feedback.md").read_text()


def grades_csv_total(out, sub) -> float:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        row = next(r for r in csv.DictReader(fh) if r["submission_id"] == sub)
    return round(float(row["total"]), 6)


def test_a_rubric_item_by_key_on_three_answers_then_edited_rescores_everywhere(browser, server, hw4):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    full_marks_elsewhere(hw4, (ALI, SARA, MINA))
    base = server.url.split("/?token=")[0]
    browser.get(server.url)
    browser.get(f"{base}/question?item={ITEM}&q=q6&sub={ALI}")
    on_question(browser, ALI, QUESTIONS[5].title)

    # the student's own outputs beside the answer, as the grader ran the notebook
    evidence = browser.find_element(By.ID, "evidence")
    assert BLEU_TEXT.splitlines()[0] in evidence.text and "[29]" in evidence.text
    assert "Question 6" in browser.find_element(By.ID, "prompt").text

    # a rubric item, made from the keyboard: a, points, Tab, text, Enter
    keys(browser, "a", "0.3", Keys.TAB, "Names the encoder-decoder with both BLEU scores", Keys.ENTER)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#rubric li[data-key="1"]'))
    # applied by key to three answers: 1 applies, ] goes to the same question of the next answer
    for sub in (ALI, SARA, MINA):
        on_question(browser, sub, QUESTIONS[5].title)
        keys(browser, "1")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#rubric li.applied[data-key="1"]'))
        keys(browser, "]")
    on_question(browser, OMID, QUESTIONS[5].title)
    for sub in (ALI, SARA, MINA):
        score, comment, feedback = everywhere(hw4, sub)
        assert item_score(hw4, sub) == score == 3.0
        assert "Names the encoder-decoder with both BLEU scores (+0.3)" in comment
        assert "Names the encoder-decoder with both BLEU scores" in feedback
    assert item_score(hw4, OMID) is None

    # edit the item's points on any page carrying it: the three scores change everywhere
    before = {s: grades_csv_total(hw4, s) for s in (ALI, SARA, MINA)}
    browser.get(f"{base}/question?item={ITEM}&q=q6&sub={SARA}")
    on_question(browser, SARA, QUESTIONS[5].title)
    browser.find_element(By.CSS_SELECTOR, '#rubric li[data-key="1"] details.edit summary').click()
    points = browser.find_element(By.CSS_SELECTOR, '#rubric li[data-key="1"] .edit-points')
    points.clear()
    points.send_keys("0.2")
    browser.find_element(By.CSS_SELECTOR, '#rubric li[data-key="1"] .edit-save').click()
    wait_for(browser, lambda d: "3 scores updated" in d.find_element(By.CLASS_NAME, "flash").text)
    for sub in (ALI, SARA, MINA):
        score, comment, feedback = everywhere(hw4, sub)
        assert item_score(hw4, sub) == score == 2.9
        assert "Names the encoder-decoder with both BLEU scores (+0.2)" in comment
        assert grades_csv_total(hw4, sub) == pytest.approx(before[sub] - 0.1)
        assert "Names the encoder-decoder with both BLEU scores (+0.2)" in feedback
    assert browser.execute_script("return window.__xss === undefined")


def test_a_group_of_near_identical_answers_is_scored_at_once(browser, server, hw4):
    from selenium.webdriver.common.by import By

    with closing(connect(hw4)) as conn:
        good = add_rubric_item(conn, ITEM, "q6", 0.3, "Right model, with the numbers", grader="TA One")
    base = server.url.split("/?token=")[0]
    browser.get(server.url)
    browser.get(f"{base}/groups?item={ITEM}&q=q6")
    first = browser.find_element(By.ID, "group-1")
    members = {e.get_attribute("value") for e in first.find_elements(By.CSS_SELECTOR, 'input[name="member"]')}
    assert members == {ALI, SARA, MINA}
    assert "90% similar" in first.text  # near-identical, not the same text: the old groups kept Mina apart
    first.find_element(By.CSS_SELECTOR, ".group-apply-button").click()
    wait_for(browser, lambda d: "Applied to 3 of 3 answers" in d.find_element(By.CLASS_NAME, "flash").text)
    with closing(connect(hw4)) as conn:
        grades = question_grades(conn, ITEM, QUESTIONS, ANSWERS_Q6)
    assert {s for s in ANSWERS_Q6 if good.id in grades[s]["q6"].applied} == {ALI, SARA, MINA}
    assert browser.execute_script("return window.__xss === undefined")


def test_a_figure_from_the_graded_run_is_shown_beside_a_part3_answer(browser, server, hw4):
    from selenium.webdriver.common.by import By

    base = server.url.split("/?token=")[0]
    browser.get(server.url)
    browser.get(f"{base}/question?item={ITEM}&q=q8&sub={ALI}")
    on_question(browser, ALI, QUESTIONS[7].title)
    assert "Question 8" in browser.find_element(By.ID, "prompt").text
    evidence = browser.find_element(By.ID, "evidence")
    figure = evidence.find_element(By.CSS_SELECTOR, f'.evidence-cell[data-cell="{HEATMAP_CELL}"] img.output')
    assert figure.get_attribute("src").startswith("data:image/png;base64,")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", figure) == 4


def test_no_script_from_student_content_runs(browser, server, hw4):
    from selenium.webdriver.common.by import By

    base = server.url.split("/?token=")[0]
    browser.get(server.url)
    browser.get(f"{base}/question?item={ITEM}&q=q6&sub={REZA}")
    assert "<script>window.__xss = 4</script>" in browser.find_element(By.ID, "evidence").text  # printed: text
    for page in (f"/question?item={ITEM}&q=q6&sub={REZA}", f"/groups?item={ITEM}&q=q6", f"/student?sub={REZA}",
                 f"/answer?item={ITEM}&sub={REZA}"):
        browser.get(base + page)
        wait_for(browser, lambda d: d.execute_script("return document.readyState") == "complete")
        assert "<script>window.__xss = 1</script>" in browser.find_element(By.TAG_NAME, "main").text, page
        assert not browser.find_elements(By.CSS_SELECTOR, "main script"), page
        assert browser.execute_script("return window.__xss === undefined"), page


def test_a_ta_grades_the_ten_part3_questions_of_one_student_from_the_keyboard(browser, server, hw4):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with closing(connect(hw4)) as conn:  # the rubric the TAs agreed on: a full-marks item and a slip per question
        for q in QUESTIONS:
            add_rubric_item(conn, ITEM, q.id, q.points, "Correct and complete", grader="TA One")
            add_rubric_item(conn, ITEM, q.id, -0.1, "Misses the why", grader="TA One")
    base = server.url.split("/?token=")[0]
    browser.get(server.url)
    browser.get(f"{base}/question?item={ITEM}&q=q1&sub={OMID}")
    for k, q in enumerate(QUESTIONS):
        on_question(browser, OMID, q.title)
        keys(browser, "1")
        if k == 5:  # Omid's question 6 names the wrong model: full marks minus the slip
            wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#rubric li.applied[data-key="1"]'))
            keys(browser, "2")
            wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#rubric li.applied[data-key="2"]'))
        else:
            wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#rubric li.applied[data-key="1"]'))
        keys(browser, Keys.ENTER)
    wait_for(browser, lambda d: d.find_element(By.ID, "student").text != OMID)  # on to the next answer to grade
    assert item_score(hw4, OMID) == 2.9
    score, comment, *_ = everywhere(hw4, OMID)
    assert score == 2.9 and comment.count("Correct and complete") == 10 and "Misses the why (−0.1)" in comment

