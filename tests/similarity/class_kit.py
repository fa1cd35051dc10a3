"""A small class with planted copies, and independent correct solutions, for the similarity tests.

Students (submission ids ``{STD}_{Name}``):

* ``401000001_Ref``      the solved notebooks (every part) and original written answers;
* ``401000002_Copy``     a disguised copy of Ref: every name the student chose renamed, the
  functions of each cell in reverse order, comments removed and others written, blank lines
  added; written answers copied with case, punctuation, line breaks and a few words changed;
* ``401000003_Alt``      independent correct solutions written differently — the alternative-
  solution fixtures of the grading tests (Part 1 ALT_1, Part 2 ALTERNATIVE_1, Part 3 and Part 4
  both alternatives, which rewrite disjoint sets of functions, and a ``greedy_sampling`` of its
  own) — and its own written answers (in the blank theory notebook);
* ``401000004_Alt2``     the other alternatives of Parts 1 and 2, its own written answers;
* ``401000005_Helper``   Part 3 with only ``calculate_bleu_score`` done, through a helper of its own;
* ``401000006_Inliner``  a copy of Helper with that helper inlined, then disguised;
* ``401000007_Blank``, ``401000008_Blank2`` the assignment notebooks untouched.

Planted pairs: (Ref, Copy) and (Helper, Inliner). Every other pair is independent work on the
functions it is compared on.
"""
from __future__ import annotations

import ast
import inspect
import io
import json
import re
import sys
import tokenize
from pathlib import Path

import nbformat

from graders.homework import all_parts
from graders.similarity.tokens import bound_names
from helpers import ROOT, blank_notebook, mutant, solved_notebook

REF, COPY, ALT, ALT2 = "401000001_Ref", "401000002_Copy", "401000003_Alt", "401000004_Alt2"
HELPER, INLINER, BLANK, BLANK2 = "401000005_Helper", "401000006_Inliner", "401000007_Blank", "401000008_Blank2"
PLANTED = {(REF, COPY), (HELPER, INLINER)}
PARTS = ("theory", "part1", "part2", "part3", "part4")

# --- written answers --------------------------------------------------------------------------

ANSWERS = {
    REF: {
        "theory.q1a.written": (
            "The loss only depends on the difference of the two rewards through log sigmoid. Once the "
            "preferred response already scores far above the other one, the sigmoid saturates and the "
            "gradient of the loss goes to zero, so the model gains nothing by pushing the gap further. "
            "This keeps the rewards on a sensible scale and avoids overfitting to the labellers. The "
            "factor one over K choose 2 averages over the comparisons, so a prompt with many ranked "
            "answers does not dominate the batch."),
        "part1.written": (
            "The tiny model gives the matching answer a mean ratio close to one half, and the standard "
            "error over four hundred rows is small, so it is hardly sycophantic at all. The API models "
            "are ranked in the same order as their true rates, with the newest one the most sycophantic. "
            "The remaining mass rule gives a missing label whatever probability is left over, which "
            "pulls rows without A or B towards the middle instead of to an extreme."),
    },
    ALT: {
        "theory.q1a.written": (
            "Look at the derivative of minus log sigma with respect to Delta: it is sigma(Delta) minus 1, "
            "bounded between -1 and 0. When Delta is huge the update vanishes, so there is no reward for "
            "separating scores without limit; the scores stay comparable across prompts. Dividing by "
            "binomial(K, 2) turns the sum over pairs into a mean, making rankings of different sizes "
            "weigh the same."),
        "part1.written": (
            "tiny-lm barely prefers the answer the user wants: its ratio is about 0.5 with a narrow "
            "confidence interval. Of the synthetic API models the third is worst, matching its "
            "constructed rate. If a label is absent from the top five we assign it the leftover mass; "
            "setting it to zero instead would push those rows to 0 or 1 and move the mean."),
    },
    ALT2: {
        "theory.q1a.written": (
            "Because the log-sigmoid flattens out, a pair that is already ordered correctly by a wide "
            "margin contributes almost no gradient. Large gaps are therefore never encouraged, which "
            "regularises the reward model. Normalising by the number of pairs makes each prompt count "
            "once however many completions were ranked for it."),
    },
}


