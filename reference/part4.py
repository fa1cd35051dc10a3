"""Reference solution of Part 4 (advanced decoding): the one source of the solved notebook's code.

``tools/build_notebooks.py part4`` copies the notebook functions below into the solved notebook
and turns them into stubs (signature + docstring) for students, so every docstring states the
exact types and shapes of arguments and return values: that contract is what the graders test.

The functions after the ``Helpers for graders and tests`` line are not part of the notebook;
the graders and the tests use them to load the model and encode prompts.
"""
from __future__ import annotations

import functools
import math

import matplotlib.pyplot as plt
import networkx as nx
import torch


def get_log_prob(logits, token_id):
    """The log-probability of one token under the softmax of one vector of logits.

    Args:
        logits (torch.Tensor): float tensor of shape ``[vocab_size]``: the logits of ONE
            position, e.g. ``model(input_ids).logits[0, -1, :]`` (not the whole
            ``[batch, seq_len, vocab_size]`` output of the model).
        token_id (int): a token id in ``[0, vocab_size)`` (a 0-d or one-element LongTensor
            must work too).

    Returns:
        float: a Python float, ``log(softmax(logits)[token_id])`` (natural logarithm, so ≤ 0).
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    return float(log_probs[int(token_id)])


def greedy_search(model, tokenizer, input_ids, length):
    """Greedy decoding, ``length`` tokens, recorded as a path graph.

    At each step run the model on the sequence so far, append the most probable next token
    (the argmax of the logits of the last position) and go on. The end-of-text token gets no
    special treatment: generation always runs ``length`` steps.

    Args:
        model: a causal LM in evaluation mode (``GPT2LMHeadModel``); use it as it is.
        tokenizer: its tokenizer.
        input_ids (torch.LongTensor): the prompt, shape ``[1, prompt_len]``.
        length (int): the number of tokens to generate (≥ 1).

    Returns:
        tuple: ``(output_ids, graph)`` where

        * ``output_ids`` is a ``torch.LongTensor`` of shape ``[1, prompt_len + length]``: the
          prompt followed by the generated tokens (the same as ``model.generate(input_ids,
          max_new_tokens=length, do_sample=False)`` with the end-of-text token disabled);
        * ``graph`` is a ``networkx.DiGraph`` path ``0 → 1 → … → length``. Node 0 is the prompt:
          ``token`` = ``tokenizer.decode(input_ids[0], skip_special_tokens=True)``,
          ``tokenscore`` = 100.0. Node ``i`` (i ≥ 1) is the ``i``-th generated token:
          ``token`` = ``tokenizer.decode([token_id], skip_special_tokens=True)`` (a str) and
          ``tokenscore`` = its probability in percent, ``100 * softmax(logits)[token_id]``
          (a float).
    """
    graph = nx.DiGraph()
    graph.add_node(0, token=tokenizer.decode(input_ids[0], skip_special_tokens=True), tokenscore=100.0)
    ids = input_ids
    with torch.no_grad():
        for step in range(1, length + 1):
            logits = model(ids).logits[0, -1, :]
            token_id = int(torch.argmax(logits))
            log_prob = float(torch.log_softmax(logits, dim=-1)[token_id])
            ids = torch.cat([ids, torch.tensor([[token_id]], dtype=ids.dtype)], dim=-1)
            graph.add_node(step, token=tokenizer.decode([token_id], skip_special_tokens=True),
                           tokenscore=100.0 * math.exp(log_prob))
            graph.add_edge(step - 1, step)
    return ids, graph


def greedy_sampling(logits, beams):
    """The ``beams`` most probable token ids, best first.

    Args:
        logits (torch.Tensor): float tensor of shape ``[vocab_size]``.
        beams (int): how many ids to return (1 ≤ beams ≤ vocab_size).

    Returns:
        torch.LongTensor: shape ``[beams]``, the ids of the ``beams`` largest logits in
        decreasing order of logit.
    """
    return torch.topk(logits, beams).indices


def top_k_filter(logits, top_k):
    """Keep the ``top_k`` largest logits; every other entry becomes ``-inf``.

    Args:
        logits (torch.Tensor): float tensor of shape ``[vocab_size]`` (not modified).
        top_k (int): 1 ≤ top_k ≤ vocab_size.

    Returns:
        torch.Tensor: a new float tensor of shape ``[vocab_size]``: ``logits[i]`` where token
        ``i`` is among the ``top_k`` largest logits, ``float("-inf")`` elsewhere. When several
        logits are exactly equal to the ``top_k``-th largest value you may keep all of them (as
        ``transformers.TopKLogitsWarper`` does) or just enough of them to keep exactly ``top_k``.
    """
    kth_value = torch.topk(logits, top_k).values[-1]
    return logits.masked_fill(logits < kth_value, float("-inf"))


def top_k_sampling(logits, temperature, top_k, beams, generator):
    """Sample ``beams`` distinct token ids with top-k sampling.

    The distribution is ``softmax(top_k_filter(logits, top_k) / temperature)``; draw ``beams``
    ids from it **without replacement** (so they are all different), using ``generator`` for
    every random number.

    Args:
        logits (torch.Tensor): float tensor of shape ``[vocab_size]`` (not modified).
        temperature (float): > 0; below 1 sharpens the distribution, above 1 flattens it.
        top_k (int): the number of candidate tokens, 1 ≤ top_k ≤ vocab_size.
        beams (int): how many ids to draw, 1 ≤ beams ≤ top_k.
        generator (torch.Generator): the source of randomness (pass it to ``torch.multinomial``,
            ``torch.rand`` …).

    Returns:
        torch.LongTensor: shape ``[beams]``, distinct ids, in the order they were drawn (the
        first one follows the filtered distribution).
    """
    probabilities = torch.softmax(top_k_filter(logits, top_k) / temperature, dim=-1)
    return torch.multinomial(probabilities, beams, replacement=False, generator=generator)


def top_p_filter(logits, p, temperature, min_tokens_to_keep=1):
    """Nucleus (top-p) filtering of logits scaled by a temperature.

    First divide the logits by ``temperature``. Then keep the smallest set of most probable
    tokens whose total probability (under the softmax of the scaled logits) is at least ``p``
    — in other words, going down the tokens from the most probable, keep a token while the
    probability mass of the tokens before it is still below ``p``. Always keep at least the
    ``min_tokens_to_keep`` most probable tokens. This is what ``TemperatureLogitsWarper``
    followed by ``TopPLogitsWarper(top_p=p, min_tokens_to_keep=...)`` of ``transformers`` does.

    Args:
        logits (torch.Tensor): float tensor of shape ``[vocab_size]`` (not modified).
        p (float): 0 < p ≤ 1.
        temperature (float): > 0.
        min_tokens_to_keep (int): ≥ 1.

    Returns:
        torch.Tensor: a new float tensor of shape ``[vocab_size]``: ``logits[i] / temperature``
        for the kept tokens, ``float("-inf")`` for the others.
    """
    scaled = logits / temperature
    sorted_logits, order = torch.sort(scaled, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    remove_sorted = mass_before >= p
    remove_sorted[:min_tokens_to_keep] = False
    remove = torch.zeros_like(remove_sorted).scatter(0, order, remove_sorted)
    return scaled.masked_fill(remove, float("-inf"))


def nucleus_sampling(logits, temperature, p, beams, generator):
    """Sample ``beams`` distinct token ids with nucleus (top-p) sampling.

    The distribution is ``softmax(top_p_filter(logits, p, temperature, min_tokens_to_keep=beams))``
    (so there are always at least ``beams`` candidates); draw ``beams`` ids from it **without
    replacement**, using ``generator`` for every random number.

    Args:
        logits (torch.Tensor): float tensor of shape ``[vocab_size]`` (not modified).
        temperature (float): > 0, applied before the cut (see ``top_p_filter``).
        p (float): 0 < p ≤ 1.
        beams (int): how many ids to draw, 1 ≤ beams ≤ vocab_size.
        generator (torch.Generator): the source of randomness.

    Returns:
        torch.LongTensor: shape ``[beams]``, distinct ids, in the order they were drawn (the
        first one follows the filtered distribution).
    """
    probabilities = torch.softmax(top_p_filter(logits, p, temperature, min_tokens_to_keep=beams), dim=-1)
    return torch.multinomial(probabilities, beams, replacement=False, generator=generator)


def beam_search(model, tokenizer, input_ids, length, beams, sampling, temperature, generator):
    """The "keep every branch" tree search: expand ``beams`` tokens at every node, ``length`` deep.

    From every sequence, choose ``beams`` next tokens — with ``greedy_sampling`` (sampling
    ``"greedy"``), ``top_k_sampling`` with top_k = 20 (``"top_k"``) or ``nucleus_sampling`` with
    p = 0.5 (``"nucleus"``), passing ``temperature`` and ``generator`` at every depth — and
    expand each of them in turn, until the sequences have ``length`` new tokens. Nothing is
    pruned: the tree has ``beams ** length`` leaves. The end-of-text token gets no special
    treatment.

    Args:
        model: a causal LM in evaluation mode; tokenizer: its tokenizer.
        input_ids (torch.LongTensor): the prompt, shape ``[1, prompt_len]``.
        length (int): depth of the tree (tokens added to the prompt), ≥ 1.
        beams (int): children per node, ≥ 1.
        sampling (str): ``"greedy"``, ``"top_k"`` or ``"nucleus"``.
        temperature (float): > 0, used by the two sampling modes (ignored by ``"greedy"``).
        generator (torch.Generator or None): randomness of the sampling modes (None is fine
            for ``"greedy"``).

    Returns:
        networkx.DiGraph: the tree. Node 0 is the root: ``token`` = the prompt text
        (``tokenizer.decode(input_ids[0], skip_special_tokens=True)``), ``tokenscore`` = 100.0,
        ``cumscore`` = 0.0, ``sequencescore`` = 0.0. Every other node is one chosen token, with
        an edge from its parent; a node's children are added in the order the token ids were
        chosen (best first for ``"greedy"``). Its attributes:

        * ``token`` (str): ``tokenizer.decode([token_id], skip_special_tokens=True)``;
        * ``tokenscore`` (float): the token's probability under the model in percent,
          ``100 * softmax(logits)[token_id]`` (no temperature, no filter);
        * ``cumscore`` (float): the parent's ``cumscore`` + ``get_log_prob(logits, token_id)``;
        * ``sequencescore`` (float): ``cumscore`` divided by the length of the whole sequence
          ending at this node, prompt included (``prompt_len + depth``).
    """
    graph = nx.DiGraph()
    graph.add_node(0, token=tokenizer.decode(input_ids[0], skip_special_tokens=True), tokenscore=100.0,
                   cumscore=0.0, sequencescore=0.0)

    def expand(ids, node, depth):
        if depth == length:
            return
        with torch.no_grad():
            logits = model(ids).logits[0, -1, :]
        if sampling == "greedy":
            chosen = greedy_sampling(logits, beams)
        elif sampling == "top_k":
            chosen = top_k_sampling(logits, temperature, 20, beams, generator)
        elif sampling == "nucleus":
            chosen = nucleus_sampling(logits, temperature, 0.5, beams, generator)
        else:
            raise ValueError(f"sampling must be 'greedy', 'top_k' or 'nucleus', got {sampling!r}")
        log_probs = torch.log_softmax(logits, dim=-1)
        for j, token_id in enumerate(chosen.tolist()):
            token_score = float(log_probs[token_id])
            cumscore = graph.nodes[node]["cumscore"] + token_score
            new_ids = torch.cat([ids, torch.tensor([[token_id]], dtype=ids.dtype)], dim=-1)
            child = node * beams + 1 + j
            graph.add_node(child, token=tokenizer.decode([token_id], skip_special_tokens=True),
                           tokenscore=100.0 * math.exp(token_score), cumscore=cumscore,
                           sequencescore=cumscore / new_ids.shape[-1])
            graph.add_edge(node, child)
            expand(new_ids, child, depth + 1)

    expand(input_ids, 0, 0)
    return graph


def get_best_sequence(graph):
    """The best complete sequence of a search tree.

    Args:
        graph (networkx.DiGraph): a tree rooted at node 0 whose nodes carry ``token`` (str) and,
            on the leaves, ``sequencescore`` (float) — as made by ``beam_search``. Leaves (nodes
            without children) may lie at different depths.

    Returns:
        tuple: ``(text, score)``: ``score`` is the highest ``sequencescore`` of a leaf (a Python
        float) and ``text`` (str) the concatenation of the ``token`` of every node on the path
        from the root (included) to that leaf.
    """
    leaves = [n for n in graph.nodes if graph.out_degree(n) == 0]
    best = max(leaves, key=lambda n: graph.nodes[n]["sequencescore"])
    path = nx.shortest_path(graph, source=0, target=best)
    text = "".join(graph.nodes[n]["token"] for n in path)
    return text, float(graph.nodes[best]["sequencescore"])


def plot_prob_distribution(probabilities, selected, tokenizer, total_nb=20, title="", kept=None):
    """Bar chart of the most probable next tokens, with the selected ones highlighted.

    Args:
        probabilities (torch.Tensor): float tensor of shape ``[vocab_size]`` that sums to 1.
        selected (torch.LongTensor): shape ``[n]``, the ids a sampler chose.
        tokenizer: decodes ids into the bar labels.
        total_nb (int): how many tokens to show, 1 ≤ total_nb ≤ vocab_size.
        title (str): the axes title.
        kept (int or None): if given, the number of candidate tokens the sampler kept; draw a
            dotted vertical line after the ``kept``-th bar to show where the candidates end.

    Returns:
        matplotlib.figure.Figure: one axes whose first ``total_nb`` bars (in drawing order) are
        the ``total_nb`` most probable tokens, in decreasing order of probability: bar ``i`` has
        height = the ``i``-th largest probability (a probability, not a percentage) and is
        labelled with the decoded token. The bars of the selected tokens are drawn in another
        colour (recolour them, or draw them again on top — any extra bars must be the selected
        tokens, with their probabilities as heights). Return the figure; do not close it.
    """
    probabilities = probabilities.detach().float()
    top_probs, top_ids = torch.topk(probabilities, total_nb)
    chosen = set(int(i) for i in selected.reshape(-1).tolist())
    labels = [f"{tokenizer.decode([i])!r}" for i in top_ids.tolist()]
    colours = ["tab:red" if i in chosen else "tab:blue" for i in top_ids.tolist()]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * total_nb), 4))
    ax.bar(range(total_nb), top_probs.tolist(), color=colours)
    if kept is not None and kept < total_nb:
        ax.axvline(kept - 0.5, linestyle=":", color="grey", label="end of the candidates")
        ax.legend()
    ax.set_xticks(range(total_nb), labels, rotation=60, ha="right")
    ax.set_ylabel("probability")
    ax.set_title(title or "Next-token distribution (red: selected)")
    ax.grid(axis="y", alpha=0.4)
    fig.tight_layout()
    return fig


def plot_tree(graph, score="token"):
    """Draw a search tree (from ``greedy_search`` or ``beam_search``) and return the figure.

    Lay the tree out with pure networkx — ``nx.bfs_layout(graph, 0, align="horizontal")``
    puts depth ``d`` on one line; flip the y coordinates so the root is on top — (no pygraphviz,
    it is not installed), draw every node once with ``nx.draw_networkx_nodes`` coloured by its
    score, the edges with ``nx.draw_networkx_edges`` and one label per node with
    ``nx.draw_networkx_labels`` (its token and its score).

    Args:
        graph (networkx.DiGraph): a tree rooted at node 0 whose nodes carry ``token`` and
            ``tokenscore`` (and ``sequencescore`` when ``score == "sequence"``).
        score (str): ``"token"`` colours by ``tokenscore`` (%), ``"sequence"`` by ``sequencescore``.

    Returns:
        matplotlib.figure.Figure: the drawing — one marker per node of the graph, each at its own
        position, and one text label per node containing its token. Return it; do not close it.
    """
    key = "tokenscore" if score == "token" else "sequencescore"
    pos = {n: (x, -y) for n, (x, y) in nx.bfs_layout(graph, 0, align="horizontal").items()}
    nodes = list(graph.nodes)
    values = [float(graph.nodes[n][key]) for n in nodes]
    leaves = sum(1 for n in nodes if graph.out_degree(n) == 0)
    below_root = [v for n, v in zip(nodes, values) if n != 0] or values  # the root's fixed score is not a choice
    fig, ax = plt.subplots(figsize=(min(24.0, 3 + 1.3 * leaves), 5))
    drawn = nx.draw_networkx_nodes(graph, pos, nodelist=nodes, node_color=values, cmap="RdYlGn",
                                   vmin=min(below_root), vmax=max(below_root), node_size=1300, ax=ax)
    nx.draw_networkx_edges(graph, pos, ax=ax, node_size=1300)
    unit = "%" if score == "token" else ""
    labels = {n: f"{graph.nodes[n]['token']}\n{graph.nodes[n][key]:.2f}{unit}" for n in nodes}
    nx.draw_networkx_labels(graph, pos, labels=labels, font_size=8, ax=ax)
    fig.colorbar(drawn, ax=ax, label="token probability (%)" if score == "token" else "sequence score")
    ax.set_axis_off()
    fig.tight_layout()
    return fig


# ---- Helpers for graders and tests (not part of the notebook) -------------------------------

@functools.lru_cache(maxsize=4)
def load_lm(path):
    """``(model, tokenizer)`` from a local folder, model in eval mode (cached per path)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
    return model, tokenizer


def encode_prompt(tokenizer, text):
    """The prompt's ids, ``LongTensor [1, n]``."""
    return tokenizer(text, return_tensors="pt")["input_ids"]
