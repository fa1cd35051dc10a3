"""An nbgrader course of the homework, for timing ``nbgrader autograde`` against ``hw4 grade``.

The course is what an instructor using nbgrader would have made of HW4:

* ``source/hw4/``: each solved notebook (``reference/solutions/*.ipynb``) followed by one read-only
  helper cell and one autograder test cell per graded function or sympy checkpoint (1 point
  each), with the models and data next to them;
* ``submitted/<student>/hw4/``: the student's notebooks (the example reference or blank), each
  followed by the same helper and test cells — as if the student had filled in the released
  notebook — and the same models and data;
* ``nbgrader_config.py`` (course id, per-cell timeout as in ``rubric.yaml``) and a gradebook
  holding the students (``nbgrader db student import``) and the assignment
  (``nbgrader generate_assignment``).

A test cell calls the function on a fixed input (the inputs of the notebooks' own "try it" cells,
or the notebook's models and data) and compares the value, converted to plain JSON in the kernel,
with the reference's value: floats and arrays within rtol 1e-4 / atol 1e-5, sympy expressions by
``simplify(a - b) == 0``, figures by their number of axes, graphs by their nodes and edges. The
expected values are recorded once by running the source notebooks in record mode (the test cells
print their values instead of asserting) and cached with the notebooks' hash. These tests are far
fewer and cheaper than hw4's checks (no hidden inputs, no statistics, no error carried forward):
the timing is dominated by executing the notebooks, which is the point.
"""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "reference" / "solutions"
ASSIGNMENT = "hw4"
RECORD_MARK = "HW4-EXPECTED "

#: per notebook: (graded name, expression computing its value in the notebook's namespace)
TESTS: dict[str, list[tuple[str, str]]] = {
    "theory.ipynb": [(name, name) for name in (
        "Q1a_num_pairs", "Q1a_dloss", "Q1a_dloss_limits", "Q1b_shaped_reward", "Q1b_kl_two_outcomes",
        "Q1c_expected_reward", "Q1c_grad", "Q1d_score", "Q1d_policy_gradient", "Q1d_surrogate",
        "Q1e_k2", "Q1f_k3", "Q2a_Z", "Q2a_pi_star", "Q2a_kl_form", "Q2b_reward", "Q2b_preference",
        "Q2b_loss", "Q2c_weight", "Q2c_dlogp", "Q2c_grad")] + [
        ("reward_model_loss", "reward_model_loss(torch.tensor([[2.0, 0.5, -1.0], [0.3, 0.1, 0.4]]))"),
        ("kl_estimators", "kl_estimators(torch.tensor([-1.0, -2.0, -0.5]), torch.tensor([-1.5, -1.0, -0.7]))"),
        ("dpo_loss", "dpo_loss(torch.tensor([-10.0, -7.0]), torch.tensor([-12.0, -6.0]), "
                     "torch.tensor([-11.0, -7.5]), torch.tensor([-11.5, -6.5]), 0.1)"),
    ],
    "part1_sycophancy.ipynb": [
        ("next_token_ab_probs", "next_token_ab_probs(model, tokenizer, [to_conversation(ex) for ex in dataset[:8]])"),
        ("analysis_result", "[analysis_result(ex, {'A': 0.7, 'B': 0.2}) for ex in dataset[:4]]"
                            " + [analysis_result(dataset[0], {' A': 0.5, 'C': 0.1})]"),
        ("summarize", "summarize({'m1': [ResultRow(0.6, 0.2), ResultRow(0.1, 0.3)], "
                      "'m2': [ResultRow(0.5, 0.5)]})['mean'].sort_index()"),
        ("plot_summary", "plot_summary(summarize({'m1': [ResultRow(0.6, 0.2)], 'm2': [ResultRow(0.5, 0.5)]}))"),
    ],
    "part2_loss_landscape.ipynb": [
        ("compute_loss", "(lambda m, t: compute_loss(m, encode(t, 'The little dog')))(*load_model(MODEL_PATH))"),
        ("random_directions", "(lambda d: [cosine_similarity(*d), [float(p.norm()) for p in d[0][:3]]])"
                              "(random_directions(model, seed=1))"),
        ("loss_landscape", "loss_landscape(model, inputs, *random_directions(model, seed=2), "
                           "np.linspace(-0.5, 0.5, 3), np.linspace(-0.5, 0.5, 3))"),
        ("plot_landscape", "plot_landscape(xs, ys, Z)"),
    ],
    "part3_decoding_translation.ipynb": [
        ("beam_search_decoder", "beam_search_decoder(lm_model, lm_tokenizer, 'I have a dream', k=3, max_length=12)"),
        ("calculate_hamming_penalty", "[calculate_hamming_penalty([5, 6, 7, 8], [[5, 6, 9], [1, 6, 7, 8, 9]], 0.5), "
                                      "calculate_hamming_penalty([1, 2], [], 1.0)]"),
        ("enhanced_beam_search_decoder", "enhanced_beam_search_decoder(lm_model, lm_tokenizer, 'The little dog', k=3, "
                                         "max_length=16, n_gram_block_size=2, diversity_factor=0.5)"),
        ("calculate_bleu_score", "calculate_bleu_score(['the cat sat on the mat', 'a dog runs in the big park today'], "
                                 "['the cat sat on a mat', 'the dog runs in the big park'])"),
        ("translate", "[translate_seq2seq(t5_model, t5_tokenizer, test_en[:4]), "
                      "translate_decoder_only(translator_model, translator_tokenizer, test_en[:4])]"),
        ("get_attention_weights", "get_attention_weights('translate English to German: ' + test_en[0], "
                                  "t5_model, t5_tokenizer)"),
        ("plot_attention_heatmap", "plot_attention_heatmap(torch.rand(2, 1, 2, 3, 4, generator=torch.Generator()"
                                   ".manual_seed(0)), 1, 0, list('abcd'), list('xyz'), title='t')"),
    ],
    "part4_advanced_decoding.ipynb": [
        ("get_log_prob", "[get_log_prob(next_logits, i) for i in (0, 5, int(next_logits.argmax()))]"),
        ("greedy_search", "greedy_search(model, tokenizer, input_ids, 4)"),
        ("plot_tree", "plot_tree(greedy_search(model, tokenizer, input_ids, 3)[1])"),
        ("greedy_sampling", "greedy_sampling(next_logits, 3)"),
        ("top_k", "[top_k_filter(next_logits, 5), "
                  "top_k_sampling(next_logits, 0.8, 20, 2, torch.Generator().manual_seed(0))]"),
        ("plot_prob_distribution", "plot_prob_distribution(torch.softmax(next_logits, dim=-1), torch.tensor([0, 1]), "
                                   "tokenizer, total_nb=10, title='t', kept=5)"),
        ("nucleus", "[top_p_filter(next_logits, 0.5, 0.8, min_tokens_to_keep=2), "
                    "nucleus_sampling(next_logits, 0.8, 0.5, 2, torch.Generator().manual_seed(0))]"),
        ("tree_search", "(lambda g: [g, get_best_sequence(g)])"
                        "(beam_search(model, tokenizer, input_ids, 2, 2, 'greedy', 1.0, None))"),
    ],
}

