"""Execute one student notebook with nbclient, then run the grader's probes in the same kernel.

One kernel per notebook, always shut down (``_Kernel`` is a context manager), confined by
``graders.sandbox`` (bubblewrap when available, resource limits always, a user id of its own when
the grader is root). The kernel name is forced to python3 and its Python runs with ``-P -s`` (no
module from its working folder, no user site) and a fresh, grader-owned HOME/IPython/Jupyter
folder per start (no startup or config file the notebook wrote can run). Every cell has an explicit
timeout, errors are recorded and later cells still run, the whole notebook has a wall-clock budget,
and output kept per cell is capped. A timeout, a dead kernel, an unreadable notebook or anything
else the notebook does becomes data in ``ExecutionSummary`` and reasons on the affected probes —
never an exception out of ``run_notebook`` (only ``KernelStartFailed``, a machine problem).

Time: every cell gets min(its cell timeout, the notebook's budget left, the submission's budget
left) and every check min(its timeout, the submission's budget left), the submission's budget
being ``deadline`` (``limits.submission_timeout`` for all its notebooks' cells and checks). Once it
has passed, later cells are "not-run" and every check not yet answered says "grading stopped after
N s: the submission used up its time budget".

Order in the kernel: the probe runtime (kernel_side.py) is installed first, then the student's
cells run (with the provided cells restored, see ``graders.locked``), then one cell per check. If
the kernel dies or stops answering during a check, it is restarted (in a fresh kernel with a fresh
HOME), the student's cells run again, and the remaining checks go on; the check that killed it
fails with that reason, the functions it called are not called again (their remaining checks fail
"… hung in an earlier check"), and a restart that fails costs the remaining checks. The restart
budget (``limits.restarts``) is per function, so one function that hangs every fresh kernel costs
only its own checks.

What a notebook cannot do to its own result: the probe inputs and each check's answer folder live
in a grader-owned area outside the working folder (``graders.probe.folders``); each check writes
into a fresh folder made just before its cell and taken back after it; a folder renamed or
replaced costs that check ("interfered with the grader's answer folder") and the next one gets a
fresh folder. The cell's execute reply carries (as a user expression, on the shell channel, not
through a file) the sha256 of every file the probe runtime wrote; the grader reads each file once
(regular files only, never blocking, bytes capped per check and per submission: ``ReadBudget``)
and keeps it only if it matches — so a file forged or changed by the notebook fails that check
with "could not be verified". Everything read is validated by ``graders.probe.transport``;
nothing a kernel prints is parsed. Oversized output messages are not parsed (``_CappedSession``),
and a client socket refuses messages over 16 MB and queues at most 32, so a flooding kernel
cannot exhaust the grader.
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import signal
import stat
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
from graders.probe.folders import INTERFERED_FOLDER, AnswerArea, AnswerFolder
from graders.probe.transport import (HUNG_EARLIER, INTERFERED, Outcome, ReadBudget, one_line, parse_digests,
                                    read_answers)
from graders.results import CellRecord, ExecutionSummary
from graders.reference_helpers import helpers_json
from graders.rubric import Limits
from graders.sandbox import KernelPaths, kernel_env, kernel_prefix, kernel_user, make_home

KERNEL_SIDE = (Path(__file__).parent / "probe" / "kernel_side.py").read_text(encoding="utf-8")
#: the probe runtime runs in private globals whose builtins are a copy taken before student code
RUNTIME_CELL = (f"exec(compile({KERNEL_SIDE!r}, '<hw4-probe-runtime>', 'exec'), "
                "{'__name__': '_hw4_probe_runtime', '__builtins__': __import__('builtins').__dict__.copy(), "
                "'_HW4_USER_NS': globals()})")
RUNTIME_MISSING = "hw4: the probe runtime is missing"
#: evaluated by the kernel right after a probe cell, answered in its execute_reply (not through a file)
DIGEST_EXPRESSION = {"hw4": "__import__('sys').modules['_hw4_probe'].digest()"}
UNVERIFIED = INTERFERED
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
            os.chmod(self.connection_file, 0o600)
        cmd = super().format_kernel_cmd(extra_arguments)
        if len(cmd) > 2 and cmd[1] == "-m":
            # -P: no module from the working folder (say, a planted ipykernel_launcher.py or numpy.py)
            # is imported before the probe runtime; -s: no user site-packages (nor its .pth files)
            cmd = [cmd[0], "-P", "-s", *cmd[1:]]
        return list(self.prefix) + cmd


@dataclass
class NotebookRun:
    summary: ExecutionSummary
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    #: check id → its outcomes when rerun with the reference's helpers (error carried forward)
    carried: dict[str, dict[str, Outcome]] = field(default_factory=dict)


def prepare_workdir(assets: Sequence[str], root: Path | None = None,
                    overrides: Mapping[str, Path] | None = None) -> Path:
    """A fresh folder with copies of the assets the notebook needs (never the reference).

    Used when kernels run without bubblewrap (under bubblewrap the assets are bound read-only
    into a tmpfs instead). ``overrides`` maps an asset path to a file that replaces it (e.g. a
    TA's real dataset).
    """
    workdir = Path(tempfile.mkdtemp(prefix="hw4-kernel-", dir=root))
    for rel, src in _asset_sources(assets, overrides):
        dst = workdir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.is_file():
            shutil.copy2(src, dst)
    return workdir


def _asset_sources(assets: Sequence[str], overrides: Mapping[str, Path] | None) -> list[tuple[str, Path]]:
    source = assets_dir()
    return [(rel, Path((overrides or {}).get(rel) or source / rel)) for rel in assets]


def _readable_by_all(path: Path) -> bool:
    """Every file under ``path`` is world-readable and every folder world-searchable."""
    def ok(p: str, folder: bool) -> bool:
        mode = os.stat(p).st_mode
        return bool(mode & stat.S_IROTH) and (not folder or bool(mode & stat.S_IXOTH))
    try:
        if not path.is_dir():
            return ok(str(path), False)
        for root, dirs, files in os.walk(path):
            if not ok(root, True) or not all(ok(os.path.join(root, f), False) for f in files):
                return False
        return True
    except OSError:
        return False


def _give(path: Path, uid: int | None) -> None:
    """Make ``path`` (recursively) belong to a kernel's own user, so it can write there."""
    if uid is None:
        return
    os.chown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)
            except OSError:
                pass


