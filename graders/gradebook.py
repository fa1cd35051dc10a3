"""The gradebook: ``OUT/gradebook.sqlite`` (stdlib sqlite3), its CSV exports, manual scores, late days.

The gradebook is a **view**: ``build`` rebuilds every table from the ``result.json`` files under
OUT (automatic scores and check results), ``OUT/intake.json`` (what each submission was graded
from) and the late-day inputs, in one transaction. Only two kinds of data live nowhere else and
are never rebuilt: the **manual scores** a TA imported, and the platform's submission times and
the term's late-day ledger once given.

**The rule for manual vs automatic scores** (``effective_score``):

1. A *manual* item (``manual: true`` in rubric.yaml — a written answer) scores 0 and is
   "manual-pending" until a TA's score is imported; the entered score then replaces that 0.
2. An *automatic* item scores what the checks gave. A TA can replace it only by an explicit
   **override** — the import row must carry an ``override_reason`` — and the override is shown as
   such (status "override", the reason kept). Without a reason, a score for an automatic item is
   refused.
3. A regrade changes automatic scores only; manual scores and overrides stay attached to the
   submission id and item id, so they survive ``--force``.

Scores are validated on import (unknown submission or item, a score outside [0, max], a
duplicate row → a clear error naming the line); one bad row means nothing is written.

Totals: part = sum of its items' effective scores; total = sum of parts; ``final = total × (1 −
penalty_percent / 100)`` with the late-day penalty from ``graders.latedays``.

Exports: ``OUT/grades.csv`` (one row per submission — normally one per student: id, name, each
part, total, late days, penalty, final) and ``OUT/items.csv`` (one row per submission × item).
"""
from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from graders.latedays import LateCharge, LatePolicyError, policy_from_rubric, read_days_used, read_submission_times
from graders.results import SubmissionResult, load_submission, sanitised, write_json_atomic
from graders.rubric import DEFAULT_RUBRIC, RubricError, load_rubric
from graders.text import clean_data, csv_cell, escaped, from_csv_cell, valid_utf8

