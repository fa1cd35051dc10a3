"""The Part 3 reference against independent oracles (fast: no notebook is executed).

* beam search = ``model.generate`` beam search where the two definitions coincide (EOS disabled),
  sequences and scores; k = 1 = greedy ``generate`` (EOS enabled); with EOS, every returned score
  is the log-probability of its text (+ EOS when finished), recomputed by one forward pass;
* n-gram blocking = transformers' ``NoRepeatNGramLogitsProcessor`` (directly, and inside
  ``generate(no_repeat_ngram_size=n)`` with greedy and beam search);
* BLEU = ``sacrebleu.corpus_bleu(..., tokenize="none", smooth_method="none").score / 100``;
* attention = the forward pass with ``output_attentions=True``;
* the hidden cases of the graders exercise what they claim (EOS reached or not, each BLEU mistake
  changes the number) for many seeds, not only the test seed.
"""
from __future__ import annotations

import inspect
import math
from collections import Counter

import numpy as np
import pytest
import torch

from graders.homework import assets_dir
from graders.parts import part3 as grader
from reference import part3 as ref

pytestmark = pytest.mark.skipif(not (assets_dir() / "models" / "MANIFEST.json").exists(),
                                reason="the shipped models are not built yet")

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lm():
    return grader._causal("tiny-lm")


@pytest.fixture(scope="module")
def t5():
    return grader._seq2seq("tiny-t5")


@pytest.fixture(scope="module")
def translator():
    return grader._causal("tiny-translator")


class NoEos:
    """The tokenizer with the end-of-sequence rule switched off (``eos_token_id = None``)."""

    eos_token_id = None

    def __init__(self, tok):
        self._tok = tok

    def __call__(self, *args, **kwargs):
        return self._tok(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._tok, name)


def sequence_logprob(model, ids: list[int], prompt_len: int) -> float:
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].double(), dim=-1)
    return float(sum(logp[i - 1, ids[i]] for i in range(prompt_len, len(ids))))


def library_beams(model, tok, prompt, k, max_length, **kwargs):
    enc = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, num_beams=k, num_return_sequences=k, do_sample=False, max_length=max_length,
                             eos_token_id=None, early_stopping=False, length_penalty=0.0,
                             pad_token_id=tok.eos_token_id, **kwargs)
    P = enc.input_ids.shape[1]
    return [(tok.decode(s, skip_special_tokens=True), sequence_logprob(model, s.tolist(), P)) for s in out]


def assert_same_hypotheses(mine, theirs, atol=1e-4):
    assert len(mine) == len(theirs)
    for (t1, s1), (t2, s2) in zip(mine, theirs):
        assert t1 == t2, (mine, theirs)
        assert abs(s1 - s2) < atol, (mine, theirs)


# --- beam search --------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", ["The little dog", "I have a dream", "A big cat that"])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_beam_search_equals_library_beam_search_without_eos(lm, prompt, k):
    model, tok = lm
    for max_length in (9, 20):
        mine = ref.beam_search_decoder(model, NoEos(tok), prompt, k, max_length)
        assert_same_hypotheses(mine, library_beams(model, tok, prompt, k, max_length))


def test_library_scores_are_sums_of_log_probabilities(lm):
    """generate's own sequence scores (length_penalty=0) are what our scores mean."""
    model, tok = lm
    enc = tok("The little dog", return_tensors="pt")
    out = model.generate(**enc, num_beams=3, num_return_sequences=3, do_sample=False, max_length=18,
                         eos_token_id=None, early_stopping=False, length_penalty=0.0, output_scores=True,
                         return_dict_in_generate=True, pad_token_id=tok.eos_token_id)
    mine = ref.beam_search_decoder(model, NoEos(tok), "The little dog", 3, 18)
    np.testing.assert_allclose([s for _, s in mine], out.sequences_scores.numpy(), atol=1e-4)


