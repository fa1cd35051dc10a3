"""Code that runs INSIDE the student's kernel: call student functions, write values out as data.

This file is never imported by the grader; its source is sent to the kernel as the first cell
(before the student's cells, so the references it captures to ``os``, ``numpy`` and the builtins
are the genuine ones). It installs a module ``_hw4_probe`` whose ``run`` is called by later probe
cells. It only *produces* values — comparison happens in the grading process.

Hardening (the student's code runs in this same interpreter, so nothing here is a secret; the
point is that ordinary or mischievous notebooks cannot make it misreport): ``graders.execute``
runs this source in a private globals dict whose builtins are a copy taken before any student
code ran, so a notebook that defines ``list = …`` or patches ``builtins`` does not change what
the probe does; answers are written by a small JSON writer and ``.npy`` writer of its own (no
``json``, ``numpy.save`` or ``numpy.lib.format`` that a notebook could have monkeypatched);
numpy subclasses are converted to plain arrays (a subclass cannot lie about its shape), torch
tensors are read through ``torch._C.TensorBase`` with ``__torch_function__`` disabled. The
grader validates everything it reads back anyway (``graders.probe.transport``).

Output protocol (read by ``graders.probe.transport``): one ``<n>.json`` per probe, written
atomically, ``{"id", "ok", "value" | "error", "observed", "seconds"}``; arrays larger than
``INLINE_MAX`` elements go to ``<n>_<k>.npy`` beside it. Values are a JSON tree with tagged
objects: $tuple, $dict, $array, $sympy, $dataframe, $series, $figure, $graph, $record, $opaque.
``_hw4_probe.digest()`` names every file the last ``run`` wrote with the sha256 of its bytes; the
grader asks for it in the probe cell's execute reply and reads only files that match.

Also installed here, before any student code: output beyond ``OUTPUT_CAP`` characters per cell
is dropped in the kernel (IPython's in-memory copy of all output is switched off), ``exit()``
does not end the kernel (it would, at a moment that varies), and the kernel's own message
packing no longer goes through the ``json`` module.
"""


