"""Code that runs INSIDE the student's kernel: call student functions, write values out as data.

The probe runtime is a few source files, one per job, joined in a fixed order (``PIECES``) into
one source text (``source()``, which is ``graders.kernel.KERNEL_SIDE``):

  base.py       the modules and functions it keeps, bound before any student code; the notebook's
                namespace
  encode.py     its own JSON and ``.npy`` writers; ``Encoder``: a returned value as a tagged tree
  resources.py  the models, tokenizers and generators a probe's arguments name, built in the kernel
  inputs.py     ``Inputs``: a probe's arguments rebuilt from its input folder
  observe.py    what a call did to its arguments (parameters, training mode, gradients)
  answers.py    ``run``: answering probes (``_bind``: the reference's helpers, for error carried
                forward; ``_answer_within``: a check of a batch stopped by an alarm at its own
                limit); ``digest``: what the last ``run`` wrote
  guards.py     output cap, ``exit()``, the kernel's message packing, the working folder on the path
  install.py    applies the guards and makes the module ``_hw4_probe``

These files are never imported: each is a piece of one program and uses, when it runs, the names
the pieces before it define (a function may call one defined later). The joined text is sent to
the kernel as the first cell, before the student's cells, so the references it captures to
``os``, ``numpy`` and the builtins are the genuine ones. It installs a module ``_hw4_probe`` whose
``run`` is called by later probe cells (``graders.probe.driver``), whose ``digest`` the grader asks
for after each of them and whose ``Encoder`` ``graders.public_cache`` uses; nothing else of the
runtime is published. It only *produces* values — comparison happens in the grading process.

One private namespace: ``graders.kernel.RUNTIME_CELL`` compiles the joined text once and execs it
in a globals dict of its own, whose ``__builtins__`` is a copy of the builtins taken in that same
cell, before any student code ran, and which holds the notebook's namespace as ``_HW4_USER_NS``.
Every piece defines its names at the top level of that dict: a function of one piece finds
another's (and everything ``base.py`` captured) by a global lookup in it, and a builtin name
through the copy. The cell puts nothing in the notebook's namespace; the only way in is
``sys.modules["_hw4_probe"]``, with ``run``, ``digest`` and ``Encoder``.

Hardening (the student's code runs in this same interpreter, so nothing here is a secret; the
point is that ordinary or mischievous notebooks cannot make it misreport): because the runtime
runs in those private globals with their copy of the builtins, a notebook that defines ``list =
…`` or patches ``builtins`` (or ``signal``: the alarm's functions are captured too) does not change
what the probe does; answers are written by a small
JSON writer and ``.npy`` writer of its own (no ``json``, ``numpy.save`` or ``numpy.lib.format``
that a notebook could have monkeypatched); numpy subclasses are converted to plain arrays (a
subclass cannot lie about its shape), torch tensors are read through ``torch._C.TensorBase`` with
``__torch_function__`` disabled. The grader validates everything it reads back anyway
(``graders.probe.transport``).

Output protocol (read by ``graders.probe.transport``): one ``<n>.json`` per probe, written
atomically, ``{"id", "ok", "value" | "error", "observed", "seconds"}``; arrays larger than
``INLINE_MAX`` elements go to ``<n>_<k>.npy`` beside it. Values are a JSON tree with tagged
objects: $tuple, $dict, $array, $sympy, $dataframe, $series, $figure, $graph, $record, $opaque.
``_hw4_probe.digest()`` names every file the last ``run`` wrote with the sha256 of its bytes; the
grader asks for it in the probe cell's execute reply and reads only files that match.

Also installed here, before any student code: output beyond ``OUTPUT_CAP`` characters per cell
is dropped in the kernel (IPython's in-memory copy of all output is switched off), ``exit()``
does not end the kernel (it would, at a moment that varies), and the kernel's own message
packing no longer goes through the ``json`` module.

Tracebacks and code objects name the file the joined text is compiled as (``<hw4-probe-runtime>``
in a kernel) and a line of that text: each piece follows a line ``# ---- graders/probe/runtime/
<piece> ----``, and ``locate`` turns a line of the joined text into the piece and its own line.
"""
from __future__ import annotations

from pathlib import Path

#: the pieces, in the order they are joined
PIECES = ("base.py", "encode.py", "resources.py", "inputs.py", "observe.py", "answers.py", "guards.py",
          "install.py")

_HERE = Path(__file__).resolve().parent


def _piece(name: str) -> str:
    """A piece's text, ending with a newline, after the line that names it."""
    text = (_HERE / name).read_text(encoding="utf-8")
    return f"# ---- graders/probe/runtime/{name} ----\n" + text + ("" if text.endswith("\n") else "\n")


def source() -> str:
    """The runtime as the one source text the runtime cell sends: every piece, in order."""
    return "".join(_piece(name) for name in PIECES)


def locate(line: int) -> tuple[str, int]:
    """The piece holding ``line`` (1-based) of ``source()``, and the line's number in that piece
    (0 for the line naming the piece)."""
    for name in PIECES:
        length = _piece(name).count("\n")
        if 1 <= line <= length:
            return name, line - 1
        line -= length
    raise ValueError("the line is past the end of the probe runtime")
