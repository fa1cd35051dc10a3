"""Part 3: Beam search, BLEU, translation, attention — the checks behind its rubric items
(see rubric.yaml, part `part3`).

What is checked, and how (expected values from ``ctx.reference("part3")``, computed once per run
on the shipped models, which are deterministic; the kernel gets fresh copies of the same models):

* ``beam_search_decoder``: the k hypotheses (decoded text and score) against the reference, on a
  fixed case and on hidden prompts with k = 1 (greedy), with a ``max_length`` long enough for the
  end-of-sequence token to be reached, and with a short one where it is not. Texts must be equal;
  scores (sums of natural-log probabilities) within ``SCORE_ATOL``; the order must be best first
  (hypotheses whose scores agree within the tolerance may come in either order).
* ``calculate_hamming_penalty``: numbers on fixed and hidden token lists of unequal lengths.
* ``enhanced_beam_search_decoder``: like beam search, with n-gram sizes 2 and 3 and diversity
  factors 0 (blocking only) and several positive ones.
* ``calculate_bleu_score``: corpus BLEU against the reference (itself tested against sacrebleu) on
  corpora built so that each classic mistake shows: no matching 4-gram (BLEU 0, no smoothing),
  repeated words and phrases (clipping), a short corpus whose last sentence is long and a long
  corpus whose first sentence is short (corpus-level brevity penalty), and several sentences of
  different quality (corpus BLEU is not the mean of sentence BLEUs).
* ``translate_seq2seq`` / ``translate_decoder_only``: the translations of fixed and hidden
  test-set sentences, string for string. (Their BLEU in the notebook is ``calculate_bleu_score``
  applied to these strings; it is not graded separately, so a wrong BLEU costs only its own item.)
* ``get_attention_weights``: shapes and values of the stacked encoder self-attention and
  cross-attention and the greedy output ids, on fixed and hidden texts.
* ``plot_attention_heatmap``: by its data — the figure draws the chosen layer/head of a
  grader-made attention tensor (as an image or a mesh), with the given tokens as tick labels.

Contract clauses → checks (each clause of the notebook's docstrings, and a check that fails an
implementation breaking that clause alone):

* ``beam_search_decoder``: all candidates ranked together → ``part3.beam_search``; k = 1 is greedy →
  ``part3.beam_search.greedy``; ``max_length`` counts the prompt → ``part3.beam_search.short``;
  finished hypotheses kept, not expanded, EOS counted in the score → ``part3.beam_search.eos``;
  text = prompt + continuation decoded without special tokens, score = sum of natural-log
  probabilities as a Python float, best first → ``part3.beam_search``. Method, not observable:
  "no library beam search" (a library call with other stopping rules fails ``part3.beam_search.eos``).
* ``calculate_hamming_penalty``: agreeing positions up to the shorter length, times the factor, an
  empty list gives 0, a Python float → ``part3.hamming``, ``part3.hamming.hidden``.
* ``enhanced_beam_search_decoder``: n-gram blocking as ``no_repeat_ngram_size``, prompt included →
  ``part3.enhanced_beam_search.blocking``; n = 0 disables blocking, survivors picked one at a time
  against the chosen ones, diversity 0 disables it → ``part3.enhanced_beam_search.diversity``,
  ``part3.enhanced_beam_search``; un-penalised scores, sorted → ``part3.enhanced_beam_search.diversity``.
* ``calculate_bleu_score``: tokens from ``str.split()`` (irregular whitespace, public corpus 4) →
  ``part3.bleu``; clipped counts → ``part3.bleu.clipping``; sums over the corpus →
  ``part3.bleu.corpus``; corpus brevity penalty → ``part3.bleu.brevity``; no smoothing, 0.0 for a
  zero precision or no 4-grams at all (and not 0 otherwise) → ``part3.bleu.no_match``; in [0, 1],
  a Python float → ``part3.bleu``.
* ``translate_seq2seq``: the task prefix, greedy, special tokens skipped, stripped →
  ``part3.translation.seq2seq``, ``part3.translation.seq2seq.hidden``.
* ``translate_decoder_only``: the prompt format, only the generated tokens, stripped →
  ``part3.translation.decoder_only``, ``part3.translation.decoder_only.hidden`` (cutting at a
  newline is optional: the shipped translator never writes one).
* ``get_attention_weights``: greedy ``generate`` with 32 new tokens, one forward pass with
  ``decoder_input_ids=output_ids``, every layer stacked (a tuple of per-layer tensors passes with
  a note), the shapes → ``part3.attention``, ``part3.attention.hidden``.
* ``plot_attention_heatmap``: layer, head and batch 0, rows = queries, tick labels, the title →
  ``part3.attention.heatmap``, ``part3.attention.heatmap.hidden``.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from graders.assets import data_path, grader_model
from graders.checks.base import Check
from graders.checks.cases import Cases
from graders.checks.figure import FigureCheck
from graders.checks.rules import Note, Property
from graders.checks.values import (as_array, as_number, describe_type, describe_value,
                                    python_float_problem)
from graders.parts.base import CheckContext, CheckTable, PartSpec
from graders.probe.spec import Probe, causal_lm, seq2seq, tokenizer
from graders.probe.transport import FigureData, KernelArray, Outcome
from graders.reasons import hidden

PART_NAME = "part3"
#: error carried forward: the student functions each graded function calls (see ``Check.depends``)
DEPENDS = {"enhanced_beam_search_decoder": ("calculate_hamming_penalty",)}
#: the notebook's contract in short: each function's arguments, and what the docstring says they are
#: (named when a call raises; see ``graders.parts.calls``)
_DECODER = (("model", "a causal LM"), ("tokenizer", ""), ("text", "the prompt"), ("k", "the beam width"),
            ("max_length", "prompt + generated tokens"))
ARGUMENTS = {
    "beam_search_decoder": _DECODER,
    "calculate_hamming_penalty": (("sequence", "a list of ids"), ("all_sequences", "a list of lists of ids, maybe empty"),
                                  ("diversity_factor", "")),
    "enhanced_beam_search_decoder": _DECODER + (("n_gram_block_size", ""), ("diversity_factor", "")),
    "calculate_bleu_score": (("predictions", "a list of str"), ("references", "a list of str")),
    "translate_seq2seq": (("model", "an encoder-decoder"), ("tokenizer", ""), ("sentences", "English, no prefix")),
    "translate_decoder_only": (("model", "a causal LM"), ("tokenizer", ""), ("sentences", "English")),
    "get_attention_weights": (("text", "the full model input"), ("model", "eager attention"), ("tokenizer", "")),
    "plot_attention_heatmap": (("attentions", "[layers, batch, heads, queries, keys]"), ("layer", ""),
                               ("head", ""), ("x_labels", "one per key"), ("y_labels", "one per query")),
}
LM, T5, TRANSLATOR = "tiny-lm", "tiny-t5", "tiny-translator"
T5_PREFIX = "translate English to German: "

#: scores are sums of up to ~40 float32 log-probabilities (round-off ~1e-5)
SCORE_ATOL, SCORE_RTOL = 1e-4, 1e-5
BLEU_ATOL = 1e-6
HAMMING_ATOL = 1e-9
ATTENTION_ATOL = 1e-5
MAX_NEW_TOKENS = 48

# prompts in the toy English tiny-lm was trained on
PROMPTS = [
    "The little dog", "I have a dream", "A big cat that", "The old man", "My friend",
    "The young woman sees", "They", "A clever fox", "The happy children", "She",
    "The king and the queen", "A red car",
]
# prompts that need at least three more tokens before a sentence can end (verb or "that" last):
# with max_length = prompt + 2 or 3 no hypothesis reaches the end-of-sequence token
SHORT_PROMPTS = ["The young woman sees", "A big cat that", "The old man likes", "My friend finds", "They see",
                 "The teacher helps", "A clever fox chases", "The children want"]
# prompts after which tiny-lm repeats itself within one sentence ("... that sees the little dog sees the
# little dog ."), so that n-gram blocking (n = 2 and 3, prompt included) changes the result
BLOCKING_PROMPTS = ["The old man that sees", "A clever fox that sees", "The young woman that sees",
                    "A big cat that sees", "The little dog that sees", "The king that sees", "A red car that sees",
                    "The little dog that sees the little dog"]


# --- the shipped models and data, in the grading process ---------------------------------------

def _causal(name: str):
    return grader_model(name)


def _seq2seq(name: str):
    return grader_model(name, seq2seq=True)


@lru_cache(maxsize=1)
def _test_set() -> tuple[tuple[str, str], ...]:
    lines = data_path("part3_test.tsv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    return tuple((en, de) for en, de in rows)


def _torch_threads():
    import torch

    torch.set_num_threads(1)


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


# --- hidden inputs ----------------------------------------------------------------------------

_WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "runs", "in", "park", "big", "small", "red", "house",
          "sees", "bird", "tree", "old", "man", "with", "green", "ball", "today", "and"]
_OTHER_WORDS = ["der", "die", "das", "Hund", "Katze", "sieht", "Haus", "Baum", "rot", "mit", "und", "heute"]


def _sentence(rng: np.random.Generator, n: int, words=_WORDS) -> list[str]:
    return [words[int(i)] for i in rng.integers(0, len(words), n)]


def _edit(rng: np.random.Generator, ref: list[str], changes: int) -> list[str]:
    """A hypothesis made from ``ref`` by a few substitutions, away from the first 5 words (so a
    4-gram always matches)."""
    hyp = list(ref)
    for _ in range(changes):
        i = int(rng.integers(5, len(hyp))) if len(hyp) > 5 else len(hyp) - 1
        hyp[i] = _WORDS[int(rng.integers(len(_WORDS)))]
    return hyp


def _bleu_cases(rng: np.random.Generator) -> dict[str, list[tuple[list[str], list[str]]]]:
    """name → list of (predictions, references) corpora, each built so that one mistake shows."""
    j = " ".join

    def ref(n):
        return _sentence(rng, n)

    cases: dict[str, list] = {}
    # nothing in common / unigrams in common but no common 4-gram → 0.0 without smoothing
    r1, r2 = ref(8), ref(9)
    cases["no_match"] = [
        ([j(_sentence(rng, 7, _OTHER_WORDS)), j(_sentence(rng, 6, _OTHER_WORDS))], [j(r1), j(r2)]),
        ([j(r1[i] for i in (0, 2, 4, 6, 1, 3, 5, 7)), j(r2[::-1])], [j(r1), j(r2)]),
        # one 4-gram in common: BLEU is small but not 0 (so a function that always returns 0 fails)
        ([j(r1[:4] + _sentence(rng, 3, _OTHER_WORDS)), j(r2[::-1])], [j(r1), j(r2)]),
        # no hypothesis has 4 words: p4 has no 4-grams at all, so BLEU is 0 (not a division by zero)
        ([j(r1[:3]), j(r2[:2])], [j(r1), j(r2)]),
    ]
    # repeated words and a repeated phrase: counts must be clipped by the reference's counts
    r1, r2 = ref(10), ref(12)
    word = r1[2]
    cases["clipping"] = [
        ([j(r1[:6] + [word, word, word] + r1[6:]), j(r2[:7] + r2[3:7] + r2[7:])], [j(r1), j(r2)]),
        ([j(r1 + r1[:5]), j([r2[0]] * 4 + r2)], [j(r1), j(r2)]),
    ]
    # brevity: corpus-level lengths, whatever the last / first sentence does
    r1, r2, r3 = ref(12), ref(10), ref(9)
    cases["brevity"] = [
        # the corpus is short (BP < 1) although its last sentence is longer than its reference
        ([j(r1[:7]), j(r2[:6]), j(r3 + r3[:2])], [j(r1), j(r2), j(r3)]),
        # the corpus is long (BP = 1) although its first sentence is shorter than its reference
        ([j(r1[:9]), j(r2 + _sentence(rng, 4)), j(r3 + _sentence(rng, 3))], [j(r1), j(r2), j(r3)]),
    ]
    # several sentences of different quality and length: sums over the corpus, not a mean
    refs = [ref(int(n)) for n in rng.integers(7, 14, 5)]
    hyps = [_edit(rng, r, int(c)) for r, c in zip(refs, [0, 1, 2, 3, 4])]
    hyps[2] = hyps[2][:-2]
    hyps[4] = hyps[4][:4] + _sentence(rng, 2)  # no 4-gram of its own beyond the first
    cases["corpus"] = [([j(h) for h in hyps], [j(r) for r in refs]),
                       ([j(h) for h in hyps[1:4]], [j(r) for r in refs[1:4]])]
    return cases


PUBLIC_BLEU = [
    (["the cat sat on the mat", "a dog runs in the big park today"],
     ["the cat sat on a mat", "the dog runs in the big park"]),
    (["the the the the cat sat on the mat"], ["the cat sat on the mat"]),
    (["he reads", "she reads a book"], ["he reads a book", "she reads a book"]),
    # irregular whitespace: tokens are str.split()'s (runs of spaces, tabs and newlines separate words)
    (["  the cat\tsat on  the mat ", "a dog runs\nin the  big park"],
     ["the cat sat  on the mat", " the dog runs in the big park\t"]),
]


def _hamming_case(rng: np.random.Generator):
    n = int(rng.integers(4, 10))
    seq = [int(t) for t in rng.integers(0, 6, n)]
    others = []
    for _ in range(int(rng.integers(2, 5))):
        m = int(rng.integers(2, 12))
        other = [int(t) for t in rng.integers(0, 6, m)]
        for i in range(min(n, m)):  # make agreements frequent
            if rng.random() < 0.4:
                other[i] = seq[i]
        others.append(other)
    factor = float(np.round(rng.uniform(0.1, 3.0), 3))
    return seq, others, factor


# --- the checks ------------------------------------------------------------------------------

def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("part3")``."""
    _torch_threads()
    ref = ctx.reference(PART_NAME)
    table = CheckTable(PART_NAME, DEPENDS, timeout=90.0)

    lm, lm_tok = _causal(LM)

    # -- the decoders: beam_search_decoder and enhanced_beam_search_decoder --
    def search(fn, prompt, k, max_length, *rest) -> Search:
        """A decoder case with its expected hypotheses and, when ``max_length`` cut a hypothesis, what
        a search that generates ``max_length`` tokens after the prompt gives instead."""
        expected = tuple(tuple(h) for h in fn(lm, lm_tok, prompt, k, max_length, *rest))
        n = len(lm_tok(prompt).input_ids)
        lengths = tuple(len(lm_tok(t).input_ids) for t, _ in expected)
        misread = None
        if any(length >= max_length for length in lengths):
            misread = tuple(tuple(h) for h in fn(lm, lm_tok, prompt, k, max_length + n, *rest))
            misread = None if _same_hypotheses(misread, expected) else misread
        extra = f", n_gram_block_size={rest[0]}, diversity_factor={rest[1]}" if rest else ""
        return Search(prompt, k, max_length, n, expected, lengths, misread, extra, enhanced=bool(rest))

    def decoder_check(id_, target, cases, description, public):
        probes, searches = [], []
        for n, (prompt, k, max_length, *rest) in enumerate(cases):
            probes.append(Probe(f"{PART_NAME}.{id_}.{n}", target,
                                (causal_lm(LM), tokenizer(LM), prompt, k, max_length, *rest)))
            searches.append(search(getattr(ref, target), prompt, k, max_length, *rest))
        table.add(id_, probes, Cases([p.id for p in probes], [_hypotheses_judge(s, lm_tok) for s in searches],
                                     details=[s.details() for s in searches], outcomes=True), description, public)

    decoder_check("beam_search", "beam_search_decoder", [("The young woman sees", 3, 7), ("I have a dream", 2, 30)],
                  "beam_search_decoder: the k best hypotheses and their log-probability scores", True)
    if ctx.hidden:
        rng = ctx.rng("part3.beam_search")
        prompts = [PROMPTS[int(i)] for i in rng.permutation(len(PROMPTS))]
        decoder_check("beam_search.greedy", "beam_search_decoder",
                      [(prompts[0], 1, int(rng.integers(8, 16))), (prompts[1], 1, 40)],
                      "beam_search_decoder with k = 1 is greedy search", False)
        decoder_check("beam_search.eos", "beam_search_decoder",
                      [(prompts[2], int(rng.choice([2, 3])), 40), (prompts[3], 5, 40)],
                      "beam_search_decoder when hypotheses reach the end-of-sequence token", False)
        short = []
        for i, k in zip(rng.choice(len(SHORT_PROMPTS), size=2, replace=False), (int(rng.choice([2, 3])), 5)):
            prompt = SHORT_PROMPTS[int(i)]
            short.append((prompt, k, len(lm_tok(prompt).input_ids) + int(rng.integers(2, 4))))
        decoder_check("beam_search.short", "beam_search_decoder", short,
                      "beam_search_decoder with a short max_length", False)

    # -- calculate_hamming_penalty --
    def hamming_check(id_, cases, public):
        probes, judges, details = [], [], []
        for n, (seq, others, factor) in enumerate(cases):
            pid = f"{PART_NAME}.{id_}.{n}"
            probes.append(Probe(pid, "calculate_hamming_penalty", (seq, others, factor)))
            expected = ref.calculate_hamming_penalty(seq, others, factor)
            judges.append(_hamming_judge(seq, others, factor, expected))
            details.append(f"sequence={seq}, all_sequences={others}, diversity_factor={factor}; expected {expected:g}")
        table.add(id_, probes, Cases([p.id for p in probes], judges, details=details),
                  "calculate_hamming_penalty counts agreeing positions times the factor", public)

    hamming_check("hamming", [([5, 6, 7, 8], [[5, 6, 9], [1, 6, 7, 8, 9]], 0.5),
                              ([1, 2, 3], [], 2.0),
                              ([4, 4, 2, 9, 1, 0], [[4, 4], [0, 4, 2, 9, 1, 0, 7], [4, 3, 2]], 1.5)], True)
    if ctx.hidden:
        rng = ctx.rng("part3.hamming")
        hamming_check("hamming.hidden", [_hamming_case(rng) for _ in range(3)], False)

    # -- enhanced_beam_search_decoder --
    enhanced = "enhanced_beam_search_decoder"
    decoder_check("enhanced_beam_search", enhanced,
                  [("The little dog", 3, 24, 2, 0.5), ("The little dog that sees", 3, 30, 3, 0.0)],
                  "enhanced_beam_search_decoder: n-gram blocking and Hamming diversity", True)
    if ctx.hidden:
        rng = ctx.rng("part3.enhanced_beam_search")
        prompts = [PROMPTS[int(i)] for i in rng.permutation(len(PROMPTS))]
        blocking = [BLOCKING_PROMPTS[int(i)] for i in rng.choice(len(BLOCKING_PROMPTS), size=2, replace=False)]
        decoder_check("enhanced_beam_search.blocking", enhanced,
                      [(blocking[0], int(rng.choice([2, 3])), 36, 2, 0.0),
                       (blocking[1], int(rng.choice([2, 3])), 36, 3, 0.0)],
                      "enhanced_beam_search_decoder with n-gram blocking only (diversity 0)", False)
        factors = [float(np.round(f, 2)) for f in (rng.uniform(0.2, 0.8), rng.uniform(1.0, 3.0))]
        decoder_check("enhanced_beam_search.diversity", enhanced,
                      [(prompts[2], 3, 28, 2, factors[0]), (prompts[3], 5, 24, 3, factors[1]),
                       (prompts[4], 2, 30, 3, factors[0]),
                       (blocking[0], 3, 30, 0, factors[1])],  # n_gram_block_size 0: no blocking
                      "enhanced_beam_search_decoder with diversity factors", False)

    # -- calculate_bleu_score --
    def bleu_check(id_, corpora, description, public):
        probes, reports = [], []
        for n, (preds, refs) in enumerate(corpora):
            pid = f"{PART_NAME}.{id_}.{n}"
            probes.append(Probe(pid, "calculate_bleu_score", (list(preds), list(refs))))
            reports.append(ref.bleu_report(list(preds), list(refs)))

        def predicate(*values):
            for n, (v, report, corpus) in enumerate(zip(values, reports, corpora)):
                problem = bleu_problem(v, report, corpus)
                if problem:
                    return f"corpus {n + 1} of {len(reports)}: {problem}"
            return None

        table.add(id_, probes, Property([p.id for p in probes], predicate), description, public)

    bleu_check("bleu", PUBLIC_BLEU, "calculate_bleu_score: corpus BLEU-4 with clipping and brevity penalty", True)
    if ctx.hidden:
        for name, corpora in _bleu_cases(ctx.rng("part3.bleu")).items():
            bleu_check(f"bleu.{name}", corpora, f"calculate_bleu_score on hidden corpora ({name.replace('_', ' ')})",
                       False)

    # -- translation --
    t5, t5_tok = _seq2seq(T5)
    translator, translator_tok = _causal(TRANSLATOR)
    test = _test_set()

    def translation_checks(suffix, sentences, public):
        sentences = list(sentences)
        for fn, model, tok, make_model, name, hint in [
            ("translate_seq2seq", t5, t5_tok, seq2seq(T5), T5, "translate English"),
            ("translate_decoder_only", translator, translator_tok, causal_lm(TRANSLATOR), TRANSLATOR, "English:"),
        ]:
            expected = getattr(ref, fn)(model, tok, sentences, max_new_tokens=MAX_NEW_TOKENS)
            id_ = f"translation.{fn.replace('translate_', '')}{suffix}"
            pid = f"{PART_NAME}.{id_}"
            table.add(id_, [Probe(pid, fn, (make_model, tokenizer(name), sentences), {"max_new_tokens": MAX_NEW_TOKENS})],
                _translations_rule(pid, sentences, expected, prompt_hint=hint,
                                   call=f"{fn}(model, tokenizer, sentences, max_new_tokens={MAX_NEW_TOKENS})"),
                f"{fn}: greedy translations of {'fixed' if public else 'hidden'} test sentences", public)

    translation_checks("", [en for en, _ in test[:3]], True)
    if ctx.hidden:
        rng = ctx.rng("part3.translation")
        picks = rng.choice(len(test), size=6, replace=False)
        translation_checks(".hidden", [test[int(i)][0] for i in picks], False)

    # -- attention --
    def attention_check(id_, texts, public):
        probes, expected = [], []
        for n, text in enumerate(texts):
            pid = f"{PART_NAME}.{id_}.{n}"
            probes.append(Probe(pid, "get_attention_weights", (text, seq2seq(T5), tokenizer(T5))))
            expected.append(tuple(np.asarray(x) for x in ref.get_attention_weights(text, t5, t5_tok)))

        def predicate(*values):
            notes = []
            for n, (v, e, text) in enumerate(zip(values, expected, texts)):
                problem = _attention_problem(v, e, call=f"get_attention_weights({text!r}, model, tokenizer)")
                if isinstance(problem, Note):
                    notes.append(problem)
                elif problem:
                    return f"text {n + 1} of {len(expected)}: {problem}" if len(expected) > 1 else problem
            return notes[0] if notes else None

        table.add(id_, probes, Property([p.id for p in probes], predicate),
            "get_attention_weights: stacked encoder self-attention, cross-attention and greedy output ids", public)

    attention_check("attention", [T5_PREFIX + "The old man sees the small dog."], True)
    if ctx.hidden:
        rng = ctx.rng("part3.attention")
        by_length = sorted((en for en, _ in test), key=len)
        short = by_length[int(rng.integers(0, 20))]
        long = by_length[-1 - int(rng.integers(0, 20))]
        attention_check("attention.hidden", [T5_PREFIX + short, T5_PREFIX + long], False)

    def heatmap_check(id_, rng, public):
        layers, heads, q, kv = 3, 4, int(rng.integers(4, 7)), int(rng.integers(7, 10))
        logits = rng.standard_normal((layers, 1, heads, q, kv)) * 2.0
        weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        layer, head = int(rng.integers(1, layers)), int(rng.integers(1, heads))
        x_labels = [f"▁{w}" for w in _sentence(rng, kv)]
        y_labels = [f"▁{w}" for w in _sentence(rng, q, _OTHER_WORDS)]
        import torch

        tensor = torch.from_numpy(weights.astype(np.float32))
        pid = f"{PART_NAME}.{id_}"
        title = f"layer {layer}, head {head} of a grader-made tensor"
        table.add(id_, [Probe(pid, "plot_attention_heatmap", (tensor, layer, head, x_labels, y_labels, title))],
            _heatmap_rule(pid, weights.astype(np.float32), layer, head, x_labels, y_labels, title),
            "plot_attention_heatmap draws the chosen layer and head, tokens as tick labels", public)

    heatmap_check("attention.heatmap", np.random.default_rng(20260303), True)
    if ctx.hidden:
        heatmap_check("attention.heatmap.hidden", ctx.rng("part3.heatmap"), False)
    return table.checks


PART = PartSpec(
    name="part3",
    notebook="part3_decoding_translation.ipynb",
    title="Part 3: Beam search, BLEU, translation, attention",
    required_functions=('beam_search_decoder', 'calculate_hamming_penalty', 'enhanced_beam_search_decoder', 'calculate_bleu_score', 'get_attention_weights'),
    assets=('models/tiny-lm', 'models/tiny-t5', 'models/tiny-translator', 'data/part3_test.tsv'),
    build_checks=build_checks,
)
