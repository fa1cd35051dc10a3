"""Values cross from the kernel as data: round trips, limits and hostile input."""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest
import sympy as sp

from graders.probe.spec import Probe, generator, write_inputs
from graders.probe.sympy_tree import TreeError, rebuild
from graders.probe.transport import KernelArray, Record, read_one


@pytest.fixture(scope="module")
def runtime():
    """The kernel-side runtime, installed in this process as a kernel would."""
    exec((__import__("graders.kernel", fromlist=["KERNEL_SIDE"]).KERNEL_SIDE), {})
    import _hw4_probe
    return _hw4_probe


def ask(runtime, tmp_path, namespace, probe):
    write_inputs(tmp_path / "in", [probe])
    (tmp_path / "out").mkdir(exist_ok=True)
    runtime.run(namespace, str(tmp_path / "in"), str(tmp_path / "out"), [0])
    return read_one(tmp_path / "out", 0, probe.id)


def test_tensors_arrays_and_records_round_trip(runtime, tmp_path):
    import torch
    Row = collections.namedtuple("ResultRow", "p_matching p_not_matching")
    ns = {"f": lambda t: (t * 2, np.arange(5000, dtype=np.int64), Row(0.25, 0.75), {"A": 0.5, 1: "x"})}
    out = ask(runtime, tmp_path, ns, Probe("f", "f", (torch.tensor([1.0, 2.0]),)))
    assert out.ok and out.type == "builtins.tuple"
    t, big, row, d = out.value
    assert isinstance(t, KernelArray) and t.source == "torch.Tensor" and t.tolist() == [2.0, 4.0]
    assert big.shape == (5000,) and big[-1] == 4999
    assert row == Record("ResultRow", {"p_matching": 0.25, "p_not_matching": 0.75})
    assert d == {"A": 0.5, 1: "x"}


def test_generator_persists_across_repeats(runtime, tmp_path):
    import torch
    ns = {"draw": lambda g: int(torch.randint(0, 1000, (1,), generator=g))}
    out = ask(runtime, tmp_path, ns, Probe("d", "draw", (generator(7),), repeat=20))
    assert len(set(out.value)) > 10


def test_sympy_round_trip_keeps_structure_and_assumptions(runtime, tmp_path):
    beta = sp.Symbol("beta", positive=True)
    x = sp.Symbol("x", real=True)
    pi = sp.Function("pi_theta")
    expr = -sp.log(1 / (1 + sp.exp(-beta * x))) + sp.Rational(1, 2) * pi(x) ** 2 + sp.binomial(sp.Symbol("K"), 2)
    out = ask(runtime, tmp_path, {"ans": expr}, Probe("a", "ans", call=False))
    assert out.ok and out.value == expr
    assert [s for s in out.value.free_symbols if s.name == "beta"][0].is_positive


def test_a_gigantic_list_is_refused_with_a_reason(runtime, tmp_path):
    out = ask(runtime, tmp_path, {"big": lambda: [0] * 30_000_000}, Probe("b", "big"))
    assert not out.ok and out.error_type == "ValueTooLarge"


def test_a_forged_answer_for_another_probe_is_rejected(tmp_path):
    (tmp_path / "0.json").write_text(json.dumps({"id": "other", "ok": True, "value": 1}))
    out = read_one(tmp_path, 0, "mine")
    assert not out.ok and "does not belong" in out.message


def test_invalid_json_answer_is_unreadable_not_a_crash(tmp_path):
    (tmp_path / "0.json").write_text("{not json")
    out = read_one(tmp_path, 0, "p")
    assert not out.ok and out.error_type == "Unreadable"


def test_unknown_tags_and_pickled_arrays_are_refused(tmp_path):
    (tmp_path / "0.json").write_text(json.dumps({"id": "p", "ok": True, "value": {"$pickle": "gASV"}}))
    assert not read_one(tmp_path, 0, "p").ok
    np.save(tmp_path / "0_1.npy", np.array([object()], dtype=object), allow_pickle=True)
    (tmp_path / "0.json").write_text(json.dumps({"id": "p", "ok": True, "value": {"$array": {"file": "0_1.npy"}}}))
    out = read_one(tmp_path, 0, "p")
    assert not out.ok and "could not be read" in out.message


