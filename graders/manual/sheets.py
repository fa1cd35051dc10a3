"""Manual sheets: written answers (and overrides) scored in a spreadsheet, then imported.

``hw4 manual export`` writes ``OUT/manual/<item>.csv`` (one row per submission with its answer text,
to fill in) and ``<item>.html`` (to read); ``hw4 manual import`` validates a filled sheet as a whole
— a problem anywhere records nothing — and records its scores through the gradebook's one way in
(``ledger.record_scores``), refusing a row whose score someone changed after the export.
"""
from __future__ import annotations

import csv
import html
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from graders.gradebook import GradebookError, connect, read_manifest
from graders.gradebook_export import write_csv
from graders.manual.cells import answers_for, assignment_prose, unanswered_reason
from graders.manual.ledger import (ScoreChange, record_scores, score_versions, stale_message, untouched_since,
                                   validate_score)
from graders.refresh import after_manual_change
from graders.text import from_csv_cell, points_text, valid_utf8


#: ``version`` is the score's version at export (see ``score_versions``): an import refuses a row that
#: changes a score someone else changed after the export
SHEET_COLUMNS = ["submission_id", "student_id", "name", "item_id", "max", "score", "comment", "override_reason", "answer",
                 "version"]


def export_manual(out_dir: Path) -> list[Path]:
    """Per manual item, ``OUT/manual/<item>.csv`` (to fill in and import) and ``<item>.html`` (to read).

    Each row is one submission with its answer text from the notebook's answer cells; a score
    already entered is filled in, so a sheet can be re-exported and re-imported.
    """
    out_dir = Path(out_dir)
    msubs = read_manifest(out_dir).get("submissions", {})
    with closing(connect(out_dir)) as conn:
        items = conn.execute("SELECT i.*, s.student_id, s.name FROM items i JOIN submissions s USING(submission_id) "
                             "WHERE i.manual = 1 ORDER BY i.position, i.submission_id").fetchall()
        entries = {(e["submission_id"], e["item_id"]): e for e in conn.execute("SELECT * FROM manual_scores")}
        versions = score_versions(conn)
    if not items:
        raise GradebookError(f"no manual items in the gradebook under {out_dir} (grade first, then run `hw4 gradebook`)")
    sheets: dict[str, list[list]] = {}
    titles: dict[str, str] = {}
    prose: dict[str, set[str]] = {}
    for it in items:
        nbs = msubs.get(it["submission_id"], {}).get("notebooks")
        nb = nbs.get(it["part"]) if isinstance(nbs, dict) else None
        nb = nb if isinstance(nb, str) and nb else None
        text = None
        if nb and Path(nb).is_file():
            if it["part"] not in prose:
                prose[it["part"]] = assignment_prose(it["part"])
            text = answers_for(Path(nb), it["item_id"], prose=prose[it["part"]])
        answer = valid_utf8(unanswered_reason(nb, it["part"], it["item_id"], text) or text)
        e = entries.get((it["submission_id"], it["item_id"]))
        titles[it["item_id"]] = it["title"] or it["item_id"]
        sheets.setdefault(it["item_id"], []).append(
            [it["submission_id"], it["student_id"], it["name"], it["item_id"], points_text(it["max"]),
             points_text(e["score"]) if e is not None else "", e["comment"] if e is not None else "", "", answer,
             versions.get((it["submission_id"], it["item_id"]), 0)])
    folder = out_dir / "manual"
    folder.mkdir(exist_ok=True)
    written = []
    for item_id, rows in sheets.items():
        path = folder / f"{item_id}.csv"
        write_csv(path, SHEET_COLUMNS, rows)
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
    #: rows equal to what is recorded, or left as exported while someone else changed the score since
    unchanged: int = 0


def import_manual(out_dir: Path, csv_path: Path, *, grader: str = "") -> ImportSummary:
    """Validate a CSV of scores and record it (all rows or none); then refresh the CSV exports and results.

    Columns: ``submission_id`` or ``student_id``; ``item_id`` (or ``item``); ``score``; optional
    ``comment``, ``override_reason`` (required to replace an automatic item's score) and ``version``
    (written by ``export_manual``). A blank score is skipped (not graded yet). A row whose score
    was changed by someone else after the export is refused when the sheet changes it too, and
    left alone when the sheet still holds the exported value. Raises ``GradebookError`` listing
    every bad line. Each score goes through ``validate_score`` and ``record_scores``, as the web
    page's do.
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
        errors, changes, seen, lines = [], [], {}, {}
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
            reason = row.get("override_reason") or ""
            try:
                score = validate_score(item, raw, override_reason=reason)
            except GradebookError as exc:
                errors.append(f"{where}: {exc}")
                continue
            version = (row.get("version") or "").strip()
            if version and not version.isdigit():
                errors.append(f"{where}: version {version!r} is not a whole number (leave the exported value)")
                continue
            key = (sub_id, item_id)
            if key in seen:
                errors.append(f"{where}: {sub_id} / {item_id} already given on line {seen[key]}")
                continue
            seen[key] = n
            change = ScoreChange(sub_id, item_id, score, row.get("comment") or "", reason,
                                 int(version) if version else None)
            if change.expected_version is not None and untouched_since(conn, change):
                summary.unchanged += 1  # the sheet still holds the exported value; a newer one is kept
                continue
            changes.append(change)
            lines[key] = n
        if errors:
            raise GradebookError(problems_text(csv_path.name, errors))
        outcome = record_scores(conn, changes, grader=grader, source=f"csv {csv_path.name}")
        if outcome.stale:
            raise GradebookError(problems_text(csv_path.name, [
                f"{csv_path.name} line {lines[(c['submission_id'], c['item_id'])]}: {stale_message(c)}; "
                "export the sheet again" for c in outcome.stale]))
    summary.recorded = len(outcome.written)
    summary.unchanged += len(outcome.unchanged)
    summary.overrides = sum(1 for c in outcome.written if c.kind(items[(c.submission_id, c.item_id)]) == "override")
    after_manual_change(out_dir, {c.submission_id for c in outcome.written})
    return summary


def problems_text(name: str, errors: list[str]) -> str:
    more = f"\n… and {len(errors) - 30} more" if len(errors) > 30 else ""
    return f"{len(errors)} problem(s) in {name}; nothing was recorded:\n" + "\n".join(errors[:30]) + more
