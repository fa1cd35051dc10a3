"""The ``hw4`` command: thin over the library (parse, call, print).

Defaults live in the library's keyword arguments; library errors become ``ClickException``s
here, so a user sees one clear line, never a traceback.
"""
from __future__ import annotations

import csv

import functools
import os
import signal
import sys
from pathlib import Path

import click

from graders import __version__
from graders import gradebook
from graders.manual import sheets
from graders.batch import Progress, grade_class
from graders.intake import scan_submissions
from graders.homework import HomeworkError
from graders.homework import active as active_homework
from graders.homework import use as use_homework
from graders.pipeline import PlanError, prepare
from graders.refresh import rebuild
from graders.secret import SECRET_ENV, SecretError, read_secret, readable_by_others, write_secret
from graders.rubric import RubricError
from graders.text import for_terminal, points_text


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hw4")
@click.option("--homework", "homework_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, envvar="HW4_HOMEWORK", show_envvar=True,
              help="The homework's folder (its homework.yaml); default: this repository's HW4.")
def main(homework_dir) -> None:
    """Grade homework notebooks: execute them, check the answers, score them against the rubric.

    Every command works on one homework: this repository's (HW4) unless --homework DIR names another
    folder with a homework.yaml (its parts, checks, rubric, notebooks and reference).
    """
    from graders.assets import set_offline

    try:
        use_homework(homework_dir)
    except HomeworkError as exc:
        raise click.ClickException(str(exc)) from None
    set_offline()  # the embedded models never need the hub; no progress bars on stderr


def _ci_options(fn):
    fn = click.option("--ci", is_flag=True,
                      help="CI mode: write OUT/junit.xml and OUT/summary.md (and append the summary to "
                           "$GITHUB_STEP_SUMMARY when set); exit 1 under --fail-under.")(fn)
    fn = click.option("--junit", type=click.Path(path_type=Path), default=None,
                      help="Write JUnit XML here (one test case per check).")(fn)
    fn = click.option("--summary", type=click.Path(path_type=Path), default=None,
                      help="Write a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).")(fn)
    fn = click.option("--fail-under", type=float, default=None,
                      help="Exit with status 1 if any submission scores below this many points.")(fn)
    return fn


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _secret(secret_file, public_only):
    """The course secret from --secret-file or $HW4_SECRET (None for public checks only)."""
    if public_only:
        return None
    try:
        secret = read_secret(secret_file)
    except SecretError as exc:
        raise click.ClickException(str(exc)) from None
    who = readable_by_others(secret_file) if secret_file is not None else ""
    if who:
        click.echo(f"Warning: {who} can read the course secret in {secret_file}, and with it every hidden "
                   f"input: run `chmod 600 {secret_file}` (or give the secret in ${SECRET_ENV}).", err=True)
    return secret


def _dataset_overrides(given: tuple[str, ...]) -> dict[str, Path]:
    """--dataset [NAME=]FILE → {asset path: FILE}, for the homework's replaceable datasets."""
    datasets = active_homework().datasets
    overrides = {}
    for text in given:
        name, _, file = text.rpartition("=") if "=" in text else ("", "", text)
        if not name and len(datasets) == 1:
            name = next(iter(datasets))
        if name not in datasets:
            known = ", ".join(sorted(datasets)) or "none"
            raise click.BadParameter(f"{text!r}: name the dataset to replace as NAME=FILE (this homework's: {known})",
                                     param_hint="--dataset")
        if not Path(file).is_file():
            raise click.BadParameter(f"{file}: no such file", param_hint="--dataset")
        overrides[datasets[name]] = Path(file)
    return overrides


