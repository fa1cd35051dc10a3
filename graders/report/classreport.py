"""The class report: ``OUT/report/index.html`` plus one histogram PNG per part, from the gradebook.

Per part and per item: mean, median and full-marks rate over the submissions (a manual item
counts only the submissions a TA has scored, and says how many); the checks most students fail
(wrong answers — what to re-teach — with the most common reason); the grading progress of the
written answers (graded / pending per item, and per TA); late days; what intake could not take
as given; and the pairs of submissions most alike (``graders.similarity``). Submissions whose
result is incomplete (a grader error) are listed apart and left out of every number. Scores are
the gradebook's effective scores (manual scores and
overrides included, before the late penalty; the final column applies it). Submissions without a
trusted submission time are charged nothing; the page says how many, next to the mean after penalties.
"""
from __future__ import annotations

import html
import statistics
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from graders.gradebook import GradebookError, connect, grade_rows, item_rows, manual_progress, untimed_note
from graders.similarity.report import class_report_section
from graders.homework import active

EPS = 1e-9


@dataclass(frozen=True)
class Stat:
    """Summary of one score column."""

    n: int
    mean: float
    median: float
    full_rate: float
    max: float

    @classmethod
    def of(cls, values: list[float], top: float) -> "Stat":
        if not values:
            return cls(0, 0.0, 0.0, 0.0, top)
        full = sum(1 for v in values if v >= top - EPS) / len(values) if top > 0 else 0.0
        return cls(len(values), statistics.fmean(values), statistics.median(values), full, top)


@dataclass(frozen=True)
class FailedCheck:
    check_id: str
    item_id: str
    failed: int
    errors: int
    graded: int
    top_reason: str
    top_reason_count: int

    @property
    def fail_rate(self) -> float:
        return self.failed / self.graded if self.graded else 0.0


def collect(out_dir: Path) -> dict:
    """The numbers of the report, as plain data."""
    with closing(connect(out_dir)) as conn:
        parts, rows = grade_rows(conn)
        items = item_rows(conn)
        checks = conn.execute("SELECT c.*, i.part FROM checks c JOIN items i USING(submission_id, item_id)").fetchall()
        problems = conn.execute("SELECT * FROM intake_problems ORDER BY entry").fetchall()
        progress = manual_progress(conn)
        untimed = untimed_note(conn)
    if not rows:
        raise GradebookError(f"no graded submissions in the gradebook under {out_dir}: grade first")
    incomplete = [r for r in rows if r["incomplete"]]  # a grader error is not a grade: kept out of every number
    rows = [r for r in rows if not r["incomplete"]]
    skip = {r["submission_id"] for r in incomplete}
    items = [it for it in items if it["submission_id"] not in skip]
    checks = [c for c in checks if c["submission_id"] not in skip]
    sums: dict[tuple[str, str], float] = {}
    for it in items:
        sums[(it["submission_id"], it["part"])] = sums.get((it["submission_id"], it["part"]), 0.0) + it["max"]
    part_max = {p: max((v for (_, q), v in sums.items() if q == p), default=0.0) for p in parts}
    part_stats = {p: Stat.of([r["parts"][p] for r in rows if p in r["parts"]], part_max[p]) for p in parts}
    item_order: list[str] = []
    meta: dict[str, dict] = {}
    for it in items:
        if it["item_id"] not in meta:
            item_order.append(it["item_id"])
            meta[it["item_id"]] = {"title": it["title"], "part": it["part"], "max": it["max"], "manual": it["manual"]}
    item_stats = {}
    for iid in item_order:
        scored = [it["score"] for it in items if it["item_id"] == iid and it["status"] != "manual-pending"]
        pending = sum(1 for it in items if it["item_id"] == iid and it["status"] == "manual-pending")
        item_stats[iid] = (Stat.of(scored, meta[iid]["max"]), pending)
    per_check: dict[str, dict] = {}
    for c in checks:
        d = per_check.setdefault(c["check_id"], {"item": c["item_id"], "failed": 0, "errors": 0, "n": 0,
                                                 "reasons": Counter()})
        d["n"] += 1
        if c["status"] == "failed":
            d["failed"] += 1
            d["reasons"][c["reason"] or "(no reason given)"] += 1
        elif c["status"] == "error":
            d["errors"] += 1
    failing = []
    for cid, d in per_check.items():
        if not d["failed"]:
            continue
        reason, count = d["reasons"].most_common(1)[0]
        failing.append(FailedCheck(cid, d["item"], d["failed"], d["errors"], d["n"], reason, count))
    failing.sort(key=lambda f: (-f.fail_rate, f.check_id))
    totals = [r["total"] for r in rows]
    finals = [r["final"] for r in rows]
    top = max((r["max"] for r in rows), default=0.0)
    return {"parts": parts, "rows": rows, "part_stats": part_stats, "item_order": item_order, "item_meta": meta,
            "item_stats": item_stats, "failing": failing, "total": Stat.of(totals, top),
            "final": Stat.of(finals, top), "problems": [(p["entry"], p["reason"]) for p in problems],
            "incomplete": incomplete, "manual_progress": progress, "untimed": untimed}


