"""Part 3's inputs: the shipped models and data in the grading process, and the cases its checks call
the notebook's functions on.

The models (``tiny-lm``, ``tiny-t5``, ``tiny-translator``) and the test set are loaded here once per
grading run, to compute expected values and choose inputs (the kernel gets fresh copies of the same
models). Prompts of the toy language for the decoders (``PROMPTS``, and those chosen so that
``max_length`` cuts every hypothesis or n-gram blocking matters), and hidden inputs drawn from a
check's generator (``ctx.rng``): BLEU corpora built so that each classic mistake shows, Hamming
penalty cases, words for grader-made attention labels. The checks that use them:
``graders.parts.part3``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from graders.assets import data_path, grader_model

LM, T5, TRANSLATOR = "tiny-lm", "tiny-t5", "tiny-translator"
T5_PREFIX = "translate English to German: "

# prompts in the toy English tiny-lm was trained on
PROMPTS = [
    "The little dog", "I have a dream", "A big cat that", "The old man", "My friend",
    "The young woman sees", "They", "A clever fox", "The happy children", "She",
    "The king and the queen", "A red car",
]
# prompts that need at least three more tokens before a sentence can end (verb or "that" last):
# with max_length = prompt + 2 or 3 no hypothesis reaches the end-of-sequence token
SHORT_PROMPTS = ["The young woman sees", "A big cat that", "The old man likes", "My friend finds", "They see",
                 "The teacher helps", "A clever fox chases", "The children want"]
# prompts after which tiny-lm repeats itself within one sentence ("... that sees the little dog sees the
# little dog ."), so that n-gram blocking (n = 2 and 3, prompt included) changes the result
BLOCKING_PROMPTS = ["The old man that sees", "A clever fox that sees", "The young woman that sees",
                    "A big cat that sees", "The little dog that sees", "The king that sees", "A red car that sees",
                    "The little dog that sees the little dog"]


# --- the shipped models and data, in the grading process ---------------------------------------

def _causal(name: str):
    return grader_model(name)


def _seq2seq(name: str):
    return grader_model(name, seq2seq=True)


@lru_cache(maxsize=1)
def _test_set() -> tuple[tuple[str, str], ...]:
    lines = data_path("part3_test.tsv").read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines[1:] if line.strip()]
    return tuple((en, de) for en, de in rows)


def _torch_threads():
    import torch

    torch.set_num_threads(1)


# --- hidden inputs ----------------------------------------------------------------------------

_WORDS = ["the", "a", "cat", "dog", "sat", "on", "mat", "runs", "in", "park", "big", "small", "red", "house",
          "sees", "bird", "tree", "old", "man", "with", "green", "ball", "today", "and"]
_OTHER_WORDS = ["der", "die", "das", "Hund", "Katze", "sieht", "Haus", "Baum", "rot", "mit", "und", "heute"]


def _sentence(rng: np.random.Generator, n: int, words=_WORDS) -> list[str]:
    return [words[int(i)] for i in rng.integers(0, len(words), n)]


def _edit(rng: np.random.Generator, ref: list[str], changes: int) -> list[str]:
    """A hypothesis made from ``ref`` by a few substitutions, away from the first 5 words (so a
    4-gram always matches)."""
    hyp = list(ref)
    for _ in range(changes):
        i = int(rng.integers(5, len(hyp))) if len(hyp) > 5 else len(hyp) - 1
        hyp[i] = _WORDS[int(rng.integers(len(_WORDS)))]
    return hyp


def _bleu_cases(rng: np.random.Generator) -> dict[str, list[tuple[list[str], list[str]]]]:
    """name → list of (predictions, references) corpora, each built so that one mistake shows."""
    j = " ".join

    def ref(n):
        return _sentence(rng, n)

    cases: dict[str, list] = {}
    # nothing in common / unigrams in common but no common 4-gram → 0.0 without smoothing
    r1, r2 = ref(8), ref(9)
    cases["no_match"] = [
        ([j(_sentence(rng, 7, _OTHER_WORDS)), j(_sentence(rng, 6, _OTHER_WORDS))], [j(r1), j(r2)]),
        ([j(r1[i] for i in (0, 2, 4, 6, 1, 3, 5, 7)), j(r2[::-1])], [j(r1), j(r2)]),
        # one 4-gram in common: BLEU is small but not 0 (so a function that always returns 0 fails)
        ([j(r1[:4] + _sentence(rng, 3, _OTHER_WORDS)), j(r2[::-1])], [j(r1), j(r2)]),
        # no hypothesis has 4 words: p4 has no 4-grams at all, so BLEU is 0 (not a division by zero)
        ([j(r1[:3]), j(r2[:2])], [j(r1), j(r2)]),
    ]
    # repeated words and a repeated phrase: counts must be clipped by the reference's counts
    r1, r2 = ref(10), ref(12)
    word = r1[2]
    cases["clipping"] = [
        ([j(r1[:6] + [word, word, word] + r1[6:]), j(r2[:7] + r2[3:7] + r2[7:])], [j(r1), j(r2)]),
        ([j(r1 + r1[:5]), j([r2[0]] * 4 + r2)], [j(r1), j(r2)]),
    ]
    # brevity: corpus-level lengths, whatever the last / first sentence does
    r1, r2, r3 = ref(12), ref(10), ref(9)
    cases["brevity"] = [
        # the corpus is short (BP < 1) although its last sentence is longer than its reference
        ([j(r1[:7]), j(r2[:6]), j(r3 + r3[:2])], [j(r1), j(r2), j(r3)]),
        # the corpus is long (BP = 1) although its first sentence is shorter than its reference
        ([j(r1[:9]), j(r2 + _sentence(rng, 4)), j(r3 + _sentence(rng, 3))], [j(r1), j(r2), j(r3)]),
    ]
    # several sentences of different quality and length: sums over the corpus, not a mean
    refs = [ref(int(n)) for n in rng.integers(7, 14, 5)]
    hyps = [_edit(rng, r, int(c)) for r, c in zip(refs, [0, 1, 2, 3, 4])]
    hyps[2] = hyps[2][:-2]
    hyps[4] = hyps[4][:4] + _sentence(rng, 2)  # no 4-gram of its own beyond the first
    cases["corpus"] = [([j(h) for h in hyps], [j(r) for r in refs]),
                       ([j(h) for h in hyps[1:4]], [j(r) for r in refs[1:4]])]
    return cases


PUBLIC_BLEU = [
    (["the cat sat on the mat", "a dog runs in the big park today"],
     ["the cat sat on a mat", "the dog runs in the big park"]),
    (["the the the the cat sat on the mat"], ["the cat sat on the mat"]),
    (["he reads", "she reads a book"], ["he reads a book", "she reads a book"]),
    # irregular whitespace: tokens are str.split()'s (runs of spaces, tabs and newlines separate words)
    (["  the cat\tsat on  the mat ", "a dog runs\nin the  big park"],
     ["the cat sat  on the mat", " the dog runs in the big park\t"]),
]


def _hamming_case(rng: np.random.Generator):
    n = int(rng.integers(4, 10))
    seq = [int(t) for t in rng.integers(0, 6, n)]
    others = []
    for _ in range(int(rng.integers(2, 5))):
        m = int(rng.integers(2, 12))
        other = [int(t) for t in rng.integers(0, 6, m)]
        for i in range(min(n, m)):  # make agreements frequent
            if rng.random() < 0.4:
                other[i] = seq[i]
        others.append(other)
    factor = float(np.round(rng.uniform(0.1, 3.0), 3))
    return seq, others, factor
