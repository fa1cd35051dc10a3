"""A second homework, graded through its folder by the same commands with no engine change.

``homeworks/warmup`` (two notebooks: three numpy functions; one sympy checkpoint and one written
answer; a rubric of 10 points in groups code 6 + math 4) is graded with ``hw4 --homework DIR grade``
once per session (the reference, the blank notebooks, and a student with one bug per item); then
its feedback, gradebook, similarity report, grading page and student bundle are read.
"""
from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import sympy

from graders import homework
from helpers import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
WARMUP = ROOT / "homeworks" / "warmup"
REF, BLANK, BUGGY = "401000001_Reference", "401000002_Blank", "401000003_Buggy"
#: one realistic mistake per function or answer, each costing its own item only
BUGS = {
    "warmup": [("z = np.asarray(logits, dtype=np.float64) / temperature", "z = np.asarray(logits, dtype=np.float64)"),
               ("np.log(p[keep] / q[keep])", "np.log(q[keep] / p[keep])")],
    "derivation": [("sp.diff(sp.log(1 / (1 + sp.exp(-x))), x)", "1 / (1 + sp.exp(-x))")],
}


def _hw4(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "graders.cli", "--homework", str(WARMUP), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=1800, env=env)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc


def _buggy(part: str) -> str:
    nb = nbformat.read(WARMUP / "reference" / "solutions" / f"{part}.ipynb", as_version=4)
    for old, new in BUGS[part]:
        cell = next(c for c in nb.cells if old in c.source)
        cell.source = cell.source.replace(old, new)
    return nbformat.writes(nb)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("warmup")
    for sub, folder in ((REF, WARMUP / "reference" / "solutions"), (BLANK, WARMUP / "assignments")):
        shutil.copytree(folder, root / "class" / sub)
    (root / "class" / BUGGY).mkdir()
    for part in BUGS:
        (root / "class" / BUGGY / f"{part}.ipynb").write_text(_buggy(part), encoding="utf-8")
    secret = root / "course.secret"
    secret.write_text(TEST_SECRET + "\n", encoding="utf-8")
    secret.chmod(0o600)
    out = root / "out"
    proc = _hw4("grade", str(root / "class"), "--out", str(out), "--secret-file", str(secret), "--jobs", "2")
    results = {sub: json.loads((out / sub / "result.json").read_text()) for sub in (REF, BLANK, BUGGY)}
    return out, proc, results


def _items(result: dict) -> dict[str, float]:
    return {it["id"]: it["score"] for it in result["items"]}


def test_the_spec_names_the_homework_and_hw4_keeps_its_own():
    warmup, hw4 = homework.load(WARMUP), homework.load(ROOT)
    assert (warmup.name, warmup.parts, warmup.metadata_key) == ("Warm-up", ("warmup", "derivation"), "warmup")
    assert warmup.package is None and warmup.checks == WARMUP / "checks"
    assert (hw4.name, hw4.parts, hw4.metadata_key) == ("HW4", ("theory", "part1", "part2", "part3", "part4"), "hw4")


def test_the_reference_scores_every_automatic_point_the_blank_none_and_each_bug_its_own_item(graded):
    _, proc, results = graded
    assert _items(results[REF]) == {"warmup.softmax": 3, "warmup.entropy": 1.5, "warmup.kl": 1.5,
                                    "derivation.dlogsigmoid": 2, "derivation.written": 0}
    assert (results[REF]["total"], results[REF]["max"], results[REF]["manual_pending"]) == (8, 10, 2)
    assert results[BLANK]["total"] == 0 and results[BLANK]["manual_pending"] == 2
    assert _items(results[BUGGY]) == {"warmup.softmax": 0, "warmup.entropy": 1.5, "warmup.kl": 0,
                                      "derivation.dlogsigmoid": 0, "derivation.written": 0}
    assert not any(r["incomplete"] for r in results.values())
    assert [ln.split() for ln in proc.stdout.splitlines()][1] == [REF, "6", "2", "8/10", "2"]


def test_the_feedback_and_gradebook_speak_of_the_warmup(graded):
    out, _, _ = graded
    feedback = (out / BUGGY / "feedback.md").read_text()
    assert feedback.startswith("# Warm-up feedback") and "HW4" not in feedback
    assert "softmax(logits / temperature)" in feedback
    header = (out / "grades.csv").read_text().splitlines()[0]
    assert "warmup" in header and "derivation" in header and "part1" not in header


