"""The similarity report: ``OUT/similarity/index.html``, ``pairs.csv`` and ``histogram.png``.

The page lists the pairs of submissions at or above the threshold, most similar first, grouped by
pair, with each flagged function or answer side by side and the shared passages marked; the
histogram shows where the threshold sits among all pair scores. It accuses nobody: it says what
to look at. Everything shown came from submissions, so every string is made printable and
HTML-escaped, and every CSV cell that a spreadsheet would read as a formula is quoted.
"""
from __future__ import annotations

import csv
import html
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graders.similarity.analysis import Analysis, Pair
from graders.homework import active

#: characters of one side shown on the page (the CSV and the scores use all of it)
SHOWN_CHARS = 20_000
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Written:
    html: Path
    csv: Path
    histogram: Path


def printable(text: str) -> str:
    """``text`` without control characters or lone surrogates (each becomes U+FFFD)."""
    return _UNPRINTABLE.sub("\ufffd", str(text))


def csv_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ TAB or CR gets a leading quote."""
    text = str(value)
    return printable("'" + text if text.startswith(_FORMULA_START) else text)


def _marked(text: str, spans: tuple[tuple[int, int], ...]) -> str:
    """``text`` escaped, its ``spans`` wrapped in <mark>, cut to SHOWN_CHARS."""
    shown = text[:SHOWN_CHARS]
    out, at = [], 0
    for start, end in spans:
        start, end = max(start, at), min(end, len(shown))
        if start >= end:
            continue
        out.append(html.escape(printable(shown[at:start])))
        out.append("<mark>" + html.escape(printable(shown[start:end])) + "</mark>")
        at = end
    out.append(html.escape(printable(shown[at:])))
    if len(text) > SHOWN_CHARS:
        out.append(f"\n<span class='cut'>… {len(text) - SHOWN_CHARS:,} more characters not shown</span>")
    return "".join(out)


def histogram(analysis: Analysis, path: Path) -> Path:
    """Pair scores per kind (log counts) with the threshold marked, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = ("code", "written")
    fig, axes = plt.subplots(1, len(kinds), figsize=(9, 3), dpi=100)
    try:
        for ax, kind in zip(axes, kinds):
            values = analysis.scores.get(kind, np.zeros(0))
            label = "functions" if kind == "code" else "written answers"
            if len(values):
                ax.hist(values, bins=20, range=(0, 1), color="#4a7bb7", edgecolor="white", log=True)
            else:
                ax.text(0.5, 0.5, "no pairs scored", ha="center", va="center", transform=ax.transAxes)
            ax.axvline(analysis.settings.threshold, color="#c0392b", linestyle="--",
                       label=f"threshold {analysis.settings.threshold:g}")
            ax.set_xlim(0, 1)
            ax.set_title(f"{label}: {len(values):,} pair scores")
            ax.set_xlabel("score (share of the smaller side found in the other)")
            ax.set_ylabel("pairs (log scale)")
            ax.legend(loc="upper right", fontsize="small")
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def write_csv(analysis: Analysis, path: Path) -> Path:
    """``pairs.csv``: one row per flagged pair and unit, most similar first."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["part", "kind", "unit", "submission_a", "student_a", "name_a", "submission_b", "student_b",
                "name_b", "score", "shared", "fingerprints_a", "fingerprints_b"])
    subs = analysis.submissions
    for p in analysis.flagged:
        a, b = subs.get(p.a, {}), subs.get(p.b, {})
        w.writerow([csv_cell(v) for v in (p.part, p.kind, p.unit, p.a, a.get("student_id", ""), a.get("name", ""),
                                          p.b, b.get("student_id", ""), b.get("name", ""), f"{p.score:.3f}",
                                          p.shared, p.size_a, p.size_b)])
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)
    return path


def by_pair(analysis: Analysis) -> list[tuple[tuple[str, str], list[Pair]]]:
    """Flagged units grouped by pair of submissions, the pair with the highest score first."""
    groups: dict[tuple[str, str], list[Pair]] = defaultdict(list)
    for p in analysis.flagged:
        groups[(p.a, p.b)].append(p)
    return sorted(groups.items(), key=lambda g: (-g[1][0].score, -len(g[1]), g[0]))


def _who(sid: str) -> str:
    return html.escape(printable(sid))


STYLE = ("body{font-family:sans-serif;max-width:90em;margin:2em auto;color:#222}table{border-collapse:collapse;"
         "margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
         "th{background:#eef2f7}.sides{display:grid;grid-template-columns:1fr 1fr;gap:1em}"
         "pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;border:1px solid #ddd;padding:.5em;"
         "font-size:85%;max-height:40em;overflow:auto}mark{background:#ffe08a}.note{background:#fff6e0;"
         "border-left:4px solid #e0a800;padding:.5em 1em}.cut,.n{color:#777}")


def page(analysis: Analysis, *, histogram_name: str = "histogram.png", detailed: int = 200) -> str:
    """The HTML page (``detailed``: how many flagged units get a side-by-side view)."""
    e = html.escape
    s = analysis.settings
    groups = by_pair(analysis)
    anchor = {(p.part, p.unit, p.a, p.b): f"u{i}" for i, p in enumerate(analysis.flagged)}
    body = [f"<h1>{e(active().name)} similarity report</h1>",
            "<p class='note'><b>To be looked at by a person.</b> A pair listed here shares more of its own "
            "code or writing than the threshold, which can have innocent causes (a common source, the "
            "obvious way to write a short function, working together where that was allowed). "
            "Nothing here is a finding of misconduct.</p>",
            f"<p>{len(analysis.submissions)} submission(s); {len(groups)} pair(s) of submissions with at least "
            f"one function or written answer scoring {s.threshold:g} or more ({len(analysis.flagged)} unit(s) "
            f"in all). Compared: each graded function with the helpers it uses that the student wrote "
            f"(provided cells, docstrings and the template's lines left out; names, comments, blank lines "
            f"and the order of functions do not count), and each written answer (words, case folded). "
            f"Score: the share of the smaller side's fingerprints found in the other side "
            f"(code: {s.k}-token k-grams winnowed in windows of {s.window}; answers: {s.shingle}-word "
            f"shingles; a side needs {s.min_code} / {s.min_written} fingerprints to be scored; a fingerprint "
            f"more than {s.common_share:.0%} of the class (and more than 10) have is ignored).</p>",
            f"<img src='{e(histogram_name)}' alt='histogram of pair scores'>"]
    if groups:
        rows = []
        for n, ((a, b), units) in enumerate(groups):
            links = ", ".join(f"<a href='#{anchor[(p.part, p.unit, p.a, p.b)]}'>{e(p.part)} · {e(printable(p.unit))} {p.score:.0%}</a>"
                              for p in units)
            rows.append(f"<tr><td>{n + 1}</td><td>{_who(a)}</td><td>{_who(b)}</td>"
                        f"<td>{units[0].score:.0%}</td><td>{len(units)}</td><td>{links}</td></tr>")
        body.append("<h2>Pairs at or above the threshold</h2><table><tr><th>#</th><th>submission</th>"
                    "<th>submission</th><th>highest</th><th>units</th><th>which</th></tr>" + "".join(rows) + "</table>")
    else:
        body.append(f"<p>No pair scores {s.threshold:g} or more on any function or written answer.</p>")
    shown = 0
    for (a, b), units in groups:
        if shown >= detailed:
            body.append(f"<p class='n'>The side-by-side view stops after {detailed} units; pairs.csv lists them all.</p>")
            break
        body.append(f"<h2>{_who(a)} ↔ {_who(b)}</h2>")
        for p in units[:max(0, detailed - shown)]:
            shown += 1
            text_a = analysis.texts.get((p.part, p.unit, p.a), "")
            text_b = analysis.texts.get((p.part, p.unit, p.b), "")
            body.append(f"<h3 id='{anchor[(p.part, p.unit, p.a, p.b)]}'>{e(p.part)} · {e(printable(p.unit))} ({e(p.kind)}): {p.score:.0%} "
                        f"<span class='n'>({p.shared} shared fingerprints of {p.size_a} and {p.size_b})</span></h3>"
                        f"<div class='sides'><div><b>{_who(p.a)}</b><pre>{_marked(text_a, p.spans_a)}</pre>"
                        f"</div><div><b>{_who(p.b)}</b><pre>{_marked(text_b, p.spans_b)}</pre></div></div>")
    if analysis.problems:
        body.append("<h2>Not compared</h2><ul>" + "".join(
            f"<li><b>{_who(sid)}</b>: {e(printable(what))}</li>" for sid, what in analysis.problems) + "</ul>")
    body.append("<details><summary>What was compared</summary><table><tr><th>part</th><th>unit</th><th>kind</th>"
                "<th>submissions</th><th>pairs scored</th><th>listed</th></tr>" + "".join(
                    f"<tr><td>{e(c.part)}</td><td>{e(c.unit)}</td><td>{e(c.kind)}</td><td>{c.submissions}</td>"
                    f"<td>{c.pairs:,}</td><td>{c.flagged}</td></tr>" for c in analysis.compared) + "</table></details>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(active().name)} similarity report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def write(analysis: Analysis, folder: Path) -> Written:
    """Write the page, the CSV and the histogram into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    png = histogram(analysis, folder / "histogram.png")
    table = write_csv(analysis, folder / "pairs.csv")
    path = folder / "index.html"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page(analysis, histogram_name=png.name), encoding="utf-8")
    tmp.replace(path)
    return Written(path, table, png)


