"""Figure checks by the data a figure draws (bars, lines, images, surfaces), not its pixels.

``FigureCheck(probe, predicate)``: ``predicate(FigureData)`` returns None or a reason. A value
that is not a figure at all is a failed check ("should return a matplotlib figure"); a
predicate may raise ``CannotGrade`` when the figure exists but cannot be read.

A plotly figure (students of the original course plotted with plotly) is read as a matplotlib one:
``figure_data`` turns its traces — the kernel sends ``fig.to_plotly_json()``'s data and layout as
one axes of kind "plotly" — into the same axes records (bars, lines, images, marker offsets, 3-D
surface vertices, tick labels, axis labels), so every predicate works on both.
"""
from __future__ import annotations

import base64
from typing import Any, Callable

import numpy as np

from graders.checks.base import ValueRule
from graders.checks.rules import CannotGrade
from graders.checks.values import describe_type
from graders.probe.transport import FigureData, Opaque, Outcome
from graders.results import Verdict


class FigureCheck(ValueRule):
    def __init__(self, probe: str, predicate: Callable[[FigureData], str | None], *, what: str = "figure"):
        super().__init__(probe)
        if not callable(predicate):
            raise ValueError("predicate must be callable")
        self.predicate, self.what = predicate, what

    def judge(self, value: Any, outcome: Outcome) -> Verdict:
        if isinstance(value, Opaque) and value.type.startswith("plotly"):
            return Verdict.fail(f"{self.what}: this grader cannot read this plotly object yet; return a matplotlib "
                                "figure (or a plotly Figure)")
        value = figure_data(value)
        if not isinstance(value, FigureData):
            return Verdict.fail(f"{self.what}: should return a matplotlib figure, got {describe_type(outcome)}")
        if not value.axes:
            return Verdict.fail(f"{self.what}: the figure has no axes")
        try:
            problem = self.predicate(value)
        except CannotGrade as exc:
            return Verdict.cannot_grade(f"{self.what}: {exc}")
        return Verdict.fail(f"{self.what}: {problem}") if problem else Verdict.ok()


def horizontal_lines(fig: FigureData) -> list[float]:
    """y values of horizontal lines (e.g. an ``axhline(0.5)``)."""
    out = []
    for ax in fig.axes:
        for ln in ax.get("lines", []):
            y = list(ln["y"])
            if len(y) >= 2 and all(v == y[0] for v in y):
                out.append(float(y[0]))
    return out


# ---- plotly figures, read as matplotlib ones ---------------------------------------------------

_TYPED = {"i1": np.int8, "u1": np.uint8, "i2": np.int16, "u2": np.uint16, "i4": np.int32, "u4": np.uint32,
          "f4": np.float32, "f8": np.float64}
MAX_TYPED_BYTES = 64 * 2**20


def figure_data(value: Any) -> Any:
    """``value`` with every plotly axes turned into matplotlib-like axes records; anything else unchanged."""
    if not isinstance(value, FigureData) or not any(ax.get("kind") == "plotly" for ax in value.axes
                                                    if isinstance(ax, dict)):
        return value
    axes = []
    for ax in value.axes:
        axes.extend(_plotly_axes(ax) if isinstance(ax, dict) and ax.get("kind") == "plotly" else [ax])
    return FigureData(value.returned, tuple(axes))


def plotly_array(v: Any) -> np.ndarray | None:
    """A plotly array — a list, an array from the kernel, or a typed array ``{"dtype", "bdata",
    "shape"}`` (base64 of raw numbers, read with an allowed dtype only) — as a numpy array."""
    if v is None:
        return None
    if isinstance(v, dict) and "bdata" in v:
        dtype = _TYPED.get(str(v.get("dtype")))
        data = v.get("bdata")
        if dtype is None or not isinstance(data, str) or len(data) > MAX_TYPED_BYTES:
            return None
        try:
            a = np.frombuffer(base64.b64decode(data, validate=True), dtype=dtype)
            shape = v.get("shape")
            if isinstance(shape, str):
                a = a.reshape([int(n) for n in shape.split(",")])
        except (ValueError, TypeError):
            return None
        return a
    try:
        return np.asarray(v)
    except (ValueError, TypeError):
        return None


def _numbers(v: Any) -> np.ndarray | None:
    a = plotly_array(v)
    if a is None or a.dtype.kind not in "biuf":
        return None
    return a.astype(float)


