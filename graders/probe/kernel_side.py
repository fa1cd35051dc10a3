"""Code that runs INSIDE the student's kernel: call student functions, write values out as data.

This file is never imported by the grader; its source is sent to the kernel as the first cell
(before the student's cells, so the references it captures to ``json``, ``os`` and ``numpy`` are
the genuine ones). It installs a module ``_hw4_probe`` whose ``run`` is called by later probe cells.
It only *produces* values — comparison happens in the grading process.

Output protocol (read by ``graders.probe.transport``): one ``<n>.json`` per probe, written
atomically, ``{"id", "ok", "value" | "error", "observed", "seconds"}``; arrays larger than
``INLINE_MAX`` elements go to ``<n>_<k>.npy`` beside it. Values are a JSON tree with tagged
objects: $tuple, $dict, $array, $sympy, $dataframe, $series, $figure, $graph, $record, $opaque.
"""


def _hw4_install():
    import json as _json
    import os as _os
    import sys as _sys
    import time as _time
    import traceback as _traceback
    import types as _types
    from collections import namedtuple as _namedtuple
    from collections.abc import Mapping as _Mapping

    import numpy as _np

    _dumps = _json.dumps
    _loads = _json.loads
    _replace = _os.replace
    _np_save = _np.save
    _np_load = _np.load
    _open = open
    _perf = _time.perf_counter
    _isinstance = isinstance

    INLINE_MAX = 4096
    MAX_ELEMENTS = 20_000_000
    MAX_DEPTH = 60
    MAX_STR = 1_000_000

    class TooLarge(Exception):
        pass

    class Encoder:
        """Turns one returned value into the tagged JSON tree (+ .npy files)."""

        def __init__(self, folder, stem):
            self.folder = folder
            self.stem = stem
            self.files = 0
            self.elements = 0

        def count(self, n):
            self.elements += n
            if self.elements > MAX_ELEMENTS:
                raise TooLarge(f"the returned value has more than {MAX_ELEMENTS:,} elements")

        def encode(self, v, depth=0):
            if depth > MAX_DEPTH:
                raise TooLarge(f"the returned value is nested deeper than {MAX_DEPTH} levels")
            self.count(1)
            t = type(v)
            if v is None or t is bool or t is int:
                return v
            if t is float:
                return v
            if t is str:
                if len(v) > MAX_STR:
                    raise TooLarge(f"a returned string is longer than {MAX_STR:,} characters")
                return v
            mod = getattr(t, "__module__", "") or ""
            if mod.startswith("torch") and hasattr(v, "detach") and hasattr(v, "shape"):
                import torch

                a = v.detach().cpu()
                if a.dtype in (torch.bfloat16, torch.float16):
                    a = a.float()
                return self.array(a.numpy(), "torch.Tensor")
            if _isinstance(v, _np.ndarray):
                return self.array(v, "numpy.ndarray")
            if _isinstance(v, _np.generic):
                return self.array(_np.asarray(v), "numpy." + t.__name__)
            if _isinstance(v, tuple) and hasattr(v, "_fields"):
                return {"$record": {"type": t.__name__,
                                    "fields": {f: self.encode(getattr(v, f), depth + 1) for f in v._fields}}}
            if _isinstance(v, (tuple, list)):
                items = [self.encode(x, depth + 1) for x in v]
                return items if _isinstance(v, list) else {"$tuple": items}
            if _isinstance(v, dict):
                if all(type(k) is str and not k.startswith("$") for k in v):
                    return {k: self.encode(x, depth + 1) for k, x in v.items()}
                return {"$dict": [[self.encode(k, depth + 1), self.encode(x, depth + 1)] for k, x in v.items()]}
            if mod.startswith("sympy"):
                return {"$sympy": self.sympy(v, 0)}
            if mod.startswith("pandas"):
                return self.pandas(v, depth)
            if mod.startswith("matplotlib"):
                return self.figure(v)
            if mod.startswith("networkx"):
                return self.graph(v, depth)
            torch = _sys.modules.get("torch")
            if torch is not None and _isinstance(v, torch.nn.Module):  # described, not serialised
                return {"$record": {"type": t.__name__, "fields": {
                    "training": bool(v.training),
                    "submodules_training": sum(1 for m in v.modules() if m.training),
                    "parameters": sum(int(p.numel()) for p in v.parameters())}}}
            if _isinstance(v, _Mapping):  # e.g. transformers' BatchEncoding: encoded like a dict
                return self.encode(dict(v.items()), depth)
            import dataclasses

            if dataclasses.is_dataclass(v) and not _isinstance(v, type):
                return {"$record": {"type": t.__name__, "fields": {
                    f.name: self.encode(getattr(v, f.name), depth + 1) for f in dataclasses.fields(v)}}}
            return {"$opaque": f"{mod}.{t.__name__}"}

        def array(self, a, source):
            if a.dtype == object or a.dtype.kind not in "biufc":
                return {"$opaque": f"{source} of dtype {a.dtype}"}
            self.count(int(a.size))
            if a.size <= INLINE_MAX:
                data = a.tolist()
                return {"$array": {"dtype": str(a.dtype), "shape": list(a.shape), "data": data}, "type": source}
            self.files += 1
            name = f"{self.stem}_{self.files}.npy"
            tmp = _os.path.join(self.folder, "." + name + ".tmp")
            with _open(tmp, "wb") as fh:
                _np_save(fh, _np.ascontiguousarray(a), allow_pickle=False)
            _replace(tmp, _os.path.join(self.folder, name))
            return {"$array": {"file": name}, "type": source}

        # -- sympy: a tree of node names and leaves; the grader rebuilds it from a whitelist --
        def sympy(self, e, depth):
            if depth > MAX_DEPTH * 4:
                raise TooLarge("the sympy expression is nested too deeply")
            self.count(1)
            import sympy

            if _isinstance(e, sympy.Symbol):
                assumptions = {k: v for k, v in e.assumptions0.items() if v is not None}
                kind = "Dummy" if _isinstance(e, sympy.Dummy) else "Symbol"
                return {"node": kind, "name": e.name, "assumptions": assumptions}
            if _isinstance(e, sympy.Integer):
                return {"node": "Integer", "value": str(int(e))}
            if _isinstance(e, sympy.Rational):
                return {"node": "Rational", "p": str(int(e.p)), "q": str(int(e.q))}
            if _isinstance(e, sympy.Float):
                return {"node": "Float", "value": str(e), "precision": int(e._prec)}
            if _isinstance(e, sympy.core.function.AppliedUndef):
                return {"node": "AppliedUndef", "name": type(e).__name__,
                        "args": [self.sympy(a, depth + 1) for a in e.args]}
            if _isinstance(e, sympy.core.function.UndefinedFunction):
                return {"node": "UndefinedFunction", "name": e.__name__}
            if _isinstance(e, sympy.IndexedBase):
                return {"node": "IndexedBase", "args": [self.sympy(e.label, depth + 1)]}
            if _isinstance(e, (sympy.Expr, sympy.Basic)) and not e.args:
                return {"node": type(e).__name__}
            if _isinstance(e, sympy.matrices.MatrixBase):
                return {"node": "Matrix", "rows": e.rows, "cols": e.cols,
                        "args": [self.sympy(x, depth + 1) for x in e]}
            return {"node": type(e).__name__, "args": [self.sympy(a, depth + 1) for a in e.args]}

        def pandas(self, v, depth):
            import pandas as pd

            if _isinstance(v, pd.DataFrame):
                return {"$dataframe": {
                    "columns": [self.encode(self.plain(c), depth + 1) for c in v.columns],
                    "index": [self.encode(self.plain(i), depth + 1) for i in v.index],
                    "index_name": self.encode(self.plain(v.index.name), depth + 1),
                    "data": [[self.encode(self.plain(x), depth + 1) for x in v[c].tolist()] for c in v.columns],
                }}
            if _isinstance(v, pd.Series):
                return {"$series": {
                    "name": self.encode(self.plain(v.name), depth + 1),
                    "index": [self.encode(self.plain(i), depth + 1) for i in v.index],
                    "values": [self.encode(self.plain(x), depth + 1) for x in v.tolist()],
                }}
            return {"$opaque": "pandas." + type(v).__name__}

        @staticmethod
        def plain(x):
            if _isinstance(x, _np.generic):
                return x.item()
            return x if x is None or type(x) in (bool, int, float, str) else str(x)

        # -- matplotlib: the data a figure draws, not its pixels --
        def figure(self, v):
            import matplotlib.axes
            import matplotlib.figure

            if _isinstance(v, matplotlib.axes.Axes):
                returned, fig = "axes", v.figure
            elif _isinstance(v, matplotlib.figure.Figure):
                returned, fig = "figure", v
            else:
                return {"$opaque": "matplotlib." + type(v).__name__}
            return {"$figure": {"returned": returned, "axes": [self.axes(ax) for ax in fig.axes]}}

        def axes(self, ax):
            from matplotlib.patches import Rectangle

            out = {
                "kind": getattr(ax, "name", "rectilinear"),
                "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                "zlabel": ax.get_zlabel() if hasattr(ax, "get_zlabel") else "",
                "lines": [], "bars": [], "images": [], "collections": [],
                "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
                "yticklabels": [t.get_text() for t in ax.get_yticklabels()],
                "texts": [t.get_text() for t in ax.texts][:2000],
            }
            for ln in ax.get_lines():
                out["lines"].append({
                    "x": self.array(_np.asarray(ln.get_xdata(), dtype=float), "line"),
                    "y": self.array(_np.asarray(ln.get_ydata(), dtype=float), "line"),
                    "label": str(ln.get_label()),
                    "transform": "axes" if ln.get_transform() is not ax.transData else "data",
                })
            for p in ax.patches:
                if _isinstance(p, Rectangle):
                    out["bars"].append({"x": float(p.get_x()), "y": float(p.get_y()),
                                        "width": float(p.get_width()), "height": float(p.get_height())})
            for im in ax.get_images():
                out["images"].append(self.array(_np.asarray(im.get_array(), dtype=float), "image"))
            for c in ax.collections:
                entry = {"type": type(c).__name__}
                arr = c.get_array() if hasattr(c, "get_array") else None
                if arr is not None:
                    entry["array"] = self.array(_np.ma.filled(_np.ma.asarray(arr, dtype=float), _np.nan), "collection")
                offsets = c.get_offsets() if hasattr(c, "get_offsets") else None
                if offsets is not None and len(offsets):
                    entry["offsets"] = self.array(_np.asarray(offsets, dtype=float), "collection")
                vec = getattr(c, "_vec", None)  # 3-D collections keep their vertices here
                if vec is not None:
                    entry["verts3d"] = self.array(_np.asarray(vec, dtype=float)[:3].T, "collection")
                elif getattr(c, "_faces", None) is not None:  # matplotlib >= 3.10: [faces, verts, 3]
                    faces = _np.asarray(c._faces, dtype=float).reshape(-1, 3)
                    invalid = _np.broadcast_to(_np.asarray(getattr(c, "_invalid_vertices", False)),
                                               _np.shape(c._faces)[:2]).reshape(-1)
                    entry["verts3d"] = self.array(faces[~invalid], "collection")
                out["collections"].append(entry)
            return out

        # -- networkx: nodes with attributes and edges, in insertion order --
        def graph(self, g, depth):
            if not (hasattr(g, "nodes") and hasattr(g, "edges")):
                return {"$opaque": "networkx." + type(g).__name__}
            self.count(g.number_of_nodes() + g.number_of_edges())
            return {"$graph": {
                "directed": bool(g.is_directed()),
                "nodes": [[self.encode(n, depth + 1), self.encode(dict(a), depth + 1)] for n, a in g.nodes(data=True)],
                "edges": [[self.encode(u, depth + 1), self.encode(w, depth + 1), self.encode(dict(a), depth + 1)]
                          for u, w, a in g.edges(data=True)],
            }}

    class Inputs:
        """Rebuilds the grader's arguments: arrays from .npy, resources built fresh here."""

        def __init__(self, folder):
            self.folder = folder
            self.generators = {}  # one generator per probe, kept across its repeats

        def reset(self):
            self.generators = {}

        def decode(self, v):
            if _isinstance(v, list):
                return [self.decode(x) for x in v]
            if _isinstance(v, dict):
                if "$tuple" in v:
                    return tuple(self.decode(x) for x in v["$tuple"])
                if "$record" in v:  # a namedtuple argument: rebuilt as a namedtuple of that name
                    r = v["$record"]
                    fields = list(r["fields"])
                    cls = _namedtuple(str(r["type"]), fields)
                    return cls(*[self.decode(r["fields"][f]) for f in fields])
                if "$array" in v:
                    a = _np_load(_os.path.join(self.folder, v["$array"]), allow_pickle=False)
                    if v.get("kind") == "torch":
                        import torch

                        return torch.from_numpy(a.copy())
                    return a
                if "$resource" in v:
                    if v["$resource"] == "generator":
                        key = _dumps(v, sort_keys=True)
                        if key not in self.generators:
                            self.generators[key] = resource("generator", v.get("options", {}))
                        return self.generators[key]
                    return resource(v["$resource"], v.get("options", {}))
                return {k: self.decode(x) for k, x in v.items()}
            return v

    def _asset(name):
        env = "HW4_MODEL_" + name.upper().replace("-", "_")
        return _os.environ.get(env) or _os.path.join("models", name)

    def resource(kind, opt):
        if kind == "generator":
            import torch

            return torch.Generator().manual_seed(int(opt["seed"]))
        if kind == "tokenizer":
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(_asset(opt["name"]))
            if opt.get("padding_side"):
                tok.padding_side = opt["padding_side"]
            if opt.get("pad_token"):
                tok.pad_token = opt["pad_token"]
            return tok
        if kind == "causal_lm":
            from transformers import AutoModelForCausalLM

            m = AutoModelForCausalLM.from_pretrained(_asset(opt["name"]))
            return m.train() if opt.get("train") else m.eval()
        if kind == "seq2seq":
            from transformers import AutoModelForSeq2SeqLM

            return AutoModelForSeq2SeqLM.from_pretrained(_asset(opt["name"]), attn_implementation="eager").eval()
        raise ValueError(f"unknown resource {kind!r}")

    def _modules(args, kwargs):
        import torch

        return [a for a in list(args) + list(kwargs.values()) if _isinstance(a, torch.nn.Module)]

    def _snapshot(args, kwargs):
        return [{n: p.detach().clone() for n, p in m.named_parameters()} for m in _modules(args, kwargs)]

    def observe(names, args, kwargs, before):
        out = {}
        mods = _modules(args, kwargs) if names else []
        for name in names:
            if name == "param_drift":
                drift = []
                for m, snap in zip(mods, before):
                    d = 0.0
                    for n, p in m.named_parameters():
                        if n in snap:
                            d = max(d, float((p.detach() - snap[n]).abs().max()))
                    drift.append(d)
                out[name] = drift
            elif name == "training":
                out[name] = [bool(m.training) for m in mods]
            else:
                out[name] = None
        return out

    def _short_traceback(exc):
        frames = _traceback.extract_tb(exc.__traceback__)
        # keep the student's frames (notebook cells), drop ours
        frames = [f for f in frames if "_hw4" not in f.name and "kernel_side" not in (f.filename or "")]
        return "".join(_traceback.format_list(frames[-3:]))[-1500:]

    def _write(folder, n, record):
        path = _os.path.join(folder, f"{n}.json")
        tmp = _os.path.join(folder, f".{n}.json.tmp")
        with _open(tmp, "w", encoding="utf-8") as fh:
            fh.write(_dumps(record, allow_nan=True))
        _replace(tmp, path)

    def run(namespace, input_dir, output_dir, indices):
        """Answer probes ``indices`` of ``input_dir/probes.json`` in ``namespace``."""
        with _open(_os.path.join(input_dir, "probes.json"), encoding="utf-8") as fh:
            plan = _loads(fh.read())
        inputs = Inputs(input_dir)
        for n in indices:
            spec = plan[n]
            record = {"id": spec["id"], "ok": False, "observed": {}}
            inputs.reset()
            t0 = _perf()
            try:
                if spec["target"] not in namespace:
                    record["error"] = {"type": "NameError", "where": "lookup",
                                       "message": f"name {spec['target']!r} is not defined"}
                else:
                    target = namespace[spec["target"]]
                    if spec["call"]:
                        if not callable(target):
                            raise TypeError(f"{spec['target']} is a {type(target).__name__}, not a function")
                        results = []
                        for _ in range(max(1, spec["repeat"])):
                            args = inputs.decode(spec["args"])
                            kwargs = inputs.decode(spec["kwargs"])
                            before = _snapshot(args, kwargs) if "param_drift" in spec["observe"] else None
                            results.append(target(*args, **kwargs))
                        value = results[0] if spec["repeat"] <= 1 else results
                        record["observed"] = observe(spec["observe"], args, kwargs, before)
                    else:
                        value = target
                    try:
                        record["type"] = f"{type(value).__module__}.{type(value).__qualname__}"
                        record["value"] = Encoder(output_dir, str(n)).encode(value)
                        record["ok"] = True
                    except TooLarge as exc:
                        record["error"] = {"type": "ValueTooLarge", "where": "encode", "message": str(exc)}
            except KeyboardInterrupt:
                record["error"] = {"type": "Timeout", "where": "call",
                                   "message": "interrupted: the time limit for this check ran out"}
                record["seconds"] = _perf() - t0
                _write(output_dir, n, record)
                raise
            except BaseException as exc:  # SystemExit from student code too
                record["error"] = {"type": type(exc).__name__, "where": "call",
                                   "message": str(exc)[:800], "traceback": _short_traceback(exc)}
            record["seconds"] = _perf() - t0
            _write(output_dir, n, record)

    mod = _types.ModuleType("_hw4_probe")
    mod.run = run
    mod.Encoder = Encoder  # also used by the release command to store public expected values
    _sys.modules["_hw4_probe"] = mod
    return mod


_hw4_install()
del _hw4_install
