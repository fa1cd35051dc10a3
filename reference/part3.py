"""Reference solution of Part 3: beam search, BLEU, translation, attention.

The one source of truth for the solved notebook (``tools/build_notebooks.py`` copies these
functions into it, and gives students their signatures and docstrings). Tested against
independent oracles in ``tests/parts/test_part3_reference.py``: ``model.generate`` beam search
(EOS disabled) and greedy search, transformers' ``NoRepeatNGramLogitsProcessor``, sacrebleu, and a
forward pass with ``output_attentions=True``.

Conventions shared by the decoders: a hypothesis is a list of token ids, prompt
included; its score is the sum of the natural-log probabilities of its generated tokens under the
model (no length normalisation); ``max_length`` counts prompt + generated tokens; a hypothesis whose
last token is ``tokenizer.eos_token_id`` is finished: it is not expanded again but stays among the
candidates, with its score, at every later step.
"""
from __future__ import annotations

import math
from collections import Counter

import matplotlib.pyplot as plt
import torch


def beam_search_decoder(model, tokenizer, text, k, max_length):
    """Vanilla beam search on a causal language model (no library beam search).

    Args:
        model: a causal LM (``transformers.AutoModelForCausalLM``) in eval mode;
            ``model(input_ids).logits`` has shape ``[batch, seq, vocab]``.
        tokenizer: its tokenizer; ``tokenizer(text).input_ids`` are the prompt's token ids and
            ``tokenizer.eos_token_id`` is the end-of-sequence token.
        text (str): the prompt.
        k (int): the beam width (k >= 1; k = 1 is greedy search).
        max_length (int): the maximum number of tokens of a hypothesis, prompt tokens included.

    At every step each unfinished hypothesis is extended by every token; the new candidates, together
    with the finished hypotheses (last token = EOS, kept unchanged with their scores), are ranked
    together by score and the best ``k`` survive. The search stops when every surviving hypothesis
    is finished or the unfinished ones have ``max_length`` tokens.

    Returns:
        list[tuple[str, float]]: the ``k`` final hypotheses, best first, each as
        ``(text, score)``: ``text`` = ``tokenizer.decode(all_token_ids, skip_special_tokens=True)``
        (prompt + continuation) and ``score`` = a Python float, the sum of the natural-log
        probabilities of the generated tokens (EOS included when generated).
    """
    prompt = tokenizer(text).input_ids
    eos = tokenizer.eos_token_id
    beams = [(list(prompt), 0.0)]
    for _ in range(max_length - len(prompt)):
        candidates = []
        for tokens, score in beams:
            if tokens[-1] == eos:  # finished: not expanded, competes with its score
                candidates.append((tokens, score))
                continue
            with torch.no_grad():
                logits = model(torch.tensor([tokens])).logits[0, -1]
            log_probs = torch.log_softmax(logits.float(), dim=-1)
            # only a parent's k best tokens can be among the k best candidates overall
            best = torch.topk(log_probs, min(k, log_probs.numel()))
            for lp, token in zip(best.values.tolist(), best.indices.tolist()):
                candidates.append((tokens + [token], score + lp))
        candidates.sort(key=lambda c: c[1], reverse=True)  # rank every candidate together
        beams = candidates[:k]
        if all(tokens[-1] == eos for tokens, _ in beams):
            break
    return [(tokenizer.decode(tokens, skip_special_tokens=True), float(score)) for tokens, score in beams]


def calculate_hamming_penalty(sequence, all_sequences, diversity_factor):
    """The diversity penalty of ``sequence`` against sequences already chosen.

    Args:
        sequence (list[int]): token ids of one hypothesis (prompt included).
        all_sequences (list[list[int]]): token ids of the hypotheses already chosen (may be empty).
        diversity_factor (float): the weight of the penalty.

    Returns:
        float: ``diversity_factor × Σ_s (number of positions i < min(len(sequence), len(s)) where
        sequence[i] == s[i])`` over every ``s`` in ``all_sequences`` — a count of *agreeing*
        positions, so the more a hypothesis resembles the chosen ones, the larger its penalty.
    """
    agreements = 0
    for other in all_sequences:
        agreements += sum(1 for a, b in zip(sequence, other) if a == b)
    return float(diversity_factor * agreements)