class _Clock:
    """The notebook's and the submission's wall-clock budgets."""

    def __init__(self, limits: Limits, deadline: float | None):
        self.started = time.monotonic()
        self.deadline = deadline if deadline is not None else self.started + limits.submission_timeout
        self.notebook_timeout = limits.notebook_timeout
        self.stopped = ("grading stopped after {:.0f} s: the submission used up its time budget"
                        .format(limits.submission_timeout))

    def left(self) -> float:
        """Seconds left of the submission's budget."""
        return self.deadline - time.monotonic()

    def spent(self) -> bool:
        return self.left() <= 0

    def notebook_left(self) -> float:
        return self.notebook_timeout - (time.monotonic() - self.started)


class _Kernel:
    """One kernel session, confined, with the probe runtime installed; ``with`` starts and stops it."""

    def __init__(self, nb, paths: KernelPaths, limits: Limits, *, box: _sandbox.Sandbox, uid: int | None,
                 cpu_seconds: int = 0, startup_timeout: float = 120):
        self.limits = limits
        self.paths = paths
        self.uid = uid
        km = _LimitedKernelManager(kernel_name="python3", transport="ipc", ip=str(paths.rundir / "k"),
                                   connection_file=str(paths.rundir / "kernel.json"))
        km.prefix = kernel_prefix(limits, sandbox=box, paths=paths if box.isolated else None, uid=uid,
                                  cpu_seconds=cpu_seconds)
        km.owner = uid
        km.interrupt_by_message = box.isolated
        self.client = _CappedClient(
            nb, km=km, kernel_name="python3", timeout=int(limits.cell_timeout), allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=max(1, int(startup_timeout)), iopub_timeout=IOPUB_TIMEOUT,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell ran out of time", "traceback": []},
            resources={"metadata": {"path": str(paths.workdir)}}, record_timing=False, shutdown_kernel="immediate",
        )
        self.client.output_chars = limits.output_chars
        self.client.on_cell_executed = self._executed
        self.env = kernel_env(paths.workdir, home=paths.home)
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
            self._stop_tree()
            self._stop()
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise KernelStartFailed(first) from None
        except BaseException:
            self._stop_tree()
            self._stop()
            raise
        self._seal_run_folder()
        kc = self.client.kc
        execute = kc.execute

        def execute_with_expressions(code, *args, **kwargs):
            if self.user_expressions is not None:
                kwargs["user_expressions"] = dict(self.user_expressions)
            return execute(code, *args, **kwargs)

        kc.execute = execute_with_expressions
        return self

    def _seal_run_folder(self) -> None:
        """Once the kernel is up (its sockets bound, its connection file read, no student line run yet),
        its run folder and connection file go back to the grader: the kernel keeps its sockets but can
        no longer create or grow a file there, on the host's disk. Possible only when the kernel has a
        user id of its own; otherwise the run folder is the kernel's (limited by ``file_size_mb`` per file)."""
        if self.uid is None:
            return
        connection = self.paths.rundir / "kernel.json"
        if connection.exists():
            os.chown(connection, os.geteuid(), os.getegid())
        os.chown(self.paths.rundir, os.geteuid(), os.getegid())
        os.chmod(self.paths.rundir, 0o711)

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
        self._stop_tree()
        try:
            self._cm.__exit__(*exc)
        except Exception:
            pass
        self._stop()
        return False

    def _stop_tree(self) -> None:
        """Ask the guard to kill everything below it — the kernel and whatever it started, orphans it
        adopted included (a double-forked daemon) — before jupyter_client kills the guard itself."""
        process = getattr(getattr(self.client.km, "provisioner", None), "process", None)
        if process is None or process.poll() is not None:
            return
        try:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def _stop(self) -> None:
        try:  # make sure nothing is left running
            if self.client.km is not None and self.client.km.has_kernel:
                run_sync(self.client.km.shutdown_kernel)(now=True)
        except Exception:
            pass

    def install_runtime(self, timeout: float = 120) -> bool:
        """Send the probe runtime; False if it could not be installed."""
        cell = nbformat.v4.new_code_cell(RUNTIME_CELL)
        self.client.nb.cells.append(cell)
        try:
            return self.run_cell(cell, len(self.client.nb.cells) - 1, timeout).status == "ok"
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
                 overrides: Mapping[str, Path] | None = None, deadline: float | None = None,
                 read_budget: ReadBudget | None = None, reference: str | None = None) -> NotebookRun:
    """Execute the notebook at ``path`` and answer the probes of ``checks``.

    ``reference``: the source of the part's reference module; a failed check that ``depends`` on
    other graded functions is then rerun with the reference's versions of them (``NotebookRun.carried``).

    ``deadline``: ``time.monotonic()`` value by which the submission's whole wall budget
    (``limits.submission_timeout``: every notebook's cells and every check's calls) runs out;
    default: ``limits.submission_timeout`` from now. ``read_budget``: the bytes of answers the
    grader still reads for this submission (shared by its notebooks; default: a fresh budget).

    ``provided``: the part's provided (locked) cells; changed ones are reported and the originals
    run instead (see ``graders.locked``). Raises only ``KernelStartFailed`` (the first kernel could
    not be started at all); anything the notebook does becomes data.
    """
    name = Path(path).name
    clock = _Clock(limits, deadline)
    probes = [p for c in checks for p in c.probes]
    if len({p.id for p in probes}) != len(probes):
        raise ValueError("duplicate probe ids among the checks of one notebook")
    try:
        nb = read_notebook(path)
    except NotebookUnreadable as exc:
        reason = f"the notebook could not be read: {exc}"
        return NotebookRun(ExecutionSummary(name, error=str(exc)),
                           {p.id: Outcome(p.id, False, error_type="NoAnswer", message=reason) for p in probes})
    cells, origins, changed = restore(list(nb.cells), provided)
    if clock.spent():  # an earlier notebook of the submission used up its time
        run = NotebookRun(_summary(name, clock, _not_run(cells, origins), None, True),
                          {p.id: Outcome(p.id, False, error_type="NoAnswer", message=clock.stopped) for p in probes})
        run.summary = dataclasses.replace(run.summary, modified_locked_cells=changed)
        return run
    box = _sandbox.current()
    with kernel_user(box) as uid, _Folders(box, uid, assets, overrides, workroot, keep_workdir) as folders:
        run = _run(nb, cells, origins, checks, probes, folders, limits, name, clock, box,
                   read_budget if read_budget is not None else ReadBudget(), reference)
    run.summary = dataclasses.replace(run.summary, modified_locked_cells=changed)
    return run


