"""A student's cell outputs as the grader's own run printed them: plain, safe data for the TAs.

The outputs saved in a submitted notebook are the student's to fake; these are the outputs of the
first run of the student's cells in the grader's kernel (``graders.execute``), before any probe
cell (a probe's output may show a hidden input). Three kinds are kept: text (streams, or
``text/plain``), PNG and JPEG images (base64 that decodes to such an image, 1 MB each) and errors
(name and message, no traceback). HTML, JavaScript, SVG, widgets and everything else are never
kept, so nothing kept can run in a TA's browser; text loses escape sequences and control
characters and is cut at ``MAX_TEXT``.

``OUT/<submission>/outputs.json`` holds them (``write_outputs``), keyed by part and by the cell's
index in the submitted notebook::

    {"version": 1, "parts": {"part3": {"4": [{"kind": "text", "text": "…"},
                                             {"kind": "image", "mime": "image/png", "data": "iVBOR…"},
                                             {"kind": "error", "text": "ValueError: …"}]}}}

It sits in OUT, so ``read_outputs`` treats it as untrusted data: every field is checked again.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any, Mapping, Sequence

from graders.results import write_json_atomic
from graders.text import printed_text

log = logging.getLogger("hw4.evidence")

FILE = "outputs.json"
VERSION = 1
#: characters kept of one text (a longer one is cut, with a note, to at most this)
MAX_TEXT = 20_000
#: base64 characters of one image
MAX_IMAGE = 2**20
#: characters kept for one notebook; the cells after that get a note instead
MAX_NOTEBOOK = 4 * 2**20
#: bytes of an outputs.json that ``read_outputs`` reads at all
MAX_FILE = 32 * 2**20
#: index of a cell in a notebook (anything larger is not one)
MAX_CELLS = 100_000

#: the image types kept, and the bytes each must start with
IMAGES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_DIGITS = re.compile(r"0|[1-9][0-9]{0,5}")

Output = dict[str, str]


def capture(cell: Mapping) -> list[Output]:
    """A code cell's nbformat outputs as plain, safe dicts (see the module docstring); consecutive
    stream texts are merged into one text."""
    outs = cell.get("outputs") if isinstance(cell, Mapping) else None
    kept: list[Output] = []
    printed: list[str] = []
    for out in outs if isinstance(outs, list) else ():
        if not isinstance(out, Mapping):
            continue
        kind = out.get("output_type")
        if kind == "stream":
            printed.append(_joined(out.get("text")) or "")
            continue
        if printed:
            kept.append(_text("".join(printed)))
            printed = []
        if kind in ("execute_result", "display_data"):
            kept.extend(_rich(out.get("data")))
        elif kind == "error":
            name, value = out.get("ename"), out.get("evalue")
            kept.append({"kind": "error", "text": _clean(f"{name if isinstance(name, str) else 'Error'}: "
                                                         f"{value if isinstance(value, str) else ''}")})
    if printed:
        kept.append(_text("".join(printed)))
    return [o for o in kept if o.get("text") != ""]


def capture_notebook(cells: Sequence[Mapping], where: Sequence[int | None],
                     limit: int = MAX_NOTEBOOK) -> dict[int, list[Output]]:
    """The outputs of the code cells that have any, keyed by ``where[i]``: cell ``i``'s index in the
    submitted notebook (None: a cell the grader put back, not the student's — left out). Once
    ``limit`` characters are kept, each later cell with outputs gets a note instead."""
    kept: dict[int, list[Output]] = {}
    used, full = 0, False
    for cell, index in zip(cells, where):
        if index is None or not isinstance(cell, Mapping) or cell.get("cell_type") != "code":
            continue
        outs = capture(cell)
        if not outs:
            continue
        fitted: list[Output] = []
        for out in outs:
            size = len(out.get("text", "")) + len(out.get("data", ""))
            full = full or used + size > limit
            if full:
                fitted.append(_note(f"[outputs not kept: this notebook's outputs passed {limit // 2**20} MB]"))
                break
            used += size
            fitted.append(out)
        kept[index] = fitted
    return kept


def write_outputs(folder: Path, outputs: Mapping[str, Mapping[int, Sequence[Output]]]) -> bool:
    """Write ``folder/outputs.json`` atomically (checked as ``read_outputs`` would read it).

    Never raises: the outputs are for a TA's eyes and a grade never waits on them. On failure it
    logs, removes an older outputs.json (it belongs to another run) and returns False.
    """
    path = Path(folder) / FILE
    try:
        parts = _checked(outputs)
        data = {"version": VERSION,
                "parts": {p: {str(i): outs for i, outs in cells.items()} for p, cells in parts.items()}}
        write_json_atomic(path, data)
        return True
    except Exception as exc:  # a full disk, an unwritable folder, a bug: never the grade's problem
        log.warning("the cells' outputs were not written to %s: %s: %s", path, type(exc).__name__, exc)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return False


def read_outputs(folder: Path) -> dict[str, dict[int, list[Output]]]:
    """``folder/outputs.json`` read back as untrusted data: part → cell index → outputs, every field
    checked again (a wrong one is dropped); ``{}`` if it is missing, a symlink, not a regular file,
    over ``MAX_FILE`` or not such JSON."""
    try:
        fd = os.open(Path(folder) / FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE:
            return {}
        with os.fdopen(os.dup(fd), "rb") as fh:
            raw = fh.read(MAX_FILE + 1)
    except OSError:
        return {}
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE:
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or type(data.get("version")) is not int or data["version"] != VERSION:
        return {}
    return _checked(data.get("parts"))


# --- one output --------------------------------------------------------------------------------

def _joined(value: Any) -> str | None:
    """An nbformat text: a string, or a list of strings (a multi-line string on disk)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    return None


def _clean(text: str) -> str:
    text = printed_text(text)
    if len(text) <= MAX_TEXT:
        return text
    note = f"\n[… {len(text) - MAX_TEXT + 100:,} more characters not kept]"
    return text[:MAX_TEXT - 100] + note


def _text(text: str) -> Output:
    return {"kind": "text", "text": _clean(text)}


def _note(text: str) -> Output:
    return {"kind": "text", "text": text}


def _rich(data: Any) -> list[Output]:
    """An execute_result or display_data: its image if it has one, else its text/plain, else nothing."""
    if not isinstance(data, Mapping):
        return []
    for mime in IMAGES:
        if mime in data:
            return [_image(mime, data[mime])]
    text = _joined(data.get("text/plain"))
    return [_text(text)] if text else []


def _image(mime: str, value: Any) -> Output:
    """The image, or a note saying why it is not kept."""
    text = _joined(value)
    if text is None:
        return _note("[image not kept: its data is not text]")
    if len(text) > 2 * MAX_IMAGE:
        return _note(f"[image not kept: over {MAX_IMAGE // 2**20} MB]")
    text = "".join(text.split())  # base64 may come in lines
    if len(text) > MAX_IMAGE:
        return _note(f"[image not kept: over {MAX_IMAGE // 2**20} MB]")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, binascii.Error):  # non-ASCII (UnicodeEncodeError is a ValueError) or not base64
        return _note("[image not kept: its data is not valid base64]")
    if not raw.startswith(IMAGES[mime]):
        return _note(f"[image not kept: its data is not a {mime.split('/')[1].upper()} image]")
    return {"kind": "image", "mime": mime, "data": text}


