"""Hostile submissions cost their own comparison, with a reason, and never the report; what they
contain reaches the page escaped and the CSV without formulas."""
from __future__ import annotations

import csv
import json

import nbformat
import pytest

from class_kit import write_intake
from graders.similarity import analyse
from graders.similarity.report import csv_cell, printable, write
from helpers import solved_notebook

EVIL_NAME = "=HYPERLINK(\"http://x\")<script>alert(1)</script>\udcff\x1b[31m"
EVIL_ANSWER = ("<script>alert('answer')</script> " + "the model copies what the user believes and says so " * 4
               + "\x00\x07\ud800")


def _copy_with_answer(path, answer):
    nb = nbformat.read(solved_notebook("part4"), as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("hw4", {}).get("answer") == "part4.written":
            cell.source = answer
    text = json.dumps(nb, ensure_ascii=True)  # lone surrogates survive as \\ud800 escapes
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hostile_out(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    out = root / "out"
    out.mkdir()
    (root / "broken.ipynb").write_text("{not json", encoding="utf-8")
    (root / "empty.ipynb").write_bytes(b"")
    (root / "latin1.ipynb").write_bytes(b"\xff\xfe{}")
    a = _copy_with_answer(root / "a.ipynb", EVIL_ANSWER)
    b = _copy_with_answer(root / "b.ipynb", EVIL_ANSWER.upper())
    write_intake(out, {"401000001_Broken": {"part4": str(root / "broken.ipynb")},
                       "401000002_Empty": {"part4": str(root / "empty.ipynb"), "part3": str(root / "nowhere.ipynb")},
                       "401000003_Latin": {"part4": str(root / "latin1.ipynb"), "part2": "bad\x00path.ipynb"},
                       f"401000004_{EVIL_NAME}": {"part4": str(a)},
                       "401000005_Fine": {"part4": str(b)}})
    return out


def test_unreadable_notebooks_are_reported_and_the_rest_compared(hostile_out):
    analysis = analyse(hostile_out)
    reasons = dict(analysis.problems)
    assert "not a valid notebook" in reasons["401000001_Broken"]
    assert set(sid for sid, _ in analysis.problems) == {"401000001_Broken", "401000002_Empty", "401000003_Latin"}
    assert all(what.endswith("not compared") for _, what in analysis.problems)
    pairs = {(p.a, p.b) for p in analysis.flagged}
    assert pairs == {(f"401000004_{EVIL_NAME}", "401000005_Fine")}  # every unit copied: flagged


def test_the_page_escapes_everything_and_the_csv_has_no_formula(hostile_out):
    written = write(analyse(hostile_out), hostile_out / "similarity")
    page = written.html.read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in page and "\x00" not in page and "\ufffd" in page
    with open(written.csv, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["name_a"].startswith("'=HYPERLINK") for r in rows)
    assert all(not v.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for v in r.values())


def test_csv_cells_and_printable_text():
    assert [csv_cell(v) for v in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "ok", 0.5)] == [
        "'=1+1", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\ufffdx", "ok", "0.5"]
    assert printable("a\x1b[31mb\udcff\nc\td") == "a\ufffd[31mb\ufffd\nc\td"