def enhanced_beam_search_decoder(model, tokenizer, text, k, max_length, n_gram_block_size, diversity_factor):
    """Beam search with n-gram blocking and Hamming diversity.

    Args:
        model, tokenizer, text, k, max_length: as in ``beam_search_decoder``.
        n_gram_block_size (int): n; a hypothesis may not contain the same n-gram twice (the prompt
            counts). As transformers' ``no_repeat_ngram_size``: a token is banned for a hypothesis
            if, appended to it, it would complete an n-gram that already occurs in that hypothesis.
            Banned tokens are never chosen; the other tokens keep their log-probabilities under the
            model (no renormalisation). 0 disables blocking.
        diversity_factor (float): the weight of ``calculate_hamming_penalty``; 0 disables diversity.

    At every step the candidates are the extensions of the unfinished hypotheses (banned tokens
    excluded) and the finished hypotheses, in parent order then token id. The ``k`` survivors are
    chosen one at a time: each time, the candidate maximising
    ``score - calculate_hamming_penalty(candidate, chosen, diversity_factor)`` (``chosen`` = the
    full token lists of the survivors already picked at this step; so the first pick is simply the
    best score; ties go to the earlier candidate). Stopping rule as in ``beam_search_decoder``.

    Returns:
        list[tuple[str, float]]: the ``k`` final hypotheses as ``(text, score)`` with the
        *un-penalised* score (sum of natural-log probabilities of the generated tokens), sorted by
        that score, best first; ``text`` decoded as in ``beam_search_decoder``.
    """
    prompt = tokenizer(text).input_ids
    eos = tokenizer.eos_token_id
    n = n_gram_block_size
    hypotheses = [(list(prompt), 0.0)]
    for _ in range(max_length - len(prompt)):
        pool = []  # (token ids, log-prob score), in parent order then token id
        for seq, logp in hypotheses:
            if seq[-1] == eos:
                pool.append((seq, logp))
                continue
            with torch.no_grad():
                next_logp = torch.log_softmax(model(torch.tensor([seq])).logits[0, -1].float(), dim=-1)
            if n and len(seq) + 1 >= n:
                # ban every token that followed an earlier occurrence of the last n-1 tokens
                context = seq[len(seq) - n + 1:]
                for i in range(len(seq) - n + 1):
                    if seq[i:i + n - 1] == context:
                        next_logp[seq[i + n - 1]] = float("-inf")
            # with at most k-1 picks per step, a parent's k best tokens always contain the pick
            top = torch.topk(next_logp, min(k, next_logp.numel()))
            for value, token in sorted(zip(top.values.tolist(), top.indices.tolist()), key=lambda p: p[1]):
                if value != float("-inf"):
                    pool.append((seq + [token], logp + value))
        chosen = []
        while pool and len(chosen) < k:
            chosen_seqs = [c[0] for c in chosen]
            adjusted = [s - calculate_hamming_penalty(c, chosen_seqs, diversity_factor) for c, s in pool]
            pick = max(range(len(pool)), key=lambda i: (adjusted[i], -i))
            chosen.append(pool.pop(pick))
        hypotheses = chosen
        if all(seq[-1] == eos for seq, _ in hypotheses):
            break
    hypotheses = sorted(hypotheses, key=lambda h: h[1], reverse=True)
    return [(tokenizer.decode(seq, skip_special_tokens=True), float(logp)) for seq, logp in hypotheses]


def calculate_bleu_score(predictions, references):
    """Corpus BLEU-4 of ``predictions`` against ``references``, from scratch.

    Args:
        predictions (list[str]): one hypothesis per sentence.
        references (list[str]): one reference per sentence (same length as ``predictions``).

    Tokens are the whitespace-separated words (``str.split()``). For n = 1..4 the clipped n-gram
    matches (each hypothesis n-gram counts at most as often as it occurs in its reference) and the
    hypothesis n-gram totals are summed over the whole corpus, giving p_n = matches_n / total_n.
    BLEU = BP × exp(¼ Σ log p_n), with the brevity penalty BP = exp(1 − r/c) if c < r else 1, where
    c and r are the hypothesis and reference lengths summed over the corpus. No smoothing: if any
    p_n is 0 (or has no n-grams), BLEU is 0.0.

    Returns:
        float: BLEU in [0, 1] (a Python float; sacrebleu reports 100 × this number).
    """
    max_n = 4
    matches = [0] * max_n
    totals = [0] * max_n
    hyp_length = ref_length = 0
    for prediction, reference in zip(predictions, references):
        hyp, ref = prediction.split(), reference.split()
        hyp_length += len(hyp)
        ref_length += len(ref)
        for order in range(1, max_n + 1):
            hyp_counts = Counter(tuple(hyp[i:i + order]) for i in range(len(hyp) - order + 1))
            ref_counts = Counter(tuple(ref[i:i + order]) for i in range(len(ref) - order + 1))
            matches[order - 1] += sum(min(count, ref_counts[gram]) for gram, count in hyp_counts.items())
            totals[order - 1] += max(len(hyp) - order + 1, 0)
    if min(totals) == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = math.exp(1 - ref_length / hyp_length) if hyp_length < ref_length else 1.0
    return float(brevity * math.exp(log_precision))


