"""Piece 6 of the probe runtime (see ``graders.probe.runtime``): answering a probe cell.

``run`` answers probes in the notebook's namespace, one ``<n>.json`` each (``_answer``, ``_write``);
with ``bind`` the reference's helpers stand in for the notebook's during the call (``_bind``: each
built alone in a namespace of its own, cleared afterwards). ``digest`` names what the last ``run``
wrote, with the sha256 of each file.
"""


def _short_traceback(exc):
    frames = _traceback.extract_tb(exc.__traceback__)
    # keep the student's frames (notebook cells), drop ours ("kernel_side": the file name tests and
    # graders.public_cache compile this text under; a kernel compiles it as <hw4-probe-runtime>)
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
        namespace = _user_ns if _user_ns is not None else _sys.modules["__main__"].__dict__
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
