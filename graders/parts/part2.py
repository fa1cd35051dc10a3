"""Part 2: Loss landscape — the checks behind its rubric items (see rubric.yaml, part `part2`).

What is checked, and how:

* ``load_model`` by what it returns: a (model, tokenizer) pair whose model is in eval mode
  (the shipped tiny-lm has dropout 0.1, so a model left in train mode gives noisy losses).
* ``encode`` / ``compute_loss`` against the reference on the assignment's sentence and on
  hidden sentences of the toy language.
* ``random_directions`` by **properties**, never by equality with the reference (any RNG use
  is fine): one tensor per parameter with its shape, each scaled to its parameter's norm,
  orthogonal (over the whole flattened direction and parameter by parameter), the same for the
  same seed and different for another seed.
* ``cosine_similarity`` against the reference on grader-made, deliberately non-orthogonal
  directions whose per-tensor cosines differ (an average of per-tensor cosines is wrong).
* ``loss_landscape`` on grader-made directions and small **non-square** grids (a transposed Z
  has the wrong shape) against the reference; the parameters after the call (kernel-side
  read back after the call and compared, in the grader, with its own copy of the shipped weights —
  never with a snapshot kept in the kernel, which the notebook could rewrite —, on a grid whose
  steps neither sum to zero nor end at zero, so neither piled-up nor un-restored perturbations
  cancel) and the model's mode (``training``).
* ``plot_landscape`` by the data of the returned figure: a 3-D surface through every point
  ``(xs[i], ys[j], Z[i, j])``.

Expected values come from ``ctx.reference("part2")`` through calls that return plain data, so
they can be recorded for the student bundle; the parameter shapes and norms are facts of the
shipped model, read here from its files.

Contract clauses → checks (each clause of the notebook's docstrings, and a check that fails an
implementation breaking that clause alone):

* ``load_model``: (model, tokenizer), the model in eval mode, the parameters of the folder →
  ``part2.load_model``.
* ``encode``: ``input_ids`` and ``attention_mask``, LongTensors ``[1, seq_len]``, the tokenizer's ids,
  no padding → ``part2.encode``, ``part2.encode.hidden``.
* ``compute_loss``: the loss with ``labels=input_ids`` as a Python float → ``part2.compute_loss``,
  ``part2.compute_loss.hidden``; the model left in its mode and with its parameters →
  ``part2.compute_loss`` (observed after the call).
* ``random_directions``: one float32 tensor per parameter, in order, shaped like it →
  ``part2.random_directions.shapes``; each scaled to its parameter's norm →
  ``part2.random_directions.norms``; orthogonal, parameter by parameter →
  ``part2.random_directions.orthogonal``; the same seed the same directions, another seed others →
  ``part2.random_directions.seeded``; all of it on a hidden seed → ``part2.random_directions.hidden``.
  A constant direction is not random: the property checks pay nothing for it. Another dtype than
  float32 costs ``shapes`` only: the other checks judge the values cast to float32, with a note.
* ``cosine_similarity``: over the concatenation, not a mean of per-tensor cosines, a Python float →
  ``part2.cosine_similarity``, ``part2.cosine_similarity.hidden`` (on non-orthogonal inputs, so
  a constant 0 fails).
* ``loss_landscape``: ``Z[i, j]`` on ``(m, n)``, from theta at every point, a numpy array →
  ``part2.loss_landscape.values``, ``part2.loss_landscape.hidden``; eval mode →
  ``part2.loss_landscape.eval_mode``; parameters restored → ``part2.loss_landscape.restored``.
* ``plot_landscape``: one 3-D axes, a surface through every ``(xs[i], ys[j], Z[i, j])``, axis labels →
  ``part2.plot_landscape``, ``part2.plot_landscape.hidden``. Advice, not graded: "do not close it".
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from graders import assets
from graders.checks.base import CannotGrade, Check
from graders.checks.figure import FigureCheck
from graders.checks.rules import AllClose, Note, Property
from graders.checks.values import close_problem, type_problem
from graders.part import CheckContext, CheckTable, PartSpec
from graders.probe.spec import Probe, causal_lm, tokenizer
from graders.probe.transport import KernelArray, Opaque, Record
from graders.reasons import hidden

PART_NAME = "part2"
#: error carried forward: the student functions each graded function calls (see ``Check.depends``)
DEPENDS = {"loss_landscape": ("compute_loss",)}
#: the notebook's contract in short: each function's arguments, and what the docstring says they are
#: (named when a call raises; see ``graders.calls``)
_INPUTS = ("inputs", "{'input_ids', 'attention_mask'}: LongTensors [1, seq_len]")
ARGUMENTS = {
    "load_model": (("path", "a folder written by save_pretrained"),),
    "encode": (("tokenizer", ""), ("text", "")),
    "compute_loss": (("model", "a causal LM in eval mode"), _INPUTS),
    "random_directions": (("model", ""), ("seed", "")),
    "cosine_similarity": (("d1", "a list of tensors"), ("d2", "a list of tensors")),
    "loss_landscape": (("model", ""), _INPUTS, ("d1", "one tensor per parameter"), ("d2", "one tensor per parameter"),
                       ("xs", "a 1-D numpy array"), ("ys", "a 1-D numpy array")),
    "plot_landscape": (("xs", "[m]"), ("ys", "[n]"), ("Z", "[m, n]")),
}
MODEL = "tiny-lm"
MODEL_FOLDER = "models/tiny-lm"  # the path the notebook passes to load_model (relative to its folder)
TEXT = "I have a dream"

#: |Δ| allowed in any parameter after loss_landscape returns (subtracting the perturbation
#: again leaves float32 round-off of a few 1e-6; an unrestored model is off by O(parameter norm))
DRIFT_MAX = 1e-4
NORM_RTOL = 1e-4
COSINE_MAX = 1e-4            # |cos(d1, d2)| over the flattened concatenation
COSINE_PER_PARAMETER_MAX = 1e-3
LANDSCAPE_RTOL, LANDSCAPE_ATOL = 1e-4, 1e-4
LOSS_RTOL, LOSS_ATOL = 1e-5, 1e-5

# words of the toy language tiny-lm was trained on (hidden sentences are made from them)
_ADJS = ["little", "old", "happy", "young", "small", "red", "clever", "quiet", "hungry", "brave"]
_NOUNS = ["dog", "cat", "man", "woman", "child", "bird", "teacher", "king", "farmer", "horse"]
_THINGS = ["house", "garden", "tree", "ball", "book", "car", "river", "box", "apple", "song"]
_VERBS = ["sees", "likes", "has", "finds", "loves", "watches", "follows", "helps", "wants", "paints"]


# --- the shipped model, as facts for the checks ----------------------------------------------

def _model_and_tokenizer():
    """tiny-lm and its tokenizer, loaded in the grading process (eval mode, never modified)."""
    return assets.grader_model(MODEL)


def _parameter_facts(model) -> tuple[list[tuple[int, ...]], np.ndarray]:
    shapes = [tuple(p.shape) for p in model.parameters()]
    norms = np.array([float(p.detach().double().norm()) for p in model.parameters()])
    return shapes, norms


def _grader_directions(rng: np.random.Generator, model) -> tuple[list, list]:
    """Two random directions, each tensor scaled to its parameter's norm (not orthogonalised:
    loss_landscape must work for any directions)."""
    import torch

    d1, d2 = [], []
    for p in model.parameters():
        norm = float(p.detach().double().norm())
        for d in (d1, d2):
            a = rng.standard_normal(tuple(p.shape))
            d.append(torch.from_numpy((a * (norm / np.linalg.norm(a))).astype(np.float32)))
    return d1, d2


def _grid(rng: np.random.Generator, m: int, n: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Sorted steps in [-scale, scale] with a sum and a last element away from zero."""
    while True:
        xs = np.sort(rng.uniform(-scale, scale, m)).round(3)
        ys = np.sort(rng.uniform(-scale, scale, n)).round(3)
        if min(abs(xs.sum()), abs(ys.sum()), abs(xs[-1]), abs(ys[-1])) > 0.05 * scale \
                and len(set(xs)) == m and len(set(ys)) == n:
            return xs, ys


