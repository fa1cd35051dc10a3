"""Part 4's judges: what makes a returned value right, with the tie and boundary rules.

Each ``*_problem`` returns None (right), a ``Note`` (right, with a remark) or the reason a student
reads; each ``_*_judge`` makes such a function for one case of a ``Cases`` rule. The filters'
acceptance rules are computed from the inputs (``top_k_problem``, ``top_p_problem``); trees and
paths are judged node by node (``tree_problem``); a sampled tree against the model's probabilities
(``sampled_tree_problem``, with ``part4_inputs.TreeOracle``). The checks that use them:
``graders.parts.part4``.

A reason names what is wrong (which case, node, attribute or position) and, when the value shows
it, the classic mistake behind it; values that may come from hidden inputs, expected values or the
kernel sit in ``hidden`` slots (``graders.reasons``), which a check with hidden inputs leaves out.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from graders.checks.rules import Note
from graders.checks.values import (as_array, as_number, describe_type, describe_value,
                                    python_float_problem, type_problem)
from graders.probe.transport import KernelArray, Outcome
from graders.reasons import hidden



class TreeOracle(Protocol):
    """What a sampled tree is judged against (``part4_inputs.TreeOracle`` builds it with the model):
    the next-token logits after a sequence of ids, and the ids that decode to each token text."""

    ids_of: dict

    def logits(self, ids: tuple) -> np.ndarray: ...

P_BOUNDARY_TOL = 1e-5     # top-p: a token whose preceding mass is this close to p may go either way
ZERO_PROB = 1e-30         # probabilities below this count as exactly 0 (ties) in top-p
LOGPROB_ATOL = 1e-4
SCORE_RTOL, SCORE_ATOL = 1e-5, 1e-4       # cumscore, sequencescore
TOKENSCORE_RTOL, TOKENSCORE_ATOL = 1e-4, 1e-3  # percent


def _ids(ids, limit: int = 8) -> str:
    """Token ids for a reason: the first ``limit``, then how many more."""
    ids = [int(i) for i in ids]
    return str(ids[:limit])[:-1] + (f", … ({len(ids)} in all)]" if len(ids) > limit else "]")


def _numbers(values, limit: int = 5) -> str:
    """A few numbers for a reason: the first ``limit``, then "…"."""
    values = [float(v) for v in values]
    return "[" + ", ".join(f"{v:.4g}" for v in values[:limit]) + (", …]" if len(values) > limit else "]")


def _softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    out = np.zeros_like(x)
    if finite.any():
        z = np.exp(x[finite] - x[finite].max())
        out[finite] = z / z.sum()
    return out


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


# --- small helpers for predicates ------------------------------------------------------------



def _int_vector(outcome: Outcome, what: str) -> tuple[np.ndarray, str] | str:
    """A 1-D integer tensor (the promised LongTensor) as (int64 array, note), or a reason.

    A list or tuple of ints holds the same ids: accepted, with a note."""
    v = outcome.value
    if isinstance(v, (list, tuple)) and v and all(isinstance(i, int) and not isinstance(i, bool) for i in v):
        return np.asarray(v, dtype=np.int64), (f"{what} returned a {type(v).__name__} of ids; the docstring asks "
                                               "for a torch.LongTensor (accepted: the same ids)")
    if not isinstance(v, KernelArray) or v.source != "torch.Tensor":
        return f"{what} should return a torch.LongTensor, got {describe_type(outcome)}"
    if v.dtype.kind not in "iu":
        return f"{what} should return integer token ids (a LongTensor), got dtype {v.dtype}"
    if v.ndim > 1:
        return f"{what} should return a 1-D tensor, got {hidden(f'shape {tuple(v.shape)}', shown='more dimensions')}"
    return np.asarray(v).reshape(-1).astype(np.int64), ""


# --- filters: validity with the tie and boundary rules ---------------------------------------

def _filtered_logits(value: Any, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(filtered logits as float64, mask of kept tokens, what is malformed or None) — shared by both filters."""
    a = np.asarray(value, dtype=np.float64)
    if a.shape != logits.shape:
        got = hidden(tuple(a.shape), shown="another one")
        return a, a, f"should have the shape of logits ([vocab_size]), got {got}"
    if np.isnan(a).any():
        return a, a, "the result contains NaN"
    kept = np.isfinite(a)
    if (a[~kept] > 0).any():
        return a, kept, "removed tokens should be -inf, not +inf"
    return a, kept, None


