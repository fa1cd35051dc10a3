"""The gradebook's exports: ``OUT/grades.csv``, ``OUT/items.csv`` and ``OUT/manual_scores.json``.

``grades.csv`` has one row per submission — normally one per student: id, name, each part, total,
late days, penalty, final; ``items.csv`` one row per submission × item; ``manual_scores.json`` is a
plain-data copy of every entered score (a readable backup). Apart from ``graders.gradebook`` (the
data and its reads) because writing files for people is another job: every CSV of ours, the
manual sheets' too, goes through ``write_csv``, which neutralises formula injection.
"""
from __future__ import annotations

import csv
import io
from contextlib import closing
from pathlib import Path
from typing import Iterable

from graders.gradebook import connect, grade_rows, item_rows
from graders.results import write_json_atomic
from graders.text import csv_cell, points_text


def export_csvs(out_dir: Path) -> tuple[Path, Path]:
    """``OUT/grades.csv`` and ``OUT/items.csv`` from the gradebook."""
    out_dir = Path(out_dir)
    with closing(connect(out_dir)) as conn:
        parts, rows = grade_rows(conn)
        items = item_rows(conn)
    grades = out_dir / "grades.csv"
    header = ["student_id", "name", "submission_id", "status", *parts, "total", "max", "manual_pending",
              "late_days", "free_late_days_used", "charged_late_days", "penalty_percent", "final"]
    write_csv(grades, header, [_grade_line(r, parts) for r in rows])
    items_csv = out_dir / "items.csv"
    write_csv(items_csv, ["student_id", "name", "submission_id", "part", "item_id", "title", "score", "max",
                           "status", "reason"],
               [[i["student_id"], i["name"], i["submission_id"], i["part"], i["item_id"], i["title"],
                 points_text(i["score"]), points_text(i["max"]), i["status"], i["reason"]] for i in items])
    return grades, items_csv


#: grades.csv's status of a submission whose result holds a grader error (no total is shown for it)
INCOMPLETE = "INCOMPLETE: grader error, not a grade (rerun hw4 grade)"


def _grade_line(r: dict, parts: list[str]) -> list:
    """One grades.csv line; an incomplete result shows its status instead of any score."""
    if r["incomplete"]:
        return [r["student_id"], r["name"], r["submission_id"], INCOMPLETE, *([""] * len(parts)), "",
                points_text(r["max"]), "", r["late_days"], r["free_used"], r["charged_days"], points_text(r["penalty_percent"]), ""]
    return [r["student_id"], r["name"], r["submission_id"], "final" if not r["pending"] else "written answers pending",
            *(points_text(r["parts"][p]) if p in r["parts"] else "" for p in parts), points_text(r["total"]), points_text(r["max"]),
            points_text(r["pending"]), r["late_days"], r["free_used"], r["charged_days"], points_text(r["penalty_percent"]),
            points_text(r["final"])]


#: columns of our CSVs that hold text (from a submission or a TA): neutralised against formula injection
TEXT_COLUMNS = {"student_id", "name", "submission_id", "part", "item_id", "title", "status", "reason", "comment",
                "override_reason", "answer"}


def write_csv(path: Path, header: list[str], rows: Iterable[list]) -> None:
    """Write a CSV atomically; cells of ``TEXT_COLUMNS`` pass through ``text.csv_cell`` (OWASP CSV injection)."""
    text = [h in TEXT_COLUMNS for h in header]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([csv_cell(v) if t else v for v, t in zip(row, text)] for row in rows)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)


def write_manual_json(out_dir: Path) -> None:
    """``OUT/manual_scores.json``: a plain-data copy of every entered score (a readable backup)."""
    with closing(connect(out_dir)) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM manual_scores ORDER BY submission_id, item_id")]
    write_json_atomic(Path(out_dir) / "manual_scores.json", rows)