@pytest.mark.parametrize("prompt", grader.PROMPTS)
def test_k1_is_greedy_search_with_eos(lm, prompt):
    model, tok = lm
    for max_length in (10, 40):
        enc = tok(prompt, return_tensors="pt")
        greedy = model.generate(**enc, do_sample=False, max_length=max_length, pad_token_id=tok.eos_token_id)
        [(text, score)] = ref.beam_search_decoder(model, tok, prompt, 1, max_length)
        assert text == tok.decode(greedy[0], skip_special_tokens=True)
        assert abs(score - sequence_logprob(model, greedy[0].tolist(), enc.input_ids.shape[1])) < 1e-4


def _finished_and_scores_agree(model, tok, prompt, results, max_length):
    """Each (text, score): the score is the log-probability of the text's tokens, plus EOS when the
    hypothesis is finished; returns how many were finished."""
    P = len(tok(prompt).input_ids)
    finished = 0
    for text, score in results:
        ids = tok(text).input_ids
        assert ids[:P] == tok(prompt).input_ids
        plain = sequence_logprob(model, ids, P)
        with_eos = sequence_logprob(model, ids + [tok.eos_token_id], P)
        if abs(score - with_eos) < 1e-4:
            finished += 1
            assert len(ids) + 1 <= max_length
        else:
            assert abs(score - plain) < 1e-4, (text, score, plain, with_eos)
            assert len(ids) == max_length
    return finished


def test_eos_semantics(lm):
    model, tok = lm
    for prompt in grader.PROMPTS[:6]:
        results = ref.beam_search_decoder(model, tok, prompt, 3, 40)
        assert [s for _, s in results] == sorted((s for _, s in results), reverse=True)
        assert _finished_and_scores_agree(model, tok, prompt, results, 40) == 3  # all stopped at EOS


def test_a_finished_hypothesis_competes_with_its_score(lm):
    """Finished hypotheses stay in the pool: for some prompt and k the final list mixes lengths, or
    a finished hypothesis is kept while longer ones are ranked below it."""
    model, tok = lm
    seen_finished_kept = False
    for prompt in grader.PROMPTS[:6]:
        results = ref.beam_search_decoder(model, tok, prompt, 5, 40)
        lengths = {len(tok(t).input_ids) for t, _ in results}
        seen_finished_kept |= len(lengths) > 1
    assert seen_finished_kept


# --- n-gram blocking and diversity --------------------------------------------------------------

def _blocked_by_reference(tokens: list[int], n: int, vocab: int) -> set[int]:
    """Which tokens the reference bans after ``tokens`` (read off a one-step search on a fake model)."""

    class Flat(torch.nn.Module):
        def forward(self, input_ids):
            class Out:
                logits = torch.zeros(1, input_ids.shape[1], vocab)
            return Out()

    class Tok:
        eos_token_id = None

        def __call__(self, text):
            class Enc:
                input_ids = list(tokens)
            return Enc()

        def decode(self, ids, skip_special_tokens=True):
            return " ".join(map(str, ids))

    results = ref.enhanced_beam_search_decoder(Flat(), Tok(), "", vocab, len(tokens) + 1, n, 0.0)
    allowed = {int(text.split()[-1]) for text, _ in results if text}
    return set(range(vocab)) - allowed


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_ngram_blocking_equals_no_repeat_ngram_processor(n):
    from transformers import NoRepeatNGramLogitsProcessor

    rng = np.random.default_rng(n)
    vocab = 6
    for _ in range(60):
        tokens = [int(t) for t in rng.integers(0, 4, int(rng.integers(1, 12)))]
        scores = torch.zeros(1, vocab)
        processed = NoRepeatNGramLogitsProcessor(n)(torch.tensor([tokens]), scores)
        expected = {int(i) for i in torch.nonzero(torch.isinf(processed[0])).flatten()}
        assert _blocked_by_reference(tokens, n, vocab) == expected, (tokens, n)


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_enhanced_without_diversity_equals_library_no_repeat_ngram(lm, n, k):
    model, tok = lm
    for prompt in ("The little dog", "I have a dream"):
        mine = ref.enhanced_beam_search_decoder(model, NoEos(tok), prompt, k, 28, n, 0.0)
        assert_same_hypotheses(mine, library_beams(model, tok, prompt, k, 28, no_repeat_ngram_size=n))


