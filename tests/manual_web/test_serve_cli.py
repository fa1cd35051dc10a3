"""``hw4 manual serve`` as a TA starts it: a process on 127.0.0.1 that prints its token URL."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from click.testing import CliRunner

import graders.cli as cli

ROOT = Path(__file__).resolve().parents[2]


def read_url(proc, timeout=60.0) -> tuple[str, list[str]]:
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"(http://\S+/\?token=\S+)", line)
        if m:
            return m.group(1), lines
    raise AssertionError(f"no URL printed: {lines}")


def test_serve_prints_a_loopback_url_with_a_token_and_refuses_requests_without_it(batch):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "graders.cli", "manual", "serve", str(batch), "--port", "0",
                             "--grader", "TA Three"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        url, lines = read_url(proc)
        assert url.startswith("http://127.0.0.1:") and "as TA Three" in "".join(lines)
        base, token = url.split("/?token=")
        assert len(token) >= 40
        try:
            urllib.request.urlopen(base + "/", timeout=30)
            raise AssertionError("served without the token")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403 and b"401000001" not in exc.read()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        page = opener.open(url, timeout=30).read().decode()
        assert "Written answers: 0 of 12 graded" in page and "TA Three" in page
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert token not in err  # the request log leaves the token out
    assert '"GET /" 302' in err


def test_serve_refuses_a_folder_without_a_gradebook(tmp_path):
    r = CliRunner().invoke(cli.main, ["manual", "serve", str(tmp_path)])
    assert r.exit_code != 0 and "has no gradebook.sqlite: grade the class first" in r.output
    assert not (tmp_path / "gradebook.sqlite").exists()
