"""Piece 2 of the probe runtime (see ``graders.probe.runtime``): values written as data.

``_dump`` is a JSON writer of its own, ``_write_npy`` an ``.npy`` writer of its own (no ``json``,
``numpy.save`` or ``numpy.lib.format`` that a notebook could have monkeypatched); ``Encoder`` turns
one returned value into the tagged JSON tree, large arrays going to ``.npy`` files beside it.
"""


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
