"""The peer, side by side: ``nbgrader autograde`` vs ``hw4 grade`` on the same class, in one run.

For each class size N (default 8: half copies of ``examples/00000000_Reference``, half of
``examples/99999999_Blank``, named ``{STD_Number}_{Name}``) this script

1. builds an nbgrader course of the same notebooks (``bench/nbgrader_course.py`` says how: the
   solved notebooks as source, one autograder test cell per graded function, the models and data
   next to every notebook, a gradebook with the students and the assignment) — not timed;
2. times ``nbgrader autograde hw4`` (nbgrader's CLI from its own virtualenv; it runs one kernel
   at a time), then ``.venv/bin/hw4 grade CLASS --jobs 2`` and ``--jobs 1`` into fresh output
   folders, with a course secret made by ``hw4 secret new``;
3. prints the wall seconds, the scores each tool gave (reference / blank students), and the
   ratios nbgrader / hw4, with the load average at the start and end of each run.

nbgrader runs in ``bench/.nbgrader-venv`` (created on first use, about a minute: nbgrader 0.9.6
plus the pins of ``requirements.txt``, torch 2.13.0 from local disk), so the project's
environment is untouched. Its kernels get the environment hw4 gives its own
(``graders.sandbox.kernel_env``: one OpenMP thread, offline Hugging Face, Agg backend); hw4's
kernels also run in its sandbox (bubblewrap when installed), nbgrader's do not.
The reference values of the nbgrader tests are recorded once (about a minute) and cached in
``bench/.nbgrader-cache/``.

    .venv/bin/python bench/nbgrader.py [--students 8 [16 ...]] [--keep DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from batch import make_class  # noqa: E402  (bench/batch.py: N copies of the examples)
from nbgrader_course import ASSIGNMENT, SOLUTIONS, max_score, parse_recorded, tests_fingerprint, \
    with_tests, write_course, write_notebook  # noqa: E402

from graders.workspace import prepare_workdir  # noqa: E402
from graders.homework import all_parts  # noqa: E402
from graders.rubric import load_rubric  # noqa: E402
from graders.sandbox import kernel_env  # noqa: E402

VENV = BENCH / ".nbgrader-venv"
CACHE = BENCH / ".nbgrader-cache"
NBGRADER_PIN = "nbgrader==0.9.6"
HW4 = ROOT / ".venv" / "bin" / "hw4"


def ensure_venv() -> float:
    """Create nbgrader's virtualenv unless it is there with the same pins; return the seconds spent."""
    pins = f"{NBGRADER_PIN}\n" + (ROOT / "requirements.txt").read_text(encoding="utf-8")
    marker = VENV / "hw4-bench-pins.txt"
    if marker.is_file() and marker.read_text(encoding="utf-8") == pins:
        return 0.0
    print(f"creating {VENV.relative_to(ROOT)} (nbgrader and the notebooks' packages)…", flush=True)
    start = time.perf_counter()
    shutil.rmtree(VENV, ignore_errors=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    CACHE.mkdir(exist_ok=True)
    for i, cmd in enumerate(([sys.executable, "-m", "venv", str(VENV)],
                             pip + ["torch==2.13.0"],  # first and pinned: the CPU wheel from local disk
                             pip + ["-r", str(ROOT / "requirements.txt"), NBGRADER_PIN])):
        run(cmd, cwd=ROOT, env=None, log=CACHE / f"venv-{i}.log")
    marker.write_text(pins, encoding="utf-8")
    return time.perf_counter() - start


def nbgrader_env(run_dir: Path) -> dict[str, str]:
    """The environment of the nbgrader commands and their kernels: the one hw4 gives its kernels."""
    home = run_dir / "home"
    env = kernel_env(run_dir, home=home)
    env["VIRTUAL_ENV"] = str(VENV)
    env["PATH"] = f"{VENV / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    for var in ("TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR", "HF_HOME", "IPYTHONDIR",
                "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        Path(env[var]).mkdir(parents=True, exist_ok=True)
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None, log: Path) -> float:
    """Run ``cmd`` with its output in ``log``; return its wall seconds; stop with the log's tail if it fails."""
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        done = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(map(str, cmd))} failed (exit {done.returncode}); log {log}:\n{tail}")
    return seconds


def nbgrader(*args: str) -> list[str]:
    return [str(VENV / "bin" / "nbgrader"), *args]