class _Folders:
    """A notebook's folders: its working folder, its answer area, and a run folder and HOME per kernel start.

    All in a grader-owned folder (``root:<kernel group>`` 0710 when the kernel has a user of its
    own); under bubblewrap the working folder is only a mount point for the kernel's tmpfs and the
    assets are bound into it read-only, otherwise it is a host folder with copies of them.
    """

    def __init__(self, box, uid, assets, overrides, workroot, keep_workdir):
        self.box, self.uid, self.keep_workdir = box, uid, keep_workdir
        self.base = Path(tempfile.mkdtemp(prefix="hw4-kernel-", dir=workroot))
        self.area: AnswerArea | None = None
        try:
            if uid is not None:
                os.chown(self.base, -1, uid)
                os.chmod(self.base, 0o710)
            self.assets: tuple[tuple[Path, str], ...] = ()
            if box.isolated:
                self.workdir = self.base / "work"
                self.workdir.mkdir()
                self.assets = tuple(self._bindable(src, rel) for rel, src in _asset_sources(assets, overrides))
            else:
                self.workdir = prepare_workdir(assets, self.base, overrides)
                (self.workdir / ".tmp").mkdir(exist_ok=True)
                _give(self.workdir, uid)
            self.area = AnswerArea(workroot, uid)
        except BaseException:
            self.__exit__()
            raise

    def _bindable(self, src: Path, rel: str) -> tuple[Path, str]:
        """Bind the asset itself, or (when the kernel's own user could not read it) a copy it owns."""
        if self.uid is None or not src.exists() or _readable_by_all(src):
            return src, rel
        copy = self.base / "assets" / rel
        copy.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, copy)
        else:
            shutil.copy2(src, copy)
        _give(copy, self.uid)
        return copy, rel

    def for_kernel(self) -> KernelPaths:
        """Fresh run folder and HOME for one kernel start.

        The run folder is directly in the system's temporary folder, not in ``base``: its socket paths
        must stay under the 107 characters a Unix socket path may have.
        """
        rundir = Path(tempfile.mkdtemp(prefix="hw4-run-"))
        if self.uid is not None:
            os.chown(rundir, self.uid, self.uid)
        return KernelPaths(self.workdir, rundir, make_home(self.base, self.uid), self.area.path, self.assets)

    def done_with(self, paths: KernelPaths) -> None:
        """After a kernel ended: none of its processes is left, and its run folder and HOME go."""
        if self.uid is not None:
            _sandbox.kill_user(self.uid)
        shutil.rmtree(paths.rundir, ignore_errors=True)
        shutil.rmtree(paths.home, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.area is not None:
            self.area.close()
        if self.keep_workdir and not self.box.isolated:
            for entry in self.base.iterdir():
                if entry != self.workdir:
                    shutil.rmtree(entry, ignore_errors=True)
        else:
            shutil.rmtree(self.base, ignore_errors=True)
        return False


def _not_run(cells, origins) -> list[CellRecord]:
    return [CellRecord(_shown(origins, i), "not-run") for i, c in enumerate(cells)
            if c.get("cell_type") == "code" and c.get("source", "").strip()]


def _shown(origins, i: int) -> int:
    """The index a cell is reported under: its index in the submitted notebook."""
    return origins[i] if origins[i] is not None else next(
        (o for o in origins[i + 1:] if o is not None), len([o for o in origins if o is not None]))


def _summary(name, clock, cells, died_in, timed_out) -> ExecutionSummary:
    return ExecutionSummary(
        notebook=name, seconds=round(time.monotonic() - clock.started, 3),
        cells_run=sum(1 for c in cells if c.status != "not-run"),
        cells_failed=sum(1 for c in cells if c.status in ("error", "timeout")),
        kernel_died_in_cell=None if died_in is None else died_in + 1,
        notebook_timed_out=timed_out, cells=tuple(cells),
    )


def _cpu_seconds(limits: Limits, checks: Sequence[Check]) -> int:
    """CPU time one kernel may use: its whole wall-clock budget and then some (a runaway backstop)."""
    wall = limits.notebook_timeout + sum(c.timeout or limits.probe_timeout for c in checks) + 120
    return int(wall * 1.5)


def _probe_cell(folder: Path, indices: list[int], bind: tuple[str, ...] = ()) -> str:
    extra = f", {tuple(bind)!r}" if bind else ""  # only a rerun with reference helpers binds any
    return ("import sys as _hw4_sys\n"
            "_hw4 = _hw4_sys.modules.get('_hw4_probe')\n"
            "del _hw4_sys\n"
            f"if _hw4 is None:\n    raise RuntimeError({RUNTIME_MISSING!r})\n"
            f"_hw4.run(None, {str(folder)!r}, {str(folder)!r}, {indices!r}{extra})\n"
            "del _hw4")


ENOSPC_TEXT = "No space left on device"


def _disk_note(text: str, limits: Limits, box: _sandbox.Sandbox) -> str:
    """A full tmpfs working folder said as what it is (only bubblewrap gives the kernel its own disk)."""
    if box.isolated and ENOSPC_TEXT in text:
        return f"disk quota exceeded (the working folder is limited to {limits.disk_mb} MB): {text}"
    return text


def _run(nb, student_cells, origins, checks, probes, folders: _Folders, limits, name, clock: _Clock, box,
         budget: ReadBudget, reference: str | None) -> NotebookRun:
    outcomes: dict[str, Outcome] = {}
    carried: dict[str, dict[str, Outcome]] = {}
    cells: list[CellRecord] = []
    died_in: int | None = None
    cut: str | None = None  # what stopped the student's cells: "notebook" or "submission" budget
    restart_failed = ""
    pending = list(checks)
    attempt = 0
    blocked: dict[str, str] = {}  # function → what it did to a kernel; it is not called again
    deaths: dict[str, int] = {}   # function ("" for a check that calls none) → kernels it killed or hung
    cpu = _cpu_seconds(limits, checks)
    while True:
        attempt += 1
        nb.cells = list(student_cells)
        paths = folders.for_kernel()
        kernel = _Kernel(nb, paths, limits, box=box, uid=folders.uid, cpu_seconds=cpu,
                         startup_timeout=120 if attempt == 1 else min(120, max(5, clock.left())))
        try:
            kernel.__enter__()
        except KernelStartFailed as exc:
            folders.done_with(paths)
            if attempt == 1:
                raise
            restart_failed = str(exc)
            break
        try:
            # 1. the probe runtime, before any student code can touch os/numpy/builtins
            try:
                kernel.install_runtime(min(120, max(1, clock.left())))
            except DeadKernelError:
                pass
            # 2. the student's cells
            records, died_in, cut = _run_student_cells(kernel, student_cells, origins, limits, clock, box)
            if attempt == 1:
                cells = records
            if died_in is not None or not pending:
                break
            # 3. the probes, one cell per check, each answering into a fresh folder read right after
            died_during = _run_checks(kernel, pending, folders.area, outcomes, limits, clock, box, budget,
                                      blocked=blocked)
            if died_during is None and reference is not None:
                # 4. last, so nothing the notebook did with the reference can reach a later check's reason
                carried = _carry_forward(kernel, checks, outcomes, folders.area, reference, limits, clock, box, budget,
                                         blocked)
        finally:
            kernel.__exit__(None, None, None)
            folders.done_with(paths)
        if died_during is None or clock.spent():
            break
        # the functions that killed or hung this kernel are not called again; each may cost a restart
        check, what = died_during
        charged = _calls(check) or ("",)
        for function in charged:
            deaths[function] = deaths.get(function, 0) + 1
            if function:
                blocked[function] = what
        _skip_blocked(pending, blocked, outcomes)
        if not pending or any(deaths[f] > limits.restarts for f in charged):
            break
    if died_in is not None:
        reason = f"the kernel died in cell {died_in + 1}, so nothing after it could be checked"
    elif clock.spent():
        reason = clock.stopped
    elif restart_failed:
        reason = f"the kernel could not be restarted ({one_line(restart_failed, 200)}), so this check could not run"
    elif cut == "notebook":
        reason = f"the notebook ran out of its {limits.notebook_timeout:.0f} s budget before this check"
    else:
        reason = f"not checked: the kernel was restarted as often as allowed ({limits.restarts} time(s) per function)"
    cut_reason = clock.stopped if cut == "submission" else (
        f"the notebook ran out of its {limits.notebook_timeout:.0f} s budget before this check")
    for p in probes:
        found = outcomes.get(p.id)
        if found is None:
            outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=reason)
        elif cut and died_in is None and found.error_type == "NameError":
            # a name the notebook never got to define because its time ran out: say so
            outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=cut_reason)
    return NotebookRun(_summary(name, clock, cells, died_in, cut is not None), outcomes, carried)


