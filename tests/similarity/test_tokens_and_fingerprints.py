"""Tokens and fingerprints: what a copier changes does not change them; what differs in substance does."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from graders.similarity.tokens import NAME, Untokenizable, code_tokens, word_tokens
from graders.similarity.winnow import fingerprint, kgram_hashes, merged_spans, winnow

ORIGINAL = '''
def top_k_filter(logits, top_k):
    """Keep the top k."""
    values, _ = torch.topk(logits, top_k)   # the k largest
    kth = values[-1]
    return torch.where(logits < kth, torch.full_like(logits, float("-inf")), logits)
'''

DISGUISED = '''
def top_k_filter(scores, k):
    # my own version


    best, _ = torch.topk(scores, k)
    cutoff = best[-1]  # threshold
    return torch.where(scores < cutoff,
                       torch.full_like(scores, float('-inf')),
                       scores)
'''


def values(text, **kw):
    return [t.value for t in code_tokens(text, **kw)]


def test_renamed_names_comments_blank_lines_and_docstrings_do_not_change_the_tokens():
    assert values(ORIGINAL, provided={"torch"}) == values(DISGUISED, provided={"torch"})


def test_what_the_student_cannot_rename_stays():
    toks = values(ORIGINAL, provided={"torch", "top_k_filter"}, skip_header=True)
    assert "topk" in toks and "full_like" in toks and "where" in toks   # attributes
    assert "torch" in toks and "float" in toks                           # provided name, built-in
    assert "def" not in toks and "top_k_filter" not in toks              # the template's signature line
    assert toks.count(NAME) == 10  # values _ logits top_k | kth values | logits kth logits logits


def test_keyword_arguments_are_kept_and_a_provided_name_bound_again_is_the_students():
    toks = values("def f(x):\n    return torch.softmax(x, dim=-1)\n", provided={"torch"})
    assert "dim" in toks
    toks = values("def f(model):\n    return model(torch.ones(1))\n", provided={"torch", "model"})
    assert "model" not in toks  # the parameter shadows the notebook's global `model`


def test_different_apis_give_different_tokens():
    assert values("y = torch.softmax(x, -1)\n", provided={"torch"}) != values("y = np.exp(x) / np.exp(x).sum()\n",
                                                                              provided={"np"})


def test_spans_point_at_the_source():
    text = "total = 0\nfor v in items:\n    total += v\n"
    for tok in code_tokens(text):
        if tok.value not in (NAME, ";"):
            assert text[tok.start:tok.end] == tok.value


def test_code_that_is_not_python_is_refused_with_a_reason():
    with pytest.raises(Untokenizable, match="not valid Python"):
        code_tokens("def f(:\n")
    with pytest.raises(Untokenizable):
        code_tokens("x = " + "(" * 5000 + ")" * 5000)


def test_words_fold_case_width_and_punctuation():
    assert [t.value for t in word_tokens("The ＫＬ, *estimator*\n— is UNBIASED!")] == ["the", "kl", "estimator",
                                                                                       "is", "unbiased"]


def test_winnowing_keeps_the_rightmost_minimum_of_each_window():
    h = np.array([5, 3, 9, 3, 7, 8, 1, 4], dtype=np.uint64)
    assert winnow(h, 3).tolist() == [1, 3, 6]
    assert winnow(h, 1).tolist() == list(range(8))
    assert winnow(h[:2], 4).tolist() == [1]
    with pytest.raises(ValueError):
        winnow(h, 0)


def test_a_long_enough_shared_passage_is_always_found_and_a_short_one_never():
    k, w = 5, 4
    rng = np.random.default_rng(0)
    vocabulary = [f"t{i}" for i in range(50)]

    def doc(words):
        text = " ".join(words)
        return word_tokens(text)

    for trial in range(50):
        shared = list(rng.choice(vocabulary, size=k + w - 1))
        a = list(rng.choice(vocabulary, size=30)) + shared + list(rng.choice(vocabulary, size=30))
        b = list(rng.choice(vocabulary, size=17)) + shared + list(rng.choice(vocabulary, size=11))
        fa, fb = fingerprint(doc(a), k=k, window=w), fingerprint(doc(b), k=k, window=w)
        assert np.intersect1d(fa.hashes, fb.hashes).size > 0, trial
    a = " ".join(f"a{i}" for i in range(40)) + " x y z w " + " ".join(f"b{i}" for i in range(40))
    b = " ".join(f"c{i}" for i in range(40)) + " x y z w " + " ".join(f"d{i}" for i in range(40))
    fa, fb = fingerprint(word_tokens(a), k=k, window=w), fingerprint(word_tokens(b), k=k, window=w)
    assert np.intersect1d(fa.hashes, fb.hashes).size == 0  # 4 shared words < k


def test_fingerprints_are_the_same_in_every_process():
    code = ("import sys; from graders.similarity.tokens import word_tokens;"
            "from graders.similarity.winnow import kgram_hashes;"
            "print(kgram_hashes(word_tokens('the quick brown fox jumps over the lazy dog'), 3).tolist())")
    runs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        runs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True, timeout=120).stdout)
    assert len(runs) == 1
    assert runs.pop().strip() == str(kgram_hashes(word_tokens("the quick brown fox jumps over the lazy dog"), 3).tolist())


def test_short_texts_have_no_fingerprints_and_spans_merge():
    assert fingerprint(word_tokens("two words"), k=5, window=1).hashes.size == 0
    assert merged_spans(np.array([[5, 9], [0, 3], [8, 12], [12, 14]])) == [(0, 3), (5, 14)]
