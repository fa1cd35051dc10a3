"""Rubric items in CSV: exported beside the score sheets, edited in a spreadsheet, imported back.

``hw4 manual export`` also writes ``OUT/manual/rubric.csv`` (every question's rubric items: number,
points, text) and ``OUT/manual/rubric_applied.csv`` (per answer and question: the numbers of the
applied items, and the adjustment with its reason). ``hw4 manual import`` recognises them by their
columns: a rubric sheet adds items (a new number) and edits them (other points or text: every
answer carrying it is re-scored); an applied sheet makes each listed answer's applied items exactly
those listed. As with the score sheets, the whole file is validated first — one bad line, and
nothing is recorded — and every change goes through ``rubric_items`` (history, derived scores).
"""
from __future__ import annotations

import csv
from contextlib import closing
from pathlib import Path

from graders.gradebook import GradebookError, connect, rubric_path_for
from graders.gradebook_export import write_csv
from graders.manual.sheets import problems_text
from graders.manual.rubric_items import (add_rubric_item, edit_rubric_item, question_grades, rubric, set_adjustment,
                                         set_applied)
from graders.rubric import RubricError, load_rubric, questions_of
from graders.text import from_csv_cell, points_text

RUBRIC_COLUMNS = ["item_id", "question", "number", "points", "text"]
APPLIED_COLUMNS = ["submission_id", "student_id", "item_id", "question", "items", "adjustment", "reason"]


def manual_questions(out_dir: Path) -> dict[str, tuple]:
    """Manual item id → its questions, from the batch's rubric."""
    try:
        rub = load_rubric(rubric_path_for(Path(out_dir)))
    except (RubricError, OSError) as exc:
        raise GradebookError(f"cannot read the batch's rubric: {exc}") from None
    return {it.id: questions_of(it) for it in rub.items if it.manual}


def export_rubric(out_dir: Path) -> list[Path]:
    """``OUT/manual/rubric.csv`` and ``rubric_applied.csv`` (module docstring)."""
    out_dir = Path(out_dir)
    questions = manual_questions(out_dir)
    rubric_rows, applied_rows = [], []
    with closing(connect(out_dir)) as conn:
        subs = {r[0]: r[1] for r in conn.execute("SELECT submission_id, student_id FROM submissions")}
        for item_id, qs in questions.items():
            items = rubric(conn, item_id)
            numbers = {r.id: r.number for r in items}
            for q in qs:
                rubric_rows += [[item_id, q.id, r.number, points_text(r.points), r.text] for r in items
                                if r.question == q.id]
            for sub, grades in sorted(question_grades(conn, item_id, qs).items()):
                for q in qs:
                    g = grades[q.id]
                    if g.applied or g.adjustment is not None:
                        applied_rows.append([sub, subs.get(sub, ""), item_id, q.id,
                                             ";".join(str(numbers[i]) for i in g.applied),
                                             points_text(g.adjustment), g.reason])
    folder = out_dir / "manual"
    folder.mkdir(exist_ok=True)
    write_csv(folder / "rubric.csv", RUBRIC_COLUMNS, rubric_rows)
    write_csv(folder / "rubric_applied.csv", APPLIED_COLUMNS, applied_rows)
    return [folder / "rubric.csv", folder / "rubric_applied.csv"]


def is_rubric_sheet(header: list[str]) -> str | None:
    """"rubric" or "applied" when ``header`` is one of these sheets' (else None: a score sheet)."""
    if {"item_id", "question", "number", "points", "text"} <= set(header):
        return "rubric"
    if {"submission_id", "item_id", "question", "items"} <= set(header):
        return "applied"
    return None


