"""The student bundle: nothing leaks, and its graders run without reference/.

The fast tests self-check one part inside the bundle (a subprocess whose ``graders`` is the
bundle's copy); the slow test installs the bundle into a fresh virtual environment, as a
student would, and self-checks every part.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from graders.release import build_bundle, find_leaks
from tools.build_notebooks import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[2]
SECRET = "73918274651"
FAST_PART = "part4"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "hw4-student"
    old = os.environ.get("HW4_SECRET")
    os.environ["HW4_SECRET"] = SECRET  # a TA's shell may have it set: it must not end up in the bundle
    try:
        build_bundle(out)
    finally:
        if old is None:
            os.environ.pop("HW4_SECRET")
        else:
            os.environ["HW4_SECRET"] = old
    return out


def test_nothing_leaks(bundle):
    assert not (bundle / "reference").exists()
    assert not (bundle / "examples").exists() and not (bundle / "authoring").exists()
    assert find_leaks(bundle) == []
    for path in bundle.rglob("*"):
        if path.is_file() and path.stat().st_size < 5 * 2**20:
            assert SECRET not in path.read_text(errors="replace"), path


def test_leak_scan_catches_a_solved_notebook(bundle, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(bundle / "assignments", copy / "assignments", ignore=shutil.ignore_patterns("models", "data"))
    shutil.copy2(ROOT / "reference" / "solutions" / NOTEBOOKS[FAST_PART], copy / "assignments" / "solved.ipynb")
    assert any("solved.ipynb: contains the body of" in leak for leak in find_leaks(copy))


def test_bundle_notebooks_are_the_blank_assignments(bundle):
    for name in NOTEBOOKS.values():
        assert (bundle / "assignments" / name).read_bytes() == (ROOT / "assignments" / name).read_bytes()


def _self_check(python: str, cwd: Path, notebook: Path, out: Path, env: dict | None = None) -> dict:
    proc = subprocess.run([python, "-m", "graders.cli", "check", str(notebook), "--out", str(out),
                           "--junit", str(out / "junit.xml")],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "public checks only, written answers not included" in proc.stdout
    (result_file,) = out.glob("*/result.json")
    return json.loads(result_file.read_text())


def _bundle_env(bundle: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "HW4_SECRET"}
    env["PYTHONPATH"] = str(bundle)  # the bundle's own graders, ahead of the repo's editable install
    return env


def test_graders_in_the_bundle_are_the_bundles_own(bundle):
    out = subprocess.run([sys.executable, "-c", "import graders, graders.homework as h; "
                          "print(graders.__file__); print(h.active().has_reference())"],
                         cwd=bundle, env=_bundle_env(bundle), capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [str(bundle / "graders" / "__init__.py"), "False"]


def _public_max(result: dict) -> float:
    return sum(i["max"] for i in result["items"] if not i["manual"] and i["checks"])


def test_self_check_in_the_bundle_blank_zero_reference_full(bundle, tmp_path):
    env = _bundle_env(bundle)
    blank = _self_check(sys.executable, bundle, bundle / "assignments" / NOTEBOOKS[FAST_PART], tmp_path / "blank", env)
    assert blank["public_only"] and blank["total"] == 0
    solved = tmp_path / "mine" / NOTEBOOKS[FAST_PART]
    solved.parent.mkdir()
    shutil.copy2(ROOT / "reference" / "solutions" / NOTEBOOKS[FAST_PART], solved)
    ref = _self_check(sys.executable, bundle, solved, tmp_path / "ref", env)
    assert _public_max(ref) > 0
    assert ref["total"] == pytest.approx(_public_max(ref)), [
        (i["id"], c["reason"]) for i in ref["items"] for c in i["checks"] if not c["passed"]]


def test_a_thief_of_the_reference_earns_nothing_in_the_bundle(bundle, tmp_path):
    """No reference, so no rerun with its helpers: each thief (tests/thieves.py) earns what its stub earns."""
    from helpers import plan_for
    from thieves import thief_checks, thief_notebook

    mine = tmp_path / "mine" / NOTEBOOKS[FAST_PART]
    mine.parent.mkdir()
    shutil.copy2(thief_notebook(FAST_PART), mine)
    result = _self_check(sys.executable, bundle, mine, tmp_path / "thief", _bundle_env(bundle))
    checks = {c["id"]: c for i in result["items"] for c in i["checks"]}
    public = {i for i in thief_checks(plan_for(FAST_PART, public_only=True), FAST_PART)}
    assert public and public <= set(checks)
    assert not [(i, checks[i]["reason"]) for i in public if checks[i]["passed"]]


@pytest.mark.slow
def test_fresh_venv_install_and_self_check_every_part(bundle, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = str(env_dir / "bin" / "python")
    pip = [py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["torch==2.13.0"], check=True, timeout=1200)
    subprocess.run(pip + ["-e", str(bundle)], check=True, timeout=1200)
    env = {k: v for k, v in os.environ.items() if k not in ("HW4_SECRET", "PYTHONPATH")}
    for part, name in NOTEBOOKS.items():
        blank = _self_check(py, tmp_path, bundle / "assignments" / name, tmp_path / f"blank-{part}", env)
        assert blank["total"] == 0, part
        solved = tmp_path / f"mine-{part}" / name
        solved.parent.mkdir()
        shutil.copy2(ROOT / "reference" / "solutions" / name, solved)
        ref = _self_check(py, tmp_path, solved, tmp_path / f"ref-{part}", env)
        assert ref["total"] == pytest.approx(_public_max(ref)), part
