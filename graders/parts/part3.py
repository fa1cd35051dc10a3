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

import functools
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from graders.assets import data_path, grader_model
from graders.checks.base import Check
from graders.checks.cases import Cases
from graders.checks.figure import FigureCheck
from graders.checks.rules import Note, Property
from graders.checks.values import as_array, as_number, python_float_problem
from graders.parts.base import CheckContext, CheckTable, PartSpec
from graders.probe.spec import Probe, causal_lm, seq2seq, tokenizer
from graders.probe.transport import FigureData, KernelArray

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



def _hypotheses_problem(value: Any, expected: Sequence[tuple[str, float]], *, public: bool) -> str | None:
    """The k (text, score) pairs, best first, against the expected ones."""
    if not isinstance(value, (list, tuple)):
        return f"should return a list of (text, score) tuples, got {type(value).__name__}"
    if len(value) != len(expected):
        return f"returned {len(value)} hypotheses, expected {len(expected)} (the k best)"
    got = []
    for i, pair in enumerate(value):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            return f"hypothesis {i} should be a (text, score) tuple"
        text, score = pair
        if not isinstance(text, str):
            return f"hypothesis {i}: the text should be a str (the decoded sequence), got {type(text).__name__}"
        if problem := python_float_problem(score, f"hypothesis {i}: the score"):
            return problem
        number = as_number(score)
        if not np.isfinite(number):
            return f"hypothesis {i}: the score is {number}"
        got.append((text, number))
    tol = lambda e: SCORE_ATOL + SCORE_RTOL * abs(e)  # noqa: E731
    if any(got[i + 1][1] > got[i][1] + tol(got[i][1]) for i in range(len(got) - 1)):
        return "the hypotheses are not sorted by score, best first"
    unmatched = list(range(len(got)))
    for text, score in expected:
        same_text = [j for j in unmatched if got[j][0] == text]
        if not same_text:
            missing = sum(1 for t, _ in expected if t not in {g[0] for g in got})
            shown = f" (e.g. your hypothesis {got[unmatched[0]][0]!r} is not among them)" if unmatched else ""
            if public:  # a fixed case: its expected values may be shown
                shown = f" (e.g. {text!r} is missing)"
            return (f"{missing} of the {len(expected)} hypotheses differ from the expected ones{shown}; "
                    "texts are the decoded prompt + continuation, special tokens skipped")
        j = min(same_text, key=lambda j: abs(got[j][1] - score))
        if abs(got[j][1] - score) > tol(score):
            return (f"the score of {got[j][0]!r} is off by {abs(got[j][1] - score):.3g}: a score is the sum of the "
                    "natural-log probabilities of the generated tokens")
        unmatched.remove(j)
    # the same hypotheses: now the order (swaps of scores equal within the tolerance are fine)
    for i, (text, score) in enumerate(expected):
        if got[i][0] != text and abs(got[i][1] - score) > tol(score):
            return "the hypotheses are right but not in the expected order (best score first)"
    return None


def _hypotheses_rule(probe_ids: Sequence[str], expected: Sequence[Sequence[tuple[str, float]]], public: bool):
    return Cases(list(probe_ids), [functools.partial(_hypotheses_problem, expected=exp, public=public)
                                   for exp in expected])


def _translations_rule(probe_id: str, expected: Sequence[str], *, prompt_hint: str):
    def predicate(value):
        if not isinstance(value, (list, tuple)):
            return f"should return a list of strings, got {type(value).__name__}"
        if len(value) != len(expected):
            return f"returned {len(value)} translations for {len(expected)} sentences"
        if not all(isinstance(v, str) for v in value):
            return "every translation should be a str"
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
        return f"{len(wrong)} of {len(expected)} translations differ from the model's greedy translation{hint}"

    return Property([probe_id], predicate)


def _attention_problem(value: Any, expected, *, public: bool) -> str | None:
    """The (encoder self-attentions, cross-attentions, output ids) triple against the expected one."""
    enc_exp, cross_exp, ids_exp = (np.asarray(x) for x in expected)
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        return "should return a tuple (encoder_self_attentions, cross_attentions, output_ids)"
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
            return f"{name} should be a torch tensor {layout}, got {type(got).__name__}"
        if got.shape != exp.shape:
            want = f" = {tuple(exp.shape)}" if public else ""
            return f"{name} has shape {tuple(got.shape)}, expected {layout}{want}"
    if not np.array_equal(np.asarray(ids), ids_exp):
        return "output_ids differ from greedy model.generate(**inputs, max_new_tokens=32)"
    for name, got, exp in [("encoder_self_attentions", enc, enc_exp), ("cross_attentions", cross, cross_exp)]:
        a = np.asarray(got, dtype=np.float64)
        if not np.isfinite(a).all():
            return f"{name} contains NaN or inf"
        err = np.abs(a - exp)
        if not (err <= ATTENTION_ATOL).all():
            layer = int(np.argwhere(err > ATTENTION_ATOL)[0][0])
            return (f"{name} differ from the model's (first at layer {layer}): take the encoder's self-attention "
                    "and the decoder's cross-attention of one forward pass with decoder_input_ids=output_ids, "
                    "every layer, in order")
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


