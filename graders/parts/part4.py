"""Part 4: Advanced decoding — the checks behind its rubric items (see rubric.yaml, part `part4`).

What is checked, and how:

* ``get_log_prob`` / ``greedy_sampling``: against the reference on fixed and hidden logit vectors
  (``get_log_prob`` must return a Python float; ``greedy_sampling`` a LongTensor, best first).
* ``greedy_search``: the ids against the reference (which equals greedy ``model.generate`` with
  EOS disabled — tested in tests/parts), on prompts and lengths where decoding goes on after the
  end-of-text token, and the path graph node by node (``token``, ``tokenscore``; a special token
  may be decoded with or without ``skip_special_tokens``).
* ``top_k_filter`` / ``top_p_filter``: on many fixed and hidden logit vectors, by the *set* of
  kept tokens with the tie and boundary rules of ``top_k_problem`` / ``top_p_problem`` (on an exact tie at the k-th value keep
  exactly k or all tied; a token whose preceding mass is within 1e-5 of p may go either way;
  among exactly equal probabilities any choice is right), and kept values equal to
  ``logits`` (top-k) or ``logits / temperature`` (top-p). Cases include ties, k = 1,
  k = vocabulary size, p close to 0 and p = 1, extreme temperatures, ``min_tokens_to_keep`` > 1.
* ``top_k_sampling`` / ``nucleus_sampling``: **statistically** (``SamplerFits``): thousands of
  calls with one grader-seeded generator; every id inside the kept set, the ids of one call
  distinct, the first ids fit the filtered distribution (chi-square at alpha 1e-9: at 1e-6 the
  test's heavy tail gave false failures several times too often, see tests/parts). Inputs have
  no ties, no top-p boundary ambiguity, and at least ``beams`` kept tokens with a non-zero
  float32 probability, so any correct sampler passes whatever random calls it makes.
* ``beam_search``: in greedy mode the whole tree against the reference (structure, children
  order, ``token``, ``tokenscore``, ``cumscore``, ``sequencescore``, ``beams ** length`` leaves).
  Top-k mode at a low temperature, on prompts chosen with the model so that drawing without
  replacement can only pick the ``beams`` best tokens at every node (probability of anything
  else < 1e-8) while a tree that samples its deeper nodes at temperature 1 leaves them with
  probability ≥ 0.95: the correct tree is the greedy one up to the order of siblings, which a
  *subset* rule checks (so a sampler that repeats ids, judged in the sampler items, costs no tree
  points as well). Nucleus mode at temperature 1: every child must lie in its node's nucleus
  (p = 0.5, at least ``beams`` tokens, boundary tolerance) with the model's scores — recomputed
  here along the student's own random tree (``TreeOracle``); prompts are chosen so that drawing
  from the top-20 instead would leave the nucleus with probability ≥ 0.95. At temperature 1 the
  nucleus sampler's own temperature mistakes do not show, so they cost nucleus points only.
* ``get_best_sequence``: on grader-made trees whose leaves lie at different depths and whose
  ``sequencescore`` ranking differs from the ``cumscore`` ranking.
* Plots by their data: the bar chart's heights are the probabilities of the most probable
  tokens (in order); the tree drawing has one marker per graph node at distinct positions and a
  label per node showing its token.

Expected values come from ``ctx.reference("part4")``; the model-based choice of inputs uses the
shipped model loaded here (it ships with the student bundle too).

Contract clauses → checks (each clause of the notebook's docstrings, and a check that fails an
implementation breaking that clause alone):

* ``get_log_prob``: logits of one position ``[vocab_size]``, log-softmax, natural log →
  ``part4.get_log_prob``, ``part4.get_log_prob.hidden``; a 0-d LongTensor id works (last case) →
  ``part4.get_log_prob``; a Python float → ``part4.get_log_prob``.
* ``greedy_search``: ``length`` steps, the end-of-text token treated like any other →
  ``part4.greedy_search.ids``, ``part4.greedy_search.hidden.ids``; output_ids a LongTensor
  ``[1, prompt_len + length]`` → ``part4.greedy_search.ids``; the path graph, node 0 = prompt with
  tokenscore 100, tokens decoded with skip_special_tokens, tokenscore in percent →
  ``part4.greedy_search.graph``, ``part4.greedy_search.hidden.graph``.
* ``greedy_sampling``: a LongTensor ``[beams]`` (a list of the same ids passes with a note), the
  ``beams`` largest, best first, beams = 1 and beams = vocab → ``part4.greedy_sampling``,
  ``part4.greedy_sampling.hidden``.
* ``top_k_filter``: the ``top_k`` largest kept unchanged, -inf elsewhere, either tie rule, k = 1
  and k = vocab → ``part4.top_k_filter``, ``part4.top_k_filter.hidden``; logits not modified →
  ``part4.top_k_filter`` (the ``arguments`` observer).
* ``top_k_sampling``: ``beams`` distinct ids, without replacement, from softmax(filtered / T) →
  ``part4.top_k_sampling``, ``part4.top_k_sampling.hidden1``, ``part4.top_k_sampling.hidden2``
  (low and high temperatures); every random number from ``generator`` → ``part4.top_k_sampling``
  (replay); logits not modified → ``part4.top_k_sampling``.
* ``top_p_filter``: temperature first, smallest set with mass ≥ p, boundary and tie rules, p ≈ 0
  and p = 1, extreme temperatures, at least ``min_tokens_to_keep`` → ``part4.top_p_filter``,
  ``part4.top_p_filter.hidden``; values logits / T → ``part4.top_p_filter``; logits not modified →
  ``part4.top_p_filter``.
* ``nucleus_sampling``: ``min_tokens_to_keep = beams`` when the nucleus holds fewer than ``beams``
  tokens → ``part4.nucleus_sampling``; temperature before the cut → ``part4.nucleus_sampling.hidden1``,
  ``part4.nucleus_sampling.hidden2``; distinct ids, without replacement, from ``generator`` only,
  logits not modified → ``part4.nucleus_sampling``.
* ``beam_search``: greedy mode — the whole tree, children in the chosen order, root attributes,
  tokenscore / cumscore / sequencescore (prompt included) → ``part4.beam_search.greedy``,
  ``part4.beam_search.greedy.hidden1``; the end-of-text token expanded like any other →
  ``part4.beam_search.greedy.hidden2``; top_k = 20 and the temperature at every depth →
  ``part4.beam_search.top_k_temperature``, ``part4.beam_search.top_k_temperature.hidden``; nucleus
  p = 0.5 with at least ``beams`` candidates, tokenscore without temperature or filter →
  ``part4.beam_search.nucleus``, ``part4.beam_search.nucleus.hidden``.
* ``get_best_sequence``: leaves at several depths, the highest sequencescore (not cumscore), the
  tokens from the root joined, a Python float → ``part4.get_best_sequence``,
  ``part4.get_best_sequence.hidden``.
* ``plot_prob_distribution``: the ``total_nb`` most probable first, decreasing, probabilities not
  percentages, extra bars only for selected tokens, labelled with the tokens, the title, the dotted
  line after ``kept`` bars → ``part4.plot_prob_distribution``. Not checked: the colour of the
  selected bars (a figure's bars reach the grader without their colours).
* ``plot_tree``: one marker per node at distinct positions, a label per node with its token, nodes
  coloured by the chosen score (``"token"`` and ``"sequence"``) → ``part4.plot_tree``.
* Advice, not graded: "return the figure; do not close it", the layout helpers named.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from graders.assets import grader_model
from graders.checks.base import Check
from graders.checks.cases import Cases
from graders.checks.figure import FigureCheck
from graders.checks.statistical import SamplerFits
from graders.checks.values import as_array, as_number, describe_type, describe_value, python_float_problem, type_problem
from graders.parts.base import CheckContext, CheckTable, PartSpec
from graders.probe.spec import Probe, causal_lm, generator, tokenizer
from graders.probe.transport import KernelArray, Outcome
from graders.checks.rules import AllOf, Note

PART_NAME = "part4"
#: error carried forward: the student functions each graded function calls (see ``Check.depends``);
#: greedy_search and beam_search may compute scores with get_log_prob, the samplers call their filter
DEPENDS = {
    "greedy_search": ("get_log_prob",),
    "top_k_sampling": ("top_k_filter",),
    "nucleus_sampling": ("top_p_filter",),
    "beam_search": ("get_log_prob", "greedy_sampling", "top_k_sampling", "nucleus_sampling", "top_k_filter",
                    "top_p_filter"),
}
#: the notebook's contract in short: each function's arguments, and what the docstring says they are
#: (named when a call raises; see ``graders.parts.calls``)
_LOGITS = ("logits", "[vocab_size]: the logits of one position, not the model's [1, seq, vocab] output")
ARGUMENTS = {
    "get_log_prob": (_LOGITS, ("token_id", "an int or a 0-d LongTensor")),
    "greedy_search": (("model", ""), ("tokenizer", ""), ("input_ids", "[1, prompt_len]"), ("length", "")),
    "greedy_sampling": (_LOGITS, ("beams", "")),
    "top_k_filter": (_LOGITS, ("top_k", "")),
    "top_k_sampling": (_LOGITS, ("temperature", ""), ("top_k", ""), ("beams", ""), ("generator", "")),
    "top_p_filter": (_LOGITS, ("p", ""), ("temperature", ""), ("min_tokens_to_keep", "")),
    "nucleus_sampling": (_LOGITS, ("temperature", ""), ("p", ""), ("beams", ""), ("generator", "")),
    "beam_search": (("model", ""), ("tokenizer", ""), ("input_ids", "[1, prompt_len]"), ("length", ""),
                    ("beams", ""), ("sampling", ""), ("temperature", ""), ("generator", "")),
    "get_best_sequence": (("graph", ""),),
    "plot_prob_distribution": (("probabilities", "[vocab_size], summing to 1"), ("selected", "[n] ids"),
                               ("tokenizer", ""), ("total_nb", "")),
    "plot_tree": (("graph", ""), ("score", "")),
}
MODEL = "tiny-lm"

N_DRAWS = 2000            # sampler calls per statistical check
REPLAY_DRAWS = 20         # calls again with a generator seeded alike: the same draws, if it is the only randomness
ALPHA = 1e-9              # significance of the goodness-of-fit test (1e-6: too many false failures, see tests)
P_BOUNDARY_TOL = 1e-5     # top-p: a token whose preceding mass is this close to p may go either way
ZERO_PROB = 1e-30         # probabilities below this count as exactly 0 (ties) in top-p
LOGPROB_ATOL = 1e-4
SCORE_RTOL, SCORE_ATOL = 1e-5, 1e-4       # cumscore, sequencescore
TOKENSCORE_RTOL, TOKENSCORE_ATOL = 1e-4, 1e-3  # percent
TREE_TOP_K, TREE_TOP_P = 20, 0.5          # what beam_search uses in its sampling modes (reference.part4.beam_search)

PUBLIC_PROMPT = "The little dog"
PUBLIC_GREEDY_LENGTH = 8   # goes on after ' .' and the end-of-text token
PUBLIC_TREE = (3, 2)      # (length, beams)

# words of the toy language tiny-lm was trained on (hidden prompts are made from them)
_DETS = ["The", "A", "My", "This", "Every", "Her", "His", "Your", "That"]
_ADJS = ["little", "big", "old", "happy", "young", "small", "red", "sleepy", "clever", "quiet", "hungry",
         "brave", "tall", "lazy", "strange", "funny"]
_NOUNS = ["dog", "cat", "man", "woman", "child", "bird", "teacher", "girl", "boy", "king", "queen", "farmer",
          "horse", "fox", "friend", "doctor"]
_THINGS = ["house", "garden", "tree", "ball", "book", "car", "river", "box", "table", "apple", "song", "boat"]
_VERBS = ["sees", "likes", "has", "finds", "chases", "loves", "watches", "follows", "helps", "wants", "carries"]
_PRONOUNS = ["He", "She"]


# --- the shipped model, for choosing inputs -------------------------------------------------

def _model_and_tokenizer():
    """tiny-lm and its tokenizer, loaded in the grading process (eval mode, never modified): the
    shipped folder, or the user's override (the kernel uses the same)."""
    return grader_model(MODEL)


