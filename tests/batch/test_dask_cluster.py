"""The examples graded on a real Dask cluster — `dask scheduler` and `dask worker --nworkers 2`, the
command-line processes a TA starts, nanny included — give the same results as the local pool, whose
kernels start cold and ask every check in a cell of its own (`--no-pool --no-batch`): check by
check, warm kernels and batched probes change nothing.

A nanny runs tasks in a daemonic process, which may not start multiprocessing children: the
checks that need a time-limited child (the theory part's sympy judges) once all ended in grader
errors there, and nobody was told.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import TEST_SECRET

from graders.evidence import read_outputs

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grade(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graders.cli", "grade", str(ROOT / "examples"), "--out", str(out),
                           *extra], capture_output=True, text=True, timeout=1800, cwd=ROOT,
                          env={**os.environ, "HW4_SECRET": TEST_SECRET})


def _checks(out: Path) -> dict:
    """Every check of every example: (status, passed, reason), plus each submission's scores."""
    found = {}
    for path in sorted(out.glob("*/result.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[path.parent.name] = {"total": data["total"], "auto_total": data["auto_total"],
                                   "incomplete": data["incomplete"],
                                   "checks": {c["id"]: (c["status"], c["passed"], c["reason"])
                                              for item in data["items"] for c in item["checks"]}}
    return found


@pytest.fixture
def cluster(tmp_path):
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed (pip install 'dask[distributed]')")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT, cwd=tmp_path)]
    procs.append(subprocess.Popen([str(dask), "worker", address, "--nworkers", "2", "--nthreads", "1",
                                   "--no-dashboard"], stdout=open(logs / "worker.log", "w"),
                                  stderr=subprocess.STDOUT, cwd=tmp_path))
    try:
        from distributed import Client

        with Client(address, timeout=120) as client:
            client.wait_for_workers(2, timeout=300)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_real_dask_cluster_grades_the_examples_like_the_local_pool_without_warm_kernels_or_batches(tmp_path,
                                                                                                       cluster):
    """Also: warm kernels and batched probes change nothing. On Dask each worker warms the next
    notebook's kernel (and the next submission's first) and asks runs of checks in one cell; the local
    run starts every kernel when its notebook's turn comes and asks every check in a cell of its own."""
    remote = _grade(tmp_path / "dask", "--scheduler", cluster)
    assert remote.returncode == 0, remote.stderr[-3000:]
    local = _grade(tmp_path / "local", "--jobs", "2", "--no-pool", "--no-batch")
    assert local.returncode == 0, local.stderr[-3000:]
    on_dask, here = _checks(tmp_path / "dask"), _checks(tmp_path / "local")
    assert sorted(here) == ["00000000_Reference", "99999999_Blank"]
    assert on_dask == here
    assert here["00000000_Reference"]["auto_total"] == 78.5 and not here["00000000_Reference"]["incomplete"]
    assert not any(status == "error" for status, _, _ in here["00000000_Reference"]["checks"].values())
    # the Dask workers wrote the cells' outputs beside their results, as the local workers did
    printed = {where: read_outputs(tmp_path / where / "00000000_Reference") for where in ("dask", "local")}
    assert printed["dask"] and set(printed["dask"]) == set(printed["local"])
