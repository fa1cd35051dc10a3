"""Values the grader decoded from a kernel, turned back into the plain tagged data they came as.

``graders.probe.transport.Decoder`` rebuilds a kernel's answer as safe values; ``to_plain`` is its
inverse for the values a judge works on, so they can cross to another grader process (the
checker of ``graders.checks.isolated``) as data and be rebuilt there by the same decoder —
never as a pickle of something derived from a kernel.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from graders.probe.transport import KernelArray, Opaque, Record


def to_plain(value: Any) -> Any:
    """Plain data (dict/list/str/numbers with ``$`` tags) that ``Decoder.decode`` turns back into ``value``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [to_plain(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: to_plain(v) for k, v in value.items()}
        return {"$dict": [[to_plain(k), to_plain(v)] for k, v in value.items()]}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        source = value.source if isinstance(value, KernelArray) else "numpy.ndarray"
        return {"$array": {"dtype": str(array.dtype), "shape": list(array.shape), "data": array.tolist()},
                "type": source}
    if isinstance(value, Record):
        return {"$record": {"type": value.type, "fields": {k: to_plain(v) for k, v in value.fields.items()}}}
    if isinstance(value, Opaque):
        return {"$opaque": value.type}
    if type(value).__module__.startswith("sympy"):
        from graders.probe.sympy_tree import to_tree

        return {"$sympy": to_tree(value)}
    return {"$opaque": f"{type(value).__module__}.{type(value).__name__}"}  # judged as "not what was asked"
