# %% [markdown]
# # Part 3 — Beam search, BLEU, translation and attention (20 points)
#
# A language model gives a probability to every possible next token; a **decoding algorithm**
# turns those distributions into text. Greedy search takes the single most probable token at
# every step and can miss a sentence whose first word is slightly less likely but whose whole is
# much more likely. **Beam search** keeps the `k` best partial sentences ("hypotheses") at every
# step instead of one. In this notebook you will
#
# 1. write beam search yourself, on a small causal language model;
# 2. improve it with **n-gram blocking** (against loops) and a **Hamming diversity penalty**
#    (against `k` nearly identical hypotheses);
# 3. write the **BLEU** metric from scratch;
# 4. translate a test set from English to German with an **encoder-decoder** model and with a
#    **decoder-only** model, and compare them with your BLEU;
# 5. extract and draw the **attention weights** of the encoder-decoder.
#
# The original assignment used GPT-2, `t5-small` and a multilingual GPT downloaded from the
# internet. This version runs offline on a CPU with three small models that ship with the
# homework, trained on a toy English grammar and a toy English→German translation task:
#
# | folder | architecture | trained on |
# |---|---|---|
# | `models/tiny-lm` | GPT-2 (decoder-only) | English-like sentences; each ends with `" ."` and then the end-of-text token |
# | `models/tiny-t5` | T5 (encoder-decoder) | `"translate English to German: <en>"` → `<de>` |
# | `models/tiny-translator` | GPT-2 (decoder-only) | lines `"English: <en> German: <de>"` + end-of-text |
#
# The algorithms are the ones of the original; only the models are smaller.
#
# **What you write** (every function receives what it needs as arguments; each docstring states
# exactly what goes in and what must come out — that contract is what is graded):
#
# | function(s) | points |
# |---|---|
# | `beam_search_decoder` | 4 |
# | `calculate_hamming_penalty` | 1 |
# | `enhanced_beam_search_decoder` | 3 |
# | `calculate_bleu_score` | 4 |
# | `translate_seq2seq`, `translate_decoder_only` | 2 |
# | `get_attention_weights`, `plot_attention_heatmap` | 3 |
# | ten written questions | 3 |
#
# The graders call your functions on their own inputs (other prompts, beam widths, lengths, texts,
# fresh copies of the models), so do not use the global variables of this notebook inside your
# functions. Do not use a library's beam search, n-gram blocking or BLEU inside your functions
# (you may use them outside, to check your work).

# %% [locked] part3-setup
import math
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

torch.set_num_threads(1)

LM_PATH = "models/tiny-lm"
T5_PATH = "models/tiny-t5"
TRANSLATOR_PATH = "models/tiny-translator"
TEST_SET = "data/part3_test.tsv"

lm_tokenizer = AutoTokenizer.from_pretrained(LM_PATH)
lm_model = AutoModelForCausalLM.from_pretrained(LM_PATH).eval()
print("tiny-lm parameters:", sum(p.numel() for p in lm_model.parameters()))
print("end-of-sequence token:", repr(lm_tokenizer.eos_token), lm_tokenizer.eos_token_id)

# %% [markdown]
# ## 1. Beam search (4 points)
#
# A hypothesis is a list of token ids, **prompt included**. Its **score** is the sum of the
# natural-log probabilities of the tokens generated after the prompt:
#
# $$\text{score}(y_1 \dots y_T) = \sum_{t=1}^{T} \log p(y_t \mid \text{prompt}, y_{<t})$$
#
# (a sum of logs rather than a product of probabilities: the product of a few dozen numbers below
# one quickly underflows, and the log is monotone, so the ranking is the same).
#
# Beam search with width `k`:
#
# 1. Start with one hypothesis, the prompt, with score 0.
# 2. At every step, extend **every** unfinished hypothesis by **every** token of the vocabulary
#    (score + log-probability of that token), run through *all* the candidates of *all* the
#    hypotheses together, and keep the `k` best. (Keeping the best `k` continuations of each
#    hypothesis separately, or the best continuation of each, is a different and worse
#    algorithm.) You may use the fact that only a hypothesis's own `k` best tokens can make it
#    into the overall top `k`.
# 3. A hypothesis whose last token is the end-of-sequence token (`tokenizer.eos_token_id`) is
#    **finished**: it is not extended any more, but it stays among the candidates with its score
#    and competes with the others at every later step.
# 4. Stop when every kept hypothesis is finished or the unfinished ones reach `max_length` tokens
#    (prompt included). Return the `k` hypotheses, best score first, decoded as text (prompt +
#    continuation, special tokens skipped), each with its score.
#
# With `k = 1` this is exactly greedy search. Without the end-of-sequence rule it is exactly what
# `model.generate(num_beams=k, num_return_sequences=k, do_sample=False, eos_token_id=None,
# length_penalty=0.0, ...)` computes; you can use that to check your work (the cell after the
# demo does it).