def test_enhanced_with_nothing_switched_on_is_beam_search(lm):
    model, tok = lm
    for prompt in grader.PROMPTS[:4]:
        for k, L in ((3, 40), (5, 14)):
            assert ref.enhanced_beam_search_decoder(model, tok, prompt, k, L, 0, 0.0) == \
                ref.beam_search_decoder(model, tok, prompt, k, L)


def test_hamming_penalty_by_hand():
    assert ref.calculate_hamming_penalty([5, 6, 7, 8], [[5, 6, 9], [1, 6, 7, 8, 9]], 0.5) == 2.5
    assert ref.calculate_hamming_penalty([1, 2, 3], [], 2.0) == 0.0
    assert ref.calculate_hamming_penalty([1, 2], [[1, 2, 3, 4]], 1.5) == 3.0
    assert ref.calculate_hamming_penalty([4, 4, 2], [[3, 3, 3], [4]], 1.0) == 1.0


def test_diverse_selection_against_a_full_vocabulary_search(lm):
    """The reference restricts each parent to its k best tokens; an exhaustive selection over the
    whole vocabulary (tests/parts/test_part3_alternatives.py) must pick the same hypotheses."""
    from test_part3_alternatives import load

    full = load("enhanced_beam_search_decoder")
    model, tok = lm
    for prompt, k, L, n, factor in [("The little dog", 3, 24, 2, 0.5), ("A big cat that", 5, 20, 3, 2.0),
                                    ("I have a dream", 2, 30, 3, 0.3), ("The old man", 3, 26, 2, 1.2)]:
        assert_same_hypotheses(ref.enhanced_beam_search_decoder(model, tok, prompt, k, L, n, factor),
                               full(model, tok, prompt, k, L, n, factor))


def test_diversity_changes_the_result(lm):
    model, tok = lm
    plain = ref.enhanced_beam_search_decoder(model, tok, "The little dog", 3, 24, 2, 0.0)
    diverse = ref.enhanced_beam_search_decoder(model, tok, "The little dog", 3, 24, 2, 2.0)
    assert plain != diverse


# --- BLEU -------------------------------------------------------------------------------------

def sacre(predictions, references) -> float:
    import sacrebleu

    return sacrebleu.corpus_bleu(predictions, [references], tokenize="none", smooth_method="none").score / 100


def test_bleu_equals_sacrebleu_on_random_corpora():
    rng = np.random.default_rng(0)
    words = ["a", "b", "c", "d", "e", "f"]
    for _ in range(300):
        preds, refs = [], []
        for _ in range(int(rng.integers(1, 5))):
            r = [words[int(i)] for i in rng.integers(0, 4, int(rng.integers(1, 12)))]
            p = [w if rng.random() < 0.7 else words[int(rng.integers(0, 6))] for w in r]
            extra = [words[int(i)] for i in rng.integers(0, 4, int(rng.integers(0, 4)))]
            p = p[:int(rng.integers(1, len(p) + 1))] + extra
            preds.append(" ".join(p))
            refs.append(" ".join(r))
        assert abs(ref.calculate_bleu_score(preds, refs) - sacre(preds, refs)) < 1e-9, (preds, refs)


@pytest.mark.parametrize("seed", range(10))
def test_bleu_equals_sacrebleu_on_the_grader_cases(seed):
    cases = grader._bleu_cases(np.random.default_rng(seed))
    for corpora in list(cases.values()) + [grader.PUBLIC_BLEU]:
        for preds, refs in corpora:
            assert abs(ref.calculate_bleu_score(preds, refs) - sacre(preds, refs)) < 1e-9


def test_bleu_edge_cases():
    assert ref.calculate_bleu_score(["a b c d"], ["a b c d"]) == 1.0
    assert ref.calculate_bleu_score(["x y z w"], ["a b c d"]) == 0.0
    assert ref.calculate_bleu_score(["a b c"], ["a b c"]) == 0.0  # no 4-gram at all, no smoothing
    assert abs(ref.calculate_bleu_score(["a b c d"], ["a b c d e f"]) - math.exp(1 - 6 / 4)) < 1e-12


