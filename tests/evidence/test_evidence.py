"""``graders.evidence`` on hostile outputs and hostile files: only plain text, checked images and
error lines are kept, and an outputs.json in OUT is read back as untrusted data."""
from __future__ import annotations

import base64
import json
import os
import threading

import pytest

from graders import evidence
from graders.evidence import (FILE, MAX_FILE, MAX_TEXT, capture, capture_notebook, read_outputs,
                              write_outputs)

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).decode()
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(64)).decode()


def cell(*outputs) -> dict:
    return {"cell_type": "code", "source": "x", "outputs": list(outputs)}


def stream(text, name="stdout") -> dict:
    return {"output_type": "stream", "name": name, "text": text}


def display(data: dict, kind="display_data") -> dict:
    return {"output_type": kind, "data": data, "metadata": {}}


def test_html_javascript_svg_and_widgets_are_never_kept_their_plain_text_is():
    kept = capture(cell(
        display({"text/html": "<script>alert(document.cookie)</script>", "text/plain": "<IPython.core.display.HTML>"}),
        display({"text/html": "<img src=x onerror=alert(1)>"}),
        display({"application/javascript": "alert(1)"}),
        display({"image/svg+xml": "<svg onload=alert(1)></svg>"}),
        display({"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "IntSlider(value=3)"}),
        display({"text/markdown": "[x](javascript:alert(1))"}, kind="execute_result"),
    ))
    assert kept == [{"kind": "text", "text": "<IPython.core.display.HTML>"},
                    {"kind": "text", "text": "IntSlider(value=3)"}]
    assert "script" not in json.dumps(kept) and "alert" not in json.dumps(kept)


def test_text_loses_escape_sequences_and_control_characters_and_surrogates_are_replaced():
    [out] = capture(cell(stream("\x1b[31mred\x1b[0m \x1b]0;title\x07ok\x00\x08\n\ttab\r\n"),
                         stream("lone \ud800 and pair \ud83d\ude00", name="stderr")))
    assert out == {"kind": "text", "text": "red ok\n\ttab\r\nlone \ufffd and pair \U0001f600"}
    out["text"].encode("utf-8")


def test_consecutive_streams_merge_and_rich_outputs_keep_their_order():
    kept = capture(cell(stream("a"), stream(["b", "c\n"]), display({"text/plain": "42"}, kind="execute_result"),
                        stream("d")))
    assert kept == [{"kind": "text", "text": "abc\n"}, {"kind": "text", "text": "42"}, {"kind": "text", "text": "d"}]


def test_an_error_is_its_name_and_message_without_the_traceback():
    kept = capture(cell({"output_type": "error", "ename": "ValueError", "evalue": "boom \x1b[1mloud",
                         "traceback": ["\x1b[0;31mTraceback secret line"]}))
    assert kept == [{"kind": "error", "text": "ValueError: boom loud"}]
    assert capture(cell({"output_type": "error", "ename": 3, "evalue": None})) == [{"kind": "error", "text": "Error: "}]


def test_images_are_kept_only_as_checked_png_or_jpeg_base64():
    kept = capture(cell(
        display({"image/png": PNG[:40] + "\n" + PNG[40:], "text/plain": "<Figure>"}),
        display({"image/jpeg": JPEG}),
        display({"image/png": "A" * (5 * 2**20)}),          # 5 MB
        display({"image/png": "not base64 at all!"}),
        display({"image/png": "é" * 8}),
        display({"image/png": JPEG}),                          # a JPEG said to be a PNG
        display({"image/png": {"data": PNG}}),
    ))
    assert kept[0] == {"kind": "image", "mime": "image/png", "data": PNG}  # base64 lines joined
    assert kept[1] == {"kind": "image", "mime": "image/jpeg", "data": JPEG}
    notes = [o["text"] for o in kept[2:]]
    assert all(o["kind"] == "text" and o["text"].startswith("[image not kept: ") for o in kept[2:])
    assert "over 1 MB" in notes[0] and "not valid base64" in notes[1] and "not valid base64" in notes[2]
    assert "not a PNG image" in notes[3] and "not text" in notes[4]


def test_a_long_text_is_cut_with_a_note_and_cutting_again_changes_nothing(tmp_path):
    [out] = capture(cell(stream("x" * 100_000)))
    assert len(out["text"]) <= MAX_TEXT and out["text"].endswith("more characters not kept]")
    write_outputs(tmp_path, {"alpha": {0: [out]}})
    assert read_outputs(tmp_path) == {"alpha": {0: [out]}}


def test_a_notebook_keeps_cells_by_their_submitted_index_and_stops_at_its_cap():
    cells = [cell(stream("one")), {"cell_type": "markdown", "source": "m", "outputs": [stream("no")]},
             cell(), cell(stream("put back")), cell(display({"image/png": PNG})), cell(stream("late"))]
    kept = capture_notebook(cells, [0, 1, 2, None, 5, 6])
    assert kept == {0: [{"kind": "text", "text": "one"}], 5: [{"kind": "image", "mime": "image/png", "data": PNG}],
                    6: [{"kind": "text", "text": "late"}]}
    capped = capture_notebook(cells, [0, 1, 2, None, 5, 6], limit=len(PNG) + 2)
    assert capped[0] == [{"kind": "text", "text": "one"}]
    assert [o["kind"] for o in capped[5]] == [o["kind"] for o in capped[6]] == ["text"]
    assert capped[5][0]["text"].startswith("[outputs not kept: this notebook's outputs passed")


def test_write_then_read_gives_the_same_outputs(tmp_path):
    outputs = {"part3": {4: [{"kind": "text", "text": "hi\n"}, {"kind": "image", "mime": "image/png", "data": PNG}],
                         12: [{"kind": "error", "text": "ValueError: boom"}]},
               "theory": {}}
    assert write_outputs(tmp_path / "sub", outputs)
    data = json.loads((tmp_path / "sub" / FILE).read_text())
    assert data["version"] == 1 and list(data["parts"]["part3"]) == ["4", "12"]
    assert read_outputs(tmp_path / "sub") == {"part3": outputs["part3"]}
    assert write_outputs(tmp_path / "sub", {})  # none given: an older run's outputs do not stay
    assert read_outputs(tmp_path / "sub") == {}


def test_a_tampered_file_keeps_only_well_formed_fields(tmp_path):
    good = {"kind": "text", "text": "fine"}
    (tmp_path / FILE).write_text(json.dumps({"version": 1, "parts": {
        "alpha": {"0": [good, {"kind": "html", "text": "<script>"}, {"kind": "text", "text": 5}, "text", None,
                        {"kind": "image", "mime": "image/svg+xml", "data": PNG},
                        {"kind": "image", "mime": "image/png", "data": 7},
                        {"kind": "image", "mime": "image/png", "data": "!!!!"},
                        {"kind": "text", "text": "\x1b[2Jcleared\ud800", "onclick": "alert(1)"}],
                  "01": [good], "-1": [good], "1.5": [good], "９": [good], "9999999": [good], "2": "not a list",
                  "3": [{"kind": "error", "text": "E: x" * 10_000}]},
        "../etc": {"0": [good]}, "a b": {"0": [good]}, "beta": ["not", "a", "dict"], "gamma": {"0": []}}}))
    assert read_outputs(tmp_path) == {"alpha": {
        0: [good, {"kind": "text", "text": "[image not kept: its data is not valid base64]"},
            {"kind": "text", "text": "cleared\ufffd"}],
        3: [{"kind": "error", "text": ("E: x" * 10_000)[:MAX_TEXT - 100] + "\n[… 20,100 more characters not kept]"}]}}


@pytest.mark.parametrize("content", [
    b"", b"{not json", b"\xff\xfe{}", b"[]", b'{"version": 2, "parts": {}}', b'{"version": true, "parts": {}}',
    b'{"version": 1, "parts": []}', b"[" * 100_000 + b"]" * 100_000, b'{"version": 1, "parts": {"a": {"0": ' + b"[" * 50_000,
])
def test_a_broken_file_reads_as_nothing(tmp_path, content):
    (tmp_path / FILE).write_bytes(content)
    assert read_outputs(tmp_path) == {}


def test_a_missing_or_huge_file_reads_as_nothing(tmp_path):
    assert read_outputs(tmp_path / "nowhere") == {}
    with open(tmp_path / FILE, "wb") as fh:  # sparse: refused by its size, never read
        fh.truncate(MAX_FILE + 1)
    assert read_outputs(tmp_path) == {}


def test_a_symlink_is_not_followed_out_of_the_folder(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    write_outputs(elsewhere, {"alpha": {0: [{"kind": "text", "text": "planted"}]}})
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / FILE).symlink_to(elsewhere / FILE)
    assert read_outputs(folder) == {}
    assert write_outputs(folder, {"alpha": {1: [{"kind": "text", "text": "mine"}]}})  # replaces the link
    assert not (folder / FILE).is_symlink() and read_outputs(elsewhere)["alpha"][0][0]["text"] == "planted"


def test_a_fifo_or_a_folder_in_its_place_reads_as_nothing_without_blocking(tmp_path):
    os.mkfifo(tmp_path / FILE)
    found = []
    reader = threading.Thread(target=lambda: found.append(read_outputs(tmp_path)), daemon=True)
    reader.start()
    reader.join(60)
    assert found == [{}]
    other = tmp_path / "other"
    (other / FILE).mkdir(parents=True)
    assert read_outputs(other) == {}


def test_a_failed_write_is_logged_and_leaves_no_older_file(tmp_path, monkeypatch, caplog):
    write_outputs(tmp_path, {"alpha": {0: [{"kind": "text", "text": "an older run"}]}})

    def full(*args, **kwargs):
        raise OSError("no space left on device")

    monkeypatch.setattr(evidence, "write_json_atomic", full)
    assert write_outputs(tmp_path, {"alpha": {0: [{"kind": "text", "text": "this run"}]}}) is False
    assert not (tmp_path / FILE).exists()
    assert "no space left on device" in caplog.text
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.undo()
    assert write_outputs(blocked / "sub", {}) is False  # its folder cannot be made: no exception
