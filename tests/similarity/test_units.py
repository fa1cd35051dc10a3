"""What is compared in one notebook: the student's own code per graded function, and the written answers."""
from __future__ import annotations

import pytest

from graders.homework import assets_dir
from graders.manual.cells import answer_in_cells
from graders.homework import all_parts
from graders.similarity.units import MAX_CELL_CHARS, notebook_units, read_template


@pytest.fixture(scope="module")
def template():
    spec = all_parts()["part4"]
    return read_template(assets_dir() / spec.notebook, "part4", tuple(spec.required_functions))


def code(src, **meta):
    return {"cell_type": "code", "source": src, "metadata": {"hw4": meta} if meta else {}, "outputs": []}


def units(cells, template):
    return notebook_units(cells, template, answer_text=lambda c, item: answer_in_cells(c, item))


def test_the_template_alone_has_nothing_to_compare(template):
    import json

    cells = json.loads((assets_dir() / all_parts()["part4"].notebook).read_text())["cells"]
    found = units(cells, template)
    assert found.units == {} and found.problems == []
    assert "get_log_prob" in template.functions and "part4.written" in template.answer_items
    assert {"torch", "nx", "get_log_prob"} <= template.names


def test_a_function_comes_with_the_helpers_it_uses_and_nothing_else(template):
    cells = [code('def _scale(x, t):\n    return _shift(x) / t\n\n\ndef _shift(x):\n    return x - x.max()\n'),
             code('def unused():\n    return 1\n'),
             code('def top_k_sampling(logits, temperature, top_k, beams, generator):\n'
                  '    """The template\'s docstring."""\n'
                  '    probs = torch.softmax(_scale(top_k_filter(logits, top_k), temperature), -1)\n'
                  '    return torch.multinomial(probs, beams, replacement=False, generator=generator)\n'),
             code('def top_k_filter(logits, top_k):\n    return logits\n')]
    text = units(cells, template).units["top_k_sampling"].text
    assert text.startswith("def top_k_sampling(") and "def _scale" in text and "def _shift" in text
    assert "docstring" not in text and "def unused" not in text
    assert "def top_k_filter" not in text  # another graded function: compared on its own
    assert text.index("def _scale") < text.index("def _shift")  # in the order the code uses them


def test_a_later_definition_replaces_an_earlier_one_and_locked_cells_do_not_count(template):
    cells = [code("def get_log_prob(logits, token_id):\n    return 1\n"),
             code("def get_log_prob(logits, token_id):\n    return float(torch.log_softmax(logits, -1)[token_id])\n"),
             code("def get_log_prob(logits, token_id):\n    return 3\n", locked=True, id="part4-setup")]
    assert "log_softmax" in units(cells, template).units["get_log_prob"].text


def test_magics_do_not_hide_a_cell_but_a_syntax_error_is_reported(template):
    magic = code("%matplotlib inline\n!pip list\ndef get_log_prob(logits, token_id):\n    return logits[token_id]\n")
    assert "get_log_prob" in units([magic], template).units
    broken = code("def greedy_sampling(logits, beams):\n    return torch.topk(logits beams)\n")
    unrelated = code("print(1 +)\n")
    found = units([broken, unrelated], template)
    assert found.units == {}
    assert found.problems == ["part4: cell 1 has a syntax error at line 2; greedy_sampling not compared"]


def test_hostile_cells_are_left_out_with_a_reason(template):
    huge = code("def beam_search(model, tokenizer, input_ids, length, beams, sampling, temperature, generator):\n"
                + "    x = 1\n" * (MAX_CELL_CHARS // 8))
    deep = code("def get_best_sequence(graph):\n    return " + "(" * 3000 + "1" + ")" * 3000 + "\n")
    cells = [huge, deep, "not a cell", {"cell_type": "code"}, code(["def get_log_prob(l, t):\n", "    return l\n"])]
    found = units(cells, template)
    assert set(found.units) == {"get_log_prob"}
    assert any("over 200,000 characters; beam_search" in p for p in found.problems)
    assert any("get_best_sequence not compared" in p for p in found.problems)


def test_written_answers_are_units(template):
    cells = [{"cell_type": "markdown", "source": "The nucleus adapts to the model's certainty.",
              "metadata": {"hw4": {"answer": "part4.written"}}},
             {"cell_type": "markdown", "source": "_Write your answer here._", "metadata": {}}]
    found = units(cells, template)
    assert found.units["part4.written"].kind == "written"
    assert found.units["part4.written"].text == "The nucleus adapts to the model's certainty."