def _hidden_text(rng: np.random.Generator) -> str:
    pick = lambda words: words[int(rng.integers(len(words)))]  # noqa: E731
    return f"The {pick(_ADJS)} {pick(_NOUNS)} {pick(_VERBS)} the {pick(_THINGS)} ."


def _inputs(ref, tok, text: str) -> dict:
    enc = ref.encode(tok, text)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


# --- predicates (None when fine, else a reason a student can act on) --------------------------

def _load_model_problem(value: Any, n_parameters: int) -> str | None:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return "should return a tuple (model, tokenizer)"
    model, tok = value
    if not isinstance(model, Record) or "training" not in model.fields:
        return "the first element should be the model (a torch module)"
    if model.fields.get("parameters") != n_parameters:
        return "the model does not have the parameters of the model in the given folder"
    if model.fields["training"] or model.fields.get("submodules_training"):
        return "the model is in training mode (dropout is active): call model.eval()"
    if not isinstance(tok, Opaque) or "token" not in tok.type.lower():
        return "the second element should be the tokenizer"
    return None


def _encode_problem(value: Any, expected_ids: np.ndarray) -> str | None:
    if not isinstance(value, dict):
        return "should return a dict with 'input_ids' and 'attention_mask'"
    for key in ("input_ids", "attention_mask"):
        a = value.get(key)
        if not isinstance(a, KernelArray) or a.source != "torch.Tensor":
            return f"{key!r} should be a torch tensor"
        if a.shape != expected_ids.shape:
            return f"{key!r} has shape {tuple(a.shape)}, expected {tuple(expected_ids.shape)} (a batch of one)"
        if a.dtype.kind not in "iu":
            return f"{key!r} should be a torch.LongTensor (integer ids), got dtype {a.dtype}"
    if not np.array_equal(value["input_ids"], expected_ids):
        return "'input_ids' differ from the tokenizer's ids for this text"
    if not np.all(value["attention_mask"] == 1):
        return "'attention_mask' should be all ones (no padding)"
    return None


