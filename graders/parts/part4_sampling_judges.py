"""Part 4's judges of one position's logits: ``get_log_prob``, ``greedy_sampling``, the filters and
samplers, and the bar chart of a distribution — what makes a returned value right, with the tie and
boundary rules.

Each ``*_problem`` returns None (right), a ``Note`` (right, with a remark) or the reason a student
reads; each ``_*_judge`` makes such a function for one case of a ``Cases`` rule. The filters'
acceptance rules are computed from the inputs (``top_k_problem``, ``top_p_problem``;
``top_p_valid_counts`` also tells ``part4_inputs`` which tokens a nucleus may hold); the samplers'
draws are judged by ``graders.checks.statistical.SamplerFits``, with ``modified_problem`` for their
``logits`` argument. The judges of searches (paths and trees) are in ``part4_judges``. The checks
that use them: ``graders.parts.part4``.

A reason names what is wrong (which case, node, attribute or position) and, when the value shows
it, the classic mistake behind it; values that may come from hidden inputs, expected values or the
kernel sit in ``hidden`` slots (``graders.reasons``), which a check with hidden inputs leaves out.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from graders.checks.rules import Note
from graders.checks.values import as_array, describe_type, type_problem
from graders.probe.transport import KernelArray, Outcome
from graders.reasons import hidden


P_BOUNDARY_TOL = 1e-5     # top-p: a token whose preceding mass is this close to p may go either way
ZERO_PROB = 1e-30         # probabilities below this count as exactly 0 (ties) in top-p
LOGPROB_ATOL = 1e-4


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


# --- the bar chart of a distribution ---------------------------------------------------------

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
