"""Screenshot one page of the grading app over a graded OUT, in headless Chromium (the README's picture).

    .venv/bin/python tools/screenshot_page.py OUT "/question?item=part3.written&q=q8&sub=00000000_Reference" docs/manual-serve.png

Needs Debian's chromium and chromium-driver and selenium (requirements-dev.txt), as the browser tests do.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from graders.manual.server import make_grading_server


def main(out_dir: str, page: str, png: str) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        sys.exit("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    server = make_grading_server(Path(out_dir), grader="TA One")
    server.start_in_thread()
    profile = tempfile.mkdtemp(prefix="hw4-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver_path), options=opts)
    try:
        browser.get(server.url)  # the token URL sets the session
        browser.get(server.url.split("/?token=")[0] + page)
        time.sleep(1)  # KaTeX typesets after load
        browser.save_screenshot(png)
        print(f"{png}: {browser.title}")
    finally:
        browser.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
