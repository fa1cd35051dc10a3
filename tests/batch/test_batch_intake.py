"""Intake edge cases: naming rule, zips (slip, bomb, symlinks, corrupt), folders, loose notebooks, parts."""
from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from batch_kit import GOOD, PARTS, notebook, student_folder, student_zip
from graders.archive import UnsafeArchive, UnzipLimits, safe_extract
from graders.intake import find_submissions, scan_submissions


def by_id(intake):
    return {s.id: s for s in intake.submissions}


def scan(root, tmp_path, **kw):
    return scan_submissions([root], PARTS, unpack_to=tmp_path / "unpacked", **kw)


def test_class_folder_with_a_folder_a_zip_and_loose_notebooks(tmp_path):
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali_Rezaei", GOOD)
    student_zip(root, "401000002_Sara_Ahmadi", GOOD, inner="401000002_Sara_Ahmadi/")
    (root / "401000003_Mina_Karimi_beta.ipynb").write_text(notebook("beta", GOOD["beta"]))
    (root / "401000003_Mina_Karimi_alpha.ipynb").write_text(notebook("alpha", GOOD["alpha"]))
    intake = scan(root, tmp_path)
    subs = by_id(intake)
    assert sorted(subs) == ["401000001_Ali_Rezaei", "401000002_Sara_Ahmadi", "401000003_Mina_Karimi"]
    for s in subs.values():
        assert set(s.notebooks) == {"alpha", "beta"}, s
        assert s.problems == [], s.problems
        assert s.scope == ("alpha", "beta")
    assert subs["401000002_Sara_Ahmadi"].kind == "zip"
    assert subs["401000002_Sara_Ahmadi"].notebooks["beta"].is_relative_to(tmp_path / "unpacked")
    assert subs["401000003_Mina_Karimi"].student_id == "401000003"
    assert subs["401000003_Mina_Karimi"].name == "Mina_Karimi"
    assert all(s.file_time for s in subs.values())
    assert intake.rejected == []


