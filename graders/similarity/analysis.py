"""The similarity of every pair of submissions of a graded class, per graded function and written answer.

``analyse(OUT)`` reads ``OUT/intake.json`` (which notebook each submission was graded from),
fingerprints each submission's units once (``units`` → ``tokens`` → ``winnow``), less the
assignment's own code and prose (boilerplate, as MOSS's base file), and scores the pairs of each
unit through the fingerprints they share (``compare``). Pairs at or above the threshold are kept
with the passages they share, for a person to look at: a score is a pointer, never a finding.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from graders.similarity.compare import compare, score
from graders.similarity.tokens import Untokenizable, code_tokens, word_tokens
from graders.similarity.units import Template, Unit, notebook_units, read_template
from graders.similarity.winnow import Fingerprints, fingerprint, merged_spans


class SimilarityError(Exception):
    """The class cannot be compared at all (no intake.json, an unknown part); the message says why."""


@dataclass(frozen=True)
class Settings:
    """How texts are fingerprinted and which pairs are reported (defaults: ``analyse``'s keywords).

    k / window:     code k-grams of ``k`` tokens, winnowed in windows of ``window`` (a shared
                    passage of ``k + window - 1`` tokens is always found; fewer than ``k``, never)
    shingle:        words per shingle of a written answer (every shingle is kept)
    threshold:      a pair scoring this or more on a unit is listed
    min_code / min_written: fingerprints a side needs to be scored at all
    common_share:   a fingerprint that more than this share of the submissions (and more than 10)
                    have is code or prose everybody writes, and is ignored
    """

    k: int
    window: int
    shingle: int
    threshold: float
    min_code: int
    min_written: int
    common_share: float

    def common_limit(self, n: int) -> int:
        return max(10, math.floor(self.common_share * n))


@dataclass(frozen=True)
class Pair:
    """Two submissions on one unit. ``spans_a`` / ``spans_b``: the shared passages in each text."""

    part: str
    kind: str
    unit: str
    a: str
    b: str
    score: float
    shared: int
    size_a: int
    size_b: int
    spans_a: tuple[tuple[int, int], ...] = ()
    spans_b: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Compared:
    """One unit of the class: the fingerprints of each submission that has it (after boilerplate and
    common ones; a side below the minimum is not scored), the pairs scored and listed."""

    part: str
    kind: str
    unit: str
    sizes: dict[str, int]
    pairs: int
    flagged: int

    @property
    def submissions(self) -> int:
        return len(self.sizes)


@dataclass
class Analysis:
    """Everything the similarity report shows, as plain data."""

    settings: Settings
    submissions: dict[str, dict]                      # id -> {"student_id", "name"}
    flagged: list[Pair] = field(default_factory=list)  # score >= threshold, most similar first
    scores: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> every scored pair's score
    compared: list[Compared] = field(default_factory=list)
    texts: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (part, unit, id) -> text (flagged only)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (submission id, what could not be compared)


def _read_manifest(out_dir: Path) -> dict[str, dict]:
    path = Path(out_dir) / "intake.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        subs = data["submissions"]
        if not isinstance(subs, dict):
            raise TypeError
    except FileNotFoundError:
        raise SimilarityError(f"{path} does not exist: grade the class with `hw4 grade` first") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise SimilarityError(f"{path} is not an intake manifest written by `hw4 grade`") from None
    return {str(sid): entry for sid, entry in subs.items() if isinstance(entry, dict)}


def _boilerplate_code(template: Template, settings: Settings) -> np.ndarray:
    found = [np.zeros(0, dtype=np.uint64)]
    for source in template.code:
        try:
            tokens = code_tokens(source, provided=template.names)
        except Untokenizable:
            continue
        found.append(fingerprint(tokens, k=settings.k, window=settings.window).hashes)
    return np.unique(np.concatenate(found))


def _boilerplate_prose(template: Template, settings: Settings) -> np.ndarray:
    found = [np.zeros(0, dtype=np.uint64)]
    found += [fingerprint(word_tokens(text), k=settings.shingle, window=1).hashes for text in template.prose]
    return np.unique(np.concatenate(found))


def _fingerprints(unit: Unit, template: Template, settings: Settings) -> Fingerprints:
    if unit.kind == "code":
        tokens = code_tokens(unit.text, provided=template.names, skip_header=True)
        return fingerprint(tokens, k=settings.k, window=settings.window)
    return fingerprint(word_tokens(unit.text), k=settings.shingle, window=1)


def _read_cells(path_text: str) -> tuple[list | None, str]:
    from graders.notebook_file import NotebookUnreadable, read_notebook

    try:
        return list(read_notebook(Path(path_text)).cells), ""
    except NotebookUnreadable as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        return None, f"cannot read the notebook ({type(exc).__name__})"


def analyse(out_dir: Path, *, parts: Sequence[str] | None = None, threshold: float = 0.5, k: int = 12,
            window: int = 4, shingle: int = 5, min_code: int = 8, min_written: int = 10,
            common_share: float = 0.2) -> Analysis:
    """Compare every pair of submissions graded into ``out_dir``, per part and per unit."""
    from graders.homework import assets_dir
    from graders.manual.cells import answer_in_cells, assignment_prose
    from graders.homework import all_parts

    if not 0 < threshold <= 1:
        raise SimilarityError(f"the threshold must be in (0, 1], got {threshold}")
    if not 0 < common_share <= 1:
        raise SimilarityError(f"the common share must be in (0, 1], got {common_share}")
    for name, value in (("k", k), ("window", window), ("shingle", shingle)):
        if value < 1:
            raise SimilarityError(f"{name} must be at least 1, got {value}")
    settings = Settings(k, window, shingle, threshold, min_code, min_written, common_share)
    manifest = _read_manifest(out_dir)
    known = all_parts()
    chosen = list(parts) if parts else list(known)
    unknown = [p for p in chosen if p not in known]
    if unknown:
        raise SimilarityError(f"unknown part(s): {', '.join(unknown)} (known: {', '.join(known)})")
    analysis = Analysis(settings, {sid: {"student_id": str(e.get("student_id") or ""), "name": str(e.get("name") or "")}
                                   for sid, e in sorted(manifest.items())})
    scores: dict[str, list[np.ndarray]] = defaultdict(list)
    for part in chosen:
        spec = known[part]
        template = read_template(assets_dir() / spec.notebook, part, tuple(spec.required_functions))
        boiler = {"code": _boilerplate_code(template, settings), "written": _boilerplate_prose(template, settings)}
        prose = assignment_prose(part)
        units: dict[str, dict[str, tuple[Unit, Fingerprints]]] = defaultdict(dict)
        for sid, entry in sorted(manifest.items()):
            path = (entry.get("notebooks") or {}).get(part) if isinstance(entry.get("notebooks"), dict) else None
            if not isinstance(path, str):
                continue
            cells, why = _read_cells(path)
            if cells is None:
                analysis.problems.append((sid, f"{part}: {why}; not compared"))
                continue
            found = notebook_units(cells, template, answer_text=lambda c, item: answer_in_cells(c, item, prose=prose))
            analysis.problems += [(sid, p) for p in found.problems]
            for name, unit in found.units.items():
                try:
                    prints = _fingerprints(unit, template, settings).without(boiler[unit.kind])
                except Untokenizable as exc:
                    analysis.problems.append((sid, f"{part}: {name} is {exc}; not compared"))
                    continue
                units[name][sid] = (unit, prints)
        order = [*template.functions, *template.answer_items]
        for name in sorted(units, key=order.index):
            kind = "code" if name in template.functions else "written"
            _score_unit(analysis, scores, part, kind, name, units[name])
    analysis.scores = {kind: np.concatenate(found) for kind, found in scores.items()}
    analysis.flagged.sort(key=lambda p: (-p.score, -p.shared, p.part, p.unit, p.a, p.b))
    analysis.problems.sort(key=lambda problem: problem[0])
    return analysis


def _score_unit(analysis: Analysis, scores: dict, part: str, kind: str, name: str,
                members: dict[str, tuple[Unit, Fingerprints]]) -> None:
    settings = analysis.settings
    uniques = {sid: prints.unique() for sid, (_, prints) in members.items()}
    result = compare(uniques, common_limit=settings.common_limit(len(analysis.submissions)),
                     min_size=settings.min_code if kind == "code" else settings.min_written)
    values = np.zeros(result.scored)
    flagged = 0
    for i, (a, b, shared, size_a, size_b) in enumerate(result.pairs):
        values[i] = s = score(shared, size_a, size_b)
        if s < settings.threshold:
            continue
        flagged += 1
        common = np.setdiff1d(np.intersect1d(uniques[a], uniques[b]), result.common)
        (unit_a, prints_a), (unit_b, prints_b) = members[a], members[b]
        analysis.flagged.append(Pair(part, kind, name, a, b, s, shared, size_a, size_b,
                                     tuple(merged_spans(prints_a.spans[np.isin(prints_a.hashes, common)])),
                                     tuple(merged_spans(prints_b.spans[np.isin(prints_b.hashes, common)]))))
        analysis.texts[(part, name, a)] = unit_a.text
        analysis.texts[(part, name, b)] = unit_b.text
    scores[kind].append(values)
    analysis.compared.append(Compared(part, kind, name, result.sizes, result.scored, flagged))