def _heatmap_rule(probe_id: str, matrix: np.ndarray, x_labels: Sequence[str], y_labels: Sequence[str], title: str):
    rows, cols = matrix.shape

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

    def predicate(fig: FigureData) -> str | None:
        candidates = list(drawn(fig))
        if not candidates:
            return ("no heatmap of the right size: draw the [queries, keys] matrix of the chosen layer and head "
                    "with imshow or pcolormesh")
        matching = [(o, ax) for a, o, ax in candidates if np.allclose(a, matrix, atol=1e-6, rtol=1e-5)]
        if not matching:
            return "the heatmap does not show attentions[layer, 0, head] (check the layer, head and batch indices)"
        for orientation, ax in matching:
            xs = [t for t in ax.get("xticklabels", [])]
            ys = [t for t in ax.get("yticklabels", [])]
            want_x, want_y = list(x_labels), list(y_labels)
            if orientation != "rows":
                want_x, want_y = want_y, want_x
            if xs == want_x and ys == want_y:
                if not any(title in (a.get("title") or "") for a in fig.axes):
                    return "the heatmap's axes should carry the given title (ax.set_title(title))"
                return None
        return "the tick labels should be the tokens: one per key on the columns, one per query on the rows"

    return FigureCheck(probe_id, predicate, what="heatmap")


