"""Other correct implementations of the Part 3 functions, written differently from the reference.

They are pasted into the solved notebook by ``test_part3_grading.py`` (which expects full marks),
and checked here directly against the reference (fast, no notebook).

* ALTERNATIVE_1: a vectorised beam search (one batched forward pass per step over every
  unfinished hypothesis, one ``topk`` over the flattened ``[beams × vocab]`` scores plus the finished
  ones, float32 scores); BLEU with ``Counter`` intersections and numpy; a ``pcolormesh`` heatmap
  with the y axis inverted; translations in padded batches.
* ALTERNATIVE_2: an enhanced beam search that considers the whole vocabulary of every parent (no
  top-k shortcut) with an incremental penalty; the encoder run on its own and ``torch.cat`` instead of
  ``torch.stack``; a loop-free Hamming penalty with numpy.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from graders.homework import assets_dir

ALTERNATIVE_1 = {
    "beam_search_decoder": '''
def beam_search_decoder(model, tokenizer, text, k, max_length):
    """Vectorised: one forward pass over every unfinished hypothesis per step."""
    eos = tokenizer.eos_token_id
    alive = tokenizer(text, return_tensors="pt").input_ids      # [n, L], all unfinished
    alive_scores = torch.zeros(1)
    done = []                                                    # (ids, score) of finished ones
    while alive.shape[0] > 0 and alive.shape[1] < max_length:
        with torch.no_grad():
            logp = torch.log_softmax(model(alive).logits[:, -1, :], dim=-1)
        vocab = logp.shape[-1]
        flat = (alive_scores[:, None] + logp).reshape(-1)
        pool = torch.cat([flat, torch.tensor([s for _, s in done], dtype=flat.dtype)])
        top = torch.topk(pool, min(k, pool.numel()))
        new_alive, new_scores, new_done = [], [], []
        for value, index in zip(top.values.tolist(), top.indices.tolist()):
            if index >= flat.numel():
                new_done.append(done[index - flat.numel()])
                continue
            row, token = divmod(index, vocab)
            ids = torch.cat([alive[row], torch.tensor([token])])
            if token == eos:
                new_done.append((ids.tolist(), value))
            else:
                new_alive.append(ids)
                new_scores.append(value)
        done = new_done
        alive = torch.stack(new_alive) if new_alive else alive[:0]
        alive_scores = torch.tensor(new_scores)
    final = done + [(ids.tolist(), float(s)) for ids, s in zip(alive, alive_scores)]
    final.sort(key=lambda pair: -pair[1])
    return [(tokenizer.decode(ids, skip_special_tokens=True), float(s)) for ids, s in final[:k]]''',
    "calculate_bleu_score": '''
def calculate_bleu_score(predictions, references):
    """Counter intersections and numpy."""
    def grams(words, n):
        return Counter(zip(*[words[i:] for i in range(n)]))
    clipped, total = np.zeros(4), np.zeros(4)
    c = r = 0
    for hyp, ref in zip(predictions, references):
        h, g = hyp.split(), ref.split()
        c, r = c + len(h), r + len(g)
        for n in range(1, 5):
            hc, rc = grams(h, n), grams(g, n)
            clipped[n - 1] += sum((hc & rc).values())
            total[n - 1] += sum(hc.values())
    if (clipped == 0).any():
        return 0.0
    bp = 1.0 if c >= r else math.exp(1 - r / c)
    return float(bp * np.exp(np.log(clipped / total).mean()))''',
    "plot_attention_heatmap": '''
def plot_attention_heatmap(attentions, layer, head, x_labels, y_labels, title=""):
    """pcolormesh, ticks at the cell centres, first query at the top."""
    m = attentions[layer][0][head].numpy()
    fig = plt.figure(figsize=(6, 4))
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(m, cmap="magma")
    ax.set_xticks(np.arange(len(x_labels)) + 0.5)
    ax.set_xticklabels(x_labels, rotation=60)
    ax.set_yticks(np.arange(len(y_labels)) + 0.5)
    ax.set_yticklabels(y_labels)
    ax.invert_yaxis()
    ax.set_title(title)
    fig.colorbar(mesh)
    return fig''',
    "translate_seq2seq": '''
def translate_seq2seq(model, tokenizer, sentences, max_new_tokens=48):
    """Padded batches of 16."""
    out = []
    for i in range(0, len(sentences), 16):
        batch = ["translate English to German: " + s for s in sentences[i:i + 16]]
        enc = tokenizer(batch, return_tensors="pt", padding=True)
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
        out += [t.strip() for t in tokenizer.batch_decode(ids, skip_special_tokens=True)]
    return out''',
}

ALTERNATIVE_2 = {
    "enhanced_beam_search_decoder": '''
def enhanced_beam_search_decoder(model, tokenizer, text, k, max_length, n_gram_block_size, diversity_factor):
    """Every token of every parent is a candidate; penalties updated pick by pick."""
    eos = tokenizer.eos_token_id
    n = n_gram_block_size
    beams = [(tokenizer.encode(text), 0.0)]
    while any(ids[-1] != eos and len(ids) < max_length for ids, _ in beams):
        groups = []          # (ids, score, log-prob vector, or None for a finished hypothesis)
        for ids, score in beams:
            if ids[-1] == eos:
                groups.append((ids, score, None))
                continue
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1).double().numpy()
            if n > 0 and len(ids) >= n - 1:
                follows = {}
                for i in range(len(ids) - n + 1):
                    follows.setdefault(tuple(ids[i:i + n - 1]), set()).add(ids[i + n - 1])
                for t in follows.get(tuple(ids[len(ids) - n + 1:]), ()):
                    lp[t] = -np.inf
            groups.append((ids, score, lp))
        chosen, picks, taken = [], [], set()
        for _ in range(k):
            best = None
            for g, (ids, score, lp) in enumerate(groups):
                base = diversity_factor * sum(sum(a == b for a, b in zip(ids, c)) for c in chosen)
                if lp is None:
                    if (g, -1) in taken:
                        continue
                    value, token = score - base, -1
                else:
                    adjusted = score + lp - base
                    for c in chosen:
                        if len(c) > len(ids):
                            adjusted[c[len(ids)]] -= diversity_factor
                    for gg, t in taken:
                        if gg == g:
                            adjusted[t] = -np.inf
                    token = int(np.argmax(adjusted))
                    value = adjusted[token]
                    if value == -np.inf:
                        continue
                if best is None or value > best[0]:
                    best = (value, g, token)
            if best is None:
                break
            _, g, token = best
            taken.add((g, token))
            ids, score, lp = groups[g]
            if token == -1:
                chosen.append(ids)
                picks.append((ids, score))
            else:
                chosen.append(ids + [token])
                picks.append((ids + [token], score + float(lp[token])))
        beams = picks
    beams.sort(key=lambda b: b[1], reverse=True)
    return [(tokenizer.decode(ids, skip_special_tokens=True), float(s)) for ids, s in beams]''',
    "calculate_hamming_penalty": '''
def calculate_hamming_penalty(sequence, all_sequences, diversity_factor):
    """numpy, no Python loop over positions."""
    seq = np.asarray(sequence)
    total = 0
    for other in all_sequences:
        m = min(len(seq), len(other))
        total += int((seq[:m] == np.asarray(other)[:m]).sum())
    return diversity_factor * total''',
    "get_attention_weights": '''
def get_attention_weights(text, model, tokenizer):
    """The encoder on its own, then the decoder on its output; torch.cat of unsqueezed layers."""
    enc = tokenizer([text], return_tensors="pt")
    output_ids = model.generate(input_ids=enc.input_ids, attention_mask=enc.attention_mask, max_new_tokens=32)
    with torch.no_grad():
        encoded = model.get_encoder()(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                                      output_attentions=True)
        out = model(encoder_outputs=encoded, attention_mask=enc.attention_mask, decoder_input_ids=output_ids,
                    output_attentions=True)
    encoder_self = torch.cat([a.unsqueeze(0) for a in encoded.attentions], dim=0)
    cross = torch.cat([a.unsqueeze(0) for a in out.cross_attentions], dim=0)
    return encoder_self, cross, output_ids''',
    "translate_decoder_only": '''
def translate_decoder_only(model, tokenizer, sentences, max_new_tokens=48):
    """Token-by-token greedy loop written by hand, stopping at EOS."""
    out = []
    for s in sentences:
        ids = tokenizer(f"English: {s} German:", return_tensors="pt").input_ids
        start = ids.shape[1]
        for _ in range(max_new_tokens):
            with torch.no_grad():
                nxt = model(ids).logits[0, -1].argmax()
            ids = torch.cat([ids, nxt.view(1, 1)], dim=1)
            if int(nxt) == tokenizer.eos_token_id:
                break
        text = tokenizer.decode(ids[0, start:], skip_special_tokens=True)
        out.append(text.split("\\n")[0].strip())
    return out''',
}


def load(name: str, alternative: dict | None = None):
    """The alternative implementation ``name`` as a function (our own test source, not a kernel's)."""
    import matplotlib.pyplot as plt

    source = (alternative or {**ALTERNATIVE_1, **ALTERNATIVE_2})[name]
    namespace = {"torch": torch, "np": np, "math": math, "Counter": Counter, "plt": plt}
    exec(compile(source, f"<alternative {name}>", "exec"), namespace)
    return namespace[name]


needs_models = pytest.mark.skipif(not (assets_dir() / "models" / "MANIFEST.json").exists(),
                                  reason="the shipped models are not built yet")


@pytest.fixture(scope="module")
def models():
    from graders.parts import part3 as grader

    return grader._causal("tiny-lm"), grader._seq2seq("tiny-t5"), grader._causal("tiny-translator")


def _same(a, b):
    assert [t for t, _ in a] == [t for t, _ in b], (a, b)
    np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-4)


