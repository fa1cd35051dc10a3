"""The course secret: where hidden inputs come from, and why seeing some of them tells nothing.

Each hidden check draws its inputs from a generator seeded by ``HMAC-SHA256(secret, check name)``.
A keyed derivation of a high-entropy secret means that even with every input of one check in
hand (say, echoed back by a student's exception message) nobody can find the secret, nor predict
the inputs of any other check, this term or the next — unlike a seed from a small integer, which
a loop over the integers recovers. The secret never enters a kernel; only the inputs of the
check being run do.

A secret is refused when it is shorter than ``MIN_BITS`` bits by a conservative estimate (a
repeated passage counts about once, so ``ab`` × 65 is not 130 bits); ``hw4 secret new`` prints one
of 256 bits. A secret file that others can read is used, with a warning saying how to close it.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
from pathlib import Path

MIN_BITS = 128
#: a repeat of an earlier passage this long or longer counts as this many characters, however long it
#: is; a random secret of 32 hex digits (128 bits) loses a digit to a repeat less than once in 10^8
REPEAT_CHARS = 8
#: characters of a secret that are looked at (the rest can only add bits; the search is quadratic)
_ESTIMATED_CHARS = 4096
SECRET_ENV = "HW4_SECRET"
_INPUTS = b"hw4 hidden inputs\0"
_FINGERPRINT = b"hw4 plan fingerprint\0"


class SecretError(ValueError):
    """No secret, or one too weak to keep hidden inputs hidden: a message for the TA."""


def new_secret() -> str:
    """A fresh 256-bit secret, as 64 hex digits."""
    return secrets.token_hex(32)


def estimated_bits(text: str) -> float:
    """A conservative estimate of the entropy of ``text``: bits per character from its alphabet (hex 4,
    base64url 6, else at most 5), times the characters left once each repeat counts as ``REPEAT_CHARS``."""
    distinct = len(set(text))
    if distinct < 2:
        return 0.0
    if re.fullmatch(r"[0-9a-fA-F]+", text) and distinct >= 10:
        per = 4.0
    elif re.fullmatch(r"[A-Za-z0-9_\-]+=*", text) and distinct >= 16:
        per = 6.0
    else:
        per = min(math.log2(distinct), 5.0)
    return _new_chars(text[:_ESTIMATED_CHARS]) * per


def _new_chars(text: str) -> int:
    """The length of ``text`` once each repeat of an earlier passage (``REPEAT_CHARS`` or more, overlap
    allowed, taken greedily as LZ77 does) counts as ``REPEAT_CHARS``: 10 for ``ab`` × 65.

    Counting characters alone takes ``ab`` × 65 for 130 bits; a repeat adds little to a secret.
    """
    count = i = 0
    while i < len(text):
        length = REPEAT_CHARS
        if i + length <= len(text) and text.find(text[i:i + length], 0, i + length - 1) >= 0:
            while i + length < len(text) and text.find(text[i:i + length + 1], 0, i + length) >= 0:
                length += 1
            count, i = count + REPEAT_CHARS, i + length
        else:
            count, i = count + 1, i + 1
    return count


def checked(text: str) -> str:
    """``text`` stripped, if it is a usable secret; else ``SecretError`` saying why and what to do."""
    secret = (text or "").strip()
    if not secret:
        raise SecretError("the course secret is empty: make one with `hw4 secret new --out FILE`")
    bits = estimated_bits(secret)
    if bits < MIN_BITS:
        raise SecretError(f"the course secret has about {bits:.0f} bits of entropy; at least {MIN_BITS} are needed "
                          "so that hidden inputs stay hidden: make one with `hw4 secret new --out FILE`")
    return secret


def read_secret(file: Path | str | None = None) -> str | None:
    """The secret from ``file`` (its first line) or else ``$HW4_SECRET``; None if neither is given."""
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"cannot read the secret file {file}: {exc}") from None
        return checked(text[0] if text else "")
    env = os.environ.get(SECRET_ENV, "")
    return checked(env) if env.strip() else None


def readable_by_others(file: Path | str) -> str:
    """Who besides the owner may read ``file`` ("group", "others", "group and others"; "" for nobody):
    another user who can read the secret can compute every hidden input."""
    try:
        mode = Path(file).stat().st_mode
    except OSError:
        return ""
    return " and ".join(who for who, bit in (("group", 0o040), ("others", 0o004)) if mode & bit)


def write_secret(path: Path) -> bool:
    """Write a new secret to ``path`` (mode 0600); False, writing nothing, if the file exists."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new_secret() + "\n")
    return True


def derive_seed(secret: str, name: str) -> int:
    """The 64-bit seed of the hidden inputs named ``name`` (HMAC-SHA256 of the secret and the name)."""
    digest = hmac.new(secret.encode("utf-8"), _INPUTS + name.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "little")


def fingerprint_part(secret: str | None) -> str:
    """What the plan fingerprint (stored in every result) says of the secret: a keyed digest, never the secret."""
    if secret is None:
        return "no secret"
    return hmac.new(secret.encode("utf-8"), _FINGERPRINT, hashlib.sha256).hexdigest()
