"""Warm kernels: the next notebook's kernel started while the current one runs (the pattern of voila's
preheated kernels and kernel_gateway's KernelPool).

A warm kernel is a ``NotebookKernel`` started ahead for a notebook to come — its own kernel user,
working folder with its assets, sandbox and HOME, the probe runtime installed, the homework's heavy
modules imported through importlib (``Homework.preload``: no name is bound in the notebook's
namespace, so a notebook that forgot ``import torch`` fails as it would in a fresh kernel). It is
handed out once, to a notebook whose ``KernelRequest`` is equal, and never reused: still exactly one
fresh kernel per notebook, never shared across notebooks or students. Being another user in another
sandbox, it can reach nothing of the notebook running beside it, nor that notebook it.

Kernels are started on one long-lived thread per process: a sandboxed kernel dies with the thread
that started it (its launcher's parent-death signal follows the thread, not the process), so that
thread lives as long as the pool. Each grading process (a spawned worker, a Dask worker, a lone
``hw4 grade``) has its own pool, ``shared()``: ``--jobs N`` gives N pools of one warm kernel each.
A kernel that fails to start ahead is simply not there: the notebook starts its own, on its clock.
"""
from __future__ import annotations

import atexit
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from graders.notebook_kernel import KernelRequest, NotebookKernel, start

log = logging.getLogger("hw4.kernel_pool")


class WarmKernels:
    """At most ``size`` kernels started ahead, each for a ``KernelRequest``."""

    def __init__(self, size: int = 1):
        self.size = size
        #: this process grades one submission after another (a worker): during a submission's last
        #: notebook, the first notebook of the next one is warmed
        self.ahead = False
        self._lock = threading.Lock()
        self._pending: list[tuple[KernelRequest, Future]] = []
        self._starter: ThreadPoolExecutor | None = None
        self._closed = False

    def warm(self, request: KernelRequest) -> None:
        """Start a kernel for ``request`` in the background, unless one is already there; when the pool
        is full, the oldest warm kernel (one nobody took: a guess that missed) is stopped for it."""
        with self._lock:
            if self._closed or any(r == request for r, _ in self._pending):
                return
            if self._starter is None:
                self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hw4-warm-kernels")
            while len(self._pending) >= self.size:
                _, stale = self._pending.pop(0)
                self._starter.submit(_discard, stale)
            self._pending.append((request, self._starter.submit(start, request)))

    def take(self, request: KernelRequest) -> NotebookKernel | None:
        """The warm kernel for ``request`` (waiting for it to finish starting), or None."""
        with self._lock:
            found = next((f for r, f in self._pending if r == request), None)
            if found is None:
                return None
            self._pending = [(r, f) for r, f in self._pending if f is not found]
        try:
            started = found.result()
        except Exception as exc:  # a machine problem: the notebook starts its own kernel and meets it there
            log.info("a warm kernel did not start (%s); starting one on demand", exc)
            return None
        if not started.runtime_ok or not started.kernel.adopt():
            started.close()
            return None
        return started

    def close(self) -> None:
        """Stop every warm kernel not handed out, and the starting thread."""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, []
            starter, self._starter = self._starter, None
        for _, future in pending:
            _discard(future)
        if starter is not None:
            starter.shutdown(wait=True)


def _discard(future: Future) -> None:
    """Stop a warm kernel nobody took (once it has finished starting)."""
    try:
        future.result().close()
    except Exception:
        pass


_SHARED: WarmKernels | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> WarmKernels:
    """This process's pool (made on first use, closed when the process exits)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = WarmKernels()
            atexit.register(_SHARED.close)
        return _SHARED
