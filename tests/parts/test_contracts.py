"""The data the parts declare beside their checks stays true to the notebooks and the reference:

* ``DEPENDS`` (error carried forward): every name is a top-level function of ``reference/<part>.py``
  (the engine binds the reference's version under that name) and a function the student writes in
  the notebook; every check of a function with dependencies carries them in ``Check.depends``;
* ``ARGUMENTS`` (reasons of calls that raised): the names are the reference's parameters, in order;
* the "Contract clauses → checks" list of each part's module docstring names only checks that exist,
  covers every graded function, and every check of the part is named there.
"""
from __future__ import annotations

import importlib
import inspect
import re

import nbformat
import pytest

from graders.homework import all_parts
from graders.part import CheckContext
from helpers import TEST_SECRET, blank_notebook

PARTS = ["theory", "part1", "part2", "part3", "part4"]


@pytest.fixture(scope="module")
def built():
    specs = all_parts()
    return {part: specs[part].build_checks(CheckContext(secret=TEST_SECRET)) for part in PARTS}


def _module(part):
    return importlib.import_module(f"graders.parts.{part}")


def _reference(part):
    return importlib.import_module(f"reference.{part}")


def _notebook_functions(part) -> set[str]:
    nb = nbformat.read(blank_notebook(part), as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return set(re.findall(r"^def\s+(\w+)", source, flags=re.M))


@pytest.mark.parametrize("part", PARTS)
def test_dependencies_are_reference_functions_and_notebook_functions(part, built):
    depends = getattr(_module(part), "DEPENDS", {})
    reference, notebook = _reference(part), _notebook_functions(part)
    for target, names in depends.items():
        assert target in notebook, (part, target)
        for name in names:
            assert inspect.isfunction(getattr(reference, name, None)), f"reference.{part}.{name} is not a function"
            assert name in notebook, f"{name} is not a function of the {part} notebook"
    for check in built[part]:
        targets = {p.target for p in check.probes if p.call}
        expected = set().union(*(depends.get(t, ()) for t in targets)) if targets else set()
        assert set(check.depends) == expected, check.id


def test_the_known_double_charges_are_declared(built):
    depends = {c.id: set(c.depends) for checks in built.values() for c in checks}
    assert "calculate_hamming_penalty" in depends["part3.enhanced_beam_search.diversity"]
    assert {"get_log_prob"} <= depends["part4.greedy_search.ids"]
    assert {"get_log_prob", "greedy_sampling", "top_k_sampling", "nucleus_sampling", "top_p_filter"} \
        <= depends["part4.beam_search.greedy"]
    assert "compute_loss" in depends["part2.loss_landscape.eval_mode"]
    assert depends["part3.hamming"] == set() and depends["part4.get_log_prob"] == set()


@pytest.mark.parametrize("part", PARTS)
def test_argument_names_are_the_reference_signatures(part):
    reference = _reference(part)
    for target, arguments in _module(part).ARGUMENTS.items():
        params = list(inspect.signature(getattr(reference, target)).parameters)
        assert [name for name, _ in arguments] == params[:len(arguments)], target


@pytest.mark.parametrize("part", PARTS)
def test_every_clause_list_names_real_checks_and_every_function(part, built):
    doc = _module(part).__doc__
    section = doc[doc.index("Contract clauses → checks"):]
    named = set(re.findall(r"``((?:theory|part\d)\.[\w.]+)``", section))
    ids = {c.id for c in built[part]}
    assert named - ids == set(), "unknown check ids in the clause list"
    graded = {p.target for c in built[part] for p in c.probes if p.call}
    mentioned = set(re.findall(r"^\* ``(\w+)``", section, flags=re.M))
    assert graded <= mentioned, graded - mentioned
    if part != "theory":  # the theory answers are listed as one line (each answer's own check)
        assert ids - named == set(), "checks missing from the clause list"
