"""Launcher for a student kernel: limits, user id, and a guard that takes it down with the grader.

Usage: python -m graders.launch [--memory-mb N] [--processes N] [--file-size-mb N]
       [--cpu-seconds N] [--uid N --gid N] [--own PATH] [--own-group] [--die-with-parent]
       [--guard --parent-pid N] [--no-limits] -- CMD...

This file uses the standard library only and imports nothing from ``graders``: inside the
bubblewrap sandbox the repository is not visible, so ``graders.sandbox`` runs this file's
source with ``python -I -c`` rather than ``-m``. It is used twice per kernel: as the *guard*
(outside any sandbox, ``--guard --no-limits``) and as the *launcher* of the kernel itself
(limits, user id, then exec).

* ``--memory-mb``: RLIMIT_AS (address space; ``import torch`` alone needs ~0.7 GiB).
* ``--processes``: RLIMIT_NPROC. Linux counts it per user, and never enforces it for root,
  which is why a sandboxed kernel started by root gets a user id of its own (``--uid``).
* ``--file-size-mb``: RLIMIT_FSIZE (largest file the kernel may write).
* ``--cpu-seconds``: RLIMIT_CPU (SIGXCPU at the soft limit, SIGKILL 5 s later).
* ``--uid/--gid``: drop to this user after setting the limits (needs root; all capabilities go).
* ``--own PATH``: before dropping to ``--uid``, give PATH and everything below it on the same file
  system to that user (the tmpfs working folder bubblewrap made as root; the read-only assets
  mounted into it are other file systems and stay as they are).
* ``--own-group``: put the kernel in a process group of its own, so an interrupt it sends to
  its group reaches its children but not the sandbox around it.
* ``--die-with-parent``: SIGKILL this process when its parent dies (Linux).
* ``--guard``: do not exec CMD but run it as a child, as a subreaper (orphans of the tree come
  back to the guard), and kill the whole tree — CMD, bubblewrap, the kernel, anything the
  kernel started — when the grading process dies (``--parent-pid``, the grader's pid, closes the
  race with a grader that died before the guard was ready), when asked with SIGTERM/SIGHUP, or
  when CMD exits. bubblewrap's own ``--die-with-parent`` is not enough: started by root, its
  inner process can lose that setting, and a kernel then outlives a killed grader.
* ``--no-limits``: set no resource limit (the guard).
"""
from __future__ import annotations

import argparse
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _limit(which: int, value: int, slack: int = 0) -> None:
    try:
        soft, hard = resource.getrlimit(which)
        new_hard = value + slack if hard == resource.RLIM_INFINITY else min(value + slack, hard)
        resource.setrlimit(which, (min(value, new_hard), new_hard))
    except (ValueError, OSError):
        pass  # best effort: an unsupported limit must not stop grading


def _prctl(option: int, value: int) -> bool:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc; empty where there is no /proc)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                data = fh.read()
            ppid = int(data[data.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _kill_tree() -> None:
    me = os.getpid()
    for _ in range(5):  # again, in case something forked while we were at it
        pids = _descendants(me)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _own(path: str, uid: int, gid: int) -> None:
    """chown ``path`` and everything below it that is on the same file system (links not followed)."""
    device = os.lstat(path).st_dev
    for root, dirs, files in os.walk(path):
        if os.lstat(root).st_dev != device:
            dirs[:] = []
            continue
        os.lchown(root, uid, gid)
        for name in files:
            full = os.path.join(root, name)
            if os.lstat(full).st_dev == device:
                os.lchown(full, uid, gid)


def _guard(cmd: list[str], parent_pid: int | None) -> None:
    """Run ``cmd`` as a child and never let anything it starts outlive the grader (see ``--guard``)."""
    state = {"child": 0}

    def stop(*_args):
        _kill_tree()
        os._exit(137)

    signal.signal(signal.SIGINT, signal.SIG_IGN)   # an interrupt is for the kernel, not for us
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(137)  # the grader died before the line above took effect
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    state["child"] = child
    code = 1
    while True:
        try:
            pid, status = os.waitpid(-1, 0)  # also reaps orphans handed to us as subreaper
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            break
    _kill_tree()  # whatever the kernel left behind
    os._exit(code if code >= 0 else 128 - code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m graders.launch")
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--processes", type=int, default=512)
    parser.add_argument("--file-size-mb", type=int, default=512)
    parser.add_argument("--cpu-seconds", type=int, default=0, help="0: no CPU-time limit")
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--gid", type=int, default=None)
    parser.add_argument("--own", action="append", default=[], help="give PATH to --uid first (repeatable)")
    parser.add_argument("--own-group", action="store_true")
    parser.add_argument("--die-with-parent", action="store_true")
    parser.add_argument("--guard", action="store_true")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--no-limits", action="store_true", help="set no resource limit, only the other options")
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        parser.error("no command given")
    if args.own_group:
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
    if not args.no_limits:
        _limit(resource.RLIMIT_AS, args.memory_mb * 1024 * 1024)
        _limit(resource.RLIMIT_NPROC, args.processes)
        _limit(resource.RLIMIT_FSIZE, args.file_size_mb * 1024 * 1024)
        _limit(resource.RLIMIT_CORE, 0)
        if args.cpu_seconds > 0:
            _limit(resource.RLIMIT_CPU, args.cpu_seconds, slack=5)
    if args.uid is not None:
        gid = args.gid if args.gid is not None else args.uid
        for path in args.own:
            _own(path, args.uid, gid)
        # Any failure here must stop the launch: a kernel must never run as root by accident.
        os.setgroups([])
        os.setgid(gid)
        os.setuid(args.uid)
        if os.getuid() != args.uid or os.geteuid() != args.uid:
            raise SystemExit("graders.launch: could not drop privileges")
    if args.guard:
        _guard(cmd, args.parent_pid)
        return
    if args.die_with_parent:  # after the user change, which would clear it
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if args.parent_pid is not None and os.getppid() != args.parent_pid:
            os._exit(137)  # the parent died before the line above took effect
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
