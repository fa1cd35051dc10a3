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

Every entry gets a submission id of its own, safe as a folder name (``text.safe_component`` of
its decoded name): names that are not UTF-8 are decoded with a stated fallback (``text``), and
entries that would share an id (``X/`` and ``X.zip``, names equal up to case) are each graded
under ``X~kind`` with a note (``_assign_ids``) — never merged, dropped or unpacked into one folder.

Zips are opened by ``graders.archive.safe_extract`` (zip slip, zip bombs, symlinks); a refusal
becomes that student's note and reason.

A notebook is matched to its part by the metadata the assignment notebooks carry
(``metadata.hw4.part``), then by its file name, then by which required functions it defines.
Problems (a missing or duplicated part, an unreadable file) are recorded on the submission,
never raised.
"""
from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from graders.archive import UnsafeArchive, UnzipLimits, safe_extract
from graders.nbmeta import declared_part
from graders.part import PartSpec
from graders.text import decode_fs_name, escaped, name_bytes, safe_component

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
    #: latest modification time of what was submitted (ISO 8601, UTC), kept in intake.json for a TA to read;
    #: never a submission time: a clone, copy or download resets it (late days: ``graders.latedays``)
    file_time: str = ""


@dataclass
class Intake:
    """What a scan found: the submissions to grade and the entries it could not take as given."""

    submissions: list[Submission] = field(default_factory=list)
    #: (entry, reason) for every entry that is not graded as named (never silently dropped)
    rejected: list[tuple[str, str]] = field(default_factory=list)


def parse_name(name: str) -> tuple[str, str] | None:
    """``'401234567_Sara_Ahmadi'`` → ``('401234567', 'Sara_Ahmadi')``; None if the rule is broken."""
    m = NAME_RULE.match(name)
    return (m.group("sid"), m.group("name")) if m else None


def _declared_part(path: Path) -> str | None:
    try:
        if path.stat().st_size > 50 * 2**20:
            return None
        data = json.loads(path.read_bytes().decode("utf-8", errors="replace"))
        return declared_part(data)
    except (OSError, ValueError):
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
        declared = _declared_part(nb)
        if part is None and declared:  # a part of the homework left out of this run (hw4 grade --parts)
            sub.problems.append(f"{escaped(nb.name)}: {escaped(declared[:60])} is not graded in this run")
        elif part is None:
            sub.problems.append(f"{escaped(nb.name)}: not recognised as any part of the homework (ignored)")
        elif part in sub.notebooks:
            sub.problems.append(f"{escaped(nb.name)}: a second notebook for {part} "
                                f"(graded {escaped(sub.notebooks[part].name)} instead)")
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
                notes.append(f"{escaped(str((rootp / d).relative_to(folder)))}: a symbolic link, not followed")
                dirs.remove(d)
            elif d == ".ipynb_checkpoints" or d == "__MACOSX":
                dirs.remove(d)
        dirs.sort()
        for f in sorted(files):
            p = rootp / f
            if not f.lower().endswith(".ipynb"):
                continue
            if p.is_symlink():
                notes.append(f"{escaped(str(p.relative_to(folder)))}: a symbolic link, not followed (skipped)")
            elif p.is_file():
                found.append(p)
    return sorted(found), notes


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


# --- scanning --------------------------------------------------------------------------------

class _Unpacker:
    """Where zips are unpacked: a given folder, or a temporary one removed at exit; one folder per entry."""

    def __init__(self, root: Path | None):
        self._root = Path(root) if root is not None else None
        self._claimed: set[str] = set()

    def folder(self, sub_id: str) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="hw4-unpacked-"))
            atexit.register(shutil.rmtree, self._root, True)
        key = _folded(sub_id)  # ids are folder-safe and unique up to case (``_assign_ids``)
        if key in self._claimed or "/" in sub_id or sub_id.startswith("."):
            raise RuntimeError(f"the unpack folder {sub_id!r} is not one entry's own (a grader bug)")
        self._claimed.add(key)
        return self._root / sub_id


@dataclass
class _Entry:
    """One thing to grade, before its submission id is final (see ``_assign_ids``)."""

    path: Path
    #: "zip", "folder", "notebook" or "notebooks" (one student's loose notebooks: ``path`` is the class folder)
    kind: str
    #: the entry's name as a TA sees it (undecodable bytes and control characters escaped)
    label: str
    #: the id it asks for: its decoded name, made safe as a folder name
    base: str
    #: (student number, name) by the naming rule, or None when the name breaks it
    parsed: tuple[str, str] | None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lone: bool = False
    id: str = ""


def _folded(name: str) -> str:
    """Names that one file system may treat as the same (letter case, Unicode normal form) fold alike."""
    return unicodedata.normalize("NFC", name).casefold()


def _named_entry(path: Path, kind: str, raw_name: str, *, lone: bool = False) -> _Entry:
    """An entry named ``raw_name`` (a name from the file system, any bytes) decoded with a stated fallback."""
    text, how = decode_fs_name(raw_name)
    label = escaped(path.name or raw_name)
    notes = [_decoding_note(label, text, how)] if how != "utf-8" else []
    base = safe_component(text)
    return _Entry(path, kind, label, base, parse_name(base), notes=notes, lone=lone,
                  files=[path] if kind == "notebook" else [])


def _decoding_note(label: str, text: str, how: str) -> str:
    """What a TA and the student read about a name that is not UTF-8 (``text.decode_fs_name``)."""
    read = f"cp1256: {escaped(text)}" if how == "cp1256" else f"{escaped(text)} (bytes that are not text were replaced)"
    return f"the name '{label}' is not valid UTF-8; it was read as {read}"


def _folder_entry(path: Path) -> _Entry:
    return _named_entry(path, "folder", Path(os.path.abspath(path)).name)


def find_submissions(paths: Sequence[Path], parts: Mapping[str, PartSpec], *,
                     unpack_to: Path | None = None, limits: UnzipLimits = UnzipLimits()) -> list[Submission]:
    """Every submission under ``paths``, in a stable order (see ``scan_submissions``)."""
    return scan_submissions(paths, parts, unpack_to=unpack_to, limits=limits).submissions


def scan_submissions(paths: Sequence[Path], parts: Mapping[str, PartSpec], *,
                     unpack_to: Path | None = None, limits: UnzipLimits = UnzipLimits()) -> Intake:
    """Every submission under ``paths`` and every entry that was not taken as given.

    Each entry gets its own submission id (``_assign_ids``), safe as a folder name; zips are
    unpacked under ``unpack_to/<submission id>`` (default: a temporary folder), one folder per entry.
    Raises ``FileNotFoundError`` only for a PATH that does not exist.
    """
    intake = Intake()
    entries: list[_Entry] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{escaped(str(path))}: no such file or folder")
        if path.is_file() and path.suffix.lower() == ".zip":
            entries.append(_named_entry(path, "zip", path.stem))
        elif path.is_file():
            entries.append(_named_entry(path, "notebook", path.stem, lone=True))
        elif _is_class_folder(path):
            entries += _class_entries(path, parts, intake)
        else:
            entries.append(_folder_entry(path))
    entries = _once_each(entries)
    intake.rejected = list(dict.fromkeys(intake.rejected))
    _assign_ids(entries, intake)
    unpacker = _Unpacker(unpack_to)
    intake.submissions = sorted((_submission(e, parts, unpacker, limits) for e in entries), key=lambda s: s.id)
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


def _class_entries(folder: Path, parts: Mapping[str, PartSpec], intake: Intake) -> list[_Entry]:
    """One entry per student entry of a class folder; what cannot be graded goes to ``intake.rejected``."""
    entries: list[_Entry] = []
    loose: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in IGNORED_NAMES:
            continue
        label = escaped(path.name)
        if path.is_symlink():
            intake.rejected.append((label, "a symbolic link; symlinks are not followed"))
            continue
        if path.is_dir():
            entry = _named_entry(path, "folder", path.name)
        elif path.suffix.lower() == ".zip":
            entry = _named_entry(path, "zip", path.stem)
        elif path.suffix.lower() == ".ipynb":
            entry = _named_entry(path, "notebook", path.stem)
            if entry.parsed:
                loose.setdefault(entry.parsed[0], []).append(path)
                continue
        else:
            intake.rejected.append((label, "not a .zip, a folder or a notebook; not graded"))
            continue
        if not entry.parsed:
            what = {"folder": "folder name breaks the rule {STD_Number}_{Name}; graded with a note",
                    "zip": "zip name breaks the rule {STD_Number}_{Name}; graded with a note",
                    "notebook": "notebook name does not start with {STD_Number}_{Name}; graded alone with a note"}
            intake.rejected.append((label, what[entry.kind]))
        elif entry.notes:
            intake.rejected.append((label, "name is not valid UTF-8; graded with a note"))
        entries.append(entry)
    for sid, files in sorted(loose.items()):
        entries.append(_loose_entry(folder, sid, files, parts, intake))
    return entries


def _loose_entry(folder: Path, sid: str, files: list[Path], parts: Mapping[str, PartSpec], intake: Intake) -> _Entry:
    """One student's loose notebooks (``{sid}_{Name}_<part>.ipynb``) as one entry."""
    stems, notes = [], []
    for f in files:
        text, how = decode_fs_name(f.stem)
        stems.append(text)
        if how != "utf-8":
            notes.append(_decoding_note(escaped(f.name), text, how))
            intake.rejected.append((escaped(f.name), "name is not valid UTF-8; graded with a note"))
    name = safe_component(_loose_name(sid, stems, parts))
    base = safe_component(f"{sid}_{name}" if name else sid)
    label = f"{escaped(folder.name)}/{sid}_*.ipynb"
    return _Entry(folder, "notebooks", label, base, (sid, name), files=list(files), notes=notes)


