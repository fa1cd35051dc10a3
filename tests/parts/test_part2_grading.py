"""Are the Part 2 graders valid? The reference scores full marks, the blank notebook nothing,
each realistic bug loses points on its own item and nowhere else, and other correct
implementations score full marks too. Every notebook is executed once per session."""
from __future__ import annotations

import inspect

import pytest

from helpers import (assert_bug_groups, assert_full_auto_marks, assert_mistakes_cost_their_items, blank_notebook, grade,
                     mutant, solved_notebook)
from reference import part2 as ref

PART = "part2"


@pytest.fixture(scope="module")
def reference_result():
    return grade(PART, solved_notebook(PART))


def test_reference_scores_full_auto_marks(reference_result):
    assert_full_auto_marks(reference_result, PART, 9)


def test_hidden_checks_are_part_of_the_run(reference_result):
    ids = {c.id for item in reference_result.items for c in item.checks}
    assert {"part2.encode.hidden", "part2.compute_loss.hidden", "part2.random_directions.hidden",
            "part2.cosine_similarity.hidden", "part2.loss_landscape.hidden", "part2.plot_landscape.hidden"} <= ids
    assert all(not c.public for item in reference_result.items for c in item.checks if c.id.endswith(".hidden"))


def test_blank_notebook_scores_zero():
    result = grade(PART, blank_notebook(PART))
    assert result.auto_total == 0
    reasons = {c.reason for item in result.items for c in item.checks}
    assert all("NotImplementedError" in r for r in reasons), reasons


# label: (replacements in the solved notebook, the item that must lose points, checks that must fail)
BUGS = {
    "load_model_train_mode": (
        [("    model.eval()\n    return model, tokenizer", "    model.train()\n    return model, tokenizer")],
        "part2.loss", {"part2.load_model"}),
    "compute_loss_returns_tensor": (
        [("    return float(outputs.loss)", "    return outputs.loss")],
        "part2.loss", {"part2.compute_loss", "part2.compute_loss.hidden"}),
    "directions_not_normalised": (
        [("            d1.append(a * (scale / a.norm()))\n            d2.append(b * (scale / b.norm()))",
          "            d1.append(a)\n            d2.append(b)")],
        "part2.directions", {"part2.random_directions.norms", "part2.random_directions.hidden"}),
    "directions_normalised_globally": (
        [("            scale = p.norm()\n            d1.append(a * (scale / a.norm()))\n"
          "            d2.append(b * (scale / b.norm()))\n    return d1, d2",
          "            d1.append(a)\n            d2.append(b)\n"
          "        total = torch.sqrt(sum((p ** 2).sum() for p in model.parameters()))\n"
          "        n1 = torch.sqrt(sum((t ** 2).sum() for t in d1))\n"
          "        n2 = torch.sqrt(sum((t ** 2).sum() for t in d2))\n"
          "    return [t * (total / n1) for t in d1], [t * (total / n2) for t in d2]")],
        "part2.directions", {"part2.random_directions.norms", "part2.random_directions.hidden"}),
    "directions_not_orthogonalised": (
        [("            b = b - (a * b).sum() / (a * a).sum() * a\n", "")],
        "part2.directions", {"part2.random_directions.orthogonal", "part2.random_directions.hidden"}),
    "directions_ignore_seed": (
        [("    generator = torch.Generator().manual_seed(int(seed))", "    generator = None")],
        "part2.directions", {"part2.random_directions.seeded"}),
    "cosine_mean_of_per_tensor_cosines": (
        [("    v1 = torch.cat([t.detach().reshape(-1) for t in d1]).double()\n"
          "    v2 = torch.cat([t.detach().reshape(-1) for t in d2]).double()\n"
          "    return float(v1 @ v2 / (v1.norm() * v2.norm()))",
          "    cosines = [torch.nn.functional.cosine_similarity(a.reshape(-1), b.reshape(-1), dim=0)\n"
          "               for a, b in zip(d1, d2)]\n"
          "    return float(sum(cosines) / len(cosines))")],
        "part2.directions", {"part2.cosine_similarity", "part2.cosine_similarity.hidden"}),
    "landscape_perturbations_pile_up": (
        [("p.copy_(p0 + float(x) * a + float(y) * b)", "p.add_(float(x) * a + float(y) * b)")],
        "part2.landscape", {"part2.loss_landscape.values", "part2.loss_landscape.hidden"}),
    "landscape_not_restored_at_the_end": (
        [("        finally:\n            for p, p0 in zip(params, theta):\n                p.copy_(p0)\n",
          "        finally:\n            pass\n")],
        "part2.landscape", {"part2.loss_landscape.restored"}),
    "landscape_transposed": (
        [("    return Z", "    return Z.T")],
        "part2.landscape", {"part2.loss_landscape.values", "part2.loss_landscape.hidden"}),
    "landscape_in_train_mode": (
        [("    params = list(model.parameters())\n    theta",
          "    model.train()\n    params = list(model.parameters())\n    theta")],
        "part2.landscape", {"part2.loss_landscape.values", "part2.loss_landscape.hidden",
                            "part2.loss_landscape.eval_mode"}),
    "plot_default_meshgrid": (
        [('    X, Y = np.meshgrid(xs, ys, indexing="ij")', "    X, Y = np.meshgrid(xs, ys)")],
        "part2.plot", {"part2.plot_landscape", "part2.plot_landscape.hidden"}),
    "plot_axes_swapped": (
        [("ax.plot_surface(X, Y, np.asarray(Z)", "ax.plot_surface(Y, X, np.asarray(Z)")],
        "part2.plot", {"part2.plot_landscape", "part2.plot_landscape.hidden"}),
}


