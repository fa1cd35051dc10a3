"""Headless Chromium for the grading-page tests: Debian's chromium and chromium-driver, driven by selenium.

The tests that use it are skipped with a message when either is missing (``.ci/run`` installs them).
"""
from __future__ import annotations

import shutil
import tempfile

import pytest

WAIT = 60  # seconds; generous for a loaded machine, never a measure of speed
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
except ImportError:
    selenium = None

needs_browser = pytest.mark.skipif(
    not (CHROMIUM and DRIVER and selenium),
    reason="the browser tests need Debian's chromium and chromium-driver (apt-get install chromium chromium-driver) "
           "and selenium (requirements-dev.txt)")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="hw4-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}", "--window-size=1400,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def keys(browser, *seq) -> None:
    """Type ``seq`` into the page as a user does (a tuple is (modifier, key))."""
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(browser)
    for k in seq:
        if isinstance(k, tuple):
            chain.key_down(k[0]).send_keys(k[1]).key_up(k[0])
        else:
            chain.send_keys(k)
    chain.perform()
