"""Answer groups by similarity: near-identical answers together, different ones apart, the TA's pins kept."""
from __future__ import annotations

from contextlib import closing

from graders.gradebook import connect
from graders.manual.similar import merge, read_pins, similar_groups, split_off, unpin_all

TEXTS = {
    "a": "The encoder-decoder wins: BLEU 0.60 against 0.52, because the encoder reads the whole sentence.",
    "b": "the encoder decoder wins : BLEU 0.60 against 0.52 because the encoder reads the whole sentence",
    "c": "The encoder-decoder wins: BLEU 0.60 against 0.52, since the encoder reads the whole sentence first.",
    "d": "The decoder-only model wins because it is larger.",
    "e": "Attention heads differ in what they look at.",
}
PROBLEMS = {"f": "(not answered)", "g": "(not answered)", "h": "(no notebook for part3 was submitted)"}


def members(groups):
    return [set(g.members) for g in groups]


def test_near_identical_answers_group_and_others_stay_apart():
    groups = similar_groups(TEXTS, PROBLEMS, threshold=0.8)
    assert members(groups)[0] == {"a", "b", "c"}
    assert {"d"} in members(groups) and {"e"} in members(groups)
    assert {"f", "g"} in members(groups) and {"h"} in members(groups)  # by reason, never with answers
    first = groups[0]
    assert first.similarity["a"] == 1.0 and 0.8 <= first.similarity["c"] < 1.0


def test_the_threshold_decides():
    assert {"a", "b"} in members(similar_groups(TEXTS, {}, threshold=1.0))  # same words in the same order
    assert all(len(g.members) == 1 for g in similar_groups({k: TEXTS[k] for k in "acde"}, {}, threshold=1.0))
    assert len(similar_groups(TEXTS, {}, threshold=0.0)) == 1


def test_pins_split_and_merge_whatever_the_threshold(batch):
    with closing(connect(batch)) as conn:
        split_off(conn, "alpha.written", "answer", "c")
        merge(conn, "alpha.written", "answer", ["d", "e"])
        pins = read_pins(conn, "alpha.written", "answer")
        groups = similar_groups(TEXTS, {}, threshold=0.5, pins=pins)
        assert {"a", "b"} in members(groups) and {"c"} in members(groups) and {"d", "e"} in members(groups)
        assert next(g for g in groups if "d" in g.members).pinned
        unpin_all(conn, "alpha.written", "answer")
        assert read_pins(conn, "alpha.written", "answer") == {}
