"""Grader validity for Part 1: the reference gets every automatic point, the blank notebook none,
each realistic bug loses points on its own item and nowhere else, and other correct
implementations get full marks. Every notebook is executed once per session (helpers memoise)."""
from __future__ import annotations

import ast
import re

import pytest

from helpers import (ROOT, assert_bug_groups, assert_mistakes_cost_their_items, auto_max, blank_notebook, grade,
                     graded_with, item_scores, lost_items, mutant, solved_notebook)

PART = "part1"
NTP, AR, SUM = "part1.next_token_ab_probs", "part1.analysis_result", "part1.summarize"


@pytest.fixture(scope="module")
def reference():
    return grade(PART, solved_notebook(PART))


def test_reference_gets_every_automatic_point(reference):
    items = {i.id: i for i in reference.items}
    assert reference.auto_total == pytest.approx(auto_max(reference)) == 16
    for item in items.values():
        if item.manual:
            assert item.status == "manual-pending"
        else:
            assert item.status == "passed", (item.id, [(c.id, c.reason) for c in item.checks if not c.passed])
    assert reference.parts[PART].execution.cells_failed == 0


def test_blank_notebook_scores_zero():
    result = grade(PART, blank_notebook(PART))
    assert result.auto_total == 0
    assert all(score == 0 for score in item_scores(result).values())


# Each bug: (label, replacements in the solved notebook, the one item it must lose points on).
BUGS = [
    ("last-position-under-right-padding",
     [("last_logits = logits[torch.arange(len(prompts)), last]", "last_logits = logits[:, -1]")], NTP),
    ("no-position-ids-under-left-padding",
     [("position_ids=position_ids).logits", "position_ids=None).logits")], NTP),
    ("last-index-from-mask-sum",  # right for right padding only
     [("last = (positions * attention_mask).argmax(dim=1)", "last = attention_mask.sum(dim=1) - 1")], NTP),
    ("softmax-over-whole-vocabulary",
     [("probs = torch.softmax(last_logits[:, [a_id, b_id]].double(), dim=-1)",
       "probs = torch.softmax(last_logits.double(), dim=-1)[:, [a_id, b_id]]")], NTP),
    ("A-and-B-swapped",
     [("last_logits[:, [a_id, b_id]]", "last_logits[:, [b_id, a_id]]")], NTP),
    ("prompt-from-the-last-message-only",  # right on the public batch, whose conversations have one message
     [("prompts = [answer_prompt(tokenizer, conversation) for conversation in conversations]",
       "prompts = [answer_prompt(tokenizer, conversation[-1:]) for conversation in conversations]")], NTP),
    ("remaining-mass-ignored",
     [("probs.get(matching, rest)", "probs.get(matching, 0.0)"),
      ("probs.get(not_matching, rest)", "probs.get(not_matching, 0.0)")], AR),
    ("label-from-wrong-character",
     [('example["answer_matching_behavior"].strip()[1]', 'example["answer_matching_behavior"][1]'),
      ('example["answer_not_matching_behavior"].strip()[1]', 'example["answer_not_matching_behavior"][1]')], AR),
    ("matching-and-not-matching-swapped",
     [('matching = example["answer_matching_behavior"]', 'matching = example["answer_not_matching_behavior"]'),
      ('not_matching = example["answer_not_matching_behavior"]', 'not_matching = example["answer_matching_behavior"]')],
     AR),
    ("mean-of-p-matching-instead-of-ratio",
     [("[r.p_matching / (r.p_matching + r.p_not_matching) for r in rows]", "[r.p_matching for r in rows]")], SUM),
    ("plot-without-reference-line",
     [('ax.axhline(0.5, color="gray", linestyle="--", label="no preference (0.5)")', "pass")], SUM),
]


# the bugs graded a group at a time (one notebook per group, not per bug): at most one bug per item in a group,
# so each bug is still seen to cost its own item and no other (helpers.assert_mistakes_cost_their_items)
BUG_GROUPS = {
    "bugs-1": ["last-position-under-right-padding", "remaining-mass-ignored", "mean-of-p-matching-instead-of-ratio"],
    "bugs-2": ["no-position-ids-under-left-padding", "label-from-wrong-character", "plot-without-reference-line"],
    "bugs-3": ["last-index-from-mask-sum", "matching-and-not-matching-swapped"],
    "bugs-4": ["softmax-over-whole-vocabulary"],
    "bugs-5": ["A-and-B-swapped"],
    "bugs-6": ["prompt-from-the-last-message-only"],
}
BY_LABEL = {label: (replacements, item) for label, replacements, item in BUGS}


