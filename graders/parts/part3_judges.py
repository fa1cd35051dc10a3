"""Part 3's judges: what makes a returned value right, and the reason a student reads when it is not.

Each ``_*_judge`` / ``*_problem`` returns None (right), a ``Note`` (right, with a remark) or one line
a student can act on; each ``_*_rule`` builds the rule of one check. The decoders' hypotheses are
judged against a ``Search`` (the expected hypotheses of one call, and what a classic misreading of
``max_length`` gives instead); BLEU against the reference's report (its precisions, brevity penalty
and the values of the classic mistakes); translations string for string; attention tensors by shape
and value; the heatmap by its data. The checks that use them: ``graders.parts.part3``.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from graders.checks.figure import FigureCheck
from graders.checks.rules import Note, Property
from graders.checks.values import (as_array, as_number, describe_type, describe_value,
                                    python_float_problem)
from graders.probe.transport import FigureData, KernelArray, Outcome
from graders.reasons import hidden

#: scores are sums of up to ~40 float32 log-probabilities (round-off ~1e-5)
SCORE_ATOL, SCORE_RTOL = 1e-4, 1e-5
BLEU_ATOL = 1e-6
HAMMING_ATOL = 1e-9
ATTENTION_ATOL = 1e-5


# --- predicates (None when fine, else one line a student can act on) ---------------------------
# A reason is one sentence: what may carry a hidden input, an expected value or what the kernel sent
# sits in a ``hidden`` slot (``graders.reasons``), which a check with hidden inputs shows in the
# slot's own words. Positions ("hypothesis 2", "text 1 of 2") and the grader's words stay plain.

def _score_tol(score: float) -> float:
    return SCORE_ATOL + SCORE_RTOL * abs(score)


@dataclass(frozen=True)
class Search:
    """One case of a beam search decoder: its arguments, the expected ``(text, score)`` hypotheses,
    each expected text's number of tokens (prompt included, EOS not counted: it is skipped when
    decoding), and ``new_tokens``: what a search gives that generates ``max_length`` tokens *after*
    the prompt (None when that is the same), so that this classic misreading can be named."""

    prompt: str
    k: int
    max_length: int
    prompt_len: int
    expected: tuple
    lengths: tuple
    new_tokens: tuple | None = None
    extra: str = ""          # the other arguments (enhanced decoder), as the call shows them
    enhanced: bool = False

    def details(self) -> str:
        listing = ", ".join(f"({t!r}, {s:.4f})" for t, s in self.expected)
        return f"text={self.prompt!r}, k={self.k}, max_length={self.max_length}{self.extra}; expected [{listing}]"

    def finished(self, n: int) -> bool:
        """Does an expected hypothesis of ``n`` tokens end with EOS? (An unfinished one has exactly
        ``max_length`` tokens: the search only stops early when every hypothesis is finished.)"""
        return n < self.max_length


def _hypotheses_judge(case: Search, tok) -> Callable[[Outcome], str | None]:
    """The k (text, score) pairs, best first, against ``case``; the classic mistakes named."""
    specials = [s for s in getattr(tok, "all_special_tokens", []) if s]

    def n_tokens(text: str) -> int:
        return len(tok(text[:2000], verbose=False).input_ids)

    def judge(outcome: Outcome) -> str | None:
        value = outcome.value
        if not isinstance(value, (list, tuple)):
            return f"should return a list of (text, score) tuples, got {describe_type(outcome)}"
        if len(value) != case.k:
            return (f"returned {hidden(len(value), shown='the wrong number of')} hypotheses; expected "
                    f"{hidden(case.k, shown='k')} (the k best)")
        got = []
        for i, pair in enumerate(value, 1):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                return f"hypothesis {i} should be a (text, score) tuple, got {describe_value(pair)}"
            text, score = pair
            if not isinstance(text, str):
                return f"hypothesis {i}: the text should be a str (the decoded sequence), got {describe_value(text)}"
            if problem := python_float_problem(score, f"hypothesis {i}: the score"):
                return problem
            number = as_number(score)
            if not np.isfinite(number):
                return f"hypothesis {i}: the score is {number}; a sum of log-probabilities of chosen tokens is finite"
            got.append((text, number))
        if case.new_tokens is not None and _same_hypotheses(got, case.new_tokens):
            return ("your hypotheses are what a search gives that generates max_length tokens after the prompt: "
                    "max_length counts the prompt's tokens too"
                    + hidden(f" (here {case.prompt_len} prompt tokens, so at most "
                             f"{case.max_length - case.prompt_len} generated ones)", shown=""))
        if any(got[i + 1][1] > got[i][1] + _score_tol(got[i][1]) for i in range(len(got) - 1)):
            return "the hypotheses are not sorted by score, best first"
        missing = Counter(t for t, _ in case.expected) - Counter(t for t, _ in got)
        if missing:
            return _texts_problem(got, case, missing, specials, n_tokens)
        unmatched = list(range(len(got)))
        for (text, score), length in zip(case.expected, case.lengths):
            j = min((j for j in unmatched if got[j][0] == text), key=lambda j: abs(got[j][1] - score))
            if abs(got[j][1] - score) > _score_tol(score):
                return _score_problem(j, got[j], score, length, case)
            unmatched.remove(j)
        for i, (text, score) in enumerate(case.expected):  # the same hypotheses: now the order
            if got[i][0] != text and abs(got[i][1] - score) > _score_tol(score):
                return ("the hypotheses are right but not in the expected order (best score first)"
                        + hidden(f": hypothesis {i + 1} should be {text!r}", shown=""))
        return None

    return judge


def _same_hypotheses(got: Sequence[tuple[str, float]], other: Sequence[tuple[str, float]]) -> bool:
    return len(got) == len(other) and all(g[0] == o[0] and abs(g[1] - o[1]) <= _score_tol(o[1])
                                          for g, o in zip(got, other))


def _texts_problem(got, case: Search, missing: Counter, specials, n_tokens) -> str:
    """Why some expected texts are not among the student's: special tokens left in, the prompt left
    out, a hypothesis longer than ``max_length`` or going on after EOS, or (else) which differ and
    whether the student's are longer or shorter."""
    left, extra = Counter(t for t, _ in case.expected), []  # the student's hypotheses beyond the expected ones
    for j, (t, _) in enumerate(got):
        if left[t]:
            left[t] -= 1
        else:
            extra.append(j)
    i, text = extra[0], got[extra[0]][0]
    mine = hidden(f" {text!r}", shown="")
    if text in {t for t, _ in case.expected}:
        first = next(j for j, (t, _) in enumerate(got) if t == text)
        return (f"your hypothesis {i + 1}{mine} has the same text as your hypothesis {first + 1}; the expected "
                "hypotheses have it once")
    if any(s in text for s in specials):
        return f"your hypothesis {i + 1}{mine} holds a special token: decode with skip_special_tokens=True"
    if text.strip() and not text.startswith(case.prompt) and any(t.endswith(text.strip()) for t in missing):
        return (f"your hypothesis {i + 1}{mine} is the continuation only: its text is the decoded prompt + "
                "continuation")
    lengths = [n_tokens(t) for t, _ in got]
    if (too_long := [j for j, n in enumerate(lengths) if n > case.max_length]):
        j = too_long[0]
        return (f"your hypothesis {j + 1} is longer than max_length allows"
                + hidden(f" ({got[j][0]!r} has {lengths[j]} tokens; max_length = {case.max_length})", shown="")
                + ": max_length counts the prompt's tokens" + hidden(f" ({case.prompt_len} here)", shown="")
                + " plus the generated ones")
    finished = [t for (t, _), n in zip(case.expected, case.lengths) if case.finished(n)]
    for j in extra:
        t = got[j][0]
        if (ended := next((f for f in finished if t.startswith(f) and t != f), None)):
            return (f"your hypothesis {j + 1} goes on after the end-of-sequence token"
                    + hidden(f" ({t!r} continues the finished {ended!r})", shown="")
                    + ": a hypothesis ending with it is finished — not expanded again, but kept among the "
                      "candidates with its score")
    longest, expected_longest = max(lengths), max(case.lengths)
    how = ""
    if longest != expected_longest:
        how = f"; yours are {'longer' if longest > expected_longest else 'shorter'} than the expected ones" + hidden(
            f" (up to {longest} tokens against {expected_longest}, prompt included)", shown="")
    first_missing, n = next(iter(missing)), sum(missing.values())
    return (f"your hypothesis {i + 1}{mine} is not among the {hidden(case.k, shown='k')} best: "
            f"{n} of the expected ones {'is' if n == 1 else 'are'} missing"
            + hidden(f", e.g. {first_missing!r}", shown="") + how)


