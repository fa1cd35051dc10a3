"""The question pages of the grading app: one question of one answer at a time, scored with rubric items.

``/question?item=ID&q=QID&sub=SUB`` shows the student's answer to that question (split from the
item's answer by ``questions``), the outputs of the cells it refers to as the grader ran them
(``evidence``), the prompt, the reference answer, and the question's rubric items: number keys
apply and remove them, Enter goes on to the next question (``static/app.js``). ``/groups`` shows a
question's answers grouped by similarity (``similar``), scored a group at once; ``/student``
shows all of one student's written answers, and their regrade requests (``regrades``).

Every write goes through ``rubric_items`` (versions: a stale change is refused and shown), then
``after_manual_change`` brings grades.csv, result.json and the feedback up to date. The app's
safety (token, CSRF, Origin, CSP, local redirects) is ``web``'s, for these routes as for the others.
"""
from __future__ import annotations

import json
import math

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup

from graders.gradebook import GradebookError, rubric_path_for
from graders.manual import evidence_view, regrades
from graders.manual.answers import question_reference
from graders.manual.ledger import current_entry
from graders.manual.render import render_markdown
from graders.manual.rubric_items import (add_rubric_item, edit_rubric_item, feedback_text, move_rubric_item,
                                         question_grades, rubric, set_adjustment, set_applied)
from graders.manual.urls import local_path
from graders.manual.similar import DEFAULT_THRESHOLD, merge, read_pins, similar_groups, split_off, unpin_all
from graders.refresh import after_manual_change
from graders.rubric import Question, RubricError, load_rubric, questions_of
from graders.text import points_text