#: the read-only cell before the tests: JSON conversion and comparison, run in the student's kernel
HELPER = r'''# autograder helpers (read-only)
import contextlib as _contextlib, io as _io, json as _json, math as _math, warnings as _warnings
_HW4_RECORD = object()


def _hw4_plain(x):
    """x as plain JSON data; arrays, sympy, figures and graphs tagged."""
    import numpy as np
    import sympy as sp
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, float, np.number, np.bool_)):
        return float(x)
    if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return {"$array": x.astype(float).ravel().tolist(), "shape": list(x.shape)}
    if isinstance(x, (sp.Basic, sp.MatrixBase)):
        return {"$sympy": sp.srepr(x)}
    if type(x).__name__ == "Series":
        return {"$series": {str(k): _hw4_plain(v) for k, v in x.items()}}
    if type(x).__name__ == "Figure":
        import matplotlib.pyplot as plt
        n_axes = len(x.axes)
        plt.close(x)
        return {"$figure": n_axes}
    if hasattr(x, "nodes") and hasattr(x, "edges"):
        return {"$graph": {"nodes": {str(n): _hw4_plain(d) for n, d in x.nodes(data=True)},
                           "edges": sorted([str(a), str(b)] for a, b in x.edges())}}
    if isinstance(x, dict):
        return {str(k): _hw4_plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_hw4_plain(v) for v in x]
    return {"$type": type(x).__name__}


def _hw4_same(got, expected):
    import numpy as np
    import sympy as sp
    if isinstance(expected, float):
        return isinstance(got, float) and (_math.isclose(got, expected, rel_tol=1e-4, abs_tol=1e-5)
                                           or got == expected or (got != got and expected != expected))
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(_hw4_same, got, expected))
    if isinstance(expected, dict) and "$array" in expected:
        return (isinstance(got, dict) and got.get("shape") == expected["shape"]
                and np.allclose(got["$array"], expected["$array"], rtol=1e-4, atol=1e-5, equal_nan=True))
    if isinstance(expected, dict) and "$sympy" in expected:
        if not (isinstance(got, dict) and "$sympy" in got):
            return False
        diff = sp.simplify(sp.sympify(got["$sympy"]) - sp.sympify(expected["$sympy"]))
        return diff == 0 or bool(getattr(diff, "is_zero_matrix", False))
    if isinstance(expected, dict):
        return (isinstance(got, dict) and got.keys() == expected.keys()
                and all(_hw4_same(got[k], v) for k, v in expected.items()))
    return got == expected


def _hw4_check(name, compute, expected):
    """Compute the value (warnings and stderr muted: nbgrader zeroes a test cell that writes to stderr)."""
    with _warnings.catch_warnings(), _contextlib.redirect_stderr(_io.StringIO()):
        _warnings.simplefilter("ignore")
        got = _hw4_plain(compute())
    if expected is _HW4_RECORD:
        print("''' + RECORD_MARK + r'''" + _json.dumps([name, got]))
        return
    assert _hw4_same(got, expected), f"{name}: not the expected value"
'''


