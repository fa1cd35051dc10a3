"""The shape of ``graders/``: no import cycle, and no import running from a lower layer up to a higher one.

The graph is read from the source with ``ast`` (nothing is imported): every import of one of the
package's own modules, at module level or inside a function (a function-level import is still a
dependency; it only hides a cycle until the function runs). Relative imports are resolved, and
``from graders import x`` where ``x`` is a module counts as importing that module. ``graders/bundle/``
(what students get beside the package) is not part of the package's code.

``LAYERS`` is the architecture, lowest first. A module belongs to the layer of its longest matching
prefix (``graders.report.classreport`` is not ``graders.report``), except the package itself,
``graders``, which matches only itself. A module may import its own layer (without a cycle) and the
layers below it, never one above: a module that needs something from above is in the wrong place,
or the thing it needs is.
"""
from __future__ import annotations

import ast
from pathlib import Path

GRADERS = Path(__file__).resolve().parents[2] / "graders"

#: (the layer's name, its module-name prefixes), lowest first
LAYERS: list[tuple[str, list[str]]] = [
    # the homework (its spec), plain data and text, results, the rubric, late days, the course secret, the
    # assets, notebooks read from disk and their metadata (manual.cells: where a written answer is in a notebook),
    # a notebook's cell outputs as safe data (evidence)
    ("ground", ["graders", "graders.homework", "graders.assets", "graders.text", "graders.results", "graders.rubric",
                "graders.latedays",
                "graders.secret", "graders.reasons", "graders.nbmeta", "graders.locked", "graders.notebook_file",
                "graders.manual.cells", "graders.archive", "graders.reference_helpers", "graders.budget",
                "graders.evidence"]),
    # the sqlite database of the results: their format only, nothing of how they are made, so no
    # grading and no report can creep into it
    ("gradebook", ["graders.gradebook"]),
    # grades.csv, items.csv, manual_scores.json
    ("gradebook exports", ["graders.gradebook_export"]),
    # confinement, one kernel, its folders, values moved as JSON/.npy between it and the grader
    ("kernel and wire", ["graders.sandbox", "graders.launch", "graders.kernel", "graders.workspace",
                         "graders.probe"]),
    # a notebook's kernel user, folders and first kernel, started now or ahead on the warm-kernel thread
    ("kernel start", ["graders.notebook_kernel", "graders.kernel_pool"]),
    # one module per kind of rule
    ("checks", ["graders.checks"]),
    # what a part declares and the context its checks are built in, how a call that raised is said, and
    # the reference's public values replayed in the student bundle: what every homework's checks stand on
    ("part kit", ["graders.part", "graders.calls", "graders.public_cache"]),
    # HW4's checks: each part's table of checks
    ("parts", ["graders.parts"]),
    # one notebook: its cells run, its probes asked
    ("execution", ["graders.probe.driver", "graders.execute"]),
    # a submission in (intake), one result out (feedback, CI output)
    ("intake and feedback", ["graders.intake", "graders.report"]),
    # one submission, end to end
    ("pipeline", ["graders.pipeline"]),
    # which submissions are alike
    ("similarity", ["graders.similarity"]),
    # the gradebook and the similarity, read for the TAs
    ("class report", ["graders.report.classreport"]),
    # the TAs' scores: the ledger (the rules for writing them) and their totals folded into results
    ("TA scores", ["graders.manual.ledger", "graders.manual.totals"]),
    # after a rebuild or a TA's change: every file made from the gradebook rewritten
    ("refresh", ["graders.refresh"]),
    # the sheets, the answers of a class, their rendering
    ("manual grading", ["graders.manual"]),
    # what one worker runs for one submission (in this process, a spawned worker or a Dask worker)
    ("grading task", ["graders.grading_task"]),
    # the pool of spawned workers
    ("workers", ["graders.workers"]),
    # a class graded, resumed and recorded; the student bundle
    ("batch and release", ["graders.batch", "graders.release"]),
    # the grading page and its server
    ("grading page", ["graders.manual.web", "graders.manual.question_web", "graders.manual.server"]),
    ("command line", ["graders.cli"]),
]


def modules() -> dict[str, Path]:
    """Module name → file, for every module of the package but ``graders/bundle/``."""
    found = {}
    for path in sorted(GRADERS.rglob("*.py")):
        rel = path.relative_to(GRADERS.parent).with_suffix("")
        if rel.parts[1:2] == ("bundle",):
            continue
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the package's modules it imports, at module level or in a function."""
    mods = modules()
    graph = {}
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[:len(package) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if source in mods:
                    for alias in node.names:  # `from graders import sandbox`: the module graders.sandbox
                        deps.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in mods else source)
        deps.discard(name)
        graph[name] = deps
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """The components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def layer_of(module: str) -> int | None:
    """The index in ``LAYERS`` of ``module``'s longest matching prefix (None: in no layer)."""
    best, best_len = None, -1
    for n, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or (prefix != "graders" and module.startswith(prefix + "."))
            if matches and len(prefix) > best_len:
                best, best_len = n, len(prefix)
    return best


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "graders.manual.server" in graph["graders.cli"]  # inside a function
    assert "graders.sandbox" in graph["graders.notebook_kernel"]  # `from graders import sandbox as _sandbox`
    assert "graders" in graph["graders.release"]  # `from graders import ROOT`: the package itself
    assert "graders.report.feedback" in graph["graders.report"]  # a package's __init__
    assert not any(m.startswith("graders.bundle") for m in graph)


def test_every_module_is_in_one_layer_and_every_prefix_names_modules():
    mods = modules()
    assert [m for m in mods if layer_of(m) is None] == []
    prefixes = [p for _, ps in LAYERS for p in ps]
    assert len(prefixes) == len(set(prefixes)), "a prefix is in two layers"
    stale = [p for p in prefixes if not any(m == p or m.startswith(p + ".") for m in mods)]
    assert stale == [], f"prefixes naming no module of graders/: {stale}"


def test_no_import_cycle():
    cycles = strongly_connected(import_graph())
    assert cycles == [], "modules importing each other, in a circle (strongly connected components): " + \
        "; ".join(" ↔ ".join(c) for c in cycles)


def test_no_import_runs_up_the_layers():
    upward = []
    for module, deps in sorted(import_graph().items()):
        here = layer_of(module)
        for dep in sorted(deps):
            there = layer_of(dep)
            if here is not None and there is not None and there > here:
                upward.append(f"{module} ({LAYERS[here][0]}) imports {dep} ({LAYERS[there][0]})")
    assert upward == [], "imports running up the layers:\n" + "\n".join(upward)
