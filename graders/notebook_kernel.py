"""A notebook's first kernel, started: its own kernel user and folders, the kernel up in its sandbox
with the probe runtime installed — everything a notebook needs before its first cell.

``start`` does it now (a cold start, inside the submission's clock) or on the warm-kernel thread
ahead of time (``graders.kernel_pool``); either way ``graders.execute`` gets a ``NotebookKernel``
and the kernel's restarts, if any, happen in the same folders under the same user.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient.exceptions import DeadKernelError

from graders import sandbox as _sandbox
from graders.kernel import Kernel
from graders.rubric import Limits
from graders.sandbox import KernelPaths, kernel_user
from graders.workspace import Workspace


@dataclass(frozen=True)
class KernelRequest:
    """What a notebook's kernel is started with; two notebooks with equal requests can use each
    other's warm kernel (the pool's key)."""

    assets: tuple[str, ...]
    limits: Limits
    cpu_seconds: int
    #: asset path → the file that replaces it (``hw4 grade --dataset``)
    overrides: tuple[tuple[str, Path], ...] = ()
    workroot: Path | None = None
    keep_workdir: bool = False
    #: modules imported ahead, through importlib (warm kernels only)
    preload: tuple[str, ...] = ()


class NotebookKernel:
    """One notebook's kernel user, folders and first kernel (``kernel``, runtime installed unless
    ``runtime_ok`` is False). ``close`` stops every kernel and removes the folders; it is idempotent."""

    def __init__(self, request: KernelRequest, box: _sandbox.Sandbox):
        self.request, self.box = request, box
        self._user = kernel_user(box)
        self.uid = self._user.__enter__()
        self.kernel: Kernel | None = None
        self.paths: KernelPaths | None = None
        self.runtime_ok = False
        self.folders: Workspace | None = None
        try:
            self.folders = Workspace(box, self.uid, request.assets, dict(request.overrides), request.workroot,
                                     request.keep_workdir)
        except BaseException:
            self.close()
            raise

    def new_kernel(self, nb, startup_timeout: float) -> tuple[Kernel, KernelPaths]:
        """A kernel in fresh run folder and HOME, started (not yet with the runtime); raises
        ``KernelStartFailed`` (its folders already cleaned) if it does not start."""
        paths = self.folders.for_kernel()
        kernel = Kernel(nb, paths, self.request.limits, box=self.box, uid=self.uid,
                        cpu_seconds=self.request.cpu_seconds, startup_timeout=startup_timeout)
        try:
            kernel.__enter__()
        except BaseException:
            self.folders.done_with(paths)
            raise
        return kernel, paths

    def stop(self, kernel: Kernel, paths: KernelPaths) -> None:
        """Stop one kernel of this notebook: nothing of it is left running, its run folder and HOME go."""
        kernel.__exit__(None, None, None)
        self.folders.done_with(paths)
        if kernel is self.kernel:
            self.kernel = self.paths = None

    def close(self) -> None:
        if self.kernel is not None:
            self.stop(self.kernel, self.paths)
        if self.folders is not None:
            self.folders.__exit__(None, None, None)
            self.folders = None
        if self._user is not None:
            self._user.__exit__(None, None, None)
            self._user = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def start(request: KernelRequest, *, startup_timeout: float = 120, install_timeout: float = 120) -> NotebookKernel:
    """A notebook's folders and first kernel with the probe runtime installed (and ``request.preload``
    imported); raises ``KernelStartFailed`` if the kernel does not start."""
    started = NotebookKernel(request, _sandbox.current())
    try:
        started.kernel, started.paths = started.new_kernel(nbformat.v4.new_notebook(), startup_timeout)
        try:
            started.runtime_ok = started.kernel.install_runtime(install_timeout, preload=request.preload)
        except DeadKernelError:  # as when a student cell kills it: the notebook's first cell will say so
            pass
    except BaseException:
        started.close()
        raise
    return started
