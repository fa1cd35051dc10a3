"""Opening a student's zip safely: only its notebooks, inside the target folder, within caps.

An entry that would land outside the target folder (zip slip: ``..``, an absolute or drive path,
a NUL byte) or an archive over the file-count or size caps (zip bomb; sizes are counted while
writing, not trusted from the header) refuses the whole archive with a reason a student can read;
symlink entries are skipped, never followed; only notebooks are written, each under its decoded
name (UTF-8 when flagged, else UTF-8, cp1256 or cp437: ``text.decode_zip_name``) made safe as a
file name.

Example::

    notes = safe_extract(Path("401234567_Sara.zip"), Path("/tmp/unpacked/401234567_Sara"))
"""
from __future__ import annotations

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from graders.text import decode_zip_name, escaped, safe_component


@dataclass(frozen=True)
class UnzipLimits:
    """Caps for opening one student's zip (a larger archive is refused, not truncated)."""

    max_files: int = 500
    max_bytes: int = 256 * 2**20


class UnsafeArchive(Exception):
    """A zip that is refused (zip slip, zip bomb, corrupt): the message is the student-facing reason."""


def _safe_member_path(name: str) -> PurePosixPath:
    """The relative path a zip member may be written to; ``UnsafeArchive`` if it could escape."""
    if "\x00" in name:
        raise UnsafeArchive(f"entry '{escaped(name)}' has a NUL byte in its name")
    norm = name.replace("\\", "/")
    rel = PurePosixPath(norm)
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in rel.parts:
        raise UnsafeArchive(f"entry '{escaped(name)}' would be written outside the submission folder (zip slip)")
    return PurePosixPath(*[p for p in rel.parts if p not in ("", ".")])


def member_name(info: zipfile.ZipInfo) -> tuple[str, str]:
    """``(name, how it was decoded)`` of a zip member: as flagged UTF-8, else UTF-8, cp1256 or cp437."""
    if info.flag_bits & 0x800:
        return info.orig_filename, "utf-8"
    try:
        raw = info.orig_filename.encode("cp437")  # zipfile decoded the raw bytes as cp437: undo it
    except UnicodeEncodeError:  # a name zipfile did not decode itself
        return info.orig_filename, "utf-8"
    return decode_zip_name(raw)


def safe_extract(archive: Path, dest: Path, *, limits: UnzipLimits = UnzipLimits(),
                 suffixes: tuple[str, ...] = (".ipynb",)) -> list[str]:
    """Unpack the notebooks of ``archive`` into the fresh folder ``dest``; return notes on skipped entries.

    Raises ``UnsafeArchive`` (with a reason a student can read) for a corrupt archive, an entry
    that would escape ``dest``, or more files or bytes than ``limits`` allow; ``dest`` is then
    removed. Symlink entries are skipped and reported; only files ending in ``suffixes`` are written,
    each under its decoded name (``member_name``) made safe as a file name.
    """
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    try:
        return _extract(Path(archive), dest, limits, suffixes)
    except UnsafeArchive:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise UnsafeArchive(f"the archive could not be read ({type(exc).__name__}: {escaped(str(exc))})") from None
    except Exception as exc:  # zlib.error and friends: a corrupt stream
        shutil.rmtree(dest, ignore_errors=True)
        raise UnsafeArchive(f"the archive is corrupt ({type(exc).__name__})") from None


def _extract(archive: Path, dest: Path, limits: UnzipLimits, suffixes: tuple[str, ...]) -> list[str]:
    notes: list[str] = []
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise UnsafeArchive("not a valid zip archive") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise UnsafeArchive(f"it has {len(infos)} entries; at most {limits.max_files} are accepted (zip bomb guard)")
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_bytes:
            raise UnsafeArchive(f"it would unpack to {declared / 2**20:.1f} MB; at most "
                                f"{limits.max_bytes / 2**20:.0f} MB are accepted (zip bomb guard)")
        names = [member_name(i) for i in infos]
        rels = [_safe_member_path(name) for name, _ in names]  # refuse before writing anything
        written = 0
        for info, (name, how), rel in zip(infos, names, rels):
            shown = escaped(name)
            if info.is_dir() or not rel.parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                notes.append(f"{shown}: a symbolic link, not followed (skipped)")
                continue
            if rel.parts[0] == "__MACOSX" or ".ipynb_checkpoints" in rel.parts or rel.name.startswith("._"):
                continue
            if not rel.name.lower().endswith(suffixes):
                if rel.name.lower().endswith((".zip", ".rar", ".7z", ".tar", ".gz")):
                    notes.append(f"{shown}: an archive inside the archive is not opened")
                continue
            if info.flag_bits & 0x1:
                notes.append(f"{shown}: encrypted, cannot be read (skipped)")
                continue
            target = dest.joinpath(*(safe_component(p) for p in rel.parts))
            if not target.resolve().is_relative_to(dest.resolve()):
                raise UnsafeArchive(f"entry '{shown}' would be written outside the submission folder (zip slip)")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                out = open(target, "xb")
            except FileExistsError:
                notes.append(f"{shown}: appears twice in the archive (the first copy is used)")
                continue
            if how != "utf-8":
                notes.append(f"{shown}: the archive does not mark this name as UTF-8; it was read as {how}")
            with out, zf.open(info) as src:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > limits.max_bytes:
                        raise UnsafeArchive(f"it unpacks to more than {limits.max_bytes / 2**20:.0f} MB "
                                            "(zip bomb guard)")
                    out.write(chunk)
    return notes
