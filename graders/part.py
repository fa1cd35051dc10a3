"""What a part of the homework declares, and the context its checks are built in.

Each module in ``graders/parts/`` defines ``PART = PartSpec(...)``. ``build_checks(ctx)`` returns
every check of the part; it is called once per grading run (not per student), so expected
values computed from the reference are computed once. Public checks use fixed inputs; hidden
checks draw theirs from ``ctx.rng(name)``, seeded by a keyed derivation of the course secret
(``graders.secret``: seeing one check's inputs tells nothing about another's, nor the secret).

``ctx.reference(module)`` is the only door to the reference solutions (the homework's
``reference/<module>.py``, loaded by its path);
in the student bundle it is closed and ``build_checks`` is asked for public checks only, whose
expected values ship precomputed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from graders.checks.base import Check
from graders.probe.spec import Probe
from graders.secret import derive_seed


class ReferenceUnavailable(RuntimeError):
    """The reference solutions are not present (student bundle)."""


@dataclass
class CheckContext:
    """secret: the course secret (None: public checks only; see ``graders.secret``).
    reference_mode: "import" (the repo), "record" (``hw4 release`` writes the public values
    down) or "replay" (the student bundle answers from those records).
    """

    secret: str | None = None
    public_only: bool = False
    reference_mode: str = "import"
    record_folder: Path | None = None
    _cache: dict = field(default_factory=dict)

    def reference(self, module: str):
        """``reference.<module>`` (e.g. "part4"), or its recorded stand-in in the bundle."""
        if module in self._cache:
            return self._cache[module]
        from graders import public_cache

        if self.reference_mode == "replay":
            try:
                ref = public_cache.Replayer(module)
            except public_cache.StaleCache as exc:
                raise ReferenceUnavailable(str(exc)) from exc
        else:
            from graders.homework import active

            try:
                ref = active().reference_module(module)
            except (ImportError, FileNotFoundError) as exc:
                raise ReferenceUnavailable(f"the reference of {module} cannot be loaded: {exc}") from exc
            if self.reference_mode == "record":
                ref = public_cache.Recorder(ref, module, self.record_folder or public_cache.CACHE_DIR)
        self._cache[module] = ref
        return ref

    def rng(self, name: str) -> np.random.Generator:
        """A generator for hidden inputs named ``name``, seeded by HMAC-SHA256(secret, name)."""
        if self.secret is None:
            raise ValueError("hidden cases need the course secret (--secret-file or HW4_SECRET)")
        return np.random.default_rng(derive_seed(self.secret, name))

    def seed(self, name: str) -> int:
        """An integer seed for hidden inputs named ``name`` (for torch generators, sampling…)."""
        return int(self.rng(name).integers(0, 2**31 - 1))

    @property
    def hidden(self) -> bool:
        """Whether hidden checks should be built."""
        return not self.public_only and self.secret is not None


@dataclass(frozen=True)
class PartSpec:
    """A part of the homework.

    name:               "theory", "part1", …
    notebook:           the assignment notebook's file name
    title:              human title
    required_functions: names a notebook of this part defines (used to recognise a part by content)
    assets:             paths under ``assignments/`` copied into the kernel's working folder
    build_checks:       ``(ctx) -> list[Check]``
    """

    name: str
    notebook: str
    title: str
    required_functions: Sequence[str]
    assets: Sequence[str]
    build_checks: Callable[[CheckContext], list[Check]]
    #: seconds allowed for each cell of the student's notebook (None: rubric default)
    cell_timeout: float | None = None


class CheckTable:
    """A part's checks as a table of rows (id, probes, rule, description, public, timeout), each row
    registered once by ``add``: the id is prefixed with the part, and ``depends`` (the graded
    functions each probed function calls, for error carried forward) comes from the part's map.

    Example::

        table = CheckTable("part3", DEPENDS, timeout=90.0)
        table.add("bleu", [Probe("part3.bleu.0", "calculate_bleu_score", (refs, hyps))],
                  AllClose("part3.bleu.0", 0.42), "BLEU of a small corpus")
        return table.checks
    """

    def __init__(self, part: str, depends: Mapping[str, Sequence[str]] | None = None, *, timeout: float = 60.0):
        if not part:
            raise ValueError("a check table needs its part's name")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.part, self.depends, self.timeout = part, dict(depends or {}), timeout
        self.checks: list[Check] = []

    def add(self, id_: str, probes: Sequence[Probe], rule: Any, description: str, public: bool = True,
            timeout: float | None = None) -> Check:
        """Register ``<part>.<id_>``; its ``depends`` are those of its first probe's function."""
        if not probes:
            raise ValueError(f"check {id_!r} has no probes")
        check = Check(f"{self.part}.{id_}", self.part, tuple(probes), rule, public=public, description=description,
                      timeout=self.timeout if timeout is None else timeout,
                      depends=tuple(self.depends.get(probes[0].target, ())))
        self.checks.append(check)
        return check
