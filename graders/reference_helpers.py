"""The reference's versions of graded helpers, each cut out alone, for error carried forward.

A check of a function that calls other graded functions (the enhanced beam search calls the
Hamming penalty) is run once more, when it fails, with the reference's versions of those helpers
bound in the kernel (``graders.execute``). The kernel must get those helpers and nothing else of
the reference: not its module, not its file, not the function under test. So each helper travels
as its own source — its ``def``, the imports and constants it uses and the private functions
(``_name``) it calls, found by ``symtable`` — and is built alone in the kernel, in a namespace of
its own (``_bind`` in ``graders/probe/runtime/answers.py``). A helper that calls another graded
function gets the one bound beside it in the same rerun; a helper that would need a graded function
not bound with it is a grader bug, refused here when the plan is built.

Example::

    helpers_json(source, ("top_k_sampling", "top_k_filter"))   # bytes for the check's input folder
"""
from __future__ import annotations

import ast
import builtins
import functools
import json
import symtable
from dataclasses import asdict, dataclass
from typing import Iterable


@dataclass(frozen=True)
class Helper:
    """One helper as the kernel builds it: ``source`` defines ``name`` and needs nothing else but
    the bound helpers named in ``calls``."""

    name: str
    source: str
    calls: tuple[str, ...] = ()


class _Module:
    """The top-level definitions of one reference module, by the names they bind."""

    def __init__(self, source: str):
        self.source = source
        self.tree = ast.parse(source)
        self.table = symtable.symtable(source, "<reference>", "exec")
        self.defs: dict[str, ast.FunctionDef] = {}
        self.imports: dict[str, str] = {}
        self.constants: dict[str, ast.stmt] = {}
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef):
                self.defs[node.name] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", "") != "__future__":
                for alias in node.names:
                    one = type(node)(names=[alias], **({"module": node.module, "level": node.level}
                                                       if isinstance(node, ast.ImportFrom) else {}))
                    self.imports[(alias.asname or alias.name).split(".")[0]] = ast.unparse(one)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            self.constants[name.id] = node

    def globals_of(self, name: str) -> set[str]:
        """The module-level names the function ``name`` (and the functions nested in it) reads."""
        (table,) = [t for t in self.table.get_children() if t.get_name() == name and t.get_type() == "function"]
        found: set[str] = set()
        stack = [table]
        while stack:
            t = stack.pop()
            found.update(s.get_name() for s in t.get_symbols() if s.is_global() and s.is_referenced())
            stack.extend(t.get_children())
        return found

    def segment(self, node: ast.stmt) -> str:
        return ast.get_source_segment(self.source, node) or ast.unparse(node)


def cut_out(source: str, names: Iterable[str]) -> list[Helper]:
    """Each of ``names`` (top-level functions of the module ``source``) as a standalone ``Helper``.

    Raises ``ValueError`` when a helper cannot stand alone: it is decorated, or it reads a public
    function of the module that is not among ``names`` (a graded function not bound with it).
    """
    module = _Module(source)
    names = tuple(dict.fromkeys(names))
    helpers = []
    for name in names:
        if name not in module.defs:
            raise ValueError(f"the reference has no function {name!r}")
        imports: list[str] = []
        parts: list[ast.stmt] = []
        calls: list[str] = []
        _collect(module, name, set(names), imports, parts, calls, seen=set())
        text = "\n".join(dict.fromkeys(imports))
        body = "\n\n\n".join(module.segment(node) for node in sorted(parts, key=lambda n: n.lineno))
        helpers.append(Helper(name, f"{text}\n\n\n{body}\n".lstrip("\n"), tuple(calls)))
    return helpers


def _collect(module: _Module, name: str, bound: set[str], imports: list[str], parts: list[ast.stmt],
             calls: list[str], seen: set[str]) -> None:
    """Add to ``imports``/``parts`` what the function ``name`` needs, and to ``calls`` the bound helpers it calls."""
    if name in seen:
        return
    seen.add(name)
    node = module.defs[name]
    if node.decorator_list:
        raise ValueError(f"the reference's {name} is decorated: it cannot be sent alone")
    parts.append(node)
    for used in sorted(module.globals_of(name)):
        if used in module.imports:
            imports.append(module.imports[used])
        elif used in module.defs and used != name:
            if used.startswith("_"):
                _collect(module, used, bound, imports, parts, calls, seen)
            elif used in bound:
                calls.append(used)
            else:
                raise ValueError(f"the reference's {name} calls {used}, a graded function not bound with it "
                                 f"(add {used!r} to the check's depends)")
        elif used in module.constants:
            constant = module.constants[used]
            if any(isinstance(n, ast.Name) and n.id in module.defs for n in ast.walk(constant)):
                raise ValueError(f"the reference's {name} reads {used}, a constant made from the module's functions")
            if constant not in parts:
                parts.append(constant)
        elif used != name and not hasattr(builtins, used):
            raise ValueError(f"the reference's {name} reads {used!r}, which the module does not define")


@functools.lru_cache(maxsize=64)
def helpers_json(source: str, names: tuple[str, ...]) -> bytes:
    """The ``helpers.json`` a rerun's input folder holds: only the helpers ``names``, each alone."""
    return json.dumps([asdict(h) for h in cut_out(source, names)]).encode("utf-8")
