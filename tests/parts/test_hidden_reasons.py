"""Hidden checks of Parts 1 and 2 tell nothing of their inputs, whatever a notebook sends back.

An "echo" notebook per part (the solved one, with its graded functions replaced) returns wrong values
built from each call's own arguments, through every channel a reason could repeat: strings carrying
them (in backticks and quotes), numbers equal to them, dict keys, exception messages, objects of
classes named after them. It is graded once; every hidden check's reason — as stored and as the
feedback renders it — holds none of the check's hidden inputs, none of the echo's text (each echoed
string and class name carries "echo"), no number with 3 or more decimals, and reads as a sentence in
the check's own words: no "another type", no "…" glued to a word or number, not the net's generic
reason (``graders.checks.base``).
"""
from __future__ import annotations

import html
import re

import pytest

from graders.reasons import leaks, texts_in
from graders.report.feedback import to_html, to_markdown
from helpers import grade, plan_for, with_cell

ECHO = {"part1": '''
import re as _re
from collections import namedtuple as _namedtuple


def _echo_name(text):
    """A class name made of the argument's words."""
    return "Echo" + "".join(w.capitalize() for w in _re.findall(r"[A-Za-z]+", str(text))[:8])


def next_token_ab_probs(model, tokenizer, conversations):
    texts = [m["content"] for c in conversations for m in c]
    if tokenizer.padding_side == "left":
        raise ValueError(f"echo `{texts[0]}` '{texts[-1]}' {texts!r}")
    return [{f"`echo {c[-1]['content']}`": float(len(c)), "B": repr(c[-1]["content"])} for c in conversations]


def analysis_result(example, probs):
    row = _namedtuple(_echo_name(example["question"]), "p_matching p_not_matching")
    values = sorted(probs.values())
    return row(values[0], values[-1])


def summarize(results_by_model):
    return pd.DataFrame({"mean": [float(len(rows)) for rows in results_by_model.values()],
                         "echo": [f"'echo {name}'" for name in results_by_model]},
                        index=[f"`echo {name}`" for name in results_by_model])
''', "part2": '''
import re as _re


def _echo_object(text):
    """An object of a class named after the argument."""
    return type("Echo" + "".join(w.capitalize() for w in _re.findall(r"[A-Za-z0-9]+", str(text))[:8]), (), {})()


def encode(tokenizer, text):
    return {f"`echo {text}`": repr(text), "input_ids": f"'echo {text}'", "attention_mask": text}


def compute_loss(model, inputs):
    return float(inputs["input_ids"].sum())


def random_directions(model, seed):
    return ([torch.full_like(p, float(seed)) for p in model.parameters()],
            [torch.full_like(p, -float(seed)) for p in model.parameters()])


def cosine_similarity(d1, d2):
    raise ValueError(f"echo `{d1[0].flatten()[:4].tolist()}` '{d2[0].flatten()[:4].tolist()}'")


def loss_landscape(model, inputs, d1, d2, xs, ys):
    return np.add.outer(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float))


def plot_landscape(xs, ys, Z):
    return _echo_object(f"xs {np.asarray(xs).tolist()} ys {np.asarray(ys).tolist()}")
'''}

HIDDEN = {
    "part1": ["part1.next_token_ab_probs.hidden_right", "part1.next_token_ab_probs.hidden_left",
              "part1.analysis_result.hidden", "part1.summarize.hidden"],
    "part2": ["part2.encode.hidden", "part2.compute_loss.hidden", "part2.random_directions.hidden",
              "part2.cosine_similarity.hidden", "part2.loss_landscape.hidden", "part2.plot_landscape.hidden"],
}
#: hidden checks whose reasons still depend on a change in a shared module (asked of the lead engineer)
NET = "the details are not shown: they would repeat what your code returned"
GLUED = re.compile(r"\w…|…\w")
DECIMALS = re.compile(r"\d\.\d{3}")


def _secrets(part: str, check_id: str) -> tuple[list[str], list[str]]:
    """The check's hidden input texts (5+ characters, not part of any public input) and large integers."""
    checks = plan_for(part).checks[part]
    public = [t for c in checks if c.public for p in c.probes for t in texts_in((p.args, p.kwargs))]
    check = next(c for c in checks if c.id == check_id)
    args = [(p.args, p.kwargs) for p in check.probes]
    texts = {t.strip() for t in texts_in(args) if len(t.strip()) >= 5}
    return sorted(t for t in texts if not any(t in other for other in public)), sorted(_integers(args))


def _integers(value, depth: int = 0) -> set[str]:
    if depth > 20 or isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {str(abs(value))} if abs(value) >= 1000 else set()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return set().union(*(_integers(v, depth + 1) for v in value)) if value else set()
    return set()


def _echoed(part: str):
    return grade(part, with_cell(part, ECHO[part], label=f"echo-{part}"))  # graded once per session


def _feedback_lines(result, check_id: str) -> list[str]:
    """The line that covers the check in the Markdown and in the HTML feedback (unescaped): its
    description, its reason and the ids of the checks it covers."""
    markdown = [ln for ln in to_markdown(result).splitlines() if f"`{check_id}`" in ln]
    page = to_html(result)
    marker = f"<code class='id'>{html.escape(check_id)}</code>"
    rendered = [html.unescape(m) for m in re.findall(r"<li[^>]*>(.*?)</li>", page) if marker in m]
    return markdown + rendered


def _problems(text: str, texts: list[str], integers: list[str]) -> list[str]:
    folded = text.casefold()
    found = [f"hidden input {t[:40]!r}" for t in texts if t.casefold() in folded]
    found += ["a run of a hidden input"] if leaks(text, texts) else []
    found += [f"hidden integer {n}" for n in integers if n in text]
    found += ["the echo's text"] if "echo" in folded else []
    found += ["a number with 3+ decimals"] if DECIMALS.search(text) else []
    found += ["'another type'"] if "another type" in text else []
    found += ["'…' glued to a word"] if GLUED.search(text) else []
    found += ["the net's generic reason"] if NET in text else []
    return found


CASES = [pytest.param(part, cid, id=cid) for part, ids in HIDDEN.items() for cid in ids]


@pytest.mark.parametrize("part, check_id", CASES)
def test_a_hidden_reason_repeats_nothing_the_notebook_echoed(part, check_id):
    result = _echoed(part)
    check = next(c for item in result.items for c in item.checks if c.id == check_id)
    assert not check.public and not check.passed, (check_id, check.reason)
    texts, integers = _secrets(part, check_id)
    lines = _feedback_lines(result, check_id)
    assert len(lines) == 2, lines
    for text in [check.reason, *lines]:
        assert not _problems(text, texts, integers), (check_id, _problems(text, texts, integers), text)


def test_the_hidden_inputs_looked_for_are_found():
    """The test above is not vacuous: the conversations, model names, sentence and seed are found."""
    for part, check_id in [("part1", "part1.next_token_ab_probs.hidden_right"), ("part1", "part1.summarize.hidden"),
                           ("part2", "part2.encode.hidden")]:
        texts, _ = _secrets(part, check_id)
        assert texts, check_id
    assert _secrets("part1", "part1.next_token_ab_probs.hidden_left")[0][0].count(" ") > 10  # a whole question
    assert _secrets("part2", "part2.random_directions.hidden")[1]
