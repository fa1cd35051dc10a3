"""The probe runtime's pieces join into one cell that installs ``_hw4_probe`` and nothing else."""
from __future__ import annotations

import builtins
import symtable
import sys
from pathlib import Path

from graders.kernel import KERNEL_SIDE, RUNTIME_CELL
from graders.probe import runtime

#: what later cells (graders.probe.driver, the digest expression) and graders.public_cache use
PUBLIC = {"run", "digest", "Encoder"}


def test_the_runtime_cell_installs_the_probe_module_and_leaves_the_notebook_namespace_alone(monkeypatch):
    monkeypatch.delitem(sys.modules, "_hw4_probe", raising=False)  # put back as it was afterwards
    notebook = {"__name__": "__main__"}
    exec(RUNTIME_CELL, notebook)
    probe = sys.modules["_hw4_probe"]
    assert {name for name in vars(probe) if not name.startswith("__")} == PUBLIC
    assert set(notebook) == {"__name__", "__builtins__"}
    private = probe.run.__globals__
    assert private is not notebook and private["_HW4_USER_NS"] is notebook
    assert private["__builtins__"] is not builtins.__dict__ and private["__builtins__"] == builtins.__dict__
    assert all(f.__globals__ is private for f in (probe.digest, probe.Encoder.encode))


def test_every_piece_is_joined_and_every_name_it_reads_is_defined():
    folder = Path(runtime.__file__).parent
    assert sorted(runtime.PIECES) == sorted(p.name for p in folder.glob("*.py") if p.name != "__init__.py")
    assert KERNEL_SIDE == runtime.source()
    table = symtable.symtable(KERNEL_SIDE, "<hw4-probe-runtime>", "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    known = defined | set(dir(builtins)) | {"__builtins__"}
    missing, stack = set(), list(table.get_children())
    while stack:
        t = stack.pop()
        missing |= {s.get_name() for s in t.get_symbols() if s.is_global() and s.is_referenced()} - known
        stack.extend(t.get_children())
    assert not missing, f"names no piece defines: {sorted(missing)}"


def test_a_line_of_the_joined_runtime_is_located_in_its_piece():
    lines = KERNEL_SIDE.splitlines()
    line = lines.index("def _bind(namespace, input_dir, names):") + 1
    piece, number = runtime.locate(line)
    assert piece == "answers.py"
    assert (Path(runtime.__file__).parent / piece).read_text().splitlines()[number - 1] == lines[line - 1]