def _unpack_directions(value: Any, shapes) -> tuple[list[np.ndarray], list[np.ndarray], str] | str:
    """(d1, d2, dtype) as float64 arrays of the values cast to float32, and what is wrong with their dtype
    ("" when they are float32) — a dtype costs only the check of its clause (``shapes``); the others judge
    the values as the parameters' dtype would hold them — or the reason they are not two lists of tensors."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return "should return a tuple (d1, d2) of two lists of tensors"
    out, dtype = [], ""
    for name, d in zip(("d1", "d2"), value):
        if not isinstance(d, (list, tuple)):
            return f"{name} should be a list of tensors, one per parameter"
        if len(d) != len(shapes):
            return f"{name} has {len(d)} tensors; expected one per parameter of model.parameters() ({len(shapes)})"
        for k, (t, shape) in enumerate(zip(d, shapes)):
            if not isinstance(t, KernelArray) or t.source != "torch.Tensor":
                return f"{name}[{k}] should be a torch tensor"
            if tuple(t.shape) != shape:
                return f"{name}[{k}] has shape {tuple(t.shape)}; parameter {k} has shape {shape}"
            if t.dtype.kind not in "biuf":
                return f"{name}[{k}] has dtype {t.dtype}; directions have the parameters' dtype (float32)"
            if t.dtype != np.float32 and not dtype:
                dtype = f"{name}[{k}] has dtype {t.dtype}; directions have the parameters' dtype (float32)"
            if not np.isfinite(t).all():
                return f"{name}[{k}] contains NaN or inf (a division by a zero norm?)"
        out.append([np.asarray(t, dtype=np.float32).astype(np.float64) for t in d])
    return out[0], out[1], dtype


def _cast_note(dtype: str) -> Note | None:
    """A check that judges values passes a wrong dtype with this note (the ``shapes`` check charges it)."""
    if not dtype:
        return None
    return Note(f"{dtype} (judged here on the values cast to float32; the dtype costs the shapes check)")


def _norms_problem(d1, d2, norms: np.ndarray) -> str | None:
    for name, d in (("d1", d1), ("d2", d2)):
        got = np.array([np.linalg.norm(t) for t in d])
        bad = np.flatnonzero(np.abs(got - norms) > NORM_RTOL * norms + 1e-7)
        if bad.size:
            k = int(bad[0])
            return (f"{name}[{k}] does not have the norm of parameter {k}"
                    + hidden(f" (its norm is {got[k]:.5g}, the parameter's {norms[k]:.5g})", shown="")
                    + f" ({bad.size} tensor(s) off): scale each tensor to the norm of its own parameter")
    return None


def _orthogonality_problem(d1, d2) -> str | None:
    v1 = np.concatenate([t.ravel() for t in d1])
    v2 = np.concatenate([t.ravel() for t in d2])
    denom = np.linalg.norm(v1) * np.linalg.norm(v2)
    if denom == 0:
        return "a direction is all zeros"
    cos = float(v1 @ v2 / denom)
    if not abs(cos) <= COSINE_MAX:
        return (f"d1 and d2 are not orthogonal{hidden(f' (cosine {cos:.2e})', shown='')}: "
                "remove from d2 its projection on d1")
    for k, (a, b) in enumerate(zip(d1, d2)):
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        if na > 0 and nb > 0 and not abs(float(a.ravel() @ b.ravel()) / (na * nb)) <= COSINE_PER_PARAMETER_MAX:
            return (f"d2[{k}] is not orthogonal to d1[{k}]: orthogonalise parameter by parameter, "
                    "before scaling to the parameter's norm")
    return None


def _directions_rule(shapes, norms, *, what: tuple[str, ...]):
    """``what``: the clauses judged — "dtype" (with the shapes), "norms", "orthogonal"."""
    def predicate(value):
        unpacked = _unpack_directions(value, shapes)
        if isinstance(unpacked, str):
            return unpacked
        d1, d2, dtype = unpacked
        if "dtype" in what and dtype:
            return dtype
        if "norms" in what and (p := _norms_problem(d1, d2, norms)):
            return p
        if "orthogonal" in what and (p := _orthogonality_problem(d1, d2)):
            return p
        return _cast_note(dtype)

    return predicate


def _seeded_rule(shapes):
    def predicate(same_seed, other_seed):
        if not isinstance(same_seed, list) or len(same_seed) != 2:
            raise CannotGrade("the repeated call did not return two results")
        runs = [_unpack_directions(v, shapes) for v in (*same_seed, other_seed)]
        for r in runs:
            if isinstance(r, str):
                return r
        flat = [np.concatenate([t.ravel() for t in d1 + d2]) for d1, d2, _ in runs]
        if not np.array_equal(flat[0], flat[1]):
            return "two calls with the same seed gave different directions: draw them from a generator seeded with `seed`"
        if np.array_equal(flat[0], flat[2]):
            return "different seeds gave the same directions: use the `seed` argument"
        return _cast_note(runs[0][2])

    return predicate


@lru_cache(maxsize=1)
def _shipped_parameters() -> dict[str, np.ndarray]:
    """The grader's own copy of the shipped model's parameters (what a restored model must hold)."""
    model = assets.grader_model(MODEL)[0]
    return {name: p.detach().numpy().copy() for name, p in model.named_parameters()}


def _direction_tensors(value) -> list:
    """Every tensor of d1 and d2: a constant direction (zeros, ones…) is not a random direction."""
    return list(value[0]) + list(value[1])


def _returned_grid(outcome) -> list:
    """What loss_landscape returned: eval mode and restored weights count only for a real grid of losses."""
    return [outcome.value]


def _loss_rule(expected: float):
    """compute_loss: the loss as a Python float, the model left in the mode and with the parameters it had."""
    def predicate(outcome) -> str | None:
        if p := type_problem(outcome, "float"):
            return f"loss {p}"
        if p := close_problem(outcome.value, expected, rtol=LOSS_RTOL, atol=LOSS_ATOL):
            return f"loss: {p}"
        if outcome.observed.get("training") and outcome.observed["training"][0]:
            return ("compute_loss left the model in training mode: use the model as it is "
                    "(no model.train(); to compute without gradients use torch.no_grad())")
        if "parameters" in outcome.observed and _parameters_problem(outcome):
            return "compute_loss changed the model's parameters: it must only evaluate the loss"
        return None

    return predicate


def _parameters_problem(outcome) -> str | None:
    """The parameters read back after the call, against the grader's copy of the shipped weights."""
    found = outcome.observed.get("parameters")
    if not found or not isinstance(found[0], dict):
        raise CannotGrade("the parameters of the model could not be observed")
    after, shipped = found[0], _shipped_parameters()
    if set(after) != set(shipped):
        return "after the call the model has other parameters than the shipped model: do not replace its modules"
    drift = 0.0
    for name, original in shipped.items():
        value = after[name]
        if not isinstance(value, np.ndarray) or value.shape != original.shape:
            return f"after the call the parameter {name} has another shape: restore the original weights"
        drift = max(drift, float(np.nanmax(np.abs(value.astype(np.float64) - original))) if value.size else 0.0)
        if np.isnan(value).any():
            drift = float("inf")
    if not drift <= DRIFT_MAX:
        return ("after the call the model's parameters differ from the shipped weights"
                f"{hidden(f' by up to {drift:.3g}', shown='')}: "
                "start every grid point from the original weights and restore them at the end")
    return None





