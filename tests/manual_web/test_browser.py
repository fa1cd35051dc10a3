"""The grading page in a real headless Chromium, driven as a TA drives it: from the keyboard.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package (requirements-dev);
skipped with a message when they are missing (``.ci/run`` installs them). The rubric-item pages
are driven in ``test_browser_rubric.py``.
"""
from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest

from batch.batch_kit import GOOD, PARTS, notebook
from graders.gradebook import connect
from graders.manual.ledger import ScoreChange, record_scores
from graders.manual.answers import Reference
from graders.manual.render import MATH_BUDGET
from graders.manual.server import make_grading_server
from browser_kit import WAIT, needs_browser
from web_kit import GROUP

ROOT = Path(__file__).resolve().parents[2]
pytestmark = needs_browser

REFERENCE = Reference(("Why is the KL term **positive**?",),
                      r"Because $\mathrm{KL}(p\|q) = \sum_x p(x)\log\frac{p(x)}{q(x)} \ge 0$ (Gibbs' inequality).")


@pytest.fixture
def server(batch, monkeypatch):
    monkeypatch.setattr("graders.manual.web.reference_for", lambda item_id, part: REFERENCE)
    srv = make_grading_server(batch, grader="TA One")
    srv.start_in_thread()
    yield srv
    srv.shutdown()


def scores(batch, item="alpha.written"):
    conn = sqlite3.connect(batch / "gradebook.sqlite")
    return {r[0]: (r[1], r[2], r[3]) for r in
            conn.execute("SELECT submission_id, score, comment, grader FROM manual_scores WHERE item_id = ?", (item,))}


def test_a_ta_grades_from_the_keyboard(browser, server, batch):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    # a save navigates to the next answer: an element found just before the page changes goes stale
    wait = WebDriverWait(browser, WAIT, ignored_exceptions=(StaleElementReferenceException,))

    def keys(*seq):
        chain = ActionChains(browser)
        for k in seq:
            if isinstance(k, tuple):  # (modifier, key)
                chain.key_down(k[0]).send_keys(k[1]).key_up(k[0])
            else:
                chain.send_keys(k)
        chain.perform()

    def on(sub):
        wait.until(lambda d: d.find_element(By.ID, "student").text == sub)
        wait.until(lambda d: d.execute_script("return document.activeElement.id") == "score")

    base = server.url.split("/?token=")[0]
    browser.get(server.url)  # the token URL
    assert "token" not in browser.current_url
    assert "Written answers: 0 of 12 graded" in browser.find_element(By.TAG_NAME, "h1").text

    # three answers, keyboard only: score + Enter; a comment (c … Ctrl+Enter); one from the bank (b, Enter)
    browser.find_element(By.LINK_TEXT, "alpha.written").click()
    browser.find_element(By.ID, "start").click()
    on("401000001_Ali")
    keys("4", Keys.ENTER)
    on("401000002_Sara")
    keys("3", "c", "Say why it is non-negative.", (Keys.CONTROL, Keys.ENTER))
    on("401000003_Mina")
    keys("2", "b", Keys.ENTER, (Keys.CONTROL, Keys.ENTER))
    on("401000004_Omid")
    assert scores(batch) == {"401000001_Ali": (4, "", "TA One"),
                             "401000002_Sara": (3, "Say why it is non-negative.", "TA One"),
                             "401000003_Mina": (2, "Say why it is non-negative.", "TA One")}

    # the XSS answer stays text
    answer = browser.find_element(By.ID, "answer")
    assert "<script>window.__xss = 1</script>" in answer.text and 'onerror="window.__xss = 2"' in answer.text
    assert not answer.find_elements(By.TAG_NAME, "img") and not answer.find_elements(By.TAG_NAME, "script")
    assert not answer.find_elements(By.TAG_NAME, "a")  # the javascript: link is not a link
    assert browser.execute_script("return window.__xss === undefined")

    # s skips to the next pending answer, p and n move in order; math is typeset by the vendored KaTeX
    keys("s")
    on("401000005_Reza")
    assert browser.find_elements(By.CSS_SELECTOR, "#answer .katex")
    assert browser.find_elements(By.CSS_SELECTOR, "#reference .katex")
    keys("p")
    on("401000004_Omid")
    keys("n")
    on("401000005_Reza")
    keys("c", "Correct, and the sum is explained.", Keys.ESCAPE, "5")
    shot = Path(tempfile.gettempdir()) / "hw4-manual-serve.png"
    browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keys(Keys.ENTER)
    on("401000006_Leila")
    assert scores(batch)["401000005_Reza"] == (5, "Correct, and the sum is explained.", "TA One")

    # a group at once: the first group of beta.written holds three equal answers
    browser.get(f"{base}/item/beta.written")
    score = browser.find_elements(By.CSS_SELECTOR, "#group-1 .group-score")[0]
    score.send_keys("2", Keys.ENTER)
    wait.until(lambda d: "3 saved" in d.find_element(By.CLASS_NAME, "flash").text)
    assert {s: v[0] for s, v in scores(batch, "beta.written").items()} == {s: 2 for s in GROUP}

    # reload: everything is stored
    browser.refresh()
    assert "Group 1: 3 answers, 3 graded — all 2" in browser.find_element(By.ID, "group-1").text
    browser.get(f"{base}/answer?item=alpha.written&sub=401000002_Sara")
    assert "Recorded: 3 by TA One" in browser.find_element(By.ID, "current").text
    assert browser.find_element(By.ID, "comment").get_attribute("value") == "Say why it is non-negative."

    # a stale write: another TA changes Ali while this page is open; this TA's save is refused
    browser.get(f"{base}/answer?item=alpha.written&sub=401000001_Ali")
    on("401000001_Ali")
    with connect(batch) as conn:
        record_scores(conn, [ScoreChange("401000001_Ali", "alpha.written", 1.5, "too short")], grader="TA Two",
                      source="web")
    keys("5", Keys.ENTER)
    stale = wait.until(lambda d: d.find_element(By.ID, "stale"))
    assert "TA Two set it to 1.5" in stale.text and "too short" in stale.text and "Yours was not saved" in stale.text
    assert scores(batch)["401000001_Ali"] == (1.5, "too short", "TA Two")

    # without the token: nothing
    browser.delete_all_cookies()
    browser.get(f"{base}/item/alpha.written")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "needs the token" in body and "401000001" not in body


