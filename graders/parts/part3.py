"""Part 3: Beam search, BLEU, translation, attention — the checks behind its rubric items
(see rubric.yaml, part `part3`).

This module is the part's check table (``build_checks``, one function per group of checks); the
models, data and inputs its checks call the notebook on are in ``part3_inputs``, and the judges of
the returned values in ``part3_judges``.

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

from functools import partial

import numpy as np

from graders.checks.base import Check
from graders.checks.cases import Cases
from graders.checks.rules import Note, Property
from graders.part import CheckContext, CheckTable, PartSpec
from graders.parts.part3_inputs import (BLOCKING_PROMPTS, LM, PROMPTS, PUBLIC_BLEU, SHORT_PROMPTS, T5, T5_PREFIX,
                                        TRANSLATOR, _OTHER_WORDS, _bleu_cases, _causal, _hamming_case, _sentence,
                                        _seq2seq, _test_set, _torch_threads)
from graders.parts.part3_judges import (Search, _attention_problem, _hamming_judge, _heatmap_rule,
                                        _hypotheses_judge, _same_hypotheses, _translations_rule, bleu_problem)
from graders.probe.spec import Probe, causal_lm, seq2seq, tokenizer

PART_NAME = "part3"
#: error carried forward: the student functions each graded function calls (see ``Check.depends``)
DEPENDS = {"enhanced_beam_search_decoder": ("calculate_hamming_penalty",)}
#: the notebook's contract in short: each function's arguments, and what the docstring says they are
#: (named when a call raises; see ``graders.calls``)
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
#: new tokens each translation may generate (the notebook's default)
MAX_NEW_TOKENS = 48


# --- the checks ------------------------------------------------------------------------------

def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part, group by group; expected values come from ``ctx.reference("part3")``."""
    _torch_threads()
    ref = ctx.reference(PART_NAME)
    table = CheckTable(PART_NAME, DEPENDS, timeout=90.0)

    lm, lm_tok = _causal(LM)
    _beam_search_checks(table, ctx, ref, lm, lm_tok)
    _hamming_checks(table, ctx, ref)
    _enhanced_beam_search_checks(table, ctx, ref, lm, lm_tok)
    _bleu_checks(table, ctx, ref)
    t5, t5_tok = _seq2seq(T5)
    translator, translator_tok = _causal(TRANSLATOR)
    test = _test_set()
    _translation_checks(table, ctx, ref, (t5, t5_tok), (translator, translator_tok), test)
    _attention_checks(table, ctx, ref, t5, t5_tok, test)
    _heatmap_checks(table, ctx)
    return table.checks


# -- the decoders: beam_search_decoder and enhanced_beam_search_decoder --

def _search(lm, lm_tok, fn, prompt, k, max_length, *rest) -> Search:
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


def _decoder_check(table, ref, lm, lm_tok, id_, target, cases, description, public):
    """One check of decoder ``target`` (tiny-lm), one probe per case ``(prompt, k, max_length, *rest)``."""
    probes, searches = [], []
    for n, (prompt, k, max_length, *rest) in enumerate(cases):
        probes.append(Probe(f"{PART_NAME}.{id_}.{n}", target,
                            (causal_lm(LM), tokenizer(LM), prompt, k, max_length, *rest)))
        searches.append(_search(lm, lm_tok, getattr(ref, target), prompt, k, max_length, *rest))
    table.add(id_, probes, Cases([p.id for p in probes], [_hypotheses_judge(s, lm_tok) for s in searches],
                                 details=[s.details() for s in searches], outcomes=True), description, public)


def _beam_search_checks(table: CheckTable, ctx: CheckContext, ref, lm, lm_tok) -> None:
    """beam_search_decoder: a fixed case; hidden prompts with k = 1, reaching EOS, and a short max_length."""
    decoder_check = partial(_decoder_check, table, ref, lm, lm_tok)

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


def _hamming_checks(table: CheckTable, ctx: CheckContext, ref) -> None:
    """calculate_hamming_penalty on fixed and hidden token lists."""
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


def _enhanced_beam_search_checks(table: CheckTable, ctx: CheckContext, ref, lm, lm_tok) -> None:
    """enhanced_beam_search_decoder: a fixed case; hidden ones with blocking only and with diversity."""
    decoder_check = partial(_decoder_check, table, ref, lm, lm_tok)

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


def _bleu_checks(table: CheckTable, ctx: CheckContext, ref) -> None:
    """calculate_bleu_score on fixed corpora, and on hidden ones built so that each classic mistake shows."""
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


def _translation_checks(table: CheckTable, ctx: CheckContext, ref, t5_pair, translator_pair, test) -> None:
    """translate_seq2seq and translate_decoder_only on fixed and hidden test-set sentences."""
    t5, t5_tok = t5_pair
    translator, translator_tok = translator_pair

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


def _attention_checks(table: CheckTable, ctx: CheckContext, ref, t5, t5_tok, test) -> None:
    """get_attention_weights on a fixed text and on a short and a long hidden test-set sentence."""
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


def _heatmap_checks(table: CheckTable, ctx: CheckContext) -> None:
    """plot_attention_heatmap on a grader-made attention tensor (fixed, and hidden)."""
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


PART = PartSpec(
    name="part3",
    notebook="part3_decoding_translation.ipynb",
    title="Part 3: Beam search, BLEU, translation, attention",
    required_functions=('beam_search_decoder', 'calculate_hamming_penalty', 'enhanced_beam_search_decoder', 'calculate_bleu_score', 'get_attention_weights'),
    assets=('models/tiny-lm', 'models/tiny-t5', 'models/tiny-translator', 'data/part3_test.tsv'),
    build_checks=build_checks,
)