def top_k_problem(value: Any, logits: np.ndarray, k: int) -> str | None:
    """None if ``value`` is a correct ``top_k_filter(logits, k)`` (either tie rule)."""
    a, kept, problem = _filtered_logits(value, logits)
    if problem:
        return problem
    lg = logits.astype(np.float64)
    kth = np.sort(lg)[::-1][k - 1]
    above, tied, below = lg > kth, lg == kth, lg < kth
    kept_ids = hidden(f"; you kept ids {_ids(np.flatnonzero(kept), 12)}", shown="")
    if not np.allclose(a[kept], lg[kept], rtol=1e-6, atol=1e-6):
        if np.allclose(a[kept], _softmax(lg)[kept], rtol=1e-5, atol=1e-7):
            return "the kept logits should be returned unchanged, not as probabilities (−inf elsewhere)"
        return "the kept logits should be returned unchanged"
    n = int(kept.sum())
    if (above & ~kept).any():
        smallest = np.argsort(lg, kind="stable")[:n]
        if n == k and set(np.flatnonzero(kept).tolist()) == set(smallest.tolist()):
            return "the top_k smallest logits were kept: keep the largest" + kept_ids
        return "a token among the top_k largest logits was removed" + kept_ids
    if (below & kept).any():
        more = " (top_k + 1 kept: is the k-th largest value read at index k instead of k − 1?)" if n == k + 1 else ""
        return f"a token outside the top_k largest logits was kept{more}" + kept_ids
    if int((tied & kept).sum()) not in (k - int(above.sum()), int(tied.sum())):
        return ("on logits tied with the k-th largest value, keep either all of the tied tokens or just "
                "enough of them to keep exactly top_k" + kept_ids)
    return None


def top_k_expected(logits: np.ndarray, k: int) -> str:
    """The ids a right ``top_k_filter(logits, k)`` keeps, as a reason shows them."""
    lg = logits.astype(np.float64)
    kth = np.sort(lg)[::-1][k - 1]
    above, tied = lg > kth, lg == kth
    either = " (or just enough of the tied ones to keep top_k)" if int(tied.sum()) > k - int(above.sum()) else ""
    return f"keep ids {_ids(np.flatnonzero(above | tied), 12)}{either}"


def top_p_expected(logits: np.ndarray, p: float, temperature: float, min_keep: int) -> str:
    """The ids a right ``top_p_filter`` keeps, as a reason shows them."""
    counts, key = top_p_valid_counts(logits, p, temperature, min_keep)
    lo, hi = min(counts), max(counts)
    order = np.argsort(-key, kind="stable")
    return (f"keep the {lo} most probable, ids {_ids(order[:lo], 12)}"
            + (f" (up to {hi} with the boundary and tie tolerance)" if hi > lo else ""))


def top_p_valid_counts(logits: np.ndarray, p: float, temperature: float, min_keep: int) -> tuple[set[int], np.ndarray]:
    """(allowed numbers of kept tokens, probability keys used for the order/tie rule)."""
    key = _softmax(logits.astype(np.float64) / temperature)
    key[key < ZERO_PROB] = 0.0
    s = np.sort(key)[::-1]
    before = np.concatenate([[0.0], np.cumsum(s)[:-1]])  # mass of the tokens before each one
    V = len(s)
    counts = set()
    for n in range(1, V + 1):
        if before[n - 1] <= p + P_BOUNDARY_TOL and (n == V or before[n] >= p - P_BOUNDARY_TOL):
            counts.add(min(V, max(n, min_keep)))
    return counts, key