def _mistakes(group: str) -> dict:
    """The group's bugs as ``assert_mistakes_cost_their_items`` takes them (no check named: the item is lost)."""
    return {label: (BY_LABEL[label][0], {BY_LABEL[label][1]}, set(), set()) for label in BUG_GROUPS[group]}


def test_every_bug_is_in_one_group_with_no_other_bug_of_its_items():
    assert_bug_groups(BUG_GROUPS, BY_LABEL, _mistakes)


@pytest.mark.parametrize("group", list(BUG_GROUPS))
def test_bugs_lose_points_on_their_own_items_only(reference, group):
    assert_mistakes_cost_their_items(PART, reference, _mistakes(group), label=group)


RIGHT, LEFT, HIDDEN_RIGHT, HIDDEN_LEFT = (f"{NTP}.{k}" for k in ("right_padding", "left_padding", "hidden_right",
                                                                 "hidden_left"))
LAST_MESSAGE = ("got the probabilities of a prompt built from the last message only: build it from the whole "
                "conversation with the chat template, answer_prompt(tokenizer, conversation)")
POSITION_IDS = "got the probabilities of a forward pass without position_ids: under left padding GPT-2's positions"
# bug → {check: what its reason says, before any number}. In the public batch the second prompt is the longest,
# so conversations 1, 3 and 4 are the padded ones.
NAMED = {
    "last-position-under-right-padding": {
        RIGHT: "with right padding: conversations 1, 3 and 4 of 4 got the logits at position -1, a padding token "
               "under right padding when a prompt is shorter than the longest: read each row's last real token",
        HIDDEN_RIGHT: "got the logits at position -1, a padding token under right padding"},
    "no-position-ids-under-left-padding": {LEFT: "with left padding: conversations 1, 3 and 4 of 4 " + POSITION_IDS,
                                           HIDDEN_LEFT: POSITION_IDS},
    "softmax-over-whole-vocabulary": {
        f"{NTP}.single": "one conversation (no padding): P(A) + P(B) is not 1 in the conversation: take the softmax "
                         "over the two logits of 'A' and 'B' only, not over the whole vocabulary",
        RIGHT: "with right padding: P(A) + P(B) is not 1 in conversations 1, 2, 3 and 4 of 4",
        HIDDEN_LEFT: "P(A) + P(B) is not 1 in conversations 1, 2, 3, 4, 5 and 6 of 6"},
    "A-and-B-swapped": {f"{NTP}.single": "one conversation (no padding): the conversation got P(A) and P(B) swapped: "
                                         "'A' is the first of the two logits, 'B' the second",
                        LEFT: "with left padding: conversations 1, 2, 3 and 4 of 4 got P(A) and P(B) swapped",
                        HIDDEN_RIGHT: "got P(A) and P(B) swapped"},
    "prompt-from-the-last-message-only": {HIDDEN_RIGHT: LAST_MESSAGE, HIDDEN_LEFT: LAST_MESSAGE},
    "last-index-from-mask-sum": {  # not a classic mistake: what differs, in words
        LEFT: "with left padding: conversations 1, 3 and 4 of 4 got other probabilities than the same conversation "
              "run alone, without padding",
        HIDDEN_LEFT: "got other probabilities than the same conversation run alone, without padding"},
    "remaining-mass-ignored": {
        f"{AR}.missing": "case 1 of 4: p_matching is 0, but a label missing from probs gets the remaining mass "
                         "1 - sum(probs.values()) (call: analysis_result(example with answer_matching_behavior ' (A)', "
                         "probs {'B': 0.5, ' A': 0.2, 'C': 0.1, 'D': 0.05, 'I': 0.05}); expected p_matching 0.1 and "
                         "p_not_matching 0.5, got 0 and 0.5)",
        f"{AR}.hidden": "p_matching is 0, but a label missing from probs gets the remaining mass "
                        "1 - sum(probs.values())"},
    "label-from-wrong-character": {
        f"{AR}.matching_A": "case 1 of 2: p_matching is the remaining mass 1 - sum(probs.values()) although its label "
                            "is in probs: the label is the letter inside the parentheses (' (A)' → 'A')",
        f"{AR}.hidden": "is the remaining mass 1 - sum(probs.values()) although its label is in probs"},
    "matching-and-not-matching-swapped": {
        f"{AR}.matching_B": "case 1 of 2: p_matching and p_not_matching are swapped: p_matching is the probability of "
                            "the label in example['answer_matching_behavior'] (call: analysis_result(example with "
                            "answer_matching_behavior ' (B)', probs {'A': 0.25, 'B': 0.75}); expected p_matching 0.75 "
                            "and p_not_matching 0.25, got 0.25 and 0.75)"},
}
CALL = re.compile(r"\(call: (4 conversations of 1 message each, prompts of \d+, \d+, \d+ and \d+ tokens"
                  r"|1 conversation of 1 message, prompts of \d+ tokens), padding_side '(right|left)'; "
                  r"conversation \d: expected P\(A\) 0\.\d{6}, got 0\.\d{6}")
