"""The course secret: hidden inputs from HMAC-SHA256(secret, check name); weak secrets refused."""
from __future__ import annotations

import base64
import hashlib
import os
import secrets

import numpy as np
import pytest
from click.testing import CliRunner

from graders.cli import main
from graders.part import CheckContext
from graders.pipeline import PlanError, prepare
from graders.secret import (MIN_BITS, SecretError, checked, derive_seed, estimated_bits, new_secret,
                            read_secret, readable_by_others)
from helpers import TEST_SECRET

NAMES = ["part4.get_log_prob.hidden", "part4.top_k_filter.hidden", "theory.q1a.reward_model_loss.hidden"]


def _old_recipe(seed: int, name: str) -> int:
    """How hidden inputs were seeded before: sha256 of a small integer and the name (recoverable)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")


def test_hidden_inputs_come_from_a_keyed_derivation_of_the_secret():
    ctx = CheckContext(secret=TEST_SECRET)
    seen = {name: ctx.rng(name).normal(size=6) for name in NAMES}
    # the same secret and name give the same inputs every run; another name or secret others
    assert all(np.array_equal(CheckContext(secret=TEST_SECRET).rng(n).normal(size=6), seen[n]) for n in NAMES)
    other = CheckContext(secret=new_secret())
    assert not any(np.array_equal(other.rng(n).normal(size=6), seen[n]) for n in NAMES)
    assert len({derive_seed(TEST_SECRET, n) for n in NAMES}) == len(NAMES)


def test_one_checks_inputs_do_not_give_away_the_secret_or_another_checks_inputs():
    """What recovered the old seed in 0.1 s: enumerate small integers with the public recipe."""
    ctx = CheckContext(secret=TEST_SECRET)
    leaked = ctx.rng(NAMES[0]).normal(size=6)  # a student echoed every hidden input of one check
    seed = derive_seed(TEST_SECRET, NAMES[0])
    assert not any(_old_recipe(guess, NAMES[0]) == seed for guess in range(200_000))
    # nor is any other check's seed a function of this one's without the key
    assert all(derive_seed(TEST_SECRET, n) != seed for n in NAMES[1:])
    assert TEST_SECRET not in repr(leaked) and str(seed) not in TEST_SECRET


@pytest.mark.parametrize("weak", ["12345", "4242", "password", "a" * 64, "0123" * 5, "correct horse battery"])
def test_weak_secrets_are_refused_with_a_way_out(weak):
    with pytest.raises(SecretError, match="hw4 secret new"):
        checked(weak)


#: long enough by their characters alone, yet a pattern repeated: the examples of the hostile-student test
REPEATED = ["ab" * 65, "0123456789abcdef" * 4, "hw4-secret-" * 4,
            "ab" * 65 + "c", "0123456789abcdef" * 4 + "0123", "hw4-secret-" * 4 + "2025!"]


@pytest.mark.parametrize("weak", REPEATED)
def test_a_repeated_pattern_counts_about_once(weak):
    with pytest.raises(SecretError, match="bits of entropy.*hw4 secret new"):
        checked(weak)
    assert estimated_bits(weak) < MIN_BITS


def test_generated_secrets_are_accepted():
    for _ in range(50):
        assert checked(new_secret()) and estimated_bits(new_secret()) >= 128
    assert checked(os.urandom(16).hex())  # 128 bits as 32 hex digits is enough


def test_many_random_secrets_are_all_accepted(monkeypatch):
    """`hw4 secret new` (64 hex digits) would have to repeat 32 of them to be refused."""
    made = [new_secret() for _ in range(2000)]
    assert all(checked(s) == s and estimated_bits(s) >= 2 * MIN_BITS - 32 for s in made)
    printed = [CliRunner().invoke(main, ["secret", "new"]).output.strip() for _ in range(20)]
    assert all(len(s) == 64 and checked(s) == s for s in printed)
    # other high-entropy secrets a TA may put in HW4_SECRET
    for secret in [*(secrets.token_urlsafe(32) for _ in range(200)),
                   *(base64.b64encode(os.urandom(32)).decode() for _ in range(200))]:
        monkeypatch.setenv("HW4_SECRET", secret)
        assert read_secret() == secret


def test_secret_from_a_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("HW4_SECRET", raising=False)
    assert read_secret() is None
    monkeypatch.setenv("HW4_SECRET", "4242")
    with pytest.raises(SecretError):
        read_secret()
    path = tmp_path / "secret"
    assert CliRunner().invoke(main, ["secret", "new", "--out", str(path)]).exit_code == 0
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    first = read_secret(path)
    again = CliRunner().invoke(main, ["secret", "new", "--out", str(path)])
    assert again.exit_code == 0 and "already exists: kept" in again.output and read_secret(path) == first


def test_a_weak_secret_stops_grading_and_the_fingerprint_never_holds_the_secret(monkeypatch):
    monkeypatch.delenv("HW4_SECRET", raising=False)
    with pytest.raises(PlanError, match="bits of entropy"):
        prepare(parts=["part4"], secret="12345")
    plan = prepare(parts=["part4"], secret=TEST_SECRET)
    assert TEST_SECRET not in plan.fingerprint
    assert prepare(parts=["part4"], secret=new_secret()).fingerprint != plan.fingerprint
    result = CliRunner().invoke(main, ["grade", ".", "--out", "x", "--hidden-seed", "12345"])
    assert result.exit_code == 2 and "No such option '--hidden-seed'" in result.output  # the old seed is gone


def test_a_secret_file_others_can_read_is_used_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.delenv("HW4_SECRET", raising=False)
    path = tmp_path / "course.secret"
    path.write_text(TEST_SECRET + "\n", encoding="utf-8")
    empty = tmp_path / "class"
    empty.mkdir()
    grade = ["grade", str(empty), "--out", str(tmp_path / "out"), "--parts", "part4", "--secret-file", str(path)]
    for mode, who in ((0o644, "group and others"), (0o640, "group"), (0o604, "others"), (0o600, "")):
        path.chmod(mode)
        assert readable_by_others(path) == who
        result = CliRunner().invoke(main, grade)
        assert "no submissions found" in result.output  # the secret was read and accepted
        if who:
            assert result.stderr.count("chmod 600") == 1 and f"Warning: {who} can read" in result.stderr
        else:
            assert "Warning" not in result.output
