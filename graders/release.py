"""``hw4 release OUT``: the student bundle — everything needed to self-check, no solutions.

Contents: the blank assignment notebooks with their models and data, the ``graders`` package,
the homework's spec, rubric and checks, the public checks' expected values recorded from the
reference (see ``graders.public_cache``), a tox.ini whose ``check`` env runs the self-check, a
short README for students and a sample CI workflow. Not included: the reference, solved
notebooks, ``examples/``, templates, tests, the course secret. ``find_leaks`` proves it and runs
on every release.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from pathlib import Path

import yaml

from graders import ROOT
from graders.homework import SPEC_FILE, Homework
from graders.homework import load as load_homework

BUNDLE_TEMPLATES = Path(__file__).resolve().parent / "bundle"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "public_expected")


class ReleaseError(RuntimeError):
    """The bundle could not be built, or it would leak something."""


def build_bundle(out: Path, *, force: bool = False, homework: Path | str | None = None) -> Path:
    """The bundle of ``homework`` (its folder; None: this repository's) in ``out``."""
    hw = load_homework(homework if homework is not None else ROOT)
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out} is not empty (use --force to replace it)")
        shutil.rmtree(out)
    for home in (ROOT, hw.folder):
        if home in out.parents or out == home:
            if (out / "reference").exists() or out == home:
                raise ReleaseError("the bundle must be built outside the course repository and the homework's folder")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "graders", out / "graders", ignore=IGNORE)
    assignments = out / "assignments"
    assignments.mkdir()
    for nb in sorted(hw.assignments.glob("*.ipynb")):
        shutil.copy2(nb, assignments / nb.name)
    for sub in sorted(hw.assignments.iterdir()):
        if sub.is_dir() and not sub.name.startswith("."):
            shutil.copytree(sub, assignments / sub.name, ignore=IGNORE)
    if hw.package is None:
        shutil.copytree(hw.checks, out / "checks", ignore=IGNORE)
    shutil.copy2(hw.rubric, out / "rubric.yaml")
    _write_spec(hw, out / SPEC_FILE)
    for name in ("pyproject.toml", "requirements.txt"):
        shutil.copy2(ROOT / name, out / name)
    shutil.copy2(BUNDLE_TEMPLATES / "tox.ini", out / "tox.ini")
    shutil.copy2(BUNDLE_TEMPLATES / "README.md", out / "README.md")
    (out / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(BUNDLE_TEMPLATES / "hw4-self-check.yml", out / ".github" / "workflows" / "hw4-self-check.yml")
    _record_public_values(out / "graders" / "public_expected", hw)
    leaks = find_leaks(out, hw)
    if leaks:
        shutil.rmtree(out, ignore_errors=True)
        raise ReleaseError("the bundle would leak solutions:\n  " + "\n  ".join(leaks[:20]))
    return out


def _write_spec(hw: Homework, path: Path) -> None:
    """The homework's spec as the bundle lays it out: no reference, no templates, checks beside it."""
    spec = yaml.safe_load((hw.folder / SPEC_FILE).read_text(encoding="utf-8"))
    spec.update(rubric="rubric.yaml", assignments="assignments", reference="reference")
    spec.pop("authoring", None)
    if hw.package is None:
        spec["checks"] = "checks"
    path.write_text(f"# {hw.name}'s spec in the student bundle (graders/homework.py)\n"
                    + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _record_public_values(folder: Path, hw: Homework) -> None:
    from graders.pipeline import prepare

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plan = prepare(public_only=True, reference_mode="record", record_folder=folder, homework=hw.folder)
    counts = {part: len(checks) for part, checks in plan.checks.items()}
    (folder / "MANIFEST.json").write_text(json.dumps({"public_checks": counts}, indent=1) + "\n")


def _solution_names(hw: Homework) -> dict[str, set[str]]:
    """part → the reference functions students must write: the ``[solution]`` cells of the templates,
    or, for a homework without templates, the functions its notebooks must define.

    Provided helpers that the notebooks hand out on purpose are not secrets.
    """
    if hw.authoring is None or not hw.authoring.is_dir():
        return {name: set(spec.required_functions) for name, spec in hw.part_specs().items()}
    if str(ROOT) not in sys.path:  # tools/ lives beside the package, in the course repository only
        sys.path.insert(0, str(ROOT))
    from tools.build_notebooks import split_cells

    names: dict[str, set[str]] = {}
    for template in sorted(hw.authoring.glob("*.py")):
        for kind, arg, _ in split_cells(template.read_text(encoding="utf-8")):
            if kind == "solution":
                names.setdefault(template.stem, set()).update(arg.split())
    return names


def _solution_bodies(hw: Homework) -> list[tuple[str, str]]:
    """(name, normalised body) of every solution function with a non-trivial body."""
    bodies = []
    for part, wanted in sorted(_solution_names(hw).items()):
        path = hw.reference / f"{part}.py"
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name not in wanted:
                continue
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                body = body[1:]
            src = "\n".join(ast.get_source_segment(text, b) or "" for b in body)
            norm = _normalise(src)
            if len(norm) >= 40:
                bodies.append((f"{part}.{node.name}", norm))
    return bodies


def _normalise(src: str) -> str:
    return re.sub(r"\s+", "", src)


def find_leaks(bundle: Path, hw: Homework | None = None) -> list[str]:
    """Every way the bundle of ``hw`` (None: this repository's homework) could reveal a solution:
    reference files, solved code, outputs."""
    leaks = []
    if (bundle / "reference").exists():
        leaks.append("reference/ is in the bundle")
    bodies = _solution_bodies(hw or load_homework(ROOT))
    for path in bundle.rglob("*"):
        if not path.is_file() or path.suffix not in (".py", ".ipynb", ".md", ".txt", ".json", ".yml", ".yaml", ".ini"):
            continue
        if path.stat().st_size > 20 * 2**20:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(bundle)
        if path.suffix == ".ipynb":
            try:
                nb = json.loads(text)
            except ValueError:
                leaks.append(f"{rel}: not a readable notebook")
                continue
            if any(c.get("outputs") for c in nb.get("cells", []) if c.get("cell_type") == "code"):
                leaks.append(f"{rel}: has saved outputs")
            text = "\n".join("".join(c.get("source", "")) if isinstance(c.get("source"), list) else c.get("source", "")
                             for c in nb.get("cells", []))
        flat = _normalise(text)
        for name, body in bodies:
            if body in flat:
                leaks.append(f"{rel}: contains the body of {name}")
    return leaks
