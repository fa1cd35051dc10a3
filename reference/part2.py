"""Reference solution of Part 2 (loss landscape): the one source of the solved notebook's code.

``tools/build_notebooks.py part2`` copies these functions into the solved notebook and turns
them into stubs (signature + docstring) for students, so every docstring states the exact
types and shapes of arguments and return values: that contract is what the graders test.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def load_model(path):
    """Load the causal language model and its tokenizer from a local folder.

    Args:
        path (str): a folder written by ``save_pretrained`` (e.g. ``"models/tiny-lm"``).

    Returns:
        tuple: ``(model, tokenizer)`` — the model (a ``transformers`` causal-LM module such as
        ``GPT2LMHeadModel``) **in evaluation mode** (``model.training`` is False, so dropout
        is off), and its tokenizer (loaded with ``AutoTokenizer``).
    """
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    model.eval()
    return model, tokenizer


def encode(tokenizer, text):
    """Tokenise one text for the model.

    Args:
        tokenizer: the tokenizer returned by ``load_model``.
        text (str): the input text, e.g. ``"I have a dream"``.

    Returns:
        a dict-like mapping (a plain ``dict`` or the tokenizer's ``BatchEncoding``) with keys
        ``"input_ids"`` and ``"attention_mask"``, each a ``torch.LongTensor`` of shape
        ``[1, seq_len]`` (a batch of one sequence, no padding, no special tokens added beyond
        what the tokenizer adds by itself).
    """
    return tokenizer(text, return_tensors="pt")


def compute_loss(model, inputs):
    """The causal-LM loss of ``model`` on ``inputs``, the targets being the inputs themselves.

    Args:
        model: a causal LM (use it as it is: do not change its mode or its parameters).
        inputs (dict): ``{"input_ids": LongTensor [1, seq_len], "attention_mask": LongTensor
            [1, seq_len]}``, as returned by ``encode``.

    Returns:
        float: a Python float, the mean next-token cross-entropy that the model returns when
        called with ``labels=inputs["input_ids"]``. No gradients are needed.
    """
    with torch.no_grad():
        outputs = model(**inputs, labels=inputs["input_ids"])
    return float(outputs.loss)


def random_directions(model, seed):
    """Two random directions in parameter space, normalised parameter by parameter.

    For every parameter tensor ``p`` of ``model.parameters()`` (in that order) draw two Gaussian
    tensors ``a`` and ``b`` shaped like ``p``; make ``b`` orthogonal to ``a`` (remove its
    projection on ``a``, treating both as flat vectors), then rescale each of them so that its
    norm equals the norm of ``p``. The same ``seed`` must always give the same directions
    (use a ``torch.Generator`` seeded with it, or seed torch yourself).

    Args:
        model: a causal LM (not modified).
        seed (int): the random seed.

    Returns:
        tuple: ``(d1, d2)``, two lists of ``torch.Tensor`` with one tensor per parameter, in the
        order of ``model.parameters()``; ``d1[k].shape == d2[k].shape == p_k.shape`` and the
        dtype is the parameter's (float32). For every ``k``:
        ``d1[k].norm() == d2[k].norm() == p_k.norm()`` and ``(d1[k] * d2[k]).sum() == 0``
        (up to float32 round-off).
    """
    generator = torch.Generator().manual_seed(int(seed))
    d1, d2 = [], []
    with torch.no_grad():
        for p in model.parameters():
            a = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            b = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            b = b - (a * b).sum() / (a * a).sum() * a
            scale = p.norm()
            d1.append(a * (scale / a.norm()))
            d2.append(b * (scale / b.norm()))
    return d1, d2


def cosine_similarity(d1, d2):
    """Cosine similarity of two directions, each seen as one long vector.

    Args:
        d1, d2 (list of torch.Tensor): two lists of the same length whose tensors have matching
            shapes (as returned by ``random_directions``).

    Returns:
        float: a Python float, ``<v1, v2> / (|v1| |v2|)`` where ``v1`` and ``v2`` are the
        concatenations of the flattened tensors of ``d1`` and of ``d2`` (not an average of
        per-tensor cosines).
    """
    v1 = torch.cat([t.detach().reshape(-1) for t in d1]).double()
    v2 = torch.cat([t.detach().reshape(-1) for t in d2]).double()
    return float(v1 @ v2 / (v1.norm() * v2.norm()))


def loss_landscape(model, inputs, d1, d2, xs, ys):
    """The loss on a grid of points ``theta + x * d1 + y * d2`` around the trained weights.

    Args:
        model: a causal LM in evaluation mode, with trained parameters ``theta``.
        inputs (dict): as returned by ``encode``.
        d1, d2 (list of torch.Tensor): directions as returned by ``random_directions``
            (one tensor per parameter, in the order of ``model.parameters()``).
        xs (numpy.ndarray): 1-D float array of length ``m``, the steps along ``d1``.
        ys (numpy.ndarray): 1-D float array of length ``n``, the steps along ``d2``.

    Returns:
        numpy.ndarray: float array ``Z`` of shape ``(m, n)`` with
        ``Z[i, j] = compute_loss(model at theta + xs[i] * d1 + ys[j] * d2, inputs)``.

    Each grid point starts again from ``theta`` (perturbations must not accumulate), the model
    stays in evaluation mode, and when the function returns the model's parameters are
    ``theta`` again (restoring by subtracting the perturbation is fine).
    """
    params = list(model.parameters())
    theta = [p.detach().clone() for p in params]
    Z = np.zeros((len(xs), len(ys)))
    with torch.no_grad():
        try:
            for i, x in enumerate(xs):
                for j, y in enumerate(ys):
                    for p, p0, a, b in zip(params, theta, d1, d2):
                        p.copy_(p0 + float(x) * a + float(y) * b)
                    Z[i, j] = compute_loss(model, inputs)
        finally:
            for p, p0 in zip(params, theta):
                p.copy_(p0)
    return Z


def plot_landscape(xs, ys, Z):
    """Draw the loss landscape as a 3-D surface and return the figure.

    Args:
        xs (numpy.ndarray): 1-D array of length ``m`` (steps along ``d1``): the x axis.
        ys (numpy.ndarray): 1-D array of length ``n`` (steps along ``d2``): the y axis.
        Z (numpy.ndarray): array of shape ``(m, n)``, ``Z[i, j]`` the loss at ``(xs[i], ys[j])``:
            the height of the surface.

    Returns:
        matplotlib.figure.Figure: a figure with one 3-D axes (``projection="3d"``) holding a
        surface made by ``plot_surface`` through every point ``(xs[i], ys[j], Z[i, j])``,
        with axis labels. Return the figure; do not close it.
    """
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    fig = plt.figure(figsize=(7, 5))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(X, Y, np.asarray(Z), cmap="viridis", linewidth=0, antialiased=True)
    ax.set_xlabel("step along d1")
    ax.set_ylabel("step along d2")
    ax.set_zlabel("loss")
    ax.set_title("Loss landscape around the trained weights")
    return fig
