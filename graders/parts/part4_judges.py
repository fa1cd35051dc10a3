"""Part 4's judges of searches: the paths and trees ``greedy_search`` and ``beam_search`` return, the
best sequence of a tree, and the tree's drawing — what makes a returned value right.

Each ``*_problem`` returns None (right), a ``Note`` (right, with a remark) or the reason a student
reads; each ``_*_judge`` makes such a function for one case of a ``Cases`` rule. Trees and paths
are judged node by node against the reference's (``tree_problem``); a sampled tree against the
model's probabilities (``sampled_tree_problem``, with ``part4_inputs.TreeOracle``). The judges of
one position's logits (log-probabilities, filters, samplers) are in ``part4_sampling_judges``. The
checks that use them: ``graders.parts.part4``.

A reason names what is wrong (which case, node, attribute or position) and, when the value shows
it, the classic mistake behind it; values that may come from hidden inputs, expected values or the
kernel sit in ``hidden`` slots (``graders.reasons``), which a check with hidden inputs leaves out.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from graders.checks.rules import Note
from graders.checks.values import as_number, describe_type, describe_value, python_float_problem, type_problem
from graders.parts.part4_sampling_judges import _softmax
from graders.probe.transport import KernelArray, Outcome
from graders.reasons import hidden


class TreeOracle(Protocol):
    """What a sampled tree is judged against (``part4_inputs.TreeOracle`` builds it with the model):
    the next-token logits after a sequence of ids, and the ids that decode to each token text."""

    ids_of: dict

    def logits(self, ids: tuple) -> np.ndarray: ...


SCORE_RTOL, SCORE_ATOL = 1e-5, 1e-4       # cumscore, sequencescore
TOKENSCORE_RTOL, TOKENSCORE_ATOL = 1e-4, 1e-3  # percent


def sampled_tree_problem(g: Any, oracle: TreeOracle, prompt_ids: Sequence[int], prompt_text: str, length: int,
                         beams: int, allowed: Callable[[np.ndarray], np.ndarray], mode: str,
                         verbose: bool = True) -> str | None:
    """A tree from a sampling mode: ``beams`` children per inner node, ``length`` deep, every child
    a token that ``allowed(logits)`` permits at its node, with the model's scores."""
    import networkx as nx

    if not isinstance(g, (nx.Graph, nx.DiGraph)):
        return f"should return a networkx graph, got {describe_value(g)}"
    if p := _walk_problem(g):
        return p
    if g.nodes[0].get("token") != prompt_text:
        return _root_problem(g.nodes[0].get("token"), prompt_text)
    where, label, count = _node_names(verbose)

    def subtree(node, parent, seq: tuple, cum: float, path: tuple) -> str | None:
        kids = _children(g, node, parent)
        want = beams if len(path) < length else 0
        if len(kids) != want:
            return count(path, len(kids), want)
        if not kids:
            return None
        logits = oracle.logits(seq)
        ok = allowed(logits)
        log_probs = np.log(np.maximum(_softmax(logits), 1e-300))
        for kid in kids:
            token = g.nodes[kid].get("token")
            if not isinstance(token, str):
                return f"a child of {where(path)} has no 'token' string attribute"
            candidates = [i for i in oracle.ids_of.get(token, []) if ok[i]]
            if not candidates:
                return f"{label(path, token)} is a token that {mode} sampling cannot choose there"
            problem = None
            for tid in candidates:  # several ids may read the same (special tokens): any may be right
                problem = _scores_problem(g.nodes[kid], float(log_probs[tid]), cum + float(log_probs[tid]),
                                          len(seq) + 1, label(path, token), len(path) + 1)
                problem = problem or subtree(kid, node, seq + (tid,), cum + float(log_probs[tid]), path + (token,))
                if problem is None:
                    break
            if problem:
                return problem
        return None

    return subtree(0, None, tuple(int(i) for i in prompt_ids), 0.0, ())