# mistakes graded together: name → (replacements, own items, checks that must fail, carried items)
MISTAKES = {
    "compute_loss_leaves_train_mode": (  # its value is right; loss_landscape, which calls it, is not
        [("    return float(outputs.loss)", "    model.train()\n    return float(outputs.loss)")],
        {"part2.loss"}, {"part2.compute_loss", "part2.compute_loss.hidden"}, {"part2.landscape"}),
    "directions_in_float64": (
        [("dtype=p.dtype)", "dtype=torch.float64)")],
        {"part2.directions"}, {"part2.random_directions.shapes"}, set()),
    "surface_without_axis_labels": (
        [('    ax.set_xlabel("step along d1")\n    ax.set_ylabel("step along d2")\n', "")],
        {"part2.plot"}, {"part2.plot_landscape", "part2.plot_landscape.hidden"}, set()),
    "attention_mask_of_floats": (
        [('    return tokenizer(text, return_tensors="pt")',
          '    enc = tokenizer(text, return_tensors="pt")\n'
          '    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"].float()}')],
        {"part2.loss"}, {"part2.encode", "part2.encode.hidden"}, set()),
}


def _mistakes_result(reference_result):
    return assert_mistakes_cost_their_items(PART, reference_result, MISTAKES, label="part2-mistakes")


def test_mistakes_cost_their_own_items(reference_result):
    result = _mistakes_result(reference_result)
    reasons = {c.id: c.reason for item in result.items for c in item.checks}
    assert "left the model in training mode" in reasons["part2.compute_loss"]
    assert reasons["part2.random_directions.shapes"] == \
        "d1[0] has dtype float64; directions have the parameters' dtype (float32)"
    assert reasons["part2.encode"].startswith("'attention_mask' should be a torch.LongTensor (integer ids)")


def test_float64_directions_cost_only_the_dtype_check(reference_result):
    """The dtype clause has its check (shapes); the others judge the values cast to float32, with a note."""
    item = next(i for i in _mistakes_result(reference_result).items if i.id == "part2.directions")
    checks = {c.id: c for c in item.checks}
    assert {cid for cid, c in checks.items() if not c.passed} == {"part2.random_directions.shapes"}
    for name in ("norms", "orthogonal", "seeded", "hidden"):
        assert checks[f"part2.random_directions.{name}"].reason == (
            "d1[0] has dtype float64; directions have the parameters' dtype (float32) (judged here on the values "
            "cast to float32; the dtype costs the shapes check)")
    assert item.score == pytest.approx(item.max * (1 - 1 / 10))  # shapes weighs 1 of the item's 10


def test_a_hidden_encode_reason_names_the_key(reference_result):
    reason = next(c for i in _mistakes_result(reference_result).items for c in i.checks
                  if c.id == "part2.encode.hidden").reason
    assert reason.startswith("'attention_mask' should be a torch.LongTensor (integer ids)"), reason


# the bugs graded a group at a time (one notebook per group, not per bug): at most one bug per item in a group,
# so each bug is still seen to cost its own item and no other (helpers.assert_mistakes_cost_their_items)
BUG_GROUPS = {
    "bugs-1": ["load_model_train_mode", "directions_not_normalised", "landscape_perturbations_pile_up",
               "plot_default_meshgrid"],
    "bugs-2": ["compute_loss_returns_tensor", "directions_normalised_globally", "landscape_not_restored_at_the_end",
               "plot_axes_swapped"],
    "bugs-3": ["directions_not_orthogonalised", "landscape_transposed"],
    "bugs-4": ["directions_ignore_seed", "landscape_in_train_mode"],
    "bugs-5": ["cosine_mean_of_per_tensor_cosines"],
}


def _mistakes(group: str) -> dict:
    """The group's bugs as ``assert_mistakes_cost_their_items`` takes them."""
    return {label: (BUGS[label][0], {BUGS[label][1]}, BUGS[label][2], set()) for label in BUG_GROUPS[group]}


def test_every_bug_is_in_one_group_with_no_other_bug_of_its_items():
    assert_bug_groups(BUG_GROUPS, BUGS, _mistakes)


@pytest.mark.parametrize("group", list(BUG_GROUPS))
def test_bugs_lose_points_on_their_own_items_only(group, reference_result):
    assert_mistakes_cost_their_items(PART, reference_result, _mistakes(group), label=group)