def _landscape_mode(outcome) -> str | None:
    training = outcome.observed.get("training")
    if not training:
        raise CannotGrade("the mode of the model could not be observed")
    if training[0]:
        return "the model was left in training mode: the loss must be computed with dropout off (eval mode)"
    return None


def _surface_problem(xs: np.ndarray, ys: np.ndarray, Z: np.ndarray):
    expected = {(i, j) for i in range(len(xs)) for j in range(len(ys))}
    tol_x = 1e-6 * max(1.0, float(np.abs(xs).max()))
    tol_y = 1e-6 * max(1.0, float(np.abs(ys).max()))

    def through_grid(v: np.ndarray) -> bool:
        v = np.asarray(v, dtype=float).reshape(-1, 3)
        if v.shape[0] == 0 or not np.isfinite(v).all():
            return False
        i = np.abs(v[:, :1] - xs[None, :]).argmin(axis=1)
        j = np.abs(v[:, 1:2] - ys[None, :]).argmin(axis=1)
        if not (np.abs(v[:, 0] - xs[i]) <= tol_x).all() or not (np.abs(v[:, 1] - ys[j]) <= tol_y).all():
            return False
        if not np.allclose(v[:, 2], Z[i, j], rtol=1e-5, atol=1e-6):
            return False
        return set(zip(i.tolist(), j.tolist())) == expected

    def predicate(fig) -> str | None:
        axes = [ax for ax in fig.axes if ax.get("kind") == "3d"]
        if not axes:
            return "no 3-D axes: create one with fig.add_subplot(projection='3d')"
        surfaces = [c["verts3d"] for ax in axes for c in ax.get("collections", []) if "verts3d" in c]
        if not surfaces:
            return "no surface on the 3-D axes: draw Z with ax.plot_surface"
        if any(through_grid(v) for v in surfaces):
            labelled = [ax for ax in axes if ax.get("xlabel", "").strip() and ax.get("ylabel", "").strip()]
            return None if labelled else "label the axes (ax.set_xlabel, ax.set_ylabel: the steps along d1 and d2)"
        return ("the surface does not pass through every point (xs[i], ys[j], Z[i, j]): put xs on the x axis, "
                "ys on the y axis, and mind meshgrid's indexing (Z has one row per x)")

    return predicate