def top_p_problem(value: Any, logits: np.ndarray, p: float, temperature: float, min_keep: int) -> str | None:
    """None if ``value`` is a correct ``top_p_filter(logits, p, temperature, min_keep)``. A wrong
    number of kept tokens is explained when it is what a classic mistake keeps: the token that
    crosses p dropped, ``min_tokens_to_keep`` ignored, the temperature applied after the cut."""
    a, kept, problem = _filtered_logits(value, logits)
    if problem:
        return problem
    scaled = logits.astype(np.float64) / temperature
    if not np.allclose(a[kept], scaled[kept], rtol=1e-5, atol=1e-6):
        if np.allclose(a[kept], logits.astype(np.float64)[kept], rtol=1e-5, atol=1e-6):
            return "the kept entries should be logits / temperature (the temperature is applied first)"
        return "the kept entries should be logits / temperature, unchanged otherwise"
    counts, key = top_p_valid_counts(logits, p, temperature, min_keep)
    n = int(kept.sum())
    lo = min(counts)
    kept_ids = hidden(f"; you kept {n} ids {_ids(np.flatnonzero(kept), 12)}", shown="")
    if n not in counts:
        if temperature != 1.0 and n in top_p_valid_counts(logits, p, 1.0, min_keep)[0]:
            why = "the kept set is the one at temperature 1: apply the temperature before the cut"
        elif n < lo and n in top_p_valid_counts(logits, p, temperature, 1)[0]:
            why = "keep at least min_tokens_to_keep tokens"
        elif n == lo - 1:
            why = "the token whose mass crosses p was removed; keep it (the smallest set whose mass reaches p)"
        elif n < lo:
            why = ("keep the token whose mass crosses p, and at least min_tokens_to_keep tokens (is the temperature "
                   "applied before the cut?)")
        else:
            why = ("keep the smallest set of most probable tokens whose mass reaches p (is the temperature applied "
                   "before the cut?)")
        return f"too {'few' if n < lo else 'many'} tokens kept: {why}" + kept_ids
    if kept.any() and (~kept).any() and key[~kept].max() > key[kept].min():
        return "a less probable token was kept while a more probable one was removed" + kept_ids
    return None


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


# --- figures ---------------------------------------------------------------------------------

def _bars_problem(probs: np.ndarray, selected: np.ndarray, total_nb: int, tokens: Sequence[str]):
    """The bar chart: heights, order, extra bars, a label per bar with its token, the title, and the
    dotted line after the ``PLOT_KEPT``-th bar."""
    top = np.sort(probs)[::-1][:total_nb]
    selected_probs = probs[selected]

    def predicate(fig) -> str | None:
        return _heights_problem(fig) or _bar_labels_problem(fig)

    def _bar_labels_problem(fig) -> str | None:
        labels = [t for ax in fig.axes for t in ax.get("xticklabels", []) + ax.get("texts", [])]
        for i, token in enumerate(tokens):  # (a token with control characters may be shown escaped: not checked)
            if token.strip() and token.isprintable() and not any(token.strip() in t for t in labels):
                return f"bar {i + 1} is not labelled with its token ({token!r}): set the tick labels to the decoded tokens"
        if not any(PLOT_TITLE in (ax.get("title") or "") for ax in fig.axes):
            return "the axes should carry the given title (ax.set_title(title))"
        bars = sorted(b["x"] + b["width"] / 2 for ax in fig.axes for b in ax.get("bars", [])[:total_nb])
        if len(bars) > PLOT_KEPT:
            low, high = bars[PLOT_KEPT - 1], bars[PLOT_KEPT]
            verticals = [float(ln["x"][0]) for ax in fig.axes for ln in ax.get("lines", [])
                         if len(ln["x"]) >= 2 and np.all(np.asarray(ln["x"]) == ln["x"][0])]
            if not any(low < x < high for x in verticals):
                return (f"with kept = {PLOT_KEPT}, draw a vertical line between bar {PLOT_KEPT} and bar "
                        f"{PLOT_KEPT + 1} (e.g. ax.axvline(kept - 0.5, linestyle=':'))")
        return None

    def _heights_problem(fig) -> str | None:
        bars = [b for ax in fig.axes for b in ax.get("bars", [])]
        if len(bars) < total_nb:
            return f"{len(bars)} bar(s) drawn; expected one bar per shown token ({total_nb})"
        heights = np.array([b["height"] for b in bars], dtype=float)
        first = heights[:total_nb]
        if not np.allclose(first, top, rtol=1e-5, atol=1e-7):
            if np.allclose(first, 100 * top, rtol=1e-5, atol=1e-5):
                return "the bars show percentages; draw the probabilities themselves"
            if np.allclose(np.sort(first)[::-1], top, rtol=1e-5, atol=1e-7):
                return "the bars should come in decreasing order of probability"
            return (f"the first {total_nb} bars are not the probabilities of the {total_nb} most probable tokens"
                    + hidden(f" (expected heights {_numbers(top)}, got {_numbers(first)})", shown=""))
        for h in heights[total_nb:]:
            if not np.isclose(h, selected_probs, rtol=1e-5, atol=1e-7).any():
                return "an extra bar is not one of the selected tokens (with its probability)"
        return None

    return predicate


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