def _score_problem(j: int, hypothesis: tuple[str, float], want: float, length: int, case: Search) -> str:
    """A right text with a wrong score: the classic causes recognised by the value."""
    text, got = hypothesis
    finished = case.finished(length)
    generated = length - case.prompt_len + (1 if finished else 0)
    causes = [(math.exp(want), "it is a product of probabilities; a score is the sum of the natural-log probabilities"),
              (want / math.log(10), "it is a sum of base-10 logs; use the natural log"),
              (want / max(generated, 1), "it is divided by the number of generated tokens; no length normalisation"),
              (want / max(length, 1), "it is divided by the sequence length; no length normalisation")]
    cause = next((why for value, why in causes if abs(value - want) > _score_tol(want)
                  and abs(got - value) <= _score_tol(value)), None)
    if cause is None and case.enhanced and got < want:
        cause = ("it is lower than the log-probability: return the un-penalised score (the diversity penalty only "
                 "chooses the survivors)")
    if cause is None and finished and got > want:
        cause = ("it is higher than the log-probability: a finished hypothesis's score includes its end-of-sequence "
                 "token's log-probability")
    cause = cause or ("a score is the sum of the natural-log probabilities of the generated tokens (EOS included "
                      "when generated), with no length normalisation")
    return (f"the score of your hypothesis {j + 1} is "
            + hidden(f"{got:.6g} for {text!r}, expected {want:.6g}", shown="wrong") + f": {cause}")