DB_NAME = "gradebook.sqlite"
ANSWER_PLACEHOLDER = "_Write your answer here._"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS students(student_id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions(
    submission_id TEXT PRIMARY KEY, student_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT, source TEXT,
    file_time TEXT, auto_total REAL NOT NULL, max REAL NOT NULL, manual_pending REAL NOT NULL,
    public_only INTEGER NOT NULL, grader_version TEXT, rubric_hash TEXT, input_hash TEXT, notes TEXT,
    incomplete INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS parts(
    submission_id TEXT NOT NULL, part TEXT NOT NULL, auto_score REAL NOT NULL, max REAL NOT NULL, notebook TEXT,
    position INTEGER NOT NULL, PRIMARY KEY(submission_id, part));
CREATE TABLE IF NOT EXISTS items(
    submission_id TEXT NOT NULL, item_id TEXT NOT NULL, part TEXT NOT NULL, title TEXT, auto_score REAL NOT NULL,
    max REAL NOT NULL, status TEXT NOT NULL, manual INTEGER NOT NULL, reason TEXT, position INTEGER NOT NULL,
    PRIMARY KEY(submission_id, item_id));
CREATE TABLE IF NOT EXISTS checks(
    submission_id TEXT NOT NULL, item_id TEXT NOT NULL, check_id TEXT NOT NULL, passed INTEGER NOT NULL,
    status TEXT NOT NULL, reason TEXT, detail TEXT, public INTEGER NOT NULL, weight REAL NOT NULL,
    grader_error INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(submission_id, item_id, check_id));
CREATE TABLE IF NOT EXISTS manual_scores(
    submission_id TEXT NOT NULL, item_id TEXT NOT NULL, score REAL NOT NULL,
    kind TEXT NOT NULL CHECK(kind IN ('manual', 'override')), reason TEXT NOT NULL DEFAULT '',
    comment TEXT NOT NULL DEFAULT '', grader TEXT NOT NULL DEFAULT '', entered_at TEXT NOT NULL,
    PRIMARY KEY(submission_id, item_id));
CREATE TABLE IF NOT EXISTS submission_times(student_id TEXT PRIMARY KEY, submitted_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS prior_late_days(student_id TEXT PRIMARY KEY, days_used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS late_days(
    submission_id TEXT PRIMARY KEY, student_id TEXT NOT NULL, submitted_at TEXT, time_source TEXT NOT NULL,
    late_days INTEGER NOT NULL, prior_used INTEGER NOT NULL, free_used INTEGER NOT NULL,
    charged_days INTEGER NOT NULL, penalty_percent REAL NOT NULL, free_left INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS intake_problems(entry TEXT NOT NULL, reason TEXT NOT NULL);
"""
#: tables rebuilt from results on every ``build`` (the others are kept)
DERIVED = ("students", "submissions", "parts", "items", "checks", "late_days", "intake_problems")


class GradebookError(ValueError):
    """Bad input to the gradebook (an import that fails validation, no results…): a message for the TA."""


@dataclass
class BuildSummary:
    submissions: int = 0
    unreadable: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    grades_csv: Path | None = None
    items_csv: Path | None = None


def connect(out_dir: Path) -> sqlite3.Connection:
    """Open (creating if needed) ``OUT/gradebook.sqlite``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(out_dir / DB_NAME)
    conn.row_factory = sqlite3.Row
    conn.executescript(SCHEMA)
    return conn


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    x = round(float(x), 4)
    return f"{x:g}" if x != int(x) else str(int(x))


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _manifest(out_dir: Path) -> dict:
    """``OUT/intake.json`` in its expected shape ({} if unusable). Paths in it keep a name's undecodable
    bytes (as surrogate escapes, to open the files): pass it through ``clean_data`` before storing it.
    """
    try:
        data = json.loads((Path(out_dir) / "intake.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    subs = data.get("submissions")
    data["submissions"] = {k: v for k, v in subs.items() if isinstance(v, dict)} if isinstance(subs, dict) else {}
    rejected = data.get("rejected")
    data["rejected"] = [x for x in rejected if isinstance(x, dict)] if isinstance(rejected, list) else []
    return data


def rubric_path_for(out_dir: Path, rubric_path: Path | None = None) -> Path:
    """The rubric given, else the one the batch was graded with, else the project's."""
    if rubric_path:
        return Path(rubric_path)
    recorded = _manifest(out_dir).get("rubric")
    return Path(recorded) if isinstance(recorded, str) and recorded and Path(recorded).is_file() else DEFAULT_RUBRIC


def load_results(out_dir: Path) -> tuple[list[SubmissionResult], list[str]]:
    """Every ``OUT/<id>/result.json`` (sorted by id), as valid UTF-8, and why others could not be used.

    Results are ours, but any file may sit in OUT: one that cannot be read, has wrong types or
    repeats another's submission id is listed, never a crash.
    """
    results, bad, seen = [], [], {}
    for path in sorted(Path(out_dir).glob("*/result.json")):
        where = escaped(path.parent.name)
        try:
            r = sanitised(load_submission(path))
        except Exception as exc:  # any file: bad JSON, bad bytes, wrong shape, too deep
            bad.append(f"{where}: {type(exc).__name__}: {escaped(valid_utf8(str(exc)))[:300]}")
            continue
        problem = malformed(r)
        if not problem and r.submission_id in seen:
            problem = f"the submission id {r.submission_id} is also that of {seen[r.submission_id]}/result.json"
        if problem:
            bad.append(f"{where}: {escaped(problem)}")
            continue
        seen[r.submission_id] = where
        results.append(r)
    return results, bad


def malformed(r: SubmissionResult) -> str:
    """Why a result read from disk cannot go into the gradebook ('' when it can): types the tables need."""
    def num(*xs):
        return all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in xs)

    def txt(*xs):
        return all(isinstance(x, str) for x in xs)

    def flag(*xs):
        return all(isinstance(x, bool) for x in xs)

    if not (txt(r.submission_id, r.student_id, r.name, r.grader_version, r.rubric_hash, r.input_hash)
            and num(r.total, r.max, r.auto_total, r.manual_pending) and flag(r.public_only)
            and isinstance(r.parts, dict) and txt(*r.notes)):
        return "a top-level field has the wrong type"
    if not all(isinstance(p.name, str) and txt(p.notebook) and num(p.score, p.max) for p in r.parts.values()):
        return "a part has a field of the wrong type"
    if len({p.name for p in r.parts.values()}) != len(r.parts):
        return "a part appears twice"
    ids = [it.id for it in r.items]
    if len(set(ids)) != len(ids):
        return "an item appears twice"
    for it in r.items:
        if not (txt(it.id, it.part, it.title, it.status, it.reason) and num(it.score, it.max) and flag(it.manual)):
            return "an item has a field of the wrong type"
        if not all(txt(c.id, c.status, c.reason, c.detail) and num(c.weight) and flag(c.passed, c.public)
                   for c in it.checks):
            return "a check has a field of the wrong type"
    return ""


# --- build -----------------------------------------------------------------------------------

def build(out_dir: Path, *, rubric_path: Path | None = None, times_csv: Path | None = None,
          days_used_csv: Path | None = None, export: bool = True) -> BuildSummary:
    """Rebuild the gradebook from the results under ``out_dir``; write the CSV exports.

    ``times_csv`` (the platform's submission times) and ``days_used_csv`` (late days already used
    this term) replace what the gradebook held before; without them the stored ones are used.
    """
    out_dir = Path(out_dir)
    summary = BuildSummary()
    try:
        rubric = load_rubric(rubric_path_for(out_dir, rubric_path))
        policy = policy_from_rubric(rubric.raw)
        tz = policy.timezone if policy else dt.timezone.utc
        times = read_submission_times(times_csv, tz) if times_csv else None
        used = read_days_used(days_used_csv) if days_used_csv else None
    except (RubricError, LatePolicyError) as exc:
        raise GradebookError(str(exc)) from None
    results, summary.unreadable = load_results(out_dir)
    manifest = clean_data(_manifest(out_dir))
    msubs = manifest.get("submissions", {})
    with closing(connect(out_dir)) as conn, conn:
        if times is not None:
            conn.execute("DELETE FROM submission_times")
            conn.executemany("INSERT INTO submission_times VALUES (?, ?)",
                             sorted((k, v.isoformat()) for k, v in times.items()))
        if used is not None:
            conn.execute("DELETE FROM prior_late_days")
            conn.executemany("INSERT INTO prior_late_days VALUES (?, ?)", sorted(used.items()))
        for table in DERIVED:  # views of the results: dropped and made anew (so a new column needs no migration)
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.executescript(SCHEMA)
        stored_times = {r["student_id"]: r["submitted_at"] for r in conn.execute("SELECT * FROM submission_times")}
        stored_used = {r["student_id"]: r["days_used"] for r in conn.execute("SELECT * FROM prior_late_days")}
        for r in results:
            _insert_result(conn, r, msubs.get(r.submission_id, {}))
            late = _late(policy, r, msubs.get(r.submission_id, {}), stored_times, stored_used)
            conn.execute("INSERT INTO late_days VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (r.submission_id, r.student_id, *late))
        conn.executemany("INSERT INTO intake_problems VALUES (?, ?)",
                         [(str(x.get("entry", "")), str(x.get("reason", ""))) for x in manifest.get("rejected", [])])
        known = {r.student_id for r in results}
        for sid in sorted(set(stored_times) - known):
            summary.warnings.append(f"submission time given for {sid}, who has no graded submission")
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('rubric_hash', ?)", (rubric.sha256,))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('late_policy', ?)",
                     (json.dumps(rubric.raw.get("late_policy"), sort_keys=True, default=str),))
        orphans = conn.execute("SELECT m.submission_id, m.item_id FROM manual_scores m LEFT JOIN items i "
                               "ON i.submission_id = m.submission_id AND i.item_id = m.item_id "
                               "WHERE i.item_id IS NULL").fetchall()
        for o in orphans:
            summary.warnings.append(f"a manual score for {o['submission_id']} / {o['item_id']} matches no graded item "
                                    "(kept, not counted)")
    summary.submissions = len(results)
    if export:
        summary.grades_csv, summary.items_csv = export_csvs(out_dir)
    return summary


def _insert_result(conn: sqlite3.Connection, r: SubmissionResult, m: Mapping) -> None:
    key = r.student_id or r.submission_id
    conn.execute("INSERT OR REPLACE INTO students VALUES (?, ?)", (key, r.name))
    conn.execute("INSERT INTO submissions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 (r.submission_id, r.student_id, r.name, str(m.get("kind", "")), str(m.get("source", "")),
                  str(m.get("file_time", "")), r.auto_total, r.max, r.manual_pending, int(r.public_only),
                  r.grader_version, r.rubric_hash, r.input_hash, json.dumps(list(r.notes), ensure_ascii=False),
                  int(r.incomplete)))
    for pos, p in enumerate(r.parts.values()):
        conn.execute("INSERT INTO parts VALUES (?,?,?,?,?,?)", (r.submission_id, p.name, p.score, p.max, p.notebook, pos))
    for pos, it in enumerate(r.items):
        auto = 0.0 if it.manual else it.score
        conn.execute("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (r.submission_id, it.id, it.part, it.title, auto, it.max,
                      "manual-pending" if it.manual else it.status, int(it.manual), it.reason, pos))
        for c in it.checks:
            conn.execute("INSERT OR REPLACE INTO checks VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (r.submission_id, it.id, c.id, int(c.passed), c.status, c.reason, c.detail,
                          int(c.public), c.weight, int(c.grader_error)))


def _iso_time(value) -> dt.datetime | None:
    """An ISO 8601 time with its zone from intake.json, or None when there is none (or it is not one)."""
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None


def _late(policy, r: SubmissionResult, m: Mapping, times: Mapping[str, str], used: Mapping[str, int]) -> tuple:
    prior = int(used.get(r.student_id, 0))
    if r.student_id in times:
        when, source = dt.datetime.fromisoformat(times[r.student_id]), "platform"
    elif _iso_time(m.get("file_time")):
        when, source = _iso_time(m.get("file_time")), "file time"
    else:
        when, source = None, "unknown"
    if policy is None:
        return (when.isoformat() if when else "", "no late policy", 0, prior, 0, 0, 0.0, 0)
    c: LateCharge = policy.charge(when, prior)
    return (c.submitted_at, source, c.late_days, c.prior_used, c.free_used, c.charged_days, c.penalty_percent,
            c.free_left)


# --- effective scores ------------------------------------------------------------------------

def effective_score(item: Mapping, entry: Mapping | None) -> tuple[float, str]:
    """(score, status) of one item under the manual/override rule in the module docstring."""
    if entry is not None and (item["manual"] or entry["kind"] == "override"):
        return float(entry["score"]), "manual" if item["manual"] else "override"
    return float(item["auto_score"]), item["status"]


def item_rows(conn: sqlite3.Connection) -> list[dict]:
    """Every item of every submission with its effective score and where it came from."""
    entries = {(e["submission_id"], e["item_id"]): e for e in conn.execute("SELECT * FROM manual_scores")}
    rows = []
    for it in conn.execute("SELECT i.*, s.student_id, s.name FROM items i JOIN submissions s USING(submission_id) "
                           "ORDER BY i.submission_id, i.position"):
        entry = entries.get((it["submission_id"], it["item_id"]))
        score, status = effective_score(it, entry)
        rows.append({"submission_id": it["submission_id"], "student_id": it["student_id"], "name": it["name"],
                     "item_id": it["item_id"], "part": it["part"], "title": it["title"], "score": score,
                     "max": it["max"], "status": status, "auto_score": it["auto_score"], "manual": bool(it["manual"]),
                     "reason": (entry["reason"] if entry is not None and status == "override" else it["reason"]) or "",
                     "comment": entry["comment"] if entry is not None else ""})
    return rows


def grade_rows(conn: sqlite3.Connection) -> tuple[list[str], list[dict]]:
    """(part names in rubric order, one row per submission with effective part scores, total, late days, final)."""
    items = item_rows(conn)
    parts: list[str] = []
    for p in conn.execute("SELECT part FROM parts ORDER BY position, part"):
        if p["part"] not in parts:
            parts.append(p["part"])
    by_sub: dict[str, dict] = {}
    for s in conn.execute("SELECT s.*, l.late_days, l.free_used, l.charged_days, l.penalty_percent, l.submitted_at, "
                          "l.time_source, l.prior_used, l.free_left FROM submissions s "
                          "LEFT JOIN late_days l USING(submission_id) ORDER BY s.submission_id"):
        by_sub[s["submission_id"]] = {
            "student_id": s["student_id"], "name": s["name"], "submission_id": s["submission_id"],
            "parts": {}, "max": s["max"], "pending": 0.0, "late_days": s["late_days"] or 0,
            "prior_used": s["prior_used"] or 0, "free_used": s["free_used"] or 0,
            "charged_days": s["charged_days"] or 0, "penalty_percent": s["penalty_percent"] or 0.0,
            "free_left": s["free_left"], "submitted_at": s["submitted_at"] or "", "time_source": s["time_source"] or "",
            "notes": json.loads(s["notes"] or "[]"), "incomplete": bool(s["incomplete"])}
    for p in conn.execute("SELECT submission_id, part FROM parts"):
        by_sub[p["submission_id"]]["parts"][p["part"]] = 0.0
    for it in items:
        row = by_sub[it["submission_id"]]
        row["parts"][it["part"]] = row["parts"].get(it["part"], 0.0) + it["score"]
        if it["status"] == "manual-pending":
            row["pending"] += it["max"]
    for row in by_sub.values():
        row["parts"] = {k: round(v, 6) for k, v in row["parts"].items()}
        row["total"] = round(sum(row["parts"].values()), 6)
        row["final"] = round(row["total"] * (1 - row["penalty_percent"] / 100), 6)
    return parts, list(by_sub.values())


# --- exports ---------------------------------------------------------------------------------

def export_csvs(out_dir: Path) -> tuple[Path, Path]:
    """``OUT/grades.csv`` and ``OUT/items.csv`` from the gradebook."""
    out_dir = Path(out_dir)
    with closing(connect(out_dir)) as conn:
        parts, rows = grade_rows(conn)
        items = item_rows(conn)
    grades = out_dir / "grades.csv"
    header = ["student_id", "name", "submission_id", "status", *parts, "total", "max", "manual_pending",
              "late_days", "free_late_days_used", "charged_late_days", "penalty_percent", "final"]
    _write_csv(grades, header, [_grade_line(r, parts) for r in rows])
    items_csv = out_dir / "items.csv"
    _write_csv(items_csv, ["student_id", "name", "submission_id", "part", "item_id", "title", "score", "max",
                           "status", "reason"],
               [[i["student_id"], i["name"], i["submission_id"], i["part"], i["item_id"], i["title"],
                 _fmt(i["score"]), _fmt(i["max"]), i["status"], i["reason"]] for i in items])
    return grades, items_csv


#: grades.csv's status of a submission whose result holds a grader error (no total is shown for it)
INCOMPLETE = "INCOMPLETE: grader error, not a grade (rerun hw4 grade)"


def _grade_line(r: dict, parts: list[str]) -> list:
    """One grades.csv line; an incomplete result shows its status instead of any score."""
    if r["incomplete"]:
        return [r["student_id"], r["name"], r["submission_id"], INCOMPLETE, *([""] * len(parts)), "",
                _fmt(r["max"]), "", r["late_days"], r["free_used"], r["charged_days"], _fmt(r["penalty_percent"]), ""]
    return [r["student_id"], r["name"], r["submission_id"], "final" if not r["pending"] else "written answers pending",
            *(_fmt(r["parts"][p]) if p in r["parts"] else "" for p in parts), _fmt(r["total"]), _fmt(r["max"]),
            _fmt(r["pending"]), r["late_days"], r["free_used"], r["charged_days"], _fmt(r["penalty_percent"]),
            _fmt(r["final"])]


#: columns of our CSVs that hold text (from a submission or a TA): neutralised against formula injection
TEXT_COLUMNS = {"student_id", "name", "submission_id", "part", "item_id", "title", "status", "reason", "comment",
                "override_reason", "answer"}


def _write_csv(path: Path, header: list[str], rows: Iterable[list]) -> None:
    """Write a CSV atomically; cells of ``TEXT_COLUMNS`` pass through ``text.csv_cell`` (OWASP CSV injection)."""
    text = [h in TEXT_COLUMNS for h in header]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([csv_cell(v) if t else v for v, t in zip(row, text)] for row in rows)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)


def dump(out_dir: Path, *, include_manual_times: bool = False) -> dict[str, list[tuple]]:
    """Every table's rows, sorted (for comparing two gradebooks; ``entered_at`` left out by default)."""
    with closing(connect(out_dir)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        out = {}
        for t in tables:
            rows = [dict(r) for r in conn.execute(f"SELECT * FROM {t}")]
            if t == "manual_scores" and not include_manual_times:
                for r in rows:
                    r.pop("entered_at", None)
            out[t] = sorted(tuple(sorted(r.items())) for r in rows)
    return out


# --- manual grading --------------------------------------------------------------------------

SHEET_COLUMNS = ["submission_id", "student_id", "name", "item_id", "max", "score", "comment", "override_reason", "answer"]


def assignment_prose(part: str) -> set[str]:
    """The markdown cells of the assignment notebook of ``part`` (to tell them from a student's own)."""
    from graders import assets_dir

    prose: set[str] = set()
    for nb in sorted(assets_dir().glob("*.ipynb")):
        try:
            data = json.loads(nb.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (data.get("metadata") or {}).get("hw4", {}).get("part") != part:
            continue
        for cell in data.get("cells") or []:
            if cell.get("cell_type") == "markdown":
                src = cell.get("source", "")
                prose.add(("".join(src) if isinstance(src, list) else str(src)).strip())
    return prose


def answers_for(notebook: Path, item_id: str, *, prose: set[str] | None = None) -> str | None:
    """The text of a student's answer cells for ``item_id`` (None: the notebook has none).

    An answer cell is a markdown cell whose metadata says ``hw4.answer = item_id``. Markdown cells
    that follow it without hw4 metadata are part of the answer when the student added them —
    that is, when ``prose`` (the assignment's own markdown) is given and does not contain them;
    without ``prose`` only the answer cells count.
    """
    try:
        data = json.loads(Path(notebook).read_bytes().decode("utf-8", errors="replace"))
        cells = data.get("cells") or []
    except (OSError, ValueError, AttributeError):
        return None
    return answer_in_cells(cells, item_id, prose=prose)


def answer_in_cells(cells: list, item_id: str, *, prose: set[str] | None = None) -> str | None:
    """``answers_for`` on a notebook's cells already read (any JSON: non-dict cells are skipped)."""
    if not isinstance(cells, list):
        return None
    chunks, found, inside = [], False, False
    for cell in cells:
        if not isinstance(cell, dict):
            continue
        meta = cell.get("metadata")
        meta = (meta.get("hw4") if isinstance(meta, dict) else None) or {}
        src = cell.get("source", "")
        src = ("".join(map(str, src)) if isinstance(src, list) else str(src)).strip()
        if isinstance(meta, dict) and meta.get("answer") == item_id:
            found, inside = True, True
            chunks.append(src)
        elif (inside and prose is not None and not meta and cell.get("cell_type") == "markdown"
              and src not in prose):
            chunks.append(src)
        else:
            inside = False
    if not found:
        return None
    return "\n\n".join(c for c in chunks if c)


def export_manual(out_dir: Path) -> list[Path]:
    """Per manual item, ``OUT/manual/<item>.csv`` (to fill in and import) and ``<item>.html`` (to read).

    Each row is one submission with its answer text from the notebook's answer cells; a score
    already entered is filled in, so a sheet can be re-exported and re-imported.
    """
    out_dir = Path(out_dir)
    msubs = _manifest(out_dir).get("submissions", {})
    with closing(connect(out_dir)) as conn:
        items = conn.execute("SELECT i.*, s.student_id, s.name FROM items i JOIN submissions s USING(submission_id) "
                             "WHERE i.manual = 1 ORDER BY i.position, i.submission_id").fetchall()
        entries = {(e["submission_id"], e["item_id"]): e for e in conn.execute("SELECT * FROM manual_scores")}
    if not items:
        raise GradebookError(f"no manual items in the gradebook under {out_dir} (grade first, then run `hw4 gradebook`)")
    sheets: dict[str, list[list]] = {}
    titles: dict[str, str] = {}
    prose: dict[str, set[str]] = {}
    for it in items:
        nbs = msubs.get(it["submission_id"], {}).get("notebooks")
        nb = nbs.get(it["part"]) if isinstance(nbs, dict) else None
        if not isinstance(nb, str) or not nb:
            answer = f"(no notebook for {it['part']} was submitted)"
        elif not Path(nb).is_file():
            answer = f"(the notebook {escaped(nb)} is no longer there)"
        else:
            if it["part"] not in prose:
                prose[it["part"]] = assignment_prose(it["part"])
            text = answers_for(Path(nb), it["item_id"], prose=prose[it["part"]])
            if text is None:
                answer = f"(no answer cell for {it['item_id']} in {escaped(Path(nb).name)})"
            elif not text.strip() or text.strip() == ANSWER_PLACEHOLDER:
                answer = "(not answered)"
            else:
                answer = valid_utf8(text)
        e = entries.get((it["submission_id"], it["item_id"]))
        titles[it["item_id"]] = it["title"] or it["item_id"]
        sheets.setdefault(it["item_id"], []).append(
            [it["submission_id"], it["student_id"], it["name"], it["item_id"], _fmt(it["max"]),
             _fmt(e["score"]) if e is not None else "", e["comment"] if e is not None else "", "", answer])
    folder = out_dir / "manual"
    folder.mkdir(exist_ok=True)
    written = []
    for item_id, rows in sheets.items():
        path = folder / f"{item_id}.csv"
        _write_csv(path, SHEET_COLUMNS, rows)
        written.append(path)
        page = folder / f"{item_id}.html"
        page.write_text(_sheet_html(item_id, titles[item_id], rows), encoding="utf-8")
        written.append(page)
    return written


def _sheet_html(item_id: str, title: str, rows: list[list]) -> str:
    e = html.escape
    body = "".join(f"<section><h2>{e(r[0])} — {e(r[2])}</h2><p>score: <b>{e(r[5]) or '—'}</b> / {e(r[4])}</p>"
                   f"<pre>{e(r[8])}</pre></section>" for r in rows)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(item_id)}</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{white-space:pre-wrap;background:#f6f6f6;"
            "padding:.6em}section{border-bottom:1px solid #ddd}</style></head><body>"
            f"<h1>{e(item_id)}: {e(title)}</h1><p>Fill the score column of {e(item_id)}.csv, then "
            f"<code>hw4 manual import OUT {e(item_id)}.csv</code>.</p>{body}</body></html>\n")


@dataclass
class ImportSummary:
    recorded: int = 0
    overrides: int = 0
    blank: int = 0


def import_manual(out_dir: Path, csv_path: Path, *, grader: str = "") -> ImportSummary:
    """Validate a CSV of scores and record it (all rows or none); then refresh the CSV exports.

    Columns: ``submission_id`` or ``student_id``; ``item_id`` (or ``item``); ``score``; optional
    ``comment`` and ``override_reason`` (required to replace an automatic item's score). A blank
    score is skipped (not graded yet). Raises ``GradebookError`` listing every bad line.
    """
    out_dir, csv_path = Path(out_dir), Path(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): from_csv_cell((v or "").strip()) if isinstance(v, str) else v
                     for k, v in r.items()} for r in reader]
    except OSError as exc:
        raise GradebookError(f"cannot read {csv_path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise GradebookError(f"{csv_path} is not a readable CSV: {exc}") from None
    item_col = "item_id" if "item_id" in header else "item" if "item" in header else None
    if item_col is None or "score" not in header or not ({"submission_id", "student_id"} & set(header)):
        raise GradebookError(f"{csv_path.name}: needs the columns submission_id (or student_id), item_id and score; "
                             f"found {header}")
    summary = ImportSummary()
    with closing(connect(out_dir)) as conn:
        subs = {r["submission_id"]: r["student_id"] for r in conn.execute("SELECT submission_id, student_id FROM submissions")}
        if not subs:
            raise GradebookError(f"the gradebook under {out_dir} has no submissions: grade first")
        by_student: dict[str, list[str]] = {}
        for sub_id, sid in subs.items():
            if sid:
                by_student.setdefault(sid, []).append(sub_id)
        items = {(r["submission_id"], r["item_id"]): r for r in conn.execute("SELECT * FROM items")}
        rubric_items = {k[1] for k in items}
        errors, records, seen = [], [], {}
        for n, row in enumerate(rows, 2):
            where = f"{csv_path.name} line {n}"
            sub_id = row.get("submission_id") or ""
            sid = row.get("student_id") or ""
            if not sub_id:
                matches = by_student.get(sid, [])
                if not sid:
                    errors.append(f"{where}: no submission_id or student_id")
                    continue
                if len(matches) != 1:
                    errors.append(f"{where}: unknown student {sid!r}" if not matches else
                                  f"{where}: student {sid!r} has several submissions ({', '.join(matches)}); "
                                  "give submission_id")
                    continue
                sub_id = matches[0]
            elif sub_id not in subs:
                errors.append(f"{where}: unknown submission {sub_id!r}")
                continue
            elif sid and subs[sub_id] != sid:
                errors.append(f"{where}: submission {sub_id!r} belongs to student {subs[sub_id]!r}, not {sid!r}")
                continue
            item_id = row.get(item_col) or ""
            raw = row.get("score") or ""
            if item_id not in rubric_items:
                errors.append(f"{where}: unknown item {item_id!r}")
                continue
            item = items.get((sub_id, item_id))
            if item is None:
                errors.append(f"{where}: item {item_id!r} was not graded for {sub_id} (not in its scope)")
                continue
            if not raw:
                summary.blank += 1
                continue
            try:
                score = float(raw)
            except ValueError:
                errors.append(f"{where}: score {raw!r} is not a number")
                continue
            if math.isnan(score) or not 0 <= score <= item["max"]:
                errors.append(f"{where}: score {raw} for {item_id} is outside [0, {_fmt(item['max'])}]")
                continue
            reason = row.get("override_reason") or ""
            if not item["manual"] and not reason:
                errors.append(f"{where}: {item_id} is graded automatically; to override it, give an override_reason")
                continue
            key = (sub_id, item_id)
            if key in seen:
                errors.append(f"{where}: {sub_id} / {item_id} already given on line {seen[key]}")
                continue
            seen[key] = n
            kind = "manual" if item["manual"] else "override"
            records.append((sub_id, item_id, score, kind, reason if kind == "override" else "",
                            row.get("comment") or "", grader, _now()))
        if errors:
            more = f"\n… and {len(errors) - 30} more" if len(errors) > 30 else ""
            raise GradebookError(f"{len(errors)} problem(s) in {csv_path.name}; nothing was recorded:\n"
                                 + "\n".join(errors[:30]) + more)
        with conn:
            conn.executemany("INSERT OR REPLACE INTO manual_scores VALUES (?,?,?,?,?,?,?,?)", records)
    summary.recorded = len(records)
    summary.overrides = sum(1 for r in records if r[3] == "override")
    export_csvs(out_dir)
    _write_manual_json(out_dir)
    return summary


def _write_manual_json(out_dir: Path) -> None:
    """``OUT/manual_scores.json``: a plain-data copy of every entered score (a readable backup)."""
    with closing(connect(out_dir)) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM manual_scores ORDER BY submission_id, item_id")]
    write_json_atomic(Path(out_dir) / "manual_scores.json", rows)
