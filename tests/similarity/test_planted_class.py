"""Done-when of issue 20: in a class with planted copies (renamed identifiers, reordered functions,
comments and blank lines changed, one helper inlined) every planted pair is above the threshold on
everything it shares, and independent correct solutions written differently stay below it."""
from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from class_kit import ALT, BLANK, BLANK2, COPY, HELPER, INLINER, PLANTED, REF, build_class, independent
from graders.cli import main
from graders.similarity import analyse
from graders.similarity.report import class_report_section


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return build_class(tmp_path_factory.mktemp("similarity-class"))


@pytest.fixture(scope="module")
def analysis(out):
    return analyse(out)


def scored_units(analysis, a, b):
    """The units on which the pair (a, b) was scored: both sides have enough fingerprints."""
    s = analysis.settings
    return {(c.part, c.unit) for c in analysis.compared
            if min(c.sizes.get(a, 0), c.sizes.get(b, 0)) >= (s.min_code if c.kind == "code" else s.min_written)}


def test_every_planted_pair_is_listed_on_every_unit_it_is_scored_on(analysis):
    flagged = {(p.a, p.b): {(q.part, q.unit) for q in analysis.flagged if (q.a, q.b) == (p.a, p.b)}
               for p in analysis.flagged}
    for a, b in PLANTED:
        units = scored_units(analysis, a, b)
        assert units and flagged.get((a, b), set()) == units, (a, b, units - flagged.get((a, b), set()))
    ref_copy = scored_units(analysis, REF, COPY)
    assert len({u for u in ref_copy if u[1].endswith(".written")}) >= 10   # written answers
    assert len({u for u in ref_copy if not u[1].endswith(".written")}) >= 20  # graded functions of every part
    assert {p.part for p in analysis.flagged if (p.a, p.b) == (REF, COPY)} == {"theory", "part1", "part2", "part3",
                                                                              "part4"}
    assert ("part3", "calculate_bleu_score") in scored_units(analysis, HELPER, INLINER)


def test_the_copies_were_really_disguised(analysis):
    for p in analysis.flagged:
        if (p.a, p.b) in PLANTED and p.kind == "code":
            assert analysis.texts[(p.part, p.unit, p.a)] != analysis.texts[(p.part, p.unit, p.b)], p.unit
    inlined = analysis.texts[("part3", "calculate_bleu_score", INLINER)]
    assert "def " not in inlined.split("\n", 1)[1] and "ngram_counts" not in inlined
    assert "def ngram_counts" in analysis.texts[("part3", "calculate_bleu_score", HELPER)]


def test_independent_correct_solutions_stay_below_the_threshold(analysis):
    assert [(p.a, p.b, p.part, p.unit, round(p.score, 2)) for p in analysis.flagged if independent(p.a, p.b)] == []
    compared_independently = scored_units(analysis, REF, ALT)
    assert len(compared_independently) >= 20  # the alternatives were really compared, not skipped


def test_blank_notebooks_have_nothing_to_compare(analysis):
    assert not any(BLANK in c.sizes or BLANK2 in c.sizes for c in analysis.compared)
    assert analysis.problems == []


def test_the_command_writes_the_page_the_csv_and_the_histogram(out):
    result = CliRunner().invoke(main, ["similarity", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 pair(s) of submissions at or above 0.5" in result.output
    folder = out / "similarity"
    page = (folder / "index.html").read_text(encoding="utf-8")
    assert "To be looked at by a person" in page and page.count("<mark>") > 50
    assert page.index(REF) < page.index(HELPER)  # the most similar pair first
    with open(folder / "pairs.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["submission_a"], r["submission_b"]) for r in rows} == PLANTED
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.5
    assert (folder / "histogram.png").read_bytes().startswith(b"\x89PNG")


def test_a_lower_threshold_lists_more_and_bad_settings_are_refused(out):
    assert len(analyse(out, threshold=0.1).flagged) > len(analyse(out).flagged)
    result = CliRunner().invoke(main, ["similarity", str(out), "--threshold", "1.5"])
    assert result.exit_code == 1 and "threshold must be in (0, 1]" in result.output
    result = CliRunner().invoke(main, ["similarity", str(out.parent)])
    assert result.exit_code == 1 and "grade the class with `hw4 grade` first" in result.output


def test_the_class_report_section_links_the_page(out, tmp_path):
    section = class_report_section(out)
    assert "../similarity/index.html" in section and f"<td>{REF}</td><td>{COPY}</td>" in section
    assert "Not computed: " in class_report_section(tmp_path)
