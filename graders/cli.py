"""The ``hw4`` command: thin over the library (parse, call, print)."""
from __future__ import annotations

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
def grade(paths, out_dir, parts, public_only, hidden_seed, jobs, rubric_path):
    """Grade PATHS: notebooks, a folder of one student's notebooks, or a folder of such folders.

    Prints a table of scores; writes one result.json and feedback per submission under --out.
    """
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
    rows, failures = [], 0
    for n, (sid, result, error) in enumerate(grade_all(subs, plan, out_dir, jobs=jobs), 1):
        elapsed = time.monotonic() - start
        eta = elapsed / n * (len(subs) - n)
        if result is None:
            failures += 1
            click.echo(f"[{n}/{len(subs)}] {sid}: GRADER ERROR\n{error}", err=True)
            continue
        click.echo(f"[{n}/{len(subs)}] {sid}: {_fmt(result.total)}/{_fmt(result.max)}  "
                   f"({elapsed:.0f} s elapsed, ~{eta:.0f} s left)", err=True)
        rows.append(result)
    _print_table(sorted(rows, key=lambda r: r.submission_id))
    if failures:
        click.echo(f"{failures} submission(s) hit a grader error; see above.", err=True)
        sys.exit(2)


def _print_table(results) -> None:
    if not results:
        return
    part_names = list(results[0].parts)
    header = ["submission", *part_names, "total", "pending"]
    table = [header] + [[r.submission_id, *(_fmt(r.parts[p].score) if p in r.parts else "-" for p in part_names),
                         f"{_fmt(r.total)}/{_fmt(r.max)}", _fmt(r.manual_pending)] for r in results]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
