"""A class run survives any name and any text: non-UTF-8 names, zip member encodings, entries that
map to one id, terminal escapes, formula-like names and answers, a lone surrogate in an exception.
"""
from __future__ import annotations

import csv
import json
import os
import zipfile
from pathlib import Path

from click.testing import CliRunner

import graders.cli as cli
from batch_kit import BAD, GOOD, PARTS, cli_plan, notebook, student_folder, student_zip
from graders.intake import scan_submissions

PERSIAN = "سارا"
SURROGATE_CODE = ('def triple(x):\n    raise ValueError("bad \\ud800 value")\n'
                  'raise RuntimeError("cell \\ud800 failed")')


def raw_folder(root: Path, raw: bytes, codes: dict[str, str], **kw) -> Path:
    """A student folder whose name is the bytes ``raw`` (not necessarily UTF-8)."""
    root.mkdir(parents=True, exist_ok=True)
    return student_folder(root, os.fsdecode(raw), codes, **kw)


def zip_with_raw_member(path: Path, raw_name: bytes, part: str, code: str) -> Path:
    """A zip whose one member is named by ``raw_name`` without the UTF-8 flag (as old Windows tools write)."""
    placeholder = b"Q" * (len(raw_name) - len(b".ipynb")) + b".ipynb"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(placeholder.decode("ascii"), notebook(part, code))
    data = path.read_bytes()
    assert data.count(placeholder) == 2  # the local header and the central directory
    path.write_bytes(data.replace(placeholder, raw_name))
    with zipfile.ZipFile(path) as zf:
        assert not zf.infolist()[0].flag_bits & 0x800
    return path


def scan(root: Path, tmp_path: Path):
    return scan_submissions([root], PARTS, unpack_to=tmp_path / "unpacked")


# --- intake --------------------------------------------------------------------------------------

def test_names_that_are_not_utf8_are_decoded_with_a_stated_fallback(tmp_path):
    root = tmp_path / "class"
    raw_folder(root, b"401000001_" + PERSIAN.encode("cp1256"), GOOD)
    raw_folder(root, b"401000002_Ali\x80\x81", GOOD)
    intake = scan(root, tmp_path)
    subs = {s.student_id: s for s in intake.submissions}
    sara, ali = subs["401000001"], subs["401000002"]
    assert (sara.id, sara.name) == ("401000001_" + PERSIAN, PERSIAN)
    assert any("not valid UTF-8; it was read as cp1256: 401000001_" + PERSIAN in p for p in sara.problems)
    assert ali.id == "401000002_Ali\ufffd\ufffd"
    assert any("401000002_Ali\\x80\\x81" in p and "replaced" in p for p in ali.problems), ali.problems
    assert set(sara.notebooks) == set(ali.notebooks) == {"alpha", "beta"}
    for s in intake.submissions:
        json.dumps([s.id, s.name, s.problems], ensure_ascii=False).encode("utf-8")
    assert {e for e, _ in intake.rejected} == {"401000001_\\xd3\\xc7\\xd1\\xc7", "401000002_Ali\\x80\\x81"}