def _loose_name(sid: str, stems: Sequence[str], parts: Mapping[str, PartSpec]) -> str:
    """The ``{Name}`` shared by one student's loose notebooks (their part labels removed)."""
    rests = [s[len(sid) + 1:] for s in stems]
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


def _once_each(entries: Sequence[_Entry]) -> list[_Entry]:
    """``entries`` without repeats (a PATH given twice, or given and inside a class folder given too)."""
    seen, unique = set(), []
    for e in entries:
        key = (e.kind, os.path.abspath(e.path), tuple(sorted(map(str, e.files))))
        if key not in seen:
            seen.add(key)
            unique.append(e)
    return unique


def _assign_ids(entries: Sequence[_Entry], intake: Intake) -> None:
    """Give every entry a submission id of its own.

    An entry asks for ``base``; entries whose bases one file system could confuse (``X`` and
    ``X.zip``; names equal up to letter case or Unicode form; two names sanitised alike) are never
    merged or dropped: each is graded under ``base~kind`` (``~kind-<hash of its path>`` when two
    are of one kind) with a note naming the others, and each is listed as an intake problem.
    """
    groups: dict[str, list[_Entry]] = {}
    for e in entries:
        groups.setdefault(_folded(e.base), []).append(e)
    for same in groups.values():
        if len(same) == 1:
            same[0].id = same[0].base
            continue
        kinds = Counter(e.kind for e in same)
        for e in same:
            e.id = f"{e.base}~{e.kind}" if kinds[e.kind] == 1 else f"{e.base}~{e.kind}-{_path_digest(e)}"
        for e in same:
            others = ", ".join(f"'{o.label}'" for o in same if o is not e)
            e.notes.append(f"'{e.label}' and {others} map to the same submission id {e.base}: none is dropped, "
                           f"this one is graded as {e.id}; remove the entries that do not count and regrade")
            intake.rejected.append((e.label, f"another entry maps to the same submission id {e.base}; "
                                             f"graded as {e.id} with a note"))


