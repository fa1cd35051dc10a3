"""Pair scores through shared fingerprints agree with comparing every pair by hand."""
from __future__ import annotations

import itertools

import numpy as np

from graders.similarity.compare import compare, score


def brute_force(prints, *, common_limit, min_size):
    counts = {}
    for h in itertools.chain.from_iterable(set(v.tolist()) for v in prints.values()):
        counts[h] = counts.get(h, 0) + 1
    kept = {s: {h for h in v.tolist() if common_limit is None or counts[h] <= common_limit} for s, v in prints.items()}
    out = []
    for a, b in itertools.combinations(sorted(kept), 2):
        if len(kept[a]) >= min_size and len(kept[b]) >= min_size and kept[a] & kept[b]:
            out.append((a, b, len(kept[a] & kept[b]), len(kept[a]), len(kept[b])))
    return out


def test_sparse_pairs_equal_every_pair_compared_by_hand():
    rng = np.random.default_rng(7)
    for trial in range(20):
        n = int(rng.integers(2, 30))
        prints = {f"s{i:02d}": np.unique(rng.integers(0, 200, size=int(rng.integers(0, 40))).astype(np.uint64))
                  for i in range(n)}
        for limit, min_size in ((None, 1), (5, 3), (1, 1)):
            got = compare(prints, common_limit=limit, min_size=min_size)
            assert sorted(got.pairs) == brute_force(prints, common_limit=limit, min_size=min_size), (trial, limit)
            scorable = sum(1 for s in prints if got.sizes[s] >= min_size)
            assert got.scored == scorable * (scorable - 1) // 2


def test_common_fingerprints_are_dropped_and_reported():
    everyone = np.array([1, 2, 3], dtype=np.uint64)
    prints = {f"s{i:02d}": np.concatenate([everyone, np.array([100 + i], dtype=np.uint64)]) for i in range(12)}
    prints["s00"] = np.concatenate([prints["s00"], np.array([50, 51], dtype=np.uint64)])
    prints["s01"] = np.concatenate([prints["s01"], np.array([50, 51], dtype=np.uint64)])
    got = compare(prints, common_limit=10, min_size=1)
    assert got.common.tolist() == [1, 2, 3]
    assert got.pairs == [("s00", "s01", 2, 3, 3)]


def test_degenerate_classes():
    assert compare({}, common_limit=None, min_size=1).pairs == []
    assert compare({"a": np.array([1], dtype=np.uint64)}, common_limit=None, min_size=1).scored == 0
    empty = np.zeros(0, dtype=np.uint64)
    got = compare({"a": empty, "b": empty, "c": empty}, common_limit=None, min_size=0)
    assert got.pairs == [] and got.scored == 3
    assert score(3, 4, 10) == 0.75 and score(0, 0, 5) == 0.0
