"""Execute one student notebook with nbclient, then run the grader's probes in the same kernel.

One kernel per notebook, always shut down (``setup_kernel`` is a context manager), confined by
``graders.sandbox`` (bubblewrap when available, resource limits always). The kernel name is
forced to python3, every cell has an explicit timeout, errors are recorded and later cells
still run, the whole notebook has a wall-clock budget, and output kept per cell is capped.
A timeout, a dead kernel or an unreadable notebook becomes data in ``ExecutionSummary`` and
reasons on the affected probes — never an exception out of ``run_notebook``.

Order in the kernel: the probe runtime (kernel_side.py) is installed first, then the student's
cells run (with the provided cells restored, see ``graders.locked``), then the grader writes the
probe inputs and runs one cell per check. If the kernel dies during a check, it is restarted (up
to ``limits.restarts`` times), the student's cells run again, and the remaining checks go on; the
check that killed it fails with that reason.

What a notebook cannot do to its own result: each check writes its answers into a folder that
is created, with a random name, just before that check's cell runs; the cell's execute reply
carries (as a user expression, on the shell channel, not through a file) the sha256 of every
file the probe runtime wrote; the grader then reads each file once and keeps it only if it
matches — so a file forged or changed by the notebook (a background thread, say) fails that
check with "could not be verified" instead of being read as an answer. A check whose cell timed
out, errored or killed the kernel gets that reason, whatever files exist. Everything read is
validated by ``graders.probe.transport`` (ids, types, sizes); nothing a kernel prints is parsed.
Oversized output messages are not parsed (``_CappedSession``), and a client socket refuses
messages over 16 MB and queues at most 32, so a flooding kernel cannot exhaust the grader.
"""
from __future__ import annotations

import dataclasses
import math
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import nbformat
import zmq
import zmq.asyncio
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets import default

from graders import assets_dir
from graders import sandbox as _sandbox
from graders.checks.base import Check
from graders.locked import ProvidedCells, restore
from graders.probe import spec as probe_spec
from graders.probe.transport import Outcome, one_line, parse_digests, read_one, snapshot
from graders.results import CellRecord, ExecutionSummary
from graders.rubric import Limits
from graders.sandbox import kernel_env, kernel_prefix, kernel_uid

KERNEL_SIDE = (Path(__file__).parent / "probe" / "kernel_side.py").read_text(encoding="utf-8")
#: the probe runtime runs in private globals whose builtins are a copy taken before student code
RUNTIME_CELL = (f"exec(compile({KERNEL_SIDE!r}, '<hw4-probe-runtime>', 'exec'), "
                "{'__name__': '_hw4_probe_runtime', '__builtins__': __import__('builtins').__dict__.copy(), "
                "'_HW4_USER_NS': globals()})")
RUNTIME_MISSING = "hw4: the probe runtime is missing"
#: evaluated by the kernel right after a probe cell, answered in its execute_reply (not through a file)
DIGEST_EXPRESSION = {"hw4": "__import__('sys').modules['_hw4_probe'].digest()"}
UNVERIFIED = ("the answer could not be verified: the notebook interfered with the grader's probe "
              "(its files no longer match what the probe wrote)")
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
#: seconds to wait, after a cell's reply, for the rest of its output
IOPUB_TIMEOUT = 4


class NotebookUnreadable(Exception):
    """The file is not a notebook we can run (bad JSON, wrong format, too large…)."""