# the classic mistakes, as functions, to show that every hidden BLEU case catches its mistake
def _stats(pred, refr, clip=True):
    out = []
    for n in range(1, 5):
        h = Counter(tuple(pred[i:i + n]) for i in range(len(pred) - n + 1))
        r = Counter(tuple(refr[i:i + n]) for i in range(len(refr) - n + 1))
        m = sum(min(c, r[g]) if clip else (c if g in r else 0) for g, c in h.items())
        out.append((m, max(len(pred) - n + 1, 0)))
    return out


def _bleu_variant(preds, refs, *, clip=True, bp="corpus", average=False):
    if average:
        return sum(_bleu_variant([p], [r], clip=clip) for p, r in zip(preds, refs)) / len(preds)
    m, t = [0] * 4, [0] * 4
    c = r = 0
    bps = []
    for p, rf in zip(preds, refs):
        p, rf = p.split(), rf.split()
        c, r = c + len(p), r + len(rf)
        bps.append(math.exp(1 - len(rf) / len(p)) if len(p) < len(rf) else 1.0)
        for i, (mi, ti) in enumerate(_stats(p, rf, clip)):
            m[i] += mi
            t[i] += ti
    if min(m) == 0 or min(t) == 0:
        return 0.0
    brevity = {"corpus": math.exp(1 - r / c) if c < r else 1.0, "last": bps[-1], "mean": sum(bps) / len(bps)}[bp]
    return brevity * math.exp(sum(math.log(a / b) for a, b in zip(m, t)) / 4)


@pytest.mark.parametrize("seed", range(25))
def test_every_hidden_bleu_case_catches_its_mistake(seed):
    cases = grader._bleu_cases(np.random.default_rng(seed))

    def caught(name, **variant):
        return any(abs(_bleu_variant(p, r, **variant) - ref.calculate_bleu_score(p, r)) > 1e-6 for p, r in cases[name])

    for name, corpora in cases.items():
        for p, r in corpora:
            assert abs(_bleu_variant(p, r) - ref.calculate_bleu_score(p, r)) < 1e-12
    assert all(ref.calculate_bleu_score(p, r) == 0.0 for p, r in cases["no_match"][:1])
    assert all(ref.calculate_bleu_score(p, r) > 0 for n in ("clipping", "brevity", "corpus") for p, r in cases[n])
    assert caught("clipping", clip=False)
    assert caught("brevity", bp="last") and caught("brevity", bp="mean")
    assert caught("corpus", average=True)


# --- translation ------------------------------------------------------------------------------

def test_translations_are_the_models_greedy_output(t5, translator):
    test = grader._test_set()
    sentences = [en for en, _ in test[:5]]
    model, tok = t5
    got = ref.translate_seq2seq(model, tok, sentences)
    for s, g in zip(sentences, got):
        out = model.generate(**tok("translate English to German: " + s, return_tensors="pt"), max_new_tokens=48,
                             do_sample=False)
        assert g == tok.decode(out[0], skip_special_tokens=True).strip()
    model, tok = translator
    got = ref.translate_decoder_only(model, tok, sentences)
    for s, g in zip(sentences, got):
        enc = tok(f"English: {s} German:", return_tensors="pt")
        out = model.generate(**enc, max_new_tokens=48, do_sample=False, pad_token_id=tok.eos_token_id)
        full = tok.decode(out[0], skip_special_tokens=True)
        assert full.startswith(f"English: {s} German:")
        assert g == full[len(f"English: {s} German:"):].split("\n")[0].strip()


def test_translation_quality_is_sensible(t5, translator):
    test = grader._test_set()[:40]
    en, de = [e for e, _ in test], [d for _, d in test]
    t5_bleu = ref.calculate_bleu_score(ref.translate_seq2seq(*t5, en), de)
    lm_bleu = ref.calculate_bleu_score(ref.translate_decoder_only(*translator, en), de)
    assert 0.05 < t5_bleu < 1.0 and 0.05 < lm_bleu < 1.0, (t5_bleu, lm_bleu)


# --- attention --------------------------------------------------------------------------------