ALTERNATIVE_1 = {  # GPT2 class, plain-dict encode, manual cross-entropy, torch.manual_seed and
    # normalise-then-orthogonalise, float32 cosine, restore by subtracting, meshgrid "xy" + Z.T
    "load_model": '''
def load_model(path):
    from transformers import GPT2LMHeadModel
    tok = AutoTokenizer.from_pretrained(path)
    net = GPT2LMHeadModel.from_pretrained(path)
    return net.eval(), tok''',
    "encode": '''
def encode(tokenizer, text):
    ids = torch.tensor([tokenizer.encode(text)])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}''',
    "compute_loss": '''
def compute_loss(model, inputs):
    with torch.no_grad():
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    return torch.nn.functional.cross_entropy(logits[0, :-1], inputs["input_ids"][0, 1:]).item()''',
    "random_directions": '''
def random_directions(model, seed):
    torch.manual_seed(seed)
    d1, d2 = [], []
    for p in model.parameters():
        w = p.detach()
        a = torch.randn_like(w)
        a = a / a.norm() * w.norm()
        b = torch.randn_like(w)
        b = b - (b.flatten() @ a.flatten()) / (a.flatten() @ a.flatten()) * a
        d1.append(a)
        d2.append(b / b.norm() * w.norm())
    return d1, d2''',
    "cosine_similarity": '''
def cosine_similarity(d1, d2):
    v1 = torch.cat([t.flatten() for t in d1])
    v2 = torch.cat([t.flatten() for t in d2])
    return torch.nn.functional.cosine_similarity(v1, v2, dim=0).item()''',
    "loss_landscape": '''
def loss_landscape(model, inputs, d1, d2, xs, ys):
    Z = np.empty((len(xs), len(ys)))
    params = list(model.parameters())
    with torch.no_grad():
        for i, x in enumerate(xs):
            for j, y in enumerate(ys):
                steps = [x * a + y * b for a, b in zip(d1, d2)]
                for p, s in zip(params, steps):
                    p.add_(s)
                Z[i, j] = compute_loss(model, inputs)
                for p, s in zip(params, steps):
                    p.sub_(s)
    return Z''',
    "plot_landscape": '''
def plot_landscape(xs, ys, Z):
    X, Y = np.meshgrid(xs, ys)
    fig = plt.figure()
    ax = fig.add_subplot(111, projection="3d")
    ax.plot_surface(X, Y, Z.T, cmap="coolwarm")
    ax.set_xlabel("alpha")
    ax.set_ylabel("beta")
    return fig''',
}

ALTERNATIVE_2 = {  # numpy RNG + QR, functional_call (the model is never modified), dict(BatchEncoding)
    "load_model": '''
def load_model(path):
    model = AutoModelForCausalLM.from_pretrained(path)
    model.train(False)
    return model, AutoTokenizer.from_pretrained(path)''',
    "encode": '''
def encode(tokenizer, text):
    return dict(tokenizer([text], return_tensors="pt"))''',
    "compute_loss": '''
def compute_loss(model, inputs):
    return model(**inputs, labels=inputs["input_ids"]).loss.detach().item()''',
    "random_directions": '''
def random_directions(model, seed):
    rng = np.random.default_rng(seed)
    out1, out2 = [], []
    for p in model.parameters():
        w = p.detach().numpy().astype(np.float64)
        q, _ = np.linalg.qr(rng.standard_normal((w.size, 2)))
        n = np.linalg.norm(w)
        out1.append(torch.tensor(q[:, 0].reshape(w.shape) * n, dtype=p.dtype))
        out2.append(torch.tensor(q[:, 1].reshape(w.shape) * n, dtype=p.dtype))
    return out1, out2''',
    "cosine_similarity": '''
def cosine_similarity(d1, d2):
    a = np.concatenate([t.detach().numpy().ravel() for t in d1]).astype(np.float64)
    b = np.concatenate([t.detach().numpy().ravel() for t in d2]).astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))''',
    "loss_landscape": '''
def loss_landscape(model, inputs, d1, d2, xs, ys):
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    Z = np.zeros((len(xs), len(ys)))
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            params = {n: base[n] + x * a + y * b for n, a, b in zip(base, d1, d2)}
            with torch.no_grad():
                out = torch.func.functional_call(model, params, args=(),
                                                 kwargs={**inputs, "labels": inputs["input_ids"]})
            Z[i, j] = out.loss.item()
    return Z''',
    "plot_landscape": '''
def plot_landscape(xs, ys, Z):
    fig, ax = plt.subplots(subplot_kw={"projection": "3d"})
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    ax.plot_surface(X, Y, Z, rstride=1, cstride=1)
    ax.set(xlabel="x", ylabel="y", zlabel="loss")
    return fig''',
}


@pytest.mark.parametrize("label, functions", [("alternative_1", ALTERNATIVE_1), ("alternative_2", ALTERNATIVE_2)])
def test_other_correct_implementations_score_full_marks(label, functions, reference_result):
    replacements = [(inspect.getsource(getattr(ref, name)).strip("\n"), source.strip("\n"))
                    for name, source in functions.items()]
    result = grade(PART, mutant(PART, replacements, label=label))
    assert result.auto_total == reference_result.auto_total, [
        (c.id, c.reason) for item in result.items for c in item.checks if not c.passed]