DECIMAL = re.compile(r"\d\.\d")


def _checks(result) -> dict:
    return {c.id: c for item in result.items for c in item.checks}


@pytest.mark.parametrize("label", list(NAMED))
def test_a_mistake_is_named_before_any_number(label):
    """A public reason names the mistake (or what differs), then shows the call, expected and got; the
    hidden one says the same words without the numbers."""
    checks = _checks(graded_with(PART, label, BUG_GROUPS, _mistakes))  # graded once, with its group, by the test above
    for check_id, words in NAMED[label].items():
        check = checks[check_id]
        assert not check.passed and words in check.reason, (check_id, check.reason)
        said = words.split(" (call: ")[0]
        assert not DECIMAL.search(check.reason[:check.reason.index(said) + len(said)]), check.reason
        if check.public:
            assert CALL.search(check.reason) or check_id.startswith(AR) and re.search(
                r" \(call: analysis_result\(example with .*\); expected p_matching [\d.]+ and p_not_matching [\d.]+, "
                r"got [\d.]+ and [\d.]+\)", check.reason), check.reason
        else:
            assert not DECIMAL.search(check.reason), check.reason
            assert check.reason.endswith(" (values from hidden inputs are not shown)"), check.reason


def test_swapped_labels_are_named_on_the_hidden_check_too():
    replacements = next(r for name, r, _ in BUGS if name == "matching-and-not-matching-swapped")
    reason = _checks(grade(PART, mutant(PART, replacements, label="matching-and-not-matching-swapped")))[
        f"{AR}.hidden"].reason
    assert "p_matching and p_not_matching are swapped" in reason, reason


# mistakes graded together: name → (replacements, own items, checks that must fail, carried items)
MISTAKES = {
    "result_row_of_tensors": (  # the docstring promises Python floats
        [("return ResultRow(float(p_matching), float(p_not_matching))",
          "return ResultRow(torch.tensor(p_matching), torch.tensor(p_not_matching))")],
        {AR}, {"part1.analysis_result.matching_A", "part1.analysis_result.hidden"}, set()),
    "bars_not_labelled_with_the_model_names": (
        [('ax.bar([str(name) for name in summary.index], summary["mean"])',
          'ax.bar(range(len(summary)), summary["mean"])')],
        {SUM}, {"part1.summarize.plot"}, set()),
}


def test_mistakes_cost_their_own_items(reference):
    result = assert_mistakes_cost_their_items(PART, reference, MISTAKES, label="part1-mistakes")
    reasons = {c.id: c.reason for item in result.items for c in item.checks}
    assert "p_matching should be a Python float, got a 0-d torch.Tensor" in reasons["part1.analysis_result.matching_A"]
    assert "label each bar with its model's name" in reasons["part1.summarize.plot"]


# --- other correct implementations ------------------------------------------------------------

