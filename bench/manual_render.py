"""Grading page render time in headless Chromium: an answer with a 98 kB formula, and ordinary ones.

For each answer (``--cases``): a small graded batch (no kernels: ``tests/batch/batch_kit``) whose
first student answers ``alpha.written`` with it, served by the real grading server; then, in
Debian's headless Chromium, the seconds from asking for a page to its layout after the load event
(KaTeX typesets on DOMContentLoaded, before load), and the page's DOM size, for the item page and
for that student's answer page. With ``--click``, also the seconds to typeset every formula shown
as source on the answer page (its "Render" buttons, one after the other). The server's own time
to answer is printed beside, from Flask's test client.

Cases: ``long`` one 98 kB display formula (``tests/adversarial/round2_manual.py``); ``split`` the
same 98 kB as display formulas of 4 kB; ``reference`` the reference answer of theory Q1a (the
theory answer with the most mathematics).

    .venv/bin/python bench/manual_render.py [--cases long split reference] [--click]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "batch"), str(ROOT / "tests" / "adversarial")]

from batch_kit import GOOD, PARTS, notebook, write_fake_batch  # noqa: E402
from round2_manual import LONG_FORMULA_CHARS, REFERENCE, SPLIT_FORMULA_CHARS, long_formula  # noqa: E402

from graders.refresh import rebuild  # noqa: E402
from graders.manual.server import make_grading_server  # noqa: E402

STUDENT = "401000001_Ali"
OTHERS = ("401000002_Sara", "401000003_Mina", "401000004_Omid")
WAIT = 600  # seconds before Chromium gives up on a page


def reference_q1a() -> str:
    nb = json.loads(REFERENCE.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("hw4", {}).get("answer") == "theory.q1a.written":
            return "".join(cell["source"])
    raise LookupError("theory.q1a.written")


def answer(case: str) -> str:
    if case == "long":
        return "The loss only sees the difference of the scores:\n\n" + long_formula()
    if case == "split":
        return "Written out:\n\n" + "\n\n".join(long_formula(SPLIT_FORMULA_CHARS)
                                                for _ in range(LONG_FORMULA_CHARS // SPLIT_FORMULA_CHARS))
    return reference_q1a()


def make_batch(root: Path, text: str) -> Path:
    out = write_fake_batch(root / "out", {s: set() for s in (STUDENT, *OTHERS)}, notebooks_root=root / "nbs")
    for part in PARTS:
        (root / "nbs" / STUDENT / PARTS[part].notebook).write_text(notebook(part, GOOD[part], answer=text),
                                                                   encoding="utf-8")
    rebuild(out)
    return out


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    profile = tempfile.mkdtemp(prefix="hw4-bench-chromium-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--window-size=1400,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver, profile


def load(driver, url: str) -> tuple[float, int, int, int]:
    """Seconds to load and lay out ``url``; its DOM size (characters); typeset formulas; formulas left as source."""
    start = time.perf_counter()
    driver.get(url)
    driver.execute_script("return document.body.getBoundingClientRect().height")  # forces the layout
    seconds = time.perf_counter() - start
    size, typeset, deferred = driver.execute_script(
        "return [document.documentElement.outerHTML.length, document.querySelectorAll('.katex').length, "
        "document.querySelectorAll('button.render-math').length]")
    return seconds, size, typeset, deferred


def click_all(driver) -> float:
    """Seconds to press every "Render" button of the page and lay the result out."""
    start = time.perf_counter()
    driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        function next() {
          const button = document.querySelector("button.render-math");
          if (!button) { document.body.getBoundingClientRect(); done(); return; }
          button.click();
          const wait = setInterval(function () { if (!button.isConnected) { clearInterval(wait); next(); } }, 10);
        }
        next();""")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=["long", "split", "reference"],
                    choices=["long", "split", "reference"])
    ap.add_argument("--click", action="store_true", help="also time the Render buttons of the answer page")
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} cores")
    driver, profile = browser()
    try:
        for case in args.cases:
            text = answer(case)
            with tempfile.TemporaryDirectory(prefix="hw4-render-bench-") as tmp:
                server = make_grading_server(make_batch(Path(tmp), text), grader="bench")
                server.start_in_thread()
                try:
                    base = server.url.split("/?token=")[0]
                    driver.get(server.url)
                    pages = {"item page": f"{base}/item/alpha.written",
                             "answer page": f"{base}/answer?item=alpha.written&sub={STUDENT}"}
                    client = server.httpd.app.test_client()
                    client.get(f"/?token={server.token}", base_url=base)
                    for name, url in pages.items():
                        start = time.perf_counter()
                        status = client.get(url[len(base):], base_url=base).status_code
                        served = time.perf_counter() - start
                        seconds, size, typeset, deferred = load(driver, url)
                        print(f"{case:9} ({len(text):>7,} chars) {name:11}: {seconds:6.2f} s in Chromium "
                              f"(server {served:.2f} s, HTTP {status}); DOM {size / 1e6:5.2f} MB; "
                              f"{typeset} formulas typeset, {deferred} left as source", flush=True)
                    if args.click:
                        print(f"{case:9} answer page: every Render button pressed: {click_all(driver):.2f} s",
                              flush=True)
                finally:
                    server.shutdown()
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
