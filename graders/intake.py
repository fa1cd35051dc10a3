"""Find submissions and match each notebook to its part.

A PATH given to ``hw4 grade`` is one of: a notebook (one submission of one part), a folder of
one student's notebooks, or a folder of such folders named ``{STD_Number}_{Name}``. A notebook
is matched to its part by the metadata the assignment notebooks carry (``metadata.hw4.part``),
then by its file name, then by which required functions it defines. Problems (a missing or
duplicated part, an unreadable file) are recorded on the submission, never raised.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from graders.parts.base import PartSpec

NAME_RULE = re.compile(r"^(?P<sid>[0-9]{5,12})_(?P<name>[^/\\]+)$")


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


def _notebooks_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts and not p.is_symlink() and p.is_file())


def find_submissions(paths: Sequence[Path], parts: Mapping[str, PartSpec]) -> list[Submission]:
    """Every submission under ``paths``, in a stable order."""
    subs: list[Submission] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            subs.append(_single(path, [path], parts))
        elif path.is_dir():
            entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
            if any(p.suffix == ".ipynb" for p in entries if p.is_file()) or parse_name(path.name):
                subs.append(_single(path, _notebooks_in(path), parts))
            else:
                for entry in entries:
                    if entry.is_dir() or entry.suffix == ".ipynb":
                        files = _notebooks_in(entry) if entry.is_dir() else [entry]
                        subs.append(_single(entry, files, parts))
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return subs


def _single(path: Path, files: Sequence[Path], parts: Mapping[str, PartSpec]) -> Submission:
    base = path.stem if path.is_file() else path.name
    parsed = parse_name(base)
    sid, name = parsed if parsed else ("", base)
    sub = Submission(id=base, student_id=sid, name=name, source=path)
    if not parsed:
        sub.problems.append(f"{base!r} does not follow the naming rule {{STD_Number}}_{{Name}}")
    return collect_notebooks(sub, files, parts, lone=path.is_file())