class QuestionPages:
    """Routes over ``pages`` (``web._Pages``: its gradebook connection, rows and answer store)."""

    def __init__(self, pages):
        self.pages, self.app, self.store = pages, pages.app, pages.store
        self._rubric = None

    def register(self) -> None:
        app = self.app
        app.add_url_rule("/question", "question", self.question, methods=["GET"])
        app.add_url_rule("/groups", "groups", self.groups, methods=["GET"])
        app.add_url_rule("/student", "student", self.student, methods=["GET"])
        for name in ("rubric_add", "rubric_edit", "rubric_move", "rubric_apply", "rubric_adjust", "groups_split",
                     "groups_merge", "groups_reset", "regrade_request", "regrade_answer"):
            app.add_url_rule("/" + name.replace("_", "/", 1), name, getattr(self, name), methods=["POST"])

    # --- what an item's questions are -------------------------------------------------------------

    def questions(self, item_id: str) -> tuple:
        """The item's questions from the batch's rubric (one implicit question when it declares none)."""
        if self._rubric is None:
            try:
                self._rubric = load_rubric(rubric_path_for(self.app.config["HW4_OUT"]))
            except (RubricError, GradebookError, OSError):
                self._rubric = False
        if self._rubric:
            for part in self._rubric.parts.values():
                for it in part.items:
                    if it.id == item_id:
                        return questions_of(it)
        row = self.pages._item_rows(item_id)[0]
        return (Question("answer", row["title"] or item_id, row["max"]),)

    def _question(self, item_id: str, qid: str):
        qs = self.questions(item_id)
        for k, q in enumerate(qs):
            if q.id == qid:
                return qs, k
        abort(404)

    # --- pages ------------------------------------------------------------------------------------

    def question(self):
        item_id, qid, sub = request.args.get("item", ""), request.args.get("q", ""), self.pages.sub_arg()
        questions, k = self._question(item_id, qid)
        rows = self.pages._item_rows(item_id)
        ids = [r["submission_id"] for r in rows]
        if sub not in ids:
            abort(404)
        row = rows[ids.index(sub)]
        q = questions[k]
        db = self.pages._db()
        answer = self.store.by_question([row], questions)[sub][k]
        grades = question_grades(db, item_id, questions, ids)
        grade = grades[sub][q.id]
        items = rubric(db, item_id, q.id)
        prompts, references = self._reference(item_id, row["part"], questions)
        entry = current_entry(db, sub, item_id)
        nxt = _next_question(ids, questions, grades, sub, k)
        here = ids.index(sub)
        same_q = [s for s in ids[here + 1:] + ids[:here] if grades[s][q.id].score is None]  # after this one, wrapping
        return render_template(
            "question.html", item=row, question=q, k=k, questions=questions, answer=answer,
            answer_html=_answer_html(answer), grade=grade, rubric=items, entry=entry,
            all_grades=grades[sub], prompt=render_markdown(prompts[k]) if prompts[k] else None,
            reference=render_markdown(references[k]) if references[k] else None,
            evidence=evidence_view.for_question(self.app.config["HW4_OUT"], sub, row["part"],
                                                self.store.notebook_of(row), item_id, k),
            position=here + 1, total=len(ids),
            graded=sum(1 for s in ids if grades[s][q.id].score is not None),
            next_url=nxt or url_for("item", item_id=item_id), prev_url=_prev_question(ids, questions, sub, k),
            next_student=_url_q(item_id, q.id, ids[here + 1]) if here + 1 < len(ids) else None,
            prev_student=_url_q(item_id, q.id, ids[here - 1]) if here > 0 else None,
            pending_here=_url_q(item_id, q.id, same_q[0]) if same_q else None,
            feedback=feedback_text(questions, grades[sub], {r.id: r for r in rubric(db, item_id)}),
            history=[h for h in self._log(item_id, sub) if h["question"] in (q.id, "")][:20],
            versions=json.dumps({sub: grade.version}), requests=regrades.for_answer(db, sub, item_id))

    def groups(self):
        item_id, qid = request.args.get("item", ""), request.args.get("q", "")
        questions, k = self._question(item_id, qid)
        try:
            threshold = float(request.args.get("threshold", DEFAULT_THRESHOLD))
        except ValueError:
            threshold = DEFAULT_THRESHOLD
        threshold = min(max(threshold, 0.0), 1.0) if math.isfinite(threshold) else DEFAULT_THRESHOLD
        rows = self.pages._item_rows(item_id)
        ids = [r["submission_id"] for r in rows]
        db = self.pages._db()
        answers = {s: a[k] for s, a in self.store.by_question(rows, questions).items()}
        grades = question_grades(db, item_id, questions, ids)
        found = similar_groups({s: a.text for s, a in answers.items()}, {s: a.problem for s, a in answers.items()},
                               threshold=threshold, pins=read_pins(db, item_id, questions[k].id))
        items = {r.id: r for r in rubric(db, item_id, questions[k].id)}
        view = []
        for g in found:
            members = [{"sub": s, "answer": answers[s], "grade": grades[s][questions[k].id],
                        "similarity": g.similarity[s], "same": answers[s].text == answers[g.members[0]].text,
                        "html": _answer_html(answers[s])} for s in g.members]
            view.append({"key": g.key, "members": members, "pinned": g.pinned, "html": members[0]["html"],
                         "graded": sum(1 for m in members if m["grade"].score is not None),
                         "versions": json.dumps({m["sub"]: m["grade"].version for m in members})})
        return render_template("groups.html", item=rows[0], question=questions[k], questions=questions, groups=view,
                               rubric=list(items.values()), threshold=threshold)

    def student(self):
        sub = self.pages.sub_arg()
        db = self.pages._db()
        rows = db.execute("SELECT i.*, s.student_id, s.name FROM items i JOIN submissions s USING(submission_id) "
                          "WHERE i.submission_id = ? AND i.manual = 1 ORDER BY i.position", (sub,)).fetchall()
        if not rows:
            abort(404)
        items = []
        for row in rows:
            questions = self.questions(row["item_id"])
            answers = self.store.by_question([row], questions)[sub]
            grades = question_grades(db, row["item_id"], questions, [sub])[sub]
            live = {r.id: r for r in rubric(db, row["item_id"])}
            items.append({"row": row, "entry": current_entry(db, sub, row["item_id"]), "questions": [
                {"q": q, "answer": a, "html": _answer_html(a), "grade": grades[q.id],
                 "applied": [live[i] for i in grades[q.id].applied]} for q, a in zip(questions, answers)]})
        return render_template("student.html", sub=sub, row=rows[0], items=items,
                               requests=regrades.for_submission(db, sub))

    # --- writes -----------------------------------------------------------------------------------

    def rubric_add(self):
        item_id, qid = request.form.get("item", ""), request.form.get("q", "")
        self._question(item_id, qid)
        try:
            made = add_rubric_item(self.pages._db(), item_id, qid, request.form.get("points", ""),
                                   request.form.get("text", ""), grader=self._grader())
            flash(f"Rubric item {made.number} added: {points_text(made.points)} {made.text}")
        except GradebookError as exc:
            flash(f"Not added: {exc}.", "error")
        return self._back(item_id, qid)

    def rubric_edit(self):
        item_id = request.form.get("item", "")
        questions = self.questions(item_id)
        try:
            outcome = edit_rubric_item(self.pages._db(), item_id, questions, self._int("rubric_id"),
                                       points=request.form.get("points") or None, text=request.form.get("text"),
                                       delete=request.form.get("action") == "delete", grader=self._grader())
        except GradebookError as exc:
            flash(f"Not changed: {exc}.", "error")
            return self._back(item_id, request.form.get("q", ""))
        self._refresh(outcome.changed)
        flash(f"Rubric item changed; {len(outcome.changed)} score{'s' if len(outcome.changed) != 1 else ''} updated.")
        return self._back(item_id, request.form.get("q", ""))

    def rubric_move(self):
        item_id = request.form.get("item", "")
        self.questions(item_id)
        try:
            move_rubric_item(self.pages._db(), item_id, self._int("rubric_id"), self._int("step"),
                             grader=self._grader())
        except GradebookError as exc:
            flash(str(exc), "error")
        return self._back(item_id, request.form.get("q", ""))

    def rubric_apply(self):
        item_id, qid = request.form.get("item", ""), request.form.get("q", "")
        questions, _ = self._question(item_id, qid)
        targets = self._versions(item_id)
        if request.form.get("group"):  # a group's form: only the ticked members
            chosen = set(request.form.getlist("member"))
            targets = {s: v for s, v in targets.items() if s in chosen}
            if not targets:
                flash("Tick at least one answer of the group.", "error")
                return self._back(item_id, qid)
        mode = {"apply": True, "remove": False}.get(request.form.get("mode", ""))
        try:
            outcome = set_applied(self.pages._db(), item_id, questions, qid, self._int("rubric_id"), targets,
                                  apply=mode, grader=self._grader())
        except GradebookError as exc:
            flash(f"Not applied: {exc}.", "error")
            return self._back(item_id, qid)
        self._refresh(outcome.changed)
        for sub in outcome.stale:
            flash(f"{self.pages.label(sub)}: someone changed this answer's grading after you loaded it; "
                  "yours was not applied. Look again.", "error")
        if len(targets) > 1:
            flash(f"Applied to {len(targets) - len(outcome.stale)} of {len(targets)} answers.")
        return self._back(item_id, qid)

    def rubric_adjust(self):
        item_id, qid, sub = request.form.get("item", ""), request.form.get("q", ""), request.form.get("sub", "")
        questions, _ = self._question(item_id, qid)
        self.pages._item_row(item_id, sub)
        clear = request.form.get("action") == "clear"
        try:
            outcome = set_adjustment(self.pages._db(), item_id, questions, qid, sub,
                                     None if clear else request.form.get("points", ""), request.form.get("reason", ""),
                                     expected_version=self._int("version"), grader=self._grader())
        except GradebookError as exc:
            flash(f"Not saved: {exc}.", "error")
            return self._back(item_id, qid)
        if outcome.stale:
            flash("Someone changed this answer's grading after you loaded it; yours was not saved. Look again.",
                  "error")
        self._refresh(outcome.changed)
        return self._back(item_id, qid)

    def groups_split(self):
        item_id, qid = request.form.get("item", ""), request.form.get("q", "")
        self._question(item_id, qid)
        sub = request.form.get("sub", "")
        self.pages._item_row(item_id, sub)
        split_off(self.pages._db(), item_id, qid, sub)
        return self._back(item_id, qid)

    def groups_merge(self):
        item_id, qid = request.form.get("item", ""), request.form.get("q", "")
        self._question(item_id, qid)
        known = {r["submission_id"] for r in self.pages._item_rows(item_id)}
        members = [s for key in request.form.getlist("group") for s in json.loads(key or "[]") if s in known]
        if len(request.form.getlist("group")) < 2:
            flash("Tick two groups or more to merge them.", "error")
        else:
            merge(self.pages._db(), item_id, qid, sorted(set(members)))
        return self._back(item_id, qid)

    def groups_reset(self):
        item_id, qid = request.form.get("item", ""), request.form.get("q", "")
        self._question(item_id, qid)
        unpin_all(self.pages._db(), item_id, qid)
        return self._back(item_id, qid)

    def regrade_request(self):
        item_id, sub = request.form.get("item", ""), request.form.get("sub", "")
        self.pages._item_row(item_id, sub)
        try:
            regrades.record_request(self.pages._db(), sub, item_id, request.form.get("q", ""),
                                    request.form.get("text", ""), recorded_by=self._grader())
            flash("Regrade request recorded.")
        except GradebookError as exc:
            flash(f"Not recorded: {exc}.", "error")
        return self._back(item_id, request.form.get("q", ""))

    def regrade_answer(self):
        try:
            regrades.answer(self.pages._db(), self._int("request_id"), request.form.get("text", ""),
                            responded_by=self._grader())
            flash("Regrade request answered.")
        except GradebookError as exc:
            flash(f"Not saved: {exc}.", "error")
        return self._back(request.form.get("item", ""), request.form.get("q", ""))

    # --- helpers ----------------------------------------------------------------------------------

    def _grader(self) -> str:
        return self.app.config["HW4_GRADER"]

    def _int(self, name: str) -> int:
        try:
            return int(request.form.get(name, ""))
        except ValueError:
            abort(400)

    def _versions(self, item_id: str) -> dict[str, int | None]:
        try:
            seen = json.loads(request.form.get("versions", "{}"))
            assert isinstance(seen, dict) and all(isinstance(v, int) for v in seen.values())
        except (ValueError, AssertionError):
            abort(400)
        known = {r["submission_id"] for r in self.pages._item_rows(item_id)}
        if not seen or any(s not in known for s in seen):
            abort(400)
        return seen

    def _refresh(self, changed) -> None:
        if changed:
            after_manual_change(self.app.config["HW4_OUT"], changed)

    def _back(self, item_id: str, qid: str):
        return redirect(local_path(request.form.get("back", "")) or url_for("item", item_id=item_id))

    def _log(self, item_id: str, sub: str) -> list[dict]:
        return [dict(r) for r in self.pages._db().execute(
            "SELECT * FROM rubric_log WHERE item_id = ? AND submission_id IN (?, '') ORDER BY id DESC LIMIT 200",
            (item_id, sub))]

    def _reference(self, item_id: str, part: str, questions) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return question_reference(item_id, part, tuple(questions))