def test_one_loose_notebook_gets_its_name_without_the_part_label(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    (root / "401000004_Reza_beta_notebook.ipynb").write_text(notebook("beta", GOOD["beta"]))
    (root / "401000005_Neda.ipynb").write_text(notebook("alpha", GOOD["alpha"]))
    subs = by_id(scan(root, tmp_path))
    assert set(subs) == {"401000004_Reza", "401000005_Neda"}
    assert subs["401000004_Reza"].problems == ["no notebook for alpha (alpha.ipynb) was found"]


def test_entries_breaking_the_naming_rule_are_reported_never_dropped(tmp_path):
    root = tmp_path / "class"
    student_folder(root, "401000001_Ali", GOOD)
    student_folder(root, "Sara Ahmadi", GOOD)          # folder without a student number
    student_zip(root, "final_version", GOOD)          # zip without one
    (root / "my_beta.ipynb").write_text(notebook("beta", GOOD["beta"]))
    (root / "report.pdf").write_bytes(b"%PDF-1.4")
    (root / ".DS_Store").write_bytes(b"\0")
    intake = scan(root, tmp_path)
    rejected = dict(intake.rejected)
    assert set(rejected) == {"Sara Ahmadi", "final_version.zip", "my_beta.ipynb", "report.pdf"}
    assert "not a .zip, a folder or a notebook" in rejected["report.pdf"]
    subs = by_id(intake)
    assert set(subs) == {"401000001_Ali", "Sara Ahmadi", "final_version", "my_beta"}
    for bad in ("Sara Ahmadi", "final_version", "my_beta"):
        assert subs[bad].student_id == ""
        assert any("does not follow the naming rule" in p for p in subs[bad].problems)


def test_zip_slip_refuses_the_whole_archive_with_a_reason(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    with zipfile.ZipFile(root / "401000006_Evil.zip", "w") as zf:
        zf.writestr("beta_notebook.ipynb", notebook("beta", GOOD["beta"]))
        zf.writestr("../../escaped.ipynb", notebook("alpha", GOOD["alpha"]))
    sub = by_id(scan(root, tmp_path))["401000006_Evil"]
    assert sub.notebooks == {}
    assert sub.problems == ["401000006_Evil.zip was refused: entry '../../escaped.ipynb' would be written "
                            "outside the submission folder (zip slip)"]
    assert not (tmp_path / "escaped.ipynb").exists() and not (tmp_path / "unpacked" / "401000006_Evil").exists()


@pytest.mark.parametrize("name", ["/abs/beta.ipynb", "a/../../beta.ipynb", "..\\..\\beta.ipynb", "C:/x/beta.ipynb"])
def test_every_escaping_name_is_refused(tmp_path, name):
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(name, "{}")
    with pytest.raises(UnsafeArchive, match="outside the submission folder|zip slip"):
        safe_extract(z, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_zip_bomb_size_and_file_count_are_capped(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    with zipfile.ZipFile(root / "401000007_Bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("beta_notebook.ipynb", b"0" * 2_000_000)   # compresses to a few KB
    with zipfile.ZipFile(root / "401000008_Many.zip", "w") as zf:
        for i in range(30):
            zf.writestr(f"f{i}.txt", "x")
    subs = by_id(scan(root, tmp_path, limits=UnzipLimits(max_files=20, max_bytes=1_000_000)))
    assert (root / "401000007_Bomb.zip").stat().st_size < 100_000
    assert subs["401000007_Bomb"].problems == ["401000007_Bomb.zip was refused: it would unpack to 1.9 MB; "
                                               "at most 1 MB are accepted (zip bomb guard)"]
    assert subs["401000008_Many"].problems == ["401000008_Many.zip was refused: it has 30 entries; at most 20 "
                                               "are accepted (zip bomb guard)"]
    assert subs["401000007_Bomb"].notebooks == {} and subs["401000008_Many"].notebooks == {}


def test_a_zip_whose_headers_understate_its_size_is_refused(tmp_path, monkeypatch):
    z = tmp_path / "s.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("beta.ipynb", b"0" * 3_000_000)
    real_infolist = zipfile.ZipFile.infolist

    def lying(self):  # headers that claim a tiny file
        infos = real_infolist(self)
        for i in infos:
            i.file_size = 10
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", lying)
    with pytest.raises(UnsafeArchive):
        safe_extract(z, tmp_path / "dest", limits=UnzipLimits(max_bytes=1_000_000))
    assert not (tmp_path / "dest").exists()


def test_symlink_entries_in_a_zip_are_not_followed(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    with zipfile.ZipFile(root / "401000009_Link.zip", "w") as zf:
        zf.writestr("alpha.ipynb", notebook("alpha", GOOD["alpha"]))
        info = zipfile.ZipInfo("beta_notebook.ipynb")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    sub = by_id(scan(root, tmp_path))["401000009_Link"]
    assert set(sub.notebooks) == {"alpha"}
    assert "beta_notebook.ipynb: a symbolic link, not followed (skipped)" in sub.problems
    assert "no notebook for beta (beta_notebook.ipynb) was found" in sub.problems
    assert not any(p.is_symlink() for p in (tmp_path / "unpacked").rglob("*"))


def test_symlinks_in_folders_and_in_the_class_folder_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    student_folder(outside, "x", GOOD)
    root = tmp_path / "class"
    folder = student_folder(root, "401000010_Lina", {"alpha": GOOD["alpha"]})
    os.symlink(outside / "x" / "beta_notebook.ipynb", folder / "beta_notebook.ipynb")
    os.symlink(outside / "x", folder / "more")
    os.symlink(outside / "x", root / "401000011_Linked")
    intake = scan(root, tmp_path)
    sub = by_id(intake)["401000010_Lina"]
    assert set(sub.notebooks) == {"alpha"}
    assert "beta_notebook.ipynb: a symbolic link, not followed (skipped)" in sub.problems
    assert "more: a symbolic link, not followed" in sub.problems
    assert dict(intake.rejected) == {"401000011_Linked": "a symbolic link; symlinks are not followed"}


def test_corrupt_zip_is_refused_with_a_reason(tmp_path):
    root = tmp_path / "class"
    root.mkdir()
    (root / "401000012_Broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    sub = by_id(scan(root, tmp_path))["401000012_Broken"]
    assert sub.problems == ["401000012_Broken.zip was refused: not a valid zip archive"]


def test_missing_and_duplicated_parts_are_clear_entries(tmp_path):
    root = tmp_path / "class"
    folder = student_folder(root, "401000013_Dup", {"beta": GOOD["beta"]})
    (folder / "beta_copy.ipynb").write_text(notebook("beta", GOOD["beta"]))
    sub = by_id(scan(root, tmp_path))["401000013_Dup"]
    assert sub.problems == [
        "beta_notebook.ipynb: a second notebook for beta (graded beta_copy.ipynb instead)",
        "no notebook for alpha (alpha.ipynb) was found",
    ]


def test_parts_are_matched_by_metadata_then_file_name_then_functions(tmp_path):
    folder = tmp_path / "401000014_Match"
    folder.mkdir()
    (folder / "whatever.ipynb").write_text(notebook("beta", GOOD["beta"]))           # metadata
    (folder / "my_alpha_answers.ipynb").write_text(notebook("alpha", "x = 1", meta=False))  # file name
    subs = find_submissions([folder], PARTS)
    assert {p: n.name for p, n in subs[0].notebooks.items()} == {"beta": "whatever.ipynb",
                                                               "alpha": "my_alpha_answers.ipynb"}
    other = tmp_path / "401000015_Funcs"
    other.mkdir()
    (other / "untitled.ipynb").write_text(notebook("alpha", GOOD["beta"], meta=False))  # defines triple()
    assert set(find_submissions([other], PARTS)[0].notebooks) == {"beta"}


def test_one_students_folder_and_a_lone_notebook_still_work(tmp_path):
    folder = student_folder(tmp_path, "unnamed", GOOD)
    subs = find_submissions([folder], PARTS)
    assert len(subs) == 1 and set(subs[0].notebooks) == {"alpha", "beta"}
    lone = find_submissions([folder / "alpha.ipynb"], PARTS)[0]
    assert lone.scope == ("alpha",)


def test_two_entries_for_one_student_are_flagged(tmp_path):
    root = tmp_path / "class"
    student_folder(root, "401000016_Omid", GOOD)
    student_zip(root, "401000016_Omid_v2", GOOD)
    subs = by_id(scan(root, tmp_path))
    assert "student 401000016 has more than one submission entry (also 401000016_Omid_v2); each is graded " \
           "separately" in subs["401000016_Omid"].problems


def test_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        scan_submissions([tmp_path / "nope"], PARTS)


def test_a_part_left_out_of_the_run_is_said_to_be_not_graded_in_this_run(tmp_path):
    student_folder(tmp_path / "class", "401000001_Ali", GOOD)
    (sub,) = scan_submissions([tmp_path / "class"], {"alpha": PARTS["alpha"]}).submissions
    assert "beta_notebook.ipynb: beta is not graded in this run" in sub.problems
    assert not any("not recognised" in p for p in sub.problems)
