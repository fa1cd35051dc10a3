"""Grade the round-2 hostile class (tests/adversarial/round2_class.py) as a TA would, and measure it.

Prints the exit status and wall time of ``hw4 grade CLASS --jobs 2``, the peak memory of its
grading workers, the most bytes ever seen in the kernels' run folders, the time of ``hw4
similarity`` on the result, and the machine's load. The same class is the slow test
tests/adversarial/test_round2_class.py, which asserts what must hold.

    .venv/bin/python bench/round2.py [--keep DIR]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "adversarial"), str(ROOT)]

from round2_class import PARTS, Watch, write_class  # noqa: E402

from graders.secret import new_secret  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="grade into this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="hw4-round2-"))
    base.mkdir(parents=True, exist_ok=True)
    secret = base / "course.secret"
    secret.write_text(new_secret() + "\n")
    secret.chmod(0o600)
    write_class(base / "class")
    env = {k: v for k, v in os.environ.items() if k != "HW4_SECRET"}
    load = os.getloadavg()
    start = time.monotonic()
    with subprocess.Popen([sys.executable, "-m", "graders.cli", "grade", str(base / "class"), "--out", str(base / "out"),
                           "--secret-file", str(secret), "--jobs", "2", "--parts", ",".join(PARTS)],
                          cwd=base, env=env) as proc:
        watch = Watch(proc.pid)
        proc.wait()
        watch.stop()
    graded = time.monotonic() - start
    start = time.monotonic()
    similarity = subprocess.run([sys.executable, "-m", "graders.cli", "similarity", str(base / "out")], cwd=base,
                                env=env, capture_output=True, text=True)
    compared = time.monotonic() - start
    print(f"hw4 grade: exit {proc.returncode}, {graded:.0f} s for {len(list((base / 'class').iterdir()))} submissions "
          f"(load {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after)")
    print(f"grading workers' peak memory: {watch.worker_peak_kb / 2**20:.2f} GiB")
    print(f"kernels' run folders, most bytes seen: {watch.run_folder_peak:,}")
    print(f"hw4 similarity: exit {similarity.returncode}, {compared:.1f} s")
    print(f"results in {base / 'out'}")


if __name__ == "__main__":
    main()
