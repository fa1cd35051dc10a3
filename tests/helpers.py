"""Shared test helpers: build small notebooks, derive buggy variants of the reference, grade them.

Grading is memoised per session (same part + same notebook bytes → same result), and each
part's Plan is prepared once, so every fixture notebook is executed once per test session.
"""
from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

import nbformat

from graders.intake import Submission
from graders.pipeline import Plan, grade_submission, prepare
from graders.results import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent
#: the course secret of the test suite (a fixed 256-bit value, so hidden inputs are the same every run)
TEST_SECRET = "9f3c2a71d04be85563a1f0c7e2d94b18a6f5c3e07d21b49f8e6a0c5d3b7f1e29"
_TMP = Path(tempfile.mkdtemp(prefix="hw4-tests-"))


def notebook_from_cells(cells: Iterable[str], *, name: str = "nb.ipynb", part: str | None = None,
                        markdown: Mapping[int, str] | None = None) -> Path:
    """Write a v4 notebook with the given code cells; returns its path (unique per content)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    if part:
        nb.metadata["hw4"] = {"part": part, "format": 1}
    text = nbformat.writes(nb)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = _TMP / digest / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def solved_notebook(part: str) -> Path:
    from tools.build_notebooks import NOTEBOOKS

    return ROOT / "reference" / "solutions" / NOTEBOOKS[part]


def blank_notebook(part: str) -> Path:
    from tools.build_notebooks import NOTEBOOKS

    return ROOT / "assignments" / NOTEBOOKS[part]


def mutant(part: str, replacements: list[tuple[str, str]], *, base: Path | None = None,
           label: str = "mutant") -> Path:
    """The solved notebook of ``part`` with textual replacements applied to its code cells.

    Every ``(old, new)`` must match somewhere (a test must not silently grade the unmodified
    reference); each replaces all its occurrences.
    """
    nb = nbformat.read(base or solved_notebook(part), as_version=4)
    for old, new in replacements:
        hits = 0
        for cell in nb.cells:
            if cell.cell_type == "code" and old in cell.source:
                cell.source = cell.source.replace(old, new)
                hits += 1
        if not hits:
            raise AssertionError(f"{label}: replacement target not found in {part}: {old!r}")
    text = nbformat.writes(nb)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = _TMP / f"{label}-{digest}" / (base or solved_notebook(part)).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def with_cell(part: str, source: str, *, label: str) -> Path:
    """The solved notebook of ``part`` with one more code cell at the end (its definitions win)."""
    nb = nbformat.read(solved_notebook(part), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(source))
    text = nbformat.writes(nb)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = _TMP / f"{label}-{digest}" / solved_notebook(part).name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path



@functools.lru_cache(maxsize=None)
def plan_for(part: str, public_only: bool = False) -> Plan:
    return prepare(parts=[part], secret=None if public_only else TEST_SECRET, public_only=public_only)


_GRADED: dict[tuple, SubmissionResult] = {}


def grade(part: str, path: Path, *, public_only: bool = False) -> SubmissionResult:
    """Grade one notebook as a one-part submission (memoised by content for the session)."""
    key = (part, public_only, hashlib.sha256(Path(path).read_bytes()).hexdigest())
    if key not in _GRADED:
        sub = Submission(id=Path(path).parent.name, student_id="", name=Path(path).parent.name,
                         source=Path(path), notebooks={part: Path(path)}, scope=(part,))
        _GRADED[key] = grade_submission(sub, plan_for(part, public_only))
    return _GRADED[key]


def item_scores(result: SubmissionResult) -> dict[str, float]:
    return {i.id: i.score for i in result.items}


def lost_items(result: SubmissionResult, reference: SubmissionResult) -> set[str]:
    """Items where ``result`` scored below ``reference``."""
    ref = item_scores(reference)
    return {k for k, v in item_scores(result).items() if v < ref.get(k, 0) - 1e-9}


def auto_max(result: SubmissionResult) -> float:
    return sum(i.max for i in result.items if not i.manual)


def failed_checks(result: SubmissionResult) -> set[str]:
    return {c.id for item in result.items for c in item.checks if not c.passed}


def assert_full_auto_marks(result: SubmissionResult, part: str, auto_points: float) -> None:
    """Every automatic item at its max, written items pending, and the notebook ran cleanly."""
    for item in result.items:
        if item.manual:
            assert item.status == "manual-pending", item.id
        else:
            assert item.score == item.max, (item.id, [(c.id, c.reason, c.detail[:300]) for c in item.checks
                                                      if not c.passed])
    assert result.auto_total == auto_max(result) == auto_points
    assert not failed_checks(result)
    summary = result.parts[part].execution
    assert summary.cells_failed == 0 and summary.kernel_died_in_cell is None


def assert_mistakes_cost_their_items(part: str, reference: SubmissionResult, mistakes: dict, *, label: str,
                                     base: Path | None = None) -> SubmissionResult:
    """Grade the solved notebook with every mistake of ``mistakes`` applied at once.

    ``mistakes``: name → (replacements, own items, checks that must fail, carried items). The
    mistakes together cost their own items and no other item; each mistake's listed checks fail,
    which shows that each is caught by its own checks. The *carried* items are those whose checks
    call a wrong function: they keep their points through the rerun with the reference's helper
    (error carried forward), and one of their checks says so. (Grouped to keep the tests' time modest.)
    """
    replacements = [r for spec in mistakes.values() for r in spec[0]]
    result = grade(part, mutant(part, replacements, label=label, base=base))
    expected = set().union(*(set(own) for _, own, _, _ in mistakes.values()))
    assert lost_items(result, reference) == expected, failed_checks(result)
    must_fail = set().union(*(set(checks) for _, _, checks, _ in mistakes.values()))
    assert must_fail <= failed_checks(result), must_fail - failed_checks(result)
    items = {i.id: i for i in result.items}
    for carried in set().union(*(set(c) for _, _, _, c in mistakes.values())) - expected:
        reasons = [c.reason for c in items[carried].checks]
        assert any(r.startswith("scored with the reference") for r in reasons), (carried, reasons)
    return result


def assert_bug_groups(groups: dict[str, list[str]], labels, mistakes_of) -> None:
    """Bugs graded a group at a time (``groups``: group → bug labels; ``mistakes_of(group)`` in the form
    ``assert_mistakes_cost_their_items`` takes): every bug of ``labels`` is in exactly one group, and in
    a group no two bugs own the same item nor does one own an item another's mistake is carried to —
    so each bug is still seen to cost its own item and no other."""
    assert sorted(label for group in groups.values() for label in group) == sorted(labels)
    for group in groups:
        mistakes = mistakes_of(group)
        own = [item for _, items, _, _ in mistakes.values() for item in items]
        carried = set().union(*(c for _, _, _, c in mistakes.values()))
        assert len(own) == len(set(own)) and not carried & set(own), (group, mistakes)


def graded_with(part: str, label: str, groups: dict[str, list[str]], mistakes_of) -> SubmissionResult:
    """The result of the bug group holding ``label`` (the notebook ``assert_mistakes_cost_their_items`` graded)."""
    group = next(g for g, labels in groups.items() if label in labels)
    return grade(part, mutant(part, [r for spec in mistakes_of(group).values() for r in spec[0]], label=group))


def read_outcomes(output_dir: Path, plan: list) -> dict:
    """Every probe's answer, as the probe runtime wrote it into ``output_dir`` (``plan``: the Probes in
    the order they were sent) — for tests that run the runtime outside a kernel; the grader itself
    reads each check's answers against the digests the kernel reports (``graders.probe.driver``)."""
    from graders.probe.transport import read_one

    return {probe.id: read_one(output_dir, n, probe.id, None) for n, probe in enumerate(plan)}