PLOT_TOTAL_NB = 15
PLOT_TITLE = "grader's distribution"
PLOT_KEPT = 6             # a dotted line goes between bar 6 and bar 7


def _log_prob_judge(expected: float, logits: np.ndarray | None = None, token: int | None = None):
    """log softmax(logits)[token]; a probability, a raw logit, a base-10 log, a log of the raw logit,
    a missing normaliser or another token's log-probability is named (given the logits)."""
    variants: list[tuple[float, str]] = [(math.exp(expected), "the probability; return its log (log_softmax)"),
                                         (expected / math.log(10), "a base-10 log; use the natural log")]
    log_softmax = None
    if logits is not None and token is not None:
        lg = np.asarray(logits, dtype=np.float64)
        log_softmax = lg - (lg.max() + math.log(np.exp(lg - lg.max()).sum()))
        variants += [(float(lg[token]), "the raw logit; apply log_softmax to the logits first"),
                     (float(lg[token] - lg.max()), "logits[token_id] − max(logits); subtract logsumexp(logits)")]
        if lg[token] > 0:
            variants.append((math.log(lg[token]), "the log of the raw logit; take log_softmax of the logits"))

    def judge(outcome: Outcome) -> str | None:
        if p := type_problem(outcome, "float"):
            return f"get_log_prob {p}"
        got = float(outcome.value)
        tol = lambda v: LOGPROB_ATOL + 1e-5 * abs(v)  # noqa: E731
        if abs(got - expected) <= tol(expected):
            return None
        if math.isnan(got):
            return "get_log_prob returned NaN (a log of a negative number? take log_softmax of the logits)"
        if math.isinf(got):
            return f"get_log_prob returned {got} (an overflow? take log_softmax of the logits)"
        cause = next((why for v, why in variants if abs(v - expected) > tol(expected) and abs(got - v) <= tol(v)),
                     None)
        if cause is None and log_softmax is not None:
            other = np.flatnonzero(np.abs(log_softmax - got) <= tol(got))
            if len(other) and token not in other:
                cause = ("the log-probability of another token" + hidden(f" (index {int(other[0])})", shown="")
                         + "; index the log-softmax with token_id")
        return "wrong log-probability" + (f": it is {cause}" if cause else " (the log of the softmax of the logits)")

    return judge


def _greedy_sampling_judge(expected: np.ndarray, logits: np.ndarray | None = None):
    """The ``beams`` ids of the largest logits, best first (a list of them passes with a note)."""
    def judge(outcome: Outcome) -> str | None:
        found = _int_vector(outcome, "greedy_sampling")
        if isinstance(found, str):
            return found
        ids, note = found
        if ids.shape != expected.shape:
            return f"{hidden(len(ids), shown='the wrong number of')} ids returned; expected beams ids"
        if not np.array_equal(ids, expected):
            if set(ids.tolist()) == set(expected.tolist()):
                return "the right ids in the wrong order: the most probable first"
            if logits is not None and np.array_equal(ids, np.argsort(np.asarray(logits), kind="stable")[:len(ids)]):
                return "the ids of the smallest logits: take the largest (torch.topk, or sort in descending order)"
            bad = int(np.flatnonzero(ids != expected)[0])
            return (f"not the ids of the largest logits, first at position {bad}"
                    + hidden(f" (expected id {int(expected[bad])}, got {int(ids[bad])})", shown=""))
        return Note(note) if note else None

    return judge


def _filter_judge(what: str, problem: Callable[[Any], str | None], logits: np.ndarray):
    def judge(outcome: Outcome) -> str | None:
        if p := type_problem(outcome, "tensor"):
            return f"{what} {p}"
        return problem(outcome.value) or modified_problem(outcome, logits, what)

    return judge


def modified_problem(outcome: Outcome, logits: np.ndarray, what: str) -> str | None:
    """Did the call change its ``logits`` argument in place? ("not modified", say the docstrings.)

    The ``arguments`` observer reports the arguments after the call; on a kernel runtime without
    it (None) nothing is observed."""
    seen = outcome.observed.get("arguments")
    if not isinstance(seen, list) or not seen:
        return None
    after = as_array(seen[0])
    if after is None or after.shape != logits.shape or not np.array_equal(after, logits, equal_nan=True):
        return (f"{what} changed its argument `logits` in place (the docstring says it is not modified): "
                "work on a copy, e.g. logits.clone() or masked_fill (not masked_fill_)")
    return None
