"""What a student reads in feedback.md and feedback.html.

* One line per cause: an unimplemented function fails every check that calls it, and says so once,
  listing the checks it cost (the public ones on one line, the hidden ones on theirs).
* Each line leads with what was checked, in words (the check's description), then why it failed;
  the ids come last, small.
* The HTML names each part's notebook, and shows `backticks` as <code> — only after escaping, so
  text from a kernel never becomes markup; the Markdown shows text as written, as before.
* A check's description is shown to students: a hidden check's is the same whatever the course secret.

The pages come from real gradings of the blank notebooks (public and hidden checks); hostile text
comes in a made-up result.
"""
from __future__ import annotations

import html
import re

import pytest

from graders.homework import all_parts
from graders.part import CheckContext
from graders.report.feedback import to_html, to_markdown
from graders.results import CheckResult, ItemResult, PartResult, SubmissionResult
from helpers import TEST_SECRET, blank_notebook, grade, plan_for

#: part → (an unimplemented function, its public checks, its hidden checks) in the blank notebook
UNIMPLEMENTED = {"part1": ("next_token_ab_probs", 4, 2), "part2": ("random_directions", 4, 1)}


@pytest.fixture(scope="module", params=sorted(UNIMPLEMENTED))
def blank(request):
    part = request.param
    return part, grade(part, blank_notebook(part))


def _failed(result):
    return [c for it in result.items for c in it.checks if not c.passed]


def test_an_unimplemented_function_is_one_line_per_cause(blank):
    part, result = blank
    function, public, hidden = UNIMPLEMENTED[part]
    md, page = to_markdown(result), to_html(result)
    said = f"`{function}`() raised NotImplementedError: {function} is not implemented yet"
    said_hidden = f"`{function}`() raised NotImplementedError on a hidden input"
    costs = {"public": [c.id for c in _failed(result) if c.reason.startswith(said)],
             "hidden": [c.id for c in _failed(result) if c.reason.startswith(said_hidden)]}
    assert (len(costs["public"]), len(costs["hidden"])) == (public, hidden)  # the checks it cost
    for kind, text in (("public", said), ("hidden", said_hidden)):
        (line,) = [ln for ln in md.splitlines() if text in ln]
        assert all(f"`{cid}`" in line for cid in costs[kind]), (line, costs[kind])
        if len(costs[kind]) > 1:
            assert f"({len(costs[kind])} checks) — {text}" in line
        assert page.count(html.escape(text).replace(f"`{function}`", f"<code>{function}</code>")) == 1


def test_every_line_leads_with_what_was_checked_and_ends_with_the_ids(blank):
    part, result = blank
    md, page = to_markdown(result), to_html(result)
    lines = [ln for ln in md.splitlines() if ln.startswith("  - ")]
    assert lines and not [ln for ln in lines if re.match(r"  - `?(theory|part\d)\.", ln)]  # no id first
    for c in _failed(result):
        assert c.description, c.id  # every check says what it checks
        (line,) = [ln for ln in lines if f"`{c.id}`" in ln]
        assert c.description in line and f" — {c.reason[:40]}" in line
        assert line.index(c.description) < line.index(c.reason[:40]) < line.index("<sub>"), line
        assert line.endswith("</sub>")
    items = re.findall(r"<li>(.*?)</li>", page)
    covering = [li for li in items if "<code class='id'>" in li]
    assert covering and all(li.startswith("<span class='what'>") and li.endswith("</code></small>")
                            for li in covering)


def test_the_html_names_the_notebook_and_shows_code_not_backticks(blank):
    part, result = blank
    notebook = result.parts[part].notebook
    md, page = to_markdown(result), to_html(result)
    assert f"## {part} — `{notebook}`" in md
    assert f"<h2>{part} — <code>{notebook}</code></h2>" in page
    visible = re.sub(r"<style>.*?</style>|<[^>]+>", "", page)
    assert "`" not in visible, re.findall(r".{30}`.{30}", visible)[:3]


def test_results_carry_their_checks_descriptions(blank):
    part, result = blank
    described = {c.id: c.description for c in plan_for(part).checks[part]}
    got = {c.id: c.description for it in result.items for c in it.checks}
    assert got == {cid: described[cid] for cid in got} and all(got.values())


def _made_up(checks, *, title="f <doubles>", notebook="p<1>.ipynb"):
    item = ItemResult("part9.f", "part9", title, 0, 2, "failed", checks=tuple(checks))
    return SubmissionResult("401_Sara", "401", "Sara <b>", 0, 2, 0, 0,
                            {"part9": PartResult("part9", 0, 2, notebook=notebook)}, (item,))


def test_kernel_text_is_escaped_before_backticks_become_code():
    reason = ("`f`() raised ValueError: <script>alert(1)</script> `<img src=x onerror=alert(1)>` "
              "— `f` was called with x = 1")
    result = _made_up([CheckResult("part9.f.a", False, "failed", reason, description="f doubles `x`")])
    page = to_html(result)
    assert "<script>" not in page and "<img" not in page and "Sara <b>" not in page and "Sara &lt;b&gt;" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<code>&lt;img src=x onerror=alert(1)&gt;</code>" in page
    assert "<span class='what'>f doubles <code>x</code></span> — <code>f</code>() raised ValueError" in page
    assert "<h2>part9 — <code>p&lt;1&gt;.ipynb</code></h2>" in page and "<td>f &lt;doubles&gt;</td>" in page
    assert f"  - f doubles `x` — {reason} <sub>`part9.f.a`</sub>" in to_markdown(result)  # as written


def test_a_hidden_check_shares_a_line_only_with_its_own_reason():
    call = " — `f` was called with x = a list of 3"
    public = [CheckResult(f"part9.f.{k}", False, "failed", f"`f`() raised IndexError: out of range{call}{k}",
                          description=f"f on case {k}") for k in "ab"]
    hidden = CheckResult("part9.f.hidden", False, "failed", "`f`() raised IndexError on a hidden input (its message "
                         "is not shown; the public checks show theirs)", public=False, description="f on hidden cases")
    md = to_markdown(_made_up([*public, hidden]))
    (shared,) = [ln for ln in md.splitlines() if "`part9.f.a`" in ln]
    assert "`part9.f.b`" in shared and "(2 checks)" in shared and "`part9.f.hidden`" not in shared
    (own,) = [ln for ln in md.splitlines() if "`part9.f.hidden`" in ln]
    assert own == f"  - f on hidden cases — {hidden.reason} <sub>`part9.f.hidden`</sub>"


def test_a_hidden_checks_description_is_the_same_whatever_the_secret():
    """Descriptions reach students: one built from a hidden input (a grid's size) would show it."""
    other = TEST_SECRET[::-1]
    for name, spec in all_parts().items():
        described = [{c.id: c.description for c in spec.build_checks(CheckContext(secret=secret)) if not c.public}
                     for secret in (TEST_SECRET, other)]
        assert described[0] == described[1], name