# --- checking what is written and read ---------------------------------------------------------

def _checked(parts: Any) -> dict[str, dict[int, list[Output]]]:
    """Only well-formed parts, cell indices and outputs, each output rebuilt from its checked fields."""
    if not isinstance(parts, Mapping):
        return {}
    found: dict[str, dict[int, list[Output]]] = {}
    for part, cells in parts.items():
        if not isinstance(part, str) or not _PART.fullmatch(part) or not isinstance(cells, Mapping):
            continue
        kept = {}
        for key, outs in cells.items():
            index = _index(key)
            if index is None or not isinstance(outs, (list, tuple)):
                continue
            good = [o for o in map(_entry, outs) if o is not None]
            if good:
                kept[index] = good
        if kept:
            found[part] = dict(sorted(kept.items()))
    return found


def _index(key: Any) -> int | None:
    if type(key) is int:
        return key if 0 <= key < MAX_CELLS else None
    if isinstance(key, str) and _DIGITS.fullmatch(key):
        return _index(int(key))
    return None


def _entry(out: Any) -> Output | None:
    if not isinstance(out, Mapping):
        return None
    kind = out.get("kind")
    if kind in ("text", "error") and isinstance(out.get("text"), str):
        return {"kind": kind, "text": _clean(out["text"])}
    if kind == "image" and out.get("mime") in IMAGES and isinstance(out.get("data"), str):
        return _image(out["mime"], out["data"])
    return None
