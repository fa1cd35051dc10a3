"""Text safety in one place: what a submission's names and messages may become before they are shown.

Everything from a submission is hostile text: a folder name in cp1256 bytes, an exception
message holding a lone surrogate, a name with terminal escapes, an answer starting with ``=``.
Each output has one function here, applied where the text leaves the grader:

* ``valid_utf8`` / ``clean_data``: result.json, feedback, sqlite and CSV need encodable text
  (a lone surrogate becomes U+FFFD);
* ``for_terminal``: one line, no escape sequences or control characters, length cut;
* ``printed_text``: what a program printed, kept on its lines, without escape sequences or control characters;
* ``csv_cell``: OWASP's CSV-injection rule — a cell starting with ``= + - @`` TAB or CR gets a
  leading single quote (``from_csv_cell`` undoes it when a sheet comes back);
* ``decode_fs_name`` / ``decode_zip_name``: names that are not UTF-8, decoded with a stated
  fallback (cp1256 when it reads as letters — Persian names from Windows —, then cp437 for zip
  members, else replacement characters);
* ``escaped``: a name shown to a TA with undecodable bytes and control characters as escapes;
* ``safe_component``: a name usable as one folder or file name;
* ``points_text``: a score shown to anyone (terminal, feedback, CSV, grading page).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

#: zero-width (non-)joiners: format characters that Persian names need
JOINERS = {"\u200c", "\u200d"}
#: characters that turn text direction around (shown text must not be reordered by them)
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: first characters that make a spreadsheet read a cell as a formula (OWASP CSV injection)
CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"            # CSI: ESC [ … final byte (cursor moves, erase line, colours)
    r"|\x9b[0-?]*[ -/]*[@-~]"             # the same, as its 8-bit C1 form
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"   # OSC: window title, hyperlinks … BEL or ST
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"        # DCS, SOS, PM, APC … ST
    r"|\x1b[ -/]*[0-~]?")                 # any other escape (ESC c resets the terminal)
_WINDOWS_RESERVED = set(':*?"<>|')
#: control characters but tab, newline and carriage return (C0, DEL, C1)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def points_text(x: Any, *, decimals: int = 4) -> str:
    """A score as people write it, the same everywhere: at most ``decimals`` decimals, no trailing
    zeros ("2.5", "10", "0.3333"); None (no score) → ""."""
    if x is None:
        return ""
    x = round(float(x), decimals)
    return str(int(x)) if x == int(x) else f"{x:g}"


def valid_utf8(text: str) -> str:
    """``text`` encodable as UTF-8: surrogate pairs joined, lone surrogates replaced by U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def clean_data(obj: Any) -> Any:
    """Every string (dictionary keys too) of nested dicts, lists and tuples made valid UTF-8."""
    if isinstance(obj, str):
        return valid_utf8(obj)
    if isinstance(obj, dict):
        return {clean_data(k): clean_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(clean_data(x) for x in obj)
    return obj


def _unsafe_in_line(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat in ("Cc", "Cs", "Zl", "Zp") or ch in BIDI_CONTROLS


def for_terminal(text: Any, limit: int = 300) -> str:
    """``text`` as one printable line: escape sequences removed, control characters as spaces, at most ``limit``."""
    text = _ESCAPE_SEQUENCE.sub(" ", valid_utf8(str(text)))
    text = "".join(" " if _unsafe_in_line(ch) else ch for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + "…"


def printed_text(text: str) -> str:
    """What a program printed, shown on its own lines: valid UTF-8, escape sequences and control
    characters (but tab, newline and carriage return) removed. Applying it twice changes nothing."""
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", valid_utf8(text)))


def csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with ``= + - @`` TAB or CR gets a ``'``."""
    if not isinstance(value, str):
        return value
    value = valid_utf8(value)
    return "'" + value if value.startswith(CSV_TRIGGERS) else value


def from_csv_cell(value: str) -> str:
    """Undo ``csv_cell`` for a cell read back from a sheet we exported."""
    return value[1:] if value.startswith("'") and value[1:].startswith(CSV_TRIGGERS) else value


# --- names -------------------------------------------------------------------------------------

def _reads_as_letters(text: str) -> bool:
    """True when every non-ASCII character is a letter, a mark or a joiner (a plausible name)."""
    others = [ch for ch in text if ord(ch) > 0x7f]
    return bool(others) and all(unicodedata.category(ch)[0] in "LM" or ch in JOINERS or ch in "\u200e\u200f"
                                for ch in others)


def decode_name(raw: bytes, *, last_resort: str | None = None) -> tuple[str, str]:
    """``(text, how)`` of a name's bytes: UTF-8 if valid; else cp1256 when that reads as letters (Persian
    names from Windows); else ``last_resort`` (a full single-byte table such as cp437) if given; else
    UTF-8 with U+FFFD. ``how`` names the decoding used (``"utf-8"``, ``"cp1256"``, … ``"replacement characters"``).
    """
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("cp1256")
        if _reads_as_letters(text):
            return text, "cp1256"
    except UnicodeDecodeError:
        pass
    if last_resort:
        return raw.decode(last_resort, "replace"), last_resort
    return raw.decode("utf-8", "replace"), "replacement characters"


def name_bytes(name: str) -> bytes:
    """The bytes of a name from ``os.listdir`` (undecodable bytes come back as surrogate escapes)."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return valid_utf8(name).encode("utf-8")


def decode_fs_name(name: str) -> tuple[str, str]:
    """A file or folder name decoded (see ``decode_name``): cp1256 when that gives letters, else U+FFFD."""
    return decode_name(name_bytes(name))


def decode_zip_name(raw: bytes) -> tuple[str, str]:
    """A zip member name without the UTF-8 flag: UTF-8, then cp1256 (when it gives letters), then cp437."""
    return decode_name(raw, last_resort="cp437")


def escaped(name: str) -> str:
    """A name as a TA should see it: undecodable bytes as ``\\xNN``, control characters as escapes, letters kept."""
    out = []
    for ch in name:
        code = ord(ch)
        if 0xdc80 <= code <= 0xdcff:  # an undecodable byte (surrogate escape)
            out.append(f"\\x{code - 0xdc00:02x}")
        elif ch in JOINERS:
            out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def safe_component(name: str, *, limit_bytes: int = 150) -> str:
    """``name`` as one folder or file name on any system: no separators, control or format characters
    (joiners kept), no leading dot, none of ``:*?"<>|~``, at most ``limit_bytes`` (the extension kept).

    Different names may give the same component: callers that need one name per entry check for that.
    """
    chars = []
    for ch in valid_utf8(name):
        bad = (ch in "/\\~" or ch in _WINDOWS_RESERVED or ch in BIDI_CONTROLS
               or (unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch not in JOINERS))
        chars.append("_" if bad else ch)
    text = "".join(chars).strip()
    if text.startswith("."):
        text = "_" + text[1:]
    stem, dot, ext = text.rpartition(".")
    if not dot or len(ext) > 10 or not stem:
        stem, ext = text, ""
    else:
        ext = "." + ext
    budget = limit_bytes - len(ext.encode("utf-8"))
    while len(stem.encode("utf-8")) > budget:
        stem = stem[:-1]
    return (stem + ext) or "_"