def _scores_problem(attrs: dict, log_prob: float, cumscore: float, seq_len: int, label: str,
                    depth: int) -> str | None:
    for a, want, (rtol, atol) in (("tokenscore", 100.0 * float(np.exp(log_prob)), (TOKENSCORE_RTOL, TOKENSCORE_ATOL)),
                                  ("cumscore", cumscore, (SCORE_RTOL, SCORE_ATOL)),
                                  ("sequencescore", cumscore / seq_len, (SCORE_RTOL, SCORE_ATOL))):
        got = as_number(attrs.get(a))
        if got is None:
            return f"{label} has no numeric {a!r} attribute"
        if not abs(got - want) <= atol + rtol * abs(want):
            return _attr_problem(a, got, want, label, cumscore, seq_len, depth)
    return None


def _attr_problem(a: str, got: float, want: float, label: str, cumscore: float | None = None,
                  seq_len: int | None = None, depth: int | None = None) -> str:
    """A node's wrong score: which node and attribute first, the values in a slot, and the classic
    cause when the value shows it (a probability where percent is asked, a product of probabilities,
    a division by the number of generated tokens instead of the full length)."""
    rtol, atol = (TOKENSCORE_RTOL, TOKENSCORE_ATOL) if a == "tokenscore" else (SCORE_RTOL, SCORE_ATOL)
    variants: list[tuple[float, str]] = []
    if a == "tokenscore":
        variants = [(want / 100, "a probability; tokenscore is the probability in percent (× 100)")]
        if want > 0:
            variants.append((math.log(want / 100), "a log-probability; tokenscore is the probability in percent"))
    elif a == "cumscore" and cumscore is not None:
        variants = [(math.exp(cumscore), "a product of probabilities; cumscore is the sum of the log-probabilities")]
    elif a == "sequencescore" and cumscore is not None and seq_len:
        variants = [(cumscore / depth, "cumscore divided by the number of generated tokens; sequencescore divides "
                                       "by the full sequence length, prompt included")] if depth else []
        variants += [(cumscore, "cumscore itself; sequencescore is cumscore divided by the full sequence length, "
                                "prompt included")]
        variants += [(cumscore / n, "cumscore divided by a length off by one; sequencescore divides by the full "
                                    "sequence length, prompt included") for n in (seq_len - 1, seq_len + 1) if n > 0]
    tol = lambda v: atol + rtol * abs(v)  # noqa: E731
    cause = next((why for v, why in variants if abs(v - want) > tol(want) and abs(got - v) <= tol(v)), None)
    return (f"{a} of {label} is " + hidden(f"{got:.6g}, expected {want:.6g}", shown="wrong")
            + (f": it is {cause}" if cause else ""))


def _root_problem(got: Any, prompt_text: str) -> str:
    return ("node 0 should hold the prompt text as its 'token' (decode input_ids[0] with skip_special_tokens=True)"
            + hidden(f"; expected {prompt_text!r}, got {got!r}", shown=""))


# --- graphs: paths and trees -----------------------------------------------------------------

def _children(g, node, parent) -> list:
    if g.is_directed():
        return list(g.successors(node))
    return [n for n in g.neighbors(node) if n != parent]


def _walk_problem(g) -> str | None:
    if 0 not in g:
        return "the graph has no node 0 (the root, holding the prompt)"
    seen, stack = {0}, [(0, None)]
    while stack:
        node, parent = stack.pop()
        for c in _children(g, node, parent):
            if c in seen:
                return "the graph is not a tree rooted at node 0 (a node is reached twice)"
            seen.add(c)
            stack.append((c, node))
    if len(seen) != g.number_of_nodes():
        return f"{hidden(g.number_of_nodes() - len(seen), shown='some')} node(s) are not connected to the root (node 0)"
    return None


def _node_names(verbose: bool):
    """How reasons name nodes: by their token path (public inputs) or by depth only (hidden ones,
    whose tokens would hint at the hidden prompt)."""
    def where(path: tuple[str, ...]) -> str:
        if not path:
            return "the root"
        return " → ".join(repr(t) for t in path) if verbose else f"a node at depth {len(path)}"

    def label(path: tuple[str, ...], token: str) -> str:
        return f"the node of token {token!r} under {where(path)}" if verbose else f"a node at depth {len(path) + 1}"

    def count(path: tuple[str, ...], got: int, want: int) -> str:
        if verbose:
            return f"{where(path)} has {got} children; expected {want}"
        return (f"{where(path)} has {hidden(got, shown='the wrong number of')} children: every node above the last "
                "level needs `beams` children, "
                "the last level none")

    return where, label, count