def _hw4_install(user_ns=None):
    import json as _json
    import os as _os
    import sys as _sys
    import time as _time
    import traceback as _traceback
    import types as _types
    from collections import namedtuple as _namedtuple
    from collections.abc import Mapping as _Mapping

    import binascii as _binascii
    import datetime as _datetime
    import hashlib as _hashlib
    import json.scanner as _json_scanner

    import numpy as _np

    _loads = _json.JSONDecoder().decode
    _scanner = (_json_scanner.c_make_scanner or _json_scanner.py_make_scanner)(_json.JSONDecoder())
    _sha256 = _hashlib.sha256
    _b64 = _binascii.b2a_base64
    _datetime_t, _date_t = _datetime.datetime, _datetime.date
    _iso = _datetime.datetime.isoformat
    _date_iso = _datetime.date.isoformat
    _written = {}  # file name → sha256 of the bytes this runtime wrote in the current run()
    _replace = _os.replace
    _np_load = _np.load
    _open = open
    _perf = _time.perf_counter
    _isinstance = isinstance
    _ndarray = _np.ndarray
    _generic = _np.generic
    _asarray = _np.asarray
    _ascontiguous = _np.ascontiguousarray
    _float_repr = float.__repr__
    _int_repr = int.__repr__
    _translate = str.translate
    _ESCAPES = {i: "\\u%04x" % i for i in range(0x20)}
    _ESCAPES.update({0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"})
    _ESCAPES.update({i: "\\u%04x" % i for i in range(0xD800, 0xE000)})  # lone surrogates
    _SPECIAL_FLOATS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}

    def _dump(v, default=None):
        """JSON text of a tree of dict/list/str/int/float/bool/None (NaN and ±inf as JSON5 names).

        ``default`` turns any other object into one of those (used for the kernel's own messages).
        """
        t = type(v)
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if t is int:
            try:
                return _int_repr(v)
            except ValueError:
                raise TooLarge("a returned integer has too many digits") from None
        if t is float:
            text = _float_repr(v)
            return _SPECIAL_FLOATS.get(text, text)
        if t is str:
            return '"' + _translate(v, _ESCAPES) + '"'
        if t is list or t is tuple:
            return "[" + ",".join([_dump(x, default) for x in v]) + "]"
        if t is dict:
            return "{" + ",".join([_dump(str(k)) + ":" + _dump(x, default) for k, x in v.items()]) + "}"
        if default is not None:
            return _dump(default(v), default)
        raise TypeError(f"cannot write a {t.__name__} as JSON")

    def _message_default(v):
        """Like jupyter_client's json_default, without looking anything up at call time."""
        if _isinstance(v, _datetime_t):
            return _iso(v).replace("+00:00", "Z")
        if _isinstance(v, _date_t):
            return _date_iso(v)
        if _isinstance(v, bytes):
            return _b64(v, newline=False).decode("ascii")
        if _isinstance(v, bool):
            return bool(v)
        if _isinstance(v, int):
            return int(v)
        if _isinstance(v, float):
            return float(v)
        if _isinstance(v, (list, tuple, set, frozenset)):
            return list(v)
        if _isinstance(v, dict):
            return dict(v)
        if _isinstance(v, str):
            return str(v)
        raise TypeError(f"{type(v).__name__} is not JSON serializable")

    def _pin_session():
        """Make the kernel's own messages independent of the json module a notebook may patch."""
        try:
            from IPython import get_ipython

            session = get_ipython().kernel.session
        except Exception:
            return

        def pack(obj):
            return _dump(obj, _message_default).encode("utf8", errors="surrogateescape")

        def unpack(data):
            if _isinstance(data, (bytes, bytearray, memoryview)):
                data = bytes(data).decode("utf8", "replace")
            return _scanner(data, 0)[0]

        session.pack, session.unpack = pack, unpack

    def _write_npy(path, a):
        """Write a plain, C-contiguous numeric array in .npy format 1.0 (as numpy.save would).

        Returns the sha256 of the bytes written.
        """
        header = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (a.dtype.str, tuple(a.shape))
        pad = 64 - (10 + len(header) + 1) % 64
        header = header + " " * (pad % 64) + "\n"
        head = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1")
        digest = _sha256(head)
        with _open(path, "wb") as fh:
            fh.write(head)
            if a.size:
                fh.write(a.data)
                digest.update(a.data)
        return digest.hexdigest()

    INLINE_MAX = 4096
    MAX_ELEMENTS = 20_000_000
    MAX_DEPTH = 60
    MAX_STR = 1_000_000
    MAX_NODES = 2_000_000
    MAX_CHARS = 16_000_000
    OUTPUT_CAP = 1_000_000

    class TooLarge(Exception):
        pass

    class Encoder:
        """Turns one returned value into the tagged JSON tree (+ .npy files)."""

        def __init__(self, folder, stem):
            self.folder = folder
            self.stem = stem
            self.files = 0
            self.elements = 0
            self.nodes = 0
            self.chars = 0

        def count(self, n):
            self.elements += n
            if self.elements > MAX_ELEMENTS:
                raise TooLarge(f"the returned value has more than {MAX_ELEMENTS:,} elements")

        def encode(self, v, depth=0):
            if depth > MAX_DEPTH:
                raise TooLarge(f"the returned value is nested deeper than {MAX_DEPTH} levels")
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise TooLarge(f"the returned value has more than {MAX_NODES:,} items (arrays aside)")
            self.count(1)
            t = type(v)
            if v is None or t is bool or t is int:
                return v
            if t is float:
                return v
            if t is str:
                if len(v) > MAX_STR:
                    raise TooLarge(f"a returned string is longer than {MAX_STR:,} characters")
                self.chars += len(v)
                if self.chars > MAX_CHARS:
                    raise TooLarge(f"the returned value holds more than {MAX_CHARS:,} characters of text")
                return v
            mod = getattr(t, "__module__", "") or ""
            if mod.startswith("torch") and hasattr(v, "detach") and hasattr(v, "shape"):
                return self.array(self.tensor(v), "torch.Tensor")
            if _isinstance(v, _ndarray):
                return self.array(_asarray(v), "numpy.ndarray")  # a subclass becomes a plain array
            if _isinstance(v, _generic):
                return self.array(_asarray(v), "numpy." + t.__name__)
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
            if mod.startswith("plotly") and hasattr(v, "to_plotly_json"):
                return self.plotly(v, depth)
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

        @staticmethod
        def tensor(v):
            """A torch tensor's values as a plain numpy array, bypassing subclass overrides."""
            import torch

            base = getattr(torch._C, "TensorBase", None)
            off = getattr(torch._C, "DisableTorchFunctionSubclass", None)
            if base is None or off is None or not _isinstance(v, base):
                a = v.detach().cpu()
                if a.dtype in (torch.bfloat16, torch.float16):
                    a = a.float()
                return a.numpy()
            with off():
                a = base.cpu(base.detach(v))
                if a.dtype in (torch.bfloat16, torch.float16):
                    a = base.float(a)
                if a.dtype.is_complex:
                    a = base.resolve_conj(a)
                return base.numpy(base.resolve_neg(a))

        def array(self, a, source):
            a = _asarray(a)
            if a.dtype == object or a.dtype.kind not in "biufc":
                return {"$opaque": f"{source} of dtype {a.dtype}"}
            self.count(int(a.size))
            if a.size <= INLINE_MAX and a.dtype.kind != "c":
                data = a.tolist()
                return {"$array": {"dtype": str(a.dtype), "shape": list(a.shape), "data": data}, "type": source}
            self.files += 1
            name = f"{self.stem}_{self.files}.npy"
            tmp = self.folder + "/." + name + ".tmp"
            _written[name] = _write_npy(tmp, _ascontiguous(a))
            _replace(tmp, self.folder + "/" + name)
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

        # -- plotly: its traces and layout as data (graders.checks.figure reads them as matplotlib's) --
        def plotly(self, v, depth):
            spec = v.to_plotly_json()
            layout = {k: x for k, x in dict(spec.get("layout") or {}).items() if k != "template"}
            return {"$figure": {"returned": "plotly", "axes": [{
                "kind": "plotly", "traces": self.encode(list(spec.get("data") or []), depth + 1),
                "layout": self.encode(layout, depth + 1)}]}}

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
                if "$dataframe" in v:  # a pandas DataFrame argument
                    import pandas as pd

                    d = v["$dataframe"]
                    frame = pd.DataFrame({i: self.decode(col) for i, col in enumerate(d["data"])})
                    frame.columns = [self.decode(c) for c in d["columns"]]
                    frame.index = [self.decode(i) for i in d["index"]]
                    frame.index.name = self.decode(d.get("index_name"))
                    return frame
                if "$graph" in v:  # a networkx graph argument, rebuilt in insertion order
                    import networkx as nx

                    g = v["$graph"]
                    graph = nx.DiGraph() if g.get("directed") else nx.Graph()
                    for node, attrs in g["nodes"]:
                        graph.add_node(self.decode(node), **self.decode(attrs))
                    for u, w, attrs in g["edges"]:
                        graph.add_edge(self.decode(u), self.decode(w), **self.decode(attrs))
                    return graph
                if "$array" in v:
                    a = _np_load(_os.path.join(self.folder, v["$array"]), allow_pickle=False)
                    if v.get("kind") == "torch":
                        import torch

                        return torch.from_numpy(a.copy())
                    return a
                if "$resource" in v:
                    if v["$resource"] == "generator":
                        key = _dump(v)
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
            m.loss_type = "ForCausalLM"  # as graders.assets.load_causal_lm: the loss it falls back to, unwarned
            return m.train() if opt.get("train") else m.eval()
        if kind == "seq2seq":
            from transformers import AutoModelForSeq2SeqLM

            return AutoModelForSeq2SeqLM.from_pretrained(_asset(opt["name"]), attn_implementation="eager").eval()
        raise ValueError(f"unknown resource {kind!r}")

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

    def _short_traceback(exc):
        frames = _traceback.extract_tb(exc.__traceback__)
        # keep the student's frames (notebook cells), drop ours
        frames = [f for f in frames if "_hw4" not in f.name and "kernel_side" not in (f.filename or "")]
        return "".join(_traceback.format_list(frames[-3:]))[-1500:]

    def _write(folder, n, record):
        path = folder + "/" + f"{n}.json"
        tmp = folder + "/" + f".{n}.json.tmp"
        try:
            text = _dump(record)
        except (TooLarge, TypeError, RecursionError) as exc:
            text = _dump({"id": record["id"], "ok": False, "observed": {}, "seconds": record.get("seconds", 0.0),
                          "error": {"type": "ValueTooLarge" if _isinstance(exc, TooLarge) else "BadValue",
                                    "where": "write", "message": f"the value could not be written: {exc}"}})
        data = text.encode("utf-8", "surrogatepass")
        with _open(tmp, "wb") as fh:
            fh.write(data)
        _written[f"{n}.json"] = _sha256(data).hexdigest()
        _replace(tmp, path)

    def run(namespace, input_dir, output_dir, indices, bind=()):
        """Answer probes ``indices`` of ``input_dir/probes.json`` in ``namespace``.

        ``namespace`` None: the notebook's namespace captured when the runtime was installed.
        ``bind``: names of the notebook's functions to replace, for these calls only, by the
        reference's (``input_dir/helpers.json``): a check rerun as if its helpers were right.
        """
        if namespace is None:
            namespace = user_ns if user_ns is not None else _sys.modules["__main__"].__dict__
        _written.clear()
        with _open(input_dir + "/probes.json", encoding="utf-8") as fh:
            plan = _loads(fh.read())
        saved, spaces = _bind(namespace, input_dir, bind) if bind else ({}, [])
        try:
            _answer(namespace, input_dir, output_dir, indices, plan)
        finally:
            for name, old in saved.items():
                if old is _MISSING:
                    namespace.pop(name, None)
                else:
                    namespace[name] = old
            for space in spaces:  # a helper kept by the notebook is a shell afterwards: no globals
                space.clear()

    _MISSING = object()

    def _bind(namespace, input_dir, names):
        """Put the reference's helpers ``names`` in ``namespace``, each built alone in a namespace
        holding only what it needs (``graders.reference_helpers``); return what they replaced and
        their namespaces."""
        with _open(input_dir + "/helpers.json", encoding="utf-8") as fh:
            helpers = _loads(fh.read())
        built, spaces = {}, []
        for helper in helpers:
            space = {"__name__": "_hw4_helper", "__builtins__": __builtins__}
            exec(compile(helper["source"], "<reference " + helper["name"] + ">", "exec"), space)
            built[helper["name"]] = space[helper["name"]]
            spaces.append((space, helper["calls"]))
        for space, calls in spaces:
            for other in calls:
                space[other] = built[other]
        saved = {}
        for name in names:
            saved[name] = namespace.get(name, _MISSING)
            namespace[name] = built[name]
        return saved, [space for space, _ in spaces]

    def _answer(namespace, input_dir, output_dir, indices, plan):
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
                        pyplot = _sys.modules.get("matplotlib.pyplot")
                        if pyplot is not None:  # no figure left open by earlier cells, as in Jupyter's inline backend
                            pyplot.close("all")
                        for _ in range(max(1, spec["repeat"])):
                            args = inputs.decode(spec["args"])
                            kwargs = inputs.decode(spec["kwargs"])
                            if "input_gradients" in spec["observe"]:
                                for t in _float_tensors(args, kwargs):
                                    t.requires_grad_(True)
                            results.append(target(*args, **kwargs))
                        value = results[0] if spec["repeat"] <= 1 else results
                        observed = observe(spec["observe"], args, kwargs, value)
                    else:
                        value, observed = target, {}
                    try:
                        encoder = Encoder(output_dir, str(n))
                        record["type"] = f"{type(value).__module__}.{type(value).__qualname__}"
                        record["value"] = encoder.encode(value)
                        record["observed"] = {k: encoder.encode(v) for k, v in observed.items()}
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

    def _cap_output(limit=OUTPUT_CAP):
        """Keep at most ``limit`` characters of stdout+stderr per cell (the grader keeps far less).

        An innocent flood (printing in a long loop) then costs nothing; a notebook that gets past
        this is still bounded on the grader's side. IPython's copy of every cell's output into its
        history (``_tee``) is switched off: in a grading kernel nobody reads it, and it would keep
        everything a cell prints in memory.
        """
        try:
            import contextlib

            from IPython import get_ipython

            shell = get_ipython()
        except Exception:
            return
        if shell is None:
            return
        if hasattr(shell, "_tee"):
            shell._tee = lambda channel: contextlib.nullcontext()
        cls = type(_sys.stdout)
        if not (getattr(cls, "__module__", "") or "").startswith("ipykernel") or type(_sys.stderr) is not cls:
            return
        state = {"used": 0, "noted": False}

        def reset(*_args, **_kwargs):
            state["used"], state["noted"] = 0, False
            for stream in (_sys.stdout, _sys.stderr):
                # IPython's _tee leaves a bound ``write`` on the instance, hiding the class's
                vars(stream).pop("write", None) if type(stream) is cls and hasattr(stream, "__dict__") else None

        shell.events.register("pre_execute", reset)
        original = cls.write

        def write(self, text, *args, **kwargs):
            n = len(text) if _isinstance(text, str) else 0
            room = limit - state["used"]
            if n <= room:
                state["used"] += n
                return original(self, text, *args, **kwargs)
            if room > 0:
                original(self, text[:room])
            state["used"] = limit
            if not state["noted"]:
                state["noted"] = True
                original(self, f"\n[the grader dropped this cell's output beyond {limit:,} characters]\n")
            return n

        cls.write = write

    class _Digest:
        """Shown as ``'text'`` by IPython without going through ``repr`` (a notebook may patch that)."""

        def __init__(self, text):
            self.text = text

        def __repr__(self):
            return "'" + self.text + "'"

        def _repr_pretty_(self, printer, cycle):
            printer.text("'" + self.text + "'")

    def digest():
        """What the last ``run`` wrote: "name=sha256,…" (the grader checks the files against it)."""
        return _Digest(",".join([f"{k}={v}" for k, v in sorted(_written.items())]))

    def _keep_kernel_on_exit():
        """IPython's ``exit()``/``quit()`` would end the kernel a moment later, at a time that varies
        from run to run; a grading kernel keeps running instead, so results do not depend on timing."""
        try:
            from IPython import get_ipython

            get_ipython().keepkernel_on_exit = True
        except Exception:
            pass

    def _working_folder_on_path():
        """The kernel's Python runs with ``-P``, so nothing in the working folder could be imported
        before this runtime; from now on the notebook gets Jupyter's usual ``sys.path``, with ''
        (its working folder) before site-packages."""
        try:
            from IPython import get_ipython

            if get_ipython() is None or "" in _sys.path:
                return
        except Exception:
            return
        for idx, entry in enumerate(_sys.path):
            if _os.path.basename(entry) in ("site-packages", "dist-packages"):
                break
        else:
            idx = 0
        _sys.path.insert(idx, "")

    _cap_output()
    _pin_session()
    _keep_kernel_on_exit()
    _working_folder_on_path()
    mod = _types.ModuleType("_hw4_probe")
    mod.run = run
    mod.digest = digest
    mod.Encoder = Encoder  # also used by the release command to store public expected values
    _sys.modules["_hw4_probe"] = mod
    return mod


_hw4_install(globals().get("_HW4_USER_NS"))
del _hw4_install
