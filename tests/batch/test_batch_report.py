"""The class report: statistics per part and item, the checks most fail, histograms, one HTML page."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from batch_kit import write_fake_batch
from graders.refresh import rebuild
from graders.manual.sheets import import_manual
from graders.report.classreport import collect, write_report

ALL = {"t.double", "t.zero", "p1.triple"}


@pytest.fixture
def batch(tmp_path):
    out = write_fake_batch(tmp_path / "out", {
        "401000001_Ali": ALL, "401000002_Sara": {"t.double", "t.zero"}, "401000003_Mina": {"t.zero"},
        "401000004_Omid": {"t.double", "p1.triple"}})
    times = tmp_path / "times.csv"
    times.write_text("student_id,submitted_at\n401000003,2024-01-12T10:00:00+00:00\n")  # the platform's, for Mina
    rebuild(out, times_csv=times)
    sheet = tmp_path / "m.csv"
    sheet.write_text("student_id,item_id,score\n401000001,alpha.written,5\n401000002,alpha.written,3\n")
    import_manual(out, sheet)
    return out


def test_statistics_per_part_and_item(batch):
    d = collect(batch)
    alpha, beta = d["part_stats"]["alpha"], d["part_stats"]["beta"]
    # alpha: 30+5, 30+3, 10, 20 ; beta: 60, 0, 0, 60
    assert (alpha.n, alpha.mean, alpha.median, alpha.full_rate, alpha.max) == (4, 24.5, 26.5, 0.25, 35)
    assert (beta.mean, beta.median, beta.full_rate) == (30, 30, 0)   # nobody has the written 5 yet
    auto, _ = d["item_stats"]["alpha.auto"]
    assert (auto.mean, auto.full_rate) == (22.5, 0.5)
    written, pending = d["item_stats"]["alpha.written"]
    assert (written.n, written.mean, written.full_rate, pending) == (2, 4, 0.5, 2)   # pending ones not averaged


def test_most_failed_checks_come_first_with_their_reason(batch):
    fails = collect(batch)["failing"]
    assert [(f.check_id, f.failed, f.graded) for f in fails] == [("p1.triple", 2, 4), ("t.double", 1, 4), ("t.zero", 1, 4)]
    assert fails[0].top_reason == "expected 6, got 5" and fails[0].top_reason_count == 2


def test_report_page_and_histograms(batch):
    page = write_report(batch)
    text = page.read_text()
    for png in ("hist_alpha.png", "hist_beta.png", "hist_total.png"):
        assert (batch / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"src='{png}'" in text
    assert "Checks most students fail" in text and "p1.triple" in text and "expected 6, got 5" in text
    assert "401000003 Mina" in text and "Late days" in text  # Mina is 7 days late
    assert text.count("3 submission(s) have no trusted submission time (not in the --times CSV): "
                      "no late penalty applied") == 1


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")), reason="no Chromium")
def test_report_renders_in_headless_chromium(batch, tmp_path):
    from PIL import Image  # matplotlib depends on pillow

    page = write_report(batch)
    shot = tmp_path / "shot.png"
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1600",
                    f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    img = Image.open(shot).convert("RGB")
    assert img.size == (1200, 1600)
    colours = img.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50           # text, tables and the histograms were drawn
    # the histogram bars' blue is on the page, so the PNGs loaded
    assert any(abs(r - 0x4a) < 12 and abs(g - 0x7b) < 12 and abs(b - 0xb7) < 12 for _, (r, g, b) in colours)