def translate_seq2seq(model, tokenizer, sentences, max_new_tokens=48):
    """Translate English sentences to German with an encoder-decoder (T5), greedily.

    Args:
        model: a ``transformers.AutoModelForSeq2SeqLM`` in eval mode.
        tokenizer: its tokenizer.
        sentences (list[str]): English sentences, without any prefix.
        max_new_tokens (int): at most this many generated tokens per sentence.

    Each sentence is given to the model as ``"translate English to German: " + sentence`` and
    decoded greedily (``model.generate(..., do_sample=False, num_beams=1, max_new_tokens=...)``;
    generation stops at EOS).

    Returns:
        list[str]: one German translation per sentence, ``tokenizer.decode(..., skip_special_tokens=True)``
        with surrounding whitespace stripped.
    """
    translations = []
    with torch.no_grad():
        for sentence in sentences:
            inputs = tokenizer("translate English to German: " + sentence, return_tensors="pt")
            output = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens)
            translations.append(tokenizer.decode(output[0], skip_special_tokens=True).strip())
    return translations


def translate_decoder_only(model, tokenizer, sentences, max_new_tokens=48):
    """Translate English sentences to German with a decoder-only LM, greedily.

    Args:
        model: a ``transformers.AutoModelForCausalLM`` in eval mode, trained on lines
            ``"English: <en> German: <de>"`` followed by EOS.
        tokenizer: its tokenizer.
        sentences (list[str]): English sentences.
        max_new_tokens (int): at most this many generated tokens per sentence.

    The prompt is ``f"English: {sentence} German:"``; it is continued greedily
    (``model.generate(..., do_sample=False, num_beams=1, max_new_tokens=...)``, stopping at EOS).

    Returns:
        list[str]: one translation per sentence: only the generated tokens (not the prompt),
        decoded with ``skip_special_tokens=True``, whitespace stripped. (The shipped translator ends
        each translation with the end-of-text token; with a model that goes on to a new line, cut
        the text at the first newline, as this solution does.)
    """
    translations = []
    with torch.no_grad():
        for sentence in sentences:
            inputs = tokenizer(f"English: {sentence} German:", return_tensors="pt")
            output = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=max_new_tokens,
                                    pad_token_id=tokenizer.eos_token_id)
            continuation = output[0, inputs["input_ids"].shape[1]:]
            text = tokenizer.decode(continuation, skip_special_tokens=True)
            translations.append(text.split("\n")[0].strip())
    return translations


def get_attention_weights(text, model, tokenizer):
    """Encoder self-attention and cross-attention of an encoder-decoder on its own greedy output.

    Args:
        text (str): the full model input (e.g. ``"translate English to German: The dog sleeps."``).
        model: a ``transformers.AutoModelForSeq2SeqLM`` loaded with ``attn_implementation="eager"``
            (``sdpa`` attention returns no weights), eval mode.
        tokenizer: its tokenizer.

    ``output_ids`` = ``model.generate(**inputs, max_new_tokens=32)`` (greedy), then one forward pass
    ``model(**inputs, decoder_input_ids=output_ids, output_attentions=True)``.

    Returns:
        tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ``(encoder_self_attentions,
        cross_attentions, output_ids)`` with shapes ``[layers, 1, heads, src, src]`` (every encoder
        layer, stacked), ``[layers, 1, heads, tgt, src]`` (every decoder layer's cross-attention,
        stacked) and ``[1, tgt]`` (``tgt = output_ids.shape[1]``, decoder start token included;
        ``src`` = number of input tokens).
    """
    inputs = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        output_ids = model.generate(**inputs, do_sample=False, num_beams=1, max_new_tokens=32)
        outputs = model(**inputs, decoder_input_ids=output_ids, output_attentions=True)
    encoder_self_attentions = torch.stack(outputs.encoder_attentions)
    cross_attentions = torch.stack(outputs.cross_attentions)
    return encoder_self_attentions, cross_attentions, output_ids


