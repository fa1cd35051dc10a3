"""The pieces of the sandbox and of the locked-cell check, without running a kernel (fast)."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import nbformat
import pytest

from graders import sandbox
from graders.locked import ProvidedCells, locked_id, restore
from graders.probe.transport import parse_digests, snapshot
from graders.rubric import Limits

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_choice(monkeypatch):
    """Forget the per-process sandbox decision for the duration of a test."""
    monkeypatch.setattr(sandbox, "_CHOSEN", {})


def test_without_bubblewrap_kernels_get_rlimits_and_one_clear_warning(fresh_choice, monkeypatch, caplog):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.delenv("HW4_SANDBOX", raising=False)
    with caplog.at_level(logging.WARNING, logger="hw4.sandbox"):
        first = sandbox.current()
        second = sandbox.current()
    assert first is second and first.kind == "rlimits" and not first.isolated
    warnings = [r.getMessage() for r in caplog.records if r.name == "hw4.sandbox"]
    assert len(warnings) == 1
    assert "bubblewrap (bwrap) is not installed" in warnings[0] and "apt-get install bubblewrap" in warnings[0]
    assert "reference solutions" in warnings[0]


def test_insisting_on_bubblewrap_without_it_is_an_error(fresh_choice, monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="HW4_SANDBOX=bwrap, but bubblewrap"):
        sandbox.current("bwrap")


def test_a_bubblewrap_that_fails_its_self_test_is_not_used(fresh_choice, monkeypatch, tmp_path, caplog):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: str(fake))
    with caplog.at_level(logging.WARNING, logger="hw4.sandbox"):
        box = sandbox.current("auto")
    assert box.kind == "rlimits"
    assert "failed its self-test (bwrap: No permissions to creating new namespace)" in box.warning


def test_an_unknown_mode_is_refused(fresh_choice):
    with pytest.raises(sandbox.SandboxUnavailable, match="must be one of auto, bwrap, none"):
        sandbox.current("docker")


def test_kernel_environment_is_an_allow_list(monkeypatch, tmp_path):
    monkeypatch.setenv("HW4_SECRET", "123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "xyz")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    env = sandbox.kernel_env(tmp_path)
    assert not {"HW4_SECRET", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "PYTHONPATH"} & set(env)
    assert env["LC_ALL"] == "C.UTF-8" and env["HOME"] == str(tmp_path) and env["HF_HUB_OFFLINE"] == "1"
    assert env["TMPDIR"].startswith(str(tmp_path))


def _paths(tmp_path, assets=()):
    return sandbox.KernelPaths(workdir=tmp_path / "w", rundir=tmp_path / "r", home=tmp_path / "h",
                               answers=tmp_path / "a", assets=tuple(assets))


def test_the_sandbox_shows_the_venv_but_not_the_repository(tmp_path):
    models = ROOT / "assignments" / "models" / "tiny-lm"
    args = sandbox.bwrap_args("bwrap", paths=_paths(tmp_path, [(models, "models/tiny-lm")]), disk_mb=32)
    binds = [(args[i], args[i + 1], args[i + 2]) for i in range(len(args) - 2) if args[i].endswith("bind")]
    sources = [src for _, src, _ in binds]
    assert str(ROOT) not in sources and str(ROOT / "reference") not in sources
    assert not any(src.startswith(str(ROOT / "reference")) or src.startswith(str(ROOT / "graders"))
                   for src in sources)
    assert os.path.realpath(sys.prefix) in sources or sys.prefix in sources
    # its working folder is a tmpfs of disk_mb, private to it, with its assets bound read-only (not copied)
    at = args.index("--tmpfs", args.index("/tmp") + 1)
    assert args[at + 1] == str(tmp_path / "w") and args[at - 1] == str(32 * 2**20) and "0700" in args[at - 4:at]
    assert ("--ro-bind", str(models), str(tmp_path / "w" / "models" / "tiny-lm")) in binds
    assert ("--bind", str(tmp_path / "w"), str(tmp_path / "w")) not in binds
    assert ("--ro-bind", str(tmp_path / "h"), str(tmp_path / "h")) in binds      # its HOME: read-only
    assert ("--bind", str(tmp_path / "a"), str(tmp_path / "a")) in binds         # the answer area
    assert ("--bind", str(tmp_path / "r"), str(tmp_path / "r")) in binds         # its sockets
    assert "--unshare-net" in args and "--unshare-pid" in args and "--die-with-parent" in args
    assert "/etc/shadow" not in sources
    assert args[args.index("--chdir") + 1] == str(tmp_path / "w")


def test_prefix_guards_the_kernel_and_sets_the_limits(tmp_path):
    limits = Limits(memory_mb=1234, processes=77, file_size_mb=9)
    plain = sandbox.kernel_prefix(limits, cpu_seconds=50)
    assert "--guard" in plain and plain[plain.index("--parent-pid") + 1] == str(os.getpid())
    for flag, value in (("--memory-mb", "1234"), ("--processes", "77"), ("--file-size-mb", "9"),
                        ("--cpu-seconds", "50")):
        assert plain[plain.index(flag) + 1] == value
    assert "--uid" not in plain
    # without bubblewrap, a root grader still runs the kernel under its own user
    assert sandbox.kernel_prefix(limits, uid=1234567)[-5:] == ["--uid", "1234567", "--gid", "1234567", "--"]
    box = sandbox.Sandbox("bwrap", "/usr/bin/bwrap")
    boxed = sandbox.kernel_prefix(limits, sandbox=box, paths=_paths(tmp_path), uid=1234567)
    assert boxed.index("--guard") < boxed.index("/usr/bin/bwrap") < boxed.index("--memory-mb")
    assert boxed[boxed.index("--uid") + 1] == "1234567" and boxed[-1] == "--"
    assert boxed[boxed.index("--own") + 1] == str(tmp_path / "w")


def test_kernel_home_is_fresh_and_not_the_working_folder(tmp_path):
    home = sandbox.make_home(tmp_path, None)
    env = sandbox.kernel_env(tmp_path / "w", home=home)
    assert env["HOME"] == str(home) and env["IPYTHONDIR"].startswith(str(home))
    assert all(env[k].startswith(str(home)) for k in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"))
    assert env["PYTHONNOUSERSITE"] == "1" and env["TMPDIR"].startswith(str(tmp_path / "w"))
    assert (home / ".ipython" / "profile_default" / "startup").is_dir()
    assert list((home / ".ipython" / "profile_default" / "startup").iterdir()) == []
    assert sandbox.make_home(tmp_path, None) != home


@pytest.mark.skipif(os.geteuid() != 0, reason="user ids of their own need a root grader")
def test_a_kernel_user_is_reserved_and_its_processes_die_with_it():
    import subprocess

    with sandbox.kernel_user() as uid:
        assert sandbox.UID_RANGE[0] <= uid < sandbox.UID_RANGE[1]
        with sandbox.kernel_user() as other:
            assert other != uid
        # a process of that user that detaches itself (new session) is still found and killed
        proc = subprocess.Popen(["sleep", "600"], user=uid, group=uid, extra_groups=[], start_new_session=True)
        assert sandbox.user_processes(uid) == [proc.pid]
    proc.wait(timeout=60)
    assert proc.returncode == -9 and sandbox.user_processes(uid) == []


def test_digests_are_parsed_strictly_and_files_checked_against_them(tmp_path):
    assert parse_digests("0.json=" + "a" * 64 + ",0_1.npy=" + "b" * 64) == {"0.json": "a" * 64, "0_1.npy": "b" * 64}
    assert parse_digests("../etc/passwd=" + "a" * 64) is None
    assert parse_digests("0.json=zz") is None and parse_digests(42) is None
    import hashlib

    (tmp_path / "0.json").write_bytes(b'{"id": "x"}')
    (tmp_path / "1.json").write_bytes(b'{"id": "forged"}')
    good = hashlib.sha256(b'{"id": "x"}').hexdigest()
    files, bad = snapshot(tmp_path, {"0.json": good, "1.json": good, "2.json": good})
    assert files == {"0.json": b'{"id": "x"}'} and set(bad) == {1, 2}
    assert all("could not be verified" in reason for reason in bad.values())
    (tmp_path / "3.json").symlink_to(tmp_path / "0.json")
    files, bad = snapshot(tmp_path, {"3.json": good})
    assert files == {} and set(bad) == {3}


# --- provided (locked) cells ---------------------------------------------------------------------

PROVIDED = ProvidedCells.from_sources([("setup", "import numpy as np\nSCALE = 2"), ("units", "UNITS = 'pt'")])


def _cells(*spec):
    out = []
    for src, cid in spec:
        meta = {"hw4": {"locked": True, "id": cid}} if cid else {}
        out.append(nbformat.v4.new_code_cell(src, metadata=meta))
    return out


def test_untouched_provided_cells_are_not_reported():
    cells = _cells(("import numpy as np\nSCALE = 2  \r\n", "setup"), ("x = 1", None), ("UNITS = 'pt'", "units"))
    out, origins, changes = restore(cells, PROVIDED)
    assert changes == () and origins == [0, 1, 2] and [c.source for c in out] == [c.source for c in cells]


def test_a_modified_provided_cell_runs_as_provided():
    cells = _cells(("import numpy as np\nSCALE = 3", "setup"), ("x = 1", None), ("UNITS = 'pt'", "units"))
    out, origins, changes = restore(cells, PROVIDED)
    assert changes == ("setup",) and out[0].source == "import numpy as np\nSCALE = 2"
    assert cells[0].source.endswith("3")  # the submission itself is not modified


def test_deleted_provided_cells_are_put_back_in_place():
    cells = _cells(("x = 1", None), ("UNITS = 'pt'", "units"))
    out, origins, changes = restore(cells, PROVIDED)
    assert changes == ("setup (deleted)",)
    assert [c.source for c in out] == ["import numpy as np\nSCALE = 2", "x = 1", "UNITS = 'pt'"]
    assert origins == [None, 0, 1]
    out, origins, changes = restore(_cells(("import numpy as np\nSCALE = 2", "setup"), ("x = 1", None)), PROVIDED)
    assert changes == ("units (deleted)",) and out[1].source == "UNITS = 'pt'" and origins == [0, None, 1]


def test_moved_provided_cells_go_back_to_their_order_and_student_cells_stay():
    cells = _cells(("UNITS = 'pt'", "units"), ("x = 1", None), ("import numpy as np\nSCALE = 2", "setup"))
    out, origins, changes = restore(cells, PROVIDED)
    assert changes == ("setup (moved)", "units (moved)")
    assert [c.source for c in out] == ["import numpy as np\nSCALE = 2", "x = 1", "UNITS = 'pt'"]


def test_a_copy_without_metadata_is_a_student_cell_and_the_original_is_restored():
    cells = _cells(("import numpy as np\nSCALE = 5", None), ("UNITS = 'pt'", "units"))
    out, origins, changes = restore(cells, PROVIDED)
    assert changes == ("setup (deleted)",) and [c.source for c in out][:2] == [
        "import numpy as np\nSCALE = 2", "import numpy as np\nSCALE = 5"]
    assert locked_id(out[0]) == "setup" and locked_id(out[1]) is None


def test_the_real_assignments_and_solutions_match_their_provided_cells():
    from graders.locked import provided_cells
    from graders.homework import all_parts

    try:
        parts = all_parts()
    except Exception as exc:  # parts are written by others in parallel
        pytest.skip(f"parts not importable: {exc}")
    checked = 0
    for name, spec in parts.items():
        notebook = ROOT / "assignments" / spec.notebook
        provided = provided_cells(name, notebook)
        if provided is None:
            continue
        for path in (notebook, ROOT / "reference" / "solutions" / spec.notebook,
                     ROOT / "examples" / "99999999_Blank" / spec.notebook):
            if path.exists():
                nb = nbformat.read(path, as_version=4)
                assert restore(list(nb.cells), provided)[2] == (), path
                checked += 1
    if not checked:
        pytest.skip("no assignment notebook with provided cells yet")


def test_a_kernel_that_cannot_start_is_a_grading_error_not_a_grade(tmp_path):
    """Too little memory to start Python: raised (the batch reports it, writes no result, a rerun retries)."""
    from graders.checks import Check, Exact
    from graders.execute import KernelStartFailed, run_notebook
    from graders.probe.spec import read_global

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("ANSWER = 42")]
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    check = Check("t.answer", "t", (read_global("answer", "ANSWER"),), Exact("answer", 42))
    with pytest.raises(KernelStartFailed, match="Kernel died before replying"):
        run_notebook(path, [check], limits=Limits(memory_mb=40, cell_timeout=5, notebook_timeout=20))
