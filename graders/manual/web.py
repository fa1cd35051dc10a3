"""The grading page: a Flask app over ``OUT/gradebook.sqlite`` for the written answers.

Pages: ``/`` the manual items with their progress (per item and per TA); ``/item/ID`` the answer
groups of one item, each scored at once; ``/answer?item=ID&sub=SUB`` one student's answer next to
the item's questions, points and reference answer, with a score, a comment and the item's comment
bank, driven from the keyboard (``static/app.js``); ``/history`` the audit trail.

Safety: every request needs the session cookie that only the token URL sets (``?token=…``; see
``server``), and a Host of 127.0.0.1 or localhost on the served port (no DNS rebinding); every
form carries a CSRF token and a cross-site Origin is refused; the cookie is SameSite=Strict and
HttpOnly; a form's ``back`` redirects only to a path on this server (``local_path``). Pages send
a Content Security Policy that allows only this server's own scripts, fonts and styles, and
images from it or inline (``data:``). Answers are rendered by ``render`` (raw HTML off) and
everything else goes through Jinja's autoescaping.

Writes: a score goes through the gradebook's ``validate_score`` and ``record_scores`` with the
version the page showed, so a score someone else changed meanwhile is refused and shown; then
``after_manual_change`` updates grades.csv, manual_scores.json and the student's result.json.
"""
from __future__ import annotations

import hmac
import json
import secrets
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, flash, g, redirect, render_template, request, session, url_for
from markupsafe import Markup

from graders.gradebook import GradebookError, connect, manual_progress
from graders.homework import active as active_homework
from graders.manual.answers import AnswerStore, clean_text, group_answers, reference_for
from graders.manual.ledger import (ScoreChange, add_to_bank, comment_bank, current_entry, record_scores, score_history,
                                   score_versions, stale_message, validate_score)
from graders.manual.question_web import QuestionPages
from graders.manual.urls import local_path
from graders.manual.regrades import open_requests
from graders.manual.render import render_markdown
from graders.manual.rubric_items import question_grades
from graders.refresh import after_manual_change
from graders.text import points_text

LOCAL_HOSTS = ("127.0.0.1", "localhost")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Names:
    """How the pages name a submission: its id, or with ``anonymous`` an alias that hides the student.

    Anonymous grading (Gradescope's): names and ids are hidden on every page and in every address
    until the TA serves the page again without ``--anonymous``. An alias is an HMAC of the id with a
    salt kept in the gradebook, so it is the same for every TA and across restarts.
    """

    def __init__(self, out_dir: Path, anonymous: bool):
        self.out_dir, self.anonymous = Path(out_dir), anonymous
        self._salt: bytes | None = None

    def _key(self) -> bytes:
        if self._salt is None:
            with closing(connect(self.out_dir)) as conn, conn:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('anonymous_salt', ?)", (secrets.token_hex(16),))
                self._salt = conn.execute("SELECT value FROM meta WHERE key = 'anonymous_salt'").fetchone()[0].encode()
        return self._salt

    def alias(self, submission_id: str) -> str:
        return "A-" + hmac.new(self._key(), submission_id.encode("utf-8", "replace"), "sha256").hexdigest()[:8]

    def who(self, submission_id: str) -> str:
        """The name shown on a page."""
        return "Answer " + self.alias(submission_id) if self.anonymous else submission_id

    def sid(self, submission_id: str) -> str:
        """The value in an address."""
        return self.alias(submission_id) if self.anonymous else submission_id

    def resolve(self, value: str, known) -> str:
        """The submission id an address names (an alias, or the id itself)."""
        if not self.anonymous:
            return value
        return {self.alias(s): s for s in known}.get(value, value)


def create_app(out_dir: Path, *, grader: str, token: str, port: int | None = None, anonymous: bool = False) -> Flask:
    """The app for the batch under ``out_dir``; ``token`` opens it, ``grader`` signs its scores;
    ``anonymous`` hides who wrote each answer (``Names``).

    ``port`` is the port it is served on (Host headers for another port are refused); set
    ``app.config["HW4_PORT"]`` later when the port is known only after binding.
    """
    here = Path(__file__).resolve().parent
    app = Flask(__name__, template_folder=str(here / "templates"), static_folder=str(here / "static"))
    app.config.update(SECRET_KEY=secrets.token_bytes(32), SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_NAME="hw4_manual",
                      MAX_CONTENT_LENGTH=2 * 2**20, HW4_OUT=Path(out_dir), HW4_GRADER=grader, HW4_TOKEN=token,
                      HW4_PORT=port, SEND_FILE_MAX_AGE_DEFAULT=3600, HW4_NAMES=Names(Path(out_dir), anonymous))
    app.jinja_env.finalize = lambda v: (Markup(clean_text(v)) if isinstance(v, Markup)
                                        else clean_text(v) if isinstance(v, str) else v)
    app.jinja_env.filters["pts"] = points_text

    _guard(app, Path(out_dir))
    pages = _Pages(app, AnswerStore(Path(out_dir)))
    pages.register()
    pages.question_pages = QuestionPages(pages)
    pages.question_pages.register()
    return app