def bleu_problem(value: Any, report: dict, corpus: tuple | None) -> str | None:
    """A student's corpus BLEU against the reference's ``report`` (``reference.part3.bleu_report``).

    The reason gives the expected value and its ingredients — the four clipped n-gram precisions,
    the brevity penalty and the corpus lengths — and, when the student's value is what a classic
    mistake gives, names that mistake. ``corpus`` (public checks only) puts the inputs in the reason.
    """
    if problem := python_float_problem(value, "calculate_bleu_score"):
        return problem
    got = as_number(value)
    expected = float(report["bleu"])
    if np.isfinite(got) and abs(got - expected) <= BLEU_ATOL:
        return None
    inputs = f" for predictions {list(corpus[0])!r} and references {list(corpus[1])!r}" if corpus else ""
    precisions = ", ".join(f"{p:.4g}" for p in report["precisions"])
    reason = (f"BLEU {got:.6g}, expected {expected:.6g}{inputs}; the expected clipped precisions p1..p4 are "
              f"{precisions} and the brevity penalty {report['brevity_penalty']:.4g} (c = "
              f"{report['hypothesis_length']} hypothesis words, r = {report['reference_length']} reference words)")
    causes = [name for name, v in report["variants"].items()
              if abs(float(v) - expected) > BLEU_ATOL and np.isfinite(got) and abs(got - float(v)) <= BLEU_ATOL]
    if causes:
        return f"{reason}: your value is the BLEU computed {causes[0]}"
    return f"{reason}: compare your precisions and brevity penalty with these"


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

    # -- beam_search_decoder --
    def beam_check(id_, cases, description, public):
        probes, expected = [], []
        for n, (prompt, k, max_length) in enumerate(cases):
            pid = f"{PART_NAME}.{id_}.{n}"
            probes.append(Probe(pid, "beam_search_decoder", (causal_lm(LM), tokenizer(LM), prompt, k, max_length)))
            expected.append(ref.beam_search_decoder(lm, lm_tok, prompt, k, max_length))
        table.add(id_, probes, _hypotheses_rule([p.id for p in probes], expected, public), description, public)

    beam_check("beam_search", [("The young woman sees", 3, 7), ("I have a dream", 2, 30)],
               "beam_search_decoder: the k best hypotheses and their log-probability scores", True)
    if ctx.hidden:
        rng = ctx.rng("part3.beam_search")
        prompts = [PROMPTS[int(i)] for i in rng.permutation(len(PROMPTS))]
        beam_check("beam_search.greedy", [(prompts[0], 1, int(rng.integers(8, 16))), (prompts[1], 1, 40)],
                   "beam_search_decoder with k = 1 is greedy search", False)
        beam_check("beam_search.eos", [(prompts[2], int(rng.choice([2, 3])), 40), (prompts[3], 5, 40)],
                   "beam_search_decoder when hypotheses reach the end-of-sequence token", False)
        short = []
        for i, k in zip(rng.choice(len(SHORT_PROMPTS), size=2, replace=False), (int(rng.choice([2, 3])), 5)):
            prompt = SHORT_PROMPTS[int(i)]
            short.append((prompt, k, len(lm_tok(prompt).input_ids) + int(rng.integers(2, 4))))
        beam_check("beam_search.short", short, "beam_search_decoder with a short max_length", False)

    # -- calculate_hamming_penalty --
    def hamming_check(id_, cases, public):
        probes, expected = [], []
        for n, (seq, others, factor) in enumerate(cases):
            pid = f"{PART_NAME}.{id_}.{n}"
            probes.append(Probe(pid, "calculate_hamming_penalty", (seq, others, factor)))
            expected.append(ref.calculate_hamming_penalty(seq, others, factor))

        def predicate(*values):
            for n, (v, e) in enumerate(zip(values, expected)):
                if problem := python_float_problem(v, "calculate_hamming_penalty"):
                    return f"case {n + 1}: {problem}"
                got = as_number(v)
                if abs(got - e) > HAMMING_ATOL + 1e-9 * abs(e):
                    return (f"case {n + 1}: wrong penalty (it counts, for every chosen sequence, the positions "
                            "where the two sequences agree, times the diversity factor)")
            return None

        table.add(id_, probes, Property([p.id for p in probes], predicate),
            "calculate_hamming_penalty counts agreeing positions times the factor", public)

    hamming_check("hamming", [([5, 6, 7, 8], [[5, 6, 9], [1, 6, 7, 8, 9]], 0.5),
                              ([1, 2, 3], [], 2.0),
                              ([4, 4, 2, 9, 1, 0], [[4, 4], [0, 4, 2, 9, 1, 0, 7], [4, 3, 2]], 1.5)], True)
    if ctx.hidden:
        rng = ctx.rng("part3.hamming")
        hamming_check("hamming.hidden", [_hamming_case(rng) for _ in range(3)], False)

    # -- enhanced_beam_search_decoder --
    def enhanced_check(id_, cases, description, public):
        probes, expected = [], []
        for n, (prompt, k, max_length, size, factor) in enumerate(cases):
            pid = f"{PART_NAME}.{id_}.{n}"
            probes.append(Probe(pid, "enhanced_beam_search_decoder",
                                (causal_lm(LM), tokenizer(LM), prompt, k, max_length, size, factor)))
            expected.append(ref.enhanced_beam_search_decoder(lm, lm_tok, prompt, k, max_length, size, factor))
        table.add(id_, probes, _hypotheses_rule([p.id for p in probes], expected, public), description, public)

    enhanced_check("enhanced_beam_search",
                   [("The little dog", 3, 24, 2, 0.5), ("The little dog that sees", 3, 30, 3, 0.0)],
                   "enhanced_beam_search_decoder: n-gram blocking and Hamming diversity", True)
    if ctx.hidden:
        rng = ctx.rng("part3.enhanced_beam_search")
        prompts = [PROMPTS[int(i)] for i in rng.permutation(len(PROMPTS))]
        blocking = [BLOCKING_PROMPTS[int(i)] for i in rng.choice(len(BLOCKING_PROMPTS), size=2, replace=False)]
        enhanced_check("enhanced_beam_search.blocking",
                       [(blocking[0], int(rng.choice([2, 3])), 36, 2, 0.0),
                        (blocking[1], int(rng.choice([2, 3])), 36, 3, 0.0)],
                       "enhanced_beam_search_decoder with n-gram blocking only (diversity 0)", False)
        factors = [float(np.round(f, 2)) for f in (rng.uniform(0.2, 0.8), rng.uniform(1.0, 3.0))]
        enhanced_check("enhanced_beam_search.diversity",
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
                problem = bleu_problem(v, report, corpus if public else None)
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
                _translations_rule(pid, expected, prompt_hint=hint),
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
            for n, (v, e) in enumerate(zip(values, expected)):
                problem = _attention_problem(v, e, public=public)
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
            _heatmap_rule(pid, weights.astype(np.float32)[layer, 0, head].astype(float), x_labels, y_labels, title),
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