def _node_logits(model, ids: tuple[int, ...]) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1, :].double().numpy()


def greedy_tree_nodes(model, ids: Sequence[int], length: int, beams: int,
                      logits_of: Callable[[tuple], np.ndarray] | None = None) -> list[tuple[int, tuple, np.ndarray]]:
    """(depth, token ids so far, next-token logits) of every inner node of the greedy tree."""
    logits_of = logits_of or (lambda seq: _node_logits(model, seq))
    out, frontier = [], [tuple(int(i) for i in ids)]
    for depth in range(length):
        nxt = []
        for seq in frontier:
            logits = logits_of(seq)
            out.append((depth, seq, logits))
            nxt += [seq + (int(t),) for t in np.argsort(-logits, kind="stable")[:beams]]
        frontier = nxt
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    out = np.zeros_like(x)
    if finite.any():
        z = np.exp(x[finite] - x[finite].max())
        out[finite] = z / z.sum()
    return out


def _plain_tree_ok(nodes, special: set[int], beams: int, min_gap: float = 1e-3) -> bool:
    """No special token among the chosen ones, and clear gaps around the chosen ``beams``."""
    for _, _, logits in nodes:
        order = np.argsort(-logits, kind="stable")
        top = logits[order[: beams + 1]]
        if np.any(np.diff(top) > -min_gap) or any(int(t) in special for t in order[:beams]):
            return False
    return True


