"""A homework is a folder with a spec (``homework.yaml``): everything the engine must not name itself.

The spec says what the homework is called and titled, its parts (each a module of checks defining
``PART``), its rubric, the folder of its student notebooks and their assets, its reference (one
``<part>.py`` per part, loaded by file path), its notebook metadata key, its models and the datasets
a TA may replace. Paths in the spec are relative to its folder. This repository's own homework is
``homework.yaml`` at its root (HW4); ``hw4 … --homework DIR`` grades another.

One homework is active per process (``use``; ``active`` defaults to this repository's): the kernel's
assets, the metadata key and the titles are read through it, and a batch's plan names the homework's
folder so that every worker activates the same one.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Mapping

import yaml

from graders import ROOT

SPEC_FILE = "homework.yaml"
DEFAULT_FOLDER = ROOT
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class HomeworkError(ValueError):
    """The homework's folder or spec is missing or malformed: a message for the TA."""


@dataclass(frozen=True)
class Homework:
    folder: Path
    name: str
    title: str
    metadata_key: str
    parts: tuple[str, ...]
    #: the folder of the part modules (``<part>.py`` each defining ``PART``), or the importable
    #: package that holds them (``package``) when they live inside the grader
    checks: Path
    package: str | None
    rubric: Path
    assignments: Path
    reference: Path
    authoring: Path | None = None
    models: tuple[str, ...] = ()
    #: name → path under ``assignments`` of a dataset a TA may replace (``hw4 grade --dataset``)
    datasets: Mapping[str, str] = field(default_factory=dict)
    #: modules a warm kernel imports ahead of its notebook (``graders.kernel_pool``): the heavy
    #: libraries the notebooks import, loaded through importlib (no name bound in the notebook)
    preload: tuple[str, ...] = ()

    @property
    def solutions(self) -> Path:
        """The solved notebooks (reference answers to written questions)."""
        return self.reference / "solutions"

    def has_reference(self) -> bool:
        """False in the student bundle, which ships no reference."""
        return any((self.reference / f"{part}.py").is_file() for part in self.parts)

    def part_module(self, part: str) -> ModuleType:
        """The module of checks of ``part`` (it defines ``PART``). One loaded from the homework's folder
        is pickled by value: the checker process (``graders.checks.isolated``) cannot import it by name,
        so a judge the homework defines itself travels with its code."""
        if self.package:
            return importlib.import_module(f"{self.package}.{part}")
        path = self.checks / f"{part}.py"
        if not path.is_file():
            raise HomeworkError(f"{path} does not exist: each part homework.yaml lists needs its module of checks")
        module = _load_file(path, f"_homework_{_slug(self.folder)}_checks.{part}")
        import cloudpickle

        cloudpickle.register_pickle_by_value(module)
        return module

    def part_specs(self) -> dict:
        """part name → its ``PartSpec`` (``graders.part``), in the spec's order."""
        specs = {}
        for part in self.parts:
            spec = getattr(self.part_module(part), "PART", None)
            if spec is None or spec.name != part:
                raise HomeworkError(f"{self.checks / part}.py must define PART with name {part!r}")
            specs[part] = spec
        return specs

    def reference_module(self, part: str) -> ModuleType:
        """``reference/<part>.py`` of this homework, loaded by its path (never found on sys.path)."""
        path = self.reference / f"{part}.py"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        return _load_file(path, f"_homework_{_slug(self.folder)}_reference.{part}")


def _slug(folder: Path) -> str:
    """A module-name prefix unique to a homework folder: two homeworks' ``part1`` never collide."""
    return hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]


def _load_file(path: Path, module_name: str) -> ModuleType:
    """Import ``path`` as ``module_name`` once per process (a module is a singleton, as an import is)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    parent = module_name.rpartition(".")[0]
    if parent and parent not in sys.modules:  # an empty namespace parent, so pickling by name works
        package = ModuleType(parent)
        package.__path__ = []
        sys.modules[parent] = package
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def load(folder: Path | str) -> Homework:
    """The homework described by ``folder/homework.yaml`` (or that file itself)."""
    path = Path(folder).resolve()
    spec_path = path if path.is_file() else path / SPEC_FILE
    folder = spec_path.parent
    try:
        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HomeworkError(f"{folder} is not a homework folder: it has no {SPEC_FILE}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HomeworkError(f"{spec_path} cannot be read: {exc}") from None
    if not isinstance(raw, dict):
        raise HomeworkError(f"{spec_path}: expected a mapping")

    def text(key: str, default: str | None = None) -> str:
        value = raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise HomeworkError(f"{spec_path}: '{key}' must be a non-empty string")
        return value.strip()

    def names(key: str) -> tuple[str, ...]:
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise HomeworkError(f"{spec_path}: '{key}' must be a list of names")
        return tuple(value)

    parts = names("parts")
    if not parts or not all(_NAME.fullmatch(p) for p in parts) or len(set(parts)) != len(parts):
        raise HomeworkError(f"{spec_path}: 'parts' must list distinct part names (letters, digits, _)")
    checks = text("checks")
    datasets = raw.get("datasets") or {}
    if not isinstance(datasets, dict) or not all(isinstance(v, str) for v in datasets.values()):
        raise HomeworkError(f"{spec_path}: 'datasets' must map a name to a path under the assignments folder")
    key = text("metadata_key")
    if not _NAME.fullmatch(key):
        raise HomeworkError(f"{spec_path}: 'metadata_key' must be a name (letters, digits, _)")
    authoring = raw.get("authoring")
    preload = names("preload")
    if not all(_MODULE.fullmatch(m) for m in preload):
        raise HomeworkError(f"{spec_path}: 'preload' must list module names (say, torch or transformers.models)")
    return Homework(
        folder=folder, name=text("name"), title=text("title"), metadata_key=key, parts=parts,
        checks=folder / checks, package=raw.get("package") or None, rubric=folder / text("rubric", "rubric.yaml"),
        assignments=folder / text("assignments", "assignments"), reference=folder / text("reference", "reference"),
        authoring=folder / authoring if isinstance(authoring, str) else None, models=names("models"),
        datasets={str(k): v for k, v in datasets.items()}, preload=preload)


_active: Homework | None = None


def use(folder: Path | str | None) -> Homework:
    """Make the homework in ``folder`` (None: this repository's) the active one, and return it."""
    global _active
    homework = load(folder if folder is not None else DEFAULT_FOLDER)
    _active = homework
    return homework


def active() -> Homework:
    """The homework this process grades (this repository's unless ``use`` chose another)."""
    return _active if _active is not None else use(None)


def assets_dir() -> Path:
    """The active homework's folder of assignment notebooks, models and data (see ``graders.assets``)."""
    return active().assignments


def all_parts() -> dict:
    """The active homework's parts: name → ``PartSpec``."""
    return active().part_specs()
