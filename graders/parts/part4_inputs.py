"""Part 4's inputs: the cases its checks call the notebook's functions on, chosen with the model.

Fixed public cases and hidden ones drawn from a check's generator (``ctx.rng``): logits with ties
and boundaries for the filters, sampler cases whose draws a goodness-of-fit test can judge, graphs
for ``get_best_sequence``, and prompts on which a tree search is unambiguous (no near-ties, no
special tokens) — chosen by running the shipped model in the grading process (``Part4Inputs``,
``TreeOracle``). The checks that use them: ``graders.parts.part4``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np

from graders.assets import grader_model
from graders.parts.part4_sampling_judges import _softmax, top_p_valid_counts

MODEL = "tiny-lm"
TREE_TOP_K, TREE_TOP_P = 20, 0.5          # what beam_search uses in its sampling modes (reference.part4.beam_search)

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