@pytest.mark.parametrize("tree, match", [
    ({"node": "Function", "args": []}, "not allowed"),
    ({"node": "Integer", "value": "9" * 1000}, "too large"),
    ({"node": "Symbol", "name": "__import__('os')"}, "not allowed"),
])
def test_sympy_tree_whitelist(tree, match):
    with pytest.raises(TreeError, match=match):
        rebuild(tree)


def test_deeply_nested_tree_is_refused_quickly():
    tree = {"node": "Symbol", "name": "x", "assumptions": {}}
    for _ in range(1000):
        tree = {"node": "exp", "args": [tree]}
    with pytest.raises(TreeError):
        rebuild(tree)


def test_huge_power_is_rebuilt_unevaluated():
    tree = {"node": "Pow", "args": [{"node": "Integer", "value": "2"},
                                    {"node": "Pow", "args": [{"node": "Integer", "value": "10"},
                                                             {"node": "Integer", "value": "100"}]}]}
    expr = rebuild(tree)
    assert isinstance(expr, sp.Pow)


# --- reading what a hostile kernel left in its answer folder -------------------------------------

import hashlib  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402

from graders.probe import transport  # noqa: E402
from graders.probe.folders import AnswerArea  # noqa: E402
from graders.probe.transport import INTERFERED, MB, ReadBudget, read_answers, snapshot  # noqa: E402


def _answer(probe_id: str, value) -> bytes:
    return json.dumps({"id": probe_id, "ok": True, "value": value}).encode()


def test_a_fifo_answer_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "0.json")  # nobody ever writes to it: opening it for reading would block for good
    done = {}
    reader = threading.Thread(target=lambda: done.update(result=snapshot(tmp_path, {"0.json": "0" * 64})),
                              daemon=True)
    reader.start()
    reader.join(60)
    assert not reader.is_alive(), "reading a FIFO blocked the grader"
    assert done["result"] == ({}, {0: INTERFERED})


def test_folders_and_links_are_refused(tmp_path):
    (tmp_path / "0.json").mkdir()
    (tmp_path / "real").write_bytes(_answer("p", 1))
    (tmp_path / "1.json").symlink_to(tmp_path / "real")
    digest = hashlib.sha256(_answer("p", 1)).hexdigest()
    files, bad = snapshot(tmp_path, {"0.json": digest, "1.json": digest})
    assert files == {} and bad == {0: INTERFERED, 1: INTERFERED}


def test_hard_links_count_once_per_name_and_the_check_cap_holds(tmp_path):
    size = 20 * MB  # a sparse file: no disk used, but 20 MB to whoever reads it
    with open(tmp_path / "0_1.npy", "wb") as fh:
        fh.truncate(size)
    for k in range(2, 9):
        os.link(tmp_path / "0_1.npy", tmp_path / f"0_{k}.npy")
    sha = hashlib.sha256(bytes(size)).hexdigest()
    text = _answer("p", [{"$array": {"file": f"0_{k}.npy"}} for k in range(1, 9)])
    (tmp_path / "0.json").write_bytes(text)
    digests = {"0.json": hashlib.sha256(text).hexdigest(), **{f"0_{k}.npy": sha for k in range(1, 9)}}
    budget = ReadBudget()
    out = read_answers(tmp_path, digests, {0: "p"}, budget)
    assert not out["p"].ok and out["p"].error_type == "ValueTooLarge"
    assert out["p"].message == "the answers of this check are larger than the 64 MB the grader reads"
    assert transport.MAX_SUBMISSION_BYTES - budget.left == 3 * size + len(text)  # the 4th name was not read


def test_a_sparse_file_over_the_cap_is_refused_before_reading(tmp_path):
    with open(tmp_path / "0_1.npy", "wb") as fh:
        fh.truncate(400 * MB)
    budget = ReadBudget()
    files, bad = snapshot(tmp_path, {"0_1.npy": "0" * 64}, budget)
    assert files == {} and "64 MB" in bad[0] and budget.left == transport.MAX_SUBMISSION_BYTES


