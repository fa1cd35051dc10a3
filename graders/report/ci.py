"""Machine-readable views for CI: JUnit XML (one test case per check) and a Markdown summary.

JUnit: a ``testsuite`` per submission and part, a ``testcase`` per check (classname = item id,
name = check id); a failed check is a ``failure`` and a check that could not be graded an
``error``, each with the student-facing reason as its message. Manual items are ``skipped``.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

from graders.report.feedback import _fmt
from graders.results import SubmissionResult
from graders.homework import active


def junit_xml(results: Sequence[SubmissionResult]) -> str:
    suites = ET.Element("testsuites", name="hw4")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for r in results:
        for part in r.parts:
            items = [i for i in r.items if i.part == part]
            suite = ET.SubElement(suites, "testsuite", name=f"{r.submission_id}.{part}")
            counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
            for item in items:
                if item.manual:
                    case = ET.SubElement(suite, "testcase", classname=item.id, name=f"{item.id} (written answer)")
                    ET.SubElement(case, "skipped", message="graded by a TA")
                    counts["tests"] += 1
                    counts["skipped"] += 1
                    continue
                if not item.checks:
                    case = ET.SubElement(suite, "testcase", classname=item.id, name=item.id)
                    ET.SubElement(case, "error", message=item.reason or "not graded", type="NotGraded")
                    counts["tests"] += 1
                    counts["errors"] += 1
                    continue
                for check in item.checks:
                    case = ET.SubElement(suite, "testcase", classname=item.id, name=check.id)
                    counts["tests"] += 1
                    if check.status == "failed":
                        ET.SubElement(case, "failure", message=check.reason, type="WrongAnswer").text = check.reason
                        counts["failures"] += 1
                    elif check.status == "error":
                        ET.SubElement(case, "error", message=check.reason, type="NotGradable").text = check.reason
                        counts["errors"] += 1
            for k, v in counts.items():
                suite.set(k, str(v))
                totals[k] += v
    for k in ("tests", "failures", "errors"):  # testsuites carries no "skipped" in the JUnit schema
        suites.set(k, str(totals[k]))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def markdown_summary(results: Sequence[SubmissionResult]) -> str:
    lines = [f"## {active().name} grading summary", ""]
    if results and results[0].public_only:
        lines += ["_Estimated: public checks only, written answers not included._", ""]
    lines += ["| Submission | Score | Written answers pending | Failed checks |", "|---|---:|---:|---:|"]
    for r in results:
        failed = sum(1 for i in r.items for c in i.checks if not c.passed)
        lines.append(f"| {r.submission_id} | {_fmt(r.total)} / {_fmt(r.max)} | {_fmt(r.manual_pending)} | {failed} |")
    for r in results:
        bad = [(i, c) for i in r.items for c in i.checks if not c.passed]
        if bad:
            lines += ["", f"<details><summary>{r.submission_id}: {len(bad)} failed check(s)</summary>", ""]
            lines += [f"- `{c.id}` ({i.title}): {c.reason}" for i, c in bad]
            lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write_ci_outputs(results: Sequence[SubmissionResult], *, junit: Path | None = None,
                     summary: Path | None = None, append_summary: Path | None = None) -> None:
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
        Path(junit).write_text(junit_xml(results), encoding="utf-8")
    text = markdown_summary(results)
    if summary:
        Path(summary).parent.mkdir(parents=True, exist_ok=True)
        Path(summary).write_text(text, encoding="utf-8")
    if append_summary:
        with open(append_summary, "a", encoding="utf-8") as fh:
            fh.write(text)