def _cell(source: str, grade_id: str, *, points: int | None = None) -> dict:
    meta = {"grade": points is not None, "solution": False, "locked": True, "grade_id": grade_id,
            "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"cell_type": "code", "execution_count": None, "id": grade_id.replace("_", "-")[:64],
            "metadata": {"nbgrader": meta}, "outputs": [], "source": source}


def test_cells(notebook: str, expected: dict[str, object] | None) -> list[dict]:
    """The helper cell and one test cell per graded name; ``expected`` None: record mode."""
    cells = [_cell(HELPER, "hw4_test_helpers")]
    for name, expr in TESTS[notebook]:
        literal = "_HW4_RECORD" if expected is None else f"_json.loads({json.dumps(expected[name])!r})"
        cells.append(_cell(f"# autograder test: {name}\n_hw4_check({name!r}, lambda: {expr}, {literal})",
                           f"test_{name}", points=1))
    return cells


def with_tests(notebook_path: Path, expected: dict[str, object] | None) -> dict:
    """The notebook at ``notebook_path`` followed by its test cells (JSON, nbformat 4)."""
    nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    nb["nbformat_minor"] = max(nb.get("nbformat_minor", 0), 5)  # cell ids
    nb["cells"] = [c for c in nb["cells"] if "nbgrader" not in c.get("metadata", {})]
    nb["cells"] += test_cells(notebook_path.name, expected)
    return nb


def write_notebook(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def tests_fingerprint() -> str:
    """Hash of the solved notebooks and the tests: the cache key of the recorded expected values."""
    h = hashlib.sha256((HELPER + json.dumps(TESTS, sort_keys=True)).encode())
    for nb in sorted(SOLUTIONS.glob("*.ipynb")):
        h.update(nb.name.encode() + b"\0" + nb.read_bytes())
    return h.hexdigest()[:16]


def parse_recorded(executed_notebook: Path) -> dict[str, object]:
    """``{name: value}`` printed by the record-mode test cells of an executed notebook."""
    nb = json.loads(executed_notebook.read_text(encoding="utf-8"))
    found, errors = {}, []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"{out.get('ename')}: {out.get('evalue')}")
            text = out.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            for line in text.splitlines():
                if line.startswith(RECORD_MARK):
                    name, value = json.loads(line[len(RECORD_MARK):])
                    found[name] = value
    missing = [name for name, _ in TESTS[executed_notebook.name] if name not in found]
    if missing:
        raise RuntimeError(f"{executed_notebook.name}: no reference value for {missing} ({'; '.join(errors)[:2000]})")
    return found


def copy_assets(assets: Path, folder: Path) -> None:
    """Copy the models and data folder ``assets`` into ``folder`` (next to the notebooks)."""
    for entry in assets.iterdir():
        if entry.is_dir():
            shutil.copytree(entry, folder / entry.name, dirs_exist_ok=True)
        else:
            shutil.copy2(entry, folder / entry.name)


def write_course(course: Path, students: list[Path], expected: dict[str, dict], assets: Path,
                 *, cell_timeout: float) -> list[str]:
    """Write the course folder (config, source, submissions, students.csv); return the student ids.

    ``students`` are folders ``{STD_Number}_{Name}`` of notebooks; each becomes a student of that id.
    """
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {ASSIGNMENT!r}\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        f"c.Execute.timeout = {int(cell_timeout)}\n"
        "c.Execute.interrupt_on_timeout = True\n", encoding="utf-8")
    source = course / "source" / ASSIGNMENT
    for nb_path in sorted(SOLUTIONS.glob("*.ipynb")):
        write_notebook(with_tests(nb_path, expected[nb_path.name]), source / nb_path.name)
    copy_assets(assets, source)
    ids = []
    for student in students:
        folder = course / "submitted" / student.name / ASSIGNMENT
        for nb_path in sorted(student.glob("*.ipynb")):
            write_notebook(with_tests(nb_path, expected[nb_path.name]), folder / nb_path.name)
        copy_assets(assets, folder)
        ids.append(student.name)
    with open(course / "students.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "first_name", "last_name", "email"])
        for sid in ids:
            writer.writerow([sid, sid.split("_", 1)[-1], sid.split("_", 1)[0], ""])
    return ids


def max_score() -> int:
    return sum(len(tests) for tests in TESTS.values())
