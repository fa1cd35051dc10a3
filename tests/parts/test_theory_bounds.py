"""Hostile sympy answers: their checks fail with a reason, and the grading process stays small.

The answers are the attacks of ``tests/adversarial/round2_symbolic.py`` (the same source lines,
run in the reference's namespace). The kernel's side (encoding the answer) runs here; the grading
side — reading the answer back and judging it, exactly as a grading worker does — runs in a fresh
process whose peak memory is measured, and which may not grow by more than 2 GB over what it holds
after its imports (past that it would get a MemoryError, never the machine's memory).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

import reference.theory as T
from adversarial.round2_symbolic import ATTACKS, FLOOR_DERIVATIVE, PIECEWISE_BOMB
from graders.kernel import KERNEL_SIDE
from graders.parts import theory
from graders.probe.spec import write_inputs
from helpers import read_outcomes

ROOT = Path(__file__).resolve().parents[2]
GB = 2**30
#: a guard against hanging for good (the bomb once took 20 minutes), far above the few seconds it takes
GUARD_SECONDS = 900

#: the grading side, in its own process: read each check's answers and judge them; print the verdicts
#: and the process's peak RSS
GRADER = r"""
import json, resource, sys
from pathlib import Path

import reference.theory as T
from graders.parts import theory
from helpers import read_outcomes

vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (vm + 2 * 2**30, resource.RLIM_INFINITY))
checks = {c.id: c for c in theory.answer_checks(T)}
verdicts = {}
for cid, folder in json.loads(sys.argv[1]).items():
    check = checks[cid]
    result = check.result(read_outcomes(Path(folder), list(check.probes)))
    verdicts[cid] = [result.status, result.reason, result.grader_error]
print(json.dumps({"verdicts": verdicts, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


@pytest.fixture(scope="module")
def runtime():
    if "_hw4_probe" not in sys.modules:
        exec(compile(KERNEL_SIDE, "kernel_side.py", "exec"), {"__name__": "_hw4_kernel_side"})
    return sys.modules["_hw4_probe"]


def namespace_with(source: str) -> dict:
    """The solved notebook's globals, with one answer cell's line ``source`` run on top."""
    ns = {name: getattr(T, name) for name in dir(T) if not name.startswith("__")}
    exec(source, ns)  # our own attack text (round2_symbolic), not anything from a kernel
    return ns


@pytest.fixture(scope="module")
def checks():
    return {c.id: c for c in theory.answer_checks(T)}


def answer(runtime, check, ns: dict, folder: Path) -> Path:
    """The kernel's side of ``check``: its probes answered from ``ns``, in ``folder`` as a kernel leaves it."""
    write_inputs(folder / "in", list(check.probes))
    (folder / "out").mkdir()
    runtime.run(ns, str(folder / "in"), str(folder / "out"), list(range(len(check.probes))))
    return folder / "out"


def grade_in_a_grading_process(runtime, checks, name: str, ns: dict, tmp: Path) -> tuple[dict, int]:
    """Every check reading ``name``: the kernel side here, the grader's side in a fresh process."""
    folders = {cid: str(answer(runtime, check, ns, tmp / cid)) for cid, check in checks.items()
               if any(p.target == name for p in check.probes)}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    done = subprocess.run([sys.executable, "-c", GRADER, json.dumps(folders)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=GUARD_SECONDS)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["verdicts"], report["peak_rss"]


@pytest.mark.parametrize("attack, name, source", [
    ("piecewise_bomb", "Q1a_dloss", PIECEWISE_BOMB),
    ("derivative_of_floor", "Q1e_k2", FLOOR_DERIVATIVE),
])
def test_a_hostile_answer_fails_its_checks_with_a_reason_in_bounded_memory(runtime, checks, tmp_path, attack, name,
                                                                            source):
    verdicts, peak_rss = grade_in_a_grading_process(runtime, checks, name, namespace_with(source), tmp_path)
    assert set(verdicts) == set(ATTACKS[attack].fails)
    for cid, pattern in ATTACKS[attack].fails.items():
        status, reason, grader_error = verdicts[cid]
        assert status == "failed" and not grader_error, (cid, status, reason)
        assert re.search(pattern, reason), (cid, reason)
    assert peak_rss < 2 * GB


def test_the_piecewise_bomb_is_refused_before_anything_is_built(runtime):
    """It is the number of pieces and conditions that is refused, not its size: it is small."""
    from graders.probe.sympy_tree import TooComplex, measure, to_tree

    bomb = namespace_with(PIECEWISE_BOMB)["Q1a_dloss"]
    assert isinstance(bomb, sp.Piecewise) and len(bomb.args) == 19
    tree = to_tree(bomb)
    assert len(json.dumps(tree)) < 64_000
    with pytest.raises(TooComplex, match="Piecewise pieces|conditions"):
        measure(tree)


def test_a_piecewise_within_the_limits_is_judged_on_its_mathematics(runtime, checks, tmp_path):
    """The limits leave room for a real piecewise answer: each piece right is right, one wrong is wrong."""
    D = T.Delta
    right = sp.Piecewise(*[(T.sigmoid(D) - 1, sp.And(D > i - 4, D < i - 3)) for i in range(6)],
                         (T.sigmoid(D) - 1, True), evaluate=False)
    wrong = sp.Piecewise((T.sigmoid(D) - 1, D < 0), (T.sigmoid(D), True), evaluate=False)
    check = checks["theory.q1a.dloss"]
    for value, status in [(right, "passed"), (wrong, "failed")]:
        ns = {name: getattr(T, name) for name in dir(T) if not name.startswith("__")}
        ns["Q1a_dloss"] = value
        result = check.result(read_outcomes(answer(runtime, check, ns, tmp_path / status), list(check.probes)))
        assert result.status == status, result
