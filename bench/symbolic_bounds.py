"""Hostile sympy answers against the grading process: its peak memory and seconds, per attack.

Each attack of ``tests/adversarial/round2_symbolic.py`` (and the reference theory notebook, as a
baseline) is graded with ``hw4 grade --parts theory`` in a grading process of its own, run
in-process there (``--jobs 1``), so the peak resident memory printed is the grading process's
alone — not its kernels' — and the status is the command's exit status (0: graded, 2: a grader
error left the result incomplete). Also prints each attack's checks that did not pass, and whether
each failed as the attack expects. Run from the repository root:

    .venv/bin/python bench/symbolic_bounds.py [--only ATTACK ...]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "adversarial"), str(ROOT)]

from round2_symbolic import ATTACKS, REFERENCE  # noqa: E402

#: grades one class folder in this process and prints the exit status and peak RSS as JSON
_ONE = r"""
import json, resource, sys
from graders.cli import main
try:
    main.main(sys.argv[1:], standalone_mode=False)
    status = 0
except SystemExit as exc:
    status = exc.code if isinstance(exc.code, int) else 1
print(json.dumps({"status": status, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def grade(name: str, notebook: str, work: Path, secret: Path) -> dict:
    folder = work / name / "00000001_Student"
    folder.mkdir(parents=True)
    (folder / "theory.ipynb").write_text(notebook, encoding="utf-8")
    out = work / f"{name}-out"
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _ONE, "grade", str(folder.parent), "--out", str(out), "--parts",
                           "theory", "--secret-file", str(secret)], cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - start
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {"status": done.returncode,
                                                                               "peak_rss_mb": float("nan")}
    report["seconds"] = seconds
    result = json.loads(next(out.glob("*/result.json")).read_text()) if list(out.glob("*/result.json")) else {}
    report["incomplete"] = result.get("incomplete")
    report["not_passed"] = {c["id"]: (c["status"], c["reason"]) for item in result.get("items", [])
                            for c in item.get("checks", []) if c["status"] != "passed"}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(ATTACKS), help="these attacks only")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    cases = {"reference": (REFERENCE.read_text(encoding="utf-8"), {})}
    cases.update({n: (a.notebook(), a.fails) for n, a in ATTACKS.items() if not args.only or n in args.only})
    with tempfile.TemporaryDirectory(prefix="symbolic-bounds-") as tmp:
        work = Path(tmp)
        secret = work / "secret"
        subprocess.run([sys.executable, "-m", "graders.cli", "secret", "new", "--out", str(secret)], cwd=ROOT,
                       check=True, capture_output=True)
        print(f"{'case':22} {'exit':>4} {'incomplete':>10} {'seconds':>8} {'grader peak RSS':>16}  as expected")
        for name, (notebook, fails) in cases.items():
            r = grade(name, notebook, work, secret)
            expected = set(r["not_passed"]) == set(fails) and all(
                r["not_passed"][cid][0] == "failed" and re.search(pattern, r["not_passed"][cid][1])
                for cid, pattern in fails.items())
            print(f"{name:22} {r['status']:>4} {str(r['incomplete']):>10} {r['seconds']:8.1f} "
                  f"{r['peak_rss_mb']:13.0f} MB  {'yes' if expected else 'NO'}")
            for cid, (status, reason) in r["not_passed"].items():
                print(f"    {cid}: {status}: {reason[:160]}")


if __name__ == "__main__":
    main()