def test_the_similarity_report_compares_the_warmup_notebooks(graded):
    """Without --homework: a command on a graded batch works on the homework it was graded as."""
    out, _, _ = graded
    env = {k: v for k, v in os.environ.items() if k != "HW4_HOMEWORK"}
    proc = subprocess.run([sys.executable, "-m", "graders.cli", "similarity", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (out / "similarity" / "index.html").read_text()
    assert "<h1>Warm-up similarity report</h1>" in page and "softmax" in page


def test_the_grading_page_shows_the_warmups_question_and_reference_answer(graded):
    from graders.manual.web import create_app

    out, _, _ = graded
    homework.use(WARMUP)
    try:
        app = create_app(out, grader="TA", token="t0k3n", port=5005)
        client = app.test_client()
        base = "http://127.0.0.1:5005"
        assert client.get("/?token=t0k3n", base_url=base).status_code == 302
        item = client.get("/item/derivation.written", base_url=base).get_data(as_text=True)
        page = client.get(f"/answer?item=derivation.written&sub={BUGGY}", base_url=base).get_data(as_text=True)
    finally:
        homework.use(None)
    assert BUGGY in item and REF in item and "Warm-up written answers" in item and "HW4" not in item
    assert "Why does sampling at a temperature close to 0" in page
    assert "the largest logit dominates" in page  # the reference answer, from the solved notebook


def test_the_student_bundle_self_checks_the_warmup_without_its_reference(graded, tmp_path):
    bundle = tmp_path / "bundle"
    _hw4("release", str(bundle))
    assert not (bundle / "reference").exists() and (bundle / "checks" / "warmup.py").is_file()
    env = {k: v for k, v in os.environ.items() if k not in ("HW4_SECRET", "HW4_HOMEWORK")}
    env["PYTHONPATH"] = str(bundle)
    proc = subprocess.run([sys.executable, "-m", "graders.cli", "check",
                           str(WARMUP / "reference" / "solutions" / "warmup.ipynb"), "--out", str(tmp_path / "chk")],
                          cwd=bundle, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warmup.ipynb (warmup): 6 / 6 from the public checks" in proc.stdout
    spec = (bundle / "homework.yaml").read_text()
    assert "reference" in spec and "authoring" not in spec
    recorded = json.loads((bundle / "graders" / "public_expected" / "MANIFEST.json").read_text())
    assert recorded == {"public_checks": {"warmup": 3, "derivation": 0}}  # the checkpoint's answer stays hidden


def test_a_folder_without_a_spec_is_refused_with_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "graders.cli", "--homework", str(tmp_path), "grade", str(tmp_path),
                           "--out", str(tmp_path / "out"), "--public-only"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and f"{tmp_path} is not a homework folder: it has no homework.yaml" in proc.stderr


@pytest.mark.parametrize("spec, said", [
    ("name: X\ntitle: X\nmetadata_key: x\nchecks: checks\n", "'parts' must list distinct part names"),
    ("name: X\ntitle: X\nmetadata_key: x y\nchecks: checks\nparts: [a]\n", "'metadata_key' must be a name"),
    ("name: X\ntitle: X\nmetadata_key: x\nchecks: checks\nparts: [a, a]\n", "'parts' must list distinct part names"),
    ("- just a list\n", "expected a mapping"),
    ("name: [\n", "cannot be read"),
])
def test_a_malformed_spec_is_refused_by_what_is_wrong(tmp_path, spec, said):
    (tmp_path / "homework.yaml").write_text(spec, encoding="utf-8")
    with pytest.raises(homework.HomeworkError, match=re.escape(said)):
        homework.load(tmp_path)


def test_a_part_without_its_module_of_checks_is_named(tmp_path):
    (tmp_path / "homework.yaml").write_text("name: T\ntitle: T\nmetadata_key: t\nparts: [one]\nchecks: checks\n",
                                            encoding="utf-8")
    with pytest.raises(homework.HomeworkError, match=re.escape(f"{tmp_path / 'checks' / 'one.py'} does not exist")):
        homework.load(tmp_path).part_specs()


def test_a_judge_defined_in_a_homeworks_checks_folder_runs_in_the_checker_process(tmp_path):
    """The checker cannot import a homework folder's modules by name: their judges travel by value."""
    from graders.checks.isolated import run_isolated

    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "only.py").write_text(
        "import sympy as sp\n\n\ndef judge(values):\n    return sp.simplify(values[0] - 2) == 0, 'not two'\n",
        encoding="utf-8")
    (tmp_path / "homework.yaml").write_text("name: T\ntitle: T\nmetadata_key: t\nparts: [only]\nchecks: checks\n",
                                            encoding="utf-8")
    module = homework.load(tmp_path).part_module("only")
    assert run_isolated(module.judge, [sympy.Integer(2)], timeout=60) == (True, "not two")
    assert run_isolated(module.judge, [sympy.Integer(3)], timeout=60) == (False, "not two")