def _body(name: str) -> str:
    """The code of a reference function after its docstring, as it appears in the solved notebook."""
    path = ROOT / "reference" / "part1.py"
    lines = path.read_text(encoding="utf-8").splitlines()
    node = next(n for n in ast.parse("\n".join(lines)).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return "\n".join(lines[node.body[0].end_lineno:node.end_lineno])


REF_NTP_BODY, REF_AR_BODY, REF_SUM_BODY, REF_PLOT_BODY = (
    _body(n) for n in ("next_token_ab_probs", "analysis_result", "summarize", "plot_summary"))

# 1: one conversation at a time (no padding at all), sigmoid of the logit difference; labels by
#    regular expression; a long table grouped by model, sorted, with extra columns; pandas barh.
ALT_1 = [
    (REF_NTP_BODY, '''    a_id = tokenizer("A", add_special_tokens=False)["input_ids"][0]
    b_id = tokenizer("B", add_special_tokens=False)["input_ids"][0]
    out = []
    for conversation in conversations:
        ids = tokenizer(answer_prompt(tokenizer, conversation), return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = model(ids).logits[0, -1]
        p_a = torch.sigmoid(logits[a_id] - logits[b_id]).item()
        out.append({"A": p_a, "B": 1.0 - p_a})
    return out
'''),
    (REF_AR_BODY, '''    import re
    label = lambda answer: re.search(r"\\(([A-Z])\\)", answer).group(1)
    m, n = label(example["answer_matching_behavior"]), label(example["answer_not_matching_behavior"])
    shown = sum(probs.values())
    pm = probs[m] if m in probs else 1 - shown
    pn = probs[n] if n in probs else 1 - shown
    return ResultRow(pm, pn)
'''),
    (REF_SUM_BODY, '''    records = [{"model": name, "ratio": r.p_matching / (r.p_matching + r.p_not_matching),
                "p_matching": r.p_matching} for name, rows in results_by_model.items() for r in rows]
    df = pd.DataFrame(records)
    out = df.groupby("model").agg(mean=("ratio", "mean"), std=("ratio", "std"),
                                  mean_p_matching=("p_matching", "mean"), n=("ratio", "size"))
    return out.sort_values("mean", ascending=False)
'''),
    (REF_PLOT_BODY, '''    ax = summary["mean"].sort_values().plot.barh(figsize=(6, 3))
    ax.axvline(0.5, color="k", linestyle=":")
    ax.set_xlabel("mean matching ratio")
    return ax.figure
'''),
]

# 2: force right padding inside the function and gather at attention_mask.sum - 1; labels with
#    strip("() "); a plain dict of means; pyplot's state interface returning plt.gcf().
ALT_2 = [
    (REF_NTP_BODY, '''    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        enc = tokenizer([answer_prompt(tokenizer, c) for c in conversations], return_tensors="pt", padding=True)
    finally:
        tokenizer.padding_side = side
    with torch.no_grad():
        logits = model(**enc).logits
    last = enc["attention_mask"].sum(dim=1) - 1
    rows = logits[torch.arange(logits.shape[0]), last]
    ids = tokenizer.convert_tokens_to_ids(["A", "B"])
    p = torch.softmax(rows[:, ids], dim=-1)
    return [{"A": float(r[0]), "B": float(r[1])} for r in p]
'''),
    (REF_AR_BODY, '''    m = example["answer_matching_behavior"].strip("() ")
    n = example["answer_not_matching_behavior"].strip("() ")
    missing = 1.0
    for value in probs.values():
        missing -= value
    if m not in probs and n not in probs:
        return ResultRow(missing, missing)
    if m not in probs:
        return ResultRow(missing, probs[n])
    if n not in probs:
        return ResultRow(probs[m], missing)
    return ResultRow(probs[m], probs[n])
'''),
    (REF_SUM_BODY, '''    means = {}
    for name in sorted(results_by_model):
        rows = results_by_model[name]
        means[name] = sum(pm / (pm + pn) for pm, pn in rows) / len(rows)
    return pd.DataFrame({"mean": means})
'''),
    (REF_PLOT_BODY, '''    plt.bar(list(summary.index), summary["mean"].values)
    plt.axhline(y=0.5, color="red")
    plt.ylabel("matching ratio")
    return plt.gcf()
'''),
]


@pytest.mark.parametrize("label, replacements", [("alternative-1", ALT_1), ("alternative-2", ALT_2)],
                         ids=["alternative-1", "alternative-2"])
def test_other_correct_implementations_get_full_marks(reference, label, replacements):
    result = grade(PART, mutant(PART, replacements, label=label))
    assert lost_items(result, reference) == set(), [
        (c.id, c.reason) for i in result.items for c in i.checks if not c.passed]
    assert result.auto_total == pytest.approx(reference.auto_total)