def histogram(values: list[float], top: float, title: str, path: Path) -> Path:
    """A histogram of scores from 0 to ``top``, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    try:
        bins = min(20, max(5, int(top) if top == int(top) else 10)) if top > 0 else 5
        ax.hist(values, bins=bins, range=(0, top if top > 0 else 1), color="#4a7bb7", edgecolor="white")
        ax.set_title(title)
        ax.set_xlabel("points")
        ax.set_ylabel("submissions")
        ax.yaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def _f(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _progress_html(progress: list[dict]) -> str:
    """Grading progress of the written answers: per item graded / pending, and per TA."""
    e = html.escape
    if not progress:
        return ""
    graders = sorted({t for p in progress for t in p["by_grader"]})
    graded, answers = sum(p["graded"] for p in progress), sum(p["answers"] for p in progress)
    return (f"<h2>Grading progress (written answers)</h2><p>{graded} of {answers} answers graded "
            f"({_pct(graded / answers) if answers else '—'}).</p><table><tr><th>item</th><th>graded</th>"
            "<th>pending</th>" + "".join(f"<th>{e(t)}</th>" for t in graders) + "</tr>" + "".join(
                f"<tr><td>{e(p['item_id'])}</td><td>{p['graded']}/{p['answers']}</td><td>{p['pending']}</td>"
                + "".join(f"<td>{p['by_grader'].get(t, 0)}</td>" for t in graders) + "</tr>" for p in progress)
            + "</table>")


def write_report(out_dir: Path, *, top_checks: int = 15) -> Path:
    """Write ``OUT/report/index.html`` and ``OUT/report/hist_<part>.png``; return the HTML path."""
    out_dir = Path(out_dir)
    data = collect(out_dir)
    folder = out_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    e = html.escape
    images = []
    for p in data["parts"]:
        vals = [r["parts"][p] for r in data["rows"] if p in r["parts"]]
        images.append(histogram(vals, data["part_stats"][p].max, f"{p} (n={len(vals)})", folder / f"hist_{p}.png"))
    images.append(histogram([r["total"] for r in data["rows"]], data["total"].max,
                            f"total (n={len(data['rows'])})", folder / "hist_total.png"))
    body = [f"<h1>{e(active().name)} class report</h1><p>{len(data['rows'])} submission(s). Mean total "
            f"{_f(data['total'].mean)} / {_f(data['total'].max)} (median {_f(data['total'].median)}); "
            f"mean after late penalties {_f(data['final'].mean)}. Scores include manual scores entered so far; "
            f"{sum(1 for r in data['rows'] if r['pending'])} submission(s) still have written answers to grade.</p>"]
    if data["untimed"]:
        body.append(f"<p class='warn'>{e(data['untimed'])}.</p>")
    if data["incomplete"]:
        body.append("<h2 class='warn'>Not final: grader errors</h2><p>These submissions hit a grader error; their "
                    "results are left out of every number below. Rerun <code>hw4 grade</code> to retry them.</p><ul>"
                    + "".join(f"<li><b>{e(r['submission_id'])}</b> {e(r['name'])}</li>" for r in data["incomplete"])
                    + "</ul>")
    body.append("<h2>Parts</h2><table><tr><th>part</th><th>n</th><th>mean</th><th>median</th><th>max</th>"
                "<th>full marks</th></tr>" + "".join(
                    f"<tr><td>{e(p)}</td><td>{s.n}</td><td>{_f(s.mean)}</td><td>{_f(s.median)}</td><td>{_f(s.max)}</td>"
                    f"<td>{_pct(s.full_rate)}</td></tr>" for p, s in data["part_stats"].items()) + "</table>")
    body.append("<div class='hists'>" + "".join(f"<img src='{e(i.name)}' alt='histogram {e(i.stem)}'>" for i in images)
                + "</div>")
    rows = []
    for iid in data["item_order"]:
        m = data["item_meta"][iid]
        s, pending = data["item_stats"][iid]
        kind = "manual" if m["manual"] else "auto"
        pend = f" ({pending} pending)" if pending else ""
        rows.append(f"<tr><td>{e(m['part'])}</td><td>{e(iid)}</td><td>{e(m['title'] or '')}</td><td>{kind}</td>"
                    f"<td>{s.n}{pend}</td><td>{_f(s.mean)}</td><td>{_f(s.median)}</td><td>{_f(s.max)}</td>"
                    f"<td>{_pct(s.full_rate) if s.n else '—'}</td></tr>")
    body.append("<h2>Items</h2><table><tr><th>part</th><th>item</th><th>title</th><th>kind</th><th>n</th><th>mean</th>"
                "<th>median</th><th>max</th><th>full marks</th></tr>" + "".join(rows) + "</table>")
    body.append(_progress_html(data["manual_progress"]))
    fails = data["failing"][:top_checks]
    body.append("<h2>Checks most students fail (what to re-teach)</h2>")
    if fails:
        body.append("<table><tr><th>check</th><th>item</th><th>failed</th><th>could not grade</th>"
                    "<th>most common reason</th></tr>" + "".join(
                        f"<tr><td>{e(f.check_id)}</td><td>{e(f.item_id)}</td><td>{f.failed}/{f.graded} "
                        f"({_pct(f.fail_rate)})</td><td>{f.errors}</td><td>{e(f.top_reason)} "
                        f"<span class='n'>×{f.top_reason_count}</span></td></tr>" for f in fails) + "</table>")
    else:
        body.append("<p>No check was failed by any submission.</p>")
    late = [r for r in data["rows"] if r["late_days"]]
    body.append("<h2>Late days</h2>")
    if late:
        body.append("<table><tr><th>student</th><th>submitted</th><th>late days</th><th>free used</th>"
                    "<th>charged</th><th>penalty</th><th>total → final</th></tr>" + "".join(
                        f"<tr><td>{e(r['student_id'] or r['submission_id'])} {e(r['name'])}</td>"
                        f"<td>{e(r['submitted_at'])} ({e(r['time_source'])})</td><td>{r['late_days']}</td>"
                        f"<td>{r['free_used']}</td><td>{r['charged_days']}</td><td>{_f(r['penalty_percent'])}%</td>"
                        f"<td>{_f(r['total'])} → {_f(r['final'])}</td></tr>" for r in late) + "</table>")
    elif data["untimed"]:
        body.append("<p>No submission with a known submission time was late.</p>")
    else:
        body.append("<p>Nobody submitted late.</p>")
    noted = [r for r in data["rows"] if r["notes"]]
    if noted or data["problems"]:
        body.append("<h2>Submission problems</h2><ul>"
                    + "".join(f"<li><b>{e(entry)}</b>: {e(reason)}</li>" for entry, reason in data["problems"])
                    + "".join(f"<li><b>{e(r['submission_id'])}</b>: {e('; '.join(r['notes']))}</li>" for r in noted)
                    + "</ul>")
    body.append(class_report_section(out_dir))
    style = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;color:#222}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
             "th{background:#eef2f7}.hists img{margin:.3em;border:1px solid #ddd}.n{color:#777}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(active().name)} class report</title><style>{style}</style>"
            f"</head><body>{''.join(body)}</body></html>\n")
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