def _labels(v: Any) -> list[str]:
    a = plotly_array(v)
    return [] if a is None else [str(x) for x in a.reshape(-1).tolist()]


def _title(layout: dict, axis: str) -> str:
    title = (layout.get(axis) or {}).get("title") if isinstance(layout.get(axis), dict) else None
    if isinstance(title, dict):
        title = title.get("text")
    return title if isinstance(title, str) else ""


def _plotly_axes(ax: dict) -> list[dict]:
    """Matplotlib-like axes records for the traces of one plotly figure (2-D traces on one axes,
    3-D surfaces on another)."""
    layout = ax.get("layout") if isinstance(ax.get("layout"), dict) else {}
    scene = layout.get("scene") if isinstance(layout.get("scene"), dict) else {}
    flat = {"kind": "rectilinear", "title": "", "xlabel": _title(layout, "xaxis"), "ylabel": _title(layout, "yaxis"),
            "zlabel": "", "lines": [], "bars": [], "images": [], "collections": [], "xticklabels": [],
            "yticklabels": [], "texts": []}
    solid = dict(flat, kind="3d", xlabel=_title(scene, "xaxis"), ylabel=_title(scene, "yaxis"),
                 zlabel=_title(scene, "zaxis"), lines=[], bars=[], images=[], collections=[], xticklabels=[],
                 yticklabels=[], texts=[])
    for trace in ax.get("traces") or []:
        if not isinstance(trace, dict):
            continue
        kind = trace.get("type", "scatter")
        if kind == "bar":
            _bars(trace, flat)
        elif kind in ("scatter", "scattergl"):
            x, y = _numbers(trace.get("x")), _numbers(trace.get("y"))
            if x is not None and y is not None and x.shape == y.shape:
                mode = str(trace.get("mode", "lines"))
                if "lines" in mode:
                    flat["lines"].append({"x": x, "y": y, "label": str(trace.get("name", "")), "transform": "data"})
                if "markers" in mode or "text" in mode:
                    flat["collections"].append({"type": "PathCollection", "offsets": np.stack([x, y], axis=1)})
            flat["texts"] += _labels(trace.get("text"))
        elif kind == "heatmap":
            z = _numbers(trace.get("z"))
            if z is not None:
                flat["images"].append(z)
                flat["xticklabels"] += _labels(trace.get("x"))
                flat["yticklabels"] += _labels(trace.get("y"))
        elif kind == "surface":
            z = _numbers(trace.get("z"))
            if z is not None and z.ndim == 2:
                x = _numbers(trace.get("x"))
                y = _numbers(trace.get("y"))
                x = np.arange(z.shape[1], dtype=float) if x is None else x
                y = np.arange(z.shape[0], dtype=float) if y is None else y
                if x.ndim == 1 and y.ndim == 1 and (len(y), len(x)) == z.shape:
                    X, Y = np.meshgrid(x, y)  # plotly: z[j][i] is the height at (x[i], y[j])
                    solid["collections"].append({"type": "Surface",
                                                 "verts3d": np.stack([X.ravel(), Y.ravel(), z.ravel()], axis=1)})
    for shape in layout.get("shapes") or []:  # fig.add_hline / add_vline
        if isinstance(shape, dict) and shape.get("type") == "line":
            try:
                x0, x1, y0, y1 = (float(shape.get(k, 0.0)) for k in ("x0", "x1", "y0", "y1"))
            except (TypeError, ValueError):
                continue
            flat["lines"].append({"x": np.array([x0, x1]), "y": np.array([y0, y1]), "label": "", "transform": "data"})
    for note in layout.get("annotations") or []:
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            flat["texts"].append(note["text"])
    return [a for a in (flat, solid) if a is flat or a["collections"]]


def _bars(trace: dict, out: dict) -> None:
    horizontal = trace.get("orientation") == "h"
    values = _numbers(trace.get("x" if horizontal else "y"))
    if values is None:
        return
    names = _labels(trace.get("y" if horizontal else "x")) or [str(i) for i in range(len(values))]
    start = len(out["bars"])
    for i, v in enumerate(values.reshape(-1)):
        at = float(start + i) - 0.4
        out["bars"].append({"x": 0.0, "y": at, "width": float(v), "height": 0.8} if horizontal else
                           {"x": at, "y": 0.0, "width": 0.8, "height": float(v)})
    out["yticklabels" if horizontal else "xticklabels"] += names
