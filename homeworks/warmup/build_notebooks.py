"""Writes the warm-up's notebooks: the blank ones students get (assignments/) and the solved ones
(reference/solutions/), from the same cells, so the two never drift. Run: python build_notebooks.py"""
import ast
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
KEY = "warmup"  # homework.yaml's metadata_key

FUNCTIONS = ("softmax", "entropy", "kl_divergence")


def _functions() -> dict[str, tuple[str, str]]:
    """name → (its def line and docstring, its body), cut from reference/warmup.py."""
    text = (HERE / "reference" / "warmup.py").read_text(encoding="utf-8")
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name in FUNCTIONS:
            lines = text.splitlines(keepends=True)
            head = "".join(lines[node.lineno - 1:node.body[0].end_lineno])
            found[node.name] = (head, "".join(lines[node.body[1].lineno - 1:node.end_lineno]))
    return found


TODO = '    raise NotImplementedError("{name} is not implemented yet")\n'


def _notebook(part: str, cells: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {KEY: {"part": part, "format": 1},
                   "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for n, cell in enumerate(nb.cells):
        cell["id"] = f"{part}-{n}"
    return nb


def _locked(source: str, cid: str):
    return nbformat.v4.new_code_cell(source, metadata={KEY: {"locked": True, "id": cid}})


def warmup(solved: bool) -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_markdown_cell("# Warm-up 1: softmax, entropy, KL\n\nImplement the three functions "
                                           "below with numpy."),
             _locked("import numpy as np", "warmup-setup")]
    for name, (head, body) in _functions().items():
        body = body if solved else TODO.format(name=name)
        cells.append(nbformat.v4.new_code_cell(head + body, metadata={KEY: {"solution": [name]}}))
    cells.append(nbformat.v4.new_code_cell("print(softmax([1.0, 2.0, 3.0], 0.5))"))
    return _notebook("warmup", cells)


def derivation(solved: bool) -> nbformat.NotebookNode:
    answer = ("At a low temperature the largest logit dominates logits / T, so the softmax puts almost all "
              "its mass on the argmax token: sampling from it becomes greedy decoding.") if solved else \
        "_Write your answer here._"
    cells = [nbformat.v4.new_markdown_cell("# Warm-up 2: a derivative\n\nGive `D_logsigmoid`, the derivative of "
                                           "log(sigmoid(x)) in x, as a sympy expression in `x`."),
             _locked('import sympy as sp\n\nx = sp.Symbol("x", real=True)', "derivation-setup"),
             nbformat.v4.new_code_cell("D_logsigmoid = " + ("sp.diff(sp.log(1 / (1 + sp.exp(-x))), x)" if solved
                                                              else "None  # your answer")),
             nbformat.v4.new_markdown_cell("**Question.** Why does sampling at a temperature close to 0 "
                                           "behave like greedy decoding?"),
             nbformat.v4.new_markdown_cell(answer, metadata={KEY: {"answer": "derivation.written"}})]
    return _notebook("derivation", cells)


def main() -> None:
    for build in (warmup, derivation):
        nbformat.write(build(False), HERE / "assignments" / f"{build.__name__}.ipynb")
        nbformat.write(build(True), HERE / "reference" / "solutions" / f"{build.__name__}.ipynb")


if __name__ == "__main__":
    main()