# %% [solution] beam_search_decoder

# %%
PROMPTS = ["The little dog", "I have a dream", "A big cat that"]
for prompt in PROMPTS:
    start = time.perf_counter()
    results = beam_search_decoder(lm_model, lm_tokenizer, prompt, k=3, max_length=16)
    print(f"{prompt!r}  ({time.perf_counter() - start:.2f} s)")
    for text, score in results:
        print(f"   {score:8.3f}  {text}")

# %%
# Check: k = 1 is greedy search.
inputs = lm_tokenizer("The little dog", return_tensors="pt")
greedy = lm_model.generate(**inputs, max_length=16, do_sample=False, pad_token_id=lm_tokenizer.eos_token_id)
print("greedy       :", lm_tokenizer.decode(greedy[0], skip_special_tokens=True))
print("beam, k = 1  :", beam_search_decoder(lm_model, lm_tokenizer, "The little dog", k=1, max_length=16)[0][0])

# %% [markdown]
# Beam search keeps going after a sentence ends only if you let it. Look at what happens when the
# end-of-sequence token is *not* treated specially — the library's beam search with
# `eos_token_id=None` — and a long `max_length`:

# %%
inputs = lm_tokenizer("The little dog", return_tensors="pt")
long_beams = lm_model.generate(**inputs, max_length=40, num_beams=3, num_return_sequences=3, do_sample=False,
                               eos_token_id=None, pad_token_id=lm_tokenizer.eos_token_id)
for seq in long_beams:
    print(repr(lm_tokenizer.decode(seq)))

# %% [markdown]
# **Question 1 (loops).** Run your beam search (and the cell above) with a long `max_length`.
# Do the hypotheses repeat themselves? Why does maximising the probability of the whole sequence
# favour repetition, and why does beam search make it worse than sampling would?

# %% [answer] part3.written
# Without the end-of-sequence rule the hypotheses run on past the full stop and start a new
# sentence that copies the previous one ("The little dog sleeps . The little dog sleeps . …").
# Once a phrase is in the context, the model gives a high probability to seeing it again (copying
# from context is one of the easiest things for a language model to learn, and a repeated phrase
# makes the next repetition even more likely). Beam search maximises the total log-probability,
# and a loop is a path of consistently high-probability tokens, so it is exactly what the search
# is looking for; a wider beam finds such high-probability paths more reliably. Sampling escapes
# because it sometimes takes a less likely token, which breaks the cycle.

# %% [markdown]
# **Question 2 (diversity).** Compare the `k` hypotheses your beam search returns for one prompt.
# How different are they from each other? Why?

# %% [answer] part3.written
# They are very similar: the three hypotheses for "The little dog" are "… is little .", "… sees the
# dog ." and "… sees the little dog .", and for "A big cat that" the first two differ in a single word
# ("the" / "a"). The best `k` candidates at a step tend to be small variations of the same few
# prefixes, because changing one token costs little log-probability while a genuinely different
# sentence costs a lot; so the beam spends its width on near-duplicates, and a wider beam mostly adds
# more of them.

# %% [markdown]
# ## 2. Enhanced beam search: n-gram blocking and diversity (1 + 3 points)
#
# **Hamming penalty.** To push the `k` hypotheses apart, a candidate is penalised for every
# position where it *agrees* with a hypothesis already chosen:
#
# $$\text{penalty}(y, S) = \lambda \sum_{s \in S} \#\{\, i < \min(|y|, |s|) : y_i = s_i \,\}$$
#
# with the diversity factor $\lambda$. (A Hamming *distance* counts the positions that differ;
# here we count the ones that agree, so that similarity costs.)

