# %% [markdown]
# # Part 4 — Advanced decoding strategies (15 points)
#
# A language model does not write text; it gives, for the sequence it has seen so far, a score
# (a *logit*) for every token of its vocabulary. A **decoding strategy** turns those scores into
# text, one token at a time. This part builds four of them by hand and looks at what they do:
#
# 1. **greedy search** — always take the most probable token;
# 2. a **tree search** that keeps several candidates at every step and expands all of them
#    (the exhaustive cousin of beam search), then picks the best complete sequence;
# 3. **top-k sampling** — draw the next token at random among the `k` most probable ones;
# 4. **nucleus (top-p) sampling** — draw it among the smallest set of tokens that together hold
#    a probability mass of at least `p`.
#
# You will also draw the search tree and the distribution a sampler draws from.
#
# The original assignment did this with GPT-2 downloaded from the hub. Here everything runs
# offline on `tiny-lm`, a small GPT-2-architecture model that ships with the homework in
# `models/tiny-lm`. It was trained on short, simple English-like sentences that end with `" ."`
# followed by the end-of-text token, so its continuations are predictable enough to be checked —
# but the algorithms are exactly the ones you would run on GPT-2.
#
# **What you write** (read each docstring: it states exactly what goes in and what must come
# out — that is what is graded):
#
# | functions | points |
# |---|---|
# | `get_log_prob` | 1 |
# | `greedy_search` | 3 |
# | `greedy_sampling` | 1 |
# | `top_k_filter`, `top_k_sampling`, `plot_prob_distribution` | 3 |
# | `top_p_filter`, `nucleus_sampling` | 3 |
# | `beam_search`, `get_best_sequence`, `plot_tree` | 3 |
# | written comparison | 1 |
#
# How it is graded: the graders call your functions on their own inputs — other prompts, other
# logits, fresh copies of the model, their own random generators. So every function must use
# only its arguments, never the global variables of this notebook. Deterministic functions are
# compared with a reference solution. Samplers are judged **statistically**: the graders call
# them thousands of times and check that every draw comes from the right set of tokens, that the
# ids of one call are all different, and that the first draws follow the right distribution.
# Any correct sampler passes, whichever random functions it calls, as long as it takes all its
# randomness from the `generator` argument.

# %% [locked] part4-setup
import math
import time

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

torch.set_num_threads(1)

MODEL_PATH = "models/tiny-lm"   # the embedded model (a folder written by save_pretrained)
PROMPT = "The little dog"       # (the original's "I have a dream" ends a sentence in this language)
SEED = 0

tokenizer = AutoTokenizer.from_pretrained(MODEL_PATH)
model = AutoModelForCausalLM.from_pretrained(MODEL_PATH).eval()
input_ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
print("prompt tokens:", tokenizer.convert_ids_to_tokens(input_ids[0]))
print("vocabulary size:", model.config.vocab_size)

# %% [markdown]
# ## 1. Scores of tokens: `get_log_prob` (1 point)
#
# The model's output for a batch of one sequence has shape `[1, seq_len, vocab_size]`; the
# logits that predict the **next** token are those of the last position,
# `model(input_ids).logits[0, -1, :]`, a vector of shape `[vocab_size]`.
#
# Every strategy below scores a token by its **log-probability**: the logarithm of its softmax
# probability. Sums of log-probabilities are log-probabilities of whole sequences, and they do
# not underflow the way products of small probabilities do. `get_log_prob(logits, token_id)`
# takes that one vector (not the whole model output) and returns a Python `float`. Mind the
# difference between `log(softmax(x))` and `log(x)`: logits are not probabilities.

# %% [solution] get_log_prob

# %%
with torch.no_grad():
    next_logits = model(input_ids).logits[0, -1, :]
best = int(next_logits.argmax())
print(f"most probable next token: {tokenizer.decode([best])!r}, "
      f"log-prob {get_log_prob(next_logits, best):.4f}, probability {math.exp(get_log_prob(next_logits, best)):.2%}")

# %% [markdown]
# ## 2. Greedy search (3 points)
#
# Greedy search appends the single most probable token, again and again. We keep a record of
# its choices as a **graph** (a `networkx.DiGraph`), because the next sections grow the same
# record into a tree: node 0 holds the prompt, node `i` the `i`-th generated token with its
# probability in percent (`tokenscore`), and an edge joins each node to the next.
#
# Two details matter for the comparison with the library:
#
# * `tiny-lm` ends every sentence with `" ."` and then the end-of-text token. Your loop simply
#   runs `length` steps and treats that token like any other; `model.generate` stops at it
#   unless you switch that off (`eos_token_id=None`), which the check below does.
# * The graph's `token` attributes are decoded with `skip_special_tokens=True`, so the
#   end-of-text token shows as an empty string.
#
# Then draw the graph. `pygraphviz` (which the original used for the layout) is not installed;
# networkx can lay a tree out by itself: `nx.bfs_layout(graph, 0, align="horizontal")` puts all
# nodes of the same depth on one line (flip the y coordinates so that the root is on top).
# `plot_tree` should work for both the path of this section and the trees of the next ones.

