"""``hw4 manual serve``: the grading page on 127.0.0.1, opened by a random token in the printed URL.

As Jupyter does: the server binds the loopback address only (there is no option to bind another),
draws a fresh token at each start and prints ``http://127.0.0.1:PORT/?token=…``; the first visit
with the token sets a session cookie (SameSite=Strict, HttpOnly) and drops the token from the
address bar; any request without that cookie or the token is refused (403) and shows nothing.
Two TAs can each run a server over the same OUT (sqlite serialises the writes; a stale write is
refused, see ``graders.manual.ledger.record_scores``).
"""
from __future__ import annotations

import getpass
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from graders.gradebook import DB_NAME, GradebookError

HOST = "127.0.0.1"


class _RequestLog(WSGIRequestHandler):
    """Werkzeug's request log without the query string (it would print the token)."""

    def log_request(self, code="-", size="-") -> None:
        self.log("info", '"%s %s" %s', self.command, urlsplit(self.path).path, code)


@dataclass
class GradingServer:
    """A bound, not yet serving, grading server; ``url`` carries the token."""

    httpd: BaseWSGIServer
    token: str

    @property
    def port(self) -> int:
        return self.httpd.server_port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?token={self.token}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def start_in_thread(self) -> threading.Thread:
        """Serve from a daemon thread (tests); stop with ``shutdown``."""
        thread = threading.Thread(target=self.httpd.serve_forever, name="hw4-manual-serve", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def default_grader() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def make_grading_server(out_dir: Path, *, port: int = 0, grader: str | None = None,
                        token: str | None = None, anonymous: bool = False) -> GradingServer:
    """Bind the grading app for ``out_dir`` to 127.0.0.1:``port`` (0: any free port).

    Raises ``GradebookError`` when OUT has no gradebook and ``OSError`` when the port is taken.
    """
    from graders.manual.web import create_app

    out_dir = Path(out_dir)
    if not (out_dir / DB_NAME).is_file():
        raise GradebookError(f"{out_dir} has no {DB_NAME}: grade the class first (hw4 grade … --out {out_dir})")
    token = token or secrets.token_urlsafe(32)
    app = create_app(out_dir, grader=grader if grader is not None else default_grader(), token=token,
                     anonymous=anonymous)
    httpd = make_server(HOST, port, app, threaded=True, request_handler=_RequestLog)
    app.config["HW4_PORT"] = httpd.server_port
    app.config["SESSION_COOKIE_NAME"] = f"hw4_manual_{httpd.server_port}"  # cookies ignore ports: one per server
    return GradingServer(httpd, token)


def serve(out_dir: Path, *, port: int = 0, grader: str | None = None, echo: Callable[[str], None] = print,
          anonymous: bool = False) -> None:
    """Serve the grading page until interrupted (Ctrl-C), after printing its URL."""
    server = make_grading_server(out_dir, port=port, grader=grader, anonymous=anonymous)
    name = server.httpd.app.config["HW4_GRADER"] or "(no name: pass --grader)"
    echo(f"Grading the written answers of {out_dir} as {name}.")
    echo("Open this URL in a browser on this machine (it holds the access token; keep it to yourself):")
    echo(f"    {server.url}")
    echo("Stop with Ctrl-C.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
