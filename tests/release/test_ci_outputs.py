"""CI views: JUnit XML valid against the schema CI servers read, a Markdown summary, a workflow."""
from pathlib import Path

import yaml
from lxml import etree

from graders.report.ci import junit_xml, markdown_summary
from graders.results import CheckResult, ItemResult, PartResult, SubmissionResult

ROOT = Path(__file__).resolve().parents[2]


def _result(public_only=False):
    items = (
        ItemResult("part4.top_k", "part4", "top_k_filter", 1.5, 3, "partial", checks=(
            CheckResult("part4.top_k.a", True, "passed"),
            CheckResult("part4.top_k.b", False, "failed", "top_k_filter kept 6 tokens for top_k=5"),
        )),
        ItemResult("part4.greedy", "part4", "greedy", 0, 3, "error", checks=(
            CheckResult("part4.greedy.a", False, "error", "the kernel died in cell 3 <&>"),)),
        ItemResult("part4.empty", "part4", "not yet", 0, 1, "error", reason="no automatic checks exist"),
        ItemResult("part4.written", "part4", "Written", 0, 1, "manual-pending", manual=True),
    )
    return SubmissionResult("401_Sara", "401", "Sara", 1.5, 15, 1.5, 1, {"part4": PartResult("part4", 1.5, 15)},
                            items, public_only=public_only)


def test_junit_is_valid_and_carries_reasons():
    schema = etree.XMLSchema(etree.parse(str(ROOT / "tests" / "data" / "junit.xsd")))
    doc = etree.fromstring(junit_xml([_result(), _result()]).encode())
    schema.assertValid(doc)
    cases = doc.findall(".//testcase")
    assert len(cases) == 2 * 5
    failure = doc.find(".//testcase[@name='part4.top_k.b']/failure")
    assert failure.get("message") == "top_k_filter kept 6 tokens for top_k=5"
    assert doc.find(".//testcase[@name='part4.greedy.a']/error").get("message") == "the kernel died in cell 3 <&>"
    assert doc.find(".//testcase/skipped") is not None
    assert doc.get("failures") == "2" and doc.get("errors") == "4"


def test_markdown_summary_lists_failures_and_labels_estimates():
    text = markdown_summary([_result(public_only=True)])
    assert "public checks only, written answers not included" in text
    assert "| 401_Sara | 1.5 / 15 | 1 | 2 |" in text
    assert "top_k_filter kept 6 tokens for top_k=5" in text


def test_sample_workflow_is_valid_yaml_that_runs_the_self_check():
    wf = yaml.safe_load((ROOT / "graders" / "bundle" / "hw4-self-check.yml").read_text())
    steps = wf["jobs"]["self-check"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "torch==2.13.0" in runs and "hw4 check" in runs and "--junit" in runs
    assert True in wf or "on" in wf  # YAML 1.1 reads the key `on` as True
