"""rubric.yaml: items → checks → points. Loaded, validated, and used to score.

The loader refuses a rubric whose points do not add up (each group of parts equal to the points
its ``groups`` section gives it — HW4's theory 35 + practical 65 —, each part equal to the sum of
its items) or that names an unknown check, with a message naming the culprit. Scoring: an auto item earns ``points × (weight of passed checks) / (weight of its
checks)``; a manual item is pending until a TA's score is entered (that score then counts).

A manual item may list its ``questions`` (``{id, title, points}`` each, adding up to the item's
points) so that a TA grades a multi-question written answer question by question; an item that
lists none is one implicit question (``questions_of``). Questions only split a TA's score: they
are left out of ``Rubric.raw``, so declaring or editing them forces no regrade.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import yaml

from graders.homework import active as active_homework
from graders.results import CheckResult, ItemResult



class RubricError(ValueError):
    """rubric.yaml is malformed or inconsistent."""


@dataclass(frozen=True)
class Limits:
    """Resource limits for running a student notebook (defaults used when rubric.yaml is silent)."""

    cell_timeout: float = 120.0
    notebook_timeout: float = 900.0
    probe_timeout: float = 120.0
    output_chars: int = 20_000
    memory_mb: int = 4096
    processes: int = 512
    file_size_mb: int = 512
    restarts: int = 1
    #: wall-clock seconds for a whole submission (every notebook's cells and the checks' calls)
    submission_timeout: float = 1800.0
    #: size of a sandboxed kernel's writable working folder (a tmpfs), in MB
    disk_mb: int = 256
    #: seconds a grading worker may run past a submission's budget (scoring, recording, shutting its
    #: kernels down) before it is killed from outside and the submission recorded as stopped
    stop_grace: float = 120.0


@dataclass(frozen=True)
class Question:
    """One question of a manual item, graded on its own (its points are part of the item's)."""

    id: str
    title: str
    points: float


@dataclass(frozen=True)
class Item:
    id: str
    part: str
    title: str
    points: float
    checks: Mapping[str, float] = field(default_factory=dict)
    manual: bool = False
    #: the questions a manual item declares (empty when it declares none: see ``questions_of``)
    questions: tuple[Question, ...] = ()


def questions_of(item: Item) -> tuple[Question, ...]:
    """The questions a TA grades for ``item``: the declared ones, or the whole item as one question."""
    return item.questions or (Question("answer", item.title, item.points),)


@dataclass(frozen=True)
class Part:
    name: str
    group: str
    points: float
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Rubric:
    title: str
    parts: Mapping[str, Part]
    limits: Limits
    sha256: str
    #: the YAML as read, without the manual items' ``questions`` (they do not change how a notebook
    #: is scored, and ``graders.pipeline.grading_rubric_hash`` hashes this to decide on a regrade)
    raw: Mapping = field(default_factory=dict)

    @property
    def items(self) -> list[Item]:
        return [it for p in self.parts.values() for it in p.items]

    @property
    def total(self) -> float:
        return sum(p.points for p in self.parts.values())

    def check_ids(self) -> set[str]:
        return {c for it in self.items for c in it.checks}

    def validate_checks(self, known: Iterable[str]) -> None:
        """Refuse a rubric that names a check no part defines."""
        known = set(known)
        for it in self.items:
            for cid in it.checks:
                if cid not in known:
                    raise RubricError(f"item {it.id!r} names check {cid!r}, which no grader defines")


def load_rubric(path: Path | str | None = None) -> Rubric:
    """The rubric at ``path`` (None: the active homework's), validated."""
    path = Path(path) if path is not None else active_homework().rubric
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RubricError(f"cannot read rubric {path}: {exc}") from None
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise RubricError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("parts"), dict):
        raise RubricError(f"{path}: expected a mapping with a 'parts' section")
    limits_raw = raw.get("limits") or {}
    unknown = set(limits_raw) - set(Limits.__dataclass_fields__)
    if unknown:
        raise RubricError(f"{path}: unknown limit(s) {sorted(unknown)}")
    limits = Limits(**limits_raw)
    expected_groups = _groups(raw.get("groups"), path)
    parts: dict[str, Part] = {}
    seen_items: set[str] = set()
    groups: dict[str, float] = {}
    for name, p in raw["parts"].items():
        if not isinstance(p, dict):
            raise RubricError(f"part {name!r}: expected a mapping")
        group = p.get("group")
        if group not in expected_groups:
            raise RubricError(f"part {name!r}: group must be one of {sorted(expected_groups)}, got {group!r}")
        points = _number(p.get("points"), f"part {name!r} points")
        items = []
        for it in p.get("items") or []:
            item = _item(name, it)
            if item.id in seen_items:
                raise RubricError(f"item id {item.id!r} appears twice")
            seen_items.add(item.id)
            items.append(item)
        item_sum = sum(i.points for i in items)
        if abs(item_sum - points) > 1e-9:
            raise RubricError(f"part {name!r} is worth {points:g} points but its items add up to {item_sum:g}")
        parts[name] = Part(name, group, points, tuple(items))
        groups[group] = groups.get(group, 0.0) + points
    for group, expected in expected_groups.items():
        if abs(groups.get(group, 0.0) - expected) > 1e-9:
            raise RubricError(f"the {group} parts add up to {groups.get(group, 0.0):g} points, expected {expected:g}")
    return Rubric(str(raw.get("title", "")), parts, limits, hashlib.sha256(data).hexdigest(), _without_questions(raw))


