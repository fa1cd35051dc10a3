"""Graded on real kernels (tiny notebooks, about a second each): outputs.json holds what the student's
cells printed in the grader's own first run, under their submitted-notebook index — never a probe's."""
from __future__ import annotations

import json

import nbformat

import graders.evidence
import graders.pipeline
from batch.batch_kit import GOOD, make_plan, notebook
from graders.batch import grade_all
from graders.checks import AllClose, Check
from graders.evidence import FILE, read_outputs
from graders.execute import run_notebook
from graders.intake import Submission
from graders.pipeline import grade_submission
from graders.probe.spec import Probe
from graders.rubric import Limits
from helpers import notebook_from_cells

CELLS = [
    "print('hello \\x1b[31mred\\x1b[0m')",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()  # the inline backend, as in Jupyter",
    "from IPython.display import HTML, display\ndisplay(HTML('<script>alert(1)</script>'))\n"
    "shown = display('before the probes', display_id=True)",
    "def double(x):\n    print('probe input', x)\n    shown.update('changed by a probe')\n    return [2 * v for v in x]",
    "raise ValueError('boom')",
]


def student_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# alpha")]
    for source in CELLS:
        nb.cells += [nbformat.v4.new_code_cell(source), nbformat.v4.new_markdown_cell("words")]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="a faked output")]
    nb.metadata["hw4"] = {"part": "alpha", "format": 1}
    path = tmp_path / "class" / "401000001_Ali" / "alpha.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return Submission(id="401000001_Ali", student_id="401000001", name="Ali", source=path.parent,
                      notebooks={"alpha": path}, scope=("alpha",))


def printing_student(tmp_path, text: str = "hi") -> Submission:
    path = tmp_path / "class" / "401000002_Sara" / "alpha.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook("alpha", f"print({text!r})\n" + GOOD["alpha"]), encoding="utf-8")
    return Submission(id="401000002_Sara", student_id="401000002", name="Sara", source=path.parent,
                      notebooks={"alpha": path}, scope=("alpha",))


def test_outputs_json_holds_the_text_figure_and_error_of_the_graded_run_beside_the_result(tmp_path):
    sub, plan, out = student_notebook(tmp_path), make_plan(("alpha",)), tmp_path / "out"
    result = grade_submission(sub, plan, out)
    assert result.parts["alpha"].score > 0  # the checks ran, and called double
    folder = out / sub.id
    assert {p.name for p in folder.iterdir()} == {"result.json", "feedback.md", "feedback.html", FILE}
    cells = read_outputs(folder)["alpha"]
    # code cells sit at 1, 3, 5, 7, 9 of the submitted notebook; the cell defining double printed nothing
    assert sorted(cells) == [1, 3, 5, 9]
    assert cells[1] == [{"kind": "text", "text": "hello red\n"}]  # not the faked output, no escape sequence
    [figure] = cells[3]
    assert figure["kind"] == "image" and figure["mime"] == "image/png" and figure["data"].startswith("iVBOR")
    # the HTML is only its plain text; the display a probe updated is as the student's cell left it
    assert cells[5] == [{"kind": "text", "text": "<IPython.core.display.HTML object>"},
                        {"kind": "text", "text": "'before the probes'"}]
    assert cells[9] == [{"kind": "error", "text": "ValueError: boom"}]
    text = (folder / FILE).read_text()
    assert "probe input" not in text and "changed by a probe" not in text and "<script>" not in text

    # an unchanged submission is skipped and its outputs stay as they were
    before = (folder / FILE).read_bytes()
    [event] = list(grade_all([sub], plan, out))
    assert event.skipped and (folder / FILE).read_bytes() == before


TOKEN = "import os\ntoken = float(int.from_bytes(os.urandom(6), 'big'))\nprint(token)"
CHECKS = [
    Check("t.kill", "t", (Probe("kill", "kill", ()),), AllClose("kill", 0.0)),
    Check("t.token", "t", (Probe("token", "the_token", ()),), AllClose("token", 0.0)),
]


def test_a_restarted_kernel_keeps_the_first_runs_outputs():
    path = notebook_from_cells([TOKEN, "def kill():\n    import os; os._exit(3)",
                                "def the_token():\n    return token"])
    run = run_notebook(path, CHECKS, limits=Limits(cell_timeout=10, notebook_timeout=60, probe_timeout=10))
    assert "kernel died" in CHECKS[0].result(run.outcomes).reason
    [printed] = run.outputs[0]
    rerun_token = run.outcomes["token"].value  # asked after the restart: the cells' second run
    assert isinstance(rerun_token, float) and float(printed["text"]) != rerun_token
    assert list(run.outputs) == [0]
    json.dumps(run.outputs)  # plain data


def test_outputs_are_written_before_the_result_and_a_failure_to_write_them_never_fails_grading(tmp_path, monkeypatch):
    sub, plan, out = printing_student(tmp_path), make_plan(("alpha",)), tmp_path / "out"
    seen = []
    save = graders.pipeline.save_submission
    monkeypatch.setattr(graders.pipeline, "save_submission",
                        lambda path, result: (seen.append(read_outputs(path.parent)), save(path, result)))
    grade_submission(sub, plan, out)
    assert seen == [{"alpha": {1: [{"kind": "text", "text": "hi\n"}]}}]  # on disk before result.json

    def full(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(graders.evidence, "write_json_atomic", full)
    result = grade_submission(printing_student(tmp_path, "changed"), plan, out)  # regraded, outputs not writable
    assert result.total == 30.0 and (out / sub.id / "result.json").is_file()
    assert not (out / sub.id / FILE).exists()  # the older run's outputs are not left beside the new result


def test_a_cell_that_runs_out_of_time_keeps_what_it_printed():
    path = notebook_from_cells(["import time\nprint('before', flush=True)\nwhile True:\n    time.sleep(0.05)",
                                "print('after')"])
    run = run_notebook(path, [], limits=Limits(cell_timeout=3, notebook_timeout=60, probe_timeout=10))
    assert run.summary.cells[0].status == "timeout"
    assert run.outputs[0][0] == {"kind": "text", "text": "before\n"}
    assert all(o["kind"] in ("text", "error") for o in run.outputs[0])
    assert run.outputs[1] == [{"kind": "text", "text": "after\n"}]


def test_figures_do_not_use_up_a_cells_output_and_a_flood_of_them_is_still_cut():
    path = notebook_from_cells([
        "import matplotlib.pyplot as plt\nfor k in range(2):\n    plt.imshow([[k, 1], [1, 0]])\n    plt.show()\n"
        "print('after the figures')",
        "import numpy as np\nfor k in range(40):\n    plt.imshow(np.random.default_rng(k).random((300, 300)))\n    plt.show()"])
    run = run_notebook(path, [], limits=Limits(cell_timeout=60, notebook_timeout=120, probe_timeout=10))
    assert [o["kind"] for o in run.outputs[0]] == ["image", "image", "text"]
    assert run.outputs[0][2]["text"] == "after the figures\n"
    flood = run.outputs[1]
    assert 3 < sum(o["kind"] == "image" for o in flood) < 40
    assert flood[-1] == {"kind": "text", "text": "[output truncated by the grader]\n"}
