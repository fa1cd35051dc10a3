"""Run a judgement in a checker process the grader starts itself, under a time and memory limit.

Some judgements can hang or explode (sympy's ``simplify`` on a hostile expression). They run in
a separate Python process started with ``subprocess`` — not ``multiprocessing``, and never by
forking the grader: a grading worker may have used torch's threads (libgomp deadlocks in a
forked child) and a Dask worker under its nanny is a daemonic process that may not have
children of its own. The checker is started once per grading thread and reused; a judgement
that runs past its time limit kills it (the next one starts a fresh checker). A judgement's time
limit counts the judgement alone: a new checker first says it is ready (its imports done), which
on a loaded machine can take many seconds, under a start limit of its own (``START_SECONDS``).

What crosses:

* to the checker: the judge function and the grader's own arguments (cloudpickle: they are
  the grader's code and expected values), and the student's values converted back to the plain
  tagged data of ``graders.probe.transport`` — the checker rebuilds them with the same
  whitelisting decoder, so nothing derived from a kernel is ever unpickled;
* back: a bool and a string, as JSON.

Example::

    ok, reason = run_isolated(judge_values, [student_expr], args=(expected,), timeout=10)
"""
from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Sequence

#: memory a judgement may use on top of the checker's own footprint
JUDGE_MEMORY = 2**30
#: seconds a new checker may take to import what judgements need (not counted in any judgement's limit)
START_SECONDS = 300.0
_READY = b"R"
_HEADER = struct.Struct("<Q")
_BOOT = "import sys; sys.path[:0] = {paths!r}; from graders.checks.isolated import serve; serve()"


class CheckerUnavailable(RuntimeError):
    """The checker process could not be started or answered garbage: a grader error, not a grade."""


class _Checker:
    """One checker process and the pipes to it."""

    def __init__(self):
        from graders import ROOT

        paths = [str(ROOT)] + [p for p in sys.path if p and p != str(ROOT)]
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT.format(paths=paths)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True,
                                     env={**os.environ, "HW4_CHECKER_PARENT": str(os.getpid()),
                                          "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
        try:
            ready = self._read(len(_READY), time.monotonic() + START_SECONDS)
        except EOFError:
            ready = None
        if ready != _READY:
            self.close()
            raise CheckerUnavailable(f"the checker process did not start within {START_SECONDS:g} s")

    def ask(self, payload: bytes, timeout: float) -> dict | None:
        """The checker's answer, or None if it did not answer within ``timeout`` seconds (it is killed)."""
        try:
            self.proc.stdin.write(_HEADER.pack(len(payload)) + payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise CheckerUnavailable("the checker process is gone") from None
        deadline = time.monotonic() + timeout
        data = self._read(_HEADER.size, deadline)
        if data is None:
            return None
        body = self._read(_HEADER.unpack(data)[0], deadline)
        if body is None:
            return None
        try:
            answer = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise CheckerUnavailable("the checker process answered garbage") from None
        if not isinstance(answer, dict):
            raise CheckerUnavailable("the checker process answered garbage")
        return answer

    def _read(self, n: int, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, n - got)
            if not chunk:
                raise EOFError("the checker process ended")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


_LOCAL = threading.local()


def _checker() -> _Checker:
    checker = getattr(_LOCAL, "checker", None)
    if checker is None or not checker.alive():
        if checker is not None:
            checker.close()
        try:
            checker = _Checker()
        except OSError as exc:
            raise CheckerUnavailable(f"the checker process could not be started ({exc})") from None
        _LOCAL.checker = checker
    return checker


def _forget_checker() -> None:
    checker = getattr(_LOCAL, "checker", None)
    if checker is not None:
        checker.close()
        _LOCAL.checker = None


def run_isolated(fn: Callable[..., tuple[bool, str]], values: Sequence[Any], *, args: Sequence[Any] = (),
                 timeout: float = 10.0) -> tuple[bool, str]:
    """``fn(decoded values, *args)`` in the checker; (False, reason) if it takes over ``timeout`` s.

    ``values`` are a student's (decoded) values; ``fn`` and ``args`` the grader's own. Raises
    ``CheckerUnavailable`` when the checker itself fails (a grader error, never a grade).
    """
    import cloudpickle

    from graders.probe.plain import to_plain

    payload = cloudpickle.dumps((fn, [to_plain(v) for v in values], tuple(args)))
    for attempt in (1, 2):  # a checker that died between two judgements is started again, once
        checker = _checker()
        try:
            answer = checker.ask(payload, timeout)
        except (EOFError, CheckerUnavailable) as exc:
            _forget_checker()
            if attempt == 2 or not isinstance(exc, CheckerUnavailable):
                if isinstance(exc, EOFError):  # it died during this judgement: the expression crashed it
                    return False, "could not be checked (the checker crashed)"
                raise
            continue
        if answer is None:
            _forget_checker()
            return False, f"took longer than {timeout:g} s to check (simplify your expression)"
        if answer.get("grader_error"):
            raise CheckerUnavailable(str(answer.get("reason", ""))[:2000])
        if answer.get("restart"):
            _forget_checker()
        return bool(answer.get("ok")), str(answer.get("reason", ""))
    raise CheckerUnavailable("the checker process could not be started")  # pragma: no cover


# --- the checker's side --------------------------------------------------------------------------

def _die_with_parent() -> None:
    parent = int(os.environ.get("HW4_CHECKER_PARENT", "0") or 0)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:
        os._exit(1)


def _limit_memory() -> None:
    import resource

    try:
        with open("/proc/self/statm") as fh:
            vm = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = vm + JUDGE_MEMORY if hard == resource.RLIM_INFINITY else min(vm + JUDGE_MEMORY, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (OSError, ValueError):
        pass


def _judge(request: bytes) -> dict:
    import pickle

    from graders.probe.transport import BadValue, Decoder

    try:
        fn, plain, args = pickle.loads(request)  # the grader's own request (see the module docstring)
        decoder = Decoder(None)
        values = [decoder.decode(v) for v in plain]
    except BadValue as exc:
        return {"ok": False, "reason": f"could not be read ({exc})"}
    except Exception as exc:
        return {"grader_error": True, "reason": f"the checker could not read its request: {type(exc).__name__}: {exc}"}
    try:
        ok, reason = fn(values, *args)
        return {"ok": bool(ok), "reason": str(reason)}
    except MemoryError:
        return {"ok": False, "reason": "is too large to check (checking it ran out of memory)", "restart": True}
    except RecursionError:
        return {"ok": False, "reason": "is nested too deeply to check"}
    except Exception as exc:
        return {"grader_error": True, "reason": f"{type(exc).__name__}: {exc}"}


def serve() -> None:
    """The checker's loop: read a request from stdin, answer on stdout, until stdin closes."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is for the grader, which kills us
    import cloudpickle  # noqa: F401  (what the requests need, loaded before the memory limit and the ready)
    import sympy  # noqa: F401

    import graders.probe.transport  # noqa: F401  (the decoder)

    _limit_memory()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(_READY)
    stdout.flush()
    while True:
        head = stdin.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        request = stdin.read(_HEADER.unpack(head)[0])
        answer = _judge(request)
        body = json.dumps(answer).encode("utf-8", "replace")
        stdout.write(_HEADER.pack(len(body)) + body)
        stdout.flush()
        if answer.get("restart"):
            return
