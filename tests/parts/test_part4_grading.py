"""Are the Part 4 graders valid? The reference scores full marks, the blank notebook nothing,
each realistic bug loses points on its own item and nowhere else, and other correct
implementations (other tie rules, other sort orders, other random calls) score full marks too.
Every notebook is executed once per session."""
from __future__ import annotations

import inspect

import pytest

from helpers import (assert_bug_groups, assert_full_auto_marks, assert_mistakes_cost_their_items, blank_notebook, grade,
                     graded_with, mutant, solved_notebook)
from reference import part4 as ref

PART = "part4"


@pytest.fixture(scope="module")
def reference_result():
    return grade(PART, solved_notebook(PART))


def test_reference_scores_full_auto_marks(reference_result):
    assert_full_auto_marks(reference_result, PART, 14)


def test_hidden_checks_are_part_of_the_run(reference_result):
    checks = {c.id: c for item in reference_result.items for c in item.checks}
    hidden = {i for i in checks if ".hidden" in i}
    assert {"part4.get_log_prob.hidden", "part4.greedy_search.hidden.ids", "part4.top_k_filter.hidden",
            "part4.top_p_filter.hidden", "part4.top_k_sampling.hidden1", "part4.nucleus_sampling.hidden2",
            "part4.beam_search.greedy.hidden1", "part4.beam_search.top_k_temperature.hidden",
            "part4.get_best_sequence.hidden"} <= hidden
    assert all(not checks[i].public for i in hidden)


def test_blank_notebook_scores_zero():
    result = grade(PART, blank_notebook(PART))
    assert result.auto_total == 0
    reasons = {c.reason for item in result.items for c in item.checks}
    assert all("NotImplementedError" in r for r in reasons), reasons


