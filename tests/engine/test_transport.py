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
    exec((__import__("graders.execute", fromlist=["KERNEL_SIDE"]).KERNEL_SIDE), {})
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
