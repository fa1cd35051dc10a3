"""A graded HW4 class for the grading-page tests, without kernels: the real rubric, real part 3 notebooks.

Each student's part 3 notebook is the solved notebook with some answers rewritten; results are
written as the pipeline writes them (automatic items full, written items pending), and each
submission has the grader's kept outputs (``outputs.json``): the translation cell's text and a
heatmap cell's figure — the evidence the question pages show beside the answers.
"""
from __future__ import annotations

import base64
import json
import struct
import zlib
from pathlib import Path

import nbformat

from graders.evidence import write_outputs
from graders.refresh import rebuild
from graders.results import CheckResult, ItemResult, PartResult, SubmissionResult, save_submission
from graders.rubric import load_rubric, questions_of

ROOT = Path(__file__).resolve().parents[2]
SOLVED = ROOT / "reference" / "solutions" / "part3_decoding_translation.ipynb"
RUBRIC = ROOT / "rubric.yaml"
#: the part 3 notebook's translation cell (its outputs are question 6 and 7's evidence) and first
#: heatmap cell (question 8's)
TRANSLATION_CELL, HEATMAP_CELL = 29, 37
BLEU_TEXT = "BLEU encoder-decoder (tiny-t5)          : 0.6012\nBLEU decoder-only    (tiny-translator)  : 0.5231\n"
#: a student's answer to question 6 that tries to run script in the TA's browser
XSS_ANSWER = ('<script>window.__xss = 1</script> <img src=x onerror="window.__xss = 2"> '
              '[click](javascript:window.__xss=3) The encoder-decoder wins.')
Q6 = "The encoder-decoder (tiny-t5) has the higher BLEU: 0.60 against 0.52 for the decoder-only model."
#: question 6 answers: three near-identical (Mina's with other words: 0.90 similar), one different, one hostile
ANSWERS_Q6 = {
    "401000001_Ali": Q6,
    "401000002_Sara": "the encoder-decoder (tiny-t5) has the higher BLEU : 0.60 against 0.52 for the decoder only model",
    "401000003_Mina": "The encoder-decoder model (tiny-t5) has the higher BLEU score, 0.60 against 0.52 for the "
                      "decoder-only one.",
    "401000004_Omid": "The decoder-only model is better because it is bigger.",
    "401000005_Reza": XSS_ANSWER,
}
ALI, SARA, MINA, OMID, REZA = ANSWERS_Q6
#: the written item graded question by question in these tests, and its questions
ITEM = "part3.written"
QUESTIONS = questions_of(next(i for i in load_rubric(RUBRIC).items if i.id == ITEM))


def png(width: int = 4, height: int = 3) -> bytes:
    """A tiny valid PNG (a grey rectangle)."""
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _result(sub_id: str, rubric) -> SubmissionResult:
    sid, _, name = sub_id.partition("_")
    items, parts = [], {}
    for part in rubric.parts.values():
        for it in part.items:
            if it.manual:
                items.append(ItemResult(it.id, part.name, it.title, 0.0, it.points, "manual-pending", manual=True))
            else:
                checks = tuple(CheckResult(c, True, "passed", "", weight=w) for c, w in it.checks.items())
                items.append(ItemResult(it.id, part.name, it.title, it.points, it.points, "passed", checks=checks))
        parts[part.name] = PartResult(part.name, sum(i.score for i in items if i.part == part.name), part.points,
                                      notebook=f"{part.name}.ipynb")
    auto = round(sum(i.score for i in items), 6)
    return SubmissionResult(sub_id, sid, name, auto, 100.0, auto, 0.0, parts, tuple(items), grader_version="test",
                            rubric_hash="x", input_hash=f"h-{sub_id}", created_at="2024-01-01")


def part3_notebook(answer_q6: str) -> str:
    nb = nbformat.read(SOLVED, as_version=4)
    answers = [c for c in nb.cells if c.get("metadata", {}).get("hw4", {}).get("answer") == "part3.written"]
    answers[5].source = answer_q6
    return nbformat.writes(nb)


def make_hw4_batch(root: Path, answers: dict[str, str] | None = None) -> Path:
    """``root/out``: HW4 submissions (part 3 notebooks only; ``answers``: submission → its question 6
    answer, default ``ANSWERS_Q6``) with a built gradebook."""
    out, nbs = root / "out", root / "nbs"
    out.mkdir(parents=True, exist_ok=True)
    rubric = load_rubric(RUBRIC)
    subs = {}
    figure = base64.b64encode(png()).decode()
    for sub_id, q6 in (answers or ANSWERS_Q6).items():
        save_submission(out / sub_id / "result.json", _result(sub_id, rubric))
        folder = nbs / sub_id
        folder.mkdir(parents=True)
        path = folder / SOLVED.name
        path.write_text(part3_notebook(q6), encoding="utf-8")
        printed = BLEU_TEXT + ("<script>window.__xss = 4</script>" if q6 == XSS_ANSWER else "")
        write_outputs(out / sub_id, {"part3": {TRANSLATION_CELL: [{"kind": "text", "text": printed}],
                                               HEATMAP_CELL: [{"kind": "image", "mime": "image/png", "data": figure}]}})
        sid, _, name = sub_id.partition("_")
        subs[sub_id] = {"student_id": sid, "name": name, "source": "", "kind": "folder",
                        "file_time": "2024-01-05T12:00:00+00:00", "notebooks": {"part3": str(path)}, "problems": []}
    (out / "intake.json").write_text(json.dumps({"rubric": str(RUBRIC), "submissions": subs, "rejected": []}))
    rebuild(out)
    return out