def low_temperature_ok(nodes, beams: int, temperature: float) -> tuple[bool, float]:
    """Top-k (k = 20) at ``temperature``: drawing ``beams`` tokens without replacement leaves the
    ``beams`` best ones with probability < 1e-8 — at every draw the tokens outside hold at most
    1e-8 times the mass of the least probable one inside — and each of the ``beams`` best keeps a
    float32-representable probability. Returns (ok, probability that a tree whose deeper nodes
    sample at temperature 1 instead still stays inside the greedy tree)."""
    miss = 1.0
    for depth, _, logits in nodes:
        top = np.sort(logits)[::-1][:TREE_TOP_K]
        q = _softmax(top / temperature)
        if q[beams:].sum() > 1e-8 / beams * q[beams - 1] or (top[0] - top[beams - 1]) / temperature > 60:
            return False, 1.0
        if depth >= 1:
            miss *= _prob_draws_are_top(_softmax(top), beams)
    return True, miss


def _prob_draws_are_top(q: np.ndarray, beams: int) -> float:
    """P(``beams`` draws without replacement from ``q`` are exactly its ``beams`` largest)."""
    from itertools import permutations

    total = 0.0
    for perm in permutations(range(beams)):
        p, left = 1.0, 1.0
        for i in perm:
            p *= q[i] / left
            left -= q[i]
        total += p
    return total


def nucleus_allowed(logits: np.ndarray, beams: int) -> np.ndarray:
    """Tokens a correct nucleus sampler (p = 0.5, T = 1, at least ``beams``) may draw: the kept set
    of the largest valid size under the boundary and tie rules of ``top_p_valid_counts``."""
    counts, key = top_p_valid_counts(np.asarray(logits, dtype=np.float32), TREE_TOP_P, 1.0, beams)
    n = max(counts)
    return key >= np.sort(key)[::-1][n - 1]


def nucleus_power(nodes, beams: int) -> float:
    """Over the inner nodes of the greedy tree: the probability that drawing with top-k (k = 20)
    instead of the nucleus stays inside the nucleus everywhere (small = the check has power)."""
    stay = 1.0
    for _, _, logits in nodes:
        order = np.argsort(-logits, kind="stable")[:TREE_TOP_K]
        q = _softmax(logits[order])
        inside = q[nucleus_allowed(logits, beams)[order]].sum()
        stay *= inside ** beams
    return stay


class TreeOracle:
    """Recomputes, with the model, what a sampled tree's nodes must hold: which tokens may be
    chosen at each node and their scores. Token strings are mapped back to ids (both with and
    without ``skip_special_tokens``); next-token logits are cached by prefix, so a tree costs a
    few forward passes of the tiny model once per grading run, whatever the number of students."""

    def __init__(self, model, tok):
        self.model, self.tok = model, tok
        self.ids_of: dict[str, list[int]] = {}
        for i in range(len(tok)):
            for text in {tok.decode([i], skip_special_tokens=True), tok.decode([i])}:
                self.ids_of.setdefault(text, []).append(i)
        self._cache: dict[tuple, np.ndarray] = {}

    def logits(self, ids: tuple) -> np.ndarray:
        if ids not in self._cache:
            self._cache[ids] = _node_logits(self.model, ids)
        return self._cache[ids]


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


def _hidden_prompt(rng: np.random.Generator, form: int | None = None) -> str:
    """A prompt of the toy language; form 1 and 5 end with a verb (where the next token is
    nearly certain to be an article, which the low-temperature tree check needs)."""
    pick = lambda words: words[int(rng.integers(len(words)))]  # noqa: E731
    form = int(rng.integers(5)) if form is None else form
    if form == 0:
        return f"{pick(_DETS)} {pick(_ADJS)} {pick(_NOUNS)}"
    if form == 1:
        return f"{pick(_DETS)} {pick(_NOUNS)} {pick(_VERBS)}"
    if form == 2:
        return f"{pick(_PRONOUNS)} {pick(_VERBS)} the"
    if form == 3:
        return f"{pick(_DETS)} {pick(_ADJS)} {pick(_NOUNS)} {pick(_VERBS)} the {pick(_THINGS)}"
    if form == 5:
        return f"{pick(_DETS)} {pick(_ADJS)} {pick(_NOUNS)} {pick(_VERBS)}"
    return f"{pick(_DETS)} {pick(_NOUNS)}"


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