# %% [solution] calculate_hamming_penalty

# %%
print(calculate_hamming_penalty([5, 6, 7, 8], [[5, 6, 9], [1, 6, 7, 8, 9]], 0.5))   # 0.5 * (2 + 3) = 2.5

# %% [markdown]
# **Enhanced beam search** is beam search with two changes:
#
# * **n-gram blocking** (as `no_repeat_ngram_size` in `transformers`): a token is banned for a
#   hypothesis if, appended to it, it would complete an n-gram (n consecutive tokens) that already
#   occurs in that hypothesis — the prompt counts. Only a hypothesis of at least `n - 1` tokens can
#   have banned tokens: look at its last `n - 1` tokens, find every earlier place where the same
#   `n - 1` tokens occur, and ban the token that followed each of them. Banned tokens are never
#   chosen; the scores of the others stay the model's log-probabilities. `n = 0` blocks nothing.
# * **diverse selection**: the `k` survivors of a step are picked one at a time. The first is the
#   candidate with the best score; each next one is the candidate with the largest
#   `score − calculate_hamming_penalty(candidate, chosen, diversity_factor)`, where `chosen` are the
#   token lists (prompt included) of the survivors already picked at this step. Finished
#   hypotheses are candidates like the others. Ties go to the earlier candidate (in the order of
#   the hypotheses, then of token ids).
#
# The penalty only decides who survives: the score a hypothesis carries and that you return is its
# plain log-probability. Return the `k` final hypotheses sorted by that score. With
# `n_gram_block_size=0` and `diversity_factor=0` you must get `beam_search_decoder`'s result.

# %% [solution] enhanced_beam_search_decoder

# %%
for n, factor in [(0, 0.0), (2, 0.0), (3, 0.0), (2, 0.5), (2, 2.0)]:
    print(f"n_gram_block_size={n}, diversity_factor={factor}")
    for text, score in enhanced_beam_search_decoder(lm_model, lm_tokenizer, "The little dog", k=3, max_length=24,
                                                    n_gram_block_size=n, diversity_factor=factor):
        print(f"   {score:8.3f}  {text}")

# %% [markdown]
# **Question 3 (context).** n-gram blocking only looks at the hypothesis itself. What can go wrong
# when a phrase *should* be repeated (a name, "the", a quotation, a refrain), and how does the
# context (prompt included or not) change what is blocked?
#
# **Question 4 (n-gram size).** Compare `n_gram_block_size` 2 and 3 (and larger). What happens to
# fluency and repetition as n grows or shrinks?
#
# **Question 5 (diversity factor).** Compare several values of `diversity_factor`. How do the
# hypotheses and their scores change? What happens when the factor is very large?

# %% [answer] part3.written
# Blocking is blind to meaning: any n-gram that occurred once is forbidden, whether the repetition is
# a loop or simply correct. With n = 2, "The little dog sees the little dog ." becomes "The little dog
# sees the little cat .": the pair "little dog" may not appear twice, so the model changes the meaning
# of the sentence rather than mention the same dog again. A name of two tokens, "of the", or a sentence
# that must quote its prompt cannot be written either. Since the prompt is part of the hypothesis, every
# n-gram of the prompt is banned before a single token is generated, so a long prompt (or a long
# conversation used as context) blocks a lot; ignoring the prompt would allow the first copy of a
# phrase the user wrote.

# %% [answer] part3.written
# With n = 2 almost every repetition is blocked, also the harmless ones (the same noun, "the little"
# twice), and the model is pushed to less likely words ("the little cat" instead of "the little dog").
# With n = 3 short function-word pairs are allowed again and only longer copied phrases are blocked:
# for our short sentences the result is the same as without blocking, while the loop of a relative
# clause ("… that sees the little dog sees the little dog …") is still cut. As n grows, blocking
# catches only long copies, so the text is more fluent but the loops of question 1 come back; small n
# prevents loops but hurts fluency and meaning.

