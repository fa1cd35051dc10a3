"""Answer groups by similarity (Gradescope's answer groups): near-identical answers scored at once.

Two answers are compared by the cosine of their word and word-pair counts (``similarity.tokens``'s
words: case- and compatibility-folded, punctuation and spacing ignored). An answer joins the group
whose first answer is most similar to it, when that similarity reaches the TA's ``threshold``
(1.0: only answers with the same words in the same order); else it starts a group. Answers with
nothing to grade group by their reason (not answered, no notebook …), whatever the threshold.

A TA corrects the grouping with pins (``answer_group_pins``): splitting an answer pins it alone;
merging two groups pins every member of both to one label. Pinned answers stay where they are
pinned whatever the threshold. Groups are a view: scoring a group applies to each member.
"""
from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

from graders.similarity.tokens import word_tokens

DEFAULT_THRESHOLD = 0.85


@dataclass(frozen=True)
class SimilarGroup:
    #: a stable name for the group: its first member's id, or the pin's label
    key: str
    members: tuple[str, ...]
    #: each member's similarity to the group's first answer (1.0 for the first)
    similarity: Mapping[str, float]
    pinned: bool = False


def features(text: str) -> Counter:
    words = [t.value for t in word_tokens(text)]
    return Counter(words) + Counter(zip(words, words[1:]))


def cosine(a: Counter, b: Counter) -> float:
    if not a or not b:
        return 1.0 if a == b else 0.0
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def similar_groups(texts: Mapping[str, str], problems: Mapping[str, str], *, threshold: float = DEFAULT_THRESHOLD,
                   pins: Mapping[str, str] | None = None) -> list[SimilarGroup]:
    """Groups of the answers ``texts`` (submission → answer; ``problems``: submission → why there is none).

    Largest groups first, ties in the order of their first member (submission order).
    """
    pins = pins or {}
    groups: list[tuple[str, list[str], dict[str, float], bool]] = []
    pinned: dict[str, tuple[str, list[str], dict[str, float], bool]] = {}
    by_problem: dict[str, tuple[str, list[str], dict[str, float], bool]] = {}
    leaders: list[tuple[Counter, tuple]] = []
    for sub in sorted(set(texts) | set(problems)):
        if sub in pins:
            g = pinned.setdefault(pins[sub], (pins[sub], [], {}, True))
            g[1].append(sub)
            g[2][sub] = 1.0
            continue
        if problems.get(sub):
            g = by_problem.setdefault(problems[sub], ("missing: " + problems[sub], [], {}, False))
            g[1].append(sub)
            g[2][sub] = 1.0
            continue
        f = features(texts.get(sub, ""))
        best, best_sim = None, -1.0
        for lf, g in leaders:
            sim = cosine(f, lf)
            if sim > best_sim:
                best, best_sim = g, sim
        if best is not None and best_sim >= threshold - 1e-12:
            best[1].append(sub)
            best[2][sub] = round(best_sim, 4)
        else:
            g = (sub, [sub], {sub: 1.0}, False)
            leaders.append((f, g))
            groups.append(g)
    everything = groups + list(by_problem.values()) + list(pinned.values())
    everything.sort(key=lambda g: (-len(g[1]), g[1][0]))
    return [SimilarGroup(key, tuple(members), dict(sims), pin) for key, members, sims, pin in everything]


def read_pins(conn: sqlite3.Connection, item_id: str, question: str) -> dict[str, str]:
    return {r[0]: r[1] for r in conn.execute("SELECT submission_id, pin FROM answer_group_pins WHERE item_id = ? AND "
                                             "question = ?", (item_id, question))}


def split_off(conn: sqlite3.Connection, item_id: str, question: str, submission_id: str) -> None:
    """Take one answer out of its group: it stays alone until merged."""
    with conn:
        conn.execute("INSERT OR REPLACE INTO answer_group_pins VALUES (?,?,?,?)",
                     (item_id, question, submission_id, "alone: " + submission_id))


def merge(conn: sqlite3.Connection, item_id: str, question: str, members: Sequence[str]) -> None:
    """Put the answers ``members`` (every member of the groups to merge) in one group."""
    if not members:
        return
    label = "merged: " + min(members)
    with conn:
        conn.executemany("INSERT OR REPLACE INTO answer_group_pins VALUES (?,?,?,?)",
                         [(item_id, question, m, label) for m in members])


def unpin_all(conn: sqlite3.Connection, item_id: str, question: str) -> None:
    """Forget the splits and merges of one question: back to the similarity's groups."""
    with conn:
        conn.execute("DELETE FROM answer_group_pins WHERE item_id = ? AND question = ?", (item_id, question))