def _carry_forward(kernel: _Kernel, checks, outcomes, area: AnswerArea, reference: str, limits: Limits,
                   clock: _Clock, box, budget: ReadBudget, blocked: Mapping[str, str]) -> dict[str, dict[str, Outcome]]:
    """Error carried forward: rerun each failed check that ``depends`` on the student's other graded
    functions with the reference's versions of those bound (not one whose own function hung a kernel
    before); check id → the rerun's outcomes."""
    failed = [c for c in checks if c.depends and _fails(c, outcomes) and not any(f in blocked for f in _calls(c))]
    again: dict[str, Outcome] = {}
    _run_checks(kernel, list(failed), area, again, limits, clock, box, budget, reference)
    return {c.id: {p.id: again[p.id] for p in c.probes} for c in failed if all(p.id in again for p in c.probes)}


def _fails(check: Check, outcomes) -> bool:
    """The check is failed for its own answers (not ungradable, not a grader error)."""
    if any(p.id not in outcomes for p in check.probes):
        return False
    result = check.result(outcomes)
    return result.status == "failed"


def _calls(check: Check) -> tuple[str, ...]:
    """The notebook's functions a check calls."""
    return tuple(dict.fromkeys(p.target for p in check.probes if p.call))


def _skip_blocked(pending: list, blocked: Mapping[str, str], outcomes) -> None:
    """Remove from ``pending`` the checks that call a function that killed or hung a kernel before;
    each fails with that reason (the function is the student's, its checks are not ungradable)."""
    for check in [c for c in pending if any(f in blocked for f in _calls(c))]:
        pending.remove(check)
        function = next(f for f in _calls(check) if f in blocked)
        for p in check.probes:
            outcomes[p.id] = Outcome(p.id, False, error_type=HUNG_EARLIER,
                                     message=f"not checked: `{function}` {blocked[function]} in an earlier check, "
                                             f"so it is not called again")


