"""Determinism and crash safety.

* The same submission graded ten times gives the same result (times aside).
* ``kill -9`` of a grading batch mid-run: every result file on disk is complete, the kernels and
  workers die with it, and resuming gives results identical to an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

from adv_corpus import GOOD, GOOD_TWIN, CASES, Context, ROOT, build_class, comparable, make_plan, scan

from graders.pipeline import grade_submission
from graders.results import load_submission

PLAN = make_plan()
BY_NAME = {c.name: c for c in CASES}


def test_same_submission_ten_times_gives_the_same_result(tmp_path):
    ctx = Context(tmp_path / "class", tmp_path / "out")
    build_class([GOOD, BY_NAME["nan_result"]], ctx.class_dir, ctx)
    subs = {s.id: s for s in scan(ctx.class_dir, tmp_path / "unpacked").submissions}
    good = [comparable(grade_submission(subs[GOOD.sub_id], PLAN)) for _ in range(10)]
    assert all(r == good[0] for r in good), "a correct notebook graded differently"
    assert good[0]["total"] == 10.0
    bad = [comparable(grade_submission(subs[BY_NAME["nan_result"].sub_id], PLAN)) for _ in range(3)]
    assert all(r == bad[0] for r in bad) and bad[0]["total"] == 6.0


_RUNNER = textwrap.dedent("""
    import sys
    sys.path[:0] = [{tests!r}, {root!r}]
    from pathlib import Path
    from adv_corpus import make_plan, scan
    from graders.batch import grade_all
    subs = scan(Path({klass!r}), Path({unpack!r})).submissions
    for sid, result, error in grade_all(subs, make_plan(), Path({out!r}), jobs=2, plan_factory=make_plan):
        print(sid, "ERROR" if result is None else result.total, flush=True)
""")


def _start(klass: Path, out: Path, unpack: Path, tmp: Path, marker: str) -> subprocess.Popen:
    code = _RUNNER.format(tests=str(Path(__file__).parent), root=str(ROOT), klass=str(klass), out=str(out),
                          unpack=str(unpack))
    env = {**os.environ, "TMPDIR": str(tmp), "HW4_CRASH_TEST": marker}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def _survivors(tmp: Path, marker: str) -> list[int]:
    """Processes of that run still alive: workers (by their environment) and kernels (by their folder)."""
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if marker.encode() in environ or cwd.startswith(str(tmp)):
            alive.append(int(pid))
    return alive


def test_kill_9_mid_batch_then_resume_gives_identical_results(tmp_path):
    klass = tmp_path / "class"
    cases = [GOOD, GOOD_TWIN] + [BY_NAME[n] for n in ("nan_result", "os_exit", "wrong_dtype", "infinite_loop",
                                                      "kill_in_check", "missing_function")]
    build_class(cases, klass, Context(klass, tmp_path / "out"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out, marker = tmp_path / "out", uuid.uuid4().hex

    run = _start(klass, out, tmp_path / "unpacked", tmp, marker)
    deadline = time.monotonic() + 300
    while len(list(out.glob("*/result.json"))) < 2 and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert run.poll() is None, "the batch finished before it could be killed"
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    before = {p.parent.name: p.read_bytes() for p in out.glob("*/result.json")}
    assert 2 <= len(before) < len(cases)
    for data in before.values():  # every result on disk is whole
        json.loads(data)
    # the workers finish (or drop) what they were doing and exit; their kernels die with them
    deadline = time.monotonic() + 120
    while _survivors(tmp, marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _survivors(tmp, marker) == []
    resumed = _start(klass, out, tmp_path / "unpacked", tmp, marker)
    resumed.communicate(timeout=600)
    assert resumed.returncode == 0
    fresh_out = tmp_path / "fresh"
    fresh = _start(klass, fresh_out, tmp_path / "unpacked-fresh", tmp, marker)
    fresh.communicate(timeout=600)
    assert fresh.returncode == 0

    for case in cases:
        got = load_submission(out / case.sub_id / "result.json")
        want = load_submission(fresh_out / case.sub_id / "result.json")
        assert comparable(got) == comparable(want), case.name
    for sid, data in before.items():  # finished before the kill: kept, not regraded
        assert (out / sid / "result.json").read_bytes() == data
    assert _survivors(tmp, marker) == []