def test_the_submission_cap_is_shared_by_all_its_checks(tmp_path):
    data = bytes(20 * MB)
    (tmp_path / "0_1.npy").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    budget = ReadBudget(left=30 * MB)
    assert snapshot(tmp_path, {"0_1.npy": sha}, budget)[1] == {}
    files, bad = snapshot(tmp_path, {"0_1.npy": sha}, budget)  # the next check: 10 MB left for the submission
    assert files == {} and bad[0] == "the notebook's answers are larger than the 192 MB the grader reads for one submission"


@pytest.mark.parametrize("value", [
    {"$figure": "x"}, {"$figure": {"axes": 5}}, {"$dataframe": {"columns": 1}}, {"$dataframe": "x"},
    {"$series": {"values": 1}}, {"$graph": {"nodes": 5}}, {"$graph": {"edges": [[1]]}}, {"$record": []},
    {"$record": {"type": "t", "fields": 3}}, {"$tuple": 5}, {"$dict": [[1]]}, {"$dict": 7},
    {"$array": {"file": "../../etc/passwd"}}, {"$array": {"dtype": "O", "shape": [1], "data": [1]}},
    {"$array": {"dtype": "f8", "shape": "x", "data": [1]}}, {"$array": 3}, {"$sympy": {"node": 5}},
    {"$opaque": {"x": [1]}}, {"$unknown": 1}, [[[[[[[[[[{"$figure": None}]]]]]]]]]],
])
def test_a_malformed_answer_with_a_valid_digest_is_a_reason_never_an_exception(tmp_path, value):
    text = _answer("p", value)
    (tmp_path / "0.json").write_bytes(text)
    out = read_answers(tmp_path, {"0.json": hashlib.sha256(text).hexdigest()}, {0: "p"})["p"]
    assert isinstance(out, transport.Outcome)
    if not out.ok:
        assert out.error_type in ("BadValue", "Unreadable") and "could not be read" in out.message


def test_deeply_nested_json_is_a_reason(tmp_path):
    text = b'{"id": "p", "ok": true, "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    (tmp_path / "0.json").write_bytes(text)
    out = read_one(tmp_path, 0, "p")
    assert not out.ok and "could not be read" in out.message


# --- the answer folders ----------------------------------------------------------------------------

def test_an_answer_folder_that_was_renamed_or_replaced_is_noticed_and_the_next_one_is_fresh(tmp_path):
    area = AnswerArea(tmp_path, None)
    try:
        folder = area.new_answer_folder({"probes.json": b"[]"})
        assert (folder.path / "probes.json").read_bytes() == b"[]"  # this cell's inputs, and no other's
        assert folder.take_back()
        folder.remove()
        assert not folder.path.exists()  # removed with its inputs
        for attack in ("rename", "file", "link"):
            folder = area.new_answer_folder()
            os.rename(folder.path, str(folder.path) + ".moved")
            if attack == "file":
                folder.path.write_text("not a folder")
            elif attack == "link":
                folder.path.symlink_to(str(folder.path) + ".moved")
            assert not folder.take_back(), attack
            folder.remove()
            fresh = area.new_answer_folder()
            assert fresh.path != folder.path and fresh.take_back()
            fresh.remove()
    finally:
        area.close()
    assert list(tmp_path.iterdir()) == []


def test_a_broken_area_is_replaced_before_the_next_check(tmp_path):
    area = AnswerArea(tmp_path, None)
    try:
        first = area.path
        os.rename(area.path, tmp_path / "moved-area")
        (tmp_path / first.name).write_text("not a folder")   # and a file where it was
        folder = area.new_answer_folder({"probes.json": b"[1]"})   # a whole new area
        assert area.path != first and (folder.path / "probes.json").read_bytes() == b"[1]" and folder.take_back()
        folder.remove()
    finally:
        area.close()
    # every area the grader made is gone, even the one that was moved; what the notebook made stays
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]