# %% [answer] part3.written
# With a factor of 0 we get plain beam search (with blocking). With 0.5 the second hypothesis changes
# from "… sees the dog ." to "… sees a dog .": one more differing position is worth a little
# log-probability. With 2.0 the third hypothesis becomes "The little dog that sees the little cat sees
# a little man ." with a score of about −19 instead of −8.6: very different from the others, and much
# less likely. The best hypothesis never changes (the first pick has no penalty). The larger the
# factor, the more the survivors are chosen for being different rather than likely; a very large
# factor fills the beam with improbable, often ungrammatical sentences.

# %% [markdown]
# ## 3. BLEU from scratch (4 points)
#
# BLEU compares hypotheses with reference translations by their shared n-grams. For a **corpus**
# (a list of hypotheses, one reference each), with words = `str.split()`:
#
# * for n = 1, 2, 3, 4: the **clipped** matches — each n-gram of a hypothesis counts at most as many
#   times as it occurs in its reference (otherwise "the the the the" would match "the cat" perfectly
#   on unigrams) — and the total number of n-grams of the hypotheses, both **summed over the corpus**;
#   precision $p_n = \text{matches}_n / \text{total}_n$;
# * the **brevity penalty**, from the total hypothesis length $c$ and total reference length $r$ of
#   the corpus: $BP = e^{1 - r/c}$ if $c < r$, else 1 (precision alone would reward very short
#   outputs);
# * $\text{BLEU} = BP \cdot \exp\big(\tfrac14 \sum_{n=1}^{4} \log p_n\big)$, and 0.0 if any $p_n$ is 0
#   (no smoothing).
#
# Corpus BLEU is **not** the average of the sentence BLEUs: the counts are summed first. The result
# is a number in [0, 1]; `sacrebleu.corpus_bleu(predictions, [references], tokenize="none",
# smooth_method="none").score` gives 100 times it, which the next cell uses as a check.

# %% [solution] calculate_bleu_score

# %%
import sacrebleu

demo_predictions = ["the cat sat on the mat", "a dog runs in the big park today"]
demo_references = ["the cat sat on a mat", "the dog runs in the big park"]
print("your BLEU     :", calculate_bleu_score(demo_predictions, demo_references))
print("sacrebleu / 100:", sacrebleu.corpus_bleu(demo_predictions, [demo_references], tokenize="none",
                                               smooth_method="none").score / 100)

# %% [markdown]
# ## 4. Translation: encoder-decoder vs decoder-only (2 points)
#
# Both models were trained on the same English→German pairs (the test set below was held out).
#
# * `translate_seq2seq` gives each sentence to `tiny-t5` as `"translate English to German: " +
#   sentence` and decodes greedily.
# * `translate_decoder_only` prompts `tiny-translator` with `"English: <sentence> German:"`, lets it
#   continue greedily and keeps only the continuation.
#
# Both use `model.generate(..., do_sample=False, num_beams=1, max_new_tokens=max_new_tokens)` and
# return one string per sentence (special tokens skipped, whitespace stripped).

# %% [locked] part3-translation-setup
t5_tokenizer = AutoTokenizer.from_pretrained(T5_PATH)
t5_model = AutoModelForSeq2SeqLM.from_pretrained(T5_PATH, attn_implementation="eager").eval()
translator_tokenizer = AutoTokenizer.from_pretrained(TRANSLATOR_PATH)
translator_model = AutoModelForCausalLM.from_pretrained(TRANSLATOR_PATH).eval()

with open(TEST_SET, encoding="utf-8") as fh:
    header, *rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
assert header == ["en", "de"], header
test_en = [en for en, de in rows]
test_de = [de for en, de in rows]
print(len(test_en), "test pairs; first:", test_en[0], "->", test_de[0])

# %% [solution] translate_seq2seq translate_decoder_only

# %% [markdown]
# The next cell translates the whole test set (300 sentences) with both models, one sentence at a
# time, and scores both with your BLEU. On a laptop CPU this takes 5–15 s. If your machine is much
# slower, lower `N_TRANSLATE` while you work (the first 100 sentences give BLEU scores within about
# 0.03 of the full set's, and the same winner); the graders call your translation functions on their
# own sentences and do not depend on this number.

