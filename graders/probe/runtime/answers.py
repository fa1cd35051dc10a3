"""Piece 6 of the probe runtime (see ``graders.probe.runtime``): answering a probe cell.

``run`` answers probes in the notebook's namespace, one ``<n>.json`` each (``_answer``, ``_write``);
with ``bind`` the reference's helpers stand in for the notebook's during the call (``_bind``: each
built alone in a namespace of its own, cleared afterwards). A cell that asks a batch of checks gives
each its own time limit (``_answer_within``: an alarm; the grader's cell timeout is only the
backstop). ``digest`` names what the last ``run`` wrote, with the sha256 of each file.
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


def run(namespace, input_dir, output_dir, indices, bind=(), seconds=None):
    """Answer probes ``indices`` of ``input_dir/probes.json`` in ``namespace``.

    ``namespace`` None: the notebook's namespace captured when the runtime was installed.
    ``bind``: names of the notebook's functions to replace, for these calls only, by the
    reference's (``input_dir/helpers.json``): a check rerun as if its helpers were right.
    ``seconds``: a batch of checks — ``indices`` is then one list of probe indices per check, in
    order, and ``seconds`` each check's own time limit (``_answer_within``).
    """
    if namespace is None:
        namespace = _user_ns if _user_ns is not None else _sys.modules["__main__"].__dict__
    _written.clear()
    with _open(input_dir + "/probes.json", encoding="utf-8") as fh:
        plan = _loads(fh.read())
    saved, spaces = _bind(namespace, input_dir, bind) if bind else ({}, [])
    try:
        if seconds is None:
            _answer(namespace, input_dir, output_dir, indices, plan)
        else:
            for group, limit in zip(indices, seconds):
                _answer_within(limit, namespace, input_dir, output_dir, group, plan)
    finally:
        for name, old in saved.items():
            if old is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = old
        for space in spaces:  # a helper kept by the notebook is a shell afterwards: no globals
            space.clear()
        pyplot = _sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:  # the checks' figures are not drawn as the cell's output (inline backend)
            pyplot.close("all")


_MISSING = object()


class _TimeLimit(BaseException):
    """Raised by the alarm in the check that outran its own limit: a BaseException, so a notebook's
    ``except Exception`` does not swallow it (its ``except BaseException`` can: the grader's cell
    timeout is the backstop)."""


_fired = []  # not empty once the alarm of the check being answered has gone off


def _on_alarm(signum, frame):
    _fired.append(True)
    raise _TimeLimit()


#: what the answers of a check that outran its limit in a batch say (the grader gives them its own reason)
ALARM_TYPE, ALARM_MESSAGE = "Timeout", "the check ran out of its own time limit"


def _answer_within(limit, namespace, input_dir, output_dir, indices, plan):
    """Answer one check's probes ``indices`` within ``limit`` seconds (an alarm: ``ITIMER_REAL`` and
    ``SIGALRM``, through the functions captured at install). Past it, every probe of the check is
    recorded as timed out — even if the notebook caught the alarm and returned, as a cell that ran
    out of time is — and the cell goes on with the next check."""
    previous = _get_handler(_SIGALRM)
    if previous is None:  # a handler not set from Python
        previous = _SIG_DFL
    _fired.clear()
    try:
        try:
            _set_handler(_SIGALRM, _on_alarm)
            _setitimer(_ITIMER_REAL, limit)
            _answer(namespace, input_dir, output_dir, indices, plan)
        finally:
            _setitimer(_ITIMER_REAL, 0)
            _set_handler(_SIGALRM, previous)
    except _TimeLimit:  # it may have fired inside the finally, before it disarmed
        _setitimer(_ITIMER_REAL, 0)
        _set_handler(_SIGALRM, previous)
    if _fired:
        for n in indices:
            for name in [k for k in _written if k.partition(".")[0].partition("_")[0] == str(n)]:
                del _written[name]  # what the check wrote before its time ran out is not an answer
            _write(output_dir, n, {"id": plan[n]["id"], "ok": False, "observed": {}, "seconds": limit,
                                   "error": {"type": ALARM_TYPE, "where": "alarm", "message": ALARM_MESSAGE}})


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
        except _TimeLimit:
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
