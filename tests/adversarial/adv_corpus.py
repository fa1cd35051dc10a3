"""The adversarial corpus: hostile, broken and unlucky submissions, each with its expected grade.

Everything is graded against a tiny part of its own, ``adv`` (not the real homework, so the
corpus does not depend on the parts being written elsewhere):

* provided (locked) cells ``adv-setup`` (``import numpy as np; SCALE = 2``) and ``adv-units``;
* the student writes ``double(x)`` (``[SCALE * v for v in x]``, a list), ``grid(rows, cols)``
  (a float64 array of 0, 1, 2, … — checked at 100 × 50, so it travels as a ``.npy`` file) and
  ``ANSWER = 42``;
* checks ``adv.double`` (4 points), ``adv.grid`` (4) and ``adv.answer`` (2); 10 in all.

Every case is a complete submission entry (a folder ``{STD_Number}_{case}`` holding
``adv.ipynb``, or a zip, or something worse) taken through the real intake, execution, checks,
scoring and recording. A case says what each check must end as — ``(status, reason pattern)``,
``passed`` when not listed — plus what the execution summary or the submission notes must show.
Most cases are the reference solution plus one nasty cell, so they show both that the nasty
thing is contained and that the rest of the notebook is still graded.

Run the whole corpus as one batch and print the table of cases with ``bench/adversarial.py``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
import textwrap
from typing import Callable, Mapping, Sequence

import nbformat
import numpy as np

from graders import sandbox
from graders.checks import AllClose, Check, Exact, Property
from graders.checks.values import close_problem
from graders.intake import scan_submissions
from graders.part import PartSpec
from graders.pipeline import Plan
from graders.probe.spec import Probe, read_global
from graders.results import ExecutionSummary, SubmissionResult
from graders.rubric import Item, Limits, Part, Rubric

ROOT = Path(__file__).resolve().parents[2]
PART = "adv"
NOTEBOOK = "adv.ipynb"
#: submission_timeout: long enough for every case but ``sleeps_in_every_check`` (at least 12 s of cells then
#: 8 s per check: its third check always meets the budget); disk_mb above file_size_mb, so one file over the
#: size limit is "File too large" and only many files fill the working folder
LIMITS = Limits(cell_timeout=4, notebook_timeout=15, probe_timeout=8, output_chars=2000, memory_mb=2048,
                processes=64, file_size_mb=64, restarts=1, submission_timeout=34, disk_mb=96)
CHECK_TIMEOUT = 8.0
#: kernels run under a user id of their own (root grader, with bubblewrap or a Python other users can run)
OWN_USER = os.geteuid() == 0 and (sandbox.current().isolated or sandbox.others_can_run_python())

SETUP = "import numpy as np\nSCALE = 2"
UNITS = "UNITS = 'points'"
SOLUTION = '''def double(x):
    """[SCALE * v for v in x], as a list."""
    return [SCALE * v for v in x]


def grid(rows, cols):
    """A float64 array of shape (rows, cols) holding 0, 1, 2, … row by row."""
    return np.arange(rows * cols, dtype=np.float64).reshape(rows, cols)'''
STUB = '''def double(x):
    """[SCALE * v for v in x], as a list."""
    raise NotImplementedError("double is not implemented yet")


def grid(rows, cols):
    """A float64 array of shape (rows, cols) holding 0, 1, 2, … row by row."""
    raise NotImplementedError("grid is not implemented yet")'''
ANSWER = "ANSWER = 42"

GRID_EXPECTED = np.arange(5000, dtype=np.float64).reshape(100, 50)


def _grid_problem(value) -> str | None:
    if value.dtype != np.float64:
        return f"expected dtype float64, got {value.dtype}"
    return close_problem(value, GRID_EXPECTED, rtol=0, atol=0)


CHECKS = [
    Check("adv.double", PART, (Probe("double", "double", ([1.0, 2.5],)),),
          AllClose("double", [2.0, 5.0], kind="list"), timeout=CHECK_TIMEOUT),
    Check("adv.grid", PART, (Probe("grid", "grid", (100, 50)),),
          Property(["grid"], _grid_problem, kind="ndarray"), timeout=CHECK_TIMEOUT),
    Check("adv.answer", PART, (read_global("answer", "ANSWER"),), Exact("answer", 42, kind="int"),
          timeout=CHECK_TIMEOUT),
]
CHECK_IDS = [c.id for c in CHECKS]


def cells_notebook(cells: Sequence[tuple[str, str | None]], *, part_metadata: bool = True) -> str:
    """A v4 notebook from ``(source, locked id or None)`` code cells."""
    nb = nbformat.v4.new_notebook()
    for source, locked in cells:
        meta = {"hw4": {"locked": True, "id": locked}} if locked else {}
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata=meta))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if part_metadata:
        nb.metadata["hw4"] = {"part": PART, "format": 1}
    return nbformat.writes(nb)


def reference_cells(extra: Sequence[str] = (), *, at: int | None = None) -> list[tuple[str, str | None]]:
    """The solved notebook, with ``extra`` cells inserted at ``at`` (default: after the solution)."""
    cells: list[tuple[str, str | None]] = [(SETUP, "adv-setup"), (SOLUTION, None), (UNITS, "adv-units"),
                                           (ANSWER, None)]
    pos = 2 if at is None else at
    return cells[:pos] + [(src, None) for src in extra] + cells[pos:]


_ASSIGNMENT = Path(tempfile.mkdtemp(prefix="hw4-adv-assignment-")) / NOTEBOOK
_ASSIGNMENT.write_text(cells_notebook([(SETUP, "adv-setup"), (STUB, None), (UNITS, "adv-units"),
                                       ("ANSWER = None", None)]), encoding="utf-8")

SPEC = PartSpec(name=PART, notebook=str(_ASSIGNMENT), title="Adversarial corpus part",
                required_functions=("double", "grid"), assets=(), build_checks=lambda ctx: list(CHECKS))


def make_plan(limits: Limits = LIMITS) -> Plan:
    items = (Item("adv.double", PART, "double", 4.0, {"adv.double": 1.0}),
             Item("adv.grid", PART, "grid", 4.0, {"adv.grid": 1.0}),
             Item("adv.answer", PART, "answer", 2.0, {"adv.answer": 1.0}))
    rubric = Rubric("adversarial corpus", {PART: Part(PART, "practical", 10.0, items)}, limits,
                    "adversarial-corpus-rubric")
    return Plan(rubric, {PART: SPEC}, {PART: list(CHECKS)}, False, limits, fingerprint="adversarial-corpus")


# --- cases -------------------------------------------------------------------------------------

Maker = Callable[[Path, "Context"], None]


@dataclass
class Context:
    """What a case may need to know to attack: where the repo, the class and the results are."""

    class_dir: Path
    out_dir: Path
    port: int = 0  # a TCP port the grading process listens on (network isolation)


@dataclass
class Case:
    """One corpus entry.

    name:     also the submission's {Name}
    make:     writes the entry into the class folder (``entry(ctx)`` is its path)
    expect:   check id → (status, reason regex); checks not named must pass
    summary:  extra assertions on the execution summary (e.g. a cell timed out)
    notes:    regex that one of the submission's notes must match (intake problems)
    isolated: meaningful (or safe) only when kernels run in the bubblewrap sandbox: not run otherwise
    after:    checks made after grading (say, that nothing the case started is still running): problems
    why:      what it attacks / what it proves (one line)
    """

    name: str
    make: Maker
    why: str
    expect: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    summary: Callable[[ExecutionSummary | None], None] | None = None
    notes: str | None = None
    isolated: bool = False
    after: Callable[[Context], list[str]] | None = None
    index: int = 0

    @property
    def sub_id(self) -> str:
        return f"{90000000 + self.index}_{self.name}"

    def expected(self, check_id: str) -> tuple[str, str]:
        return self.expect.get(check_id, ("passed", ""))


def _folder(text_or_bytes: str | bytes, name: str = NOTEBOOK) -> Maker:
    def make(entry: Path, ctx: Context) -> None:
        entry.mkdir(parents=True)
        data = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
        (entry / name).write_bytes(data)
    return make


def _cells(*extra: str, at: int | None = None) -> Maker:
    return _folder(cells_notebook(reference_cells(extra, at=at)))


def _dynamic(build: Callable[[Context], list[tuple[str, str | None]]]) -> Maker:
    def make(entry: Path, ctx: Context) -> None:
        _folder(cells_notebook(build(ctx)))(entry, ctx)
    return make


def _all(status: str, reason: str) -> dict[str, tuple[str, str]]:
    return {c: (status, reason) for c in CHECK_IDS}


def _cell_status(position: int, status: str, ename: str = "", evalue: str = ""):
    """The submitted notebook's cell ``position`` (0-based) ended with ``status``."""
    def check(ex: ExecutionSummary | None) -> None:
        assert ex is not None, "the notebook was not executed"
        rec = next((c for c in ex.cells if c.index == position), None)
        assert rec is not None, f"no record of cell {position}: {ex.cells}"
        assert re.fullmatch(status, rec.status), f"cell {position}: {rec}"
        if ename:
            assert re.search(ename, rec.ename), f"cell {position}: {rec}"
        if evalue:
            assert re.search(evalue, rec.evalue), f"cell {position}: {rec}"
    return check