def _hamming_judge(sequence: list[int], others: list[list[int]], factor: float, expected: float):
    """The penalty against ``expected``; a value that a classic mistake gives is named."""
    agree = sum(sum(a == b for a, b in zip(sequence, o)) for o in others)
    differ = sum(sum(a != b for a, b in zip(sequence, o)) for o in others)
    variants = [(factor * differ, "counts the positions where the sequences differ (the Hamming distance); the "
                                  "penalty counts those where they agree"),
                (float(agree), "is the number of agreeing positions without the diversity factor"),
                (factor * agree / max(len(others), 1),
                 "averages over the chosen sequences; the penalty sums over them"),
                (-factor * agree, "has the wrong sign: the penalty is positive (the search subtracts it)")]

    def judge(value) -> str | None:
        if problem := python_float_problem(value, "calculate_hamming_penalty"):
            return problem
        got = as_number(value)
        if abs(got - expected) <= HAMMING_ATOL + 1e-9 * abs(expected):
            return None
        cause = next((why for v, why in variants if abs(v - expected) > HAMMING_ATOL and abs(got - v) <= HAMMING_ATOL),
                     None)
        if cause:
            return f"wrong penalty: your value {cause}"
        return ("wrong penalty (it counts, for every chosen sequence, the positions up to the shorter length where "
                "the two sequences agree, times the diversity factor)")

    return judge


def _translations_rule(probe_id: str, sentences: Sequence[str], expected: Sequence[str], *, call: str,
                       prompt_hint: str):
    def predicate(outcome: Outcome):
        value = outcome.value
        if not isinstance(value, (list, tuple)):
            return f"should return a list of strings, got {describe_type(outcome)}"
        if len(value) != len(expected):
            return (f"returned {hidden(len(value), shown='the wrong number of')} translations for {len(expected)} "
                    "sentences")
        if not all(isinstance(v, str) for v in value):
            i = next(i for i, v in enumerate(value) if not isinstance(v, str))
            return f"every translation should be a str; translation {i + 1} is {describe_value(value[i])}"
        wrong = [i for i, (v, e) in enumerate(zip(value, expected)) if v != e]
        if not wrong:
            return None
        first = value[wrong[0]]
        hint = ""
        if any(tag in first for tag in ("</s>", "<pad>", "<|endoftext|>", "<unk>")):
            hint = ": skip special tokens when decoding"
        elif prompt_hint and prompt_hint in first:
            hint = ": return only the translation, not the prompt"
        elif first != first.strip():
            hint = ": strip surrounding whitespace"
        which = ", ".join(str(i + 1) for i in wrong[:8]) + (", …" if len(wrong) > 8 else "")
        n = wrong[0]
        return (f"{len(wrong)} of {len(expected)} translations differ from the model's greedy translation "
                f"(sentence{'s' if len(wrong) > 1 else ''} {which}){hint}"
                + hidden(f"; {call}: for {sentences[n]!r} the expected translation is {expected[n]!r}, "
                         f"yours {first!r}", shown=""))

    return Property([probe_id], predicate, outcomes=True)