# label: (replacements in the solved notebook, the item that must lose points, checks that must fail)
BUGS = {
    "log_of_raw_logits": (
        [("    log_probs = torch.log_softmax(logits, dim=-1)\n    return float(log_probs[int(token_id)])",
          "    log_probs = torch.log(logits)\n    return float(log_probs[int(token_id)])")],
        "part4.get_log_prob", {"part4.get_log_prob", "part4.get_log_prob.hidden"}),
    "log_prob_returns_a_tensor": (
        [("    return float(log_probs[int(token_id)])", "    return log_probs[int(token_id)]")],
        "part4.get_log_prob", {"part4.get_log_prob", "part4.get_log_prob.hidden"}),
    "greedy_search_one_token_short": (
        [("        for step in range(1, length + 1):", "        for step in range(1, length):")],
        "part4.greedy_search", {"part4.greedy_search.ids", "part4.greedy_search.graph",
                                "part4.greedy_search.hidden.ids", "part4.greedy_search.hidden.graph"}),
    "greedy_search_stops_at_end_of_text": (
        [("            token_id = int(torch.argmax(logits))\n",
          "            token_id = int(torch.argmax(logits))\n            if token_id == tokenizer.eos_token_id:\n"
          "                break\n")],
        "part4.greedy_search", {"part4.greedy_search.ids", "part4.greedy_search.graph",
                                "part4.greedy_search.hidden.ids", "part4.greedy_search.hidden.graph"}),
    "greedy_tokenscore_not_in_percent": (
        [("tokenscore=100.0 * math.exp(log_prob))", "tokenscore=math.exp(log_prob))")],
        "part4.greedy_search", {"part4.greedy_search.graph", "part4.greedy_search.hidden.graph"}),
    "top_k_keeps_k_plus_one": (
        [("    kth_value = torch.topk(logits, top_k).values[-1]",
          "    kth_value = torch.topk(logits, min(top_k + 1, logits.numel())).values[-1]")],
        "part4.top_k", {"part4.top_k_filter", "part4.top_k_filter.hidden"}),  # (the sampler calls it: carried)
    "top_k_sampling_with_replacement": (
        [("    probabilities = torch.softmax(top_k_filter(logits, top_k) / temperature, dim=-1)\n"
          "    return torch.multinomial(probabilities, beams, replacement=False, generator=generator)",
          "    probabilities = torch.softmax(top_k_filter(logits, top_k) / temperature, dim=-1)\n"
          "    return torch.multinomial(probabilities, beams, replacement=True, generator=generator)")],
        "part4.top_k", {"part4.top_k_sampling"}),
    "bars_in_percent": (
        [("    ax.bar(range(total_nb), top_probs.tolist(), color=colours)",
          "    ax.bar(range(total_nb), (100 * top_probs).tolist(), color=colours)")],
        "part4.top_k", {"part4.plot_prob_distribution"}),
    "top_p_drops_the_crossing_token": (
        [("    remove_sorted = mass_before >= p", "    remove_sorted = torch.cumsum(probs, dim=-1) >= p")],
        "part4.nucleus", {"part4.top_p_filter", "part4.top_p_filter.hidden"}),
    "temperature_after_the_top_p_cut": (
        [("    sorted_logits, order = torch.sort(scaled, descending=True)",
          "    sorted_logits, order = torch.sort(logits, descending=True)")],
        "part4.nucleus", {"part4.top_p_filter", "part4.top_p_filter.hidden"}),  # (the sampler calls it: carried)
    "nucleus_sampling_ignores_temperature": (
        [("top_p_filter(logits, p, temperature, min_tokens_to_keep=beams)",
          "top_p_filter(logits, p, 1.0, min_tokens_to_keep=beams)")],
        "part4.nucleus", {"part4.nucleus_sampling"}),
    "best_sequence_by_cumscore": (
        [('    best = max(leaves, key=lambda n: graph.nodes[n]["sequencescore"])',
          '    best = max(leaves, key=lambda n: graph.nodes[n]["cumscore"])')],
        "part4.tree_search", {"part4.get_best_sequence", "part4.get_best_sequence.hidden"}),
    "tree_temperature_only_at_the_root": (  # the original notebook passed temperature 1 to the recursion
        [("chosen = top_k_sampling(logits, temperature, 20, beams, generator)",
          "chosen = top_k_sampling(logits, temperature if depth == 0 else 1.0, 20, beams, generator)"),
         ("chosen = nucleus_sampling(logits, temperature, 0.5, beams, generator)",
          "chosen = nucleus_sampling(logits, temperature if depth == 0 else 1.0, 0.5, beams, generator)")],
        "part4.tree_search", {"part4.beam_search.top_k_temperature", "part4.beam_search.top_k_temperature.hidden"}),
    "sequencescore_divided_by_depth": (
        [("sequencescore=cumscore / new_ids.shape[-1])", "sequencescore=cumscore / (depth + 1))")],
        "part4.tree_search", {"part4.beam_search.greedy", "part4.beam_search.greedy.hidden1",
                              "part4.beam_search.greedy.hidden2"}),
}


# the bugs graded a group at a time (one notebook per group, not per bug): at most one bug per item in a group,
# so each bug is still seen to cost its own item and no other (helpers.assert_mistakes_cost_their_items)
BUG_GROUPS = {
    "bugs-1": ["log_of_raw_logits", "greedy_search_one_token_short", "top_k_keeps_k_plus_one",
               "top_p_drops_the_crossing_token", "best_sequence_by_cumscore"],
    "bugs-2": ["log_prob_returns_a_tensor", "greedy_search_stops_at_end_of_text", "top_k_sampling_with_replacement",
               "temperature_after_the_top_p_cut", "tree_temperature_only_at_the_root"],
    "bugs-3": ["greedy_tokenscore_not_in_percent", "bars_in_percent", "nucleus_sampling_ignores_temperature",
               "sequencescore_divided_by_depth"],
}


def _mistakes(group: str) -> dict:
    """The group's bugs as ``assert_mistakes_cost_their_items`` takes them."""
    return {label: (BUGS[label][0], {BUGS[label][1]}, BUGS[label][2], set()) for label in BUG_GROUPS[group]}


def test_every_bug_is_in_one_group_with_no_other_bug_of_its_items():
    assert_bug_groups(BUG_GROUPS, BUGS, _mistakes)


@pytest.mark.parametrize("group", list(BUG_GROUPS))
def test_bugs_lose_points_on_their_own_items_only(group, reference_result):
    assert_mistakes_cost_their_items(PART, reference_result, _mistakes(group), label=group)