class KernelStartFailed(RuntimeError):
    """A kernel did not start (it died before answering, or timed out) before any student code ran.

    A problem of the grading machine or its limits, not of the submission: it is raised (the
    batch reports it and writes no result, so a rerun retries) rather than recorded as a grade.
    """


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read any nbformat version as v4, outputs dropped; raise ``NotebookUnreadable`` with a reason."""
    path = Path(path)
    if path.is_symlink():
        raise NotebookUnreadable(f"{path.name} is a symbolic link; submit the notebook file itself")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotebookUnreadable(f"cannot open {path.name}: {exc.strerror}") from None
    if not path.is_file():
        raise NotebookUnreadable(f"{path.name} is not a regular file")
    if size == 0:
        raise NotebookUnreadable(f"{path.name} is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookUnreadable(f"{path.name} is {size / 2**20:.0f} MB; notebooks over "
                                 f"{MAX_NOTEBOOK_BYTES // 2**20} MB are not graded (clear the outputs)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookUnreadable(f"{path.name} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise NotebookUnreadable(f"cannot read {path.name}: {exc.strerror}") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises NotJSONError, ValidationError, KeyError…
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise NotebookUnreadable(f"{path.name} is not a valid notebook: {first}") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookUnreadable(f"{path.name} has no cells")
    for cell in nb.cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("source", ""), str):
            raise NotebookUnreadable(f"{path.name} has a malformed cell")
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return nb


class _CappedClient(NotebookClient):
    """nbclient that keeps at most ``output_chars`` characters of output per cell."""

    output_chars = 20_000

    def output(self, outs, msg, display_id, cell_index):
        used = sum(_output_size(o) for o in outs)
        if used >= self.output_chars:
            if not any(o.get("name") == "hw4-truncated" for o in outs):
                outs.append(nbformat.v4.new_output("stream", name="hw4-truncated",
                                                   text="[output truncated by the grader]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _output_size(out) -> int:
    if out.get("output_type") == "stream":
        return len(out.get("text", ""))
    data = out.get("data") or {}
    return sum(len(v) if isinstance(v, str) else 1000 for v in data.values()) + len(str(out.get("traceback", "")))


#: an output message larger than this is replaced by a short note before it is parsed
MAX_OUTPUT_MESSAGE = 1 * 2**20
#: no message from a kernel may be larger (zmq drops the connection), nor may more than this many
#: wait unread in the grader: a kernel that floods its output cannot exhaust the grader's memory
MAX_MESSAGE = 16 * 2**20
MAX_QUEUED_MESSAGES = 32
_OUTPUT_TYPES = {"stream", "display_data", "update_display_data", "execute_result", "error"}


class _CappedSession(Session):
    """A jupyter Session that does not parse oversized output messages (it checks their signature),
    and turns a malformed message from a kernel into one that belongs to nothing (so it is ignored)."""

    def deserialize(self, msg_list, content=True, copy=True):
        try:
            if content and len(msg_list) >= 5 and any(len(part) > MAX_OUTPUT_MESSAGE for part in msg_list[4:]):
                message = super().deserialize(msg_list, content=False, copy=copy)
                if message.get("msg_type") in _OUTPUT_TYPES:
                    message["content"] = _dropped(message["msg_type"])
                    message["buffers"] = []
                    return message
            message = super().deserialize(msg_list, content=content, copy=copy)
            if not isinstance(message.get("content"), dict) or not isinstance(message.get("parent_header"), dict):
                raise ValueError("malformed message")
            return message
        except Exception:  # a kernel whose json or session was tampered with: nothing here to act on
            header = {"msg_id": "", "msg_type": "hw4_malformed", "session": "", "username": "", "date": None,
                      "version": "5.3"}
            return {"header": header, "msg_id": "", "msg_type": "hw4_malformed", "parent_header": {},
                    "metadata": {}, "content": {}, "buffers": []}


def _dropped(msg_type: str) -> dict:
    note = "[an output message over 1 MB was dropped by the grader]"
    if msg_type == "stream":
        return {"name": "stdout", "text": note + "\n"}
    if msg_type == "error":
        return {"ename": "OutputTooLarge", "evalue": note, "traceback": []}
    out = {"data": {"text/plain": note}, "metadata": {}, "transient": {}}
    if msg_type == "execute_result":
        out["execution_count"] = None
    return out


class _LimitedKernelManager(AsyncKernelManager):
    """Prepends the sandbox to the kernel command; hands the connection file to the kernel's user.

    Its session skips oversized outputs and its clients' sockets cap message size and queue length.
    """

    prefix: list[str] = []
    #: user id of a sandboxed kernel started by root (the connection file must be readable by it)
    owner: int | None = None
    #: interrupt with an ``interrupt_request`` message (a signal to the process group would hit
    #: bubblewrap, not the kernel inside it)
    interrupt_by_message = False

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None and self.interrupt_by_message:
            spec.interrupt_mode = "message"
        return spec

    @default("session")
    def _capped_session(self):
        return _CappedSession(parent=self)

    def client(self, **kwargs):
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.RCVHWM, MAX_QUEUED_MESSAGES)
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        kwargs.setdefault("context", context)
        return super().client(**kwargs)

    def format_kernel_cmd(self, extra_arguments=None):
        if self.owner is not None and self.connection_file and os.path.exists(self.connection_file):
            os.chown(self.connection_file, self.owner, self.owner)
        return list(self.prefix) + super().format_kernel_cmd(extra_arguments)


@dataclass
class NotebookRun:
    summary: ExecutionSummary
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def prepare_workdir(assets: Sequence[str], root: Path | None = None,
                    overrides: Mapping[str, Path] | None = None) -> Path:
    """A fresh folder with copies of the assets the notebook needs (never the reference).

    ``overrides`` maps an asset path to a file that replaces it (e.g. a TA's real dataset).
    """
    workdir = Path(tempfile.mkdtemp(prefix="hw4-kernel-", dir=root))
    source = assets_dir()
    for rel in assets:
        src = Path((overrides or {}).get(rel) or source / rel)
        dst = workdir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.is_file():
            shutil.copy2(src, dst)
    return workdir


def _give(path: Path, uid: int | None) -> None:
    """Make ``path`` (recursively) belong to a sandboxed kernel's user, so it can write there."""
    if uid is None:
        return
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
            except OSError:
                pass


class _Kernel:
    """One kernel session, confined, with the probe runtime installed."""

    def __init__(self, nb, workdir: Path, limits: Limits, *, box: _sandbox.Sandbox, readonly: Sequence[Path] = (),
                 cpu_seconds: int = 0):
        self.limits = limits
        self.workdir = workdir
        self.rundir = Path(tempfile.mkdtemp(prefix="hw4-run-"))
        self.uid = kernel_uid(box)
        _give(self.workdir, self.uid)
        _give(self.rundir, self.uid)
        km = _LimitedKernelManager(kernel_name="python3", transport="ipc", ip=str(self.rundir / "k"),
                                   connection_file=str(self.rundir / "kernel.json"))
        km.prefix = kernel_prefix(limits, sandbox=box, workdir=workdir, rundir=self.rundir, readonly=readonly,
                                  uid=self.uid, cpu_seconds=cpu_seconds)
        km.owner = self.uid
        km.interrupt_by_message = box.isolated
        self.client = _CappedClient(
            nb, km=km, kernel_name="python3", timeout=int(limits.cell_timeout), allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=120, iopub_timeout=IOPUB_TIMEOUT,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell ran out of time", "traceback": []},
            resources={"metadata": {"path": str(workdir)}}, record_timing=False, shutdown_kernel="immediate",
        )
        self.client.output_chars = limits.output_chars
        self.client.on_cell_executed = self._executed
        self.env = kernel_env(workdir)
        #: user_expressions sent with the next cells (the probe cells ask for the answers' digests)
        self.user_expressions: dict[str, str] | None = None
        self.last_reply: dict | None = None

    def _executed(self, cell=None, cell_index=None, execute_reply=None, **_):
        self.last_reply = execute_reply

    def __enter__(self):
        # the kernel's own stdout/stderr (below Python's sys.stdout) go nowhere near the grader's terminal
        self._cm = self.client.setup_kernel(env=self.env, cleanup_kc=True,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._cm.__enter__()
        except (RuntimeError, TimeoutError, OSError) as exc:
            self._cleanup()
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise KernelStartFailed(first) from None
        except BaseException:
            self._cleanup()
            raise
        kc = self.client.kc
        execute = kc.execute

        def execute_with_expressions(code, *args, **kwargs):
            if self.user_expressions is not None:
                kwargs["user_expressions"] = dict(self.user_expressions)
            return execute(code, *args, **kwargs)

        kc.execute = execute_with_expressions
        return self

    def digests(self) -> dict[str, str] | None:
        """The files the probe runtime says the last probe cell wrote (None: no trustworthy answer)."""
        try:
            found = self.last_reply["content"]["user_expressions"]["hw4"]
            text = found["data"]["text/plain"] if found.get("status") == "ok" else None
        except (TypeError, KeyError, AttributeError):
            return None
        if not isinstance(text, str) or len(text) < 2 or text[0] != "'" or text[-1] != "'":
            return None
        return parse_digests(text[1:-1])

    def __exit__(self, *exc):
        try:
            self._cm.__exit__(*exc)
        except Exception:
            pass
        self._cleanup()
        return False

    def _cleanup(self) -> None:
        try:  # make sure nothing is left running
            if self.client.km is not None and self.client.km.has_kernel:
                run_sync(self.client.km.shutdown_kernel)(now=True)
        except Exception:
            pass
        shutil.rmtree(self.rundir, ignore_errors=True)

    def give(self, path: Path) -> None:
        _give(path, self.uid)

    def install_runtime(self) -> bool:
        """Send the probe runtime; False if it could not be installed."""
        cell = nbformat.v4.new_code_cell(RUNTIME_CELL)
        self.client.nb.cells.append(cell)
        try:
            return self.run_cell(cell, len(self.client.nb.cells) - 1, 120).status == "ok"
        finally:
            self.client.nb.cells.pop()

    def run_cell(self, cell, index: int, timeout: float) -> CellRecord:
        """Execute one cell; raises DeadKernelError if the kernel dies."""
        self.client.timeout = max(1, int(math.ceil(timeout)))
        self.last_reply = None
        start = time.monotonic()
        try:
            self.client.execute_cell(cell, index)
        except CellTimeoutError:
            return CellRecord(index, "timeout", "CellTimeoutError", f"ran longer than {timeout:.0f} s",
                              time.monotonic() - start)
        seconds = time.monotonic() - start
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if seconds >= self.client.timeout and (not errors or errors[-1].get("ename") in
                                               ("KeyboardInterrupt", "CellTimeoutError")):
            return CellRecord(index, "timeout", "CellTimeoutError", f"ran longer than {timeout:.0f} s", seconds)
        if errors:
            err = errors[-1]
            return CellRecord(index, "error", one_line(err.get("ename", ""), 200), one_line(err.get("evalue", ""), 500),
                              seconds)
        return CellRecord(index, "ok", seconds=seconds)

    def responsive(self) -> bool:
        """After a timeout: does the kernel answer a trivial cell within a few seconds?"""
        probe = nbformat.v4.new_code_cell("pass")
        self.client.nb.cells.append(probe)
        try:
            rec = self.run_cell(probe, len(self.client.nb.cells) - 1, 5)
            return rec.status == "ok"
        except DeadKernelError:
            return False
        finally:
            self.client.nb.cells.pop()


def run_notebook(path: Path, checks: Sequence[Check], *, assets: Sequence[str] = (), limits: Limits = Limits(),
                 workroot: Path | None = None, keep_workdir: bool = False,
                 provided: ProvidedCells | None = None,
                 overrides: Mapping[str, Path] | None = None, deadline: float | None = None) -> NotebookRun:
    """Execute the notebook at ``path`` and answer the probes of ``checks``.

    ``deadline``: ``time.monotonic()`` value by which the submission's whole wall budget
    (``limits.submission_timeout``: every notebook's cells and every check's calls) runs out.

    ``provided``: the part's provided (locked) cells; changed ones are reported and the originals
    run instead (see ``graders.locked``). Raises only ``KernelStartFailed`` (no kernel could be
    started at all); anything the notebook does becomes data.
    """
    name = Path(path).name
    started = time.monotonic()
    probes = [p for c in checks for p in c.probes]
    try:
        nb = read_notebook(path)
    except NotebookUnreadable as exc:
        reason = f"the notebook could not be read: {exc}"
        return NotebookRun(ExecutionSummary(name, error=str(exc)),
                           {p.id: Outcome(p.id, False, error_type="NoAnswer", message=reason) for p in probes})
    cells, origins, changed = restore(list(nb.cells), provided)
    box = _sandbox.current()
    workdir = prepare_workdir(assets, workroot, overrides)
    (workdir / ".tmp").mkdir(exist_ok=True)
    try:
        run = _run(nb, cells, origins, checks, probes, workdir, limits, name, started, box,
                   [workdir / a for a in assets])
        run.summary = dataclasses.replace(run.summary, modified_locked_cells=changed)
        return run
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _cpu_seconds(limits: Limits, checks: Sequence[Check]) -> int:
    """CPU time one kernel may use: its whole wall-clock budget and then some (a runaway backstop)."""
    wall = limits.notebook_timeout + sum(c.timeout or limits.probe_timeout for c in checks) + 120
    return int(wall * 1.5)


def _untouched(folder: Path) -> bool:
    """The answer folder is still the real folder the grader made (not swapped for a link)."""
    return not folder.is_symlink() and folder.is_dir()


def _probe_cell(in_dir: Path, out_dir: Path, indices: list[int]) -> str:
    return ("import sys as _hw4_sys\n"
            "_hw4 = _hw4_sys.modules.get('_hw4_probe')\n"
            "del _hw4_sys\n"
            f"if _hw4 is None:\n    raise RuntimeError({RUNTIME_MISSING!r})\n"
            f"_hw4.run(None, {str(in_dir)!r}, {str(out_dir)!r}, {indices!r})\n"
            "del _hw4")


def _run(nb, student_cells, origins, checks, probes, workdir, limits, name, started, box, readonly) -> NotebookRun:
    hw4 = workdir / f".hw4-{secrets.token_hex(8)}"
    in_dir = hw4 / f"in-{secrets.token_hex(8)}"
    index_of = {p.id: n for n, p in enumerate(probes)}
    outcomes: dict[str, Outcome] = {}
    cells: list[CellRecord] = []
    died_in: int | None = None
    timed_out = False
    pending = list(checks)
    attempt = 0
    cpu = _cpu_seconds(limits, checks)
    inputs_written = False
    while True:
        attempt += 1
        nb.cells = list(student_cells)
        with _Kernel(nb, workdir, limits, box=box, readonly=readonly, cpu_seconds=cpu) as kernel:
            # 1. the probe runtime, before any student code can touch os/numpy/builtins
            try:
                kernel.install_runtime()
            except DeadKernelError:
                pass
            # 2. the student's cells
            records, died_in, timed_out = _run_student_cells(kernel, student_cells, origins, limits, started)
            if attempt == 1:
                cells = records
            if died_in is not None or not pending:
                break
            # 3. the probes, one cell per check, each answering into a fresh folder read right after
            if not inputs_written:
                probe_spec.write_inputs(in_dir, probes)
                inputs_written = True
            died_during = None
            while pending:
                check = pending.pop(0)
                indices = [index_of[p.id] for p in check.probes]
                if not indices:
                    continue
                timeout = check.timeout or limits.probe_timeout
                reason, rec, reinstalled = None, None, False
                while True:
                    out_dir = hw4 / f"out-{secrets.token_hex(8)}"
                    out_dir.mkdir(parents=True)
                    kernel.give(out_dir)
                    cell = nbformat.v4.new_code_cell(_probe_cell(in_dir, out_dir, indices))
                    nb.cells.append(cell)
                    kernel.user_expressions = DIGEST_EXPRESSION
                    kernel.client.iopub_timeout = 1  # a probe cell's output is not needed
                    try:
                        rec = kernel.run_cell(cell, len(nb.cells) - 1, timeout)
                    except DeadKernelError:
                        reason = "the kernel died while this check called your code"
                        died_during = check
                        break
                    finally:
                        kernel.user_expressions = None
                        kernel.client.iopub_timeout = IOPUB_TIMEOUT
                    if (rec.status == "error" and rec.evalue == RUNTIME_MISSING and not reinstalled
                            and kernel.install_runtime()):
                        reinstalled = True  # the notebook removed the probe runtime: put it back, once
                        continue
                    break
                if rec is not None and rec.status == "timeout":
                    reason = f"your code ran longer than the {timeout:.0f} s allowed for this check"
                    if not kernel.responsive():
                        died_during = check
                elif rec is not None and rec.status == "error":
                    reason = (f"the check could not run ({rec.ename}: {rec.evalue})" if rec.evalue != RUNTIME_MISSING
                              else "the notebook removed the grader's probe runtime (_hw4_probe), so it could "
                                   "not be checked")
                digests = kernel.digests() if rec is not None and rec.status == "ok" and _untouched(out_dir) else None
                files, changed = snapshot(out_dir, digests) if digests is not None else ({}, set())
                for p in check.probes:
                    n = index_of[p.id]
                    if digests is not None and n not in changed:
                        outcomes[p.id] = read_one(out_dir, n, p.id, reason, files=files)
                    elif rec is not None and rec.status == "ok":
                        outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=UNVERIFIED)
                    else:
                        outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=reason or "no answer")
                shutil.rmtree(out_dir, ignore_errors=True)
                if died_during is not None:
                    break
        if died_during is None or attempt > limits.restarts or not pending:
            break
    if died_in is not None:
        reason = f"the kernel died in cell {died_in + 1}, so nothing after it could be checked"
    elif timed_out:
        reason = f"the notebook ran out of its {limits.notebook_timeout:.0f} s budget before this check"
    else:
        reason = "not checked: the kernel had to be restarted too often"
    for p in probes:
        missing = outcomes.get(p.id)
        if missing is None or (timed_out and died_in is None and missing.error_type == "NameError"):
            # a name the notebook never got to define because its time ran out: say so
            outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=reason)
    summary = ExecutionSummary(
        notebook=name, seconds=round(time.monotonic() - started, 3),
        cells_run=sum(1 for c in cells if c.status != "not-run"),
        cells_failed=sum(1 for c in cells if c.status in ("error", "timeout")),
        kernel_died_in_cell=None if died_in is None else died_in + 1,
        notebook_timed_out=timed_out, cells=tuple(cells),
    )
    return NotebookRun(summary, outcomes)