def record_expected(assets: Path, work: Path, env: dict[str, str], cell_timeout: float) -> dict[str, dict]:
    """The reference's value of every nbgrader test: the solved notebooks run once in record mode (cached)."""
    cached = CACHE / f"expected-{tests_fingerprint()}.json"
    if cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    print("recording the reference values of the nbgrader tests (once)…", flush=True)
    folder = work / "record"
    folder.mkdir()
    shutil.copytree(assets, folder, dirs_exist_ok=True)
    names = sorted(p.name for p in SOLUTIONS.glob("*.ipynb"))
    for name in names:
        write_notebook(with_tests(SOLUTIONS / name, None), folder / name)
    seconds = run([str(VENV / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--inplace",
         f"--ExecutePreprocessor.timeout={int(cell_timeout)}", *names], cwd=folder, env=env, log=work / "record.log")
    expected = {name: parse_recorded(folder / name) for name in names}
    print(f"  recorded in {seconds:.0f} s", flush=True)
    CACHE.mkdir(exist_ok=True)
    cached.write_text(json.dumps(expected), encoding="utf-8")
    return expected


def nbgrader_scores(course: Path, env: dict[str, str], log: Path) -> dict[str, float]:
    """Each student's autograde score, from ``nbgrader export`` (the gradebook's CSV)."""
    run(nbgrader("export", "--to", str(course / "grades.csv")), cwd=course, env=env, log=log)
    with open(course / "grades.csv", encoding="utf-8") as f:
        return {row["student_id"]: float(row["score"]) for row in csv.DictReader(f)}


def hw4_scores(out: Path) -> dict[str, float]:
    """Each student's automatic points, from ``OUT/<student>/result.json``."""
    return {p.parent.name: json.loads(p.read_text(encoding="utf-8"))["auto_total"] for p in out.glob("*/result.json")}


def by_kind(scores: dict[str, float]) -> str:
    """'reference a–b, blank c–d': the score range of each kind of student."""
    parts = []
    for kind in ("Reference", "Blank"):
        values = [v for sid, v in scores.items() if f"_{kind}_" in sid]
        if values:
            low, high = min(values), max(values)
            parts.append(f"{kind.lower()} {low:g}" + (f"–{high:g}" if high != low else "") + f" (×{len(values)})")
    return ", ".join(parts)


def load() -> str:
    return "%.2f" % os.getloadavg()[0]


def bench_class(n: int, work: Path, assets: Path, expected: dict, secret: Path, cell_timeout: float) -> dict:
    """Build a class of ``n`` students, time nbgrader and hw4 on it, return the numbers."""
    examples = [ROOT / "examples" / "00000000_Reference", ROOT / "examples" / "99999999_Blank"]
    cls = work / f"class-{n}"
    make_class(cls, examples, n // 2)
    students = sorted(p for p in cls.iterdir() if p.is_dir())
    course = work / f"course-{n}"
    ids = write_course(course, students, expected, assets, cell_timeout=cell_timeout)
    env = nbgrader_env(work / f"nbgrader-run-{n}")
    logs = work / "logs"
    run(nbgrader("db", "student", "import", "students.csv"), cwd=course, env=env, log=logs / f"students-{n}.log")
    run(nbgrader("generate_assignment", ASSIGNMENT, "--force"), cwd=course, env=env, log=logs / f"generate-{n}.log")

    row = {"students": len(ids), "runs": {}}
    runs = [("nbgrader autograde", nbgrader("autograde", ASSIGNMENT), course, env)]
    for jobs in (2, 1):
        out = work / f"hw4-out-{n}-jobs{jobs}"
        runs.append((f"hw4 grade --jobs {jobs}",
                     [str(HW4), "grade", str(cls), "--out", str(out), "--secret-file", str(secret), "--jobs", str(jobs)],
                     ROOT, None))
    for label, cmd, cwd, run_env in runs:
        before = load()
        print(f"  {label} on {len(ids)} students (load {before})…", flush=True)
        seconds = run(cmd, cwd=cwd, env=run_env, log=logs / f"{label.replace(' ', '_')}-{n}.log")
        scores = (nbgrader_scores(course, env, logs / f"export-{n}.log") if label.startswith("nbgrader")
                  else hw4_scores(Path(cmd[cmd.index("--out") + 1])))
        row["runs"][label] = {"seconds": seconds, "load": (before, load()), "scores": scores}
    return row


def report(row: dict) -> None:
    n, runs = row["students"], row["runs"]
    print(f"\nclass of {n} ({n // 2} reference, {n // 2} blank; 5 notebooks each)")
    print(f"  {'':22s} {'wall s':>8s} {'s/student':>10s}   load start→end   scores")
    for label, r in runs.items():
        out_of = f" / {max_score()} tests" if label.startswith("nbgrader") else " automatic points"
        print(f"  {label:22s} {r['seconds']:8.1f} {r['seconds'] / n:10.1f}   {r['load'][0]:>5s} → {r['load'][1]:<5s}"
              f"    {by_kind(r['scores'])}{out_of}")
    nb = runs["nbgrader autograde"]["seconds"]
    for jobs in (2, 1):
        print(f"  nbgrader autograde / hw4 grade --jobs {jobs}: {nb / runs[f'hw4 grade --jobs {jobs}']['seconds']:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--students", type=int, nargs="+", default=[8], metavar="N",
                    help="class sizes to measure, each even: half reference, half blank (default 8)")
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR",
                    help="build the courses, classes, outputs and logs in DIR and keep them (default: a temporary folder)")
    args = ap.parse_args()
    if any(n < 2 or n % 2 for n in args.students):
        ap.error("--students: each class size must be even and at least 2")
    if not HW4.exists():
        raise SystemExit(f"{HW4} is missing: run bash tools/setup.sh first")
    work = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="hw4-bench-nbgrader-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "logs").mkdir(exist_ok=True)
    print(f"load average at start: {' '.join('%.2f' % x for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
          f"work folder {work}", flush=True)
    try:
        venv_seconds = ensure_venv()
        if venv_seconds:
            print(f"nbgrader virtualenv created in {venv_seconds:.0f} s", flush=True)
        cell_timeout = load_rubric().limits.cell_timeout
        assets = prepare_workdir(sorted({a for spec in all_parts().values() for a in spec.assets}), root=work)
        expected = record_expected(assets, work, nbgrader_env(work / "record-run"), cell_timeout)
        secret = work / "course.secret"
        run([str(HW4), "secret", "new", "--out", str(secret)], cwd=ROOT, env=None, log=work / "logs" / "secret.log")
        rows = []
        for n in args.students:
            print(f"class of {n}:", flush=True)
            rows.append(bench_class(n, work, assets, expected, secret, cell_timeout))
        for row in rows:
            report(row)
        print(f"\nload average at end: {' '.join('%.2f' % x for x in os.getloadavg())}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