def _run_checks(kernel: _Kernel, pending: list, area: AnswerArea, outcomes, limits: Limits,
                clock: _Clock, box, budget: ReadBudget, reference: str | None = None,
                blocked: Mapping[str, str] | None = None):
    """Answer the ``pending`` checks in order (removing each); returns ``(check, what it did)`` for the
    check during which the kernel died or stopped answering ("killed the kernel", "hung"), if any.

    Each check's cell gets a folder holding the inputs of that check's probes only (numbered from 0).
    With ``reference`` (the source of the part's reference module) each check runs with the
    reference's versions of the functions it ``depends`` on (error carried forward), and with
    nothing else of the reference (``graders.reference_helpers``).
    """
    while pending:
        if clock.spent():
            return None
        if blocked:
            _skip_blocked(pending, blocked, outcomes)
            if not pending:
                return None
        check = pending.pop(0)
        if not check.probes:
            continue
        inputs = probe_spec.encode_inputs(list(check.probes))
        bind = tuple(check.depends) if reference is not None else ()
        if bind:  # those helpers alone, each cut out of the reference: never the module or its file
            inputs["helpers.json"] = helpers_json(reference, bind)
        indices = list(range(len(check.probes)))
        index_of = {p.id: n for n, p in enumerate(check.probes)}
        own = check.timeout or limits.probe_timeout
        timeout = min(own, clock.left())
        reason, rec, reinstalled, folder, died = None, None, False, None, ""
        while True:
            try:
                folder = area.new_answer_folder(inputs)
            except OSError:
                folder, reason = None, INTERFERED_FOLDER
                break
            cell = nbformat.v4.new_code_cell(_probe_cell(folder.path, indices, bind))
            kernel.client.nb.cells.append(cell)
            kernel.user_expressions = DIGEST_EXPRESSION
            kernel.client.iopub_timeout = 1  # a probe cell's output is not needed
            try:
                rec = kernel.run_cell(cell, len(kernel.client.nb.cells) - 1, timeout)
            except DeadKernelError:
                reason, died = "the kernel died while this check called your code", "killed the kernel"
                break
            finally:
                kernel.user_expressions = None
                kernel.client.iopub_timeout = IOPUB_TIMEOUT
            if (rec.status == "error" and rec.evalue == RUNTIME_MISSING and not reinstalled
                    and kernel.install_runtime(min(120, max(1, clock.left())))):
                reinstalled = True  # the notebook removed the probe runtime: put it back, once
                folder.remove()
                continue
            break
        if rec is not None and rec.status == "timeout":
            if timeout < own:
                reason = clock.stopped
            else:
                reason = f"your code ran longer than the {own:.0f} s allowed for this check"
                died = "" if kernel.responsive() else "hung"
        intact = folder.take_back() if folder is not None else False
        if reason is None and not intact:
            reason = INTERFERED_FOLDER
        if reason is None and rec is not None and rec.status == "error":
            reason = (f"the check could not run ({rec.ename}: {rec.evalue})" if rec.evalue != RUNTIME_MISSING
                      else "the notebook removed the grader's probe runtime (_hw4_probe), so it could not be checked")
        _read(check, folder, kernel, reason, index_of, outcomes, limits, box, budget)
        if folder is not None:
            folder.remove()
        if died:
            return check, died
    return None