def _run(paths, *, out_dir, parts, public_only, secret, jobs, rubric_path,
         ci, junit, summary, fail_under, force=False, scheduler=None, dataset=None, pool=True, batch=True):
    try:
        kwargs = {"rubric_path": rubric_path} if rubric_path else {}
        if not pool:
            kwargs["warm_kernels"] = False
        if not batch:
            kwargs["batch_probes"] = False
        if dataset:
            kwargs["asset_overrides"] = _dataset_overrides(dataset)
        kwargs["homework"] = active_homework().folder
        chosen = [p.strip() for p in parts.split(",") if p.strip()] or None
        plan = prepare(parts=chosen, secret=secret, public_only=public_only, **kwargs)
        intake = scan_submissions(list(paths), plan.parts, unpack_to=Path(out_dir) / ".unpacked")
        subs = intake.submissions
    except (PlanError, RubricError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for entry, reason in intake.rejected:
        click.echo(for_terminal(f"intake: {entry}: {reason}", 1000), err=True)
    if not subs:
        raise click.ClickException("no submissions found under " + ", ".join(map(str, paths)))
    where = f"on the Dask cluster at {scheduler}" if scheduler else f"with {jobs} worker(s)"
    click.echo(f"Grading {len(subs)} submission(s) {where}…", err=True)
    factory = functools.partial(prepare, parts=chosen, secret=secret, public_only=public_only, **kwargs)
    progress = Progress(len(subs))
    previous = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops a batch as cleanly as Ctrl-C
    try:
        report = grade_class(intake, plan, out_dir, jobs=jobs, force=force, scheduler=scheduler,
                             plan_factory=factory, rubric_path=rubric_path, on_graded=progress.update)
    except KeyboardInterrupt:
        progress.close()
        click.echo(f"Stopped: {progress.done} result(s) kept; rerun the same command to grade the rest.", err=True)
        sys.exit(130)
    except (OSError, RuntimeError, ValueError) as exc:  # e.g. the Dask scheduler cannot be reached
        raise click.ClickException(f"the batch stopped: {exc} (rerun to resume)") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(progress.close(), err=True)
    if report.nothing_graded:
        click.echo(f"{len(report.nothing_graded)} submission(s) with no notebook of this homework, scored 0:", err=True)
        for sid, why in report.nothing_graded:
            click.echo("  " + for_terminal(f"{sid}: {why}", 1000), err=True)
    if report.gradebook_error:
        click.echo(f"The gradebook was not updated: {report.gradebook_error}", err=True)
    elif report.gradebook_files:
        click.echo(f"Gradebook: {', '.join(map(str, report.gradebook_files))}", err=True)
    for line in report.gradebook_warnings:
        click.echo(for_terminal(f"warning: {line}", 1000), err=True)
    results = report.results
    _print_table(results)
    if ci:
        junit = junit or (out_dir / "junit.xml")
        summary = summary or (out_dir / "summary.md")
    if junit or summary or ci:
        from graders.report.ci import write_ci_outputs

        step = os.environ.get("GITHUB_STEP_SUMMARY") if ci else None
        write_ci_outputs(results, junit=junit, summary=summary,
                         append_summary=Path(step) if step and Path(step) != summary else None)
    if report.incomplete:
        click.echo(f"{len(report.incomplete)} submission(s) with grader errors — not final; rerun to retry them "
                   "(see above).", err=True)
        sys.exit(2)
    if fail_under is not None and any(r.total < fail_under for r in results):
        click.echo(f"Score below --fail-under {fail_under:g}.", err=True)
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for results: OUT/<submission>/result.json, feedback.md, feedback.html, outputs.json.")
@click.option("--parts", default="",
              help="Comma-separated parts to grade (the homework's, as homework.yaml lists them); default all.")
@click.option("--public-only", is_flag=True, help="Run only the public checks (an estimate; no course secret needed).")
@click.option("--secret-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File holding the course secret that hidden inputs are derived from (or set HW4_SECRET). "
                   "Make one with `hw4 secret new --out FILE`; never share it with students.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Submissions graded in parallel (at least 1).")
@click.option("--rubric", "rubric_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Rubric file (default: the project's rubric.yaml).")
@click.option("--force", is_flag=True,
              help="Regrade every submission, even those whose stored result is up to date.")
@click.option("--dataset", metavar="[NAME=]FILE", multiple=True,
              help="Give the notebooks FILE instead of the homework's shipped dataset NAME (homework.yaml "
                   "`datasets`; NAME may be left out when there is one), e.g. the real file of a dataset the "
                   "homework ships a small stand-in of.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Grade on a Dask distributed cluster (e.g. tcp://host:8786) instead of local workers; "
                   "workers need the grader installed and the same paths (shared file system).")
@click.option("--no-pool", "no_pool", is_flag=True,
              help="Start each notebook's kernel when its turn comes, instead of while the notebook before it "
                   "runs (slower; the same results).")
@click.option("--no-batch", "no_batch", is_flag=True,
              help="Ask every check in a cell of its own, instead of a run of checks per cell (slower; the same "
                   "results).")
@_ci_options
def grade(paths, out_dir, parts, public_only, secret_file, jobs, rubric_path, force, dataset, scheduler, no_pool,
          no_batch, ci, junit, summary, fail_under):
    """Grade PATHS: notebooks, a folder of one student's notebooks, or a folder of such folders.

    A class folder holds one entry per student named {STD_Number}_{Name}: a .zip, a folder, or
    loose notebooks with that prefix. Prints a table of scores; writes one result.json and feedback
    per submission under --out, then OUT/gradebook.sqlite, grades.csv and items.csv. A rerun skips
    every submission whose result is up to date (same notebooks, grader and rubric), so a killed
    run resumes where it stopped. Exit status: 0 when grading ran; 2 when a submission hit a grader error
    (its result is incomplete, not a grade); 1 under --fail-under.
    """
    _run(paths, out_dir=out_dir, parts=parts, public_only=public_only, secret=_secret(secret_file, public_only),
         jobs=jobs,
         rubric_path=rubric_path, ci=ci, junit=junit, summary=summary, fail_under=fail_under,
         force=force, scheduler=scheduler, dataset=dataset, pool=not no_pool, batch=not no_batch)


@main.command()
@click.argument("notebooks", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("hw4-check"), show_default=True,
              help="Folder for the result and feedback files.")
@_ci_options
def check(notebooks, out_dir, ci, junit, summary, fail_under):
    """Self-check NOTEBOOKS against the public checks and print an estimated score.

    Public checks only, written answers not included: the real grade also uses hidden inputs
    and a TA's reading. Exit status 0 whatever the score, unless --fail-under is given.
    """
    from graders.intake import match_part
    from graders.homework import all_parts
    from graders.report.feedback import to_terminal

    parts = all_parts()
    notebooks = [Path(n) for n in notebooks]
    matched = {}
    for nb in notebooks:
        part = match_part(nb, parts) if nb.is_file() else None
        if part is None:
            raise click.ClickException(f"{nb}: not recognised as a notebook of this homework")
        matched.setdefault(part, nb)
    try:
        plan = prepare(parts=list(matched), public_only=True)
        intake = scan_submissions(notebooks, plan.parts, unpack_to=Path(out_dir) / ".unpacked")
    except (PlanError, RubricError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for entry, reason in intake.rejected:
        click.echo(for_terminal(f"{entry}: {reason}", 1000), err=True)
    if not intake.submissions:
        raise click.ClickException("no notebooks to check in " + ", ".join(map(str, notebooks)))
    report, unchanged = _self_check(intake, plan, out_dir)
    for r in report.results:
        click.echo("")
        for line in to_terminal(r):
            click.echo(line)
        if r.submission_id in unchanged:
            click.echo("  (the notebook has not changed since your last check: this is that check's result)")
        click.echo(f"  Feedback page: {for_terminal(out_dir / r.submission_id / 'feedback.html', 1000)}")
    _ci_files(report.results, out_dir, ci, junit, summary)
    click.echo("\nEstimated score: public checks only, written answers not included.")
    if report.incomplete:
        click.echo("Some checks could not be run because the grader itself failed (not your code): run "
                   "`hw4 check` again; if it keeps failing, tell the course staff.", err=True)
        sys.exit(2)
    if fail_under is not None and any(r.total < fail_under for r in report.results):
        click.echo(f"Score below --fail-under {fail_under:g}.", err=True)
        sys.exit(1)


def _self_check(intake, plan, out_dir):
    """Run the notebooks and their public checks, saying on stderr which notebook is done; returns the
    class report and the ids whose stored result was reused (the notebook had not changed)."""
    from graders.batch import grade_class

    total = len(intake.submissions)
    click.echo(f"Checking {total} notebook(s): each runs from the top, then the public checks call its "
               "functions…", err=True)
    names = {s.id: ", ".join(nb.name for nb in s.notebooks.values()) or s.id for s in intake.submissions}
    unchanged, done = set(), []

    def progress(event):
        done.append(event[0])
        if event.skipped:
            unchanged.add(event[0])
        click.echo(for_terminal(f"[{len(done)}/{total}] {names.get(event[0], event[0])}: checked"), err=True)

    try:
        report = grade_class(intake, plan, out_dir, jobs=1, on_graded=progress)
    except KeyboardInterrupt:
        click.echo("Stopped: run the same command again to finish the check.", err=True)
        sys.exit(130)
    return report, unchanged


def _ci_files(results, out_dir, ci, junit, summary) -> None:
    """The self-check's --ci / --junit / --summary files."""
    if ci:
        junit = junit or (out_dir / "junit.xml")
        summary = summary or (out_dir / "summary.md")
    if junit or summary:
        from graders.report.ci import write_ci_outputs

        step = os.environ.get("GITHUB_STEP_SUMMARY") if ci else None
        write_ci_outputs(results, junit=junit, summary=summary,
                         append_summary=Path(step) if step and Path(step) != summary else None)


@main.group()
def secret() -> None:
    """The course secret that hidden inputs are derived from (keep it out of the student bundle)."""


@secret.command("new")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write it to this file (mode 0600) instead of printing it; an existing file is kept as is, "
                   "so the same command can be run again.")
def secret_new(out_file):
    """Make a 256-bit course secret: print it, or write it to --out FILE for `hw4 grade --secret-file FILE`.

    Use one secret for a whole term (results of reruns and CI runs stay comparable) and never
    share it: anyone who has it can compute every hidden input.
    """
    from graders.secret import new_secret

    if out_file is None:
        click.echo(new_secret())
    elif write_secret(out_file):
        click.echo(f"wrote a new course secret to {out_file}", err=True)
    else:
        click.echo(f"{out_file} already exists: kept (delete it to make a new secret)", err=True)


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT if it already has files in it.")
def release(out, force):
    """Build the student bundle in OUT: blank notebooks, models, data, graders, public expected values.

    No reference solutions, solved notebooks or course secret; the build fails if any would leak.
    """
    from graders.release import ReleaseError, build_bundle

    try:
        path = build_bundle(out, force=force, homework=active_homework().folder)
    except (ReleaseError, PlanError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Student bundle written to {path}")


def _print_table(results) -> None:
    if not results:
        return
    part_names = list(dict.fromkeys(p for r in results for p in r.parts))
    header = ["submission", *part_names, "total", "pending"]
    table = [header] + [[for_terminal(r.submission_id),
                         *(points_text(r.parts[p].score) if p in r.parts else "-" for p in part_names),
                         f"{points_text(r.total)}/{points_text(r.max)}", points_text(r.manual_pending)] for r in results]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


# --- gradebook, manual grading, class report (TA batch workflow) -----------------------------

def _graded_homework(ctx: click.Context, param, out_dir: Path) -> Path:
    """Without --homework, a command on a graded batch works on the homework it was graded as."""
    if ctx.find_root().params.get("homework_dir") is None:
        folder = gradebook.read_manifest(out_dir).get("homework")
        if isinstance(folder, str) and folder and (Path(folder) / "homework.yaml").is_file():
            try:
                use_homework(folder)
            except HomeworkError as exc:
                raise click.ClickException(str(exc)) from None
    return out_dir


_OUT_ARG = click.argument("out_dir", metavar="DIR", type=click.Path(exists=True, file_okay=False, path_type=Path),
                          callback=_graded_homework)


@main.group("gradebook")
def gradebook_cmd() -> None:
    """The gradebook of a graded batch: DIR/gradebook.sqlite and its CSV exports."""


@gradebook_cmd.command("export")
@_OUT_ARG
@click.option("--times", "times_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="CSV of submission times from the course platform (student_id, submitted_at); "
                   "the only trusted source: without it no late penalty is applied. Remembered for later exports.")
@click.option("--days-used", "days_used_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="CSV of late days already used this term (student_id, days_used). Remembered.")
@click.option("--rubric", "rubric_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Rubric with the late policy (default: the one DIR was graded with).")
def gradebook_export(out_dir, times_csv, days_used_csv, rubric_path):
    """Rebuild DIR/gradebook.sqlite from the results and write DIR/grades.csv and DIR/items.csv.

    grades.csv has one row per student: id, name, each part, total, late days, penalty, final.
    """
    try:
        book = rebuild(out_dir, rubric_path=rubric_path, times_csv=times_csv, days_used_csv=days_used_csv)
    except gradebook.GradebookError as exc:
        raise click.ClickException(str(exc)) from None
    for line in book.unreadable:
        click.echo(for_terminal(f"unreadable result: {line}", 1000), err=True)
    for line in book.warnings:
        click.echo(for_terminal(f"warning: {line}", 1000), err=True)
    click.echo(f"{book.submissions} submission(s): {book.grades_csv}, {book.items_csv}")


@main.group()
def manual() -> None:
    """Manual grading of written answers: in a browser (serve), or sheets to fill in (export, import)."""


@manual.command("export")
@_OUT_ARG
def manual_export(out_dir):
    """Write DIR/manual/<item>.csv (and .html to read) per manual item, with each student's answer text,
    and the rubric items: DIR/manual/rubric.csv and rubric_applied.csv.

    Fill in the score (and comment) columns, then run `hw4 manual import DIR <item>.csv`; edit the
    rubric sheets and import them the same way.
    """
    from graders.manual.rubric_sheets import export_rubric

    try:
        written = sheets.export_manual(out_dir) + export_rubric(out_dir)
    except gradebook.GradebookError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(str(path))


@manual.command("import")
@_OUT_ARG
@click.argument("scores", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--grader", default="", help="Who entered these scores (kept with each score).")
def manual_import(out_dir, scores, grader):
    """Validate SCORES (a CSV: submission_id or student_id, item_id, score[, comment, override_reason]) and record it.

    A bad line (unknown student or item, score outside [0, max]) is reported and nothing is
    written. A score for an automatic item needs an override_reason. Totals update in grades.csv.
    SCORES may also be the rubric sheets of `hw4 manual export` (rubric.csv, rubric_applied.csv).
    """
    from graders.manual import rubric_sheets
    from graders.refresh import after_manual_change

    try:
        with open(scores, newline="", encoding="utf-8-sig") as fh:
            header = [h.strip() for h in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise click.ClickException(f"cannot read {scores}: {exc}") from None
    if rubric_sheets.is_rubric_sheet(header):
        try:
            changes, changed = rubric_sheets.import_rubric_sheet(out_dir, scores, grader=grader)
        except gradebook.GradebookError as exc:
            raise click.ClickException(str(exc)) from None
        after_manual_change(out_dir, changed)
        click.echo(f"{changes} rubric change(s); {len(changed)} submission score(s) updated")
        return
    try:
        s = sheets.import_manual(out_dir, scores, grader=grader)
    except gradebook.GradebookError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"recorded {s.recorded} score(s) ({s.overrides} override(s)); {s.unchanged} unchanged; "
               f"{s.blank} blank row(s) skipped")


@manual.command("serve")
@_OUT_ARG
@click.option("--port", type=int, default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free port). The server never listens on another address.")
@click.option("--grader", default=None, help="Your name, kept with every score you enter (default: your login).")
@click.option("--anonymous", is_flag=True,
              help="Hide who wrote each answer (names and ids) until you serve the page again without it.")
def manual_serve(out_dir, port, grader, anonymous):
    """Grade the written answers of DIR in a browser: prints a local URL with an access token.

    Pages: progress per item and TA; each written item question by question, with rubric items
    (points and a text, shared by every answer; number keys apply them, Enter goes to the next
    question; editing an item re-scores every answer that has it); the student's own outputs
    beside the answer; similar answers in groups scored at once; one student's answers on one
    page, with regrade requests. Every change is saved at once with your name, kept in the
    history, and updates grades.csv and the student's result.json and feedback.
    """
    from graders.manual.server import serve

    try:
        serve(out_dir, port=port, grader=grader, echo=click.echo, anonymous=anonymous)
    except gradebook.GradebookError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}; "
                                   "choose another --port (0 picks a free one)") from None


@main.command()
@_OUT_ARG
def report(out_dir):
    """Write the class report DIR/report/index.html: per part and item mean, median, full-marks rate,
    the grading progress of the written answers, the checks most students fail, a histogram per
    part, late days. Prints the grading progress.
    """
    from graders.report.classreport import write_report

    from contextlib import closing

    try:
        book = rebuild(out_dir)
        path = write_report(out_dir)
    except gradebook.GradebookError as exc:
        raise click.ClickException(str(exc)) from None
    for line in book.warnings:
        click.echo(for_terminal(f"warning: {line}", 1000), err=True)
    with closing(gradebook.connect(out_dir)) as conn:
        progress = gradebook.manual_progress(conn)
    if progress:
        click.echo(f"Written answers: {sum(p['graded'] for p in progress)} of {sum(p['answers'] for p in progress)} "
                   "graded (" + ", ".join(f"{p['item_id']} {p['graded']}/{p['answers']}" for p in progress) + ")")
    click.echo(str(path))


def _similarity_default(name: str):
    import inspect

    from graders.similarity import analyse

    return inspect.signature(analyse).parameters[name].default


@main.command()
@_OUT_ARG
@click.option("--threshold", type=float, default=None,
              help=f"List the pairs scoring this or more (0-1) on a function or answer "
                   f"[default: {_similarity_default('threshold')}].")
@click.option("--parts", default="",
              help="Comma-separated parts to compare (the homework's, as homework.yaml lists them); default all.")
@click.option("--common-share", type=float, default=None,
              help=f"Ignore a fingerprint more than this share of the class has (and more than 10): code "
                   f"everybody writes [default: {_similarity_default('common_share')}].")
def similarity(out_dir, threshold, parts, common_share):
    """Compare every pair of submissions graded into DIR, per graded function and written answer.

    Writes DIR/similarity/index.html (pairs at or above the threshold, most similar first, shared
    passages side by side), pairs.csv and histogram.png. Code is the student's own (provided cells,
    docstrings and template lines left out); renamed names, comments, blank lines and reordered
    functions do not hide a copy. A listed pair is for a person to look at, not a finding.
    """
    from graders.similarity import SimilarityError, analyse
    from graders.similarity.report import by_pair, write

    options = {k: v for k, v in (("threshold", threshold), ("common_share", common_share)) if v is not None}
    chosen = [p.strip() for p in parts.split(",") if p.strip()] or None
    try:
        analysis = analyse(out_dir, parts=chosen, **options)
        written = write(analysis, out_dir / "similarity")
    except SimilarityError as exc:
        raise click.ClickException(str(exc)) from None
    if analysis.problems:
        click.echo(f"{len(analysis.problems)} notebook(s) or cell(s) could not be compared; listed on the page.",
                   err=True)
    click.echo(f"{len(by_pair(analysis))} pair(s) of submissions at or above {analysis.settings.threshold:g}: "
               f"{written.html} ({written.csv.name}, {written.histogram.name})")


if __name__ == "__main__":
    main()
