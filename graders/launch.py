"""Launcher for a student kernel: set resource limits, then exec the real kernel command.

Usage: python -m graders.launch --memory-mb N --processes N --file-size-mb N -- CMD...
"""
from __future__ import annotations

import argparse
import os
import resource
import sys


def _limit(which: int, value: int) -> None:
    try:
        soft, hard = resource.getrlimit(which)
        new = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (new, new))
    except (ValueError, OSError):
        pass  # best effort: an unsupported limit must not stop grading


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m graders.launch")
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--processes", type=int, default=512)
    parser.add_argument("--file-size-mb", type=int, default=512)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        parser.error("no command given")
    _limit(resource.RLIMIT_AS, args.memory_mb * 1024 * 1024)
    _limit(resource.RLIMIT_NPROC, args.processes)
    _limit(resource.RLIMIT_FSIZE, args.file_size_mb * 1024 * 1024)
    _limit(resource.RLIMIT_CORE, 0)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