def _read(csv_path: Path) -> tuple[list[str], list[dict]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): from_csv_cell((v or "").strip()) if isinstance(v, str) else "" for k, v in r.items()}
                    for r in reader]
    except OSError as exc:
        raise GradebookError(f"cannot read {csv_path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise GradebookError(f"{csv_path} is not a readable CSV: {exc}") from None
    return header, rows


def import_rubric_sheet(out_dir: Path, csv_path: Path, *, grader: str) -> tuple[int, list[str]]:
    """Import a rubric or applied sheet; returns (changes made, submissions whose scores changed)."""
    out_dir, csv_path = Path(out_dir), Path(csv_path)
    header, rows = _read(csv_path)
    kind = is_rubric_sheet(header)
    questions = manual_questions(out_dir)
    with closing(connect(out_dir)) as conn:
        if kind == "rubric":
            return _import_rubric(conn, csv_path.name, rows, questions, grader)
        if kind == "applied":
            return _import_applied(conn, csv_path.name, rows, questions, grader)
    raise GradebookError(f"{csv_path.name} is neither a rubric sheet nor an applied sheet")


def _question_of(where: str, row: dict, questions: dict, errors: list[str]):
    item_id, qid = row.get("item_id", ""), row.get("question", "")
    if item_id not in questions:
        errors.append(f"{where}: {item_id!r} is not a written item")
        return None
    if qid not in {q.id for q in questions[item_id]}:
        errors.append(f"{where}: {item_id} has no question {qid!r}")
        return None
    return item_id, qid


def _import_rubric(conn, name: str, rows: list[dict], questions: dict, grader: str) -> tuple[int, list[str]]:
    errors, todo, seen = [], [], {}
    for n, row in enumerate(rows, 2):
        where = f"{name} line {n}"
        key = _question_of(where, row, questions, errors)
        if key is None:
            continue
        number = row.get("number", "")
        try:
            points = float(row.get("points", ""))
        except ValueError:
            errors.append(f"{where}: points {row.get('points')!r} are not a number")
            continue
        if not number.isdigit() or not row.get("text", "").strip():
            errors.append(f"{where}: needs a whole number and a text")
            continue
        if (*key, number) in seen:
            errors.append(f"{where}: {key[0]} / {key[1]} item {number} already given on line {seen[(*key, number)]}")
            continue
        seen[(*key, number)] = n
        todo.append((key, int(number), points, row["text"]))
    if errors:
        raise GradebookError(problems_text(name, errors))
    changes, changed = 0, []
    for (item_id, qid), number, points, text in todo:
        existing = {r.number: r for r in rubric(conn, item_id, qid)}
        r = existing.get(number)
        if r is None:
            add_rubric_item(conn, item_id, qid, points, text, grader=grader)
            changes += 1
        elif r.points != points or r.text != " ".join(text.split()):
            changed += edit_rubric_item(conn, item_id, questions[item_id], r.id, points=points, text=text,
                                        grader=grader).changed
            changes += 1
    return changes, sorted(set(changed))


def _import_applied(conn, name: str, rows: list[dict], questions: dict, grader: str) -> tuple[int, list[str]]:
    errors, todo = [], []
    subs = {r[0] for r in conn.execute("SELECT submission_id FROM submissions")}
    for n, row in enumerate(rows, 2):
        where = f"{name} line {n}"
        key = _question_of(where, row, questions, errors)
        sub = row.get("submission_id", "")
        if key is None:
            continue
        if sub not in subs:
            errors.append(f"{where}: unknown submission {sub!r}")
            continue
        numbers = {r.number: r.id for r in rubric(conn, *key)}
        wanted = set()
        for x in filter(None, (p.strip() for p in row.get("items", "").split(";"))):
            if not x.isdigit() or int(x) not in numbers:
                errors.append(f"{where}: {key[0]} / {key[1]} has no rubric item {x!r}")
            else:
                wanted.add(numbers[int(x)])
        adjustment = row.get("adjustment", "")
        if adjustment:
            try:
                float(adjustment)
            except ValueError:
                errors.append(f"{where}: adjustment {adjustment!r} is not a number")
                continue
            if not row.get("reason", "").strip():
                errors.append(f"{where}: an adjustment needs a reason")
                continue
        todo.append((key, sub, wanted, adjustment or None, row.get("reason", "")))
    if errors:
        raise GradebookError(problems_text(name, errors))
    changes, changed = 0, []
    for (item_id, qid), sub, wanted, adjustment, reason in todo:
        qs = questions[item_id]
        now = question_grades(conn, item_id, qs, [sub])[sub][qid]
        for rid in set(now.applied) ^ wanted:
            changed += set_applied(conn, item_id, qs, qid, rid, {sub: None}, apply=rid in wanted,
                                   grader=grader).changed
            changes += 1
        if (adjustment is None) != (now.adjustment is None) or (
                adjustment is not None and (float(adjustment) != now.adjustment or reason.strip() != now.reason)):
            changed += set_adjustment(conn, item_id, qs, qid, sub, adjustment, reason, expected_version=None,
                                      grader=grader).changed
            changes += 1
    return changes, sorted(set(changed))