def tree_problem(g: Any, expected, attrs: Sequence[str], *, ordered: bool = True, verbose: bool = True,
                 also_ok: dict | None = None) -> str | None:
    """Compare a student's tree (or path) with the expected one, from the root down.

    ``ordered``: children must come in the expected order; otherwise each child's token must be
    one of the expected children's tokens (siblings may repeat — the subset rule).
    ``verbose``: name nodes by their tokens in reasons (public checks only).
    ``also_ok``: expected node → other acceptable token strings (a special token decoded without
    ``skip_special_tokens``).
    """
    also_ok = also_ok or {}
    import networkx as nx

    if not isinstance(g, (nx.Graph, nx.DiGraph)):
        return f"should return a networkx graph, got {describe_value(g)}"
    if p := _walk_problem(g):
        return p
    root_token = g.nodes[0].get("token")
    if root_token != expected.nodes[0]["token"]:
        return _root_problem(root_token, expected.nodes[0]["token"])
    for a in attrs:
        got, want = as_number(g.nodes[0].get(a)), float(expected.nodes[0][a])
        if got is None or abs(got - want) > 1e-9:
            return f"node 0 (the prompt) should have {a} = {want:g}"
    where, label, count = _node_names(verbose)
    tols = {"tokenscore": (TOKENSCORE_RTOL, TOKENSCORE_ATOL)}
    stack = [(0, None, 0, ())]
    while stack:
        node, parent, enode, path = stack.pop()
        kids, ekids = _children(g, node, parent), list(expected.successors(enode))
        if len(kids) != len(ekids):
            if not kids and (enode in also_ok or any(e in also_ok for e in ekids)):  # at the end-of-text token
                return (f"{where(path)} has no children: the end-of-text token is expanded like any other token "
                        "(generation goes on after it here)")
            return count(path, len(kids), len(ekids))
        for j, kid in enumerate(kids):
            attrs_of = g.nodes[kid]
            token = attrs_of.get("token")
            if not isinstance(token, str):
                return f"a child of {where(path)} has no 'token' string attribute"
            if ordered:
                match = ekids[j]
                if expected.nodes[match]["token"] != token and token not in also_ok.get(match, ()):
                    shown = f" is {token!r}" if verbose else ""
                    want = [expected.nodes[e]["token"] for e in ekids]
                    mine = [g.nodes[k].get("token") for k in kids]
                    same = all(isinstance(t, str) for t in mine) and sorted(mine) == sorted(want)
                    order = (" (the right tokens in another order: children come in the order of the chosen ids, "
                             "best first)") if same else ""
                    return (f"child {j + 1} of {where(path)}{shown}: not the expected token{order}"
                            + (hidden(f"; expected {want[j]!r}", shown="") if verbose else ""))
            else:
                matches = [e for e in ekids if expected.nodes[e]["token"] == token]
                if not matches:
                    return f"{label(path, token)} is a token this mode should not have chosen there"
                match = matches[0]
            cum, seq = expected.nodes[match].get("cumscore"), expected.nodes[match].get("sequencescore")
            seq_len = round(cum / seq) if cum is not None and seq else None
            for a in attrs:
                got = as_number(attrs_of.get(a))
                if got is None:
                    return f"{label(path, token)} has no numeric {a!r} attribute"
                want = float(expected.nodes[match][a])
                rtol, atol = tols.get(a, (SCORE_RTOL, SCORE_ATOL))
                if not abs(got - want) <= atol + rtol * abs(want):
                    return _attr_problem(a, got, want, label(path, token), cum, seq_len, len(path) + 1)
            stack.append((kid, node, match, path + (token,)))
    return None