def _attention_problem(value: Any, expected, *, call: str = "") -> str | None:
    """The (encoder self-attentions, cross-attentions, output ids) triple against the expected one.
    ``call`` (how the function was called) ends a reason in a slot."""
    enc_exp, cross_exp, ids_exp = (np.asarray(x) for x in expected)
    called = hidden(f" ({call})", shown="") if call else ""
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        return f"should return a tuple (encoder_self_attentions, cross_attentions, output_ids), got {describe_value(value)}"
    enc, cross, ids = value
    notes = []
    enc, cross = (_stacked(name, got, notes) for name, got in (("encoder_self_attentions", enc),
                                                               ("cross_attentions", cross)))
    for name, got, exp, layout in [
        ("output_ids", ids, ids_exp, "[1, tgt]"),
        ("encoder_self_attentions", enc, enc_exp, "[layers, 1, heads, src, src]"),
        ("cross_attentions", cross, cross_exp, "[layers, 1, heads, tgt, src]"),
    ]:
        if not isinstance(got, KernelArray):
            return f"{name} should be a torch tensor {layout}, got {describe_value(got)}"
        if got.shape != exp.shape:
            hint = ""
            if got.ndim == exp.ndim - 1 and tuple(got.shape) == tuple(exp.shape[1:]):
                hint = ": it holds one layer; stack every layer (torch.stack over the tuple transformers returns)"
            elif sorted(got.shape) == sorted(exp.shape):
                hint = ": the dimensions are in another order"
            return (f"{name} has {hidden(f'shape {tuple(got.shape)}', shown='the wrong shape')}, expected {layout}"
                    + hidden(f" = {tuple(exp.shape)}", shown="") + hint + called)
    if not np.array_equal(np.asarray(ids), ids_exp):
        at = int(np.argwhere(np.asarray(ids) != ids_exp)[0][-1])
        return ("output_ids differ from greedy model.generate(**inputs, max_new_tokens=32), first at position "
                f"{at}" + hidden(f" (expected id {int(ids_exp.reshape(-1)[at])}, got "
                                 f"{int(np.asarray(ids).reshape(-1)[at])})", shown="") + called)
    for name, got, exp in [("encoder_self_attentions", enc, enc_exp), ("cross_attentions", cross, cross_exp)]:
        a = np.asarray(got, dtype=np.float64)
        if not np.isfinite(a).all():
            return f"{name} contains NaN or inf"
        err = np.abs(a - exp)
        if not (err <= ATTENTION_ATOL).all():
            layer, _, head = (int(x) for x in np.argwhere(err > ATTENTION_ATOL)[0][:3])
            return (f"{name} differ from the model's, first at layer {layer}, head {head}"
                    + hidden(f" (largest error {float(err.max()):.3g})", shown="")
                    + ": take the encoder's self-attention and the decoder's cross-attention of one forward pass "
                      "with decoder_input_ids=output_ids, every layer, in order" + called)
    return Note("; ".join(notes)) if notes else None


def _stacked(name: str, got: Any, notes: list[str]) -> Any:
    """A tuple of per-layer tensors (what transformers returns) stacked into one tensor, with a note;
    anything else unchanged."""
    if not (isinstance(got, (list, tuple)) and got and all(isinstance(t, KernelArray) for t in got)
            and len({t.shape for t in got}) == 1):
        return got
    notes.append(f"{name} is a {type(got).__name__} of {len(got)} per-layer tensors; the docstring asks for "
                 "one stacked tensor (torch.stack) — accepted, the values are the same")
    stacked = np.stack([np.asarray(t) for t in got]).view(KernelArray)
    stacked.source = got[0].source
    return stacked


