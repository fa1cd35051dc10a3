"""One kernel for one notebook: started confined (``graders.sandbox``), the probe runtime installed
before any student line, cells run with explicit timeouts, always shut down (``Kernel`` is a context
manager).

The kernel name is forced to python3 and its Python runs with ``-P -s`` (no module from its working
folder, no user site) and a fresh, grader-owned HOME/IPython/Jupyter folder per start (no startup
or config file the notebook wrote can run). Output kept per cell is capped; oversized output
messages are not parsed (``_CappedSession``), and a client socket refuses messages over 16 MB and
queues at most 32, so a flooding kernel cannot exhaust the grader. Once the kernel is up, its run
folder goes back to the grader (``Kernel._seal_run_folder``).
"""
from __future__ import annotations

import math
import os
import signal
import subprocess
import time

import nbformat
import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.session import Session
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from traitlets import Type, default

from graders import sandbox as _sandbox
from graders.probe.runtime import source as runtime_source
from graders.probe.transport import one_line, parse_digests
from graders.results import CellRecord
from graders.rubric import Limits
from graders.sandbox import KernelPaths, kernel_env, kernel_prefix

#: the probe runtime (graders/probe/runtime/), its pieces joined into one source text
KERNEL_SIDE = runtime_source()


#: the probe runtime runs in private globals whose builtins are a copy taken before student code
RUNTIME_CELL = (f"exec(compile({KERNEL_SIDE!r}, '<hw4-probe-runtime>', 'exec'), "
                "{'__name__': '_hw4_probe_runtime', '__builtins__': __import__('builtins').__dict__.copy(), "
                "'_HW4_USER_NS': globals()})")


def preload_statement(modules: tuple[str, ...]) -> str:
    """Import ``modules`` in private globals (no name is bound in the notebook's namespace, no output,
    no history entry of its own: it ends the runtime's cell); a module that fails to import is left
    for the notebook's own import to fail on, as it would have."""
    body = "for m in M:\n    try:\n        __import__('importlib').import_module(m)\n    except Exception:\n        pass"
    return f"\nexec({body!r}, {{'M': {tuple(modules)!r}, '__builtins__': __import__('builtins').__dict__}})"


RUNTIME_MISSING = "hw4: the probe runtime is missing"


#: evaluated by the kernel right after a probe cell, answered in its execute_reply (not through a file)
DIGEST_EXPRESSION = {"hw4": "__import__('sys').modules['_hw4_probe'].digest()"}


#: seconds to wait, after a cell's reply, for the rest of its output
IOPUB_TIMEOUT = 4


class KernelStartFailed(RuntimeError):
    """A kernel did not start (it died before answering, or timed out) before any student code ran.

    A problem of the grading machine or its limits, not of the submission: it is raised (the
    batch reports it and writes no result, so a rerun retries) rather than recorded as a grade.
    """


#: what ``Kernel.run_cell`` puts in a cell's metadata for the client: its timeout and the user
#: expressions its execute request carries
RUN = "hw4_run"


class _ProbingKernelClient(AsyncKernelClient):
    """A kernel client whose next execute request carries the user expressions it was handed (a probe
    cell's answers' digests come back in its execute reply, on the shell channel, not through a file)."""

    next_expressions: dict | None = None

    def execute(self, code, *args, **kwargs):
        if self.next_expressions is not None:
            kwargs["user_expressions"] = dict(self.next_expressions)
            self.next_expressions = None
        return super().execute(code, *args, **kwargs)


class _CappedClient(NotebookClient):
    """nbclient that keeps at most ``output_chars`` characters of output per cell, and takes each cell's
    timeout and user expressions from the cell's own metadata (``RUN``), through nbclient's hooks."""

    output_chars = 20_000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timeout_func = self._cell_timeout
        self.on_cell_execute = self._hand_expressions

    def _cell_timeout(self, cell) -> int:
        return cell.metadata.get(RUN, {}).get("timeout", self.timeout)

    def _hand_expressions(self, cell=None, **_):
        self.kc.next_expressions = cell.metadata.get(RUN, {}).get("user_expressions")

    def output(self, outs, msg, display_id, cell_index):
        used = sum(_output_size(o) for o in outs)
        if used >= self.output_chars:
            if not any(o.get("name") == "hw4-truncated" for o in outs):
                outs.append(nbformat.v4.new_output("stream", name="hw4-truncated",
                                                   text="[output truncated by the grader]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


#: an image's base64 counts this many times less against ``output_chars``: a cell keeps 20,000
#: characters of text, or about 2 MB of figures (a figure is 20–100 kB), before the rest is cut
IMAGE_DISCOUNT = 100


def _output_size(out) -> int:
    if out.get("output_type") == "stream":
        return len(out.get("text", ""))
    data = out.get("data") or {}
    size = sum((len(v) // IMAGE_DISCOUNT if str(mime).startswith("image/") else len(v)) if isinstance(v, str) else 1000
               for mime, v in data.items())
    return size + len(str(out.get("traceback", "")))


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

    client_factory = Type(default_value=_ProbingKernelClient, klass=AsyncKernelClient)
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


class Kernel:
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
        return self

    def adopt(self, timeout: float = 60) -> bool:
        """Make this thread the kernel's: a new client, its channels opened here, and wait until the kernel
        answers on them. A kernel started on another thread (``graders.kernel_pool``) needs it: an
        asyncio socket belongs to the event loop of the thread that made it, and woken from another
        loop a reply waits for nbclient's next one-second poll. False: the kernel no longer answers."""
        try:
            self.client.kc.stop_channels()
            kc = self.client.kc = self.client.km.client()
            kc.start_channels()
            run_sync(kc.wait_for_ready)(timeout=timeout)
        except (RuntimeError, OSError, zmq.ZMQError):
            return False
        kc.allow_stdin = False
        return True

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

    def install_runtime(self, timeout: float = 120, preload: tuple[str, ...] = ()) -> bool:
        """Send the probe runtime (and import ``preload`` after it, in the same cell); False if it
        could not be installed."""
        cell = nbformat.v4.new_code_cell(RUNTIME_CELL + (preload_statement(preload) if preload else ""))
        self.client.nb.cells.append(cell)
        try:
            return self.run_cell(cell, len(self.client.nb.cells) - 1, timeout).status == "ok"
        finally:
            self.client.nb.cells.pop()

    def run_probe_cell(self, source: str, timeout: float) -> CellRecord:
        """Execute a probe cell, asking for its answers' digests; its output is not needed."""
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        self.client.iopub_timeout = 1
        try:
            return self.run_cell(cell, len(self.client.nb.cells) - 1, timeout, expressions=DIGEST_EXPRESSION)
        finally:
            self.client.iopub_timeout = IOPUB_TIMEOUT

    def run_cell(self, cell, index: int, timeout: float, *, expressions: dict | None = None) -> CellRecord:
        """Execute one cell within ``timeout`` seconds; raises DeadKernelError if the kernel dies."""
        limit = max(1, int(math.ceil(timeout)))
        cell.metadata[RUN] = {"timeout": limit, "user_expressions": expressions}
        self.last_reply = None
        start = time.monotonic()
        try:
            self.client.execute_cell(cell, index)
        except CellTimeoutError:
            return CellRecord(index, "timeout", "CellTimeoutError", f"ran longer than {timeout:.0f} s",
                              time.monotonic() - start)
        seconds = time.monotonic() - start
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if seconds >= limit and (not errors or errors[-1].get("ename") in
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
