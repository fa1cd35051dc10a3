"""The gradebook: ``OUT/gradebook.sqlite`` (stdlib sqlite3): its tables, their rebuild, and the reads others share.

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

This module holds the data and reads it; others write the rest, each from above it: manual scores
go in through one way in (``graders.manual.ledger``: validation, versions, the audit trail), the
CSV exports are ``graders.gradebook_export``'s, and ``graders.refresh`` rewrites every file made
from the gradebook (exports, result.json, feedback) after a rebuild or a TA's change.

Totals (``results.totals``): part = sum of its items' effective scores; total = their sum; ``final = total × (1 −
penalty_percent / 100)`` with the late-day penalty from ``graders.latedays``. Late days are charged only
from a trusted submission time — the platform's CSV (``--times``), never a file's modification time
(a clone or a download resets it): a submission without one has unknown late days, no penalty, and
``build`` says how many there are (``untimed_note``). Each feedback file shows the late days and the
final score held here (``standings``, written by ``refresh.refresh_feedback``), so the student reads the
number grades.csv holds.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from graders.latedays import (LateCharge, LatePolicyError, Standing, policy_from_rubric, read_days_used,
                              read_submission_times)
from graders.results import ItemResult, SubmissionResult, automatic_verdict, load_submission, sanitised, totals
from graders.homework import active as active_homework
from graders.rubric import RubricError, load_rubric
from graders.text import clean_data, escaped, valid_utf8

DB_NAME = "gradebook.sqlite"

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
    late_days INTEGER, prior_used INTEGER NOT NULL, free_used INTEGER,
    charged_days INTEGER, penalty_percent REAL NOT NULL, free_left INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS intake_problems(entry TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS manual_score_log(
    id INTEGER PRIMARY KEY, submission_id TEXT NOT NULL, item_id TEXT NOT NULL, score REAL, previous_score REAL,
    kind TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', comment TEXT NOT NULL DEFAULT '',
    previous_comment TEXT NOT NULL DEFAULT '', grader TEXT NOT NULL DEFAULT '', entered_at TEXT NOT NULL,
    source TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS manual_score_log_key ON manual_score_log(submission_id, item_id, id);
CREATE TABLE IF NOT EXISTS comment_bank(
    item_id TEXT NOT NULL, text TEXT NOT NULL, added_by TEXT NOT NULL DEFAULT '', added_at TEXT NOT NULL,
    PRIMARY KEY(item_id, text));
CREATE TABLE IF NOT EXISTS rubric_items(
    id INTEGER PRIMARY KEY, item_id TEXT NOT NULL, question TEXT NOT NULL, position INTEGER NOT NULL,
    points REAL NOT NULL, text TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rubric_applied(
    submission_id TEXT NOT NULL, item_id TEXT NOT NULL, question TEXT NOT NULL, rubric_id INTEGER NOT NULL,
    PRIMARY KEY(submission_id, item_id, question, rubric_id));
CREATE TABLE IF NOT EXISTS question_adjustments(
    submission_id TEXT NOT NULL, item_id TEXT NOT NULL, question TEXT NOT NULL, points REAL NOT NULL,
    reason TEXT NOT NULL, PRIMARY KEY(submission_id, item_id, question));
CREATE TABLE IF NOT EXISTS rubric_log(
    id INTEGER PRIMARY KEY, item_id TEXT NOT NULL, question TEXT NOT NULL, submission_id TEXT NOT NULL DEFAULT '',
    action TEXT NOT NULL, detail TEXT NOT NULL, grader TEXT NOT NULL DEFAULT '', entered_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS rubric_log_key ON rubric_log(item_id, submission_id, question, id);
CREATE TABLE IF NOT EXISTS answer_group_pins(
    item_id TEXT NOT NULL, question TEXT NOT NULL, submission_id TEXT NOT NULL, pin TEXT NOT NULL,
    PRIMARY KEY(item_id, question, submission_id));
CREATE TABLE IF NOT EXISTS regrade_requests(
    id INTEGER PRIMARY KEY, submission_id TEXT NOT NULL, item_id TEXT NOT NULL, question TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL, requested_at TEXT NOT NULL, recorded_by TEXT NOT NULL DEFAULT '',
    response TEXT NOT NULL DEFAULT '', responded_by TEXT NOT NULL DEFAULT '', responded_at TEXT NOT NULL DEFAULT '',
    score_before REAL, score_after REAL);
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
    #: the exports, once ``refresh.rebuild`` wrote them
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


def read_manifest(out_dir: Path) -> dict:
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
    """The rubric given, else the one the batch was graded with, else the active homework's."""
    if rubric_path:
        return Path(rubric_path)
    recorded = read_manifest(out_dir).get("rubric")
    if isinstance(recorded, str) and recorded and Path(recorded).is_file():
        return Path(recorded)
    return active_homework().rubric


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
          days_used_csv: Path | None = None) -> BuildSummary:
    """Rebuild the gradebook's tables from the results under ``out_dir`` (``refresh.rebuild`` also
    rewrites the CSV exports and the feedback).

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
    manifest = clean_data(read_manifest(out_dir))
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
            late = _late(policy, r, stored_times, stored_used)
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
        note = untimed_note(conn)
        if note:
            summary.warnings.append(note)
    summary.submissions = len(results)
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
        auto, status = automatic_verdict(it)  # the checks' verdict: TA entries live in manual_scores
        conn.execute("INSERT INTO items VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (r.submission_id, it.id, it.part, it.title, auto, it.max, status, int(it.manual), it.reason, pos))
        for c in it.checks:
            conn.execute("INSERT OR REPLACE INTO checks VALUES (?,?,?,?,?,?,?,?,?,?)",
                         (r.submission_id, it.id, c.id, int(c.passed), c.status, c.reason, c.detail,
                          int(c.public), c.weight, int(c.grader_error)))


def _late(policy, r: SubmissionResult, times: Mapping[str, str], used: Mapping[str, int]) -> tuple:
    """One ``late_days`` row: charged from the platform's time only (see the module docstring)."""
    prior = int(used.get(r.student_id, 0))
    if r.student_id in times:
        when, source = dt.datetime.fromisoformat(times[r.student_id]), "platform"
    else:
        when, source = None, "unknown"
    if policy is None:
        return (when.isoformat() if when else "", "no late policy", 0, prior, 0, 0, 0.0, 0)
    c: LateCharge = policy.charge(when, prior)
    return (c.submitted_at, source, c.late_days, c.prior_used, c.free_used, c.charged_days, c.penalty_percent,
            c.free_left)


