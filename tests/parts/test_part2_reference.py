"""The Part 2 reference against independent computations (fast: no notebook is executed).

Oracles: the causal-LM loss recomputed from the logits with ``torch.nn.functional.cross_entropy``;
the landscape recomputed with ``torch.func.functional_call`` on parameters built from scratch
(no in-place perturbation, so nothing to restore); the cosine with numpy in float64; the surface
read back through the kernel-side figure encoder the graders use.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from graders import assets
from graders.parts import part2 as grader
from reference import part2 as ref

MODEL_DIR = assets.model_path("tiny-lm")


@pytest.fixture(scope="module")
def loaded():
    model, tok = ref.load_model(MODEL_DIR)
    return model, tok, ref.encode(tok, "I have a dream")


def test_model_has_dropout_so_train_mode_is_visible(loaded):
    model, _, inputs = loaded
    assert not model.training and not any(m.training for m in model.modules())
    assert model.config.resid_pdrop > 0 and model.config.attn_pdrop > 0
    eval_loss = ref.compute_loss(model, inputs)
    train = copy.deepcopy(model).train()
    torch.manual_seed(0)
    train_losses = [ref.compute_loss(train, inputs) for _ in range(3)]
    assert min(abs(t - eval_loss) for t in train_losses) > 1e-3


def test_encode_is_a_batch_of_one(loaded):
    _, tok, inputs = loaded
    ids = inputs["input_ids"]
    assert ids.dtype == torch.long and ids.shape[0] == 1 and ids.shape[1] >= 4
    assert torch.equal(inputs["attention_mask"], torch.ones_like(ids))
    assert tok.decode(ids[0]).strip() == "I have a dream"


def test_compute_loss_equals_shifted_cross_entropy(loaded):
    model, _, inputs = loaded
    with torch.no_grad():
        logits = model(input_ids=inputs["input_ids"]).logits[0]
    oracle = torch.nn.functional.cross_entropy(logits[:-1], inputs["input_ids"][0, 1:]).item()
    loss = ref.compute_loss(model, inputs)
    assert isinstance(loss, float) and loss == pytest.approx(oracle, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 7])
def test_random_directions_properties(loaded, seed):
    model = loaded[0]
    d1, d2 = ref.random_directions(model, seed)
    params = list(model.parameters())
    assert len(d1) == len(d2) == len(params)
    for a, b, p in zip(d1, d2, params):
        assert a.shape == b.shape == p.shape and a.dtype == p.dtype and not a.requires_grad
        assert float(a.norm()) == pytest.approx(float(p.detach().norm()), rel=1e-5)
        assert float(b.norm()) == pytest.approx(float(p.detach().norm()), rel=1e-5)
        assert abs(float((a.double() * b.double()).sum())) <= 1e-5 * float(p.detach().norm()) ** 2
    assert abs(ref.cosine_similarity(d1, d2)) < 1e-6
    again = ref.random_directions(model, seed)
    assert all(torch.equal(a, b) for a, b in zip(d1 + d2, again[0] + again[1]))
    other = ref.random_directions(model, seed + 1)
    assert not torch.equal(d1[0], other[0][0])
    # the grader's own property checks agree
    shapes, norms = grader._parameter_facts(model)
    value = ([np.asarray(t).view(grader.KernelArray) for t in d1], [np.asarray(t).view(grader.KernelArray) for t in d2])
    for part in value:
        for t in part:
            t.source = "torch.Tensor"
    assert grader._directions_rule(shapes, norms, what=("norms", "orthogonal"))(value) is None


def test_cosine_similarity_matches_numpy():
    rng = np.random.default_rng(1)
    d1 = [torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in [(3, 4), (10,), (2, 2, 2)]]
    d2 = [t * w + torch.from_numpy(rng.standard_normal(tuple(t.shape)).astype(np.float32)) for t, w in zip(d1, [2.0, -1.0, 0.0])]
    v1 = np.concatenate([t.numpy().ravel() for t in d1]).astype(np.float64)
    v2 = np.concatenate([t.numpy().ravel() for t in d2]).astype(np.float64)
    expected = v1 @ v2 / np.linalg.norm(v1) / np.linalg.norm(v2)
    got = ref.cosine_similarity(d1, d2)
    assert isinstance(got, float) and got == pytest.approx(expected, abs=1e-7)
    per_tensor_mean = np.mean([float(torch.nn.functional.cosine_similarity(a.ravel(), b.ravel(), dim=0))
                               for a, b in zip(d1, d2)])
    assert abs(per_tensor_mean - expected) > 1e-2  # the inputs tell the two definitions apart


def test_loss_landscape_matches_functional_call_and_restores(loaded):
    model, _, inputs = loaded
    d1, d2 = grader._grader_directions(np.random.default_rng(3), model)
    xs, ys = np.array([-0.4, 0.1, 0.5]), np.array([-0.3, 0.2, 0.35, 0.6])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    Z = ref.loss_landscape(model, inputs, d1, d2, xs, ys)
    assert isinstance(Z, np.ndarray) and Z.shape == (3, 4) and not model.training
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    names = [n for n, _ in model.named_parameters()]
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            params = {n: before[n] + float(x) * a + float(y) * b for n, a, b in zip(names, d1, d2)}
            with torch.no_grad():
                out = torch.func.functional_call(model, params, args=(), kwargs={**inputs, "labels": inputs["input_ids"]})
            assert Z[i, j] == pytest.approx(out.loss.item(), rel=1e-4, abs=1e-5)
    # the grid is not flat at the tolerance the grader uses, so wrong points are seen
    assert np.ptp(Z) > 100 * grader.LANDSCAPE_ATOL
    # theta itself is the centre of the notebook's grid: the loss there is the model's loss
    centre = ref.loss_landscape(model, inputs, d1, d2, np.array([0.0]), np.array([0.0]))
    assert centre[0, 0] == pytest.approx(ref.compute_loss(model, inputs), abs=1e-6)


def test_plot_landscape_surface_is_read_back_by_the_encoder():
    from graders.kernel import KERNEL_SIDE

    namespace: dict = {}
    exec(compile(KERNEL_SIDE, "kernel_side.py", "exec"), namespace)
    import sys

    from graders.probe.transport import Decoder

    encoder = sys.modules["_hw4_probe"].Encoder
    xs, ys = np.array([-1.0, 0.0, 0.5]), np.array([0.25, 0.5, 1.0, 2.0, 2.5])
    Z = np.arange(15.0).reshape(3, 5) ** 1.5
    fig = ref.plot_landscape(xs, ys, Z)
    data = Decoder(".").decode(encoder(".", "t").encode(fig))
    assert grader._surface_problem(xs, ys, Z)(data) is None
    assert grader._surface_problem(xs, ys, Z[:, ::-1])(data) is not None
    # the same data drawn with swapped axes is refused
    import matplotlib.pyplot as plt

    swapped = plt.figure()
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    swapped.add_subplot(projection="3d").plot_surface(Y, X, Z)
    data = Decoder(".").decode(encoder(".", "s").encode(swapped))
    assert "does not pass through" in grader._surface_problem(xs, ys, Z)(data)
    plt.close("all")


def test_load_model_and_encode_results_cross_as_data(loaded):
    """What load_model and encode return reaches the grader as data its checks can read."""
    from graders.kernel import KERNEL_SIDE
    from graders.probe.transport import Decoder

    exec(compile(KERNEL_SIDE, "kernel_side.py", "exec"), {})
    import sys

    encoder = sys.modules["_hw4_probe"].Encoder
    model, tok, inputs = loaded
    n_params = sum(p.numel() for p in model.parameters())
    value = Decoder(".").decode(encoder(".", "m").encode((model, tok)))
    assert grader._load_model_problem(value, n_params) is None
    train = Decoder(".").decode(encoder(".", "t").encode((copy.deepcopy(model).train(), tok)))
    assert "training mode" in grader._load_model_problem(train, n_params)
    enc = Decoder(".").decode(encoder(".", "e").encode(inputs))  # a BatchEncoding, encoded like a dict
    assert grader._encode_problem(enc, inputs["input_ids"].numpy()) is None
