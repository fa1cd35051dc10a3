"""Every pair of submissions on one unit, through the fingerprints they share (never pair by pair).

The submissions' fingerprint sets form a sparse 0/1 matrix (submissions × fingerprints); its
product with its transpose counts, in one sparse multiplication, the fingerprints each pair
shares — only pairs that share something are ever touched. As in MOSS, a fingerprint that more
than ``common_limit`` submissions have is taken for code everybody writes and is ignored.

A pair's score is the share of the smaller side's fingerprints found in the other:
``shared / min(size_a, size_b)`` in [0, 1], so a copy that was padded, or that inlined a helper,
still scores as high as the passage it took. A side with fewer than ``min_size`` fingerprints is
too short to tell a copy from the obvious way to write it, and is not scored.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from scipy import sparse


@dataclass(frozen=True)
class UnitScores:
    """The scored pairs of one unit.

    pairs:  (a, b, shared, size_a, size_b) for every pair with a > 0 share, ``a < b``
    scored: how many pairs were scored (those with no share count as score 0)
    sizes:  the fingerprints of each submission that count (after the common ones are dropped)
    """

    pairs: list[tuple[str, str, int, int, int]]
    scored: int
    sizes: dict[str, int]
    common: np.ndarray  # fingerprints dropped as too common


def score(shared: int, size_a: int, size_b: int) -> float:
    smaller = min(size_a, size_b)
    return shared / smaller if smaller else 0.0


def compare(prints: Mapping[str, np.ndarray], *, common_limit: int | None, min_size: int) -> UnitScores:
    """Pairs of submissions that share fingerprints; ``prints`` maps a submission to its unique hashes."""
    ids = sorted(prints)
    if len(ids) < 2:
        return UnitScores([], 0, {s: len(prints[s]) for s in ids}, np.zeros(0, dtype=np.uint64))
    lengths = [len(prints[s]) for s in ids]
    values, cols = np.unique(np.concatenate([prints[s] for s in ids]), return_inverse=True)
    rows = np.repeat(np.arange(len(ids)), lengths)
    m = sparse.csr_matrix((np.ones(len(cols), dtype=np.int32), (rows, cols)), shape=(len(ids), len(values)))
    common = np.zeros(0, dtype=np.uint64)
    if common_limit is not None:
        df = np.asarray(m.sum(axis=0)).ravel()
        too_common = df > common_limit
        if too_common.any():
            common = values[too_common]
            m = m[:, np.flatnonzero(~too_common)]
    sizes = np.asarray(m.sum(axis=1)).ravel()
    ok = sizes >= min_size
    n_ok = int(ok.sum())
    product = sparse.triu(m @ m.T, k=1).tocoo()
    keep = ok[product.row] & ok[product.col] & (product.data > 0)
    pairs = [(ids[i], ids[j], int(v), int(sizes[i]), int(sizes[j]))
             for i, j, v in zip(product.row[keep], product.col[keep], product.data[keep])]
    return UnitScores(pairs, n_ok * (n_ok - 1) // 2, {s: int(n) for s, n in zip(ids, sizes)}, common)
