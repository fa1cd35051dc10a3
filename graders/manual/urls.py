"""Where a form may send the browser back to: only a path on this server (no open redirect)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

#: what browsers strip from a URL before parsing it: tab and newline anywhere, C0 controls and space at the ends
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def local_path(target: str) -> str | None:
    """``target`` as a browser reads it, when that is a path on this server; else None (no open redirect).

    Browsers drop ASCII tab and newline anywhere and C0 controls and spaces at either end, and read
    ``\\`` as ``/`` in http URLs: ``/<TAB>/evil.example`` and ``/\\evil.example`` are ``//evil.example``,
    another host. A path from ``url_for`` is printable ASCII.
    """
    url = _TAB_NEWLINE.sub("", target).strip(_C0_AND_SPACE).replace("\\", "/")
    if not url.startswith("/") or url.startswith("//") or not (url.isascii() and url.isprintable()) or " " in url:
        return None
    parts = urlsplit(url)
    return None if parts.scheme or parts.netloc else url