def test_zip_member_names_without_the_utf8_flag(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    zip_with_raw_member(root / "401000003_Reza.zip", "تمرين_beta.ipynb".encode("cp1256"), "beta", GOOD["beta"])
    zip_with_raw_member(root / "401000004_Neda.zip", "résumé_beta.ipynb".encode("cp437"), "beta", GOOD["beta"])
    subs = {s.student_id: s for s in scan(root, tmp_path).submissions}
    assert subs["401000003"].notebooks["beta"].name == "تمرين_beta.ipynb"
    assert any("read as cp1256" in p for p in subs["401000003"].problems)
    assert subs["401000004"].notebooks["beta"].name == "résumé_beta.ipynb"
    assert any("résumé_beta.ipynb: the archive does not mark this name as UTF-8; it was read as cp437" in p
               for p in subs["401000004"].problems)


def test_names_that_sanitise_alike_never_share_an_unpack_folder(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    student_zip(root, "Sara Ahmadi", {"beta": GOOD["beta"]})
    student_zip(root, "Sara_Ahmadi", {"beta": BAD["beta"]})
    student_zip(root, "401000005_Bad\x07", {"beta": GOOD["beta"]})
    student_zip(root, "401000005_Bad\x1b", {"beta": BAD["beta"]})  # both become 401000005_Bad_
    subs = {s.id: s for s in scan(root, tmp_path).submissions}
    folders = [s.notebooks["beta"].parent for s in subs.values()]
    assert len(set(folders)) == 4, folders
    assert "return 3 * x" in subs["Sara Ahmadi"].notebooks["beta"].read_text()
    assert "return x + 3" in subs["Sara_Ahmadi"].notebooks["beta"].read_text()
    bad = [s for s in subs.values() if s.student_id == "401000005"]
    assert len(bad) == 2 and all(s.id.startswith("401000005_Bad_~zip-") for s in bad)
    assert all(any("map to the same submission id 401000005_Bad_" in p for p in s.problems) for s in bad)


def test_a_folder_and_a_zip_of_one_name_are_both_graded_with_a_note(tmp_path):
    root = tmp_path / "class"
    student_folder(root, "401000007_Omid", {"beta": GOOD["beta"]})
    student_zip(root, "401000007_Omid", {"beta": BAD["beta"]})
    student_folder(root, "401000008_mina", {"beta": GOOD["beta"]})
    student_zip(root, "401000008_Mina", {"beta": BAD["beta"]})  # one folder on a case-insensitive disk
    intake = scan(root, tmp_path)
    subs = {s.id: s for s in intake.submissions}
    assert set(subs) == {"401000007_Omid~folder", "401000007_Omid~zip", "401000008_mina~folder",
                         "401000008_Mina~zip"}
    note = [p for p in subs["401000007_Omid~zip"].problems if "same submission id" in p]
    assert note == ["'401000007_Omid.zip' and '401000007_Omid' map to the same submission id 401000007_Omid: "
                    "none is dropped, this one is graded as 401000007_Omid~zip; remove the entries that do "
                    "not count and regrade"]
    assert "return 3 * x" in subs["401000007_Omid~folder"].notebooks["beta"].read_text()
    assert "return x + 3" in subs["401000007_Omid~zip"].notebooks["beta"].read_text()
    assert sum("same submission id" in r for _, r in intake.rejected) == 4


def test_a_rescan_gives_the_same_ids_and_notes(tmp_path):
    root = tmp_path / "class"
    raw_folder(root, b"401000001_" + PERSIAN.encode("cp1256"), GOOD)
    student_folder(root, "401000007_Omid", GOOD)
    student_zip(root, "401000007_Omid", GOOD)
    first = [(s.id, s.problems) for s in scan(root, tmp_path).submissions]
    second = [(s.id, s.problems) for s in scan(root, tmp_path).submissions]
    assert first == second


def test_an_entry_given_twice_is_graded_once(tmp_path):
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", GOOD)
    student_zip(root, "401000002_Sara", GOOD)
    intake = scan_submissions([root, root / "401000001_Ali", root / "401000002_Sara.zip", root], PARTS,
                              unpack_to=tmp_path / "unpacked")
    assert [s.id for s in intake.submissions] == ["401000001_Ali", "401000002_Sara"]
    assert intake.rejected == []


# --- a whole class through the CLI ---------------------------------------------------------------

def hostile_class(root: Path) -> dict[str, float]:
    """Every name of issue 14 in one class; returns submission id → expected beta score."""
    beta = lambda which: {"beta": which["beta"]}  # noqa: E731
    raw_folder(root, b"401000001_" + PERSIAN.encode("cp1256"), beta(GOOD))
    raw_folder(root, b"401000002_Ali\x80\x81", beta(BAD))
    zip_with_raw_member(root / "401000003_Reza.zip", "تمرين_beta.ipynb".encode("cp1256"), "beta", GOOD["beta"])
    zip_with_raw_member(root / "401000004_Neda.zip", "résumé_beta.ipynb".encode("cp437"), "beta", BAD["beta"])
    student_zip(root, "Sara Ahmadi", beta(GOOD))
    student_zip(root, "Sara_Ahmadi", beta(BAD))
    student_folder(root, "401000007_Omid", beta(GOOD))
    student_zip(root, "401000007_Omid", beta(BAD))
    student_folder(root, "401000008_Evil\x1b[2K\r\x07Name", beta(GOOD))
    student_folder(root, "401000009_=SUM(A1)", beta(GOOD), answer="=HYPERLINK(\"http://evil\",\"x\")")
    student_folder(root, "@import", beta(BAD), answer="+cmd|' /C calc'!A0")
    student_folder(root, "-2+3", beta(GOOD))
    lone = student_folder(root, "401000010_Lone", {"beta": SURROGATE_CODE}, answer="caf<S>e") / "beta_notebook.ipynb"
    lone.write_text(lone.read_text().replace("<S>", "\\ud800"))  # a JSON escape: valid JSON, a lone surrogate
    return {"401000001_" + PERSIAN: 60, "401000002_Ali\ufffd\ufffd": 0, "401000003_Reza": 60, "401000004_Neda": 0,
            "Sara Ahmadi": 60, "Sara_Ahmadi": 0, "401000007_Omid~folder": 60, "401000007_Omid~zip": 0,
            "401000008_Evil_[2K__Name": 60, "401000009_=SUM(A1)": 60, "@import": 0, "-2+3": 60,
            "401000010_Lone": 0}


def run(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:  # strict UTF-8: a bad byte fails the test
        return list(csv.DictReader(fh))


TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_a_hostile_class_is_graded_and_every_student_has_a_row(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "prepare", cli_plan(("beta",)))
    root = tmp_path / "class"
    expected = hostile_class(root)
    out = tmp_path / "out"
    r = run("grade", root, "--out", out)
    assert r.exit_code == 0, r.output
    assert f"Grading {len(expected)} submission(s)" in r.output
    assert f"{len(expected)} graded, 0 unchanged since the last run (kept), 0 with grader errors (not final)" in r.output
    assert not any(ch in r.output for ch in "\x1b\x07\r"), [ln for ln in r.output.splitlines() if "Evil" in ln]
    assert "intake: 401000008_Evil\\x1b[2K\\r\\x07Name:" not in r.output  # the rule is met: not an intake problem
    assert "intake: 401000001_\\xd3\\xc7\\xd1\\xc7: name is not valid UTF-8; graded with a note" in r.output

    grades = read_csv(out / "grades.csv")
    by_id = {row["submission_id"]: row for row in grades}
    shown = {("'" + sid if sid.startswith(TRIGGERS) else sid): score for sid, score in expected.items()}
    assert set(by_id) == set(shown)
    assert {sid: float(by_id[sid]["beta"]) for sid in shown} == shown
    assert by_id["401000009_=SUM(A1)"]["name"] == "'=SUM(A1)"
    assert by_id["'@import"]["name"] == "'@import" and by_id["'-2+3"]["student_id"] == ""
    for path in (out / "grades.csv", out / "items.csv"):
        for row in read_csv(path):
            for col in ("student_id", "name", "submission_id", "title", "reason"):
                assert not (row.get(col) or "").startswith(TRIGGERS), (path.name, col, row)

    for sub_id in expected:
        folder = out / sub_id
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        assert result["submission_id"] == sub_id
        for name in ("feedback.md", "feedback.html"):
            (folder / name).read_bytes().decode("utf-8")  # exists and is valid UTF-8
    lone = (out / "401000010_Lone" / "feedback.md").read_text(encoding="utf-8")
    assert "bad \ufffd value" in lone and "cell \ufffd failed" in lone
    notes = {sid: json.loads((out / sid / "result.json").read_text(encoding="utf-8"))["notes"] for sid in expected}
    assert any("read as cp1256" in n for n in notes["401000003_Reza"])
    assert any("read as cp437" in n for n in notes["401000004_Neda"])
    assert any("graded as 401000007_Omid~zip" in n for n in notes["401000007_Omid~zip"])

    again = run("grade", root, "--out", out)  # ids and notes are stable: all resumed
    assert f"0 graded, {len(expected)} unchanged since the last run (kept)" in again.output, again.output

    r = run("gradebook", "export", out)
    assert r.exit_code == 0 and f"{len(expected)} submission(s)" in r.output, r.output
    assert "unreadable" not in r.output
    r = run("manual", "export", out)
    assert r.exit_code == 0, r.output
    sheet = read_csv(out / "manual" / "beta.written.csv")
    answers = {row["submission_id"]: row["answer"] for row in sheet}
    assert answers["401000009_=SUM(A1)"] == "'=HYPERLINK(\"http://evil\",\"x\")"
    assert answers["'@import"] == "'+cmd|' /C calc'!A0"
    assert answers["401000010_Lone"] == "caf\ufffde"
    assert answers["401000001_" + PERSIAN] == "My answer."  # the notebook in the non-UTF-8 folder was found
    (out / "manual" / "beta.written.html").read_bytes().decode("utf-8")
    for row in sheet:  # fill in the sheet as exported (quotes and all) and import it
        row["score"] = "4"
    filled = out / "filled.csv"
    with open(filled, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(sheet[0]))
        w.writeheader()
        w.writerows(sheet)
    r = run("manual", "import", out, filled)
    assert r.exit_code == 0 and f"recorded {len(expected)} score(s)" in r.output, r.output
    totals = {row["submission_id"]: row["total"] for row in read_csv(out / "grades.csv")}
    assert totals["'@import"] == "4" and totals["401000009_=SUM(A1)"] == "64"
    r = run("report", out)
    assert r.exit_code == 0, r.output
    (out / "report" / "index.html").read_bytes().decode("utf-8")