def _url_q(item_id: str, qid: str, sub: str) -> str:
    return url_for("question", item=item_id, q=qid, sub=current_app.config["HW4_NAMES"].sid(sub))


def _next_question(ids, questions, grades, sub: str, k: int) -> str | None:
    """The next question of this answer; after its last, the first ungraded question of a later answer."""
    item_id = request.args.get("item", "")
    if k + 1 < len(questions):
        return _url_q(item_id, questions[k + 1].id, sub)
    start = ids.index(sub) + 1
    for s in ids[start:] + ids[:start]:
        for q in questions:
            if grades[s][q.id].score is None and (s, q.id) != (sub, questions[k].id):
                return _url_q(item_id, q.id, s)
    return None


def _prev_question(ids, questions, sub: str, k: int) -> str | None:
    item_id = request.args.get("item", "")
    if k > 0:
        return _url_q(item_id, questions[k - 1].id, sub)
    i = ids.index(sub)
    return _url_q(item_id, questions[-1].id, ids[i - 1]) if i > 0 else None


def _answer_html(answer) -> Markup:
    if answer.problem:
        return Markup('<p class="problem">{}</p>').format(answer.problem)
    note = Markup('<p class="note split-note">{}</p>').format(answer.note) if answer.note else Markup("")
    return note + (render_markdown(answer.text, answer.attachments) if answer.text else Markup(""))

