"""Round 2 of hostile submissions graded as a TA grades a class (``round2_class``): ``hw4 grade --jobs 2``.

What must hold: the class exits 0 with no incomplete result and no grader error; each attack costs
only its own checks, with a reason; no feedback file holds a hidden input; the notebook whose
``get_log_prob`` hangs every fresh kernel keeps the points of its other functions; ``hw4
similarity`` ends; the two different mathematical answers sit in different answer groups; and the
bystander's result equals, field by field, its result graded alone.

Slow (a class of 15 notebooks, one of which hangs a kernel): run with ``-m slow``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graders.homework import assets_dir
from graders.secret import new_secret

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]
from round2_class import BYSTANDER, PARTS, Watch, symbolic_student, write_class  # noqa: E402
from round2_symbolic import ATTACKS  # noqa: E402

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (assets_dir() / "models" / "MANIFEST.json").exists(),
                                 reason="the shipped models are not built yet")]
ROOT = HERE.parents[1]


def _hw4(*args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HW4_SECRET"}
    return subprocess.run([sys.executable, "-m", "graders.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _results(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}


def _checks(result: dict) -> dict[str, dict]:
    """The checks of the parts the submission handed in (the others say "no notebook … was submitted")."""
    return {c["id"]: c for item in result["items"] for c in item["checks"]
            if result["parts"].get(item["part"], {}).get("notebook")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("round2")
    secret = base / "course.secret"
    secret.write_text(new_secret() + "\n")
    secret.chmod(0o600)
    write_class(base / "class")
    env = {k: v for k, v in os.environ.items() if k != "HW4_SECRET"}
    with subprocess.Popen([sys.executable, "-m", "graders.cli", "grade", str(base / "class"), "--out",
                           str(base / "out"), "--secret-file", str(secret), "--jobs", "2", "--parts", ",".join(PARTS)],
                          cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as popen:
        watch = Watch(popen.pid)
        out, err = popen.communicate(timeout=3600)
        watch.stop()
    proc = subprocess.CompletedProcess(popen.args, popen.returncode, out, err)
    proc.watch = watch
    alone = base / "alone"
    shutil.copytree(base / "class" / BYSTANDER, alone / BYSTANDER)
    proc_alone = _hw4("grade", str(alone), "--out", str(base / "alone-out"), "--secret-file", str(secret),
                      "--parts", ",".join(PARTS), cwd=base, timeout=3600)
    return base, proc, proc_alone


def test_the_class_ends_cleanly(graded):
    base, proc, _ = graded
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = _results(base / "out")
    assert len(results) == len(list((base / "class").iterdir()))
    assert not [sid for sid, r in results.items() if r["incomplete"]]
    assert not [(sid, c["id"]) for sid, r in results.items() for c in _checks(r).values() if c["grader_error"]]


def test_each_symbolic_attack_costs_only_its_own_checks(graded):
    base, _, _ = graded
    results = _results(base / "out")
    for name, attack in ATTACKS.items():
        checks = _checks(results[symbolic_student(name)])
        failed = {cid for cid, c in checks.items() if not c["passed"]}
        assert failed == set(attack.fails), (name, failed)
        for cid, pattern in attack.fails.items():
            assert re.search(pattern, checks[cid]["reason"]), (name, checks[cid]["reason"])


def test_no_feedback_holds_a_hidden_input(graded):
    base, _, _ = graded
    shown = "".join(p.read_text(errors="replace") for p in (base / "out").glob("*/feedback.*"))
    echo = _checks(_results(base / "out")["90000212_BacktickEcho"])
    leaked = re.findall(r"HIDDEN prompt=([^`]*) k=", "".join(c["detail"] for c in echo.values() if not c["public"]))
    assert leaked, "the TA's detail should still show what the notebook returned"
    assert not [text for text in leaked if text in shown]


def test_a_function_that_hangs_every_kernel_costs_only_its_own_checks(graded):
    base, _, _ = graded
    checks = _checks(_results(base / "out")["90000213_HangsEveryKernel"])
    own = {cid for cid in checks if cid.startswith("part4.get_log_prob")}
    assert own and not [cid for cid in own if checks[cid]["passed"]]
    assert any("hung in an earlier check" in checks[cid]["reason"] for cid in own), [checks[c]["reason"] for c in own]
    others = {cid: c["reason"] for cid, c in checks.items() if cid not in own and not c["passed"]}
    assert others == {}


def test_nothing_was_written_in_the_run_folders(graded):
    base, proc, _ = graded
    assert proc.watch.run_folder_peak < 2**20, proc.watch.run_folder_peak  # a connection file, sockets
    assert not [c for c in _checks(_results(base / "out")["90000211_FillsRunFolder"]).values() if not c["passed"]]


def test_the_grading_workers_stay_under_2_gb(graded):
    _, proc, _ = graded
    assert 0 < proc.watch.worker_peak_kb < 2 * 2**20, proc.watch.worker_peak_kb


def test_similarity_ends_and_compares_the_attacked_function(graded):
    base, _, _ = graded
    proc = _hw4("similarity", str(base / "out"), cwd=base, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (base / "out" / "similarity" / "index.html").is_file()


def test_different_mathematics_is_not_one_answer_group(graded):
    from graders.manual.answers import AnswerStore, group_answers

    base, _, _ = graded
    store = AnswerStore(base / "out")
    manifest = json.loads((base / "out" / "intake.json").read_text())["submissions"]
    answers = [store.answer({"submission_id": sid, "student_id": "", "name": "", "item_id": "theory.q1f.written",
                             "part": "theory"}, entry["notebooks"]["theory"])
               for sid, entry in manifest.items() if "theory" in entry.get("notebooks", {})]
    group_of = {a.submission_id: g.key for g in group_answers(answers) for a in g.answers}
    assert group_of["402000003_SlopePositive"] != group_of["402000004_SlopeZero"]
    assert group_of["402000003_SlopePositive"] == group_of["402000005_SlopePositiveAgain"]


def test_the_bystander_is_graded_as_if_alone(graded):
    base, _, proc_alone = graded
    assert proc_alone.returncode == 0, proc_alone.stderr[-3000:]
    in_class = _results(base / "out")[BYSTANDER]
    alone = _results(base / "alone-out")[BYSTANDER]
    for data in (in_class, alone):
        data.pop("created_at", None)
        for part in data["parts"].values():
            (part.get("execution") or {}).pop("seconds", None)
            for cell in (part.get("execution") or {}).get("cells", []):
                cell.pop("seconds", None)
    assert in_class == alone
