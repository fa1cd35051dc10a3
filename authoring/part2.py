# %% [markdown]
# # Part 2 — The loss landscape of a language model (10 points)
#
# A trained network sits at one point $\theta$ of a parameter space with hundreds of thousands
# (here) or billions (GPT-2 and beyond) of dimensions. We cannot look at the loss over all of it,
# but we can look at a **two-dimensional slice**: pick two directions $d_1, d_2$ in parameter
# space and evaluate
#
# $$Z(x, y) = \mathcal{L}(\theta + x\,d_1 + y\,d_2)$$
#
# on a grid of steps $(x, y)$ around the trained weights, then draw $Z$ as a surface. The shape of
# that surface near $(0, 0)$ — a narrow well or a wide basin — is often discussed in connection
# with how well a model generalises (Li et al., *Visualizing the Loss Landscape of Neural Nets*,
# NeurIPS 2018).
#
# The original assignment did this for GPT-2 on the sentence "I have a dream". Here we use
# `tiny-lm`, a small GPT-2-architecture model that ships with the homework in `models/tiny-lm`
# and was trained on simple English-like sentences, so that everything runs offline on a CPU in
# well under a minute. The algorithm is the same.
#
# **What you write** (every function receives what it needs as arguments; read each docstring:
# it states exactly what goes in and what must come out — that is what is graded):
#
# | function | points |
# |---|---|
# | `load_model`, `encode`, `compute_loss` | 2 |
# | `random_directions`, `cosine_similarity` | 3 |
# | `loss_landscape` | 3 |
# | `plot_landscape` | 1 |
# | written question | 1 |
#
# The graders call your functions on their own inputs (other texts, other directions, other
# grids, fresh copies of the model), so do not rely on the global variables of this notebook
# inside your functions.

# %% [locked] part2-setup
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

MODEL_PATH = "models/tiny-lm"   # the embedded model (a folder written by save_pretrained)
TEXT = "I have a dream"         # the sentence whose loss we look at
GRID_SIZE = 20                  # 20 x 20 points, as in the original assignment
SEED = 0

torch.set_num_threads(1)

# %% [markdown]
# ## 1. The model, the input and the loss
#
# * `load_model(path)` loads the model and its tokenizer from the local folder and returns the
#   model **in evaluation mode**. The model was trained with dropout (probability 0.1): in
#   training mode every call drops random activations, so the loss changes from one call to the
#   next and the landscape becomes noise.
# * `encode(tokenizer, text)` turns the sentence into the model's inputs (a batch of one).
# * `compute_loss(model, inputs)` returns the causal-LM loss of the model on that sentence:
#   call the model with `labels` equal to the input ids (the model shifts them by itself) and
#   return the loss as a Python `float`.

# %% [solution] load_model encode compute_loss

# %%
model, tokenizer = load_model(MODEL_PATH)
inputs = encode(tokenizer, TEXT)
base_loss = compute_loss(model, inputs)
print("tokens:", tokenizer.convert_ids_to_tokens(inputs["input_ids"][0]))
print(f"loss of the trained model on {TEXT!r}: {base_loss:.4f}")
print("parameters:", sum(p.numel() for p in model.parameters()))

# %% [markdown]
# ## 2. Two random directions
#
# A direction is one tensor per parameter tensor of the model (same shapes, same order as
# `model.parameters()`). Raw Gaussian directions are a poor choice: a step of size 1 would mean
# very different things for an embedding matrix with a large norm and for a layer-norm bias with
# a tiny one. So each direction is **normalised parameter by parameter**: its part for parameter
# $p$ is rescaled to have the norm of $p$ itself (Li et al. normalise filter by filter; per
# parameter tensor is the variant we use here). A step $x = 1$ then moves every parameter by as
# much as its own size.
#
# The two directions should also be **orthogonal**, so that the two axes of the plot show
# different things: for each parameter, remove from the second Gaussian tensor its projection
# on the first one (one step of Gram–Schmidt) before rescaling. Orthogonal pieces make
# orthogonal wholes, so the cosine similarity of the two full directions — each flattened and
# concatenated into one long vector — must come out as (almost exactly) zero.
#
# Use the seed you are given, so that the same seed gives the same directions.