def _guard(app: Flask, out_dir: Path) -> None:
    """Every request: only from this machine, with the token's session, forms with their CSRF token;
    every response: a strict content policy; the gradebook connection closed after each request."""
    @app.before_request
    def guard():
        port = app.config["HW4_PORT"]
        host, _, host_port = request.host.rpartition(":") if ":" in request.host else (request.host, "", "")
        if host not in LOCAL_HOSTS or (port is not None and host_port != str(port)):
            return _denied("this server answers only on 127.0.0.1 and localhost", 403)
        given = request.args.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode("utf-8", "replace"), app.config["HW4_TOKEN"].encode()):
                return _denied("the token is wrong: open the URL that `hw4 manual serve` printed", 403)
            session.clear()
            session["auth"] = True
            session["csrf"] = secrets.token_urlsafe(24)
            args = {k: v for k, v in request.args.items() if k != "token"}
            return redirect(url_for(request.endpoint, **(request.view_args or {}), **args)
                            if request.endpoint and request.method == "GET" else url_for("index"))
        if not session.get("auth"):
            return _denied("this page needs the token: open the URL that `hw4 manual serve` printed", 403)
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin and origin != "null" and urlsplit(origin).netloc != request.host:
                return _denied("a form from another site was refused", 403)
            sent = request.form.get("csrf", "")
            if not hmac.compare_digest(sent.encode("utf-8", "replace"), session.get("csrf", "").encode()):
                return _denied("the form is out of date (the server restarted?): reload the page", 403)

    @app.after_request
    def headers(resp):
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "static":
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.teardown_appcontext
    def close_db(exc):
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    @app.context_processor
    def common():
        names = app.config["HW4_NAMES"]
        return {"grader": app.config["HW4_GRADER"], "csrf": session.get("csrf", ""), "out_dir": str(out_dir),
                "homework": active_homework().name, "who": names.who, "sid": names.sid, "anonymous": names.anonymous}


