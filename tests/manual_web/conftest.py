from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from graders.manual.web import create_app
from browser_kit import browser  # noqa: F401 (the module-scoped headless Chromium fixture)
from hw4_kit import make_hw4_batch
from web_kit import make_batch

TOKEN = "test-token-123"
PORT = 5005


class LocalClient(FlaskClient):
    """Requests as a browser on this machine sends them: to http://127.0.0.1:PORT."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", f"http://127.0.0.1:{PORT}")
        return super().open(*args, **kwargs)


@pytest.fixture
def batch(tmp_path):
    return make_batch(tmp_path)


@pytest.fixture
def hw4(tmp_path):
    """A graded HW4 class with real part 3 notebooks (``hw4_kit``)."""
    return make_hw4_batch(tmp_path)


@pytest.fixture
def app(batch):
    app = create_app(batch, grader="TA One", token=TOKEN, port=PORT)
    app.test_client_class = LocalClient
    return app


def login(client) -> str:
    """Open the token URL; return the session's CSRF token."""
    r = client.get(f"/?token={TOKEN}")
    assert r.status_code == 302 and "token" not in r.headers["Location"]
    with client.session_transaction(base_url=f"http://127.0.0.1:{PORT}") as s:
        return s["csrf"]


@pytest.fixture
def client(app):
    c = app.test_client()
    c.csrf = login(c)
    return c
