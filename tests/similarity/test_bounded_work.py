"""A hostile unit costs work linear in its size (counted, never timed), and only its own comparison."""
from __future__ import annotations

import nbformat

from adversarial.round2_similarity import FUNCTION, STUDENTS, attacked_source, write_attack
from class_kit import write_intake
from graders.homework import assets_dir
from graders.homework import all_parts
from graders.similarity import analyse, tokens, units
from graders.similarity.tokens import STRING, code_tokens
from graders.similarity.units import MAX_UNIT_CHARS, notebook_units, read_template
from helpers import solved_notebook

JOINED = 66_000
PENALTY = '''def calculate_hamming_penalty(sequence, all_sequences, diversity_factor):
    agreements = 0
    for other in all_sequences:
        agreements += sum(1 for a, b in zip(sequence, other) if a == b)
    return float(diversity_factor * agreements)
'''


class _Counted:
    """A token list that counts how many tokens are read from it."""

    def __init__(self, raw, reads):
        self.raw, self.reads = raw, reads

    def __len__(self):
        return len(self.raw)

    def __getitem__(self, j):
        self.reads[0] += 1
        return self.raw[j]


def _reads_of_bare_string_scans(monkeypatch, text):
    reads = [0]
    real = tokens._bare_string_end
    monkeypatch.setattr(tokens, "_bare_string_end", lambda raw, i: real(_Counted(raw, reads), i))
    return code_tokens(text, skip_header=True), reads[0]


def test_a_bare_statement_of_66000_joined_strings_is_scanned_once(monkeypatch):
    attacked = attacked_source(PENALTY, JOINED)
    found, reads = _reads_of_bare_string_scans(monkeypatch, attacked)
    assert reads <= JOINED + 2  # once over the statement; each literal rescanning the rest read ~2.2e9
    assert [t.value for t in found] == [t.value for t in code_tokens(PENALTY, skip_header=True)]


def test_strings_that_are_not_a_bare_statement_are_kept_and_scanned_linearly(monkeypatch):
    assigned = PENALTY.replace("    agreements = 0\n", "    agreements = 0\n    note = " + '"" ' * JOINED + "\n")
    found, reads = _reads_of_bare_string_scans(monkeypatch, assigned)
    assert reads == 0 and [t.value for t in found].count(STRING) == JOINED
    # every statement starts with a string and goes on: one short scan each, not one to the end of the text
    leading = "x = 0\n" + '"".join(a)\n' * 10_000
    found, reads = _reads_of_bare_string_scans(monkeypatch, leading)
    assert reads == 2 * 10_000 and [t.value for t in found].count(STRING) == 10_000
    # bare string statements between others are still dropped, and only they
    mixed = 'x = 1; "a" "b"; y = "c" "d"\n"e"\nz = 2\n'
    assert [t.value for t in code_tokens(mixed)] == ["V", "=", "1", ";", "V", "=", "S", "S", ";", "V", "=", "2"]


def _template(part):
    spec = all_parts()[part]
    return read_template(assets_dir() / spec.notebook, part, tuple(spec.required_functions))


def _code(src):
    return {"cell_type": "code", "source": src, "metadata": {}, "outputs": []}


def test_helpers_adding_up_past_the_bound_stop_the_walk_and_cost_only_that_function(monkeypatch):
    template = _template("part3")
    size = 1000
    helpers = ["\n".join([f"def h{i}():", f"    return h{i + 1}()  # " + "x" * size]) for i in range(1000)]
    cells = [_code("\n\n".join(helpers[j:j + 100])) for j in range(0, 1000, 100)]
    cells.append(_code("def calculate_hamming_penalty(sequence, all_sequences, diversity_factor):\n"
                       "    return h0()\n"))
    cells.append(_code("def calculate_bleu_score(predictions, references):\n    return 0.0\n"))
    walked = [0]
    real = units._referenced
    monkeypatch.setattr(units, "_referenced", lambda node: (walked.__setitem__(0, walked[0] + 1), real(node))[1])
    found = notebook_units(cells, template, answer_text=lambda c, item: None)
    assert found.problems == [f"part3: {FUNCTION} with the helpers it uses has over {MAX_UNIT_CHARS:,} "
                              f"characters; {FUNCTION} not compared"]
    assert set(found.units) == {"calculate_bleu_score"}
    assert walked[0] <= MAX_UNIT_CHARS // size + 2  # the walk stopped at the bound, not at the 1000th helper
    under = notebook_units([cells[0], *cells[-2:]], template, answer_text=lambda c, item: None)
    assert under.problems == [] and "def h99()" in under.units[FUNCTION].text  # compared, helpers and all


def test_a_class_with_the_round2_attack_is_compared_in_full(tmp_path):
    attacked = write_attack(tmp_path / "class", JOINED)
    assert all(len(c.source) < units.MAX_CELL_CHARS for p in attacked for c in nbformat.read(p, as_version=4).cells)
    notebooks = {p.parent.name: {"part3": str(p)} for p in attacked}
    notebooks["401000001_Ref"] = {"part3": str(solved_notebook("part3"))}
    out = tmp_path / "out"
    out.mkdir()
    write_intake(out, notebooks)
    analysis = analyse(out, parts=["part3"])
    assert analysis.problems == []
    penalty = next(c for c in analysis.compared if c.unit == FUNCTION)
    assert set(penalty.sizes) == {*STUDENTS, "401000001_Ref"}
    flagged = {(p.unit, p.a, p.b) for p in analysis.flagged}
    # the literals are dropped as a bare string statement: the attacked function is the reference's
    assert {(FUNCTION, STUDENTS[0], STUDENTS[1]), (FUNCTION, "401000001_Ref", STUDENTS[0])} <= flagged
    assert {"calculate_bleu_score", "beam_search_decoder"} <= {unit for unit, _, _ in flagged}
