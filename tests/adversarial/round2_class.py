"""Round 2 of hostile submissions, as one class with a bystander: what the TA ran, and what must hold.

``write_class(folder)`` writes, beside a bystander (the reference solution of theory, Part 3 and
Part 4), one submission per attack of the round:

* the grading process: a theory answer that is a 19-pair unevaluated ``Piecewise`` and one that is
  ``Derivative(floor(p), p)`` (``round2_symbolic``);
* the host's disk: a theory notebook that writes 1 MB files and a big file into its kernel's run
  folder;
* hidden inputs: a Part 3 ``beam_search_decoder`` that returns its own arguments in backticks;
* one hang per fresh kernel: a Part 4 ``get_log_prob`` that ignores the interrupt and spins on its
  first call in every kernel (after the notebook's cells);
* similarity: two Part 3 notebooks whose ``calculate_hamming_penalty`` holds one statement of
  66,000 joined ``""`` literals (``round2_similarity``);
* the grading page: a 98 kB display formula, and answers that differ only in their mathematics
  (``round2_manual``).

``tests/adversarial/test_round2_class.py`` grades it with ``hw4 grade --jobs 2`` and checks the
outcome; ``bench/round2.py`` times it and measures the grading workers' memory.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import threading
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE)]

from round2_manual import write_class as write_manual_attack  # noqa: E402
from round2_similarity import write_attack as write_similarity_attack  # noqa: E402
from round2_symbolic import ATTACKS  # noqa: E402

PARTS = ("theory", "part3", "part4")
BYSTANDER = "00000001_Bystander"
SOLVED = ROOT / "reference" / "solutions"

BACKTICK_ECHO = '''def beam_search_decoder(model, tokenizer, text, k, max_length):
    """Returns its own arguments as hypotheses, in backticks."""
    return [(f"`HIDDEN prompt={text} k={k} max_length={max_length}`", 0.0)] * k'''

#: get_log_prob spins, deaf to the interrupt, on its first call in every kernel once the cells have run
HANG = '''import signal as _signal
_CALLS = []
_ARMED = False


def get_log_prob(logits, token_id):
    """Right, except that its first call after the notebook's cells never returns."""
    _CALLS.append(1)
    if _ARMED and len(_CALLS) == 1:
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
        while True:
            pass
    return float(torch.log_softmax(logits, dim=-1)[int(token_id)])'''
ARM = "_ARMED = True\n_CALLS.clear()"

FILL_RUN_FOLDER = '''import os
from ipykernel.connect import get_connection_file
_run_folder = os.path.dirname(os.path.abspath(get_connection_file()))
for _n in range(200):
    try:
        with open(os.path.join(_run_folder, f"fill{_n}.bin"), "wb") as _fh:
            _fh.write(bytes(2**20))
    except OSError:
        pass
try:
    with open(os.path.join(_run_folder, "big.bin"), "wb") as _fh:
        for _ in range(1024):
            _fh.write(bytes(2**20))
except OSError:
    pass'''



def symbolic_student(attack: str) -> str:
    """The submission folder of a ``round2_symbolic`` attack."""
    return f"9000020{list(ATTACKS).index(attack) + 1}_{''.join(w.title() for w in attack.split('_'))}"


def _replace_function(notebook: Path, name: str, source: str) -> nbformat.NotebookNode:
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source)
    cell.source = source
    return nb


def _write(folder: Path, student: str, notebook_name: str, nb) -> None:
    path = folder / student / notebook_name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(nb, str):
        path.write_text(nb, encoding="utf-8")
    else:
        nbformat.write(nb, path)


def write_class(folder: Path) -> Path:
    """Write the class into ``folder``; returns it."""
    folder = Path(folder)
    for part_notebook in ("theory.ipynb", "part3_decoding_translation.ipynb", "part4_advanced_decoding.ipynb"):
        target = folder / BYSTANDER / part_notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(SOLVED / part_notebook, target)
    for name, attack in ATTACKS.items():
        _write(folder, symbolic_student(name), "theory.ipynb", attack.notebook())
    filler = nbformat.read(SOLVED / "theory.ipynb", as_version=4)
    filler.cells.append(nbformat.v4.new_code_cell(FILL_RUN_FOLDER))
    _write(folder, "90000211_FillsRunFolder", "theory.ipynb", filler)
    _write(folder, "90000212_BacktickEcho", "part3_decoding_translation.ipynb",
           _replace_function(SOLVED / "part3_decoding_translation.ipynb", "beam_search_decoder", BACKTICK_ECHO))
    hang = _replace_function(SOLVED / "part4_advanced_decoding.ipynb", "get_log_prob", HANG)
    hang.cells.append(nbformat.v4.new_code_cell(ARM))
    _write(folder, "90000213_HangsEveryKernel", "part4_advanced_decoding.ipynb", hang)
    write_similarity_attack(folder)
    write_manual_attack(folder)
    return folder


class Watch:
    """While a command runs: the peak memory of its child processes (the grading workers) and the most
    bytes ever found in the kernels' run folders (``/tmp/hw4-run-*``)."""

    def __init__(self, pid: int):
        self.pid, self.worker_peak_kb, self.run_folder_peak, self._stop = pid, 0, 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
                except OSError:
                    continue
                if fields.get("PPid", "").strip() == str(self.pid) and "VmHWM" in fields:
                    self.worker_peak_kb = max(self.worker_peak_kb, int(fields["VmHWM"].split()[0]))
            total = 0
            for folder in Path(tempfile.gettempdir()).glob("hw4-run-*"):
                for file in folder.rglob("*"):
                    try:
                        total += file.lstat().st_size if file.is_file() else 0
                    except OSError:
                        pass
            self.run_folder_peak = max(self.run_folder_peak, total)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