HIDDEN = " (values from hidden inputs are not shown)"
# what some of these mistakes are told: the mistake itself where its values show it, else what differs; a public
# check ends with the call (shapes and small values), the expected value and the value returned
REASONS = {
    "log_of_raw_logits": {  # (it used to be told only "case 1 of 3: wrong log-probability (…)")
        "part4.get_log_prob": (
            "case 1 of 3: wrong log-probability: it is the log of the raw logit; take log_softmax of the logits "
            "(inputs: get_log_prob(logits of shape [467] with logits[237] = 7.655, max 7.655, token_id = 237); "
            "expected -1.516443; your value: 2.03538)"),
        "part4.get_log_prob.hidden": ("case 1 of 6: wrong log-probability: it is the log of the raw logit; take "
                                      "log_softmax of the logits" + HIDDEN),
    },
    "greedy_search_stops_at_end_of_text": {
        "part4.greedy_search.ids": (
            "even with the reference `get_log_prob`: output_ids stop at the end-of-text token: here greedy decoding "
            "goes on for `length` new tokens (the end-of-text token is generated like any other) (inputs: "
            "greedy_search(model, tokenizer, input_ids of 'The little dog' (shape (1, 3)), length = 8); expected "
            "output_ids [286, 291, 280, 357, 266, 291, 280, 262, 0, 286, 291]; your value: "),
        "part4.greedy_search.hidden.graph": (
            "even with the reference `get_log_prob`: a node at depth 3 has no children: the end-of-text token is "
            "expanded like any other token (generation goes on after it here)" + HIDDEN),
    },
    "greedy_tokenscore_not_in_percent": {
        "part4.greedy_search.graph": (
            "even with the reference `get_log_prob`: tokenscore of the node of token ' sees' under the root is "
            "0.0994631, expected 9.94631: it is a probability; tokenscore is the probability in percent (× 100) "
            "(inputs: prompt 'The little dog', length 8; your value: "),
        "part4.greedy_search.hidden.graph": (
            "even with the reference `get_log_prob`: tokenscore of a node at depth 1 is wrong: it is a probability; "
            "tokenscore is the probability in percent (× 100)" + HIDDEN),
    },
    "top_k_keeps_k_plus_one": {
        "part4.top_k_filter": (
            "case 1 of 5: a token outside the top_k largest logits was kept (top_k + 1 kept: is the k-th largest "
            "value read at index k instead of k − 1?); you kept ids [7, 9, 14, 15, 22, 23, 25, 27, 33, 37, 40] "
            "(inputs: top_k_filter(logits of shape [50], top_k = 10); expected: keep ids [7, 9, 14, 15, 22, 25, 27, "
            "33, 37, 40]; your value: "),
        "part4.top_k_filter.hidden": (
            "case 1 of 30: a token outside the top_k largest logits was kept (top_k + 1 kept: is the k-th largest "
            "value read at index k instead of k − 1?)" + HIDDEN),
    },
    "top_p_drops_the_crossing_token": {
        "part4.top_p_filter": ("case 1 of 8: too few tokens kept: the token whose mass crosses p was removed; keep it "
                               "(the smallest set whose mass reaches p); you kept 15 ids [4, 6, 11, "),
        "part4.top_p_filter.hidden": ("case 4 of 40: too few tokens kept: the token whose mass crosses p was removed; "
                                      "keep it (the smallest set whose mass reaches p)" + HIDDEN),
    },
    "temperature_after_the_top_p_cut": {
        "part4.top_p_filter": (
            "case 4 of 8: too many tokens kept: the kept set is the one at temperature 1: apply the temperature "
            "before the cut; you kept 5 ids [26, 32, 33, 36, 50] (inputs: top_p_filter(logits of shape [60], p = 0.7, "
            "temperature = 0.3, min_tokens_to_keep = 1); expected: keep the 1 most probable, ids [50]; your value: "),
    },
    "best_sequence_by_cumscore": {
        "part4.get_best_sequence": (
            "the score is not the highest sequencescore among the leaves: it is the leaf with the highest cumscore; "
            "the best leaf has the highest sequencescore (inputs: a tree of 20 nodes; expected ("),
        "part4.get_best_sequence.hidden": (
            "the score is not the highest sequencescore among the leaves: it is the leaf with the highest cumscore; "
            "the best leaf has the highest sequencescore" + HIDDEN),
    },
    "sequencescore_divided_by_depth": {
        "part4.beam_search.greedy.hidden1": (
            "even with the reference `get_log_prob`, `greedy_sampling`, `top_k_sampling`, `nucleus_sampling`, "
            "`top_k_filter`, `top_p_filter`: sequencescore of a node at depth 1 is wrong: it is cumscore divided by "
            "the number of generated tokens; sequencescore divides by the full sequence length, prompt included"
            + HIDDEN),
    },
}