# %%
N_TRANSLATE = len(test_en)
start = time.perf_counter()
seq2seq_translations = translate_seq2seq(t5_model, t5_tokenizer, test_en[:N_TRANSLATE])
decoder_only_translations = translate_decoder_only(translator_model, translator_tokenizer, test_en[:N_TRANSLATE])
print(f"translated {N_TRANSLATE} sentences with both models in {time.perf_counter() - start:.1f} s")
for en, de, a, b in list(zip(test_en, test_de, seq2seq_translations, decoder_only_translations))[:5]:
    print(f"EN  {en}\nREF {de}\nT5  {a}\nLM  {b}\n")
seq2seq_bleu = calculate_bleu_score(seq2seq_translations, test_de[:N_TRANSLATE])
decoder_only_bleu = calculate_bleu_score(decoder_only_translations, test_de[:N_TRANSLATE])
print(f"BLEU encoder-decoder (tiny-t5)          : {seq2seq_bleu:.4f}")
print(f"BLEU decoder-only    (tiny-translator)  : {decoder_only_bleu:.4f}")

# %% [markdown]
# **Question 6.** Which model has the higher BLEU on this test set?
#
# **Question 7.** Why? Think about what each architecture sees of the source sentence while it
# writes the translation, how the models were trained, and their sizes.

# %% [answer] part3.written
# The encoder-decoder (`tiny-t5`) wins: BLEU ≈ 0.60 against ≈ 0.52 for the decoder-only
# `tiny-translator` on the 300 test sentences (and about 0.61 against 0.55 on the first 100). Both make the same
# kinds of mistakes (a wrong case ending, a wrong article, a noun that is repeated or swapped in
# long sentences), but the decoder-only model makes more of them and drifts further on long inputs.

# %% [answer] part3.written
# The encoder reads the whole English sentence with bidirectional self-attention before a single
# German word is written, so every source token's representation already knows its context (is
# "the" the subject or the object? which noun does the adjective belong to?), and at every step the
# decoder's cross-attention can look up exactly the source words it needs. The decoder-only model
# reads the source with causal attention only (a source token never sees the words after it), and
# the same layers and positions must hold the source, the prompt format and the translation so far;
# it also spends part of its training on predicting the English side and the prompt, which is not
# the task. Finally `tiny-t5` has more parameters (0.76 M against 0.55 M) and separate weights for
# understanding and for generating. With much larger models and data the gap shrinks (large
# decoder-only models translate well), but at this size the architecture's inductive bias wins.

# %% [markdown]
# ## 5. Attention weights (3 points)
#
# An encoder-decoder has three kinds of attention: the encoder's **self-attention** (source tokens
# attending to source tokens), the decoder's self-attention (target to earlier target tokens) and
# the **cross-attention** (each target token attending to the source tokens). `get_attention_weights`
# returns the first and the last of these for one input:
#
# 1. tokenise `text` (the complete model input, prefix included) and translate it greedily with
#    `model.generate(**inputs, max_new_tokens=32)` → `output_ids`, shape `[1, tgt]` (it starts with
#    the decoder start token);
# 2. run the model once more on the same inputs with `decoder_input_ids=output_ids` and
#    `output_attentions=True`;
# 3. the output holds one tensor per layer (`encoder_attentions`, `cross_attentions`): stack them
#    into `[layers, batch, heads, src, src]` and `[layers, batch, heads, tgt, src]`.
#
# The model must be loaded with `attn_implementation="eager"`: the default "sdpa" attention of
# `transformers` 5 returns no attention weights (the setup cell already does this).
#
# `plot_attention_heatmap` draws one layer and head as a heatmap: rows are the attending tokens
# (queries), columns the attended ones (keys), with the tokens as tick labels.

# %% [solution] get_attention_weights plot_attention_heatmap

# %%
text = "translate English to German: " + test_en[0]
encoder_attentions, cross_attentions, output_ids = get_attention_weights(text, t5_model, t5_tokenizer)
src_tokens = t5_tokenizer.convert_ids_to_tokens(t5_tokenizer(text).input_ids)
tgt_tokens = t5_tokenizer.convert_ids_to_tokens(output_ids[0])
print("encoder self-attention:", tuple(encoder_attentions.shape), " cross-attention:", tuple(cross_attentions.shape))
print("translation:", t5_tokenizer.decode(output_ids[0], skip_special_tokens=True))