def test_a_formula_past_the_math_budget_is_typeset_only_when_asked(browser, server, batch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    tex = "a+b+" * (MATH_BUDGET // 4 + 250) + "c"  # 1,000 characters past the budget: quick to typeset on demand
    sub = "401000006_Leila"
    (batch.parent / "nbs" / sub / PARTS["alpha"].notebook).write_text(
        notebook("alpha", GOOD["alpha"], answer=f"Short $x^2$ first:\n\n$${tex}$$\n\nand $\\sigma(z)$ after."),
        encoding="utf-8")
    base = server.url.split("/?token=")[0]
    browser.get(server.url)
    for page in (f"{base}/answer?item=alpha.written&sub={sub}", f"{base}/item/alpha.written"):
        browser.get(page)
        box = browser.find_element(By.CSS_SELECTOR, ".math-source")  # only this student's answer has one
        answer = box.find_element(By.XPATH, "ancestor::div[contains(@class, 'answer')]")
        assert box.find_element(By.CSS_SELECTOR, ".math-tex.deferred").get_attribute("textContent") == tex
        assert not box.find_elements(By.CSS_SELECTOR, ".katex")
        assert len(answer.find_elements(By.CSS_SELECTOR, ".katex")) == 2  # the short formulas: typeset as ever
        button = box.find_element(By.CSS_SELECTOR, "button.render-math")
        assert button.text == f"Render this formula ({len(tex):,} characters)"
        button.click()
        WebDriverWait(browser, WAIT).until(lambda d: box.find_elements(By.CSS_SELECTOR, ".katex-display .katex"))
        assert not box.find_elements(By.CSS_SELECTOR, "button, .deferred")
        assert len(answer.find_elements(By.CSS_SELECTOR, ".katex")) == 3


def test_the_bank_form_leads_back_only_to_this_server(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base = server.url.split("/?token=")[0]
    browser.get(server.url)

    def add_to_bank(back):
        browser.get(f"{base}/item/alpha.written")
        browser.execute_script("""
            const form = document.querySelector('form[action$="/bank"]');
            const back = document.createElement("input");
            back.type = "hidden"; back.name = "back"; back.value = arguments[0];
            form.appendChild(back);
            form.querySelector('input[name="text"]').value = "Name the KL term.";
            window.__before = true;
            form.submit();""", back)
        WebDriverWait(browser, WAIT).until(lambda d: d.execute_script(
            "return window.__before === undefined && document.readyState === 'complete'"),
            message=f"no page after the form with back={back!r} (a redirect off the server, refused by the CSP?)")
        return browser.current_url

    for evil in ("/\t/evil.example/x", "/\\evil.example/x", " //evil.example/x", "\\\\evil.example/x"):
        assert add_to_bank(evil) == f"{base}/item/alpha.written", repr(evil)
    assert add_to_bank("/answer?item=alpha.written&sub=401000002_Sara") == \
        f"{base}/answer?item=alpha.written&sub=401000002_Sara"
    assert browser.find_element(By.ID, "student").text == "401000002_Sara"
