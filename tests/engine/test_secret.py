"""The course secret: hidden inputs from HMAC-SHA256(secret, check name); weak secrets refused."""
from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from click.testing import CliRunner

from graders.cli import main
from graders.parts.base import CheckContext
from graders.pipeline import PlanError, prepare
from graders.secret import SecretError, checked, derive_seed, estimated_bits, new_secret, read_secret
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


def test_generated_secrets_are_accepted():
    for _ in range(50):
        assert checked(new_secret()) and estimated_bits(new_secret()) >= 128
    assert checked(os.urandom(16).hex())  # 128 bits as 32 hex digits is enough


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
    assert result.exit_code != 0 and "secret new" in result.output