def _read(check, folder: AnswerFolder | None, kernel: _Kernel, reason, index_of, outcomes, limits, box,
          budget: ReadBudget) -> None:
    """One check's outcomes: its verified answers, or ``reason`` for each of its probes."""
    digests = kernel.digests() if reason is None else None
    if reason is None and digests is None:
        reason = UNVERIFIED
    if reason is not None:
        for p in check.probes:
            outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=reason)
        return
    found = read_answers(folder.fd, digests, {index_of[p.id]: p.id for p in check.probes}, budget)
    for probe_id, outcome in found.items():
        if not outcome.ok and ENOSPC_TEXT in outcome.message:
            outcome = dataclasses.replace(outcome, message=_disk_note(outcome.message, limits, box))
        outcomes[probe_id] = outcome


def _run_student_cells(kernel: _Kernel, cells, origins, limits: Limits, clock: _Clock, box):
    """Run the cells; records and "died in" use the cell's index in the submitted notebook.

    Returns (records, died in, what cut the cells short: "notebook", "submission" or None).
    """
    records: list[CellRecord] = []
    died_in = None
    cut = None
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or not cell.get("source", "").strip():
            continue
        shown = _shown(origins, i)
        if died_in is None and cut is None:
            if clock.notebook_left() <= 0:
                cut = "notebook"
            elif clock.spent():
                cut = "submission"
        if died_in is not None or cut is not None:
            records.append(CellRecord(shown, "not-run"))
            continue
        allowed = min(limits.cell_timeout, clock.notebook_left())
        timeout = min(allowed, clock.left())
        try:
            rec = kernel.run_cell(cell, i, timeout)
        except DeadKernelError:
            died_in = shown
            records.append(CellRecord(shown, "error", "DeadKernelError", "the kernel died"))
            continue
        evalue = _disk_note(rec.evalue, limits, box) if rec.status == "error" else rec.evalue
        if rec.status == "timeout" and timeout < allowed:
            evalue, cut = f"ran out of the submission's {limits.submission_timeout:.0f} s time budget", "submission"
        if origins[i] is None and rec.status != "ok":
            evalue = f"in a provided cell that was put back: {evalue}"
        records.append(CellRecord(shown, rec.status, rec.ename, evalue, rec.seconds))
        if rec.status == "timeout" and cut is None and not kernel.responsive():
            died_in = shown
    return records, died_in, cut
