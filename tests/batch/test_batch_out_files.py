"""What OUT may hold: the gradebook never crashes on a file there, and a result never exists without its feedback."""
from __future__ import annotations

import csv
import dataclasses
import json
import os

import pytest
from click.testing import CliRunner

import graders.cli as cli
import graders.report
from batch_kit import GOOD, PARTS, fake_result, make_plan, student_folder, write_fake_batch
from graders.intake import scan_submissions
from graders.pipeline import grade_submission
from graders.refresh import rebuild
from graders.results import save_submission, to_jsonable


def test_the_gradebook_lists_bad_result_files_and_keeps_the_good_ones(tmp_path):
    out = write_fake_batch(tmp_path / "out", {"401000001_Ali": {"t.double"}, "401000002_Sara": set()})

    def put(folder: str | bytes, content: str | bytes) -> None:
        path = os.path.join(os.fsencode(out) if isinstance(folder, bytes) else out, folder)
        os.makedirs(path)
        with open(os.path.join(path, b"result.json" if isinstance(folder, bytes) else "result.json"), "wb") as fh:
            fh.write(content.encode() if isinstance(content, str) else content)

    put("not_json", b"\xff\xfe{ not json")
    put("wrong_shape", '{"schema_version": 1, "parts": [], "items": 3}')
    put("too_deep", "[" * 100_000 + "]" * 100_000)
    put(b"bytes_\xd3\xc7\x1b[2K", "null")
    typed = to_jsonable(fake_result("401000003_Reza", set()))
    typed["total"] = "all of it"
    put("wrong_types", json.dumps(typed))
    twice = to_jsonable(fake_result("401000001_Ali", set()))
    put("copy_of_ali", json.dumps(twice))
    # a result with a lone surrogate escaped in its JSON is ours to read (made valid UTF-8), not unreadable
    lone = dataclasses.replace(fake_result("401000004_Neda", set()), name="Ne\ud800da",
                               notes=("cell raised \udcff",))
    save_submission(out / "401000004_Neda" / "result.json", lone)
    manifest = json.loads((out / "intake.json").read_text())
    manifest["submissions"]["401000002_Sara"]["file_time"] = "not a time"
    manifest["submissions"]["401000004_Neda"] = ["not", "a", "dict"]
    manifest["rejected"] = [{"entry": "x\ud800", "reason": "bad"}, "not a dict"]
    (out / "intake.json").write_text(json.dumps(manifest))

    book = rebuild(out)
    assert book.submissions == 3
    bad = sorted(line.split(":")[0] for line in book.unreadable)
    assert bad == ["bytes_\\xd3\\xc7\\x1b[2K", "copy_of_ali", "not_json", "too_deep", "wrong_shape", "wrong_types"]
    assert any("is also that of 401000001_Ali/result.json" in line for line in book.unreadable)
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {r["submission_id"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"401000001_Ali", "401000002_Sara", "401000004_Neda"}
    assert rows["401000004_Neda"]["name"] == "Ne\ufffdda"
    assert rows["401000001_Ali"]["alpha"] == "20"  # the copy did not replace the original

    r = CliRunner().invoke(cli.main, ["gradebook", "export", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "unreadable result: bytes_\\xd3\\xc7\\x1b[2K" in r.output
    assert not any(ch in r.output for ch in "\x1b\x07\r")


def test_feedback_is_written_before_the_result(tmp_path, monkeypatch):
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", {"beta": GOOD["beta"]})
    [sub] = scan_submissions([root], PARTS, unpack_to=tmp_path / "unpacked").submissions
    plan, out = make_plan(("beta",)), tmp_path / "out"

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(graders.report, "write_feedback", crash)
    with pytest.raises(OSError):
        grade_submission(sub, plan, out)
    assert not (out / sub.id / "result.json").exists()  # no result without its feedback: a resume redoes it
    monkeypatch.undo()
    grade_submission(sub, plan, out)
    assert {p.name for p in (out / sub.id).iterdir()} == {"result.json", "feedback.md", "feedback.html", "outputs.json"}
