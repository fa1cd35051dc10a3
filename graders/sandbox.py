"""How a student kernel is confined: bubblewrap when it works, resource limits always.

Two layers, chosen once per grading process (``current()``, by ``HW4_SANDBOX``):

* **bwrap** (``HW4_SANDBOX=auto``, the default, when bubblewrap is installed and passes a
  self-test; ``HW4_SANDBOX=bwrap`` insists on it). The kernel sees a read-only system (``/usr``
  and a few files of ``/etc``), the Python installation and virtualenv read-only — but not
  the repository they may live in, so no ``reference/``, no grader code, no results, no other
  student's files —, its own working folder as a tmpfs of ``limits.disk_mb`` (its assets
  bind-mounted read-only into it), its home read-only, its answer area, a small private
  ``/tmp``, no network (a new network namespace; the grader talks to the kernel over Unix
  sockets in a private run folder), and its own PID namespace.
* **rlimits** (always; alone when bubblewrap is missing or fails, or ``HW4_SANDBOX=none``):
  ``graders.launch`` sets address space, processes, file size, CPU time and no core dumps. Said
  once, as a warning, when it is all there is.

In both, when the grader is root every kernel runs under a user id of its own
(``kernel_user``): the process limit counts only its own processes (Linux never enforces
RLIMIT_NPROC for root), its folders are its alone (0700), and when it ends every process of that
user is killed (``kill_user``), so nothing it started outlives it. A guard process
(``graders.launch --guard``) sits between the grader and the kernel and kills the whole tree —
sandbox, kernel, whatever it started, orphans included (it is their subreaper) — when the grader
dies, even by ``kill -9``, or when told to (SIGTERM).

The environment handed to a kernel is built from an allow-list: the grader's secrets
(``HW4_SECRET``, tokens, keys) never reach it, hub access is off, HOME, IPython's and
Jupyter's folders are a fresh grader-owned folder per kernel start (so no startup or config file
the notebook wrote can run), caches and TMPDIR point into its working folder.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

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
#: user ids given to kernels when the grader runs as root (one fresh id per notebook)
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


@dataclass(frozen=True)
class KernelPaths:
    """Where one kernel lives (host paths; inside bubblewrap each appears at the same path).

    workdir: its working folder (under bubblewrap a tmpfs mounted there, else this host folder)
    rundir:  its connection file and sockets (writable by it)
    home:    HOME, IPython's and Jupyter's folders: the grader's, fresh per start, read-only to it
    answers: the grader's answer area (``graders.probe.folders``)
    assets:  (source, path inside workdir) pairs bound read-only into its working folder
    """

    workdir: Path
    rundir: Path
    home: Path
    answers: Path | None = None
    assets: tuple[tuple[Path, str], ...] = ()


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
                                         f"(no filesystem or network isolation) — {_fallback_gaps()}")
    else:
        path = shutil.which("bwrap")
        problem = _self_test(path) if path else "bubblewrap (bwrap) is not installed"
        if problem and mode == "bwrap":
            raise SandboxUnavailable(f"{SANDBOX_ENV}=bwrap, but {problem}")
        box = Sandbox("bwrap", path) if not problem else Sandbox("rlimits", warning=(
            f"{problem}: student kernels run with resource limits only — {_fallback_gaps()}. Install "
            "bubblewrap (Debian: apt-get install bubblewrap) to isolate them."))
    if box.warning:
        log.warning("WARNING: %s", box.warning)
    _CHOSEN[mode] = box
    return box


def _fallback_gaps() -> str:
    """What kernels can still do when they run without bubblewrap, on this machine."""
    if _is_root() and others_can_run_python():
        return ("under a user id of their own, but they can read any world-readable file (including the reference "
                "solutions, and the course secret file if others can read it), use the network and fill the disk")
    if _is_root():
        return ("as root (this Python is not readable by other users, so they cannot get a user id of their own): "
                "they can read and write any file (the reference solutions and the results included) and there is "
                "no process limit")
    return ("as this user: they can read and write any file this user can (including the reference solutions, the "
            "results and other kernels' connection files) and use the network")


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


def _free_uid() -> int:
    """A user id in ``UID_RANGE`` that no process has (reserve it with ``kernel_user``)."""
    while True:
        uid = secrets.randbelow(UID_RANGE[1] - UID_RANGE[0]) + UID_RANGE[0]
        if not user_processes(uid):
            return uid


@functools.lru_cache(maxsize=None)
def others_can_run_python() -> bool:
    """Another user could run this Python (interpreter, standard library, virtualenv): every folder
    on the way is searchable by all and the files readable by all (not so under a 0700 /root)."""
    import sysconfig

    wanted = [os.path.realpath(sys.executable), sys.prefix, sysconfig.get_paths()["stdlib"],
              sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    for target in wanted:
        path = Path(os.path.realpath(target))
        try:
            for folder in [*reversed(path.parents), path] if path.is_dir() else reversed(path.parents):
                if not os.stat(folder).st_mode & 0o001:
                    return False
            if not path.is_dir() and (os.stat(path).st_mode & 0o005) != 0o005:  # readable and runnable by all
                return False
        except OSError:
            return False
    return True


def own_users(sandbox: Sandbox | None = None) -> bool:
    """Does each notebook's kernel run as a user of its own (the grader is root, and the kernel is
    bubblewrapped or another user could run this Python)? Only then can two kernels not touch each other."""
    return _is_root() and (sandbox is None or sandbox.isolated or others_can_run_python())


@contextlib.contextmanager
def kernel_user(sandbox: Sandbox | None = None) -> Iterator[int | None]:
    """A fresh user id for one notebook's kernels (None when the grader is not root, or when the
    kernel runs without bubblewrap and another user could not run this Python).

    The id is reserved with a lock file (so two grading processes never share one: killing one
    kernel's processes must not touch another's) and, on exit, every process it still has is killed.
    """
    if not own_users(sandbox):
        yield None
        return
    folder = _uid_locks()
    while True:
        uid = _free_uid()
        fd = os.open(folder / str(uid), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        break
    try:
        yield uid
    finally:
        kill_user(uid)
        try:
            os.unlink(folder / str(uid))
        except OSError:
            pass
        os.close(fd)


def _uid_locks() -> Path:
    """The folder of user-id reservations, the same for every grading process on the machine (so
    not under TMPDIR), root's alone."""
    for parent in ("/run", tempfile.gettempdir()):
        folder = Path(parent) / "hw4-kernel-uids"
        try:
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode) and info.st_uid == 0 and not info.st_mode & 0o077:
            return folder
    raise RuntimeError("no private folder for user-id reservations (/run/hw4-kernel-uids)")