def test_attention_equals_forward_pass(t5):
    model, tok = t5
    text = "translate English to German: The old man sees the small dog."
    enc_att, cross, ids = ref.get_attention_weights(text, model, tok)
    inputs = tok(text, return_tensors="pt")
    greedy = model.generate(**inputs, max_new_tokens=32, do_sample=False)
    assert torch.equal(ids, greedy)
    with torch.no_grad():
        out = model(**inputs, decoder_input_ids=greedy, output_attentions=True)
    cfg = model.config
    src, tgt = inputs.input_ids.shape[1], greedy.shape[1]
    assert enc_att.shape == (cfg.num_layers, 1, cfg.num_heads, src, src)
    assert cross.shape == (cfg.num_decoder_layers, 1, cfg.num_heads, tgt, src)
    for layer in range(cfg.num_layers):
        assert torch.equal(enc_att[layer], out.encoder_attentions[layer])
    for layer in range(cfg.num_decoder_layers):
        assert torch.equal(cross[layer], out.cross_attentions[layer])
    assert torch.allclose(cross.sum(-1), torch.ones(()), atol=1e-5)
    # the decoder's self-attention is something else (a bug the graders must see)
    assert out.decoder_attentions[0].shape[-1] == tgt


def test_heatmap_draws_the_chosen_matrix():
    att = torch.softmax(torch.randn(2, 1, 3, 4, 5), dim=-1)
    fig = ref.plot_attention_heatmap(att, 1, 2, list("abcde"), list("wxyz"))
    images = fig.axes[0].get_images()
    np.testing.assert_allclose(images[0].get_array(), att[1, 0, 2].numpy())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list("abcde")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list("wxyz")


# --- the hidden beam-search cases do what their names say --------------------------------------

@pytest.mark.parametrize("seed", [1, 2, 3, 20260101])
def test_hidden_beam_cases_reach_eos_or_not(lm, seed):
    from graders.part import CheckContext

    model, tok = lm
    ctx = CheckContext(secret=f"test secret {seed}")
    rng = ctx.rng("part3.beam_search")
    prompts = [grader.PROMPTS[int(i)] for i in rng.permutation(len(grader.PROMPTS))]
    for prompt, k in ((prompts[2], 3), (prompts[3], 5)):
        results = ref.beam_search_decoder(model, tok, prompt, k, 40)
        assert _finished_and_scores_agree(model, tok, prompt, results, 40) >= 1

@pytest.mark.parametrize("prompt", grader.SHORT_PROMPTS)
def test_short_prompts_do_not_reach_eos(lm, prompt):
    model, tok = lm
    L = len(tok(prompt).input_ids) + 3
    for k in (1, 2, 3, 5):
        results = ref.beam_search_decoder(model, tok, prompt, k, L)
        assert _finished_and_scores_agree(model, tok, prompt, results, L) == 0


@pytest.mark.parametrize("prompt", grader.BLOCKING_PROMPTS)
def test_blocking_prompts_make_blocking_matter(lm, prompt):
    """Whatever hidden seed picks them, n-gram blocking (n = 2, 3; k = 2, 3) changes these prompts'
    results, and so do blocking (n + 1)-grams and ignoring the prompt (two bugs of test_part3_grading)."""
    from test_part3_grading import BUGS

    variants = {}
    for label in ("ngram_blocking_off_by_one", "ngram_blocking_ignores_the_prompt"):
        source = inspect.getsource(ref)
        for old, new in BUGS[label][0]:
            assert old in source
            source = source.replace(old, new)
        namespace: dict = {"__name__": f"variant_{label}"}
        exec(compile(source, label, "exec"), namespace)  # the reference with one bug, our own source
        variants[label] = namespace["enhanced_beam_search_decoder"]
    model, tok = lm
    for n in (2, 3):
        for k in (2, 3):
            expected = ref.enhanced_beam_search_decoder(model, tok, prompt, k, 36, n, 0.0)
            assert expected != ref.enhanced_beam_search_decoder(model, tok, prompt, k, 36, 0, 0.0)
            for label, variant in variants.items():
                assert variant(model, tok, prompt, k, 36, n, 0.0) != expected, (label, n, k)
