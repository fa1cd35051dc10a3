"""Execute one student notebook with nbclient, then run the grader's probes in the same kernel.

One kernel per notebook, always shut down (``setup_kernel`` is a context manager). The kernel
name is forced to python3, every cell has an explicit timeout, errors are recorded and later
cells still run, the whole notebook has a wall-clock budget, and output kept per cell is capped.
A timeout, a dead kernel or an unreadable notebook becomes data in ``ExecutionSummary`` and
reasons on the affected probes — never an exception out of ``run_notebook``.

Order in the kernel: the probe runtime (kernel_side.py) is installed first, then the student's
cells run, then the grader writes the probe inputs and runs one cell per check. If the kernel
dies during a check, it is restarted (up to ``limits.restarts`` times), the student's cells run
again, and the remaining checks go on; the check that killed it fails with that reason.
"""
from __future__ import annotations

import math
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import nbformat
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from graders import assets_dir
from graders.checks.base import Check
from graders.probe import spec as probe_spec
from graders.probe.transport import Outcome, read_one
from graders.results import CellRecord, ExecutionSummary
from graders.rubric import Limits
from graders.sandbox import kernel_env, kernel_prefix

KERNEL_SIDE = (Path(__file__).parent / "probe" / "kernel_side.py").read_text(encoding="utf-8")
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class NotebookUnreadable(Exception):
    """The file is not a notebook we can run (bad JSON, wrong format, too large…)."""


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read any nbformat version as v4, outputs dropped; raise ``NotebookUnreadable`` with a reason."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise NotebookUnreadable(f"cannot open {path.name}: {exc.strerror}") from None
    if size == 0:
        raise NotebookUnreadable(f"{path.name} is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookUnreadable(f"{path.name} is {size / 2**20:.0f} MB; notebooks over "
                                 f"{MAX_NOTEBOOK_BYTES // 2**20} MB are not graded (clear the outputs)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookUnreadable(f"{path.name} is not UTF-8 text (byte {exc.start})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises NotJSONError, ValidationError, KeyError…
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise NotebookUnreadable(f"{path.name} is not a valid notebook: {first}") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookUnreadable(f"{path.name} has no cells")
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        if not isinstance(cell.get("source", ""), str):
            raise NotebookUnreadable(f"{path.name} has a malformed cell")
    return nb


class _CappedClient(NotebookClient):
    """nbclient that keeps at most ``output_chars`` characters of output per cell."""

    output_chars = 20_000

    def output(self, outs, msg, display_id, cell_index):
        used = sum(_output_size(o) for o in outs)
        if used >= self.output_chars:
            if not any(o.get("name") == "hw4-truncated" for o in outs):
                outs.append(nbformat.v4.new_output("stream", name="hw4-truncated",
                                                   text="[output truncated by the grader]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


def _output_size(out) -> int:
    if out.get("output_type") == "stream":
        return len(out.get("text", ""))
    data = out.get("data") or {}
    return sum(len(v) if isinstance(v, str) else 1000 for v in data.values()) + len(str(out.get("traceback", "")))


class _LimitedKernelManager(AsyncKernelManager):
    """Prepends the sandbox launcher to the kernel command."""

    prefix: list[str] = []

    def format_kernel_cmd(self, extra_arguments=None):
        return list(self.prefix) + super().format_kernel_cmd(extra_arguments)


@dataclass
class NotebookRun:
    summary: ExecutionSummary
    outcomes: dict[str, Outcome] = field(default_factory=dict)


def prepare_workdir(assets: Sequence[str], root: Path | None = None) -> Path:
    """A fresh folder with copies of the assets the notebook needs (never the reference)."""
    workdir = Path(tempfile.mkdtemp(prefix="hw4-kernel-", dir=root))
    source = assets_dir()
    for rel in assets:
        src = source / rel
        dst = workdir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        elif src.is_file():
            shutil.copy2(src, dst)
    return workdir


class _Kernel:
    """One kernel session: a client with the probe runtime installed."""

    def __init__(self, nb, workdir: Path, limits: Limits):
        self.limits = limits
        km = _LimitedKernelManager(kernel_name="python3")
        km.prefix = kernel_prefix(limits)
        self.client = _CappedClient(
            nb, km=km, kernel_name="python3", timeout=int(limits.cell_timeout), allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=120, iopub_timeout=10,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "the cell ran out of time", "traceback": []},
            resources={"metadata": {"path": str(workdir)}}, record_timing=False,
        )
        self.client.output_chars = limits.output_chars
        self.env = kernel_env(workdir)

    def __enter__(self):
        self._cm = self.client.setup_kernel(env=self.env, cleanup_kc=True)
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            self._cm.__exit__(*exc)
        except Exception:
            pass
        try:  # make sure nothing is left running
            if self.client.km is not None and self.client.km.has_kernel:
                run_sync(self.client.km.shutdown_kernel)(now=True)
        except Exception:
            pass
        return False

    def run_cell(self, cell, index: int, timeout: float) -> CellRecord:
        """Execute one cell; raises DeadKernelError if the kernel dies."""
        self.client.timeout = max(1, int(math.ceil(timeout)))
        start = time.monotonic()
        try:
            self.client.execute_cell(cell, index)
        except CellTimeoutError:
            return CellRecord(index, "timeout", "CellTimeoutError", f"ran longer than {timeout:.0f} s",
                              time.monotonic() - start)
        seconds = time.monotonic() - start
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if seconds >= self.client.timeout and (not errors or errors[-1].get("ename") in
                                               ("KeyboardInterrupt", "CellTimeoutError")):
            return CellRecord(index, "timeout", "CellTimeoutError", f"ran longer than {timeout:.0f} s", seconds)
        if errors:
            err = errors[-1]
            return CellRecord(index, "error", str(err.get("ename", ""))[:200], str(err.get("evalue", ""))[:500],
                              seconds)
        return CellRecord(index, "ok", seconds=seconds)

    def responsive(self) -> bool:
        """After a timeout: does the kernel answer a trivial cell within a few seconds?"""
        probe = nbformat.v4.new_code_cell("pass")
        self.client.nb.cells.append(probe)
        try:
            rec = self.run_cell(probe, len(self.client.nb.cells) - 1, 10)
            return rec.status == "ok"
        except DeadKernelError:
            return False
        finally:
            self.client.nb.cells.pop()


def run_notebook(path: Path, checks: Sequence[Check], *, assets: Sequence[str] = (), limits: Limits = Limits(),
                 workroot: Path | None = None, keep_workdir: bool = False) -> NotebookRun:
    """Execute the notebook at ``path`` and answer the probes of ``checks``."""
    name = Path(path).name
    started = time.monotonic()
    probes = [p for c in checks for p in c.probes]
    try:
        nb = read_notebook(path)
    except NotebookUnreadable as exc:
        reason = f"the notebook could not be read: {exc}"
        return NotebookRun(ExecutionSummary(name, error=str(exc)),
                           {p.id: Outcome(p.id, False, error_type="NoAnswer", message=reason) for p in probes})
    student_cells = list(nb.cells)
    workdir = prepare_workdir(assets, workroot)
    try:
        return _run(nb, student_cells, checks, probes, workdir, limits, name, started)
    finally:
        if not keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(nb, student_cells, checks, probes, workdir, limits, name, started) -> NotebookRun:
    hw4 = workdir / f".hw4-{secrets.token_hex(4)}"
    in_dir, out_dir = hw4 / "in", hw4 / "out"
    index_of = {p.id: n for n, p in enumerate(probes)}
    missing_reason: dict[int, str] = {}
    cells: list[CellRecord] = []
    died_in: int | None = None
    timed_out = False
    pending = list(checks)
    attempt = 0
    while True:
        attempt += 1
        nb.cells = list(student_cells)
        with _Kernel(nb, workdir, limits) as kernel:
            # 1. the probe runtime, before any student code can touch json/os/numpy
            runtime = nbformat.v4.new_code_cell(KERNEL_SIDE)
            nb.cells.append(runtime)
            try:
                kernel.run_cell(runtime, len(nb.cells) - 1, 120)
            except DeadKernelError:
                pass
            nb.cells.pop()
            # 2. the student's cells
            records, died_in, timed_out = _run_student_cells(kernel, student_cells, limits, started)
            if attempt == 1:
                cells = records
            if died_in is not None or not pending:
                break
            # 3. the probes, one cell per check
            if attempt == 1:
                probe_spec.write_inputs(in_dir, probes)
            out_dir.mkdir(parents=True, exist_ok=True)
            died_during = None
            while pending:
                check = pending.pop(0)
                indices = [index_of[p.id] for p in check.probes]
                if not indices:
                    continue
                src = (f"import _hw4_probe as _hw4\n_hw4.run(globals(), {str(in_dir)!r}, {str(out_dir)!r}, "
                       f"{indices!r})\ndel _hw4")
                cell = nbformat.v4.new_code_cell(src)
                nb.cells.append(cell)
                try:
                    rec = kernel.run_cell(cell, len(nb.cells) - 1, check.timeout or limits.probe_timeout)
                except DeadKernelError:
                    for i in indices:
                        missing_reason[i] = "the kernel died while this check called your code"
                    died_during = check
                    break
                if rec.status == "timeout":
                    for i in indices:
                        missing_reason[i] = (f"your code ran longer than the {check.timeout or limits.probe_timeout:.0f} s "
                                             f"allowed for this check")
                    if not kernel.responsive():
                        died_during = check
                        break
                elif rec.status == "error":
                    for i in indices:
                        missing_reason[i] = f"the check could not run ({rec.ename}: {rec.evalue})"
        if died_during is None or attempt > limits.restarts or not pending:
            break
    if died_in is not None:
        reason = f"the kernel died in cell {died_in + 1}, so nothing after it could be checked"
        for n in range(len(probes)):
            missing_reason[n] = reason
    elif timed_out:
        for n in range(len(probes)):
            missing_reason.setdefault(n, f"the notebook ran out of its {limits.notebook_timeout:.0f} s budget "
                                         "before this check")
    for check in pending:
        for p in check.probes:
            missing_reason.setdefault(index_of[p.id], "not checked: the kernel had to be restarted too often")
    outcomes = {p.id: read_one(out_dir, n, p.id, missing_reason.get(n)) for n, p in enumerate(probes)}
    summary = ExecutionSummary(
        notebook=name, seconds=round(time.monotonic() - started, 3),
        cells_run=sum(1 for c in cells if c.status != "not-run"),
        cells_failed=sum(1 for c in cells if c.status in ("error", "timeout")),
        kernel_died_in_cell=None if died_in is None else died_in + 1,
        notebook_timed_out=timed_out, cells=tuple(cells),
    )
    return NotebookRun(summary, outcomes)


def _run_student_cells(kernel: _Kernel, cells, limits: Limits, started: float):
    records: list[CellRecord] = []
    died_in = None
    timed_out = False
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or not cell.get("source", "").strip():
            continue
        remaining = limits.notebook_timeout - (time.monotonic() - started)
        if died_in is not None or timed_out or remaining <= 0:
            timed_out = timed_out or (died_in is None and remaining <= 0)
            records.append(CellRecord(i, "not-run"))
            continue
        try:
            rec = kernel.run_cell(cell, i, min(limits.cell_timeout, remaining))
        except DeadKernelError:
            died_in = i
            records.append(CellRecord(i, "error", "DeadKernelError", "the kernel died"))
            continue
        records.append(rec)
        if rec.status == "timeout" and not kernel.responsive():
            died_in = i
    return records, died_in, timed_out