# %% [solution] random_directions cosine_similarity

# %%
d1, d2 = random_directions(model, seed=SEED)
print("cosine similarity of d1 and d2:", cosine_similarity(d1, d2))
print("norm check (first parameter):", float(d1[0].norm()), float(d2[0].norm()),
      float(next(model.parameters()).norm()))

# %% [markdown]
# ## 3. The loss on a grid
#
# `loss_landscape(model, inputs, d1, d2, xs, ys)` evaluates
# `Z[i, j] = loss(θ + xs[i]·d1 + ys[j]·d2)` for every pair of steps. Three things to get right:
#
# * every grid point starts again from the trained weights θ — a perturbation must not pile up
#   on top of the previous one;
# * the loss is computed in evaluation mode;
# * when the function returns, the model holds θ again (keep a copy of the original parameters,
#   or subtract what you added; the tiny round-off of the latter is fine).
#
# `Z` has one row per value of `xs` and one column per value of `ys`.

# %% [solution] loss_landscape

# %%
xs = np.linspace(-1.0, 1.0, GRID_SIZE)
ys = np.linspace(-1.0, 1.0, GRID_SIZE)
start = time.perf_counter()
Z = loss_landscape(model, inputs, d1, d2, xs, ys)
print(f"{Z.shape[0]} x {Z.shape[1]} grid in {time.perf_counter() - start:.1f} s")
print(f"loss at the centre of the grid (closest to θ): {Z[np.abs(xs).argmin(), np.abs(ys).argmin()]:.4f}")
print(f"min {Z.min():.4f}, max {Z.max():.4f}")
print("model restored:", abs(compute_loss(model, inputs) - base_loss) < 1e-4)

# %% [markdown]
# ## 4. The picture
#
# `plot_landscape(xs, ys, Z)` draws the surface with `plot_surface` on a 3-D axes: steps along
# `d1` on the x axis, steps along `d2` on the y axis, the loss as the height. Careful with
# `np.meshgrid`: by default it returns arrays of shape `(len(ys), len(xs))`, the transpose of
# `Z` (use `indexing="ij"`, or transpose `Z`). Return the figure.

# %% [solution] plot_landscape

# %%
fig = plot_landscape(xs, ys, Z)
plt.show()

# %% [markdown]
# ## 5. Question (1 point, graded by a TA)
#
# What does your surface say about the trained weights? Is θ at (or near) the bottom of a
# basin? Is the basin sharp or flat compared with the range of steps you plotted, and is it the
# same along both directions? What can — and what cannot — be concluded about the whole loss
# function from a slice along two random directions, on a single sentence?

# %% [answer] part2.written
# The trained weights sit in a wide, gently sloping valley. Within about ±0.2 of θ (steps of a
# fifth of each parameter's norm) the loss only moves between roughly 0.6 and 1.2, while at the
# corners of the grid, where every parameter has moved by its own size, it climbs to 10 or more:
# measured on the scale of the weights, θ is in a flat region, not in a narrow well. θ is not
# the lowest point of this slice, though: on this one sentence the loss keeps falling for a
# while along one side of the grid. Training minimised the average loss over the whole corpus,
# so a single sentence can prefer slightly different weights. The two directions give a similar
# picture, as expected of two random directions in a space of almost a million dimensions.
#
# What cannot be concluded: the slice is 2 of ~860 000 dimensions, and random directions almost
# never point along the few directions of highest curvature, so a flat-looking slice does not
# prove the minimum is flat in every direction; one sentence is not the training distribution;
# and sharpness depends on how the directions are scaled (hence the per-parameter
# normalisation), so surfaces of different models are comparable only when normalised the same way.