def _path_digest(e: _Entry) -> str:
    key = name_bytes(os.path.abspath(e.path)) + b"\0" + "\0".join(sorted(map(str, e.files))).encode(
        "utf-8", "surrogateescape")
    return hashlib.sha256(key).hexdigest()[:8]


def _submission(e: _Entry, parts: Mapping[str, PartSpec], unpacker: _Unpacker, limits: UnzipLimits) -> Submission:
    """The submission of one entry under its final id: notebooks found (a zip unpacked) and matched to parts."""
    sid, name = e.parsed or ("", e.base)
    sub = Submission(id=e.id, student_id=sid, name=name, source=e.path, kind=e.kind)
    if not e.parsed:
        sub.problems.append(f"'{e.label}' does not follow the naming rule {{STD_Number}}_{{Name}}")
    sub.problems += e.notes
    if e.kind == "zip":
        sub.file_time = _mtime_iso([e.path])
        target = unpacker.folder(e.id)
        try:
            notes = safe_extract(e.path, target, limits=limits)
        except UnsafeArchive as exc:
            sub.problems.append(f"{e.label} was refused: {exc}")
            sub.scope = tuple(parts)
            return sub
        files, more = _walk_notebooks(target)
        sub.problems += notes + more
        return collect_notebooks(sub, files, parts)
    if e.kind == "folder":
        files, notes = _walk_notebooks(e.path)
        sub.problems += notes
        sub.file_time = _mtime_iso(files) or _mtime_iso([e.path])
        return collect_notebooks(sub, files, parts)
    sub.file_time = _mtime_iso(e.files)
    return collect_notebooks(sub, e.files, parts, lone=e.lone)