@pytest.mark.parametrize("label", list(REASONS))
def test_reasons_name_the_mistake_and_public_ones_show_the_call(label, reference_result):
    result = graded_with(PART, label, BUG_GROUPS, _mistakes)  # graded once, with its group, by the test above
    reasons = {c.id: c.reason for item in result.items for c in item.checks}
    for cid, start in REASONS[label].items():
        assert reasons[cid].startswith(start), (cid, reasons[cid])


# The original notebook's searches scored tokens with get_log_prob: then a wrong get_log_prob (or any
# function the tree search calls) costs their items too, until errors are carried forward.
SEARCHES_CALL_GET_LOG_PROB = [
    ("            log_prob = float(torch.log_softmax(logits, dim=-1)[token_id])",
     "            log_prob = get_log_prob(logits, token_id)"),
    ("            token_score = float(log_probs[token_id])", "            token_score = get_log_prob(logits, token_id)"),
]
TOP_K_PROBABILITIES = "    probabilities = torch.softmax(top_k_filter(logits, top_k) / temperature, dim=-1)\n"
TREE, TOP_K, NUCLEUS = "part4.tree_search", "part4.top_k", "part4.nucleus"

# groups of mistakes graded together: name → (replacements, own items, checks that must fail, carried items)
MISTAKE_GROUPS = {
    "calls-carry-mistakes": {
        "get_log_prob_of_raw_logits": (
            SEARCHES_CALL_GET_LOG_PROB
            + [("    log_probs = torch.log_softmax(logits, dim=-1)\n    return float(log_probs[int(token_id)])",
                "    log_probs = torch.log(logits)\n    return float(log_probs[int(token_id)])")],
            {"part4.get_log_prob"}, {"part4.get_log_prob", "part4.get_log_prob.hidden"},
            {"part4.greedy_search", TREE}),
        "greedy_sampling_returns_a_list": (  # right ids: accepted with a note; beam_search's .tolist() fails
            [("    return torch.topk(logits, beams).indices", "    return torch.topk(logits, beams).indices.tolist()")],
            set(), set(), {TREE}),
        "top_k_sampling_ignores_temperature": (
            [(TOP_K_PROBABILITIES, "    probabilities = torch.softmax(top_k_filter(logits, top_k), dim=-1)\n")],
            {TOP_K}, {"part4.top_k_sampling.hidden1", "part4.top_k_sampling.hidden2"}, {TREE}),
        "top_p_filter_ignores_min_tokens_to_keep": (
            [("    remove_sorted[:min_tokens_to_keep] = False", "    remove_sorted[:1] = False")],
            {NUCLEUS}, {"part4.top_p_filter"}, {TREE}),
    },
    "more-carried-mistakes": {
        "greedy_sampling_returns_one_int": (
            [("    return torch.topk(logits, beams).indices", "    return int(torch.argmax(logits))")],
            {"part4.greedy_sampling"}, {"part4.greedy_sampling", "part4.greedy_sampling.hidden"}, {TREE}),
        "nucleus_sampling_without_min_tokens_to_keep": (  # the public nucleus holds fewer tokens than beams
            [("top_p_filter(logits, p, temperature, min_tokens_to_keep=beams)", "top_p_filter(logits, p, temperature)")],
            {NUCLEUS}, {"part4.nucleus_sampling"}, {TREE}),
        "bar_chart_ignores_title_and_kept": (
            [('    ax.set_title(title or "Next-token distribution (red: selected)")',
              '    ax.set_title("Next-token distribution (red: selected)")'),
             ("    if kept is not None and kept < total_nb:", "    if False:")],
            {TOP_K}, {"part4.plot_prob_distribution"}, set()),
    },
    "own-item-mistakes": {
        "tree_stops_at_end_of_text": (
            [("            expand(new_ids, child, depth + 1)",
              "            if token_id != tokenizer.eos_token_id:\n                expand(new_ids, child, depth + 1)")],
            {TREE}, {"part4.beam_search.greedy.hidden2"}, set()),
        "tree_drawing_ignores_score": (
            [('    key = "tokenscore" if score == "token" else "sequencescore"', '    key = "tokenscore"')],
            {TREE}, {"part4.plot_tree"}, set()),
        "top_k_sampling_with_global_random_state": (
            [(TOP_K_PROBABILITIES + "    return torch.multinomial(probabilities, beams, replacement=False, generator=generator)",
              TOP_K_PROBABILITIES + "    return torch.multinomial(probabilities, beams, replacement=False)")],
            {TOP_K}, {"part4.top_k_sampling", "part4.top_k_sampling.hidden1", "part4.top_k_sampling.hidden2"}, set()),
    },
}