class _Pages:
    """The grading pages and forms of one batch, over its gradebook (a connection per request)."""

    def __init__(self, app: Flask, store: AnswerStore):
        self.app, self.store = app, store
        self.question_pages = None

    def label(self, submission_id: str) -> str:
        """How a submission is named on the pages."""
        return self.app.config["HW4_NAMES"].who(submission_id)

    def sub_arg(self) -> str:
        """The submission the address names (``sub``: an id, or an alias when grading anonymously)."""
        known = [r[0] for r in self._db().execute("SELECT submission_id FROM submissions")]
        return self.app.config["HW4_NAMES"].resolve(request.args.get("sub", ""), known)

    def register(self) -> None:
        app = self.app
        app.add_url_rule("/", "index", self.index, methods=["GET"])
        app.add_url_rule("/item/<item_id>", "item", self.item, methods=["GET"])
        app.add_url_rule("/answer", "answer", self.answer, methods=["GET"])
        app.add_url_rule("/answer", "save_answer", self.save_answer, methods=["POST"])
        app.add_url_rule("/group", "save_group", self.save_group, methods=["POST"])
        app.add_url_rule("/bank", "bank", self.bank, methods=["POST"])
        app.add_url_rule("/favicon.ico", "favicon", self.favicon, methods=["GET"])
        app.add_url_rule("/history", "history", self.history, methods=["GET"])

    def index(self):
        progress = manual_progress(self._db())
        graders = sorted({t for p in progress for t in p["by_grader"]})
        return render_template("index.html", progress=progress, graders=graders,
                               answers=sum(p["answers"] for p in progress), graded=sum(p["graded"] for p in progress),
                               requests=open_requests(self._db()))

    def item(self, item_id: str):
        rows = self._item_rows(item_id)
        answers = {a.submission_id: a for a in self.store.answers(rows)}
        entries = self._entries(item_id)
        versions = score_versions(self._db())
        groups = []
        for grp in group_answers(list(answers.values())):
            members = [{"answer": a, "entry": entries.get(a.submission_id),
                        "version": versions.get((a.submission_id, item_id), 0)} for a in grp.answers]
            scores = {m["entry"]["score"] for m in members if m["entry"]}
            groups.append({"key": grp.key, "size": grp.size, "members": members, "first": grp.answers[0],
                           "graded": sum(1 for m in members if m["entry"]),
                           "score": scores.pop() if len(scores) == 1 else None,
                           "html": _answer_html(grp.answers[0]),
                           "versions": json.dumps({m["answer"].submission_id: m["version"] for m in members})})
        return render_template("item.html", item=rows[0], groups=groups, bank=comment_bank(self._db(), item_id),
                               graded=len(entries), total=len(rows), first_pending=_next_pending(rows, entries, None),
                               questions=self._question_progress(item_id, rows), next_item=self._next_item(item_id))

    def _question_progress(self, item_id: str, rows) -> list[dict]:
        """Per question of the item: how many answers are graded, and the first pending one."""
        questions = self.question_pages.questions(item_id)
        ids = [r["submission_id"] for r in rows]
        grades = question_grades(self._db(), item_id, questions, ids)
        out = []
        for q in questions:
            pending = [s for s in ids if grades[s][q.id].score is None]
            out.append({"q": q, "graded": len(ids) - len(pending), "total": len(ids),
                        "first_pending": pending[0] if pending else None, "first": ids[0]})
        return out

    def _next_item(self, item_id: str) -> dict | None:
        """The next written item (in rubric order) that still has answers without a score."""
        progress = manual_progress(self._db())
        ids = [p["item_id"] for p in progress]
        after = ids.index(item_id) + 1 if item_id in ids else 0
        for p in progress[after:] + progress[:after]:
            if p["pending"] and p["item_id"] != item_id:
                return p
        return None

    def answer(self):
        item_id, sub = request.args.get("item", ""), self.sub_arg()
        return self._answer_page(item_id, sub)

    def save_answer(self):
        item_id, sub = request.form.get("item", ""), request.form.get("sub", "")
        row = self._item_row(item_id, sub)
        raw = request.form.get("score", "").strip()
        comment = request.form.get("comment", "").strip()
        clear = request.form.get("action") == "clear"
        try:
            version = int(request.form.get("version", ""))
        except ValueError:
            abort(400)
        if not clear and not raw:
            return self._answer_page(item_id, sub,
                                     error=f"Type a score from 0 to {points_text(row['max'])}, then Enter.",
                                     attempt={"score": raw, "comment": comment}, status=400)
        try:
            score = None if clear else validate_score(row, raw)
        except GradebookError as exc:
            return self._answer_page(item_id, sub, error=f"Not saved: {exc}.",
                                     attempt={"score": raw, "comment": comment}, status=400)
        change = ScoreChange(sub, item_id, score, "" if clear else comment, expected_version=version)
        outcome = record_scores(self._db(), [change], grader=self.app.config["HW4_GRADER"], source="web")
        if outcome.stale:
            return self._answer_page(item_id, sub, stale=stale_message(outcome.stale[0]) + ". Yours was not saved.",
                                     attempt={"score": raw, "comment": comment}, status=409)
        if outcome.written:
            after_manual_change(self.app.config["HW4_OUT"], [sub])
            flash(f"Saved: {self.label(sub)} {'cleared' if clear else points_text(score)} on {item_id}.")
        rows = self._item_rows(item_id)
        nxt = _next_pending(rows, self._entries(item_id), sub)
        if nxt is None:
            flash(f"Every answer of {item_id} has a score.")
            return redirect(url_for("item", item_id=item_id))
        return redirect(url_for("answer", item=item_id, sub=self.app.config["HW4_NAMES"].sid(nxt)))

    def save_group(self):
        item_id = request.form.get("item", "")
        rows = {r["submission_id"]: r for r in self._item_rows(item_id)}
        try:
            seen = json.loads(request.form.get("versions", "{}"))
            assert isinstance(seen, dict) and all(isinstance(v, int) for v in seen.values())
        except (ValueError, AssertionError):
            abort(400)
        if not seen or any(s not in rows for s in seen):
            abort(400)
        raw = request.form.get("score", "").strip()
        comment = request.form.get("comment", "").strip()
        try:
            score = validate_score(next(iter(rows.values())), raw)
        except GradebookError as exc:
            flash(f"Not saved: {exc}.", "error")
            return redirect(url_for("item", item_id=item_id))
        changes = [ScoreChange(s, item_id, score, comment, expected_version=v) for s, v in seen.items()]
        outcome = record_scores(self._db(), changes, grader=self.app.config["HW4_GRADER"], source="web group",
                                partial=True)
        if outcome.written:
            after_manual_change(self.app.config["HW4_OUT"], [c.submission_id for c in outcome.written])
        flash(f"Group scored {points_text(score)}: {len(outcome.written)} saved, {len(outcome.unchanged)} already so"
              + (f", {len(outcome.stale)} refused" if outcome.stale else "") + ".")
        for cur in outcome.stale:
            flash(stale_message(cur) + "; not changed.", "error")
        return redirect(url_for("item", item_id=item_id))

    def bank(self):
        item_id = request.form.get("item", "")
        self._item_rows(item_id)
        try:
            add_to_bank(self._db(), item_id, request.form.get("text", ""), grader=self.app.config["HW4_GRADER"])
        except GradebookError as exc:
            flash(str(exc), "error")
        return redirect(local_path(request.form.get("back", "")) or url_for("item", item_id=item_id))

    def favicon(self):
        return "", 204

    def history(self):
        item_id, sub = request.args.get("item") or None, self.sub_arg() or None
        return render_template("history.html", rows=score_history(self._db(), item_id=item_id, submission_id=sub),
                               item_id=item_id, sub=sub)

    def _db(self):
        if "db" not in g:
            g.db = connect(self.app.config["HW4_OUT"])
        return g.db

    def _item_rows(self, item_id: str) -> list:
        rows = self._db().execute("SELECT i.*, s.student_id, s.name FROM items i JOIN submissions s "
                                  "USING(submission_id) WHERE i.item_id = ? AND i.manual = 1 ORDER BY i.submission_id",
                                  (item_id,)).fetchall()
        if not rows:
            abort(404)
        return rows

    def _item_row(self, item_id: str, sub: str):
        row = self._db().execute("SELECT i.*, s.student_id, s.name FROM items i JOIN submissions s "
                                 "USING(submission_id) WHERE i.item_id = ? AND i.submission_id = ? AND i.manual = 1",
                                 (item_id, sub)).fetchone()
        if row is None:
            abort(404)
        return row

    def _entries(self, item_id: str) -> dict[str, Any]:
        return {r["submission_id"]: dict(r) for r in
                self._db().execute("SELECT * FROM manual_scores WHERE item_id = ?", (item_id,))}

    def _answer_page(self, item_id: str, sub: str, *, error: str = "", stale: str = "", attempt: dict | None = None,
                     status: int = 200):
        row = self._item_row(item_id, sub)
        rows = self._item_rows(item_id)
        ids = [r["submission_id"] for r in rows]
        pos = ids.index(sub)
        entries = self._entries(item_id)
        entry = current_entry(self._db(), sub, item_id)
        ans = self.store.answers([row])[0]
        all_answers = self.store.answers(rows)
        group = [a.submission_id for a in all_answers if a.group_key == ans.group_key]
        ref = reference_for(item_id, row["part"])
        shown = attempt or {"score": points_text(entry["score"]) if entry["score"] is not None else "",
                            "comment": entry["comment"]}
        nxt = _next_pending(rows, entries, sub)
        return render_template(
            "answer.html", item=row, answer=ans, answer_html=_answer_html(ans), entry=entry, shown=shown,
            error=error, stale=stale, position=pos + 1, total=len(ids), graded=len(entries),
            prev_sub=ids[pos - 1] if pos > 0 else None, next_sub=ids[pos + 1] if pos + 1 < len(ids) else None,
            skip_sub=nxt, questions=[render_markdown(q) for q in ref.questions],
            reference=render_markdown(ref.answer) if ref.answer else None, bank=comment_bank(self._db(), item_id),
            history=score_history(self._db(), submission_id=sub, item_id=item_id, limit=20),
            group_size=len(group)), status


def _answer_html(answer) -> Markup:
    if answer.problem:
        return Markup('<p class="problem">{}</p>').format(answer.problem)
    return render_markdown(answer.text, answer.attachments)


def _next_pending(rows, entries, after: str | None) -> str | None:
    """The first answer without a score after ``after`` (in submission order, wrapping), None when all have one."""
    ids = [r["submission_id"] for r in rows]
    start = ids.index(after) + 1 if after in ids else 0
    for sub in ids[start:] + ids[:start]:
        if sub not in entries and sub != after:
            return sub
    return None


def _denied(message: str, status: int):
    return (f"{message}\n", status, {"Content-Type": "text/plain; charset=utf-8"})
