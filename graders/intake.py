"""Find submissions, open them safely, and match each notebook to its part.

A PATH given to ``hw4 grade`` is one of:

* a notebook (one submission of one part);
* a ``.zip`` or a folder holding one student's notebooks;
* a **class folder**: entries named by the course's rule ``{STD_Number}_{Name}`` — a ``.zip``, a
  folder, or loose notebooks prefixed that way (``401234567_Sara_Ahmadi_part1.ipynb``; loose
  notebooks with the same student number form one submission).

Nothing is dropped silently. An entry of a class folder that breaks the naming rule is still
graded when it is a zip, a folder or a notebook (with a note on its result) and is listed in
``Intake.rejected`` too; anything else (a PDF, a symlink, a stray file) is listed there with the
reason it was not graded. Only dot-files (``.DS_Store``…) are ignored.

Zips are opened by ``safe_extract``: an entry that would land outside the target folder (zip
slip) or an archive over the file-count or size caps (zip bomb; sizes are counted while writing,
not trusted from the header) refuses the whole archive; symlink entries are skipped, never
followed; only notebooks are written. A refusal becomes that student's note and reason.

A notebook is matched to its part by the metadata the assignment notebooks carry
(``metadata.hw4.part``), then by its file name, then by which required functions it defines.
Problems (a missing or duplicated part, an unreadable file) are recorded on the submission,
never raised.
"""
from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Mapping, Sequence

from graders.parts.base import PartSpec

NAME_RULE = re.compile(r"^(?P<sid>[0-9]{5,12})_(?P<name>[^/\\]+)$")
#: files of a class folder that are neither graded nor reported
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}


@dataclass
class Submission:
    id: str
    student_id: str
    name: str
    source: Path
    notebooks: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    #: the parts this submission is graded on (a lone notebook: just its own part)
    scope: tuple[str, ...] = ()
    #: "notebook", "folder", "zip" or "notebooks" (loose notebooks of a class folder)
    kind: str = ""
    #: latest modification time of what was submitted (ISO 8601, UTC): the fallback for late days
    file_time: str = ""


@dataclass(frozen=True)
class UnzipLimits:
    """Caps for opening one student's zip (a larger archive is refused, not truncated)."""

    max_files: int = 500
    max_bytes: int = 256 * 2**20


@dataclass
class Intake:
    """What a scan found: the submissions to grade and the entries it could not take as given."""

    submissions: list[Submission] = field(default_factory=list)
    #: (entry, reason) for every entry that is not graded as named (never silently dropped)
    rejected: list[tuple[str, str]] = field(default_factory=list)


class UnsafeArchive(Exception):
    """A zip that is refused (zip slip, zip bomb, corrupt): the message is the student-facing reason."""


def parse_name(name: str) -> tuple[str, str] | None:
    """``'401234567_Sara_Ahmadi'`` → ``('401234567', 'Sara_Ahmadi')``; None if the rule is broken."""
    m = NAME_RULE.match(name)
    return (m.group("sid"), m.group("name")) if m else None