@pytest.mark.parametrize("group", list(MISTAKE_GROUPS))
def test_mistakes_cost_their_own_items(group, reference_result):
    result = assert_mistakes_cost_their_items(PART, reference_result, MISTAKE_GROUPS[group], label=group)
    checks = {c.id: c for item in result.items for c in item.checks}
    if group == "calls-carry-mistakes":
        assert checks["part4.greedy_sampling"].passed and "torch.LongTensor" in checks["part4.greedy_sampling"].reason
    if group == "own-item-mistakes":
        assert "seeded the same way gave other draws" in checks["part4.top_k_sampling"].reason


ALTERNATIVE_1 = {  # exactly-k top-k, ascending top-p (as transformers), Gumbel-top-k samplers,
    # overlaid bars (as the original), a numpy log-softmax
    "get_log_prob": '''
def get_log_prob(logits, token_id):
    x = logits.detach().double().numpy()
    m = x.max()
    return float(x[int(token_id)] - m - np.log(np.exp(x - m).sum()))''',
    "top_k_filter": '''
def top_k_filter(logits, top_k):
    keep = torch.topk(logits, top_k).indices
    out = torch.full_like(logits, float("-inf"))
    out[keep] = logits[keep]
    return out''',
    "top_k_sampling": '''
def top_k_sampling(logits, temperature, top_k, beams, generator):
    scores = top_k_filter(logits, top_k) / temperature
    u = torch.rand(scores.shape, generator=generator).clamp(1e-12, 1 - 1e-7)
    return torch.topk(scores - torch.log(-torch.log(u)), beams).indices''',
    "top_p_filter": '''
def top_p_filter(logits, p, temperature, min_tokens_to_keep=1):
    scores = logits / temperature
    sorted_logits, sorted_indices = torch.sort(scores, descending=False)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cumulative <= (1 - p)
    remove[-min_tokens_to_keep:] = False
    mask = remove.scatter(0, sorted_indices, remove)
    return scores.masked_fill(mask, float("-inf"))''',
    "nucleus_sampling": '''
def nucleus_sampling(logits, temperature, p, beams, generator):
    scores = top_p_filter(logits, p, temperature, min_tokens_to_keep=beams)
    gumbel = -torch.log(torch.empty_like(scores).exponential_(generator=generator))
    return torch.topk(scores + gumbel, beams).indices''',
    "plot_prob_distribution": '''
def plot_prob_distribution(probabilities, selected, tokenizer, total_nb=20, title="", kept=None):
    top_p, top_i = torch.topk(probabilities, total_nb)
    names = [tokenizer.decode([i]) + f"_{i}" for i in top_i.tolist()]
    fig = plt.figure(figsize=(10, 4))
    plt.bar(names, top_p.tolist(), color="blue")
    sel = selected.tolist()
    plt.bar([tokenizer.decode([i]) + f"_{i}" for i in sel], probabilities[selected].tolist(), color="red")
    plt.xticks(rotation=45)
    plt.title(title)
    if kept is not None:
        plt.axvline(kept - 0.5, linestyle=":")
    return fig''',
}

