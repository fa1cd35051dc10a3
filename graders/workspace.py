"""A notebook's folders on the host: its working folder with its assets, its answer area, and a run
folder and HOME per kernel start — owned so that the kernel can reach only its own."""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from graders.homework import assets_dir
from graders import sandbox as _sandbox
from graders.probe.folders import AnswerArea
from graders.sandbox import KernelPaths, make_home

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


class Workspace:
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