# --- get_best_sequence inputs ----------------------------------------------------------------

def best_sequence_graph(rng: np.random.Generator):
    """A tree with leaves at several depths, shuffled node ids, and scores such that the best
    leaf by ``sequencescore`` is unique and differs from the best leaf by ``cumscore``."""
    import networkx as nx

    words = [" " + w for w in _ADJS + _NOUNS + _THINGS + _VERBS] + [" .", " the", " a"]
    while True:
        g = nx.DiGraph()
        g.add_node(0, token=f"{_DETS[int(rng.integers(len(_DETS)))]} {_NOUNS[int(rng.integers(len(_NOUNS)))]}",
                   tokenscore=100.0, cumscore=0.0, sequencescore=0.0)
        ids = iter(rng.permutation(np.arange(1, 400)).tolist())
        frontier = [(0, 0)]
        while frontier:
            node, depth = frontier.pop(0)
            n_kids = int(rng.integers(2, 4)) if depth == 0 else int(rng.choice([0, 1, 2, 3], p=[0.35, 0.2, 0.3, 0.15]))
            if depth >= 4:
                n_kids = 0
            for _ in range(n_kids):
                kid = int(next(ids))
                cum = float(g.nodes[node]["cumscore"] + np.log(rng.uniform(0.02, 0.95)))
                g.add_node(kid, token=words[int(rng.integers(len(words)))],
                           tokenscore=float(rng.uniform(1, 95)), cumscore=cum,
                           sequencescore=float(rng.uniform(-3.0, -0.2)))
                g.add_edge(node, kid)
                frontier.append((kid, depth + 1))
        leaves = [n for n in g.nodes if g.out_degree(n) == 0 and n != 0]
        depths = {len(nx.shortest_path(g, 0, n)) for n in leaves}
        if len(leaves) < 4 or len(depths) < 2:
            continue
        seq = sorted((g.nodes[n]["sequencescore"] for n in leaves), reverse=True)
        by_seq = max(leaves, key=lambda n: g.nodes[n]["sequencescore"])
        by_cum = max(leaves, key=lambda n: g.nodes[n]["cumscore"])
        if seq[0] - seq[1] > 0.05 and by_seq != by_cum:
            return g


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


# --- input generators for the filters and samplers -------------------------------------------

def _f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def public_top_k_cases() -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(4001)
    tied = _f32([2.0, 1.0, 3.0, 1.0, 0.5, 1.0, -1.0, 1.0])     # three tokens tied at the 3rd value
    return [
        (_f32(rng.normal(0, 2, 50)), 10),
        (_f32(rng.normal(0, 2, 30)), 1),
        (_f32(rng.normal(0, 2, 25)), 25),
        (tied, 3),
        (_f32(rng.normal(0, 1, 40).round(0)), 7),              # many ties
    ]


def hidden_top_k_cases(rng: np.random.Generator, n: int = 30) -> list[tuple[np.ndarray, int]]:
    cases = []
    for i in range(n):
        V = int(rng.integers(5, 300))
        logits = rng.normal(0, rng.uniform(0.5, 4), V)
        if i % 3 == 1:
            logits = logits.round(0)                            # ties, also at the k-th value
        if i % 3 == 2:
            logits = rng.integers(-3, 4, V).astype(float)      # heavy ties
        k = [1, V, int(rng.integers(1, V + 1))][i % 3] if i < 9 else int(rng.integers(1, V + 1))
        cases.append((_f32(logits), k))
    return cases


def public_top_p_cases() -> list[tuple[np.ndarray, float, float, int]]:
    rng = np.random.default_rng(4002)
    return [
        (_f32(rng.normal(0, 2, 50)), 0.9, 1.0, 1),
        (_f32(rng.normal(0, 2, 40)), 1.0, 1.0, 1),
        (_f32(rng.normal(0, 2, 40)), 1e-4, 1.0, 1),
        (_f32(rng.normal(0, 2, 60)), 0.7, 0.3, 1),
        (_f32(rng.normal(0, 2, 60)), 0.6, 4.0, 1),
        (_f32(rng.normal(0, 2, 30)), 0.5, 1.0, 4),
        (_f32([1.0, 1.0, 1.0, 1.0, 0.0, 0.0, -2.0]), 0.5, 1.0, 1),  # ties at the boundary
        (_f32(rng.normal(0, 3, 50)), 0.9, 0.02, 3),                # extreme temperature + minimum
    ]