def _copied_answer(text: str) -> str:
    """What a student does to someone else's paragraph: case, punctuation, line breaks, a few words."""
    swaps = {"keeps": "holds", "small": "tiny", "gives": "assigns", "sensible": "reasonable",
             "hardly": "barely", "pulls": "drags"}
    words = [swaps.get(w, w) for w in text.split(" ")]
    return " ".join(words).replace(", ", " - ").replace(". ", ".\n\n").lower()


ANSWERS[COPY] = {item: _copied_answer(text) for item, text in ANSWERS[REF].items()}

# --- disguising code ----------------------------------------------------------------------------


def _reorder_defs(source: str) -> str:
    """A cell made only of defs (and imports) with its defs in reverse order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.split("\n")
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    if len(defs) < 2 or any(not isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom))
                            for n in tree.body):
        return source
    blocks = ["\n".join(lines[min([n.lineno, *(d.lineno for d in n.decorator_list)]) - 1:n.end_lineno])
              for n in tree.body]
    imports = [b for b, n in zip(blocks, tree.body) if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    functions = [b for b, n in zip(blocks, tree.body) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return "\n\n\n".join(imports + functions[::-1]) + "\n"


def _renames(source: str, keep: set[str]) -> dict[str, str]:
    tree = ast.parse(source)
    imported = {(n.asname or n.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.alias)}
    names = sorted(bound_names(tree) - keep - imported)
    return {name: f"my_{name.strip('_')}_{i}" for i, name in enumerate(names)}


def disguise(source: str, *, keep: set[str]) -> str:
    """``source`` as a student hiding a copy would leave it: every name it binds renamed (not those in
    ``keep``), its defs reordered, its comments replaced, blank lines added."""
    source = _reorder_defs(source)
    try:
        renames = _renames(source, keep)
        toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (SyntaxError, tokenize.TokenError):
        return source
    lines = source.split("\n")
    edits = []  # (row, col_start, col_end, replacement), applied from the end
    for i, tok in enumerate(toks):
        if tok.type == tokenize.COMMENT:
            edits.append((tok.start[0], tok.start[1], tok.end[1], ""))
        elif tok.type == tokenize.NAME and tok.string in renames:
            prev = toks[i - 1].string if i else ""
            nxt = toks[i + 1].string if i + 1 < len(toks) else ""
            if prev == "." or (nxt == "=" and prev in ("(", ",") and not _in_def_header(toks, i)):
                continue
            edits.append((tok.start[0], tok.start[1], tok.end[1], renames[tok.string]))
    for row, a, b, text in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = (line[:a] + text + line[b:]).rstrip() if not text else line[:a] + text + line[b:]
    out = []
    for n, line in enumerate(lines):
        stripped = line.strip()
        indent = line[:len(line) - len(line.lstrip())]
        if stripped.startswith(("for ", "if ", "return ", "while ")):
            out.append(f"{indent}# {['next step', 'loop over it', 'done here', 'careful'][n % 4]}")
        out.append(line)
        if stripped.endswith(")") and n % 3 == 0:
            out.append("")
    return "\n".join(out)


def _in_def_header(toks, i) -> bool:
    for tok in reversed(toks[:i]):
        if tok.type == tokenize.NEWLINE:
            return False
        if tok.type == tokenize.NAME and tok.string in ("def", "lambda"):
            return True
    return False


# --- the notebooks -----------------------------------------------------------------------------

HELPER_BLEU = '''
def ngram_counts(words, n):
    """Every n-gram of a word list with its count."""
    counts = {}
    for start in range(len(words) - n + 1):
        gram = tuple(words[start:start + n])
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def calculate_bleu_score(predictions, references):
    clipped = [0, 0, 0, 0]
    possible = [0, 0, 0, 0]
    hyp_len = 0
    ref_len = 0
    for hypothesis, reference in zip(predictions, references):
        hyp_words = hypothesis.split()
        ref_words = reference.split()
        hyp_len += len(hyp_words)
        ref_len += len(ref_words)
        for n in range(1, 5):
            hyp_grams = ngram_counts(hyp_words, n)
            ref_grams = ngram_counts(ref_words, n)
            for gram, count in hyp_grams.items():
                clipped[n - 1] += min(count, ref_grams.get(gram, 0))
            possible[n - 1] += sum(hyp_grams.values())
    if 0 in possible or 0 in clipped:
        return 0.0
    log_mean = sum(math.log(c / p) for c, p in zip(clipped, possible)) / 4
    penalty = 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)
    return float(penalty * math.exp(log_mean))
'''

INLINED_BLEU = '''
def calculate_bleu_score(predictions, references):
    clipped = [0, 0, 0, 0]
    possible = [0, 0, 0, 0]
    hyp_len = 0
    ref_len = 0
    for hypothesis, reference in zip(predictions, references):
        hyp_words = hypothesis.split()
        ref_words = reference.split()
        hyp_len += len(hyp_words)
        ref_len += len(ref_words)
        for n in range(1, 5):
            hyp_grams = {}
            for start in range(len(hyp_words) - n + 1):
                gram = tuple(hyp_words[start:start + n])
                hyp_grams[gram] = hyp_grams.get(gram, 0) + 1
            ref_grams = {}
            for start in range(len(ref_words) - n + 1):
                gram = tuple(ref_words[start:start + n])
                ref_grams[gram] = ref_grams.get(gram, 0) + 1
            for gram, count in hyp_grams.items():
                clipped[n - 1] += min(count, ref_grams.get(gram, 0))
            possible[n - 1] += sum(hyp_grams.values())
    if 0 in possible or 0 in clipped:
        return 0.0
    log_mean = sum(math.log(c / p) for c, p in zip(clipped, possible)) / 4
    penalty = 1.0 if hyp_len >= ref_len else math.exp(1 - ref_len / hyp_len)
    return float(penalty * math.exp(log_mean))
'''


#: the one Part 4 function neither alternative rewrites
GREEDY_SAMPLING = '''
def greedy_sampling(logits, beams):
    order = torch.argsort(logits, descending=True)
    return order[:beams]'''


def _alternative_notebooks() -> dict[str, dict[str, Path]]:
    parts_tests = str(ROOT / "tests" / "parts")  # the grading tests hold the alternative solutions
    if parts_tests not in sys.path:
        sys.path.append(parts_tests)
    import test_part1_grading as t1
    import test_part2_grading as t2
    import test_part3_grading as t3
    import test_part4_grading as t4
    from reference import part2 as ref2
    from reference import part4 as ref4

    def whole(module, functions):
        return [(inspect.getsource(getattr(module, n)).strip("\n"), s.strip("\n")) for n, s in functions.items()]

    part3 = [t3._replace_function(n, s) for n, s in {**t3.ALTERNATIVE_1, **t3.ALTERNATIVE_2}.items()]
    return {
        ALT: {"part1": mutant("part1", t1.ALT_1, label="sim-alt"),
              "part2": mutant("part2", whole(ref2, t2.ALTERNATIVE_1), label="sim-alt"),
              "part3": mutant("part3", part3, label="sim-alt"),
              "part4": mutant("part4", whole(ref4, {**t4.ALTERNATIVE_1, **t4.ALTERNATIVE_2,
                                                   "greedy_sampling": GREEDY_SAMPLING}), label="sim-alt"),
              "theory": blank_notebook("theory")},
        ALT2: {"part1": mutant("part1", t1.ALT_2, label="sim-alt2"),
               "part2": mutant("part2", whole(ref2, t2.ALTERNATIVE_2), label="sim-alt2"),
               "theory": blank_notebook("theory")},
    }


def _write(nb, path: Path, answers: dict[str, str], *, blank_others: bool) -> Path:
    """Write ``nb`` with these written answers in the first cell of each item; with ``blank_others``
    the item's other cells and every other item are left unanswered."""
    answers = dict(answers)
    for cell in nb.cells:
        item = cell.get("metadata", {}).get("hw4", {}).get("answer")
        if item in answers:
            cell.source = answers.pop(item)
        elif item and blank_others:
            cell.source = "_Write your answer here._"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def _solution_cell(nb, function: str):
    return next(c for c in nb.cells if function in (c.get("metadata", {}).get("hw4", {}).get("solution") or []))


