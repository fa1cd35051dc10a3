"""What a student reads in the terminal after `hw4 check` (also `tox -e check`).

The blank Part 4 notebook, checked twice as a student would (a subprocess, cwd the repository):

* each cause is printed once, after what was checked, in words (no identical reasons twice);
* a call that raised names every argument (`title`, `kept`: never "argument 5");
* it speaks to the student: no batch words (submissions, workers, "unchanged since the last run
  (kept)"), and a second check of an unchanged notebook says so in the student's terms;
* it says where it wrote the feedback page;
* no library warning reaches the terminal (Part 2 printed transformers' `loss_type=None` one).
"""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from helpers import blank_notebook

ROOT = Path(__file__).resolve().parents[2]


def _check(notebook: Path, out: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "graders.cli", "check", str(notebook), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    out = tmp_path_factory.mktemp("self-check") / "hw4-check"
    notebook = blank_notebook("part4")
    return out, _check(notebook, out), _check(notebook, out)


def test_each_cause_is_printed_once_after_what_was_checked(checked):
    _, first, _ = checked
    lines = first.stdout.splitlines()
    reasons = [ln for ln in lines if ln.startswith("         ")]
    assert reasons and [r for r, n in Counter(reasons).items() if n > 1] == []
    greedy = lines.index("       - greedy_search's output_ids equal greedy decoding (going on after the end-of-text "
                         "token); greedy_search's graph is the path of the chosen tokens with their tokenscore "
                         "(2 checks)")
    assert lines[greedy + 1].startswith("         even with the reference `get_log_prob`: `greedy_search`() raised "
                                        "NotImplementedError: greedy_search is not implemented yet — ")
    log_prob = lines.index("       - get_log_prob returns log softmax(logits)[token_id] as a Python float")
    assert lines[log_prob + 1].startswith("         `get_log_prob`() raised NotImplementedError")
    assert "part4." not in first.stdout  # the ids are in the feedback page, not in the student's way


def test_a_call_that_raised_names_every_argument(checked):
    _, first, _ = checked
    assert "argument " not in first.stdout
    assert ("`plot_prob_distribution` was called with probabilities = a torch.Tensor of shape [300] (float32) "
            "([vocab_size], summing to 1), selected = a torch.Tensor of shape [2] (int64) ([n] ids), tokenizer = "
            "the tiny-lm tokenizer, total_nb = 15, title = \"grader's distribution\" and kept = 6") in first.stdout


def test_it_speaks_to_the_student_and_says_where_the_page_is(checked):
    out, first, again = checked
    page = out / "part4_advanced_decoding" / "feedback.html"
    assert page.is_file() and f"  Feedback page: {page}\n" in first.stdout
    shown = (first.stdout + first.stderr).casefold()
    for batch_word in ("submission", "worker", "graded,", "unchanged since the last run", "(kept)", "grader errors"):
        assert batch_word not in shown, batch_word
    assert "part4_advanced_decoding.ipynb (part4): 0 / 15 from the public checks" in first.stdout
    assert "Estimated score: public checks only, written answers not included." in first.stdout
    assert "has not changed since your last check" in again.stdout
    assert "has not changed" not in first.stdout
    assert [ln for ln in again.stdout.splitlines() if ln.startswith("       ")] == \
        [ln for ln in first.stdout.splitlines() if ln.startswith("       ")]


def test_the_terminal_carries_no_library_warning(tmp_path):
    """Part 2's expected loss (labels=) printed "[transformers] `loss_type=None` was set in the config
    but it is unrecognized" on every run: it read as an error."""
    proc = _check(blank_notebook("part2"), tmp_path / "hw4-check")
    shown = proc.stdout + proc.stderr
    assert "part2_loss_landscape.ipynb (part2): 0 / " in proc.stdout
    assert "[transformers]" not in shown and "loss_type" not in shown
