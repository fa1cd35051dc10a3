"""``hw4 release OUT``: the student bundle — everything needed to self-check, no solutions.

Contents: the blank assignment notebooks with their models and data, the ``graders`` package,
the rubric, the public checks' expected values recorded from the reference (see
``graders.public_cache``), a tox.ini whose ``check`` env runs the self-check, a short README
for students and a sample CI workflow. Not included: ``reference/``, solved notebooks,
``examples/``, templates, tests, the course secret. ``find_leaks`` proves it and runs on every
release.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import sys
from pathlib import Path

from graders import ROOT

BUNDLE_TEMPLATES = Path(__file__).resolve().parent / "bundle"
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "public_expected")


class ReleaseError(RuntimeError):
    """The bundle could not be built, or it would leak something."""


def build_bundle(out: Path, *, force: bool = False) -> Path:
    out = Path(out).resolve()
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out} is not empty (use --force to replace it)")
        shutil.rmtree(out)
    if ROOT in out.parents or out == ROOT:
        if (out / "reference").exists() or out == ROOT:
            raise ReleaseError("the bundle must be built outside the course repository")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "graders", out / "graders", ignore=IGNORE)
    assignments = out / "assignments"
    assignments.mkdir()
    for nb in sorted((ROOT / "assignments").glob("*.ipynb")):
        shutil.copy2(nb, assignments / nb.name)
    for sub in ("models", "data"):
        if (ROOT / "assignments" / sub).is_dir():
            shutil.copytree(ROOT / "assignments" / sub, assignments / sub, ignore=IGNORE)
    for name in ("rubric.yaml", "pyproject.toml", "requirements.txt"):
        shutil.copy2(ROOT / name, out / name)
    shutil.copy2(BUNDLE_TEMPLATES / "tox.ini", out / "tox.ini")
    shutil.copy2(BUNDLE_TEMPLATES / "README.md", out / "README.md")
    (out / ".github" / "workflows").mkdir(parents=True)
    shutil.copy2(BUNDLE_TEMPLATES / "hw4-self-check.yml", out / ".github" / "workflows" / "hw4-self-check.yml")
    _record_public_values(out / "graders" / "public_expected")
    leaks = find_leaks(out)
    if leaks:
        shutil.rmtree(out, ignore_errors=True)
        raise ReleaseError("the bundle would leak solutions:\n  " + "\n  ".join(leaks[:20]))
    return out


def _record_public_values(folder: Path) -> None:
    from graders.pipeline import prepare

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    plan = prepare(public_only=True, reference_mode="record", record_folder=folder)
    counts = {part: len(checks) for part, checks in plan.checks.items()}
    (folder / "MANIFEST.json").write_text(json.dumps({"public_checks": counts}, indent=1) + "\n")


def _solution_names() -> dict[str, set[str]]:
    """part → the reference functions students must write (the ``[solution]`` cells of the templates).

    Provided helpers that the notebooks hand out on purpose are not secrets.
    """
    if str(ROOT) not in sys.path:  # tools/ lives beside the package, in the course repository only
        sys.path.insert(0, str(ROOT))
    from tools.build_notebooks import split_cells

    names: dict[str, set[str]] = {}
    for template in sorted((ROOT / "authoring").glob("*.py")):
        for kind, arg, _ in split_cells(template.read_text(encoding="utf-8")):
            if kind == "solution":
                names.setdefault(template.stem, set()).update(arg.split())
    return names


def _solution_bodies() -> list[tuple[str, str]]:
    """(name, normalised body) of every solution function with a non-trivial body."""
    bodies = []
    for part, wanted in sorted(_solution_names().items()):
        path = ROOT / "reference" / f"{part}.py"
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


def find_leaks(bundle: Path) -> list[str]:
    """Every way the bundle could reveal a solution: reference files, solved code, outputs."""
    leaks = []
    if (bundle / "reference").exists():
        leaks.append("reference/ is in the bundle")
    bodies = _solution_bodies()
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
