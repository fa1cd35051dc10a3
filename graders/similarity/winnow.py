"""Fingerprints of a token sequence: hashed k-grams, winnowed (Schleimer, Wilkerson & Aiken, 2003 — MOSS).

Every run of ``k`` consecutive tokens is hashed; in each window of ``window`` consecutive hashes
the smallest is kept (the rightmost on ties), so any passage of ``k + window - 1`` tokens that two
texts share is guaranteed to give them a common fingerprint, while a passage shorter than ``k``
tokens never does (noise). ``window=1`` keeps every k-gram (word shingles).

Hashes are deterministic (a token's hash comes from BLAKE2b, not from Python's salted ``hash``),
so the same class gives the same fingerprints and scores on every run and machine.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from graders.similarity.tokens import Token

_MULT = np.uint64(0x100000001B3)  # the 64-bit FNV prime: an odd multiplier for the rolling hash
_TOKEN_IDS: dict[str, np.uint64] = {}


def _token_id(value: str) -> np.uint64:
    found = _TOKEN_IDS.get(value)
    if found is None:
        digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        found = _TOKEN_IDS[value] = np.uint64(int.from_bytes(digest, "little"))
        if len(_TOKEN_IDS) > 1_000_000:  # hostile input with endless distinct tokens
            _TOKEN_IDS.clear()
    return found


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads the rolling hash so that the window minimum is unbiased."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@dataclass(frozen=True)
class Fingerprints:
    """The fingerprints of one text: ``hashes[i]`` covers the characters ``spans[i, 0]:spans[i, 1]``."""

    hashes: np.ndarray  # uint64, in text order (a hash may repeat)
    spans: np.ndarray   # int64, shape (n, 2)

    @classmethod
    def empty(cls) -> "Fingerprints":
        return cls(np.zeros(0, dtype=np.uint64), np.zeros((0, 2), dtype=np.int64))

    def without(self, hashes: np.ndarray) -> "Fingerprints":
        """These fingerprints less those in ``hashes`` (the template's boilerplate)."""
        if not len(hashes) or not len(self.hashes):
            return self
        keep = ~np.isin(self.hashes, hashes)
        return Fingerprints(self.hashes[keep], self.spans[keep])

    def unique(self) -> np.ndarray:
        return np.unique(self.hashes)


def kgram_hashes(tokens: Sequence[Token], k: int) -> np.ndarray:
    """The hash of every run of ``k`` consecutive tokens (an empty array if there are fewer)."""
    n = len(tokens) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    ids = np.fromiter((_token_id(t.value) for t in tokens), dtype=np.uint64, count=len(tokens))
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _MULT + ids[j:j + n]
        return _mix(h)


def winnow(hashes: np.ndarray, window: int) -> np.ndarray:
    """Indices of the hashes robust winnowing selects: the rightmost minimum of every window."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    n = len(hashes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if window == 1:
        return np.arange(n, dtype=np.int64)
    if n <= window:
        return np.array([n - 1 - int(np.argmin(hashes[::-1]))], dtype=np.int64)
    windows = sliding_window_view(hashes, window)
    rightmost = window - 1 - np.argmin(windows[:, ::-1], axis=1)
    return np.unique(np.arange(len(windows)) + rightmost)


def fingerprint(tokens: Sequence[Token], *, k: int, window: int) -> Fingerprints:
    """Winnowed k-gram fingerprints of ``tokens``, each with the character span of its k-gram."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    hashes = kgram_hashes(tokens, k)
    if not len(hashes):
        return Fingerprints.empty()
    chosen = winnow(hashes, window)
    starts = np.fromiter((tokens[i].start for i in chosen), dtype=np.int64, count=len(chosen))
    ends = np.fromiter((tokens[i + k - 1].end for i in chosen), dtype=np.int64, count=len(chosen))
    return Fingerprints(hashes[chosen], np.stack([starts, ends], axis=1))


def merged_spans(spans: np.ndarray) -> list[tuple[int, int]]:
    """Overlapping or touching character spans joined, in order (what a highlight marks)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(map(tuple, spans.tolist())):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out
