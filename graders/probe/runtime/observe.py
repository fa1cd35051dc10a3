"""Piece 5 of the probe runtime (see ``graders.probe.runtime``): what a call did to its arguments.

``observe`` reports what the grader asked to see after a call: the module arguments' parameters and
training mode, the gradients of the result in its float tensor arguments, the tensor arguments
themselves (changed in place?).
"""


def _modules(args, kwargs):
    import torch

    return [a for a in list(args) + list(kwargs.values()) if _isinstance(a, torch.nn.Module)]


def _float_tensors(args, kwargs):
    import torch

    return [a for a in list(args) + list(kwargs.values())
            if _isinstance(a, torch.Tensor) and a.is_floating_point()]


def _input_gradients(args, kwargs, value):
    """Whether ``value`` is a tensor differentiable in the float tensor arguments (made to require
    grad before the call), and the gradient of its sum with respect to each of them."""
    import torch

    leaves = [a for a in _float_tensors(args, kwargs) if a.requires_grad]
    if not (_isinstance(value, torch.Tensor) and value.is_floating_point() and value.grad_fn is not None
            and leaves):
        return {"differentiable": False, "gradients": []}
    try:
        grads = torch.autograd.grad(value.sum(), leaves, allow_unused=True)
    except RuntimeError:
        return {"differentiable": False, "gradients": []}
    return {"differentiable": True, "gradients": [None if g is None else g.detach().double() for g in grads]}


def observe(names, args, kwargs, value=None):
    """What the grader asked to see of the module arguments after the call (judged by the grader:
    ``parameters`` are compared with its own copy of the shipped weights, not with a snapshot
    kept here, which the notebook's code could reach and rewrite)."""
    out = {}
    mods = _modules(args, kwargs) if names else []
    for name in names:
        if name == "parameters":
            out[name] = [dict(m.named_parameters()) for m in mods]
        elif name == "training":
            out[name] = [bool(m.training) for m in mods]
        elif name == "input_gradients":
            out[name] = _input_gradients(args, kwargs, value)
        elif name == "arguments":  # the tensor arguments after the call (did it change them in place?)
            import torch

            out[name] = [a.detach().double() if _isinstance(a, torch.Tensor) else None for a in args]
        else:
            out[name] = None
    return out