ALTERNATIVE_2 = {  # KV-cache greedy search, the original's pre-built balanced tree filled recursively,
    # best sequence by walking predecessors, a hand-made tree layout
    "greedy_search": '''
def greedy_search(model, tokenizer, input_ids, length):
    graph = nx.DiGraph()
    graph.add_node(0, token=tokenizer.decode(input_ids[0], skip_special_tokens=True), tokenscore=100)
    out = model(input_ids, use_cache=True)
    ids, past = input_ids, out.past_key_values
    logits = out.logits[0, -1]
    for i in range(1, length + 1):
        token = torch.argmax(logits).reshape(1, 1)
        graph.add_node(i, token=tokenizer.decode(token[0], skip_special_tokens=True),
                       tokenscore=torch.softmax(logits, -1)[token.item()].item() * 100)
        graph.add_edge(i - 1, i)
        ids = torch.cat([ids, token], dim=1)
        out = model(token, past_key_values=past, use_cache=True)
        past, logits = out.past_key_values, out.logits[0, -1]
    return ids.detach(), graph''',
    "beam_search": '''
def beam_search(model, tokenizer, input_ids, length, beams, sampling, temperature, generator):
    graph = nx.balanced_tree(beams, length, create_using=nx.DiGraph())
    for n in graph.nodes:
        graph.nodes[n].update(tokenscore=100, cumscore=0.0, sequencescore=0.0,
                              token=tokenizer.decode(input_ids[0], skip_special_tokens=True))

    def fill(ids, node, left):
        if left == 0:
            return
        logits = model(ids).logits[0, -1, :].detach()
        if sampling == "greedy":
            top = greedy_sampling(logits, beams)
        elif sampling == "top_k":
            top = top_k_sampling(logits, temperature, 20, beams, generator)
        else:
            top = nucleus_sampling(logits, temperature, 0.5, beams, generator)
        for j, tid in enumerate(top):
            score = get_log_prob(logits, tid)
            new_ids = torch.cat([ids, tid.reshape(1, 1)], dim=-1)
            child = list(graph.successors(node))[j]
            cum = graph.nodes[node]["cumscore"] + score
            graph.nodes[child].update(token=tokenizer.decode(tid, skip_special_tokens=True),
                                      tokenscore=np.exp(score) * 100, cumscore=cum,
                                      sequencescore=cum / len(new_ids.squeeze()))
            fill(new_ids, child, left - 1)

    fill(input_ids, 0, length)
    return graph''',
    "get_best_sequence": '''
def get_best_sequence(graph):
    best, best_score = None, -float("inf")
    for node in graph.nodes:
        if graph.out_degree(node) == 0 and graph.nodes[node]["sequencescore"] > best_score:
            best, best_score = node, graph.nodes[node]["sequencescore"]
    parts = []
    while True:
        parts.append(graph.nodes[best]["token"])
        preds = list(graph.predecessors(best))
        if not preds:
            break
        best = preds[0]
    return "".join(reversed(parts)), best_score''',
    "plot_tree": '''
def plot_tree(graph, score="token"):
    depth = nx.shortest_path_length(graph, 0)
    leaves = [n for n in nx.dfs_preorder_nodes(graph, 0) if graph.out_degree(n) == 0]
    pos = {n: (float(i), -float(depth[n])) for i, n in enumerate(leaves)}
    for n in sorted(graph.nodes, key=lambda n: -depth[n]):
        if n not in pos:
            kids = list(graph.successors(n))
            pos[n] = (sum(pos[k][0] for k in kids) / len(kids), -float(depth[n]))
    fig, ax = plt.subplots()
    key = "tokenscore" if score == "token" else "sequencescore"
    nx.draw_networkx_nodes(graph, pos, node_color=[graph.nodes[n][key] for n in graph.nodes], ax=ax)
    nx.draw_networkx_edges(graph, pos, ax=ax)
    nx.draw_networkx_labels(graph, pos, labels={n: graph.nodes[n]["token"] for n in graph.nodes}, ax=ax)
    return fig''',
}


@pytest.mark.parametrize("label, functions", [("alternative_1", ALTERNATIVE_1), ("alternative_2", ALTERNATIVE_2)])
def test_other_correct_implementations_score_full_marks(label, functions, reference_result):
    replacements = [(inspect.getsource(getattr(ref, name)).strip("\n"), source.strip("\n"))
                    for name, source in functions.items()]
    result = grade(PART, mutant(PART, replacements, label=label))
    assert result.auto_total == reference_result.auto_total, [
        (c.id, c.reason) for item in result.items for c in item.checks if not c.passed]