def plot_attention_heatmap(attentions, layer, head, x_labels, y_labels, title=""):
    """Heatmap of one layer and head of stacked attention weights.

    Args:
        attentions (torch.Tensor): ``[layers, batch, heads, queries, keys]`` (as returned by
            ``get_attention_weights``); batch element 0 is drawn.
        layer (int), head (int): which layer and head.
        x_labels (list[str]): one label per key (column); y_labels (list[str]): one per query (row).
        title (str): the plot title.

    Returns:
        matplotlib.figure.Figure: a figure whose heatmap (``imshow`` or ``pcolormesh``) draws the
        ``[queries, keys]`` matrix ``attentions[layer, 0, head]``, rows = queries, columns = keys.
    """
    matrix = attentions[layer, 0, head].detach().cpu().float().numpy()
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(x_labels), 1 + 0.4 * len(y_labels)))
    image = ax.imshow(matrix, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(x_labels)), labels=x_labels, rotation=90)
    ax.set_yticks(range(len(y_labels)), labels=y_labels)
    ax.set_xlabel("attended token (key)")
    ax.set_ylabel("attending token (query)")
    ax.set_title(title or f"layer {layer}, head {head}")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


# ---- Helpers for graders and tests (not part of the notebook) -------------------------------

def _ngram_statistics(pairs, *, tokenize=str.split, clip=True, max_n=4):
    """(matches per n, totals per n, hypothesis length, reference length) summed over ``pairs``."""
    matches, totals, c, r = [0] * max_n, [0] * max_n, 0, 0
    for prediction, reference in pairs:
        hyp, ref = tokenize(prediction), tokenize(reference)
        c, r = c + len(hyp), r + len(ref)
        for n in range(1, max_n + 1):
            hyp_counts = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            ref_counts = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(k, ref_counts[g]) if clip else (k if g in ref_counts else 0)
                                  for g, k in hyp_counts.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    return matches, totals, c, r


def _combine(matches, totals, c, r, *, brevity=True, smooth=False):
    if smooth:
        matches, totals = [m + 1 for m in matches], [t + 1 for t in totals]
    if min(totals) == 0 or min(matches) == 0:
        return 0.0
    mean_log = sum(math.log(m / t) for m, t in zip(matches, totals)) / len(matches)
    penalty = math.exp(1 - r / c) if brevity and c < r else 1.0
    return penalty * math.exp(mean_log)


def bleu_report(predictions, references):
    """What a BLEU check tells a student: the ingredients of the corpus BLEU (n-gram precisions,
    brevity penalty, lengths) and the value each classic mistake gives, so that a wrong number can
    be traced to its cause. Plain data (it is recorded for the student bundle's public checks)."""
    pairs = list(zip(predictions, references))
    matches, totals, c, r = _ngram_statistics(pairs)
    sentences = [_combine(*_ngram_statistics([pair])) for pair in pairs]
    last_c, last_r = _ngram_statistics(pairs[-1:])[2:]
    variants = {
        "without the brevity penalty": _combine(matches, totals, c, r, brevity=False),
        "without clipping the n-gram counts": _combine(*_ngram_statistics(pairs, clip=False)),
        "as the mean of the sentence BLEUs (corpus BLEU sums the counts first)": sum(sentences) / len(sentences),
        "with the brevity penalty of the last sentence instead of the whole corpus":
            _combine(matches, totals, last_c, last_r),
        "with r / c swapped in the brevity penalty": _combine(matches, totals, r, c),
        "with smoothed precisions (no smoothing here: a zero precision gives BLEU 0)":
            _combine(matches, totals, c, r, smooth=True),
        "with tokens from str.split(' ') (the docstring says str.split(): any run of whitespace)":
            _combine(*_ngram_statistics(pairs, tokenize=lambda s: s.split(" "))),
        "as a percentage (BLEU is in [0, 1] here)": 100 * _combine(matches, totals, c, r),
    }
    return {"bleu": _combine(matches, totals, c, r),
            "precisions": [m / t if t else 0.0 for m, t in zip(matches, totals)],
            "brevity_penalty": math.exp(1 - r / c) if 0 < c < r else 1.0,
            "hypothesis_length": c, "reference_length": r, "variants": variants}