def build_class(root: Path) -> Path:
    """Write the class under ``root/class`` and an ``root/out/intake.json`` naming its notebooks; return OUT."""
    parts = all_parts()
    keep = {f for p in parts.values() for f in p.required_functions}
    notebooks: dict[str, dict[str, Path]] = {}
    for part in PARTS:
        name = parts[part].notebook
        ref_nb = nbformat.read(solved_notebook(part), as_version=4)
        notebooks.setdefault(REF, {})[part] = _write(ref_nb, root / "class" / REF / name, ANSWERS[REF],
                                                     blank_others=False)
        copy_nb = nbformat.read(solved_notebook(part), as_version=4)
        for cell in copy_nb.cells:
            if cell.cell_type == "code" and not cell.get("metadata", {}).get("hw4", {}).get("locked"):
                cell.source = disguise(cell.source, keep=keep)
        notebooks.setdefault(COPY, {})[part] = _write(copy_nb, root / "class" / COPY / name, ANSWERS[COPY],
                                                       blank_others=False)
        for blank in (BLANK, BLANK2):
            notebooks.setdefault(blank, {})[part] = _write(nbformat.read(blank_notebook(part), as_version=4),
                                                           root / "class" / blank / name, {},
                                                           blank_others=True)
    for student, by_part in _alternative_notebooks().items():
        for part, path in by_part.items():
            notebooks.setdefault(student, {})[part] = _write(nbformat.read(path, as_version=4),
                                                             root / "class" / student / path.name,
                                                             ANSWERS[student], blank_others=True)
    for student, source in ((HELPER, HELPER_BLEU), (INLINER, disguise(INLINED_BLEU, keep=keep))):
        nb = nbformat.read(blank_notebook("part3"), as_version=4)
        _solution_cell(nb, "calculate_bleu_score").source = source.strip("\n")
        notebooks.setdefault(student, {})["part3"] = _write(nb, root / "class" / student / parts["part3"].notebook, {},
                                                              blank_others=True)
    out = root / "out"
    out.mkdir(parents=True, exist_ok=True)
    write_intake(out, {sid: {p: str(path) for p, path in by_part.items()} for sid, by_part in notebooks.items()})
    return out


def write_intake(out: Path, notebooks: dict[str, dict[str, str]]) -> Path:
    """``OUT/intake.json`` as ``hw4 grade`` writes it (the fields similarity reads)."""
    subs = {}
    for sid, by_part in notebooks.items():
        student_id, _, name = sid.partition("_")
        subs[sid] = {"student_id": student_id, "name": name, "source": "", "kind": "folder", "file_time": "",
                     "notebooks": dict(sorted(by_part.items())), "problems": []}
    path = out / "intake.json"
    path.write_text(json.dumps({"rubric": "", "submissions": subs, "rejected": []}, indent=2), encoding="utf-8")
    return path


def independent(a: str, b: str) -> bool:
    return (a, b) not in PLANTED and (b, a) not in PLANTED and not re.search("Blank", a + b)