def hidden_top_p_cases(rng: np.random.Generator, n: int = 40) -> list[tuple[np.ndarray, float, float, int]]:
    cases = []
    for i in range(n):
        V = int(rng.integers(5, 300))
        logits = rng.normal(0, rng.uniform(0.5, 4), V)
        if i % 4 == 1:
            logits = logits.round(0)
        p = float([rng.uniform(0.05, 0.99), 1.0, float(rng.uniform(1e-6, 1e-3)), rng.uniform(0.3, 0.95)][i % 4])
        temperature = float([rng.uniform(0.5, 1.5), rng.uniform(0.01, 0.1), rng.uniform(3, 20), 1.0][(i // 4) % 4])
        min_keep = int(rng.choice([1, 1, 2, 3, 5]))
        cases.append((_f32(logits), p, temperature, min(min_keep, V)))
    return cases


def _sampler_safe(probs64: np.ndarray, scaled32: np.ndarray, beams: int) -> bool:
    """At least ``beams`` kept tokens with a float32-representable probability, no ties."""
    kept = probs64 > 0
    finite = scaled32[kept]
    if len(np.unique(finite)) != len(finite) or kept.sum() < beams:
        return False
    top = np.sort(finite)[::-1]
    return (top[0] - top[beams - 1]) < 60


def top_k_sampler_case(rng: np.random.Generator, temperature: float, V: int, k: int, beams: int):
    while True:
        logits = _f32(rng.normal(0, 2, V))
        order = np.sort(logits)[::-1]
        if len(np.unique(logits)) == V and order[k - 1] - order[k] > 1e-3:
            probs = _softmax(np.where(logits >= order[k - 1], logits, -np.inf) / temperature)
            if _sampler_safe(probs, logits / np.float32(temperature), beams):
                return logits


def nucleus_sampler_case(rng: np.random.Generator, temperature: float, p: float, V: int, beams: int,
                         margin: float = 2e-3, *, nucleus_below_beams: bool = False):
    """Logits whose nucleus is unambiguous (no token's preceding mass near p) and differs from
    the nucleus at temperature 1 (so a temperature applied after the cut, or not at all, shows).

    ``nucleus_below_beams``: the nucleus itself holds fewer than ``beams`` tokens, so that only
    ``min_tokens_to_keep = beams`` leaves enough candidates (the docstring's "always at least beams")."""
    while True:
        logits = _f32(rng.normal(0, 2, V))
        if len(np.unique(logits)) != V:
            continue
        ok = True
        kept_sets, nucleus = [], []
        for t in (temperature, 1.0):
            probs = np.sort(_softmax(logits.astype(np.float64) / t))[::-1]
            before = np.concatenate([[0.0], np.cumsum(probs)[:-1]])
            if t == temperature and np.abs(before - p).min() < margin:
                ok = False
            nucleus.append(int((before < p).sum()))
            kept_sets.append(max(nucleus[-1], beams))
        if nucleus_below_beams and nucleus[0] >= beams:
            continue
        if ok and kept_sets[0] != kept_sets[1]:
            return logits


# --- the checks ------------------------------------------------------------------------------

#: prompts tried, in this order, for the model-based public checks (and as a hidden fallback)
PUBLIC_SAMPLING_PROMPTS = [
    "My dog sees", "Every child wants", "Her friend follows", "The little dog", "I have a dream", "A big cat that", "The old man sees the", "My happy friend",
    "The farmer", "She likes the", "The hungry fox chases the", "A young woman", "They watch the",
    "The king", "Every child", "The clever bird", "His red car", "The queen has a",
]
SAMPLING_TREE = (2, 2)   # (length, beams) of the top-k sampling-mode tree check
NUCLEUS_TREE_LENGTH, NUCLEUS_BEAMS = 2, (2, 3, 4)   # the nucleus one takes the first beams that suits
LOW_TEMPERATURES = tuple(round(0.5 * 0.8 ** i, 6) for i in range(30))   # 0.5 … 0.0008
MAX_MISS = 0.05          # a wrong tree must leave the greedy tree with probability ≥ 0.95


class Part4Inputs:
    """Choice of model-based inputs (prompts, temperatures) with the shipped model."""

    def __init__(self, model, tok):
        self.model, self.tok = model, tok
        self.special = set(int(i) for i in tok.all_special_ids)
        self._logits: dict[tuple, np.ndarray] = {}

    def logits(self, seq: tuple) -> np.ndarray:
        if seq not in self._logits:
            self._logits[seq] = _node_logits(self.model, seq)
        return self._logits[seq]

    def nodes(self, text: str, length: int, beams: int):
        return greedy_tree_nodes(self.model, self.tok(text)["input_ids"], length, beams, self.logits)

    def greedy_ok(self, text: str, length: int) -> bool:
        """Greedy decoding has a clear winner at every step (the end-of-text token may be chosen)."""
        return _plain_tree_ok(self.nodes(text, length, 1), set(), 1)

    def crosses_eos(self, text: str, length: int) -> bool:
        """Greedy decoding of ``length`` tokens goes on after an end-of-text token."""
        nodes = self.nodes(text, length, 1)
        chosen = [int(np.argmax(logits)) for _, _, logits in nodes]
        return self.greedy_ok(text, length) and any(t in self.special for t in chosen[:-1])

    def plain(self, text: str, length: int, beams: int) -> bool:
        """The greedy tree has no special token, no near-tie, and siblings that read differently."""
        nodes = self.nodes(text, length, beams)
        if not _plain_tree_ok(nodes, self.special, beams):
            return False
        for _, _, logits in nodes:
            words = [self.tok.decode([int(t)], skip_special_tokens=True) for t in np.argsort(-logits)[:beams]]
            if len(set(words)) < beams:
                return False
        return True

    def tree_crosses_eos(self, text: str, length: int, beams: int) -> bool:
        """The greedy tree has clear gaps, siblings that read differently, and the end-of-text token
        among the chosen tokens above the last level (so that a tree stopping there is seen)."""
        nodes = self.nodes(text, length, beams)
        if not _plain_tree_ok(nodes, set(), beams):
            return False
        crossed = False
        for depth, _, logits in nodes:
            chosen = [int(t) for t in np.argsort(-logits, kind="stable")[:beams]]
            words = [self.tok.decode([t], skip_special_tokens=True) for t in chosen]
            if len(set(words)) < beams:
                return False
            crossed |= depth < length - 1 and any(t in self.special for t in chosen)
        return crossed

    def low_temperature(self, text: str) -> float | None:
        """The highest temperature at which top-k sampling keeps only the greedy tree (or None)."""
        length, beams = SAMPLING_TREE
        if not self.plain(text, length, beams):
            return None
        nodes = self.nodes(text, length, beams)
        for temperature in LOW_TEMPERATURES:
            ok, miss = low_temperature_ok(nodes, beams, temperature)
            if ok and miss < MAX_MISS:
                return temperature
        return None

    def nucleus(self, text: str) -> int | None:
        """The smallest beams for which the nucleus tree check has power (or None)."""
        for beams in NUCLEUS_BEAMS:
            if nucleus_power(self.nodes(text, NUCLEUS_TREE_LENGTH, beams), beams) < MAX_MISS:
                return beams
        return None


def _candidates(rng: np.random.Generator | None, n: int = 300, forms: Sequence[int] | None = None):
    """Prompts to try: hidden ones from ``rng`` (if any; of the given forms), then the public list
    as a fallback."""
    if rng is not None:
        for _ in range(n):
            yield _hidden_prompt(rng, None if forms is None else int(rng.choice(forms)))
    yield from PUBLIC_SAMPLING_PROMPTS


def _first(candidates, ok: Callable[[str], Any]) -> tuple[str, Any]:
    for text in candidates:
        found = ok(text)
        if found:
            return text, found
    raise RuntimeError("part4: no prompt of the toy language suits a model-based check (is the model right?)")


@lru_cache(maxsize=1)
def oracle() -> TreeOracle:
    return TreeOracle(*_model_and_tokenizer())


def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("part4")``."""
    import torch

    ref = ctx.reference(PART_NAME)
    model, tok = _model_and_tokenizer()
    inputs = Part4Inputs(model, tok)
    table = CheckTable(PART_NAME, DEPENDS)

    def cases(id_, target, arg_list, judges, details, description, public, observe=()):
        """One check calling ``target`` once per argument tuple, each result judged by its judge."""
        probes = [Probe(f"{PART_NAME}.{id_}.{n}", target, tuple(args), observe=observe)
                  for n, args in enumerate(arg_list)]
        table.add(id_, probes, Cases([p.id for p in probes], judges, details=details, outcomes=True), description,
                  public)

    def single(id_, probe_args, target, judge, detail, description, public, timeout=60.0):
        pid = f"{PART_NAME}.{id_}"
        table.add(id_, [Probe(pid, target, tuple(probe_args))],
                  Cases([pid], [judge], details=[detail], outcomes=True), description, public, timeout)

    # -- get_log_prob --
    def log_prob_check(id_, rng, n, public):
        args, judges, details = [], [], []
        for i in range(n):
            V = int(rng.integers(10, 2000))
            logits = torch.from_numpy(_f32(rng.normal(0, rng.uniform(0.5, 3), V)))
            token = [int(logits.argmax()), int(logits.argmin()), int(rng.integers(V))][i % 3]
            expected = float(ref.get_log_prob(logits, token))
            args.append((logits, torch.tensor(token) if i == n - 1 else token))  # a 0-d tensor id works too
            judges.append(_log_prob_judge(expected))
            details.append(f"vocab {V}, token {token}, expected {expected:.6f}")
        cases(id_, "get_log_prob", args, judges, details,
              "get_log_prob returns log softmax(logits)[token_id] as a Python float", public)

    log_prob_check("get_log_prob", np.random.default_rng(4100), 3, True)
    if ctx.hidden:
        log_prob_check("get_log_prob.hidden", ctx.rng("part4.get_log_prob"), 6, False)

    # -- greedy_sampling --
    def greedy_sampling_check(id_, rng, n, public):
        args, judges, details = [], [], []
        for i in range(n):
            V = int(rng.integers(5, 400))
            logits = _f32(rng.permutation(V) + rng.uniform(0, 0.5, V))  # distinct values, no ties
            logits = _f32((logits - logits.mean()) / 40)
            beams = [1, V][i] if i < 2 else int(rng.integers(2, min(V, 8) + 1))
            t = torch.from_numpy(logits)
            expected = np.asarray(ref.greedy_sampling(t, beams)).astype(np.int64)
            args.append((t, beams))
            judges.append(_greedy_sampling_judge(expected))
            details.append(f"vocab {V}, beams {beams}")
        cases(id_, "greedy_sampling", args, judges, details,
              "greedy_sampling returns the ids of the beams largest logits, best first", public)

    greedy_sampling_check("greedy_sampling", np.random.default_rng(4200), 3, True)
    if ctx.hidden:
        greedy_sampling_check("greedy_sampling.hidden", ctx.rng("part4.greedy_sampling"), 6, False)

    # -- top_k_filter / top_p_filter (the acceptance rule is computed from the inputs: see top_k_problem / top_p_problem) --
    def top_k_filter_check(id_, case_list, public):
        judges = [_filter_judge("top_k_filter", lambda v, lg=lg, k=k: top_k_problem(v, lg, k), lg)
                  for lg, k in case_list]
        cases(id_, "top_k_filter", [(torch.from_numpy(lg), k) for lg, k in case_list], judges,
              [f"vocab {len(lg)}, k {k}" for lg, k in case_list],
              "top_k_filter keeps the top_k largest logits (ties: exactly k or all tied), -inf elsewhere", public,
              observe=("arguments",))

    top_k_filter_check("top_k_filter", public_top_k_cases(), True)
    if ctx.hidden:
        top_k_filter_check("top_k_filter.hidden", hidden_top_k_cases(ctx.rng("part4.top_k_filter")), False)

    def top_p_filter_check(id_, case_list, public):
        judges = [_filter_judge("top_p_filter", lambda v, c=c: top_p_problem(v, *c), c[0]) for c in case_list]
        cases(id_, "top_p_filter", [(torch.from_numpy(lg), p, t, m) for lg, p, t, m in case_list], judges,
              [f"vocab {len(lg)}, p {p:.6g}, temperature {t:.4g}, min_tokens_to_keep {m}" for lg, p, t, m in case_list],
              "top_p_filter: temperature first, then the smallest set of most probable tokens with mass ≥ p", public,
              observe=("arguments",))

    top_p_filter_check("top_p_filter", public_top_p_cases(), True)
    if ctx.hidden:
        top_p_filter_check("top_p_filter.hidden", hidden_top_p_cases(ctx.rng("part4.top_p_filter")), False)

    # -- samplers (statistical) --
    def sampler_check(id_, target, logits, params, seed, public):
        t = torch.from_numpy(logits)
        if target == "top_k_sampling":
            temperature, k, beams = params
            scaled = np.asarray(ref.top_k_filter(t, k), dtype=np.float64) / temperature
        else:
            temperature, p, beams = params
            scaled = np.asarray(ref.top_p_filter(t, p, temperature, beams), dtype=np.float64)
        pid = f"{PART_NAME}.{id_}"
        table.add(id_, [Probe(pid, target, (t, *params, generator(seed)), repeat=N_DRAWS, observe=("arguments",)),
                  Probe(f"{pid}.replay", target, (t, *params, generator(seed)), repeat=REPLAY_DRAWS)],
            SamplerFits(pid, _softmax(scaled), beams, alpha=ALPHA, what=target, replay=f"{pid}.replay",
                        unchanged=lambda o: modified_problem(o, logits, target)),
            f"{target}: {N_DRAWS} calls — ids inside the kept set, distinct within a call, first ids following "
            "the filtered distribution, the same draws again from a generator seeded alike", public, timeout=120.0)

    rng = np.random.default_rng(4300)
    sampler_check("top_k_sampling", "top_k_sampling", top_k_sampler_case(rng, 0.7, 40, 10, 3), (0.7, 10, 3),
                  4301, True)
    rng = np.random.default_rng(4400)
    # the nucleus at temperature 0.5 holds fewer tokens than beams: min_tokens_to_keep = beams must apply
    sampler_check("nucleus_sampling", "nucleus_sampling",
                  nucleus_sampler_case(rng, 0.5, 0.5, 40, 3, nucleus_below_beams=True), (0.5, 0.5, 3), 4401, True)
    if ctx.hidden:
        rng = ctx.rng("part4.top_k_sampling")
        for n, (t_lo, t_hi) in enumerate([(0.25, 0.5), (2.0, 6.0)]):
            temperature, V = float(rng.uniform(t_lo, t_hi)), int(rng.integers(30, 120))
            k = int(rng.integers(5, 30))
            beams = int(rng.integers(1, 5))
            sampler_check(f"top_k_sampling.hidden{n + 1}", "top_k_sampling",
                          top_k_sampler_case(rng, temperature, V, k, beams), (temperature, k, beams),
                          ctx.seed(f"part4.top_k_sampling.{n}"), False)
        rng = ctx.rng("part4.nucleus_sampling")
        for n, (t_lo, t_hi, p_lo, p_hi) in enumerate([(0.3, 0.6, 0.5, 0.95), (1.5, 4.0, 0.3, 0.8)]):
            temperature, p = float(rng.uniform(t_lo, t_hi)), float(rng.uniform(p_lo, p_hi))
            V, beams = int(rng.integers(30, 120)), int(rng.integers(1, 4))
            sampler_check(f"nucleus_sampling.hidden{n + 1}", "nucleus_sampling",
                          nucleus_sampler_case(rng, temperature, p, V, beams), (temperature, p, beams),
                          ctx.seed(f"part4.nucleus_sampling.{n}"), False)

    # -- plot_prob_distribution (public: a figure of grader-given probabilities) --
    rng = np.random.default_rng(4500)
    probs = _softmax(rng.normal(0, 2, 300)).astype(np.float32)
    order = np.argsort(-probs, kind="stable")
    selected = np.array([order[1], order[4]], dtype=np.int64)
    pid = f"{PART_NAME}.plot_prob_distribution"
    top_tokens = [tok.decode([int(i)]) for i in order[:PLOT_TOTAL_NB]]
    table.add("plot_prob_distribution",
        [Probe(pid, "plot_prob_distribution",
               (torch.from_numpy(probs), torch.from_numpy(selected), tokenizer(MODEL), PLOT_TOTAL_NB, PLOT_TITLE,
                PLOT_KEPT))],
        FigureCheck(pid, _bars_problem(probs.astype(np.float64), selected, PLOT_TOTAL_NB, top_tokens),
                    what="plot_prob_distribution"),
        "the bar chart shows the probabilities of the most probable tokens, in decreasing order", True)

    # -- greedy_search (the end-of-text token is generated like any other, and may be decoded
    #    with or without skip_special_tokens) --
    def greedy_check(id_, text, length, public):
        ids = ref.encode_prompt(tok, text)
        out_ids, graph = ref.greedy_search(model, tok, ids, length)
        out = np.asarray(out_ids).astype(np.int64)
        n = out.shape[1] - length
        also_ok = {i: {tok.decode([int(out[0, n + i - 1])])} for i in range(1, length + 1)
                   if int(out[0, n + i - 1]) in inputs.special}
        args = (causal_lm(MODEL), tokenizer(MODEL), ids, length)
        detail = f"prompt {text!r}, length {length}"
        single(f"{id_}.ids", args, "greedy_search", _greedy_ids_judge(out), detail,
               "greedy_search's output_ids equal greedy decoding (going on after the end-of-text token)", public)
        pid = f"{PART_NAME}.{id_}.graph"
        table.add(f"{id_}.graph", [Probe(pid, "greedy_search", args)],
            Cases([pid], [_greedy_graph_judge(graph, public, also_ok)], details=[detail], outcomes=True),
            "greedy_search's graph is the path of the chosen tokens with their tokenscore", public)

    greedy_check("greedy_search", PUBLIC_PROMPT, PUBLIC_GREEDY_LENGTH, True)
    if ctx.hidden:
        rng = ctx.rng("part4.greedy_search")
        length = int(rng.integers(6, 10))
        text, _ = _first(_candidates(rng), lambda t: inputs.crosses_eos(t, length))
        greedy_check("greedy_search.hidden", text, length, False)

    # -- beam_search (tree) --
    def tree_check(id_, text, length, beams, mode="greedy", temperature=1.0, seed=None, public=True):
        """Greedy mode: the whole tree as the reference's. Top-k at a low temperature: the greedy
        tree up to the order of siblings (subset rule)."""
        ids = ref.encode_prompt(tok, text)
        expected = ref.beam_search(model, tok, ids, length, beams, "greedy", 1.0, None)
        args = (causal_lm(MODEL), tokenizer(MODEL), ids, length, beams, mode, temperature,
                None if seed is None else generator(seed))
        description = {
            "greedy": "beam_search in greedy mode builds the whole tree with the reference's tokens and scores",
            "top_k": "beam_search('top_k') applies the temperature at every depth: at a low temperature "
                     "it only keeps the most probable tokens",
        }[mode]
        # a special token (decoded as "" with skip_special_tokens) may also be decoded without it
        specials = {tok.decode([i]) for i in sorted(inputs.special)}
        also_ok = {n: specials for n in expected.nodes if n != 0 and expected.nodes[n]["token"] == ""}
        single(id_, args, "beam_search",
               _tree_judge(expected, ("tokenscore", "cumscore", "sequencescore"), mode == "greedy", public, also_ok),
               f"prompt {text!r}, length {length}, beams {beams}, {mode}, temperature {temperature}",
               description, public)
        return expected

    def nucleus_tree_check(id_, text, beams, seed, public):
        """Nucleus mode at temperature 1: every child inside its node's nucleus (p = 0.5), with the
        model's scores — recomputed here along the student's own random tree."""
        ids = ref.encode_prompt(tok, text)
        prompt = [int(i) for i in np.asarray(ids).reshape(-1)]
        prompt_text = tok.decode(prompt, skip_special_tokens=True)
        allowed = lambda logits: nucleus_allowed(logits, beams)  # noqa: E731

        def judge(outcome: Outcome) -> str | None:
            if p := type_problem(outcome, "graph"):
                return f"beam_search {p}"
            return sampled_tree_problem(outcome.value, oracle(), prompt, prompt_text, NUCLEUS_TREE_LENGTH, beams,
                                        allowed, "nucleus (p = 0.5)", verbose=public)

        args = (causal_lm(MODEL), tokenizer(MODEL), ids, NUCLEUS_TREE_LENGTH, beams, "nucleus", 1.0, generator(seed))
        single(id_, args, "beam_search", judge,
               f"prompt {text!r}, length {NUCLEUS_TREE_LENGTH}, beams {beams}, nucleus, temperature 1.0",
               "beam_search('nucleus') draws every child from its node's nucleus (p = 0.5), with the model's scores",
               public)

    public_tree = tree_check("beam_search.greedy", PUBLIC_PROMPT, *PUBLIC_TREE)
    if ctx.hidden:
        rng = ctx.rng("part4.beam_search")
        text, _ = _first(_candidates(rng), lambda t: inputs.plain(t, 2, 3))
        tree_check("beam_search.greedy.hidden1", text, 2, 3, public=False)
        # the end-of-text token is chosen inside the tree and expanded like any other token
        text, _ = _first(_candidates(rng, forms=(3,)), lambda t: inputs.tree_crosses_eos(t, 3, 2))
        tree_check("beam_search.greedy.hidden2", text, 3, 2, public=False)

    # sampling modes
    text, temperature = _first(_candidates(None), inputs.low_temperature)
    tree_check("beam_search.top_k_temperature", text, *SAMPLING_TREE, "top_k", temperature, 4601)
    text, beams = _first(_candidates(None), inputs.nucleus)
    nucleus_tree_check("beam_search.nucleus", text, beams, 4602, True)
    if ctx.hidden:
        rng = ctx.rng("part4.beam_search.sampling")
        text, temperature = _first(_candidates(rng, forms=(1, 5)), inputs.low_temperature)
        tree_check("beam_search.top_k_temperature.hidden", text, *SAMPLING_TREE, "top_k", temperature,
                   ctx.seed("part4.beam_search.top_k"), public=False)
        text, beams = _first(_candidates(rng), inputs.nucleus)
        nucleus_tree_check("beam_search.nucleus.hidden", text, beams, ctx.seed("part4.beam_search.nucleus"), False)

    # -- get_best_sequence --
    def best_sequence_check(id_, rng, public):
        graph = best_sequence_graph(rng)
        expected = ref.get_best_sequence(graph)
        single(id_, (graph,), "get_best_sequence", _best_sequence_judge(tuple(expected)),
               f"a tree of {graph.number_of_nodes()} nodes; expected {tuple(expected)!r}",
               "get_best_sequence picks the leaf with the highest sequencescore and joins the tokens of its path",
               public)

    best_sequence_check("get_best_sequence", np.random.default_rng(4700), True)
    if ctx.hidden:
        best_sequence_check("get_best_sequence.hidden", ctx.rng("part4.get_best_sequence"), False)

    # -- plot_tree (public: the drawing of the public greedy tree) --
    pid = f"{PART_NAME}.plot_tree"
    tokens = [public_tree.nodes[n]["token"] for n in public_tree.nodes]
    drawings = [(f"{pid}.{score}", score, [float(public_tree.nodes[n][key]) for n in public_tree.nodes])
                for score, key in (("token", "tokenscore"), ("sequence", "sequencescore"))]
    table.add("plot_tree", [Probe(probe_id, "plot_tree", (public_tree, score)) for probe_id, score, _ in drawings],
        AllOf(*(FigureCheck(probe_id, _tree_drawing_problem(public_tree.number_of_nodes(), tokens, values, score),
                            what=f"plot_tree(score={score!r})") for probe_id, score, values in drawings)),
        "plot_tree draws one marker per node, coloured by the chosen score, and one label per node", True)
    return table.checks


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


PART = PartSpec(
    name="part4",
    notebook="part4_advanced_decoding.ipynb",
    title="Part 4: Advanced decoding",
    required_functions=('get_log_prob', 'greedy_search', 'greedy_sampling', 'top_k_filter', 'top_k_sampling',
                        'top_p_filter', 'nucleus_sampling', 'beam_search', 'get_best_sequence'),
    assets=('models/tiny-lm',),
    build_checks=build_checks,
)