def _greedy_ids_judge(expected: np.ndarray, prompt_len: int, special: set[int]):
    """output_ids against greedy decoding; stopping at the end-of-text token (one of ``special``), a
    token short or too many, and the prompt left out are named."""
    n = expected.shape[1]
    want = hidden(f" = {tuple(expected.shape)}", shown="")
    shape = lambda a: hidden(f"shape {tuple(a.shape)}", shown="the wrong shape")  # noqa: E731

    def judge(outcome: Outcome) -> str | None:
        v = outcome.value
        if not isinstance(v, (tuple, list)) or len(v) != 2:
            return f"greedy_search should return a tuple (output_ids, graph), got {describe_type(outcome)}"
        ids, note = v[0], ""
        if isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], list) \
                and all(isinstance(i, int) and not isinstance(i, bool) for i in ids[0]):
            ids = np.asarray(ids, dtype=np.int64)
            note = ("output_ids is a list of lists of ids; the docstring asks for a torch.LongTensor "
                    "(accepted: the same ids)")
        elif not isinstance(ids, KernelArray) or ids.source != "torch.Tensor":
            return f"output_ids should be a torch.LongTensor, got {describe_value(ids)}"
        if ids.dtype.kind not in "iu":
            return f"output_ids should hold integer token ids (a LongTensor), got dtype {ids.dtype}"
        got = np.asarray(ids).astype(np.int64)
        if got.ndim != 2 or got.shape[0] != 1:
            return f"output_ids has {shape(got)}; it should be [1, prompt_len + length]{want}"
        m = got.shape[1]
        if m != n:
            same = np.array_equal(got[0, :min(m, n)], expected[0, :min(m, n)])
            if same and m < n and (int(expected[0, m]) in special or (m and int(got[0, -1]) in special)):
                return ("output_ids stop at the end-of-text token: here greedy decoding goes on for `length` new "
                        "tokens (the end-of-text token is generated like any other)")
            if same and m == n - 1:
                return "output_ids has one token too few: `length` new tokens follow the prompt"
            if same and m > n:
                return (f"output_ids has too many tokens{hidden(f' ({m - n} more)', shown='')}: `length` new tokens "
                        "follow the prompt")
            return f"output_ids has {shape(got)}; it should be [1, prompt_len + length]{want}"
        if not np.array_equal(got, expected):
            bad = np.flatnonzero(got[0] != expected[0])
            if bad[0] < prompt_len:
                return "output_ids should start with the prompt's ids (input_ids), then the new tokens"
            return (f"{len(bad)} of the ids differ from greedy decoding, first at position {int(bad[0])}"
                    + hidden(f" (expected id {int(expected[0, bad[0]])}, got {int(got[0, bad[0]])})", shown=""))
        return Note(note) if note else None

    return judge


def _greedy_graph_judge(expected, verbose: bool, also_ok: dict | None = None):
    def judge(outcome: Outcome) -> str | None:
        v = outcome.value
        if not isinstance(v, (tuple, list)) or len(v) != 2:
            return f"greedy_search should return a tuple (output_ids, graph), got {describe_type(outcome)}"
        return tree_problem(v[1], expected, ("tokenscore",), ordered=True, verbose=verbose, also_ok=also_ok)

    return judge


def _tree_judge(expected, attrs, ordered, verbose: bool, also_ok: dict | None = None):
    def judge(outcome: Outcome) -> str | None:
        if p := type_problem(outcome, "graph"):
            return f"beam_search {p}"
        return tree_problem(outcome.value, expected, attrs, ordered=ordered, verbose=verbose, also_ok=also_ok)

    return judge