def _without_questions(raw: dict) -> dict:
    """``raw`` with no item's ``questions``: a copy, so that the hash of what is scored ignores them."""
    raw = copy.deepcopy(raw)
    for part in raw["parts"].values():
        for it in part.get("items") or []:
            if isinstance(it, dict):
                it.pop("questions", None)
    return raw


def _groups(raw, path) -> dict[str, float]:
    """The rubric's ``groups``: group name → the points its parts must add up to."""
    if not isinstance(raw, dict) or not raw:
        raise RubricError(f"{path}: expected a 'groups' section (group name: points), e.g. {{code: 60, written: 40}}")
    return {str(g): _number(v, f"group {g!r} points") for g, v in raw.items()}


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
        raise RubricError(f"{what} must be a non-negative number, got {v!r}")
    return float(v)


def _item(part: str, it) -> Item:
    if not isinstance(it, dict) or not isinstance(it.get("id"), str):
        raise RubricError(f"part {part!r}: every item needs an 'id'")
    iid = it["id"]
    points = _number(it.get("points"), f"item {iid!r} points")
    manual = bool(it.get("manual", False))
    checks_raw = it.get("checks") or {}
    if isinstance(checks_raw, list):
        checks_raw = {c: 1 for c in checks_raw}
    if not isinstance(checks_raw, dict):
        raise RubricError(f"item {iid!r}: checks must be a mapping of check id → weight")
    checks = {str(c): _number(w, f"item {iid!r} weight of {c!r}") for c, w in checks_raw.items()}
    if any(w == 0 for w in checks.values()):
        raise RubricError(f"item {iid!r}: check weights must be positive")
    if manual and checks:
        raise RubricError(f"item {iid!r} is manual and cannot also have checks")
    questions = _questions(iid, points, manual, it.get("questions"))
    return Item(iid, part, str(it.get("title", iid)), points, checks, manual, questions)


_QUESTION_ID = re.compile(r"[a-z0-9_]+")


def _questions(iid: str, points: float, manual: bool, raw) -> tuple[Question, ...]:
    """An item's declared questions, validated (a TA's score is split by them, so they must add up)."""
    if raw is None:
        return ()
    if not manual:
        raise RubricError(f"item {iid!r} lists questions but is not manual: only a TA's score is split by question")
    if not isinstance(raw, list) or not raw:
        raise RubricError(f"item {iid!r}: questions must be a non-empty list of {{id, title, points}}")
    questions: list[Question] = []
    for q in raw:
        qid = q.get("id") if isinstance(q, dict) else None
        if not isinstance(qid, str) or not _QUESTION_ID.fullmatch(qid):
            raise RubricError(f"item {iid!r}: question id {qid!r} must be lower-case letters, digits and '_'")
        if any(other.id == qid for other in questions):
            raise RubricError(f"item {iid!r}: question id {qid!r} appears twice")
        qpoints = _number(q.get("points"), f"item {iid!r} question {qid!r} points")
        if qpoints <= 0:
            raise RubricError(f"item {iid!r} question {qid!r} points must be positive, got {qpoints:g}")
        questions.append(Question(qid, str(q.get("title", qid)), qpoints))
    total = sum(q.points for q in questions)
    if abs(total - points) > 1e-9:
        raise RubricError(f"item {iid!r} is worth {points:g} points but its questions add up to {total:g}")
    return tuple(questions)


def score_item(item: Item, results: Mapping[str, CheckResult], *, public_only: bool = False,
               manual_score: float | None = None, reason: str = "") -> ItemResult:
    """Score one item from its checks' results (missing results count as errors)."""
    if item.manual:
        if manual_score is not None:
            return ItemResult(item.id, item.part, item.title, float(manual_score), item.points, "manual", manual=True)
        return ItemResult(item.id, item.part, item.title, 0.0, item.points, "manual-pending", manual=True)
    checks = []
    for cid, weight in item.checks.items():
        r = results.get(cid)
        if r is None and public_only:
            continue  # a public-only run builds only public checks: a missing one is hidden
        if r is None:
            r = CheckResult(cid, False, "error", reason or "this check did not run", weight=weight)
        else:
            r = dataclasses.replace(r, weight=weight)
        if public_only and not r.public:
            continue
        checks.append(r)
    if not item.checks:
        return ItemResult(item.id, item.part, item.title, 0.0, item.points, "error", checks=(),
                          reason="no automatic checks exist for this item yet")
    if not checks:  # public-only run and the item has only hidden checks
        return ItemResult(item.id, item.part, item.title, 0.0, item.points, "error", checks=(),
                          reason="graded by hidden checks only")
    total_w = sum(c.weight for c in checks)
    got_w = sum(c.weight for c in checks if c.passed)
    score = round(item.points * got_w / total_w, 6) if total_w else 0.0
    if got_w == total_w:
        status = "passed"
    elif got_w > 0:
        status = "partial"
    elif all(c.status == "error" for c in checks):
        status = "error"
    else:
        status = "failed"
    return ItemResult(item.id, item.part, item.title, score, item.points, status, checks=tuple(checks), reason=reason)