# %%
last = cross_attentions.shape[0] - 1
fig = plot_attention_heatmap(cross_attentions, last, 0, src_tokens, tgt_tokens,
                             title=f"cross-attention, layer {last}, head 0")
plt.show()

# %%
fig = plot_attention_heatmap(encoder_attentions, 0, 0, src_tokens, src_tokens,
                             title="encoder self-attention, layer 0, head 0")
plt.show()

# %%
# every head of the first and of the last decoder layer's cross-attention
n_layers, _, n_heads = cross_attentions.shape[:3]
fig, axes = plt.subplots(2, n_heads, figsize=(3 * n_heads, 6), squeeze=False)
for row, layer in enumerate([0, n_layers - 1]):
    for head in range(n_heads):
        axes[row, head].imshow(cross_attentions[layer, 0, head].numpy(), cmap="viridis", aspect="auto")
        axes[row, head].set_title(f"layer {layer}, head {head}", fontsize=9)
        axes[row, head].set_xticks([])
        axes[row, head].set_yticks([])
fig.tight_layout()
plt.show()

# %%
# a short and a long input: the last layer's cross-attention, head 0
by_length = sorted(test_en, key=len)
fig, axes = plt.subplots(1, 2, figsize=(14, 6))
for ax, sentence in zip(axes, [by_length[0], by_length[-1]]):
    text = "translate English to German: " + sentence
    enc_att, cross_att, out_ids = get_attention_weights(text, t5_model, t5_tokenizer)
    ax.imshow(cross_att[-1, 0, 0].numpy(), cmap="viridis", aspect="auto")
    ax.set_title(f"{len(t5_tokenizer(text).input_ids)} source tokens", fontsize=10)
    ax.set_xlabel("source token")
    ax.set_ylabel("target token")
    print(sentence, "->", t5_tokenizer.decode(out_ids[0], skip_special_tokens=True))
fig.tight_layout()
plt.show()

# %% [markdown]
# **Question 8 (first vs last layer).** Compare the cross-attention of the first and the last
# decoder layer. Which one looks more like a word alignment between English and German?
#
# **Question 9 (heads).** Do the heads of one layer attend in the same way? What different roles
# can you see?
#
# **Question 10 (input length).** Try a short and a long input sentence. How do the attention maps
# change with the length of the input?

# %% [answer] part3.written
# The last decoder layer. Its cross-attention is sharp (almost one source token per row) and runs
# roughly along the diagonal. Each row belongs to the target token the decoder has just read and looks
# at the source word it is about to translate: the row of the start token looks at "The", the row of
# "Der" at "old", the row of "alte" at "man", and so on; once the translation is complete the rows rest
# on `</s>`. The first layer is much more diffuse (on our examples its rows have about four times the
# entropy): its heads spread over the task prefix "translate English to German:", punctuation and a few
# content words, which looks more like gathering general context than aligning words.

# %% [answer] part3.written
# No. In the last layer one head follows the source almost word by word and moves to `</s>` when the
# sentence is done; the others share that alignment for the first words but then drift, for some rows,
# to the task prefix ("German", ":", "to"), which works as a resting place when a head has nothing useful
# to read. In the first layer the heads latch onto single content words (the subject noun, say)
# wherever they are. In the encoder several heads are positional: each token attends mainly to the
# token one, two, three or five positions before it, whatever the words are. Different heads carry
# different kinds of information (position, alignment, a "no-op"), which is the point of having
# several of them.

# %% [answer] part3.written
# With a short input each target token has few candidates and the maps are sharp and clearly
# diagonal. With a long input (a relative clause, a fronted adverb, 25+ tokens) the attention spreads
# over more tokens, the rows become blurrier (the last layer's entropy rose from about 0.3 to about
# 1.0 on our examples) and the alignment breaks down in the middle of the sentence; there the decoder
# gets stuck on one source token for several steps and the translation repeats a word ("kluge kluge
# kluge …") or drops part of the sentence. Long sentences are rare in the training data and a small
# model with two layers cannot keep track of its position in a long source.