def _timed_out(ex: ExecutionSummary | None) -> None:
    assert ex is not None and ex.notebook_timed_out, ex


def _locked(*changes: str):
    def check(ex: ExecutionSummary | None) -> None:
        assert ex is not None
        assert tuple(ex.modified_locked_cells) == changes, ex.modified_locked_cells
    return check


def _died_in(cell_number: int):
    def check(ex: ExecutionSummary | None) -> None:
        assert ex is not None and ex.kernel_died_in_cell == cell_number, ex
    return check


def _unreadable(reason: str):
    def check(ex: ExecutionSummary | None) -> None:
        assert ex is not None and re.search(reason, ex.error), ex
    return check


# -- makers for the odd entries --

def _nbformat3(entry: Path, ctx: Context) -> None:
    cells = [{"cell_type": "code", "language": "python", "input": src, "outputs": [], "metadata": {}}
             for src, _ in reference_cells()]
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "adv"}, "worksheets": [{"cells": cells,
                                                                                            "metadata": {}}]}
    _folder(json.dumps(v3))(entry, ctx)


def _huge_notebook(entry: Path, ctx: Context) -> None:
    """A valid notebook of ~200 MB (a giant saved output), written in chunks."""
    entry.mkdir(parents=True)
    head = json.loads(cells_notebook(reference_cells()))
    head["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "@@BIG@@"}]
    before, after = json.dumps(head).split("@@BIG@@")
    with open(entry / NOTEBOOK, "w", encoding="utf-8") as fh:
        fh.write(before)
        chunk = "x" * (1 << 20)
        for _ in range(200):
            fh.write(chunk)
        fh.write(after)


def _zip(members: Mapping[str, bytes], *, compress: bool = True) -> Maker:
    def make(entry: Path, ctx: Context) -> None:
        method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        with zipfile.ZipFile(entry.with_suffix(".zip"), "w", method) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    return make


def _zip_bomb(entry: Path, ctx: Context) -> None:
    """300 MiB of zeros in a zip of about 300 kB."""
    with zipfile.ZipFile(entry.with_suffix(".zip"), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr(NOTEBOOK, cells_notebook(reference_cells()))
        with zf.open("bomb.ipynb", "w", force_zip64=True) as fh:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                fh.write(block)


def _symlink_passwd(entry: Path, ctx: Context) -> None:
    entry.mkdir(parents=True)
    (entry / NOTEBOOK).symlink_to("/etc/passwd")


def _forger_cells(ctx: Context) -> list[tuple[str, str | None]]:
    # the answer is wrong (0), and a thread keeps writing "passed" answers into every answer folder it
    # can find, and a fake result.json wherever results might go
    forger = f'''import os, threading, json, time, glob
ANSWER = 0
FORGED = {{"id": "answer", "ok": True, "value": 42, "type": "builtins.int", "observed": {{}}, "seconds": 0}}
def forge():
    while True:
        for folder in glob.glob(".hw4-*/out-*"):
            for n in range(3):
                try:
                    with open(os.path.join(folder, f"{{n}}.json"), "w") as fh:
                        json.dump(dict(FORGED, id=["double", "grid", "answer"][n]), fh)
                except OSError:
                    pass
        for target in [{str(ctx.out_dir)!r}, "..", "/tmp", os.path.expanduser("~")]:
            try:
                os.makedirs(os.path.join(target, "90000001_victim"), exist_ok=True)
                with open(os.path.join(target, "90000001_victim", "result.json"), "w") as fh:
                    fh.write('{{"total": 100}}')
            except OSError:
                pass
        time.sleep(0.0005)
threading.Thread(target=forge, daemon=True).start()'''
    cells = reference_cells()
    return cells[:3] + [(forger, None)]


def _reader_cells(ctx: Context) -> list[tuple[str, str | None]]:
    paths = [ROOT / "reference", ROOT / "graders", ROOT / "rubric.yaml", ctx.class_dir, ctx.out_dir,
             Path("..") / "reference"]
    probe = f'''import os
SEEN = {{}}
for p in {[str(p) for p in paths]!r}:
    try:
        SEEN[p] = os.listdir(p) if os.path.isdir(p) else open(p).read(100)
    except OSError:
        pass
try:
    import graders.pipeline
    SEEN["import graders"] = True
except Exception:
    pass
SEEN = {{k: v for k, v in SEEN.items() if v}}
ANSWER = 42 if not SEEN else -1'''
    cells = reference_cells()
    return cells[:3] + [(probe, None)]


def _network_cells(ctx: Context) -> list[tuple[str, str | None]]:
    probe = f'''import socket, os
REACHED = []
for host in ["127.0.0.1", "10.255.255.1"]:
    try:
        socket.create_connection((host, {ctx.port}), timeout=1).close()
        REACHED.append(host)
    except OSError:
        pass
ANSWER = 42 if not REACHED and "HW4_SECRET" not in os.environ else -1'''
    cells = reference_cells()
    return cells[:3] + [(probe, None)]


def _fake_probe(answer: str, *, setup: str = "") -> Maker:
    """The reference, then a cell that swaps the probe runtime for one whose ``run`` writes, for probe
    ``n`` (id ``pid``) into folder ``o``, what ``answer`` says — and records in ``W`` (name → sha256) what
    its ``digest()`` will claim. Everything a forger can do short of computing the right answer."""
    cell = f'''import sys, types, os, json, hashlib
W = {{}}
{setup}
def run(ns, i, o, idx):
    W.clear()
    with open(os.path.join(i, "probes.json")) as fh:
        plan = json.load(fh)
    for n in idx:
        pid = plan[n]["id"]
{textwrap.indent(answer, " " * 8)}
def digest():
    return ",".join(f"{{k}}={{v}}" for k, v in sorted(W.items()))
sys.modules["_hw4_probe"] = types.SimpleNamespace(run=run, digest=digest)'''
    return _cells(cell)


def _json_answer(value_expr: str) -> str:
    """The fake runtime's answer: ``{"id": pid, "ok": true, "value": <value_expr>}`` with a valid digest."""
    return (f"text = json.dumps({{'id': pid, 'ok': True, 'value': {value_expr}}}).encode()\n"
            "with open(os.path.join(o, f'{n}.json'), 'wb') as fh:\n"
            "    fh.write(text)\n"
            "W[f'{n}.json'] = hashlib.sha256(text).hexdigest()")


SPARSE_MB = 20
_SPARSE_SHA = hashlib.sha256(bytes(SPARSE_MB * 2**20)).hexdigest()
HARD_LINKS = ("big = os.path.join(o, f'{n}_1.npy')\n"
              f"with open(big, 'wb') as fh:\n    fh.truncate({SPARSE_MB} * 2**20)\n"
              "for k in range(2, 9):\n    os.link(big, os.path.join(o, f'{n}_{k}.npy'))\n"
              f"for k in range(1, 9):\n    W[f'{{n}}_{{k}}.npy'] = {_SPARSE_SHA!r}\n"
              + _json_answer("[{'$array': {'file': f'{n}_{k}.npy'}} for k in range(1, 9)]"))

RENAMER = '''import os, glob, re, threading, time
def meddle():
    """Rename every folder of the grader's answer area (and the area) and leave a file in its place."""
    end = time.time() + 120
    while time.time() < end:
        roots = set(glob.glob("/tmp/hw4-answers-*")) | set(glob.glob(".hw4-*"))
        try:
            for text in get_ipython().user_ns.get("In", [])[-3:]:
                roots.update(re.findall(r"(/[^'\\"]*hw4-answers-[^/'\\"]+)", text))
        except Exception:
            pass
        for root in roots:
            try:
                entries = [os.path.join(root, e) for e in os.listdir(root)]
            except OSError:
                entries = []
            for path in entries + [root]:
                try:
                    os.rename(path, path + ".moved")
                    with open(path, "w") as fh:
                        fh.write("not a folder")
                except OSError:
                    pass
        time.sleep(0.001)
threading.Thread(target=meddle, daemon=True).start()'''

#: writes into the folder of the kernel's connection file: 200 files of 1 MB, then one file up to the size
#: limit; ANSWER stays 42 only if not one byte could be written there
FILL_RUN_FOLDER = """import os
from ipykernel.connect import get_connection_file
run_folder = os.path.dirname(os.path.abspath(get_connection_file()))
written = 0
for n in range(200):
    try:
        with open(os.path.join(run_folder, f"fill{n}.bin"), "wb") as fh:
            written += fh.write(bytes(2**20))
    except OSError:
        pass
try:
    with open(os.path.join(run_folder, "big.bin"), "wb") as fh:
        for _ in range(128):
            written += fh.write(bytes(2**20))
except OSError:
    pass
try:
    with open(os.path.join(run_folder, "kernel.json"), "ab") as fh:
        written += fh.write(bytes(2**20))
except OSError:
    pass
ANSWER = 42 if written == 0 else -1"""
KILL = "import os\nos._exit(1)\n"
PLANTER = f'''import os, sys
v = f"{{sys.version_info[0]}}.{{sys.version_info[1]}}"
PLANTS = [os.path.join(os.environ.get("IPYTHONDIR", "."), "profile_default", "startup", "00-evil.py"),
          os.path.expanduser("~/.ipython/profile_default/startup/00-evil.py"),
          os.path.expanduser("~/.ipython/profile_default/ipython_kernel_config.py"),
          os.path.expanduser("~/.jupyter/jupyter_config.py"),
          ".ipython/profile_default/startup/00-evil.py", "ipykernel_launcher.py", "numpy.py", "json.py",
          "sitecustomize.py", "usercustomize.py", "ipython_kernel_config.py",
          os.path.expanduser(f"~/.local/lib/python{{v}}/site-packages/evil.pth"),
          f".local/lib/python{{v}}/site-packages/evil.pth"]
for path in PLANTS:
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as fh:
            fh.write({KILL!r} if not path.endswith(".pth") else "import os; os._exit(1)\\n")
    except OSError:
        pass'''

SLEEPER = '''import time
def double(x):
    time.sleep(35)
    return [SCALE * v for v in x]
def grid(rows, cols):
    time.sleep(35)
    return np.arange(rows * cols, dtype=np.float64).reshape(rows, cols)
class SlowAnswer(dict):
    """Reading it (as the grader's probe does) takes 35 s."""
    def __iter__(self):
        time.sleep(35)
        return super().__iter__()
    def items(self):
        time.sleep(35)
        return super().items()
ANSWER = SlowAnswer(value=42)'''


def _other_kernels_cells(ctx: Context) -> list[tuple[str, str | None]]:
    """Look for other kernels' connection files where the grader keeps them, and take over any found."""
    attack = '''import glob, json, os, threading, time
try:
    from ipykernel import get_connection_file
    MINE = os.path.realpath(get_connection_file())
except Exception:
    MINE = None
def connection_files():
    up = os.path.dirname(os.path.dirname(os.getcwd()))
    for pattern in ("/tmp/hw4-kernel-*/run-*/kernel.json", "/tmp/hw4-run-*/kernel.json",
                    os.path.join(up, "hw4-kernel-*", "run-*", "kernel.json"), os.path.join(up, "hw4-run-*", "kernel.json")):
        for path in glob.glob(pattern):
            if os.path.realpath(path) == MINE:
                continue
            try:
                with open(path) as fh:
                    yield path, json.load(fh)
            except (OSError, ValueError):
                pass
STOLEN = [path for path, _ in connection_files()]
def take_over():
    from jupyter_client import BlockingKernelClient
    done, end = set(), time.time() + 90
    while time.time() < end:
        for path, info in connection_files():
            if path in done:
                continue
            done.add(path)
            try:
                kc = BlockingKernelClient(connection_file=path)
                kc.load_connection_file()
                kc.start_channels()
                kc.execute("double = lambda x: []\\ngrid = lambda r, c: None\\nANSWER = -1")
            except Exception:
                pass
        time.sleep(0.2)
threading.Thread(target=take_over, daemon=True).start()
ANSWER = 42 if not STOLEN else -1'''
    cells = reference_cells()
    return cells[:3] + [(attack, None)]


#: every way to a kernel beside it (a warm one waiting for the next notebook, ``graders.kernel_pool``):
#: its connection file and key, its working folder, its processes; ``REACHED`` lists what worked
NEIGHBOUR_ATTACK = r'''
import glob, json, os, signal, tempfile
REACHED = []
me = os.getpid()
mine = {1}  # its sandbox's init
pid = me
while pid > 1:  # its own ancestors (its launcher, its sandbox) are not the neighbour
    mine.add(pid)
    try:
        with open(f"/proc/{pid}/stat") as fh:
            pid = int(fh.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        break
roots = {tempfile.gettempdir(), "/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~")}
for proc in glob.glob("/proc/[0-9]*"):
    for link in ("cwd", "root"):
        try:
            roots.add(os.readlink(f"{proc}/{link}"))
        except OSError:
            pass
    try:
        with open(f"{proc}/cmdline", "rb") as fh:
            for arg in fh.read().split(b"\0"):
                if arg.endswith(b".json") or b"hw4-" in arg:
                    roots.add(os.path.dirname(arg.decode(errors="replace")))
    except OSError:
        pass
for root in sorted(r for r in roots if r):
    for pattern in ("kernel*.json", "hw4-*/kernel*.json", "hw4-*/*/kernel*.json", "*/kernel*.json"):
        for path in glob.glob(os.path.join(root, pattern)):
            try:
                with open(path) as fh:
                    info = json.load(fh)
            except (OSError, ValueError):
                continue
            if info.get("key"):
                REACHED.append("read the key of " + path)
                try:
                    from jupyter_client import BlockingKernelClient
                    kc = BlockingKernelClient()
                    kc.load_connection_info(info)
                    kc.start_channels()
                    kc.execute("ANSWER = 42\ndef double(x):\n    return [2 * v for v in x]", reply=True, timeout=10)
                    REACHED.append("executed code in " + path)
                except Exception:
                    pass
    for pattern in ("hw4-kernel-*", "hw4-kernel-*/work", "hw4-kernel-*/*/work"):
        for folder in glob.glob(os.path.join(root, pattern)):
            if os.path.realpath(folder) == os.path.realpath(os.getcwd()):
                continue  # its own working folder
            try:
                with open(os.path.join(folder, "planted.txt"), "w") as fh:
                    fh.write("x" * 1_000_000)
                REACHED.append("wrote into " + folder)
            except OSError:
                pass
for proc in glob.glob("/proc/[0-9]*"):
    pid = int(proc.rsplit("/", 1)[1])
    if pid in mine:
        continue
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        try:
            os.kill(pid, sig)
            REACHED.append(f"sent signal {sig} to {pid}")
        except OSError:
            pass
'''


def _daemon_marker(ctx: Context) -> str:
    return f"hw4-adv-daemon-{hashlib.sha256(str(ctx.out_dir).encode()).hexdigest()[:16]}"


def _daemon_cells(ctx: Context) -> list[tuple[str, str | None]]:
    target = str(ctx.out_dir / "90000000_reference" / "result.json")
    daemon = f'''import os, time
end = time.time() + 120
while time.time() < end:
    for target in [{target!r}, os.path.join(os.path.dirname(os.getcwd()), "result.json")]:
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as fh:
                fh.write('{{"total": 100}}')
        except OSError:
            pass
    time.sleep(0.2)'''
    spawn = f'''import os, sys
child = os.fork()
if child == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", {daemon!r}, {_daemon_marker(ctx)!r}])
    finally:
        os._exit(0)
os.waitpid(child, 0)'''
    cells = reference_cells()
    return cells[:3] + [(spawn, None)] + cells[3:]


def _no_daemon_left(ctx: Context) -> list[str]:
    """After grading: no process of the case's double-forked daemon is alive (waits up to 30 s for it to go)."""
    marker = _daemon_marker(ctx).encode()
    deadline = time.monotonic() + 30
    while True:
        alive = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if marker in fh.read():
                        alive.append(pid)
            except OSError:
                pass
        if not alive or time.monotonic() > deadline:
            return [f"the notebook's daemon outlived its kernel: {alive}"] if alive else []
        time.sleep(0.2)


WRONG_DOUBLE = "def double(x):\n    return [3 * v for v in x]"

CASES: list[Case] = [
    # --- runaway code ---
    Case("infinite_loop", _cells("while True:\n    pass"), "a cell that never ends is interrupted; the rest runs",
         summary=_cell_status(2, "timeout", evalue="longer than 4 s")),
    Case("sleep_past_cell_limit", _cells("import time\ntime.sleep(1000)"), "sleeping is interrupted like looping",
         summary=_cell_status(2, "timeout")),
    Case("sleep_past_notebook_limit",
         _folder(cells_notebook([(SETUP, "adv-setup")] + [("import time\ntime.sleep(3)", None)] * 6
                                + reference_cells()[1:])),
         "every cell is under its limit but the notebook's 15 s budget runs out: later cells never run",
         expect={c: ("error", "ran out of its 15 s budget") for c in CHECK_IDS},
         summary=_timed_out),
    Case("ignores_interrupt",
         _cells("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
         "a loop that ignores the interrupt: the kernel is given up on",
         expect=_all("error", r"the kernel died in cell 3"), summary=_died_in(3)),
    Case("sleeps_in_every_check",
         _cells(SLEEPER, *["import time\ntime.sleep(1000)"] * 3, at=4),
         "every check sleeps 35 s before answering right (and the notebook spends 12 s on cells): the "
         "submission's 34 s budget covers the checks too, so the last checks end with that reason",
         expect={"adv.double": ("error", r"ran longer than the 8 s allowed|^grading stopped after 34 s"),
                 "adv.grid": ("error", r"ran longer than the 8 s allowed|^grading stopped after 34 s"),
                 "adv.answer": ("error", r"^grading stopped after 34 s: the submission used up its time budget$")},
         summary=_cell_status(5, "timeout")),
    Case("background_thread",
         _cells("import threading, time\ndef spin():\n    while True:\n        sum(range(1000))\n"
                "        print('still here')\n        time.sleep(0.001)\n"
                "threading.Thread(target=spin, daemon=True).start()"),
         "a thread that keeps running (and printing) after its cell does not disturb the checks"),
    Case("thread_changes_answer",
         _cells("import threading, time\ndef meddle():\n    while True:\n        globals()['ANSWER'] = 41\n"
                "        time.sleep(0.001)\nthreading.Thread(target=meddle, daemon=True).start()", at=4),
         "a thread that rewrites a global after its cell: graded on what the notebook really holds",
         expect={"adv.answer": ("failed", "wrong value")}),
    # --- the kernel dies ---
    Case("os_exit", _cells("import os\nos._exit(1)"), "os._exit in a cell: a clear 'kernel died' reason",
         expect=_all("error", r"the kernel died in cell 3, so nothing after it could be checked"),
         summary=_died_in(3)),
    Case("sys_exit", _cells("import sys\nsys.exit(3)"), "sys.exit is an error in that cell, not the end",
         summary=_cell_status(2, "error", ename="SystemExit")),
    Case("exit_builtin", _cells("exit()"), "IPython's exit() does not end grading"),
    Case("segfault", _cells("import ctypes\nctypes.string_at(0)"), "a segfault kills only this kernel",
         expect=_all("error", r"the kernel died in cell 3"), summary=_died_in(3)),
    Case("kill_in_check",
         _folder(cells_notebook(reference_cells()[:1] + [(SOLUTION + "\n\n\ndef double(x):\n    import os\n"
                                                          "    os._exit(7)", None)] + reference_cells()[2:])),
         "a function that kills the kernel when called costs only its own check (the kernel is restarted)",
         expect={"adv.double": ("error", "the kernel died while this check called your code")}),
    # --- resources ---
    Case("fork_bomb", _cells("import os\nwhile True:\n    os.fork()"),
         "a fork bomb hits the process limit (its own user id) and dies with the kernel",
         summary=_cell_status(2, "error|timeout", ename="BlockingIOError|OSError|CellTimeoutError"),
         isolated=os.geteuid() == 0 and not OWN_USER),  # root without a user of its own: no process limit
    Case("memory_bomb", _cells("hog = []\nwhile True:\n    hog.append(bytes(256 * 2**20))", "del hog"),
         "allocating without end hits the address-space limit: MemoryError, the kernel lives (the pages are "
         "never touched, so the limit trips at once however slow the machine)",
         summary=_cell_status(2, "error", ename="MemoryError")),
    Case("print_1gb", _cells("line = 'x' * 1_000_000\nfor _ in range(1000):\n    print(line)"),
         "1 GB of printed output is dropped in the kernel beyond 1 MB per cell; nothing floods the grader"),
    Case("iopub_flood", _cells(
        "ip = get_ipython()\nk = ip.kernel\nfor _ in range(3):\n"
        "    k.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': 'y' * 20_000_000},"
        " parent=k.get_parent())", at=4),
         "20 MB messages sent straight to the kernel's socket, around the output cap, are refused unread "
         "(that kernel's output channel stays closed; its answers still arrive)"),
    Case("big_file", _cells("with open('big.bin', 'wb') as fh:\n    fh.seek(200 * 2**20)\n    fh.write(b'0')"),
         "a file over the size limit cannot be written",
         summary=_cell_status(2, "error", ename="OSError", evalue="File too large")),
    # --- escaping the sandbox ---
    Case("reads_grader_files", _dynamic(_reader_cells),
         "the reference, the grader, the rubric, other students and the results are not visible",
         isolated=True),
    Case("network_and_secrets", _dynamic(_network_cells),
         "no network (not even the grader's loopback) and no hidden seed in the environment", isolated=True),
    Case("kills_parent",
         _cells("import os, signal\nif os.getpid() < 10:  # only inside a PID namespace\n"
                "    os.kill(os.getppid(), signal.SIGKILL)\n    os.kill(1, signal.SIGKILL)"),
         "signalling the sandbox's init from inside is refused",
         summary=_cell_status(2, "error", ename="PermissionError"), isolated=True),
    Case("forged_results", _dynamic(_forger_cells),
         "a thread overwriting answer files (and result.json files): a changed answer is detected and never "
         "passes; the results folder is out of reach",
         expect={"adv.double": ("passed|error", "^$|could not be verified"),
                 "adv.grid": ("passed|error", "^$|could not be verified"),
                 "adv.answer": ("failed|error", "wrong value|could not be verified")}, isolated=True),
    Case("writes_outside", _cells("open('../../escaped.txt', 'w').write('x')"),
         "the working folder is the only writable place", summary=_cell_status(2, "error", ename="Error"),
         isolated=True),
    Case("reads_other_kernels", _dynamic(_other_kernels_cells),
         "looks for other kernels' connection files (and keeps trying, to rewrite their functions): none is "
         "readable, and in a batch its neighbours' results are untouched", isolated=not OWN_USER),
    Case("reaches_for_warm_neighbour", _cells(NEIGHBOUR_ATTACK + "\nANSWER = 42 if not REACHED else -1", at=4),
         "reads every connection file it can find (to run code in the warm kernel waiting for the next "
         "notebook), writes into other kernels' folders, signals every process it sees: it reaches none",
         isolated=not OWN_USER),
    Case("daemon_outlives_kernel", _dynamic(_daemon_cells),
         "a double-forked setsid daemon that keeps writing result.json files dies with its kernel; no result "
         "changes (a kernel running as the grader's user could write results while alive: not run then)",
         after=_no_daemon_left, isolated=not OWN_USER),
    Case("fills_working_folder",
         _cells("n = 0\nwhile True:\n    with open(f'fill{n}.bin', 'wb') as fh:\n        fh.write(bytes(32 * 2**20))\n"
                "    n += 1"),
         "files written until the disk is full: the working folder is a 96 MB tmpfs, the cell says the quota "
         "was exceeded, and the answers still reach the grader",
         summary=_cell_status(2, "error", ename="OSError",
                              evalue=r"^disk quota exceeded \(the working folder is limited to 96 MB\)"),
         isolated=True),
    Case("fills_run_folder", _cells(FILL_RUN_FOLDER, at=4),
         "many 1 MB files and one big file written into the kernel's run folder (where its connection file "
         "is, on the host's disk): once the kernel is up the folder is the grader's, and nothing lands there",
         # a kernel without a user id of its own owns its run folder (README: limited per file only)
         expect={} if OWN_USER else {"adv.answer": ("failed", "wrong value")}),
    # --- forging answers, breaking the grader's folders ---
    Case("fifo_answers", _fake_probe("os.mkfifo(os.path.join(o, f'{n}.json'))\nW[f'{n}.json'] = '0' * 64"),
         "answer files that are FIFOs no one writes to: refused without blocking the grader",
         expect=_all("error", "could not be verified")),
    Case("hardlinked_sparse_answers", _fake_probe(HARD_LINKS),
         f"each answer names one sparse {SPARSE_MB} MB file under 8 hard-linked names, with valid digests: the "
         "grader reads at most 64 MB per check, counting every name",
         expect=_all("failed", "the answers of this check are larger than the 64 MB the grader reads")),
    Case("forged_malformed_tags",
         _fake_probe(_json_answer("[{'$figure': 'x'}, {'$dataframe': {'columns': 1}}, {'$graph': {'nodes': 5}}][n]")),
         "answers with valid digests whose tags are malformed ({'$figure': 'x'}…): a reason per check, the "
         "rest of the submission graded", expect=_all("error|failed", "could not be read")),
    Case("renames_answer_folder", _cells(RENAMER),
         "a thread renames the grader's answer folders and leaves files in their place: it cannot (they are the "
         "grader's) or, where it can, it costs only the checks it hit",
         expect={} if OWN_USER else _all("passed|error",
                                         "^$|interfered with the grader's answer folder|could not be verified")),
    Case("startup_file_then_kill",
         _folder(cells_notebook(reference_cells()[:1] + [(SOLUTION + "\n\n\ndef double(x):\n    import os\n"
                                                          "    os._exit(7)", None), (PLANTER, None)]
                                + reference_cells()[2:])),
         "IPython startup files, ipykernel_launcher.py, numpy.py, .pth files… that kill Python, then a check that "
         "kills the kernel: the restarted kernel runs none of them",
         expect={"adv.double": ("error", "the kernel died while this check called your code")}),
    # --- tampering with the probe ---
    Case("patches_json",
         _cells("import json\njson.dumps = lambda *a, **k: '{\"ok\": true}'\n"
                "json.JSONEncoder.encode = lambda self, o: '{}'\njson.loads = lambda *a, **k: {}"),
         "monkeypatching json before the probe changes nothing"),
    Case("patches_numpy_save",
         _cells("import numpy\nnumpy.save = lambda *a, **k: None\n"
                "numpy.lib.format.write_array = lambda *a, **k: None\n"
                "numpy.ascontiguousarray = lambda a, *x, **k: numpy.zeros(3)"),
         "monkeypatching numpy.save and friends changes nothing"),
    Case("patches_torch_allclose",
         _folder(cells_notebook(reference_cells(
             ["import torch, numpy\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
              "numpy.allclose = lambda *a, **k: True\nnumpy.isclose = lambda *a, **k: True\n" + WRONG_DOUBLE]))),
         "comparisons happen in the grader: patching torch/numpy comparisons does not pass a wrong answer",
         expect={"adv.double": ("failed", r"1 of 2 value\(s\) differ|2 of 2 value\(s\) differ")}),
    Case("patches_builtins",
         _cells("import builtins\nbuiltins.sorted = lambda *a, **k: []\nbuiltins.repr = lambda o: 'forged'\n"
                "builtins.sum = builtins.abs = builtins.round = lambda *a, **k: 0\nbuiltins.hex = lambda n: '0x0'"),
         "patched builtins do not reach the probe (it keeps its own copy)"),
    Case("breaks_ipython", _cells("import builtins\nbuiltins.len = lambda o: 0"),
         "a patch that breaks the kernel itself costs this notebook its checks, with a reason",
         expect=_all("error", r"the kernel died in cell 3"), summary=_died_in(3)),
    Case("shadows_builtins",
         _cells("list = [1, 2]\ndict = {}\ntype = 'x'\nlen = 3\nmax = 5\nstr = 'abc'\nisinstance = None\n"
                "open = print\nid = 7\nrange = 0"),
         "an innocent notebook naming variables list, dict, type, len… is graded normally"),
    Case("deletes_probe_module", _cells("import sys\ndel sys.modules['_hw4_probe']"),
         "removing the probe runtime: the grader puts it back"),
    Case("fake_probe_module",
         _cells("import sys, types, json, os\ndef run(ns, i, o, idx):\n    for n in idx:\n"
                "        json.dump({'id': 'someone-else', 'ok': True, 'value': 42}, open(os.path.join(o, f'{n}.json'), 'w'))\n"
                "sys.modules['_hw4_probe'] = types.SimpleNamespace(run=run)"),
         "a fake probe runtime: what it writes does not match what the grader asked the kernel for",
         expect=_all("error", "could not be verified")),
    Case("fake_grader_output",
         _cells("print('[1/1] 90000000_fake: 10/10  (0 s elapsed)')\nprint('adv.double PASSED')",
                "raise RuntimeError('SCORE 10/10\\n\\x1b[32mALL PASSED\\x1b[0m')"),
         "text imitating the grader is just output; an error message is shown on one line, escapes removed",
         summary=_cell_status(3, "error", ename="RuntimeError", evalue=r"^SCORE 10/10 ALL PASSED$")),
    # --- provided cells ---
    Case("modified_provided_cell",
         _folder(cells_notebook([("import numpy as np\nSCALE = 3", "adv-setup")] + reference_cells()[1:])),
         "a changed provided cell is reported and the original runs (SCALE stays 2)",
         summary=_locked("adv-setup")),
    Case("deleted_provided_cells",
         _folder(cells_notebook([c for c in reference_cells() if not c[1]])),
         "deleted provided cells are reported and put back",
         summary=_locked("adv-setup (deleted)", "adv-units (deleted)")),
    Case("reordered_provided_cells",
         _folder(cells_notebook([(UNITS, "adv-units"), (SETUP, "adv-setup")] + [reference_cells()[1]]
                                + [reference_cells()[3]])),
         "provided cells moved out of order are put back in order",
         summary=_locked("adv-setup (moved)", "adv-units (moved)")),
    # --- broken files ---
    Case("invalid_json", _folder('{"cells": [ {"cell_type": "code", '), "not JSON: a reason, no crash",
         expect=_all("error", "is not a valid notebook"), summary=_unreadable("is not a valid notebook")),
    Case("nbformat3", _nbformat3, "an nbformat 3 notebook is converted and graded"),
    Case("empty_file", _folder(b""), "an empty file", expect=_all("error", "is empty"),
         summary=_unreadable("is empty")),
    Case("notebook_200mb", _huge_notebook, "a 200 MB notebook is refused unread",
         expect=_all("error", r"is 200 MB; notebooks over 50 MB are not graded"),
         summary=_unreadable("200 MB")),
    Case("non_utf8", _folder(cells_notebook(reference_cells(["s = 'caf\u00e9'"])).encode("utf-8").replace(
        "caf\u00e9".encode(), "caf\u00e9".encode("latin-1"))), "Latin-1 bytes in the file",
         expect=_all("error", "is not UTF-8"), summary=_unreadable("not UTF-8")),
    Case("zip_slip", _zip({"../../evil.ipynb": cells_notebook(reference_cells()).encode(),
                           NOTEBOOK: cells_notebook(reference_cells()).encode()}),
         "a zip with ../ paths is refused whole", expect=_all("error", "no notebook for adv was submitted"),
         notes="zip slip"),
    Case("zip_bomb", _zip_bomb, "a zip that unpacks to 300 MiB is refused",
         expect=_all("error", "no notebook for adv was submitted"), notes="zip bomb"),
    Case("symlink_to_passwd", _symlink_passwd, "a notebook that is a symlink to /etc/passwd is not read",
         expect=_all("error", "no notebook for adv was submitted"), notes="symbolic link"),
    # --- wrong answers of every shape ---
    Case("missing_function", _folder(cells_notebook([reference_cells()[0]] + [
        ("def grid(rows, cols):\n    return np.arange(rows * cols, dtype=np.float64).reshape(rows, cols)", None)]
        + reference_cells()[2:])),
         "double is not defined", expect={"adv.double": ("failed", "name 'double' is not defined")}),
    Case("renamed_function", _folder(cells_notebook([reference_cells()[0], (SOLUTION.replace(
        "def double", "def Double"), None)] + reference_cells()[2:])),
         "Double is not double", expect={"adv.double": ("failed", "name 'double' is not defined")}),
    Case("wrong_signature", _cells("def double(x, y):\n    return x"),
         "a different signature fails with the TypeError",
         expect={"adv.double": ("failed", r"raised TypeError: .*missing 1 required positional argument")}),
    Case("not_a_function", _cells("double = [2.0, 5.0]"), "a list where a function should be",
         expect={"adv.double": ("failed", "is a list, not a function")}),
    Case("nan_result", _cells("def double(x):\n    return [float('nan')] * len(x)"), "NaN never passes",
         expect={"adv.double": ("failed", "contains NaN")}),
    Case("inf_result", _cells("def double(x):\n    return [float('inf')] * len(x)"), "inf never passes",
         expect={"adv.double": ("failed", "contains inf")}),
    Case("wrong_dtype", _cells("def grid(rows, cols):\n    return np.arange(rows * cols).reshape(rows, cols)"),
         "an int64 array where float64 is required",
         expect={"adv.grid": ("failed", "expected dtype float64, got int64")}),
    Case("lying_subclass", _cells(
        "class Liar(np.ndarray):\n    @property\n    def shape(self):\n        return (100, 50)\n"
        "def grid(rows, cols):\n    return np.arange(rows * cols, dtype=np.float64).view(Liar)"),
         "an ndarray subclass that claims the right shape is read as what it is",
         expect={"adv.grid": ("failed", r"expected shape \(100, 50\), got \(5000,\)")}),
    Case("gigantic_list", _cells("def double(x):\n    return [0.0] * 50_000_000"),
         "a 50-million-element list is refused in the kernel",
         expect={"adv.double": ("failed", "more than 2,000,000 items")}),
    Case("gigantic_array", _cells("def grid(rows, cols):\n    return np.zeros(30_000_000)"),
         "a 30-million-element array is refused in the kernel",
         expect={"adv.grid": ("failed", "more than 20,000,000 elements")}),
    Case("deep_nesting", _cells("def double(x):\n    v = []\n    for _ in range(5000):\n        v = [v]\n"
                                "    return v"),
         "a list nested 5000 deep", expect={"adv.double": ("failed", "nested deeper than 60 levels")}),
    Case("huge_string", _cells("ANSWER = 'x' * 10_000_000", at=4),
         "a 10-million-character answer", expect={"adv.answer": ("failed", "longer than 1,000,000 characters")}),
    Case("blank_notebook", _folder(_ASSIGNMENT.read_text(encoding="utf-8")),
         "the unsolved assignment scores 0, with the stubs' messages",
         expect={"adv.double": ("failed", "double is not implemented yet"),
                 "adv.grid": ("failed", "grid is not implemented yet"),
                 "adv.answer": ("failed", "should return an int, got None")}),
]
for _i, _case in enumerate(CASES, start=2):
    _case.index = _i
assert len({c.name for c in CASES}) == len(CASES)

GOOD = Case("reference", _cells(), "the reference solution: full marks")
GOOD.index = 0
GOOD_TWIN = Case("reference_twin", _cells(), "another correct student in the same batch")
GOOD_TWIN.index = 1


# --- running ---------------------------------------------------------------------------------

def build_class(cases: Sequence[Case], class_dir: Path, ctx: Context) -> None:
    class_dir.mkdir(parents=True, exist_ok=True)
    for case in cases:
        case.make(class_dir / case.sub_id, ctx)


def scan(class_dir: Path, unpack_to: Path):
    return scan_submissions([class_dir], {PART: SPEC}, unpack_to=unpack_to)


def problems(case: Case, result: SubmissionResult, isolated: bool = True, ctx: Context | None = None) -> list[str]:
    """Every way ``result`` differs from what ``case`` expects (empty: as expected).

    ``ctx``: the class it was graded in; when given, the case's ``after`` checks run too.
    """
    out = []
    if case.isolated and not isolated:
        return out
    checks = {c.id: c for it in result.items for c in it.checks}
    for cid in CHECK_IDS:
        status, reason = case.expected(cid)
        got = checks.get(cid)
        if got is None:
            out.append(f"{cid}: no result")
            continue
        if not re.fullmatch(status, got.status) or (reason and not re.search(reason, got.reason)):
            out.append(f"{cid}: expected {status} /{reason}/, got {got.status}: {got.reason!r}")
    points = {"adv.double": 4.0, "adv.grid": 4.0, "adv.answer": 2.0}
    sure = sum(points[c] for c in CHECK_IDS if case.expected(c)[0] == "passed")
    maybe = sum(points[c] for c in CHECK_IDS if case.expected(c)[0] != "passed"
                and re.fullmatch(case.expected(c)[0], "passed"))
    if not sure - 1e-9 <= result.total <= sure + maybe + 1e-9:
        out.append(f"total {result.total}, expected {sure}" + (f" to {sure + maybe}" if maybe else ""))
    if case.notes and not any(re.search(case.notes, n) for n in result.notes):
        out.append(f"no note matching /{case.notes}/ in {list(result.notes)}")
    if case.summary is not None:
        part = result.parts.get(PART)
        try:
            case.summary(part.execution if part else None)
        except AssertionError as exc:
            out.append(f"execution summary: {exc}")
    if case.after is not None and ctx is not None:
        out += case.after(ctx)
    return out


def comparable(result: SubmissionResult) -> dict:
    """A result without what legitimately varies between runs (times)."""
    from graders.results import to_jsonable

    data = to_jsonable(result)
    data.pop("created_at", None)
    for part in data.get("parts", {}).values():
        ex = part.get("execution")
        if ex:
            ex.pop("seconds", None)
            for cell in ex.get("cells", []):
                cell.pop("seconds", None)
    return data


def listen_port() -> tuple[object, int]:
    """A TCP socket listening on the grader's loopback (to prove the kernel cannot reach it)."""
    import socket

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    return srv, srv.getsockname()[1]


def env_with_seed() -> dict[str, str]:
    return {**os.environ, "HW4_SECRET": "987654321"}
