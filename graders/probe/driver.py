"""The probes of a notebook's checks, asked in its kernel, in order, in as few cells as is safe.

A *batch* is a run of consecutive checks that are all public or all hidden (a public check's value
reaches the student's feedback: it is never computed in a cell that also holds a hidden check's
inputs). It is asked in one cell answering into one fresh folder, each check within its own time
limit (an alarm in the kernel, ``graders.probe.runtime.answers``); the cell's own timeout, the sum of
those limits, is only the backstop. A batch that does not come back whole and verified (the cell
timed out or failed, the kernel died, the folder or an answer was tampered with) gives no answers:
its checks are asked again one per cell, as every check is without batching, so whatever blame
follows falls on one check. A check asked alone gets a folder holding its own probes' inputs only;
its answers are verified against the digests the probe runtime reports in the cell's execute reply
(a changed file fails that check with "could not be verified").

A check whose function killed or hung a kernel before is not asked again (``skip_blocked``); a
failed check that calls other graded functions is asked once more, last, alone, with the reference's
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


def probe_cell(folder: Path, indices: list, bind: tuple[str, ...] = (), seconds: list[float] | None = None) -> str:
    """The cell that answers probes ``indices``; a batch passes one list of indices per check and
    ``seconds``, each check's own time limit."""
    extra = f", {tuple(bind)!r}" if bind else ""  # only a rerun with reference helpers binds any
    if seconds is not None:
        extra += f", seconds={[float(x) for x in seconds]!r}"
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


@dataclass(frozen=True)
class KernelLost:
    """What ``run_checks`` returns when the kernel died or stopped answering during a batch: no check
    is to blame (any of them may have done it), so restart the kernel without charging a restart;
    the batch's checks are back at the front of ``pending`` and in ``alone``, to be asked one per cell."""

    checks: tuple[str, ...]


#: seconds a batch's cell gets beyond the sum of its checks' own limits (inputs read, answers written)
BATCH_MARGIN = 5.0
#: at most this sum of own limits in one batch: what a notebook that swallows the alarm (``except
#: BaseException`` in a loop) can cost beyond its check, before the batch is asked again one per cell
MAX_BATCH_SECONDS = 300.0


def own_limit(check: Check, limits: Limits) -> float:
    """The seconds a check's calls may take."""
    return check.timeout or limits.probe_timeout


def next_batch(pending: Sequence[Check], limits: Limits, clock: Clock, alone: set) -> list[Check]:
    """The checks the next cell asks: the first pending one and those after it, consecutive, of the
    same visibility, not to be asked ``alone``, as long as their limits add up to at most
    ``MAX_BATCH_SECONDS`` and (with ``BATCH_MARGIN``) fit in the submission's time left (a batch's
    backstop never outlasts the budget: a check that might not fit is asked alone, as without batching)."""
    first = pending[0]
    batch, total = [first], own_limit(first, limits)
    if first.id in alone:
        return batch
    for check in pending[1:]:
        total += own_limit(check, limits)
        if (check.public != first.public or check.id in alone or total > MAX_BATCH_SECONDS
                or total + BATCH_MARGIN > clock.left()):
            break
        batch.append(check)
    return batch


def run_checks(kernel: Kernel, pending: list, area: AnswerArea, outcomes, limits: Limits,
               clock: Clock, box, budget: ReadBudget, reference: str | None = None,
               blocked: Mapping[str, str] | None = None, *, batch: bool = True, alone: set | None = None):
    """Answer the ``pending`` checks in order (removing each). Returns None, or ``(check, what it
    did)`` for the check asked alone during which the kernel died or stopped answering ("killed the
    kernel", "hung"), or ``KernelLost`` when that happened during a batch.

    ``batch``: ask runs of consecutive checks of the same visibility in one cell each (``next_batch``);
    ``alone``: ids of checks to ask one per cell (those of a batch that failed are added to it; keep it
    across a restart). With ``reference`` (the source of the part's reference module) every check is
    asked alone, with the reference's versions of the functions it ``depends`` on (error carried
    forward), and with nothing else of the reference (``graders.reference_helpers``).
    """
    alone = set() if alone is None else alone
    while pending:
        if clock.spent():
            return None
        if blocked:
            skip_blocked(pending, blocked, outcomes)
            if not pending:
                return None
        checks = next_batch(pending, limits, clock, alone) if batch and reference is None else pending[:1]
        if len(checks) > 1:
            del pending[:len(checks)]
            lost = ask_batch(kernel, checks, area, outcomes, limits, clock, box, budget)
            if lost:  # no answers at all: each check again, alone (today's path, which assigns blame)
                pending[:0] = checks
                alone.update(c.id for c in checks)
                if lost == "restart":
                    return KernelLost(tuple(c.id for c in checks))
            continue
        check = pending.pop(0)
        if not check.probes:
            continue
        died = ask_one(kernel, check, area, outcomes, limits, clock, box, budget, reference)
        if died:
            return check, died
    return None


