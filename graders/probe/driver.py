"""The probes of a notebook's checks, asked in its kernel: one cell per check, each answering into a
fresh folder that the grader reads right after and verifies against the digests the probe runtime
reports in the cell's execute reply (a changed file fails that check with "could not be verified").

A check whose function killed or hung a kernel before is not asked again (``skip_blocked``); a
failed check that calls other graded functions is asked once more, last, with the reference's
versions of those bound (``carry_forward``, error carried forward; ``graders.reference_helpers``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from nbclient.exceptions import DeadKernelError

from graders import sandbox as _sandbox
from graders.budget import Clock
from graders.checks.base import Check
from graders.kernel import RUNTIME_MISSING, Kernel
from graders.probe import spec as probe_spec
from graders.probe.folders import INTERFERED_FOLDER, AnswerArea, AnswerFolder
from graders.probe.transport import HUNG_EARLIER, INTERFERED, Outcome, ReadBudget, read_answers
from graders.reference_helpers import helpers_json
from graders.rubric import Limits

UNVERIFIED = INTERFERED


def probe_cell(folder: Path, indices: list[int], bind: tuple[str, ...] = ()) -> str:
    extra = f", {tuple(bind)!r}" if bind else ""  # only a rerun with reference helpers binds any
    return ("import sys as _hw4_sys\n"
            "_hw4 = _hw4_sys.modules.get('_hw4_probe')\n"
            "del _hw4_sys\n"
            f"if _hw4 is None:\n    raise RuntimeError({RUNTIME_MISSING!r})\n"
            f"_hw4.run(None, {str(folder)!r}, {str(folder)!r}, {indices!r}{extra})\n"
            "del _hw4")


ENOSPC_TEXT = "No space left on device"


def disk_note(text: str, limits: Limits, box: _sandbox.Sandbox) -> str:
    """A full tmpfs working folder said as what it is (only bubblewrap gives the kernel its own disk)."""
    if box.isolated and ENOSPC_TEXT in text:
        return f"disk quota exceeded (the working folder is limited to {limits.disk_mb} MB): {text}"
    return text


@dataclass(frozen=True)
class CarryForward:
    """Error carried forward as the pipeline asks for it: the part's reference source (each helper is
    cut out of it alone, ``graders.reference_helpers``) and ``choose``, which picks from the first
    answers the failed checks to rerun with the reference's helpers — judging is the pipeline's."""

    reference: str
    choose: Callable[[Mapping[str, Outcome]], Sequence[Check]]


def carry_forward(kernel: Kernel, carry: CarryForward, outcomes, area: AnswerArea, limits: Limits, clock: Clock,
                  box, budget: ReadBudget, blocked: Mapping[str, str]) -> dict[str, dict[str, Outcome]]:
    """Rerun the checks ``carry`` chooses (not one whose own function hung a kernel before) with the
    reference's versions of the functions they ``depends`` on; check id → the rerun's outcomes."""
    chosen = [c for c in carry.choose(outcomes) if c.depends and not any(f in blocked for f in calls(c))]
    again: dict[str, Outcome] = {}
    run_checks(kernel, list(chosen), area, again, limits, clock, box, budget, carry.reference)
    return {c.id: {p.id: again[p.id] for p in c.probes} for c in chosen if all(p.id in again for p in c.probes)}


def calls(check: Check) -> tuple[str, ...]:
    """The notebook's functions a check calls."""
    return tuple(dict.fromkeys(p.target for p in check.probes if p.call))


def skip_blocked(pending: list, blocked: Mapping[str, str], outcomes) -> None:
    """Remove from ``pending`` the checks that call a function that killed or hung a kernel before;
    each fails with that reason (the function is the student's, its checks are not ungradable)."""
    for check in [c for c in pending if any(f in blocked for f in calls(c))]:
        pending.remove(check)
        function = next(f for f in calls(check) if f in blocked)
        for p in check.probes:
            outcomes[p.id] = Outcome(p.id, False, error_type=HUNG_EARLIER,
                                     message=f"not checked: `{function}` {blocked[function]} in an earlier check, "
                                             f"so it is not called again")


