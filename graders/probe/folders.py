"""The folders a kernel's probes read their inputs from and write their answers to.

Hostile code runs next to them, so every operation goes through folder descriptors (no path the
kernel could swap is followed twice, nothing is ever written through a link it planted) and a
folder is checked to be the very one the grader made (same device and inode, still a folder,
still at its place) before its answers are read.

One *area* per notebook, outside the kernel's working folder, holds one folder per probe cell,
``out-<random>``, made just before that cell with the inputs of that cell's probes only (never
the plan of the notebook, never the inputs of a check the cell does not ask: a cell asks one check
or a batch of checks that are all public or all hidden, ``graders.probe.driver``) and given to the
kernel, which writes its answers beside them; after the cell it is taken back (the kernel can no
longer add files), read, then deleted with the inputs.

Where the grader is root and the kernel has a user id of its own, the area is ``root:<kernel
group>`` 0710: the kernel reaches the folders it is named but cannot rename, replace, add or
remove anything in the area, and other kernels cannot enter it. Where the kernel
runs as the grader's own user it can still rename or replace them; that is noticed (``intact``)
and costs the check it happened in (a batch is asked again one check per cell), and the next cell
gets a fresh folder.
"""
from __future__ import annotations

import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Mapping

INTERFERED_FOLDER = "the notebook interfered with the grader's answer folder, so this check's answers could not be read"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _same_folder(path: Path, fd: int) -> bool:
    """``path`` (not followed if a link) is still the folder open as ``fd``."""
    try:
        info = os.stat(path, follow_symlinks=False)
        return stat.S_ISDIR(info.st_mode) and _identity(info) == _identity(os.fstat(fd))
    except OSError:
        return False


class AnswerArea:
    """The folders of one notebook's probe cells (see the module docstring).

    parent: where areas are made (a folder the kernel cannot rename: the system's temporary folder)
    uid:    the kernel's own user (and group) id, or None when it runs as the grader's user
    """

    def __init__(self, parent: Path | None, uid: int | None):
        self.parent = parent
        self.uid = uid
        self.fd = -1
        self.old: list[int] = []  # folder descriptors of areas replaced after the notebook broke them
        self._make_area()

    # -- the area and its inputs --

    def _make_area(self) -> None:
        if self.fd >= 0:
            self.old.append(self.fd)  # kept open: it says where the notebook moved it, for ``close``
            self.fd = -1
        self._close_fds()
        path = Path(tempfile.mkdtemp(prefix="hw4-answers-", dir=self.parent))
        self.path = path
        self.fd = os.open(path, _DIR_FLAGS)
        if self.uid is not None:
            os.fchown(self.fd, -1, self.uid)
            os.fchmod(self.fd, 0o710)

    def intact(self) -> bool:
        """The area is still where and what the grader made."""
        return _same_folder(self.path, self.fd)

    # -- one probe cell's folder --

    def new_answer_folder(self, inputs: Mapping[str, bytes] = {}) -> "AnswerFolder":
        """A fresh folder holding ``inputs`` (name → bytes) for one probe cell, then writable by the kernel."""
        if not self.intact():
            self._make_area()
        name = f"out-{secrets.token_hex(8)}"
        os.mkdir(name, 0o700, dir_fd=self.fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        for file, data in inputs.items():
            out = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd)
            with os.fdopen(out, "wb") as fh:
                fh.write(data)
        if self.uid is not None:
            os.fchown(fd, self.uid, self.uid)
        return AnswerFolder(self, name, fd)

    def close(self) -> None:
        """Remove every area made, wherever the notebook may have moved it (found through its descriptor)."""
        for fd in [self.fd, *self.old]:
            if fd < 0:
                continue
            try:
                where = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                where = ""
            if where.startswith("/") and _same_folder(Path(where), fd):
                shutil.rmtree(where, ignore_errors=True)
            os.close(fd)
        self.fd, self.old = -1, []
        shutil.rmtree(self.path, ignore_errors=True)

    def _close_fds(self) -> None:
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
        self.fd = -1


class AnswerFolder:
    """One probe cell's answer folder: ``path`` is what the kernel is told, ``fd`` what the grader reads."""

    def __init__(self, area: AnswerArea, name: str, fd: int):
        self.area = area
        self.name = name
        self.fd = fd
        self.path = area.path / name

    def take_back(self) -> bool:
        """After the cell: the kernel can no longer add files here. True if nothing was tampered
        with (this folder and the area are still the ones the grader made, in place)."""
        intact = self.area.intact() and _same_folder(self.path, self.fd)
        if self.area.uid is not None:
            try:
                os.fchown(self.fd, os.getuid(), os.getgid())
                os.fchmod(self.fd, 0o700)
            except OSError:
                return False
        return intact

    def remove(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
        try:
            shutil.rmtree(self.name, dir_fd=self.area.fd)
        except (OSError, TypeError, ValueError):
            pass  # gone, moved, or an area already replaced: ``AnswerArea.close`` removes what is left