def ask_one(kernel: Kernel, check: Check, area: AnswerArea, outcomes, limits: Limits, clock: Clock, box,
            budget: ReadBudget, reference: str | None = None) -> str:
    """Ask one check in a cell of its own, in a folder holding its probes' inputs only (numbered from
    0); returns what it did to the kernel ("killed the kernel", "hung") or "". Every probe gets an
    outcome, its answer or the reason there is none."""
    inputs = probe_spec.encode_inputs(list(check.probes))
    bind = tuple(check.depends) if reference is not None else ()
    if bind:  # those helpers alone, each cut out of the reference: never the module or its file
        inputs["helpers.json"] = helpers_json(reference, bind)
    indices = list(range(len(check.probes)))
    index_of = {p.id: n for n, p in enumerate(check.probes)}
    own = own_limit(check, limits)
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
            reason = timed_out(own)
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
    return died


def timed_out(own: float) -> str:
    """The reason of a check whose calls outran its own limit (alone or in a batch: the same words)."""
    return f"your code ran longer than the {own:.0f} s allowed for this check"


#: what the probe runtime writes for each probe of a check that outran its limit in a batch
#: (``ALARM_TYPE``, ``ALARM_MESSAGE`` in graders/probe/runtime/answers.py)
ALARM = ("Timeout", "the check ran out of its own time limit")


def ask_batch(kernel: Kernel, checks: Sequence[Check], area: AnswerArea, outcomes, limits: Limits, clock: Clock,
              box, budget: ReadBudget) -> str:
    """Ask ``checks`` in one cell, in one folder holding all their probes' inputs (numbered across
    the batch), each check within its own limit. Returns "" when every probe has its outcome;
    otherwise none has one, and the word says what to do: "again" (ask them one per cell) or
    "restart" (the kernel died or stopped answering: start a fresh one first)."""
    probes = [p for c in checks for p in c.probes]
    inputs = probe_spec.encode_inputs(probes)
    groups, first = [], 0
    for c in checks:
        groups.append(list(range(first, first + len(c.probes))))
        first += len(c.probes)
    seconds = [own_limit(c, limits) for c in checks]
    timeout = min(sum(seconds) + BATCH_MARGIN, clock.left())
    reinstalled = False
    while True:
        try:
            folder = area.new_answer_folder(inputs)
        except OSError:
            return "again"
        try:
            try:
                rec = kernel.run_probe_cell(probe_cell(folder.path, groups, seconds=seconds), timeout)
            except DeadKernelError:
                return "restart"
            if (rec.status == "error" and rec.evalue == RUNTIME_MISSING and not reinstalled
                    and kernel.install_runtime(min(120, max(1, clock.left())))):
                reinstalled = True  # the notebook removed the probe runtime: put it back, once
                continue
            if rec.status == "timeout":
                return "again" if kernel.responsive() else "restart"
            if not folder.take_back() or rec.status != "ok":
                return "again"
            digests = kernel.digests()
            found = (_read_batch(checks, groups, seconds, folder, digests, limits, box, budget)
                     if digests is not None else None)
            if found is None:
                return "again"
            outcomes.update(found)
            return ""
        finally:
            folder.remove()


def _read_batch(checks, groups, seconds, folder: AnswerFolder, digests, limits, box, budget: ReadBudget):
    """Every probe's outcome from a batch's folder, each check's read as if alone (its own files, in
    the order of its own cell, within its own byte cap); None if any answer cannot be verified.
    ``budget`` is charged only for a batch that is kept (one asked again is read again)."""
    trial = dataclasses.replace(budget)
    found = {}
    for check, group, own in zip(checks, groups, seconds):
        first = group[0] if group else 0
        mine = {name: digest for name, digest in digests.items() if _index(name) in group}
        mine = dict(sorted(mine.items(), key=lambda item: _renumbered(item[0], first)))
        answers = read_answers(folder.fd, mine, {n: p.id for n, p in zip(group, check.probes)}, trial)
        if any(o.error_type == "NoAnswer" and o.message == INTERFERED for o in answers.values()):
            return None
        if any((o.error_type, o.message) == ALARM for o in answers.values()):
            answers = {p.id: Outcome(p.id, False, error_type="NoAnswer", message=timed_out(own)) for p in check.probes}
        found.update(answers)
    budget.left = trial.left
    return {pid: _noted(o, limits, box) for pid, o in found.items()}


def _index(name: str) -> int:
    """The probe index of an answer file's name (``3.json``, ``3_0.npy`` → 3)."""
    return int(name.partition(".")[0].partition("_")[0])


def _renumbered(name: str, first: int) -> str:
    """An answer file's name as it would be in a cell of its check's own (indices from 0)."""
    head, sep, tail = name.partition("_") if "_" in name else name.partition(".")
    return f"{int(head) - first}{sep}{tail}"


def _noted(outcome: Outcome, limits: Limits, box) -> Outcome:
    if not outcome.ok and ENOSPC_TEXT in outcome.message:
        return dataclasses.replace(outcome, message=disk_note(outcome.message, limits, box))
    return outcome


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
        outcomes[probe_id] = _noted(outcome, limits, box)
