"""How a student kernel is confined: bubblewrap when it works, resource limits always.

Two layers, chosen once per grading process (``current()``, by ``HW4_SANDBOX``):

* **bwrap** (``HW4_SANDBOX=auto``, the default, when bubblewrap is installed and passes a
  self-test; ``HW4_SANDBOX=bwrap`` insists on it). The kernel sees a read-only system (``/usr``
  and a few files of ``/etc``), the Python installation and virtualenv read-only — but not
  the repository they may live in, so no ``reference/``, no grader code, no results, no other
  student's files —, its own working folder writable (its assets read-only), a small private
  ``/tmp``, no network (a new network namespace; the grader talks to the kernel over Unix
  sockets in a private run folder), and its own PID namespace. Started by root, the kernel runs
  under a user id of its own, so the process limit counts only its own processes (Linux never
  enforces RLIMIT_NPROC for root).
* **rlimits** (always; alone when bubblewrap is missing or fails, or ``HW4_SANDBOX=none``):
  ``graders.launch`` sets address space, processes, file size, CPU time and no core dumps. Said
  once, as a warning, when it is all there is.

In both, a guard process (``graders.launch --guard``) sits between the grader and the kernel and
kills the whole tree — sandbox, kernel, whatever it started — when the grader dies, even by
``kill -9`` (bubblewrap's own ``--die-with-parent`` was seen to leave kernels behind).

The environment handed to a kernel is built from an allow-list: the grader's secrets
(``HW4_SECRET``, tokens, keys) never reach it, hub access is off, HOME, caches and TMPDIR
point into its working folder.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from graders.rubric import Limits

log = logging.getLogger("hw4.sandbox")

SANDBOX_ENV = "HW4_SANDBOX"
MODES = ("auto", "bwrap", "none")
SECRET_ENV = ("HW4_SECRET", "HW4_HIDDEN_SEED")
#: variables a kernel inherits from the grader (everything else is dropped)
PASS_ENV = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "VIRTUAL_ENV")
#: files of /etc a kernel may read (no shadow, no keys, no sudoers)
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/timezone",
             "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/mime.types",
             "/etc/ssl/certs", "/etc/ca-certificates", "/etc/fonts", "/etc/alternatives", "/etc/os-release",
             "/etc/matplotlibrc")
TMP_BYTES = 64 * 2**20
#: user ids given to sandboxed kernels when the grader runs as root (one fresh id per kernel)
UID_RANGE = (1_100_000, 1_900_000)
LAUNCH_SOURCE = (Path(__file__).resolve().parent / "launch.py").read_text(encoding="utf-8")


class SandboxUnavailable(RuntimeError):
    """``HW4_SANDBOX=bwrap`` was asked for but bubblewrap cannot run here (or a bad mode)."""


@dataclass(frozen=True)
class Sandbox:
    """The confinement chosen for this grading process.

    kind:    "bwrap" (namespaces + rlimits) or "rlimits" (resource limits only)
    bwrap:   path of the bwrap executable when kind == "bwrap"
    warning: why kernels run with rlimits only (empty when bwrap is used)
    """

    kind: str
    bwrap: str = ""
    warning: str = ""

    @property
    def isolated(self) -> bool:
        return self.kind == "bwrap"


_CHOSEN: dict[str, Sandbox] = {}


def current(mode: str | None = None) -> Sandbox:
    """The sandbox for ``mode`` (default: ``$HW4_SANDBOX`` or "auto"), decided once per process.

    Call it before forking workers so the self-test runs, and the warning prints, once.
    """
    mode = (mode or os.environ.get(SANDBOX_ENV) or "auto").strip().lower()
    if mode not in MODES:
        raise SandboxUnavailable(f"{SANDBOX_ENV} must be one of {', '.join(MODES)}; got {mode!r}")
    if mode in _CHOSEN:
        return _CHOSEN[mode]
    if mode == "none":
        box = Sandbox("rlimits", warning=f"{SANDBOX_ENV}=none: student kernels run with resource limits only "
                                         "(no filesystem or network isolation)")
    else:
        path = shutil.which("bwrap")
        problem = _self_test(path) if path else "bubblewrap (bwrap) is not installed"
        if problem and mode == "bwrap":
            raise SandboxUnavailable(f"{SANDBOX_ENV}=bwrap, but {problem}")
        box = Sandbox("bwrap", path) if not problem else Sandbox("rlimits", warning=(
            f"{problem}: student kernels run with resource limits only — they can read any file this "
            "user can (including the reference solutions) and use the network"
            + (", and as root the process limit is not enforced" if _is_root() else "")
            + ". Install bubblewrap (Debian: apt-get install bubblewrap) to isolate them."))
    if box.warning:
        log.warning("WARNING: %s", box.warning)
    _CHOSEN[mode] = box
    return box


def die_with_parent(parent_pid: int | None = None) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux; elsewhere a no-op).

    ``parent_pid``: the parent it was started by; if that one is already gone (it died before
    this ran), exit now. Used as the initializer of grading pool workers, so a batch killed with
    ``kill -9`` does not leave workers (and, through them, kernels) running.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def kernel_uid(sandbox: Sandbox) -> int | None:
    """A fresh user id for one sandboxed kernel when the grader is root; None otherwise."""
    if sandbox.isolated and _is_root():
        return secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0]
    return None


def launch_args(limits: Limits, *, cpu_seconds: int = 0) -> list[str]:
    return ["--memory-mb", str(limits.memory_mb), "--processes", str(limits.processes),
            "--file-size-mb", str(limits.file_size_mb), "--cpu-seconds", str(int(cpu_seconds))]


def kernel_prefix(limits: Limits, *, sandbox: Sandbox | None = None, workdir: Path | None = None,
                  rundir: Path | None = None, readonly: Sequence[Path] = (), uid: int | None = None,
                  cpu_seconds: int = 0) -> list[str]:
    """The command that goes before the kernel's own command line.

    Without a bwrap ``sandbox`` (or without ``workdir``/``rundir``): the rlimits launcher only.
    ``readonly``: paths inside ``workdir`` the kernel may read but not change (its assets).
    """
    launcher = [sys.executable, "-I", "-c", LAUNCH_SOURCE]
    # the guard: kills the whole tree (sandbox, kernel, its children) when the grader dies
    guard = [*launcher, "--no-limits", "--guard", "--parent-pid", str(os.getpid()), "--"]
    limited = [*launcher, *launch_args(limits, cpu_seconds=cpu_seconds), "--die-with-parent"]
    if sandbox is None or not sandbox.isolated or workdir is None or rundir is None:
        return [*guard, *limited, "--"]
    inner = [*limited, "--own-group"]
    if uid is not None:
        inner += ["--uid", str(uid), "--gid", str(uid)]
    return [*guard, *bwrap_args(sandbox.bwrap, workdir=Path(workdir), rundir=Path(rundir), readonly=readonly),
            "--", *inner, "--"]


def bwrap_args(bwrap: str, *, workdir: Path, rundir: Path, readonly: Sequence[Path] = ()) -> list[str]:
    """bubblewrap options for one kernel (see the module docstring for what it sees)."""
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--hostname", "hw4-sandbox", "--unsetenv", "JPY_PARENT_PID"]
    if not _is_root():
        args.append("--unshare-user")  # unprivileged bubblewrap needs a user namespace
    plan = _Mounts(args)
    plan.ro("/usr")
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            plan.ro(top)
    plan.mkdir("/etc")
    for f in ETC_FILES:
        if os.path.exists(f):
            plan.ro(f)
    args += ["--dev", "/dev", "--proc", "/proc", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    plan.bound.update({"/dev", "/proc"})
    plan.made.add("/tmp")
    for p in _python_trees():
        plan.ro(p)
    for p in _model_overrides():
        plan.ro(p)
    plan.rw(str(rundir))
    plan.rw(str(workdir))
    for p in readonly:
        if os.path.exists(p):
            plan.ro(str(p), overlay=True)
    args += ["--chdir", str(workdir)]
    return args


class _Mounts:
    """Emits bwrap mount options, creating missing parent folders world-traversable (0755)."""

    def __init__(self, args: list[str]):
        self.args = args
        self.bound: set[str] = set()   # host trees mounted as they are (their subfolders exist)
        self.made: set[str] = {"/"}    # folders created by bwrap (empty unless mounted into)

    def _parents(self, path: str) -> None:
        parts = Path(path).parts
        for i in range(2, len(parts)):
            parent = str(Path(*parts[:i]))
            if parent in self.made or self._inside_bound(parent):
                continue
            self.args += ["--perms", "0755", "--dir", parent]
            self.made.add(parent)

    def _inside_bound(self, path: str) -> bool:
        return any(path == b or path.startswith(b.rstrip("/") + "/") for b in self.bound)

    def mkdir(self, path: str) -> None:
        self._parents(path)
        if path not in self.made:
            self.args += ["--perms", "0755", "--dir", path]
            self.made.add(path)

    def ro(self, path: str, *, overlay: bool = False) -> None:
        if not overlay and self._inside_bound(path) and os.path.realpath(path) == path:
            return  # already visible, unchanged, through a parent mount
        self._parents(path)
        self.args += ["--ro-bind", path, path]
        self.bound.add(path)

    def rw(self, path: str) -> None:
        self._parents(path)
        self.args += ["--bind", path, path]
        self.bound.add(path)


def _python_trees() -> list[str]:
    """The interpreter and virtualenv folders a kernel needs, as real and as named paths."""
    found: list[str] = []
    for p in (sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix,
              str(Path(os.path.realpath(sys.executable)).parent.parent)):
        for q in (os.path.abspath(p), os.path.realpath(p)):
            if os.path.isdir(q) and q not in found and q != "/":
                found.append(q)
    return sorted(found, key=len)


def _model_overrides() -> list[str]:
    """Model folders named by ``HW4_MODEL_*`` (a TA pointing a part at real models)."""
    out = []
    for key, value in os.environ.items():
        if key.startswith("HW4_MODEL_") and value and os.path.isabs(value) and os.path.exists(value):
            out.append(os.path.realpath(value))
    return out


def _self_test(bwrap: str) -> str | None:
    """Run ``python -c print`` in the sandbox as a kernel would be; None if it works, else why not."""
    base = Path(tempfile.mkdtemp(prefix="hw4-selftest-"))
    work, run = base / "work", base / "run"
    try:
        work.mkdir()
        run.mkdir()
        box = Sandbox("bwrap", bwrap)
        uid = kernel_uid(box)
        if uid is not None:
            for p in (work, run):
                os.chown(p, uid, uid)
        cmd = kernel_prefix(Limits(), sandbox=box, workdir=work, rundir=run, uid=uid) + [
            sys.executable, "-c", "import os; print('hw4-sandbox-ok', os.path.isdir('/proc/1'))"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=kernel_env(work))
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not be started ({exc})"
        if done.returncode != 0 or "hw4-sandbox-ok" not in done.stdout:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return f"bubblewrap failed its self-test ({lines[-1][:200] if lines else f'exit {done.returncode}'})"
        return None
    finally:
        shutil.rmtree(base, ignore_errors=True)


def kernel_env(workdir: Path, *, extra: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """The environment of a kernel: an allow-list of the grader's variables plus ours."""
    workdir = Path(workdir)
    env = {k: v for k, v in os.environ.items()
           if (k in PASS_ENV or k.startswith("LC_") or (k.startswith("HW4_MODEL_") and v))
           and k not in SECRET_ENV}
    env.update({
        "HOME": str(workdir),
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": str(workdir / ".tmp"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(workdir / ".config" / "matplotlib"),
        "HF_HOME": str(workdir / ".cache" / "huggingface"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(dict(extra))
    return env
