"""Part 4's judges: what makes a returned value right, with the tie and boundary rules.

Each ``*_problem`` returns None (right), a ``Note`` (right, with a remark) or the reason a student
reads; each ``_*_judge`` makes such a function for one case of a ``Cases`` rule. The filters'
acceptance rules are computed from the inputs (``top_k_problem``, ``top_p_problem``); trees and
paths are judged node by node (``tree_problem``); a sampled tree against the model's probabilities
(``sampled_tree_problem``, with ``part4_inputs.TreeOracle``). The checks that use them:
``graders.parts.part4``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from graders.checks.rules import Note
from graders.checks.values import as_array, as_number, describe_type, describe_value, python_float_problem, type_problem
from graders.probe.transport import KernelArray, Outcome

if TYPE_CHECKING:
    from graders.parts.part4_inputs import TreeOracle

P_BOUNDARY_TOL = 1e-5     # top-p: a token whose preceding mass is this close to p may go either way
ZERO_PROB = 1e-30         # probabilities below this count as exactly 0 (ties) in top-p
LOGPROB_ATOL = 1e-4
SCORE_RTOL, SCORE_ATOL = 1e-5, 1e-4       # cumscore, sequencescore
TOKENSCORE_RTOL, TOKENSCORE_ATOL = 1e-4, 1e-3  # percent


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
        return f"should return a networkx graph, got {type(g).__name__}"
    if p := _walk_problem(g):
        return p
    if g.nodes[0].get("token") != prompt_text:
        return "node 0 should hold the prompt text as its 'token' (decode input_ids[0] with skip_special_tokens=True)"
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
                                          len(seq) + 1, label(path, token))
                problem = problem or subtree(kid, node, seq + (tid,), cum + float(log_probs[tid]), path + (token,))
                if problem is None:
                    break
            if problem:
                return problem
        return None

    return subtree(0, None, tuple(int(i) for i in prompt_ids), 0.0, ())


def _scores_problem(attrs: dict, log_prob: float, cumscore: float, seq_len: int, label: str) -> str | None:
    for a, want, (rtol, atol) in (("tokenscore", 100.0 * float(np.exp(log_prob)), (TOKENSCORE_RTOL, TOKENSCORE_ATOL)),
                                  ("cumscore", cumscore, (SCORE_RTOL, SCORE_ATOL)),
                                  ("sequencescore", cumscore / seq_len, (SCORE_RTOL, SCORE_ATOL))):
        got = as_number(attrs.get(a))
        if got is None:
            return f"{label} has no numeric {a!r} attribute"
        if not abs(got - want) <= atol + rtol * abs(want):
            return f"{a} of {label} is off by {abs(got - want):.3g}"
    return None


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
        return f"{what} should return a 1-D tensor, got shape {tuple(v.shape)}"
    return np.asarray(v).reshape(-1).astype(np.int64), ""


# --- filters: validity with the tie and boundary rules ---------------------------------------

def _filtered_logits(value: Any, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, str | None]:
    """(filtered logits as float64, mask of kept tokens, what is malformed or None) — shared by both filters."""
    a = np.asarray(value, dtype=np.float64)
    if a.shape != logits.shape:
        return a, a, f"should have the shape of logits ([vocab_size]), got {tuple(a.shape)}"
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
    if not np.allclose(a[kept], lg[kept], rtol=1e-6, atol=1e-6):
        return "the kept logits should be returned unchanged"
    kth = np.sort(lg)[::-1][k - 1]
    above, tied, below = lg > kth, lg == kth, lg < kth
    if (above & ~kept).any():
        return "a token among the top_k largest logits was removed"
    if (below & kept).any():
        return f"{int(kept.sum())} tokens kept: a token outside the top_k largest logits was kept"
    if int((tied & kept).sum()) not in (k - int(above.sum()), int(tied.sum())):
        return ("on logits tied with the k-th largest value, keep either all of the tied tokens or just "
                "enough of them to keep exactly top_k")
    return None


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
    """None if ``value`` is a correct ``top_p_filter(logits, p, temperature, min_keep)``."""
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
    if n not in counts:
        if n < min(counts):
            return (f"{n} token(s) kept, too few: keep the token whose mass crosses p, and at least "
                    "min_tokens_to_keep tokens (is the temperature applied before the cut?)")
        return (f"{n} token(s) kept, too many: keep the smallest set of most probable tokens whose mass "
                "reaches p (is the temperature applied before the cut?)")
    if kept.any() and (~kept).any() and key[~kept].max() > key[kept].min():
        return "a less probable token was kept while a more probable one was removed"
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
        return f"{g.number_of_nodes() - len(seen)} node(s) are not connected to the root (node 0)"
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
        return (f"{where(path)} has {got} children: every node above the last level needs `beams` children, "
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
        return f"should return a networkx graph, got {type(g).__name__}"
    if p := _walk_problem(g):
        return p
    root_token = g.nodes[0].get("token")
    if root_token != expected.nodes[0]["token"]:
        return "node 0 should hold the prompt text as its 'token' (decode input_ids[0] with skip_special_tokens=True)"
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
                    return f"child {j + 1} of {where(path)}{shown}: not the expected token"
            else:
                matches = [e for e in ekids if expected.nodes[e]["token"] == token]
                if not matches:
                    return f"{label(path, token)} is a token this mode should not have chosen there"
                match = matches[0]
            for a in attrs:
                got = as_number(attrs_of.get(a))
                if got is None:
                    return f"{label(path, token)} has no numeric {a!r} attribute"
                want = float(expected.nodes[match][a])
                rtol, atol = tols.get(a, (SCORE_RTOL, SCORE_ATOL))
                if not abs(got - want) <= atol + rtol * abs(want):
                    return f"{a} of {label(path, token)} is off by {abs(got - want):.3g}"
            stack.append((kid, node, match, path + (token,)))
    return None


def _greedy_ids_judge(expected: np.ndarray):
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
            return "output_ids should be a torch.LongTensor"
        if tuple(ids.shape) != expected.shape:
            return f"output_ids has shape {tuple(ids.shape)}; it should be [1, prompt_len + length]"
        if ids.dtype.kind not in "iu" or not np.array_equal(np.asarray(ids), expected):
            n_bad = int((np.asarray(ids) != expected).sum())
            return f"{n_bad} of the ids differ from greedy decoding"
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


def _best_sequence_judge(expected: tuple):
    text, score = expected

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
            return "the score is not the highest sequencescore among the leaves"
        if v[0] != text:
            return "the text is not the concatenated tokens from the root to the best leaf"
        return None

    return judge


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
            return f"the first {total_nb} bars are not the probabilities of the {total_nb} most probable tokens"
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


def _log_prob_judge(expected: float):
    def judge(outcome: Outcome) -> str | None:
        if p := type_problem(outcome, "float"):
            return f"get_log_prob {p}"
        if not abs(float(outcome.value) - expected) <= LOGPROB_ATOL + 1e-5 * abs(expected):
            return "wrong log-probability (the log of the softmax of the logits)"
        return None

    return judge


def _greedy_sampling_judge(expected: np.ndarray):
    def judge(outcome: Outcome) -> str | None:
        found = _int_vector(outcome, "greedy_sampling")
        if isinstance(found, str):
            return found
        ids, note = found
        if ids.shape != expected.shape:
            return f"{len(ids)} ids returned; expected beams ids"
        if not np.array_equal(ids, expected):
            if set(ids.tolist()) == set(expected.tolist()):
                return "the right ids in the wrong order: the most probable first"
            return "not the ids of the largest logits"
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