def _run_student_cells(kernel: _Kernel, cells, origins, limits: Limits, started: float):
    """Run the cells; records and "died in" use the cell's index in the submitted notebook."""
    records: list[CellRecord] = []
    died_in = None
    timed_out = False
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or not cell.get("source", "").strip():
            continue
        shown = origins[i] if origins[i] is not None else next(
            (o for o in origins[i + 1:] if o is not None), len([o for o in origins if o is not None]))
        remaining = limits.notebook_timeout - (time.monotonic() - started)
        if died_in is not None or timed_out or remaining <= 0:
            timed_out = timed_out or (died_in is None and remaining <= 0)
            records.append(CellRecord(shown, "not-run"))
            continue
        try:
            rec = kernel.run_cell(cell, i, min(limits.cell_timeout, remaining))
        except DeadKernelError:
            died_in = shown
            records.append(CellRecord(shown, "error", "DeadKernelError", "the kernel died"))
            continue
        if origins[i] is None and rec.status != "ok":
            rec = CellRecord(shown, rec.status, rec.ename, f"in a provided cell that was put back: {rec.evalue}",
                             rec.seconds)
        else:
            rec = CellRecord(shown, rec.status, rec.ename, rec.evalue, rec.seconds)
        records.append(rec)
        if rec.status == "timeout" and not kernel.responsive():
            died_in = shown
    return records, died_in, timed_out
