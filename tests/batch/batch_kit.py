"""A tiny homework for batch tests: two parts (alpha, beta), one function and one written answer each.

``make_plan()`` builds a real ``Plan`` (real rubric loader, real checks, real executor) without
the course's parts, so batch behaviour is tested on notebooks that run in about a second.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
import zipfile
from pathlib import Path

import nbformat

from graders.checks import AllClose, Check, Property
from graders.part import PartSpec
from graders.pipeline import Plan
from graders.probe.spec import Probe
from graders.results import CheckResult, ItemResult, PartResult, SubmissionResult, save_submission
from graders.rubric import Limits, load_rubric

HERE = Path(__file__).resolve().parent
RUBRIC = HERE / "fixtures" / "rubric_small.yaml"
LIMITS = Limits(cell_timeout=20, notebook_timeout=60, probe_timeout=20, output_chars=2000)

CHECKS = {
    "alpha": [
        Check("t.double", "alpha", (Probe("d", "double", ([1.0, 2.5],)),), AllClose("d", [2.0, 5.0], kind="list")),
        Check("t.zero", "alpha", (Probe("z", "double", ([0.0],)),), AllClose("z", [0.0], kind="list")),
    ],
    "beta": [
        Check("p1.triple", "beta", (Probe("t", "triple", (2.0,)),), AllClose("t", 6.0)),
    ],
}

PARTS = {
    "alpha": PartSpec("alpha", "alpha.ipynb", "Alpha", ("double",), (), lambda ctx: CHECKS["alpha"]),
    "beta": PartSpec("beta", "beta_notebook.ipynb", "Beta", ("triple",), (), lambda ctx: CHECKS["beta"]),
}

GOOD = {"alpha": "def double(x):\n    return [2 * v for v in x]", "beta": "def triple(x):\n    return 3 * x"}
BAD = {"alpha": "def double(x):\n    return [v + 2 for v in x]", "beta": "def triple(x):\n    return x + 3"}


def make_plan(parts: tuple[str, ...] = ("alpha", "beta"), salt: str = "") -> Plan:
    """A plan over the small rubric (picklable as a module-level function for Dask workers)."""
    rubric = load_rubric(RUBRIC)
    fp = hashlib.sha256(f"kit|{rubric.sha256}|{sorted(parts)}|{salt}".encode()).hexdigest()
    return Plan(rubric, {p: PARTS[p] for p in parts}, {p: CHECKS[p] if p in parts else [] for p in PARTS},
                False, LIMITS, fp)


# --- a plan whose grader misbehaves on purpose (grader errors, a hung worker) -------------------

#: a student's ``double`` returning this for [0.0] makes the grader's rule raise (a grader bug) …
GRADER_BUG = -7.0
#: … and this makes it hang (a stuck worker, killed from outside)
GRADER_HANG = -9.0


def _trap(value) -> str | None:
    if value == [GRADER_BUG]:
        raise RuntimeError("a bug in the grader")
    if value == [GRADER_HANG]:
        time.sleep(3600)
    return None if value == [0.0] else f"expected [0.0], got {value}"


def marker_student(marker: float) -> dict[str, str]:
    """Codes whose ``double`` returns ``[marker]`` for ``[0.0]`` (and doubles anything else)."""
    return {"alpha": f"def double(x):\n    return [{marker}] if x == [0.0] else [2 * v for v in x]",
            "beta": GOOD["beta"]}


def trap_plan(budget: float = 5.0) -> Plan:
    """``make_plan()`` with check t.zero judged by ``_trap``, a submission budget of ``budget`` s and as
    much grace after it before a stuck worker is killed."""
    plan = make_plan(salt="trap")
    alpha = [CHECKS["alpha"][0], Check("t.zero", "alpha", (Probe("z", "double", ([0.0],)),), Property(["z"], _trap))]
    return dataclasses.replace(plan, checks={**plan.checks, "alpha": alpha},
                               limits=dataclasses.replace(LIMITS, submission_timeout=budget, stop_grace=budget))


def cli_plan(parts: tuple[str, ...] = ("alpha", "beta")):
    """A stand-in for ``graders.cli.prepare`` (picklable, so spawned grading workers can call it)."""
    return functools.partial(_prepare_kit, parts)


def _prepare_kit(kit_parts: tuple[str, ...], **_options) -> Plan:
    return make_plan(kit_parts)


def notebook(part: str, code: str, *, answer: str | None = "My answer.", meta: bool = True) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {part}"), nbformat.v4.new_code_cell(code)]
    if answer is not None:
        nb.cells.append(nbformat.v4.new_markdown_cell(answer, metadata={"hw4": {"answer": f"{part}.written"}}))
    if meta:
        nb.metadata["hw4"] = {"part": part, "format": 1}
    return nbformat.writes(nb)


def student_folder(root: Path, sub_id: str, codes: dict[str, str], **kw) -> Path:
    folder = root / sub_id
    folder.mkdir(parents=True, exist_ok=True)
    for part, code in codes.items():
        (folder / PARTS[part].notebook).write_text(notebook(part, code, **kw), encoding="utf-8")
    return folder


def student_zip(root: Path, sub_id: str, codes: dict[str, str], *, inner: str = "") -> Path:
    path = root / f"{sub_id}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for part, code in codes.items():
            zf.writestr(f"{inner}{PARTS[part].notebook}", notebook(part, code))
    return path


# --- synthetic results (no kernels): for gradebook and report tests ---------------------------

ITEMS = [  # (id, part, title, max, manual, checks)
    ("alpha.auto", "alpha", "double()", 30.0, False, (("t.double", 2.0), ("t.zero", 1.0))),
    ("alpha.written", "alpha", "Explain", 5.0, True, ()),
    ("beta.auto", "beta", "triple()", 60.0, False, (("p1.triple", 1.0),)),
    ("beta.written", "beta", "Discuss", 5.0, True, ()),
]


def fake_result(sub_id: str, passed: set[str], *, reason: str = "expected 6, got 5") -> SubmissionResult:
    """A result as the pipeline would write it, with the given checks passed."""
    sid, _, name = sub_id.partition("_")
    items = []
    for iid, part, title, mx, manual, checks in ITEMS:
        if manual:
            items.append(ItemResult(iid, part, title, 0.0, mx, "manual-pending", manual=True))
            continue
        crs = tuple(CheckResult(c, c in passed, "passed" if c in passed else "failed",
                                "" if c in passed else reason, weight=w) for c, w in checks)
        got = sum(c.weight for c in crs if c.passed) / sum(c.weight for c in crs)
        status = "passed" if got == 1 else "partial" if got else "failed"
        items.append(ItemResult(iid, part, title, round(mx * got, 6), mx, status, checks=crs))
    parts = {p: PartResult(p, round(sum(i.score for i in items if i.part == p), 6), 35.0 if p == "alpha" else 65.0,
                           notebook=PARTS[p].notebook) for p in ("alpha", "beta")}
    return SubmissionResult(sub_id, sid, name, round(sum(i.score for i in items), 6), 100.0,
                            round(sum(i.score for i in items), 6), 10.0, parts, tuple(items),
                            grader_version="test", rubric_hash="x", input_hash=f"h-{sub_id}", created_at="2024-01-01")


def write_fake_batch(out: Path, students: dict[str, set[str]], *, file_times: dict[str, str] | None = None,
                     notebooks_root: Path | None = None) -> Path:
    """Results + intake.json for ``students`` (submission id → passed checks); returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    subs = {}
    for sub_id, passed in students.items():
        save_submission(out / sub_id / "result.json", fake_result(sub_id, passed))
        nbs = {}
        if notebooks_root is not None:
            folder = student_folder(notebooks_root, sub_id, GOOD, answer=f"Answer of {sub_id}.")
            nbs = {p: str(folder / PARTS[p].notebook) for p in PARTS}
        sid, _, name = sub_id.partition("_")
        subs[sub_id] = {"student_id": sid, "name": name, "source": "", "kind": "folder",
                        "file_time": (file_times or {}).get(sub_id, "2024-01-05T12:00:00+00:00"),
                        "notebooks": nbs, "problems": []}
    (out / "intake.json").write_text(json.dumps({"rubric": str(RUBRIC), "submissions": subs, "rejected": []}))
    return out
