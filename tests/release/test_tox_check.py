"""`tox -e check -- NOTEBOOK` works in this repository as in the student bundle (README, "Students").

The package finds rubric.yaml and assignments/ beside its own folder (``graders.ROOT``), so only an
editable install finds them: a tox env that installs a copy into site-packages looked for
``site-packages/rubric.yaml``. The fast tests read both tox.ini files and ask the installed package
where its resources are; the slow one runs the repository's tox env in a fresh copy.
"""
from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPO_TOX = ROOT / "tox.ini"
BUNDLE_TOX = ROOT / "graders" / "bundle" / "tox.ini"
NOTEBOOK = "assignments/part4_advanced_decoding.ipynb"


def _ini(path: Path) -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(path, encoding="utf-8")
    return ini


def _check_env(path: Path) -> dict[str, str]:
    """The check env's settings, with tox's fallback from [testenv] to [testenv:check]."""
    ini = _ini(path)
    settings = dict(ini["testenv"]) if ini.has_section("testenv") else {}
    settings.update(ini["testenv:check"])
    return {k: " ".join(v.split()) for k, v in settings.items()}


@pytest.mark.parametrize("path", [REPO_TOX, BUNDLE_TOX], ids=["repository", "bundle"])
def test_check_env_installs_editable_and_runs_hw4_check(path):
    env = _check_env(path)
    assert env.get("usedevelop", "").lower() == "true", "a non-editable install cannot find rubric.yaml"
    assert env["commands"] == "hw4 check {posargs}"
    assert env["deps"] == "-r requirements.txt"
    assert "HF_HUB_OFFLINE = 1" in env["setenv"] and "TRANSFORMERS_OFFLINE = 1" in env["setenv"]


@pytest.mark.parametrize("path", [REPO_TOX, BUNDLE_TOX], ids=["repository", "bundle"])
def test_tox_writes_no_venv_redirect_file(path):
    """tox 4.6x writes a `.venv` *file* (PEP 832) where tools/setup.sh wants the .venv folder."""
    assert _ini(path)["tox"].get("venv_redirect", "").lower() == "false"


@pytest.mark.parametrize("path", ["hw4-check/part4_advanced_decoding/result.json", ".venv", ".venv/bin/python"])
def test_what_the_self_check_and_setup_leave_is_ignored_by_git(path):
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT)
    if proc.returncode == 128:
        pytest.skip("not a git checkout")
    assert proc.returncode == 0, f"{path} is not ignored"


def test_installed_package_finds_its_rubric_and_assets(tmp_path):
    """Imported from outside the repository (so not the cwd's copy), as `hw4` in a tox env is."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import json, graders, graders.assets as a, graders.homework as h; "
            "print(json.dumps([graders.__file__, str(h.active().rubric), str(a.models_dir()), str(a.data_dir())]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout
    package, rubric, models, data = map(Path, json.loads(out))
    assert "site-packages" not in package.parts, f"{package}: installed as a copy, not editable"
    assert Path(rubric).is_file() and (models / "tiny-lm" / "config.json").is_file() and data.is_dir()
    r = subprocess.run([sys.executable, "-c", "import graders.rubric as r; r.load_rubric()"], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def _fresh_copy(dest: Path) -> Path:
    """The repository's tracked files as they are now, committed in a new git repository (a fresh clone)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(git + args, cwd=dest, check=True)
    return dest


@pytest.mark.slow
def test_tox_check_in_a_fresh_copy_of_the_repository(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout")
    repo = _fresh_copy(tmp_path / "hw4")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HW4_SECRET", "VIRTUAL_ENV")}
    proc = subprocess.run([sys.executable, "-m", "tox", "-e", "check", "--", NOTEBOOK], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "public checks only, written answers not included" in proc.stdout
    (result,) = (repo / "hw4-check").glob("*/result.json")
    assert json.loads(result.read_text())["public_only"]
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the self-check left files git does not ignore:\n{status}"