# %% [solution] greedy_search plot_tree

# %%
length = 5
output_ids, greedy_graph = greedy_search(model, tokenizer, input_ids, length)
print("greedy:", repr(tokenizer.decode(output_ids[0], skip_special_tokens=True)))

# the library's greedy decoding, with the end-of-text stop switched off, must agree
with torch.no_grad():
    library = model.generate(input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=length,
                             do_sample=False, eos_token_id=None, pad_token_id=tokenizer.eos_token_id)
print("same as model.generate:", torch.equal(output_ids, library))

fig = plot_tree(greedy_graph, score="token")
plt.show()

# %% [markdown]
# ## 3. A tree search that keeps every branch (`greedy_sampling`: 1 point; the tree, the best sequence and `plot_tree`: 3 points)
#
# Greedy search never reconsiders: a slightly less probable first token can lead to a much
# more probable sentence. Beam search keeps the `beams` best candidates at every step. The
# original assignment used a simpler, exhaustive variant that is easy to picture: at **every**
# node take `beams` candidate tokens and expand **each** of them, down to depth `length`. Nothing
# is pruned, so the tree has `beams ** length` leaves — exponential, which is why real beam
# search keeps only `beams` sequences per step; here the tree stays small.
#
# * `greedy_sampling(logits, beams)` picks the `beams` most probable tokens, best first.
# * `beam_search(...)` builds the tree. Each node stores its `token`, its `tokenscore`
#   (probability in %), `cumscore` — the sum of log-probabilities from the root down to it — and
#   `sequencescore` = `cumscore` divided by the length of the whole sequence, prompt included, so
#   that sequences of different lengths can be compared. A recursive function that expands one
#   node and calls itself on each child is the natural way to write it. The `sampling` argument
#   selects how candidates are chosen: `"greedy"` here, `"top_k"` and `"nucleus"` in the next
#   two sections (with top-k = 20 and p = 0.5, as in the original, and the same `temperature` at
#   every depth of the tree).
# * `get_best_sequence(graph)` returns the text and the score of the leaf with the highest
#   `sequencescore`.

# %% [solution] greedy_sampling beam_search get_best_sequence

# %%
tree_length, beams = 3, 2
start = time.perf_counter()
greedy_tree = beam_search(model, tokenizer, input_ids, tree_length, beams, "greedy", 1.0, None)
print(f"{greedy_tree.number_of_nodes()} nodes in {time.perf_counter() - start:.2f} s")
text, score = get_best_sequence(greedy_tree)
print(f"best sequence (greedy tree): {text!r}, sequence score {score:.3f}")

fig = plot_tree(greedy_tree, score="sequence")
plt.show()

# %% [markdown]
# ## 4. Top-k sampling (3 points)
#
# Always taking the most probable tokens makes text dull and repetitive. Sampling draws the
# next token at random from the model's distribution instead; **top-k sampling** first removes
# every token outside the `k` most probable ones (their logits become `-inf`), so that the long
# tail of unlikely tokens can never be drawn. The **temperature** `T` divides the logits before
# the softmax: `T < 1` sharpens the distribution towards the top tokens, `T > 1` flattens it.
#
# * `top_k_filter(logits, top_k)` returns the filtered logits (the same as
#   `transformers.TopKLogitsWarper`).
# * `top_k_sampling(...)` draws `beams` **different** ids (sampling without replacement, since
#   the tree needs distinct children) from `softmax(top_k_filter(logits, top_k) / T)`. Take every
#   random number from the `generator` you are given (`torch.multinomial(..., generator=...)`).
# * `plot_prob_distribution(...)` draws the most probable tokens as bars and highlights the
#   ones the sampler chose.

# %% [solution] top_k_filter top_k_sampling plot_prob_distribution

# %%
generator = torch.Generator().manual_seed(SEED)
temperature, top_k = 0.8, 20
chosen = top_k_sampling(next_logits, temperature, top_k, beams, generator)
print("sampled:", [tokenizer.decode([i]) for i in chosen.tolist()])
fig = plot_prob_distribution(torch.softmax(next_logits / temperature, dim=-1), chosen, tokenizer, total_nb=30,
                             title=f"top-k sampling (k = {top_k}, T = {temperature})", kept=top_k)
