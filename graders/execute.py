"""Execute one student notebook, then ask its checks' probes in the same kernel: the steps, in order.

The parts: ``graders.notebook_file`` reads the notebook, ``graders.workspace`` makes its folders,
``graders.kernel`` starts a confined kernel with the probe runtime, ``graders.budget`` keeps the
clocks, ``graders.probe.driver`` asks the probes. Every cell has an explicit timeout, errors are
recorded and later cells still run. A timeout, a dead kernel, an unreadable notebook or anything
else the notebook does becomes data in ``ExecutionSummary`` and reasons on the affected probes —
never an exception out of ``run_notebook`` (only ``KernelStartFailed``, a machine problem).

Time: every cell gets min(its cell timeout, the notebook's budget left, the submission's budget
left) and every check min(its timeout, the submission's budget left), the submission's budget
being ``deadline`` (``limits.submission_timeout`` for all its notebooks' cells and checks). Once it
has passed, later cells are "not-run" and every check not yet answered says "grading stopped after
N s: the submission used up its time budget".

Order in the kernel: the probe runtime (probe/runtime/) is installed first, then the student's
cells run (with the provided cells restored, see ``graders.locked``), then the checks, in order: a
run of consecutive public (or hidden) checks in one cell, each within its own time limit, or one
cell per check with ``batch=False`` (``graders.probe.driver``). If the kernel dies or stops
answering during a check asked alone, it is restarted (in a fresh kernel with a fresh HOME), the
student's cells run again, and the remaining checks go on; the check that killed it fails with
that reason, the functions it called are not called again (their remaining checks fail "… hung in
an earlier check"), and a restart that fails costs the remaining checks. The restart budget
(``limits.restarts``) is per function, so one function that hangs every fresh kernel costs only its
own checks. If that happens during a batch, nobody is blamed and no restart is charged: the kernel
is restarted and the batch's checks are asked again one per cell, where the blame is found.

What a notebook cannot do to its own result: the probe inputs and each cell's answer folder live
in a grader-owned area outside the working folder (``graders.probe.folders``); each probe cell
writes into a fresh folder made just before it and taken back after it; a folder renamed or
replaced costs that check ("interfered with the grader's answer folder") and the next one gets a
fresh folder; answers are verified against digests (``graders.probe.driver``) and validated by
``graders.probe.transport``; nothing a kernel prints is parsed.

What is kept of the student's cells: a verdict per cell (``ExecutionSummary``) and, for the TAs, the
outputs of their first run (``NotebookRun.outputs``: text, PNG/JPEG images and errors made safe by
``graders.evidence``), taken before any probe cell runs — a rerun after a restart and the probes'
own output never count.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from nbclient.exceptions import DeadKernelError

from graders.budget import Clock
from graders.checks.base import Check
from graders.evidence import Output, capture_notebook
from graders.kernel import Kernel, KernelStartFailed
from graders.notebook_kernel import KernelRequest, NotebookKernel
from graders.notebook_kernel import start as start_kernel
from graders.locked import ProvidedCells, restore
from graders.notebook_file import NotebookUnreadable, read_notebook
from graders.probe.driver import CarryForward, KernelLost, calls, carry_forward, disk_note, run_checks, skip_blocked
from graders.probe.transport import Outcome, ReadBudget, one_line
from graders.results import CellRecord, ExecutionSummary
from graders.rubric import Limits

@dataclass
class NotebookRun:
    summary: ExecutionSummary
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    #: check id → its outcomes when rerun with the reference's helpers (error carried forward)
    carried: dict[str, dict[str, Outcome]] = field(default_factory=dict)
    #: cell index in the submitted notebook → its outputs in the first run (``graders.evidence``)
    outputs: dict[int, list[Output]] = field(default_factory=dict)


def kernel_request(checks: Sequence[Check], *, assets: Sequence[str] = (), limits: Limits = Limits(),
                   workroot: Path | None = None, keep_workdir: bool = False,
                   overrides: Mapping[str, Path] | None = None, preload: Sequence[str] = ()) -> KernelRequest:
    """What the kernels of a notebook with these ``checks`` are started with (``run_notebook``'s, and
    the pool's key for a warm kernel)."""
    return KernelRequest(tuple(assets), limits, _cpu_seconds(limits, checks), tuple(sorted((overrides or {}).items())),
                         workroot, keep_workdir, tuple(preload))


def run_notebook(path: Path, checks: Sequence[Check], *, assets: Sequence[str] = (), limits: Limits = Limits(),
                 workroot: Path | None = None, keep_workdir: bool = False,
                 provided: ProvidedCells | None = None,
                 overrides: Mapping[str, Path] | None = None, deadline: float | None = None,
                 read_budget: ReadBudget | None = None, carry: CarryForward | None = None,
                 started: NotebookKernel | None = None, batch: bool = True) -> NotebookRun:
    """Execute the notebook at ``path`` and answer the probes of ``checks``.

    ``started``: its first kernel, already up (a warm kernel of ``graders.kernel_pool``, made for
    ``kernel_request`` with the same arguments); ``run_notebook`` owns it and stops it. Without it the
    first kernel starts now, on the submission's clock.

    ``carry``: error carried forward — the checks it chooses from the answers are rerun, last, with
    the reference's versions of the functions they ``depends`` on (``NotebookRun.carried``).

    ``deadline``: ``time.monotonic()`` value by which the submission's whole wall budget
    (``limits.submission_timeout``: every notebook's cells and every check's calls) runs out;
    default: ``limits.submission_timeout`` from now. ``read_budget``: the bytes of answers the
    grader still reads for this submission (shared by its notebooks; default: a fresh budget).

    ``batch``: ask consecutive checks of the same visibility in one cell (False: one cell per check,
    slower; the results are the same).

    ``provided``: the part's provided (locked) cells; changed ones are reported and the originals
    run instead (see ``graders.locked``). Raises only ``KernelStartFailed`` (the first kernel could
    not be started at all); anything the notebook does becomes data.
    """
    name = Path(path).name
    clock = Clock(limits, deadline)
    probes = [p for c in checks for p in c.probes]
    if len({p.id for p in probes}) != len(probes):
        raise ValueError("duplicate probe ids among the checks of one notebook")
    try:
        nb = read_notebook(path)
    except NotebookUnreadable as exc:
        if started is not None:
            started.close()
        reason = f"the notebook could not be read: {exc}"
        return NotebookRun(ExecutionSummary(name, error=str(exc)),
                           {p.id: Outcome(p.id, False, error_type="NoAnswer", message=reason) for p in probes})
    cells, origins, changed = restore(list(nb.cells), provided)
    if clock.spent():  # an earlier notebook of the submission used up its time
        if started is not None:
            started.close()
        run = NotebookRun(_summary(name, clock, _not_run(cells, origins), None, True),
                          {p.id: Outcome(p.id, False, error_type="NoAnswer", message=clock.stopped) for p in probes})
        run.summary = dataclasses.replace(run.summary, modified_locked_cells=changed)
        return run
    if started is None:
        request = kernel_request(checks, assets=assets, limits=limits, workroot=workroot, keep_workdir=keep_workdir,
                                 overrides=overrides)
        started = start_kernel(request, install_timeout=min(120, max(1, clock.left())))
    with started:
        run = _run(nb, cells, origins, checks, probes, started, limits, name, clock,
                   read_budget if read_budget is not None else ReadBudget(), carry, batch)
    run.summary = dataclasses.replace(run.summary, modified_locked_cells=changed)
    return run


def _not_run(cells, origins) -> list[CellRecord]:
    return [CellRecord(_shown(origins, i), "not-run") for i, c in enumerate(cells)
            if c.get("cell_type") == "code" and c.get("source", "").strip()]


def _shown(origins, i: int) -> int:
    """The index a cell is reported under: its index in the submitted notebook."""
    return origins[i] if origins[i] is not None else next(
        (o for o in origins[i + 1:] if o is not None), len([o for o in origins if o is not None]))


def _summary(name, clock, cells, died_in, timed_out) -> ExecutionSummary:
    return ExecutionSummary(
        notebook=name, seconds=round(time.monotonic() - clock.started, 3),
        cells_run=sum(1 for c in cells if c.status != "not-run"),
        cells_failed=sum(1 for c in cells if c.status in ("error", "timeout")),
        kernel_died_in_cell=None if died_in is None else died_in + 1,
        notebook_timed_out=timed_out, cells=tuple(cells),
    )


def _cpu_seconds(limits: Limits, checks: Sequence[Check]) -> int:
    """CPU time one kernel may use: its whole wall-clock budget and then some (a runaway backstop)."""
    wall = limits.notebook_timeout + sum(c.timeout or limits.probe_timeout for c in checks) + 120
    return int(wall * 1.5)


def _run(nb, student_cells, origins, checks, probes, started: NotebookKernel, limits, name, clock: Clock,
         budget: ReadBudget, carry: CarryForward | None, batch: bool = True) -> NotebookRun:
    outcomes: dict[str, Outcome] = {}
    carried: dict[str, dict[str, Outcome]] = {}
    cells: list[CellRecord] = []
    outputs: dict[int, list[Output]] = {}
    died_in: int | None = None
    cut: str | None = None  # what stopped the student's cells: "notebook" or "submission" budget
    restart_failed = ""
    pending = list(checks)
    attempt = 0
    blocked: dict[str, str] = {}  # function → what it did to a kernel; it is not called again
    deaths: dict[str, int] = {}   # function ("" for a check that calls none) → kernels it killed or hung
    alone: set[str] = set()       # checks of a batch that failed: asked one per cell from then on
    folders, box = started.folders, started.box
    while True:
        attempt += 1
        nb.cells = list(student_cells)
        if attempt == 1:  # the first kernel is up, the probe runtime installed (or a cell will find it dead)
            kernel, paths = started.kernel, started.paths
            kernel.client.nb = nb
        else:
            try:
                kernel, paths = started.new_kernel(nb, min(120, max(5, clock.left())))
            except KernelStartFailed as exc:
                restart_failed = str(exc)
                break
            # 1. the probe runtime, before any student code can touch os/numpy/builtins
            try:
                kernel.install_runtime(min(120, max(1, clock.left())))
            except DeadKernelError:
                pass
        try:
            # 2. the student's cells
            records, died_in, cut = _run_student_cells(kernel, student_cells, origins, limits, clock, box)
            if attempt == 1:  # outputs taken now: a probe cell may update a display the student's cells showed
                cells, outputs = records, capture_notebook(student_cells, origins)
            if died_in is not None or not pending:
                break
            # 3. the probes, a batch of checks (or one check) per cell, each answering into a fresh folder
            died_during = run_checks(kernel, pending, folders.area, outcomes, limits, clock, box, budget,
                                      blocked=blocked, batch=batch, alone=alone)
            if died_during is None and carry is not None:
                # 4. last, so nothing the notebook did with the reference can reach a later check's reason
                carried = carry_forward(kernel, carry, outcomes, folders.area, limits, clock, box, budget, blocked)
        finally:
            started.stop(kernel, paths)
        if died_during is None or clock.spent():
            break
        if isinstance(died_during, KernelLost):
            continue  # a batch lost the kernel: a fresh one, no restart charged; its checks go one per cell
        # the functions that killed or hung this kernel are not called again; each may cost a restart
        check, what = died_during
        charged = calls(check) or ("",)
        for function in charged:
            deaths[function] = deaths.get(function, 0) + 1
            if function:
                blocked[function] = what
        skip_blocked(pending, blocked, outcomes)
        if not pending or any(deaths[f] > limits.restarts for f in charged):
            break
    if died_in is not None:
        reason = f"the kernel died in cell {died_in + 1}, so nothing after it could be checked"
    elif clock.spent():
        reason = clock.stopped
    elif restart_failed:
        reason = f"the kernel could not be restarted ({one_line(restart_failed, 200)}), so this check could not run"
    elif cut == "notebook":
        reason = f"the notebook ran out of its {limits.notebook_timeout:.0f} s budget before this check"
    else:
        reason = f"not checked: the kernel was restarted as often as allowed ({limits.restarts} time(s) per function)"
    cut_reason = clock.stopped if cut == "submission" else (
        f"the notebook ran out of its {limits.notebook_timeout:.0f} s budget before this check")
    for p in probes:
        found = outcomes.get(p.id)
        if found is None:
            outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=reason)
        elif cut and died_in is None and found.error_type == "NameError":
            # a name the notebook never got to define because its time ran out: say so
            outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=cut_reason)
    return NotebookRun(_summary(name, clock, cells, died_in, cut is not None), outcomes, carried, outputs)


