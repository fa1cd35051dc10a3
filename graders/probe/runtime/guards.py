"""Piece 7 of the probe runtime (see ``graders.probe.runtime``): the kernel made fit for grading.

Output beyond ``OUTPUT_CAP`` characters per cell is dropped (``_cap_output``), the kernel's own
messages are packed without the ``json`` module (``_pin_session``), ``exit()`` does not end the
kernel (``_keep_kernel_on_exit``) and the working folder goes on ``sys.path``
(``_working_folder_on_path``). ``install.py`` applies them.
"""

OUTPUT_CAP = 1_000_000


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