def class_report_section(out_dir: Path, *, top: int = 10) -> str:
    """The "Similarity" section of ``hw4 report``: runs the analysis with its defaults, writes
    ``OUT/similarity/`` and returns HTML with the most similar pairs and a link to the full page.

    A class that cannot be compared (or a failure here) costs this section only, never the report.
    """
    from graders.similarity.analysis import SimilarityError, analyse

    head = "<h2>Similarity (to be looked at by a person)</h2>"
    try:
        analysis = analyse(out_dir)
        written = write(analysis, Path(out_dir) / "similarity")
    except SimilarityError as exc:
        return f"{head}<p>Not computed: {html.escape(printable(exc))}</p>"
    except Exception as exc:  # noqa: BLE001 - the rest of the class report must still be written
        return f"{head}<p>Not computed: {html.escape(type(exc).__name__)}: {html.escape(printable(exc))[:300]}</p>"
    groups = by_pair(analysis)
    link = f"<a href='../{written.html.parent.name}/{written.html.name}'>the similarity report</a>"
    if not groups:
        return (f"{head}<p>No pair of submissions scores {analysis.settings.threshold:g} or more on any graded "
                f"function or written answer ({link}, with the histogram of pair scores).</p>")
    rows = "".join(f"<tr><td>{_who(a)}</td><td>{_who(b)}</td><td>{units[0].score:.0%}</td>"
                   f"<td>{html.escape(', '.join(printable(p.unit) for p in units[:6]))}"
                   f"{' …' if len(units) > 6 else ''}</td></tr>" for (a, b), units in groups[:top])
    return (f"{head}<p>{len(groups)} pair(s) of submissions score {analysis.settings.threshold:g} or more on at "
            f"least one graded function or written answer; the shared passages are side by side in {link} "
            f"(and {written.csv.name}). A score says where to look, not what happened.</p>"
            f"<table><tr><th>submission</th><th>submission</th><th>highest</th><th>units</th></tr>{rows}</table>"
            + (f"<p class='n'>…and {len(groups) - top} more pair(s).</p>" if len(groups) > top else ""))