@needs_models
def test_vectorised_beam_search_agrees(models):
    from reference import part3 as ref

    (model, tok), _, _ = models
    alt = load("beam_search_decoder")
    for prompt, k, L in [("The little dog", 3, 12), ("I have a dream", 2, 30), ("The old man", 5, 40),
                         ("A big cat that", 1, 20), ("She", 5, 8)]:
        _same(alt(model, tok, prompt, k, L), ref.beam_search_decoder(model, tok, prompt, k, L))


@needs_models
def test_full_vocabulary_enhanced_search_agrees(models):
    from reference import part3 as ref

    (model, tok), _, _ = models
    alt = load("enhanced_beam_search_decoder")
    for prompt, k, L, n, f in [("The little dog", 3, 24, 2, 0.5), ("I have a dream", 3, 30, 3, 0.0),
                               ("The old man", 5, 24, 3, 2.0), ("She", 2, 30, 2, 0.3), ("My friend", 1, 20, 2, 1.0)]:
        _same(alt(model, tok, prompt, k, L, n, f), ref.enhanced_beam_search_decoder(model, tok, prompt, k, L, n, f))


def test_bleu_and_hamming_agree():
    from graders.parts import part3 as grader
    from reference import part3 as ref

    bleu, hamming = load("calculate_bleu_score"), load("calculate_hamming_penalty")
    for seed in range(5):
        for corpora in grader._bleu_cases(np.random.default_rng(seed)).values():
            for p, r in corpora:
                assert abs(bleu(p, r) - ref.calculate_bleu_score(p, r)) < 1e-12
        seq, others, f = grader._hamming_case(np.random.default_rng(seed))
        assert abs(hamming(seq, others, f) - ref.calculate_hamming_penalty(seq, others, f)) < 1e-12


@needs_models
def test_translation_and_attention_alternatives_agree(models):
    from graders.parts import part3 as grader
    from reference import part3 as ref

    _, (t5, t5_tok), (lm, lm_tok) = models
    sentences = [en for en, _ in grader._test_set()[:12]]
    assert load("translate_seq2seq")(t5, t5_tok, sentences) == ref.translate_seq2seq(t5, t5_tok, sentences)
    assert load("translate_decoder_only")(lm, lm_tok, sentences) == ref.translate_decoder_only(lm, lm_tok, sentences)
    text = "translate English to German: " + sentences[0]
    for a, b in zip(load("get_attention_weights")(text, t5, t5_tok), ref.get_attention_weights(text, t5, t5_tok)):
        assert a.shape == b.shape and torch.allclose(a.float(), b.float(), atol=1e-6)