def _best_sequence_judge(expected: tuple, graph=None):
    """(text, score) of the best leaf; picking by cumscore, among all nodes, returning the cumscore,
    leaving out the root's token or joining with spaces are named (``graph``: the tree it was given)."""
    text, score = expected
    mistakes: list[tuple[str, str, str]] = []  # (which member, its value under the mistake, what it is)
    if graph is not None:
        leaves = [n for n in graph.nodes if n != 0 and not any(True for _ in _children(graph, n, None))]
        best = max(leaves, key=lambda n: graph.nodes[n]["sequencescore"])
        by_cum = max(leaves, key=lambda n: graph.nodes[n]["cumscore"])
        anywhere = max((n for n in graph.nodes if n != 0), key=lambda n: graph.nodes[n]["sequencescore"])
        tokens = [graph.nodes[n]["token"] for n in _path(graph, best)]
        mistakes = [
            ("score", graph.nodes[by_cum]["sequencescore"], "the leaf with the highest cumscore; the best leaf has "
                                                            "the highest sequencescore"),
            ("score", graph.nodes[anywhere]["sequencescore"], "the highest sequencescore among all nodes; only "
                                                              "leaves count"),
            ("score", graph.nodes[best]["cumscore"], "the best leaf's cumscore; return its sequencescore"),
            ("text", "".join(tokens[1:]), "without the root's token: the text starts with the prompt (node 0)"),
            ("text", " ".join(tokens), "joined with spaces: the tokens carry their own spaces (join with '')"),
            ("text", "".join(reversed(tokens)), "from the leaf up: the tokens go from the root down to the leaf"),
        ]

    def named(member: str, got: Any, want: Any) -> str:
        for which, value, what in mistakes:
            if which == member and value != want and (got == value if which == "text"
                                                      else abs(got - value) <= 1e-6 * max(1.0, abs(value))):
                return f": it is {what}"
        return ""

    def judge(outcome: Outcome) -> str | None:
        v = outcome.value
        if not isinstance(v, (tuple, list)) or len(v) != 2:
            return f"get_best_sequence should return a tuple (text, score), got {describe_type(outcome)}"
        if not isinstance(v[0], str):
            return f"get_best_sequence should return (str, float), got {describe_value(v[0])} for the text"
        if problem := python_float_problem(v[1], "the score"):
            return problem
        got_score = as_number(v[1])
        if abs(got_score - float(score)) > 1e-6 * max(1.0, abs(float(score))):
            return "the score is not the highest sequencescore among the leaves" + named("score", got_score, score)
        if v[0] != text:
            return "the text is not the concatenated tokens from the root to the best leaf" + named("text", v[0], text)
        return None

    return judge


def _path(graph, node) -> list:
    """The nodes from the root (0) down to ``node``."""
    path = [node]
    while path[-1] != 0:
        path.append(next(iter(graph.predecessors(path[-1]))))
    return path[::-1]


# --- the drawing of a tree -------------------------------------------------------------------

def _tree_drawing_problem(n_nodes: int, tokens: list[str], values: list[float], score: str):
    """One marker per node at distinct positions, coloured by ``values`` (the nodes' chosen score),
    and a label per node showing its token."""
    def predicate(fig) -> str | None:
        sets = [np.asarray(c["offsets"], dtype=float).reshape(-1, 2)
                for ax in fig.axes for c in ax.get("collections", []) if "offsets" in c]
        good = [o for o in sets if o.shape[0] == n_nodes]
        if not good:
            return (f"no set of node markers with one marker per node of the graph ({n_nodes} nodes; found "
                    f"{sorted(o.shape[0] for o in sets)[:5]}): draw them with nx.draw_networkx_nodes")
        if not any(len(np.unique(np.round(o, 9), axis=0)) == n_nodes for o in good):
            return "several nodes are drawn at the same position: use a tree layout"
        texts = [t for ax in fig.axes for t in ax.get("texts", [])]
        if len(texts) < n_nodes:
            return f"{len(texts)} text label(s) for {n_nodes} nodes: label every node (nx.draw_networkx_labels)"
        for t in tokens:
            if t.strip() and not any(t.strip() in x for x in texts):
                return f"no label shows the token {t.strip()!r}"
        colours = [np.sort(np.asarray(c["array"], dtype=float).reshape(-1)) for ax in fig.axes
                   for c in ax.get("collections", []) if "array" in c and "offsets" in c]
        want = np.sort(np.asarray(values, dtype=float))
        if not any(c.shape == want.shape and np.allclose(c, want, rtol=1e-6, atol=1e-9) for c in colours):
            key = "tokenscore" if score == "token" else "sequencescore"
            return (f"with score={score!r} the nodes should be coloured by their {key} "
                    "(draw_networkx_nodes(..., node_color=[the nodes' scores], cmap=...))")
        return None

    return predicate
