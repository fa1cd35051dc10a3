"""The course secret: where hidden inputs come from, and why seeing some of them tells nothing.

Each hidden check draws its inputs from a generator seeded by ``HMAC-SHA256(secret, check name)``.
A keyed derivation of a high-entropy secret means that even with every input of one check in
hand (say, echoed back by a student's exception message) nobody can find the secret, nor predict
the inputs of any other check, this term or the next — unlike a seed from a small integer, which
a loop over the integers recovers. The secret never enters a kernel; only the inputs of the
check being run do.

A secret is refused when it is shorter than ``MIN_BITS`` bits by a conservative estimate;
``hw4 secret new`` prints one of 256 bits.
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
SECRET_ENV = "HW4_SECRET"
_INPUTS = b"hw4 hidden inputs\0"
_FINGERPRINT = b"hw4 plan fingerprint\0"


class SecretError(ValueError):
    """No secret, or one too weak to keep hidden inputs hidden: a message for the TA."""


def new_secret() -> str:
    """A fresh 256-bit secret, as 64 hex digits."""
    return secrets.token_hex(32)


def estimated_bits(text: str) -> float:
    """A conservative estimate of the entropy of ``text`` (hex 4 bits a digit, base64url 6, else less)."""
    distinct = len(set(text))
    if distinct < 2:
        return 0.0
    if re.fullmatch(r"[0-9a-fA-F]+", text) and distinct >= 10:
        per = 4.0
    elif re.fullmatch(r"[A-Za-z0-9_\-]+=*", text) and distinct >= 16:
        per = 6.0
    else:
        per = min(math.log2(distinct), 5.0)
    return len(text) * per


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
