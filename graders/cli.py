"""The ``hw4`` command: thin over the library (parse, call, print).

Defaults live in the library's keyword arguments; library errors become ``ClickException``s
here, so a user sees one clear line, never a traceback.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from graders import __version__
from graders.batch import grade_all
from graders.intake import find_submissions
from graders.pipeline import PlanError, prepare
from graders.rubric import RubricError


def _fmt(x: float) -> str:
    return f"{x:g}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hw4")
def main() -> None:
    """Grade LLM HW4 notebooks: execute them, check the answers, score them against rubric.yaml."""


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


def _run(paths, *, out_dir, parts, public_only, hidden_seed, jobs, rubric_path, verbose_items,
         ci, junit, summary, fail_under):
    try:
        kwargs = {"rubric_path": rubric_path} if rubric_path else {}
        chosen = [p.strip() for p in parts.split(",") if p.strip()] or None
        click.echo("Preparing checks and reference values…", err=True)
        plan = prepare(parts=chosen, hidden_seed=hidden_seed, public_only=public_only, **kwargs)
        subs = find_submissions(list(paths), plan.parts)
    except (PlanError, RubricError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    if not subs:
        raise click.ClickException("no submissions found under " + ", ".join(map(str, paths)))
    click.echo(f"Grading {len(subs)} submission(s) with {jobs} worker(s)…", err=True)
    start = time.monotonic()
    results, grader_errors = [], 0
    for n, (sid, result, error) in enumerate(grade_all(subs, plan, out_dir, jobs=jobs), 1):
        elapsed = time.monotonic() - start
        eta = elapsed / n * (len(subs) - n)
        if result is None:
            grader_errors += 1
            click.echo(f"[{n}/{len(subs)}] {sid}: GRADER ERROR\n{error}", err=True)
            continue
        click.echo(f"[{n}/{len(subs)}] {sid}: {_fmt(result.total)}/{_fmt(result.max)}  "
                   f"({elapsed:.0f} s elapsed, ~{eta:.0f} s left)", err=True)
        results.append(result)
    results.sort(key=lambda r: r.submission_id)
    if verbose_items:
        for r in results:
            _print_items(r)
    _print_table(results)
    if ci:
        junit = junit or (out_dir / "junit.xml")
        summary = summary or (out_dir / "summary.md")
    if junit or summary or ci:
        from graders.report.ci import write_ci_outputs

        step = os.environ.get("GITHUB_STEP_SUMMARY") if ci else None
        write_ci_outputs(results, junit=junit, summary=summary,
                         append_summary=Path(step) if step and Path(step) != summary else None)
    if grader_errors:
        click.echo(f"{grader_errors} submission(s) hit a grader error; see above.", err=True)
        sys.exit(2)
    if fail_under is not None and any(r.total < fail_under for r in results):
        click.echo(f"Score below --fail-under {fail_under:g}.", err=True)
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for results: OUT/<submission>/result.json, feedback.md, feedback.html.")
@click.option("--parts", default="", help="Comma-separated parts to grade (theory,part1,…); default all.")
@click.option("--public-only", is_flag=True, help="Run only the public checks (an estimate; no hidden seed needed).")
@click.option("--hidden-seed", type=int, default=None, envvar="HW4_HIDDEN_SEED",
              help="Secret seed for hidden inputs (or set HW4_HIDDEN_SEED). Never share it with students.")
@click.option("--jobs", "-j", type=int, default=1, show_default=True, help="Submissions graded in parallel.")
@click.option("--rubric", "rubric_path", type=click.Path(exists=True, path_type=Path), default=None,
              help="Rubric file (default: the project's rubric.yaml).")
@_ci_options
def grade(paths, out_dir, parts, public_only, hidden_seed, jobs, rubric_path, ci, junit, summary, fail_under):
    """Grade PATHS: notebooks, a folder of one student's notebooks, or a folder of such folders.

    Prints a table of scores; writes one result.json and feedback per submission under --out.
    Exit status: 0 when grading ran; 2 on a grader error; 1 under --fail-under.
    """
    _run(paths, out_dir=out_dir, parts=parts, public_only=public_only, hidden_seed=hidden_seed, jobs=jobs,
         rubric_path=rubric_path, verbose_items=False, ci=ci, junit=junit, summary=summary, fail_under=fail_under)


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
    from graders.parts import all_parts

    parts = all_parts()
    notebooks = [Path(n) for n in notebooks]
    matched = {}
    for nb in notebooks:
        part = match_part(nb, parts) if nb.is_file() else None
        if part is None:
            raise click.ClickException(f"{nb}: not recognised as a notebook of this homework")
        matched.setdefault(part, nb)
    _run(notebooks, out_dir=out_dir, parts=",".join(matched), public_only=True, hidden_seed=None, jobs=1, rubric_path=None,
         verbose_items=True, ci=ci, junit=junit, summary=summary, fail_under=fail_under)
    click.echo("\nEstimated score: public checks only, written answers not included.")


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT if it already has files in it.")
def release(out, force):
    """Build the student bundle in OUT: blank notebooks, models, data, graders, public expected values.

    No reference solutions, solved notebooks or hidden seeds; the build fails if any would leak.
    """
    from graders.release import ReleaseError, build_bundle

    try:
        path = build_bundle(out, force=force)
    except (ReleaseError, PlanError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Student bundle written to {path}")


def _print_items(r) -> None:
    click.echo(f"\n{r.submission_id}")
    for it in r.items:
        mark = {"passed": "PASS", "partial": "PART", "failed": "FAIL", "error": "ERR ",
                "manual-pending": "TA  ", "manual": "TA  "}.get(it.status, "    ")
        click.echo(f"  {mark} {it.title}: {_fmt(it.score)}/{_fmt(it.max)}")
        if it.status not in ("passed", "manual-pending", "manual"):
            for c in it.checks:
                if not c.passed:
                    click.echo(f"         - {c.reason}")
            if not it.checks and it.reason:
                click.echo(f"         - {it.reason}")


def _print_table(results) -> None:
    if not results:
        return
    part_names = list(dict.fromkeys(p for r in results for p in r.parts))
    header = ["submission", *part_names, "total", "pending"]
    table = [header] + [[r.submission_id, *(_fmt(r.parts[p].score) if p in r.parts else "-" for p in part_names),
                         f"{_fmt(r.total)}/{_fmt(r.max)}", _fmt(r.manual_pending)] for r in results]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