def _declared_part(path: Path) -> str | None:
    try:
        if path.stat().st_size > 50 * 2**20:
            return None
        data = json.loads(path.read_bytes().decode("utf-8", errors="replace"))
        part = data.get("metadata", {}).get("hw4", {}).get("part")
        return part if isinstance(part, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def _defined_functions(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8", errors="replace"))
        cells = data.get("cells") or [c for ws in data.get("worksheets", []) for c in ws.get("cells", [])]
        src = "\n".join("".join(c.get("source", c.get("input", ""))) if isinstance(c.get("source", c.get("input", "")), list)
                        else str(c.get("source", c.get("input", ""))) for c in cells if c.get("cell_type") == "code")
    except (OSError, ValueError, AttributeError, TypeError):
        return set()
    return set(re.findall(r"^\s*def\s+([A-Za-z_]\w*)", src, flags=re.M))


def match_part(path: Path, parts: Mapping[str, PartSpec]) -> str | None:
    declared = _declared_part(path)
    if declared in parts:
        return declared
    stem = path.stem.lower()
    for name, spec in parts.items():
        if Path(spec.notebook).stem.lower() in stem or re.search(rf"(^|[^a-z0-9]){name}([^a-z0-9]|$)", stem):
            return name
    defined = _defined_functions(path)
    best, best_hits = None, 0
    for name, spec in parts.items():
        hits = len(defined & set(spec.required_functions))
        if hits > best_hits:
            best, best_hits = name, hits
    return best


def collect_notebooks(sub: Submission, files: Sequence[Path], parts: Mapping[str, PartSpec],
                      *, lone: bool = False) -> Submission:
    for nb in sorted(files):
        part = match_part(nb, parts)
        if part is None:
            sub.problems.append(f"{nb.name}: not recognised as any part of the homework (ignored)")
        elif part in sub.notebooks:
            sub.problems.append(f"{nb.name}: a second notebook for {part} (graded {sub.notebooks[part].name} instead)")
        else:
            sub.notebooks[part] = nb
    if lone:
        sub.scope = tuple(sub.notebooks)
        return sub
    sub.scope = tuple(parts)
    for name, spec in parts.items():
        if name not in sub.notebooks:
            sub.problems.append(f"no notebook for {name} ({spec.notebook}) was found")
    return sub


def _walk_notebooks(folder: Path) -> tuple[list[Path], list[str]]:
    """Notebooks under ``folder`` (symlinks neither followed nor read) and notes on what was skipped."""
    found, notes = [], []
    for root, dirs, files in os.walk(folder, followlinks=False):
        rootp = Path(root)
        for d in list(dirs):
            if (rootp / d).is_symlink():
                notes.append(f"{(rootp / d).relative_to(folder)}: a symbolic link, not followed")
                dirs.remove(d)
            elif d == ".ipynb_checkpoints" or d == "__MACOSX":
                dirs.remove(d)
        dirs.sort()
        for f in sorted(files):
            p = rootp / f
            if not f.lower().endswith(".ipynb"):
                continue
            if p.is_symlink():
                notes.append(f"{p.relative_to(folder)}: a symbolic link, not followed (skipped)")
            elif p.is_file():
                found.append(p)
    return sorted(found), notes


def _notebooks_in(folder: Path) -> list[Path]:
    return _walk_notebooks(folder)[0]


def _mtime_iso(paths: Sequence[Path]) -> str:
    times = []
    for p in paths:
        try:
            times.append(p.lstat().st_mtime)
        except OSError:
            pass
    if not times:
        return ""
    return dt.datetime.fromtimestamp(max(times), dt.timezone.utc).isoformat(timespec="seconds")


# --- zips ------------------------------------------------------------------------------------

def _safe_member_path(name: str) -> PurePosixPath:
    """The relative path a zip member may be written to; ``UnsafeArchive`` if it could escape."""
    if "\x00" in name:
        raise UnsafeArchive(f"entry {name!r} has a NUL byte in its name")
    norm = name.replace("\\", "/")
    rel = PurePosixPath(norm)
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in rel.parts:
        raise UnsafeArchive(f"entry {name!r} would be written outside the submission folder (zip slip)")
    return PurePosixPath(*[p for p in rel.parts if p not in ("", ".")])


def safe_extract(archive: Path, dest: Path, *, limits: UnzipLimits = UnzipLimits(),
                 suffixes: tuple[str, ...] = (".ipynb",)) -> list[str]:
    """Unpack the notebooks of ``archive`` into the fresh folder ``dest``; return notes on skipped entries.

    Raises ``UnsafeArchive`` (with a reason a student can read) for a corrupt archive, an entry
    that would escape ``dest``, or more files or bytes than ``limits`` allow; ``dest`` is then
    removed. Symlink entries are skipped and reported; only files ending in ``suffixes`` are written.
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
        raise UnsafeArchive(f"the archive could not be read ({type(exc).__name__}: {exc})") from None
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
        rels = [_safe_member_path(i.filename) for i in infos]  # refuse before writing anything
        written = 0
        for info, rel in zip(infos, rels):
            if info.is_dir() or not rel.parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                notes.append(f"{info.filename}: a symbolic link, not followed (skipped)")
                continue
            if rel.parts[0] == "__MACOSX" or ".ipynb_checkpoints" in rel.parts or rel.name.startswith("._"):
                continue
            if not rel.name.lower().endswith(suffixes):
                if rel.name.lower().endswith((".zip", ".rar", ".7z", ".tar", ".gz")):
                    notes.append(f"{info.filename}: an archive inside the archive is not opened")
                continue
            if info.flag_bits & 0x1:
                notes.append(f"{info.filename}: encrypted, cannot be read (skipped)")
                continue
            target = dest.joinpath(*rel.parts)
            if not target.resolve().is_relative_to(dest.resolve()):
                raise UnsafeArchive(f"entry {info.filename!r} would be written outside the submission folder (zip slip)")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                out = open(target, "xb")
            except FileExistsError:
                notes.append(f"{info.filename}: appears twice in the archive (the first copy is used)")
                continue
            with out, zf.open(info) as src:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > limits.max_bytes:
                        raise UnsafeArchive(f"it unpacks to more than {limits.max_bytes / 2**20:.0f} MB "
                                            "(zip bomb guard)")
                    out.write(chunk)
    return notes


# --- scanning --------------------------------------------------------------------------------

class _Unpacker:
    """Where zips are unpacked: a given folder, or a temporary one removed at exit."""

    def __init__(self, root: Path | None):
        self._root = Path(root) if root is not None else None

    def folder(self, sub_id: str) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="hw4-unpacked-"))
            atexit.register(shutil.rmtree, self._root, True)
        safe = re.sub(r"[^\w.\-]", "_", sub_id)
        return self._root / (safe if safe.strip(".") and not safe.startswith(".") else "_" + safe)


def find_submissions(paths: Sequence[Path], parts: Mapping[str, PartSpec], *,
                     unpack_to: Path | None = None, limits: UnzipLimits = UnzipLimits()) -> list[Submission]:
    """Every submission under ``paths``, in a stable order (see ``scan_submissions``)."""
    return scan_submissions(paths, parts, unpack_to=unpack_to, limits=limits).submissions


def scan_submissions(paths: Sequence[Path], parts: Mapping[str, PartSpec], *,
                     unpack_to: Path | None = None, limits: UnzipLimits = UnzipLimits()) -> Intake:
    """Every submission under ``paths`` and every entry that was not taken as given.

    Zips are unpacked under ``unpack_to/<submission id>`` (default: a temporary folder).
    Raises ``FileNotFoundError`` only for a PATH that does not exist.
    """
    intake = Intake()
    unpacker = _Unpacker(unpack_to)
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if path.is_file() and path.suffix.lower() == ".zip":
            intake.submissions.append(_from_zip(path, parts, unpacker, limits))
        elif path.is_file():
            intake.submissions.append(_single(path, [path], parts, lone=True))
        elif _is_class_folder(path):
            _scan_class(path, parts, unpacker, limits, intake)
        else:
            intake.submissions.append(_from_folder(path, parts))
    counts = Counter(s.student_id for s in intake.submissions if s.student_id)
    for sub in intake.submissions:
        if counts[sub.student_id] > 1:
            others = sorted(s.id for s in intake.submissions if s.student_id == sub.student_id and s is not sub)
            sub.problems.append(f"student {sub.student_id} has more than one submission entry "
                                f"(also {', '.join(others)}); each is graded separately")
    return intake


def _is_class_folder(path: Path) -> bool:
    """A folder of many students' entries, rather than one student's folder."""
    if parse_name(path.name):
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    if any(parse_name(p.stem if p.is_file() else p.name) for p in entries
           if p.is_dir() or p.suffix.lower() in (".zip", ".ipynb")):
        return True
    # nothing is named by the rule: notebooks here are one student's; otherwise entries are students
    return not any(p.suffix.lower() == ".ipynb" and p.is_file() for p in entries)


def _scan_class(folder: Path, parts: Mapping[str, PartSpec], unpacker: _Unpacker, limits: UnzipLimits,
                intake: Intake) -> None:
    loose: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in IGNORED_NAMES:
            continue
        named = parse_name(entry.stem if entry.is_file() else entry.name)
        if entry.is_symlink():
            intake.rejected.append((entry.name, "a symbolic link; symlinks are not followed"))
        elif entry.is_dir():
            if not named:
                intake.rejected.append((entry.name, "folder name breaks the rule {STD_Number}_{Name}; graded with a note"))
            intake.submissions.append(_from_folder(entry, parts))
        elif entry.suffix.lower() == ".zip":
            if not named:
                intake.rejected.append((entry.name, "zip name breaks the rule {STD_Number}_{Name}; graded with a note"))
            intake.submissions.append(_from_zip(entry, parts, unpacker, limits))
        elif entry.suffix.lower() == ".ipynb":
            if named:
                loose.setdefault(named[0], []).append(entry)
            else:
                intake.rejected.append((entry.name, "notebook name does not start with {STD_Number}_{Name}; "
                                                    "graded alone with a note"))
                intake.submissions.append(_single(entry, [entry], parts, lone=False))
        else:
            intake.rejected.append((entry.name, "not a .zip, a folder or a notebook; not graded"))
    for sid, files in sorted(loose.items()):
        name = _loose_name(sid, files, parts)
        sub = Submission(id=f"{sid}_{name}" if name else sid, student_id=sid, name=name, source=folder,
                         kind="notebooks", file_time=_mtime_iso(files))
        intake.submissions.append(collect_notebooks(sub, files, parts))
    intake.submissions.sort(key=lambda s: s.id)


def _loose_name(sid: str, files: Sequence[Path], parts: Mapping[str, PartSpec]) -> str:
    """The ``{Name}`` shared by one student's loose notebooks (their part labels removed)."""
    rests = [f.stem[len(sid) + 1:] for f in files]
    if len(rests) > 1:
        split = [r.split("_") for r in rests]
        common = []
        for tokens in zip(*split):
            if len(set(tokens)) != 1:
                break
            common.append(tokens[0])
        if common:
            return "_".join(common)
    labels = sorted({Path(s.notebook).stem for s in parts.values()} | set(parts), key=len, reverse=True)
    rest = rests[0]
    for label in labels:
        m = re.match(rf"^(?P<name>.*?)[_\- ]*{re.escape(label)}$", rest, flags=re.I)
        if m:
            return m.group("name").strip("_- ")
    return rest


def _from_folder(path: Path, parts: Mapping[str, PartSpec]) -> Submission:
    files, notes = _walk_notebooks(path)
    sub = _single(path, files, parts, lone=False)
    sub.kind = "folder"
    sub.problems[:0] = notes
    sub.file_time = _mtime_iso(files) or _mtime_iso([path])
    return sub


def _from_zip(path: Path, parts: Mapping[str, PartSpec], unpacker: _Unpacker, limits: UnzipLimits) -> Submission:
    base = path.stem
    parsed = parse_name(base)
    sid, name = parsed if parsed else ("", base)
    sub = Submission(id=base, student_id=sid, name=name, source=path, kind="zip", file_time=_mtime_iso([path]))
    if not parsed:
        sub.problems.append(f"{path.name!r} does not follow the naming rule {{STD_Number}}_{{Name}}")
    target = unpacker.folder(base)
    try:
        notes = safe_extract(path, target, limits=limits)
    except UnsafeArchive as exc:
        sub.problems.append(f"{path.name} was refused: {exc}")
        sub.scope = tuple(parts)
        return sub
    files, more = _walk_notebooks(target)
    sub.problems += notes + more
    return collect_notebooks(sub, files, parts)


def _single(path: Path, files: Sequence[Path], parts: Mapping[str, PartSpec], *, lone: bool | None = None) -> Submission:
    base = path.stem if path.is_file() else path.name
    parsed = parse_name(base)
    sid, name = parsed if parsed else ("", base)
    sub = Submission(id=base, student_id=sid, name=name, source=path,
                     kind="notebook" if path.is_file() else "folder", file_time=_mtime_iso(list(files) or [path]))
    if not parsed:
        sub.problems.append(f"{base!r} does not follow the naming rule {{STD_Number}}_{{Name}}")
    return collect_notebooks(sub, files, parts, lone=path.is_file() if lone is None else lone)