# --- the checks ------------------------------------------------------------------------------

def build_checks(ctx: CheckContext) -> list[Check]:
    """Every check of this part; expected values come from ``ctx.reference("part2")``."""
    ref = ctx.reference(PART_NAME)
    model, tok = _model_and_tokenizer()
    shapes, norms = _parameter_facts(model)
    n_parameters = sum(int(np.prod(s)) for s in shapes)
    table = CheckTable(PART_NAME, DEPENDS)

    # -- load_model, encode, compute_loss --
    path = assets.model_override(MODEL) or MODEL_FOLDER  # the model the kernel's resources load too
    table.add("load_model", [Probe("part2.load_model", "load_model", (path,))],
        Property(["part2.load_model"], lambda v: _load_model_problem(v, n_parameters)),
        "load_model returns (model in eval mode, tokenizer)")

    def text_checks(suffix, text, public):
        """encode and compute_loss on one text; returns the model inputs for that text."""
        inputs = _inputs(ref, tok, text)
        ids = np.asarray(inputs["input_ids"])
        expected_loss = ref.compute_loss(model, inputs)
        eid, lid = f"part2.encode{suffix}", f"part2.compute_loss{suffix}"
        table.add(f"encode{suffix}", [Probe(eid, "encode", (tokenizer(MODEL), text))],
            Property([eid], lambda v: _encode_problem(v, ids)),
            "encode returns the tokenizer's input_ids and attention_mask, shape [1, seq_len]", public=public)
        table.add(f"compute_loss{suffix}",
            [Probe(lid, "compute_loss", (causal_lm(MODEL), inputs), observe=("training", "parameters"))],
            Property([lid], _loss_rule(expected_loss), outcomes=True),
            "compute_loss returns the causal-LM loss as a Python float, leaving the model as it was", public=public)
        return inputs

    inputs = text_checks("", TEXT, True)
    if ctx.hidden:
        text_checks(".hidden", _hidden_text(ctx.rng("part2.encode")), False)

    # -- random_directions, cosine_similarity --
    for id_, what, description in [
        ("shapes", ("dtype",), "random_directions returns two lists of float32 tensors shaped like the parameters"),
        ("norms", ("norms",), "each direction tensor has the norm of its parameter"),
        ("orthogonal", ("orthogonal",), "the two directions are orthogonal"),
    ]:
        pid = f"part2.random_directions.{id_}"
        table.add(f"random_directions.{id_}", [Probe(pid, "random_directions", (causal_lm(MODEL), 0))],
            Property([pid], _directions_rule(shapes, norms, what=what), gate=_direction_tensors,
                     what="random_directions"), description)
    table.add("random_directions.seeded",
        [Probe("part2.random_directions.same_seed", "random_directions", (causal_lm(MODEL), 3), repeat=2),
         Probe("part2.random_directions.other_seed", "random_directions", (causal_lm(MODEL), 4))],
        Property(["part2.random_directions.same_seed", "part2.random_directions.other_seed"], _seeded_rule(shapes)),
        "the same seed gives the same directions, another seed other ones")
    if ctx.hidden:
        pid = "part2.random_directions.hidden"
        table.add("random_directions.hidden",
            [Probe(pid, "random_directions", (causal_lm(MODEL), ctx.seed("part2.random_directions")))],
            Property([pid], _directions_rule(shapes, norms, what=("norms", "orthogonal")), gate=_direction_tensors,
                     what="random_directions"),
            "random_directions on a hidden seed: shapes, norms, orthogonality", public=False)

    def cosine_check(id_, rng, public):
        import torch

        d1, d2 = [], []
        for shape, scale, mix in [((6, 5), 3.0, 0.9), ((40,), 0.2, -0.3), ((3, 4, 5), 1.0, 0.1), ((17,), 8.0, 0.5)]:
            a = rng.standard_normal(shape) * scale
            b = mix * a + rng.standard_normal(shape) * scale * rng.uniform(0.3, 3.0)
            d1.append(torch.from_numpy(a.astype(np.float32)))
            d2.append(torch.from_numpy(b.astype(np.float32)))
        expected = ref.cosine_similarity(d1, d2)
        pid = f"part2.{id_}"
        table.add(id_, [Probe(pid, "cosine_similarity", (d1, d2))],
            AllClose(pid, expected, rtol=1e-5, atol=1e-6, kind="float", what="cosine similarity"),
            "cosine similarity over the flattened, concatenated directions", public=public)

    cosine_check("cosine_similarity", np.random.default_rng(20240202), True)
    if ctx.hidden:
        cosine_check("cosine_similarity.hidden", ctx.rng("part2.cosine_similarity"), False)

    # -- loss_landscape --
    def landscape_check(id_, rng, xs, ys, public):
        d1, d2 = _grader_directions(rng, model)
        expected = ref.loss_landscape(model, inputs, d1, d2, xs, ys)
        pid = f"part2.{id_}"
        table.add(id_, [Probe(pid, "loss_landscape", (causal_lm(MODEL), inputs, d1, d2, xs, ys))],
            AllClose(pid, np.asarray(expected), rtol=LANDSCAPE_RTOL, atol=LANDSCAPE_ATOL, kind="ndarray",
                     what="Z"),
            f"loss_landscape on grader directions and a {f'{len(xs)} x {len(ys)}' if public else 'hidden'} grid",
            public=public)  # a description is shown to students: a hidden grid's size stays out of it

    landscape_check("loss_landscape.values", np.random.default_rng(20240203),
                    np.array([-0.4, 0.1, 0.5]), np.array([-0.3, 0.2, 0.35, 0.6]), True)
    directions = _grader_directions(np.random.default_rng(20240204), model)
    for id_, observe, judge, description in [
        ("restored", "parameters", _parameters_problem, "the model's parameters are restored after loss_landscape"),
        ("eval_mode", "training", _landscape_mode, "loss_landscape keeps the model in eval mode"),
    ]:
        pid = f"part2.loss_landscape.{id_}"
        table.add(f"loss_landscape.{id_}",
            [Probe(pid, "loss_landscape", (causal_lm(MODEL), inputs, *directions,
                                           np.array([0.15, 0.45]), np.array([-0.2, 0.3, 0.5])),
                   observe=(observe,))],
            Property([pid], judge, outcomes=True, gate=_returned_grid, what="Z"), description)
    if ctx.hidden:
        rng = ctx.rng("part2.loss_landscape")
        m = int(rng.integers(2, 5))
        n = int(rng.choice([k for k in range(2, 6) if k != m]))
        xs, ys = _grid(rng, m, n, 0.6)
        landscape_check("loss_landscape.hidden", rng, xs, ys, False)

    # -- plot_landscape --
    def plot_check(id_, rng, m, n, public):
        xs, ys = _grid(rng, m, n, 1.0)
        ys = ys * 2.0 + 0.25  # other values than xs, so swapped axes are seen
        Z = 2.0 + rng.random((m, n)) * 3.0
        pid = f"part2.{id_}"
        table.add(id_, [Probe(pid, "plot_landscape", (xs, ys, Z))],
            FigureCheck(pid, _surface_problem(xs, ys, Z), what="figure"),
            "plot_landscape draws Z as a 3-D surface over (xs, ys)", public=public)

    plot_check("plot_landscape", np.random.default_rng(20240205), 3, 5, True)
    if ctx.hidden:
        rng = ctx.rng("part2.plot_landscape")
        m = int(rng.integers(2, 5))
        plot_check("plot_landscape.hidden", rng, m, m + int(rng.integers(1, 3)), False)
    return table.checks


PART = PartSpec(
    name="part2",
    notebook="part2_loss_landscape.ipynb",
    title="Part 2: Loss landscape",
    required_functions=('load_model', 'encode', 'compute_loss', 'random_directions', 'cosine_similarity', 'loss_landscape', 'plot_landscape'),
    assets=('models/tiny-lm',),
    build_checks=build_checks,
)