def untimed_note(conn: sqlite3.Connection) -> str:
    """The one line a TA reads when submissions have no trusted time ('' when none lacks one)."""
    n = conn.execute("SELECT COUNT(*) FROM late_days WHERE time_source = 'unknown'").fetchone()[0]
    if not n:
        return ""
    given = conn.execute("SELECT COUNT(*) FROM submission_times").fetchone()[0]
    why = "not in the --times CSV" if given else \
        "no --times CSV from the course platform; give one with: hw4 gradebook export DIR --times FILE"
    return f"{n} submission(s) have no trusted submission time ({why}): no late penalty applied"


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
            "parts": {}, "max": s["max"], "pending": 0.0, "late_days": s["late_days"],  # None: no trusted time
            "prior_used": s["prior_used"] or 0, "free_used": s["free_used"],
            "charged_days": s["charged_days"], "penalty_percent": s["penalty_percent"] or 0.0,
            "free_left": s["free_left"], "submitted_at": s["submitted_at"] or "", "time_source": s["time_source"] or "",
            "notes": json.loads(s["notes"] or "[]"), "incomplete": bool(s["incomplete"])}
    part_names: dict[str, list[str]] = {sid: [] for sid in by_sub}
    for p in conn.execute("SELECT submission_id, part FROM parts ORDER BY position, part"):
        part_names[p["submission_id"]].append(p["part"])
    their_items: dict[str, list[ItemResult]] = {sid: [] for sid in by_sub}
    for it in items:
        their_items[it["submission_id"]].append(ItemResult(it["item_id"], it["part"], it["title"], it["score"],
                                                           it["max"], it["status"], manual=it["manual"]))
    for sid, row in by_sub.items():
        sums = totals(their_items[sid], part_names[sid])
        row.update(parts=sums.parts, total=sums.total, pending=sums.manual_pending)
        row["final"] = round(row["total"] * (1 - row["penalty_percent"] / 100), 6)
    return parts, list(by_sub.values())


def standings(conn: sqlite3.Connection) -> dict[str, Standing]:
    """Submission id → its late days and final score as held here (not for a result that is not final)."""
    _, rows = grade_rows(conn)
    return {r["submission_id"]: Standing(r["final"], r["max"], r["late_days"], r["free_used"], r["charged_days"],
                                         r["penalty_percent"], policy=r["time_source"] != "no late policy")
            for r in rows if not r["incomplete"]}


def manual_progress(conn: sqlite3.Connection) -> list[dict]:
    """Per manual item, in rubric order: answers, graded, pending, and how many each TA has graded."""
    items = conn.execute(
        "SELECT i.item_id, MIN(i.title) AS title, MIN(i.part) AS part, MAX(i.max) AS max, MIN(i.position) AS pos, "
        "COUNT(*) AS answers, COUNT(m.item_id) AS graded FROM items i LEFT JOIN manual_scores m "
        "USING(submission_id, item_id) WHERE i.manual = 1 GROUP BY i.item_id ORDER BY pos, i.item_id").fetchall()
    by_ta: dict[str, dict[str, int]] = {}
    for r in conn.execute("SELECT m.item_id, m.grader, COUNT(*) AS n FROM manual_scores m JOIN items i "
                          "USING(submission_id, item_id) WHERE i.manual = 1 GROUP BY m.item_id, m.grader "
                          "ORDER BY m.grader"):
        by_ta.setdefault(r["item_id"], {})[r["grader"] or "(no name)"] = r["n"]
    return [{"item_id": r["item_id"], "title": r["title"] or r["item_id"], "part": r["part"], "max": r["max"],
             "answers": r["answers"], "graded": r["graded"], "pending": r["answers"] - r["graded"],
             "by_grader": by_ta.get(r["item_id"], {})} for r in items]


def dump(out_dir: Path, *, include_manual_times: bool = False) -> dict[str, list[tuple]]:
    """Every table's rows, sorted (for comparing two gradebooks; ``entered_at`` left out by default)."""
    with closing(connect(out_dir)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        out = {}
        for t in tables:
            rows = [dict(r) for r in conn.execute(f"SELECT * FROM {t}")]
            if t in ("manual_scores", "manual_score_log", "comment_bank") and not include_manual_times:
                for r in rows:
                    r.pop("entered_at", None)
                    r.pop("added_at", None)
            out[t] = sorted(tuple(sorted(r.items())) for r in rows)
    return out