def user_processes(uid: int) -> list[int]:
    """Live processes (not zombies) whose real, effective or saved user id is ``uid`` (from /proc)."""
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as fh:
                status = fh.read()
        except OSError:
            continue
        state, uids = "", []
        for line in status.splitlines():
            if line.startswith("State:"):
                state = line.split()[1] if len(line.split()) > 1 else ""
            elif line.startswith("Uid:"):
                uids = line.split()[1:4]
        if state not in ("Z", "X") and str(uid) in uids:
            found.append(int(entry))
    return found


def kill_user(uid: int, *, rounds: int = 100) -> bool:
    """SIGKILL every process of ``uid`` (again, until none is left: a fork bomb or a daemon included)."""
    for _ in range(rounds):
        pids = user_processes(uid)
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)
    return not user_processes(uid)


def make_home(parent: Path, uid: int | None) -> Path:
    """A fresh HOME for one kernel start: empty IPython profile and Jupyter folders, owned by the
    grader and read-only to the kernel (group ``uid`` may read it when the grader is root)."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=parent))
    folders = [home / ".ipython" / "profile_default" / "startup", home / ".jupyter",
               home / ".local" / "share" / "jupyter" / "runtime"]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    for root, dirs, _files in os.walk(home):
        for name in [root, *(os.path.join(root, d) for d in dirs)]:
            if uid is not None:
                os.chown(name, -1, uid)
            os.chmod(name, 0o750 if uid is not None else 0o700)
    return home


def launch_args(limits: Limits, *, cpu_seconds: int = 0) -> list[str]:
    return ["--memory-mb", str(limits.memory_mb), "--processes", str(limits.processes),
            "--file-size-mb", str(limits.file_size_mb), "--cpu-seconds", str(int(cpu_seconds))]


def kernel_prefix(limits: Limits, *, sandbox: Sandbox | None = None, paths: KernelPaths | None = None,
                  uid: int | None = None, cpu_seconds: int = 0) -> list[str]:
    """The command that goes before the kernel's own command line.

    Without a bwrap ``sandbox`` (or without ``paths``): the rlimits launcher only, under ``uid``
    when given (the grader is root).
    """
    launcher = [sys.executable, "-I", "-c", LAUNCH_SOURCE]
    # the guard: kills the whole tree (sandbox, kernel, its children) when the grader dies
    guard = [*launcher, "--no-limits", "--guard", "--parent-pid", str(os.getpid()), "--"]
    limited = [*launcher, *launch_args(limits, cpu_seconds=cpu_seconds), "--die-with-parent"]
    user = ["--uid", str(uid), "--gid", str(uid)] if uid is not None else []
    if sandbox is None or not sandbox.isolated or paths is None:
        return [*guard, *limited, *user, "--"]
    inner = [*limited, "--own-group", *user]
    if uid is not None:
        inner += ["--own", str(paths.workdir)]  # the tmpfs bubblewrap made (as root) becomes the kernel's
    return [*guard, *bwrap_args(sandbox.bwrap, paths=paths, disk_mb=limits.disk_mb), "--", *inner, "--"]


def bwrap_args(bwrap: str, *, paths: KernelPaths, disk_mb: int) -> list[str]:
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
    plan.rw(str(paths.rundir))
    plan.ro(str(paths.home), overlay=True)
    if paths.answers is not None:
        plan.rw(str(paths.answers))
    workdir = str(paths.workdir)
    plan.tmpfs(workdir, size=disk_mb * 2**20, perms="0700")
    plan.mkdir(os.path.join(workdir, ".tmp"), perms="0700")
    for source, rel in paths.assets:
        if os.path.exists(source):
            plan.ro(str(source), dest=os.path.join(workdir, rel))
    args += ["--chdir", workdir]
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

    def mkdir(self, path: str, *, perms: str = "0755") -> None:
        self._parents(path)
        if path not in self.made:
            self.args += ["--perms", perms, "--dir", path]
            self.made.add(path)

    def tmpfs(self, path: str, *, size: int, perms: str) -> None:
        self._parents(path)
        self.args += ["--perms", perms, "--size", str(int(size)), "--tmpfs", path]
        self.made.add(path)

    def ro(self, path: str, *, overlay: bool = False, dest: str | None = None) -> None:
        dest = dest or path
        if dest == path and not overlay and self._inside_bound(path) and os.path.realpath(path) == path:
            return  # already visible, unchanged, through a parent mount
        self._parents(dest)
        self.args += ["--ro-bind", path, dest]
        self.bound.add(dest)

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
    """Run python in the sandbox as a kernel would be (tmpfs working folder, own user when root);
    None if it works, else why not."""
    base = Path(tempfile.mkdtemp(prefix="hw4-selftest-"))
    paths = KernelPaths(workdir=base / "work", rundir=base / "run", home=base / "home")
    try:
        for p in (paths.workdir, paths.rundir, paths.home):
            p.mkdir()
        box = Sandbox("bwrap", bwrap)
        with kernel_user() as uid:
            if uid is not None:
                os.chown(paths.rundir, uid, uid)
            cmd = kernel_prefix(Limits(), sandbox=box, paths=paths, uid=uid) + [
                sys.executable, "-c", "import os; open('written', 'w').write('x'); "
                "print('hw4-sandbox-ok', os.path.isdir('/proc/1'))"]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                      env=kernel_env(paths.workdir, home=paths.home))
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"bubblewrap could not be started ({exc})"
        if done.returncode != 0 or "hw4-sandbox-ok" not in done.stdout:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return f"bubblewrap failed its self-test ({lines[-1][:200] if lines else f'exit {done.returncode}'})"
        return None
    finally:
        shutil.rmtree(base, ignore_errors=True)


def kernel_env(workdir: Path, *, home: Path | None = None, extra: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """The environment of a kernel: an allow-list of the grader's variables plus ours.

    ``home``: the kernel's HOME and IPython/Jupyter folders (the grader's; default: ``workdir``).
    """
    workdir = Path(workdir)
    home = Path(home) if home is not None else workdir
    env = {k: v for k, v in os.environ.items()
           if (k in PASS_ENV or k.startswith("LC_") or (k.startswith("HW4_MODEL_") and v))
           and k not in SECRET_ENV}
    env.update({
        "HOME": str(home),
        "IPYTHONDIR": str(home / ".ipython"),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(home / ".local" / "share" / "jupyter" / "runtime"),
        "PYTHONNOUSERSITE": "1",
        "XDG_CACHE_HOME": str(workdir / ".cache"),
        "XDG_CONFIG_HOME": str(workdir / ".config"),
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": str(workdir / ".tmp"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",  # as in Jupyter: a shown figure is an output
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
