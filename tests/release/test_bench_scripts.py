"""Every benchmark script still imports (their figures go in the issue notes; three scripts that broke
when a module moved were found only when they were needed)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_the_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # as when run from the command line: its siblings first
    for sibling in BENCH.glob("*.py"):
        monkeypatch.delitem(sys.modules, sibling.stem, raising=False)  # (tests/batch is a package too)
    spec = importlib.util.spec_from_file_location(f"_bench_{script[:-3]}", BENCH / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a script runs only under `if __name__ == "__main__"`
    if 'if __name__ == "__main__"' in (BENCH / script).read_text(encoding="utf-8"):
        assert callable(getattr(module, "main", None)), f"{script} has no main()"