plt.show()

topk_tree = beam_search(model, tokenizer, input_ids, tree_length, beams, "top_k", temperature, generator)
text, score = get_best_sequence(topk_tree)
print(f"best sequence (top-k tree): {text!r}, sequence score {score:.3f}")
fig = plot_tree(topk_tree, score="token")
plt.show()

# %% [markdown]
# ## 5. Nucleus sampling (3 points)
#
# A fixed `k` is too many candidates when the model is sure of the next token and too few when
# it hesitates. **Nucleus sampling** (Holtzman et al., 2020) keeps instead the smallest set of
# most probable tokens whose total probability reaches `p`: going down the sorted tokens, a
# token is kept while the mass of the tokens before it is still below `p`, so the token that
# crosses `p` is kept too. The temperature is applied first, then the cut, as
# `transformers`' `TemperatureLogitsWarper` followed by `TopPLogitsWarper` do — so a low
# temperature also makes the nucleus smaller. `min_tokens_to_keep` guarantees a minimum number
# of candidates; the sampler sets it to `beams`, so that `beams` distinct tokens can always be
# drawn.

# %% [solution] top_p_filter nucleus_sampling

# %%
p = 0.5
chosen = nucleus_sampling(next_logits, temperature, p, beams, generator)
kept = int(torch.isfinite(top_p_filter(next_logits, p, temperature, min_tokens_to_keep=beams)).sum())
print(f"the nucleus holds {kept} tokens; sampled:", [tokenizer.decode([i]) for i in chosen.tolist()])
fig = plot_prob_distribution(torch.softmax(next_logits / temperature, dim=-1), chosen, tokenizer, total_nb=30,
                             title=f"nucleus sampling (p = {p}, T = {temperature})", kept=kept)
plt.show()

nucleus_tree = beam_search(model, tokenizer, input_ids, tree_length, beams, "nucleus", temperature, generator)
text, score = get_best_sequence(nucleus_tree)
print(f"best sequence (nucleus tree): {text!r}, sequence score {score:.3f}")
fig = plot_tree(nucleus_tree, score="sequence")
plt.show()

# %% [markdown]
# ## 6. Comparison (1 point, graded by a TA)
#
# Compare the four strategies on this model, using the outputs above (run the sampling cells a
# few times with other seeds and temperatures if it helps). Which best sequences and sequence
# scores did greedy search and the greedy tree find, and why can the tree find a better one?
# How do the sampled trees differ from the greedy tree? What do the temperature and the choice
# of `k` or `p` change, and when would you prefer nucleus sampling to top-k sampling? Why does
# the tree of this notebook not scale to long texts, and how does beam search avoid that?

# %% [answer] part4.written
# Greedy search gave "The little dog sees the little dog ." — each token the locally most probable
# one. The greedy tree (two candidates per node, three levels) contains that path as its leftmost
# branch, so its best sequence can only match or beat the greedy prefix of the same length; here
# the best leaf is that prefix itself, "The little dog sees the little" (sequence score −0.87). In
# general a slightly less probable token early on can open a continuation whose later tokens are
# almost certain, which greedy search never sees.
#
# The sampled trees contain tokens that the greedy tree never considers. In our run the top-k tree
# even found a better sequence than the greedy tree ("The little dog is little .", −0.73): " is"
# was only the third most probable token after "The little dog", outside the greedy tree's two
# candidates, but everything after it was nearly certain. Sampled trees can also be worse, since
# sampling deliberately leaves the most probable path; scores measure probability under the model,
# not quality. A lower temperature pulls both samplers towards greedy behaviour, a higher one
# spreads the draws (and makes ungrammatical sequences more likely).
#
# Top-k always keeps k candidates: too many when the model is certain (after " ." only the
# end-of-text token makes sense, yet 19 others stay possible), too few when many words fit (after
# "The little dog" more than 20 verbs are plausible). Nucleus sampling adapts the number of
# candidates to the model's confidence — 7 tokens after "The little dog" at p = 0.5 and T = 0.8,
# a single one after " ." — so it is usually the better default.
#
# The exhaustive tree has beams ** length leaves and needs one model call per inner node, so its
# cost grows exponentially with the length. Beam search keeps only the `beams` best sequences at
# every step (ranking all their continuations together), so its cost grows linearly with the
# length, at the price of possibly pruning the sequence that would have been best.