def run_checks(kernel: Kernel, pending: list, area: AnswerArea, outcomes, limits: Limits,
                clock: Clock, box, budget: ReadBudget, reference: str | None = None,
                blocked: Mapping[str, str] | None = None):
    """Answer the ``pending`` checks in order (removing each); returns ``(check, what it did)`` for the
    check during which the kernel died or stopped answering ("killed the kernel", "hung"), if any.

    Each check's cell gets a folder holding the inputs of that check's probes only (numbered from 0).
    With ``reference`` (the source of the part's reference module) each check runs with the
    reference's versions of the functions it ``depends`` on (error carried forward), and with
    nothing else of the reference (``graders.reference_helpers``).
    """
    while pending:
        if clock.spent():
            return None
        if blocked:
            skip_blocked(pending, blocked, outcomes)
            if not pending:
                return None
        check = pending.pop(0)
        if not check.probes:
            continue
        inputs = probe_spec.encode_inputs(list(check.probes))
        bind = tuple(check.depends) if reference is not None else ()
        if bind:  # those helpers alone, each cut out of the reference: never the module or its file
            inputs["helpers.json"] = helpers_json(reference, bind)
        indices = list(range(len(check.probes)))
        index_of = {p.id: n for n, p in enumerate(check.probes)}
        own = check.timeout or limits.probe_timeout
        timeout = min(own, clock.left())
        reason, rec, reinstalled, folder, died = None, None, False, None, ""
        while True:
            try:
                folder = area.new_answer_folder(inputs)
            except OSError:
                folder, reason = None, INTERFERED_FOLDER
                break
            try:
                rec = kernel.run_probe_cell(probe_cell(folder.path, indices, bind), timeout)
            except DeadKernelError:
                reason, died = "the kernel died while this check called your code", "killed the kernel"
                break
            if (rec.status == "error" and rec.evalue == RUNTIME_MISSING and not reinstalled
                    and kernel.install_runtime(min(120, max(1, clock.left())))):
                reinstalled = True  # the notebook removed the probe runtime: put it back, once
                folder.remove()
                continue
            break
        if rec is not None and rec.status == "timeout":
            if timeout < own:
                reason = clock.stopped
            else:
                reason = f"your code ran longer than the {own:.0f} s allowed for this check"
                died = "" if kernel.responsive() else "hung"
        intact = folder.take_back() if folder is not None else False
        if reason is None and not intact:
            reason = INTERFERED_FOLDER
        if reason is None and rec is not None and rec.status == "error":
            reason = (f"the check could not run ({rec.ename}: {rec.evalue})" if rec.evalue != RUNTIME_MISSING
                      else "the notebook removed the grader's probe runtime (_hw4_probe), so it could not be checked")
        _read(check, folder, kernel, reason, index_of, outcomes, limits, box, budget)
        if folder is not None:
            folder.remove()
        if died:
            return check, died
    return None


def _read(check, folder: AnswerFolder | None, kernel: Kernel, reason, index_of, outcomes, limits, box,
          budget: ReadBudget) -> None:
    """One check's outcomes: its verified answers, or ``reason`` for each of its probes."""
    digests = kernel.digests() if reason is None else None
    if reason is None and digests is None:
        reason = UNVERIFIED
    if reason is not None:
        for p in check.probes:
            outcomes[p.id] = Outcome(p.id, False, error_type="NoAnswer", message=reason)
        return
    found = read_answers(folder.fd, digests, {index_of[p.id]: p.id for p in check.probes}, budget)
    for probe_id, outcome in found.items():
        if not outcome.ok and ENOSPC_TEXT in outcome.message:
            outcome = dataclasses.replace(outcome, message=disk_note(outcome.message, limits, box))
        outcomes[probe_id] = outcome