def _heatmap_rule(probe_id: str, weights: np.ndarray, layer: int, head: int, x_labels: Sequence[str],
                  y_labels: Sequence[str], title: str):
    """The figure draws ``weights[layer, 0, head]`` (rows = queries) with the tokens as tick labels and
    the given title; a drawing of another layer or head is named."""
    matrix = weights[layer, 0, head].astype(float)
    rows, cols = matrix.shape
    given = hidden(f" (layer {layer}, head {head})", shown="")

    def drawn(fig: FigureData):
        """(array, orientation) of every 2-D thing drawn that has the matrix's size."""
        for ax in fig.axes:
            arrays = [(im, ax) for im in ax.get("images", [])]
            arrays += [(c["array"], ax) for c in ax.get("collections", []) if "array" in c]
            for arr, owner in arrays:
                a = as_array(arr)
                if a is None or a.size != rows * cols:
                    continue
                if a.ndim == 2 and a.shape == (cols, rows) and rows != cols:
                    yield a.astype(float).T, "transposed", owner
                else:
                    yield a.astype(float).reshape(rows, cols), "rows", owner
                    if rows == cols:
                        yield a.astype(float).T, "transposed", owner

    def other_slice(candidates) -> str:
        for a, _, _ in candidates:
            for l_, h_ in np.ndindex(weights.shape[0], weights.shape[2]):
                if (l_, h_) != (layer, head) and np.allclose(a, weights[l_, 0, h_], atol=1e-6, rtol=1e-5):
                    return hidden(f": it draws layer {l_}, head {h_}", shown=": it draws another layer or head")
        return ""

    def predicate(fig: FigureData) -> str | None:
        candidates = list(drawn(fig))
        if not candidates:
            return ("no heatmap of the right size: draw the [queries, keys] matrix of the chosen layer and head "
                    "with imshow or pcolormesh" + hidden(f" ({rows} × {cols} here)", shown=""))
        matching = [(o, ax) for a, o, ax in candidates if np.allclose(a, matrix, atol=1e-6, rtol=1e-5)]
        if not matching:
            return (f"the heatmap does not show attentions[layer, 0, head]{given}{other_slice(candidates)} "
                    "(check the layer, head and batch indices)")
        for orientation, ax in matching:
            xs = [t for t in ax.get("xticklabels", [])]
            ys = [t for t in ax.get("yticklabels", [])]
            want_x, want_y = list(x_labels), list(y_labels)
            if orientation != "rows":
                want_x, want_y = want_y, want_x
            if xs == want_x and ys == want_y:
                if not any(title in (a.get("title") or "") for a in fig.axes):
                    titles = [a.get("title") or "" for a in fig.axes]
                    return ("the heatmap's axes should carry the given title (ax.set_title(title))"
                            + hidden(f": expected {title!r}, got {titles[:2]!r}", shown=""))
                return None
        xs, ys = matching[0][1].get("xticklabels", []), matching[0][1].get("yticklabels", [])
        return ("the tick labels should be the tokens: one per key on the columns, one per query on the rows"
                + hidden(f" (expected columns {list(x_labels)!r} and rows {list(y_labels)!r}; got {list(xs)[:12]!r} "
                         f"and {list(ys)[:12]!r})", shown=""))

    return FigureCheck(probe_id, predicate, what="heatmap")


def bleu_problem(value: Any, report: dict, corpus: tuple | None) -> str | None:
    """A student's corpus BLEU against the reference's ``report`` (``reference.part3.bleu_report``).

    The reason gives the expected value and its ingredients — the four clipped n-gram precisions,
    the brevity penalty and the corpus lengths — and, when the student's value is what a classic
    mistake gives, names that mistake. ``corpus`` puts the inputs in the reason. Values sit in one
    slot: a hidden check says that the BLEU is wrong and which mistake it matches, nothing more.
    """
    if problem := python_float_problem(value, "calculate_bleu_score"):
        return problem
    got = as_number(value)
    expected = float(report["bleu"])
    if np.isfinite(got) and abs(got - expected) <= BLEU_ATOL:
        return None
    inputs = f" for predictions {list(corpus[0])!r} and references {list(corpus[1])!r}" if corpus else ""
    precisions = ", ".join(f"{p:.4g}" for p in report["precisions"])
    values = hidden(f"BLEU {got:.6g}, expected {expected:.6g}{inputs}; the expected clipped precisions p1..p4 are "
                    f"{precisions} and the brevity penalty {report['brevity_penalty']:.4g} (c = "
                    f"{report['hypothesis_length']} hypothesis words, r = {report['reference_length']} reference "
                    "words)", shown="the BLEU is not the expected one")
    causes = [name for name, v in report["variants"].items()
              if abs(float(v) - expected) > BLEU_ATOL and np.isfinite(got) and abs(got - float(v)) <= BLEU_ATOL]
    if causes:
        return f"{values}: your value is the BLEU computed {causes[0]}"
    return (f"{values}: compare your " + hidden("precisions and brevity penalty with these",
                                                shown="clipped n-gram precisions, sums over the corpus and brevity "
                                                      "penalty with the docstring's definitions"))
