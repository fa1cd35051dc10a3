"""graders.text: valid UTF-8, one terminal line, CSV cells, names decoded with a stated fallback."""
from __future__ import annotations

import csv
import io
import json

import pytest

from graders import text

PERSIAN = "سارا"  # in cp1256: b'\xd3\xc7\xd1\xc7'


def fs(raw: bytes) -> str:
    """A name as os.listdir returns it for these bytes."""
    return raw.decode("utf-8", "surrogateescape")


def test_valid_utf8_replaces_lone_surrogates_and_joins_pairs():
    assert text.valid_utf8("a\ud800b") == "a\ufffdb"
    assert text.valid_utf8("x\udcd3") == "x\ufffd"
    assert text.valid_utf8("\ud83d\ude00") == "😀"
    assert text.valid_utf8(PERSIAN) == PERSIAN
    data = text.clean_data({"k\ud800": ["v\udcff", ("t\ud800", 1.5)], "n": None})
    assert json.dumps(data, ensure_ascii=False).encode("utf-8")  # encodable
    assert data == {"k\ufffd": ["v\ufffd", ("t\ufffd", 1.5)], "n": None}


@pytest.mark.parametrize("raw", [
    "Evil\x1b[2K\r\x07Name", "a\x1b]0;pwned\x07b", "a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "\x9b31mred",
    "a\u202eb", "line1\nline2\u2028x", "\x1bc reset", "bad\ud800",
])
def test_for_terminal_keeps_no_escape_or_control_character(raw):
    shown = text.for_terminal(raw)
    assert shown.encode("utf-8")
    assert not any(ch in shown for ch in "\x1b\x07\r\n\x9b\u202e\u2028"), repr(shown)
    assert "\n" not in shown


def test_for_terminal_keeps_letters_and_cuts_long_text():
    assert text.for_terminal("Evil\x1b[2K\r\x07Name") == "Evil Name"
    assert text.for_terminal("محمد\u200cعلی") == "محمد\u200cعلی"  # the zero-width non-joiner stays
    assert text.for_terminal("x" * 1000, 50) == "x" * 49 + "…"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\t=x", "\r=x"])
def test_csv_cells_that_a_spreadsheet_would_run_get_a_quote(cell):
    safe = text.csv_cell(cell)
    assert safe == "'" + cell
    assert text.from_csv_cell(safe) == cell


def test_other_csv_cells_are_unchanged():
    for cell in ("Ali", "401000001", "'quoted", "", PERSIAN, " =not first"):
        assert text.csv_cell(cell) == cell
        assert text.from_csv_cell(cell) == cell
    assert text.csv_cell(3.5) == 3.5
    buf = io.StringIO()
    csv.writer(buf).writerow([text.csv_cell("x\ud800")])
    assert buf.getvalue().encode("utf-8")


def test_file_names_fall_back_to_cp1256_letters_then_replacement():
    assert text.decode_fs_name("401_" + PERSIAN) == ("401_" + PERSIAN, "utf-8")
    assert text.decode_fs_name(fs(b"401_" + PERSIAN.encode("cp1256"))) == ("401_" + PERSIAN, "cp1256")
    decoded, how = text.decode_fs_name(fs(b"401_Ali\x80\x81"))  # cp1256 reads \x80 as the euro sign
    assert (decoded, how) == ("401_Ali\ufffd\ufffd", "replacement characters")


def test_zip_member_names_try_utf8_then_cp1256_then_cp437():
    assert text.decode_zip_name("تمرين.ipynb".encode("utf-8")) == ("تمرين.ipynb", "utf-8")
    assert text.decode_zip_name("تمرين.ipynb".encode("cp1256")) == ("تمرين.ipynb", "cp1256")
    assert text.decode_zip_name("résumé.ipynb".encode("cp437")) == ("résumé.ipynb", "cp437")


def test_escaped_shows_bytes_and_controls_keeps_letters():
    assert text.escaped(fs(b"401_" + PERSIAN.encode("cp1256"))) == "401_\\xd3\\xc7\\xd1\\xc7"
    assert text.escaped("A\x1b[2K\x07B") == "A\\x1b[2K\\x07B"
    assert text.escaped("محمد\u200cعلی") == "محمد\u200cعلی"


@pytest.mark.parametrize("name", ["../x", "a/b\\c", ".hidden", "..", "Evil\x1b[2K\r\x07", "a:b*c?", "x~zip",
                                  "a\u202eb", "  ", "\ud800", "ب" * 200 + ".ipynb"])
def test_safe_component_is_one_plain_folder_name(name):
    safe = text.safe_component(name)
    assert safe and safe not in (".", "..") and not safe.startswith(".")
    assert not any(ch in safe for ch in "/\\~:*?\x1b\r\x07\u202e")
    assert len(safe.encode("utf-8")) <= 150
    if name.endswith(".ipynb"):
        assert safe.endswith(".ipynb")


def test_safe_component_keeps_persian_names_and_spaces():
    assert text.safe_component("401_محمد\u200cعلی") == "401_محمد\u200cعلی"
    assert text.safe_component("Sara Ahmadi") == "Sara Ahmadi"