def _run_student_cells(kernel: Kernel, cells, origins, limits: Limits, clock: Clock, box):
    """Run the cells; records and "died in" use the cell's index in the submitted notebook.

    Returns (records, died in, what cut the cells short: "notebook", "submission" or None).
    """
    records: list[CellRecord] = []
    died_in = None
    cut = None
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code" or not cell.get("source", "").strip():
            continue
        shown = _shown(origins, i)
        if died_in is None and cut is None:
            if clock.notebook_left() <= 0:
                cut = "notebook"
            elif clock.spent():
                cut = "submission"
        if died_in is not None or cut is not None:
            records.append(CellRecord(shown, "not-run"))
            continue
        allowed = min(limits.cell_timeout, clock.notebook_left())
        timeout = min(allowed, clock.left())
        try:
            rec = kernel.run_cell(cell, i, timeout)
        except DeadKernelError:
            died_in = shown
            records.append(CellRecord(shown, "error", "DeadKernelError", "the kernel died"))
            continue
        evalue = disk_note(rec.evalue, limits, box) if rec.status == "error" else rec.evalue
        if rec.status == "timeout" and timeout < allowed:
            evalue, cut = f"ran out of the submission's {limits.submission_timeout:.0f} s time budget", "submission"
        if origins[i] is None and rec.status != "ok":
            evalue = f"in a provided cell that was put back: {evalue}"
        records.append(CellRecord(shown, rec.status, rec.ename, evalue, rec.seconds))
        if rec.status == "timeout" and cut is None and not kernel.responsive():
            died_in = shown
    return records, died_in, cut
