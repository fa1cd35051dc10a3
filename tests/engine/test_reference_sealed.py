"""Error carried forward hands the kernel the reference's helpers and nothing else of the reference.

A notebook whose ``twice`` fails is rerun with the reference's ``helper`` bound. Its ``twice`` is a
thief: during the rerun it looks for the reference's ``twice`` (the function under test) or
``secret_answer`` (another function of the reference module) and for the reference's source text
along every route a kernel has — the helper's globals, closure and code constants, the garbage
collector, the frames above it, ``sys.modules`` and the files it can reach — and returns what it
found. It must find nothing, while the helper it was given is the reference's (it returns 2).
"""
from __future__ import annotations

import pytest

from graders.checks import AllClose, Check, Exact
from graders.execute import run_notebook
from graders.pipeline import Verdicts
from graders.probe.driver import CarryForward
from graders.probe.spec import Probe
from graders.reference_helpers import cut_out
from graders.rubric import Limits
from helpers import notebook_from_cells

LIMITS = Limits(cell_timeout=20, notebook_timeout=120, probe_timeout=60, output_chars=2000)

REFERENCE = '''from __future__ import annotations
import math

SCALE = 2


def _inner(x):
    return x + math.floor(1.5)


def helper(x):
    return _inner(x)


def twice(x):
    return SCALE * helper(x)


def secret_answer():
    """REFERENCE-SOURCE-MARKER"""
    return 42
'''

THIEF = r'''import gc, os, sys, types

def helper(x):
    return x + 5

WANTED = {"twice", "secret_answer"}
MARKER = "REFERENCE-SOURCE-" + "MARKER"

def _reference_function(obj):
    code = getattr(obj, "__code__", None)
    return (isinstance(obj, types.FunctionType) and obj.__name__ in WANTED
            and code is not twice.__code__ and code is not globals().get("secret_answer", twice).__code__)

def _marked(v):
    return isinstance(v, str) and MARKER in v and v is not MARKER

def _in(container):
    if container is globals():  # the thief's own names (MARKER among them)
        return False
    try:
        values = list(container.values()) if isinstance(container, dict) else list(container)
    except Exception:
        return False
    for v in values:
        if _reference_function(v) or _marked(v):
            return True
        if isinstance(v, (dict, list, tuple)) and v is not container and v is not globals():
            try:
                inner = list(v.values()) if isinstance(v, dict) else list(v)
            except Exception:
                continue
            if any(_reference_function(w) or _marked(w) for w in inner):
                return True
    return False

def _files(folders):
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in files:
                try:
                    with open(os.path.join(root, name), errors="replace") as fh:
                        if MARKER in fh.read(2_000_000):
                            return True
                except OSError:
                    pass
    return False

def twice(x):
    found = []
    h = helper
    if _in(getattr(h, "__globals__", {})):
        found.append("globals")
    if any(_reference_function(c.cell_contents) for c in (h.__closure__ or ()) if c is not None):
        found.append("closure")
    consts = list(h.__code__.co_consts)
    if any(isinstance(c, types.CodeType) and c.co_name in WANTED for c in consts) or \
            any(_marked(c) for c in consts):
        found.append("code constants")
    if any(_reference_function(o) for o in gc.get_objects()):
        found.append("gc")
    if any(isinstance(o, dict) and _in(o) for o in gc.get_referrers(h)):
        found.append("gc referrers")
    frame, input_dirs = sys._getframe(1), []
    while frame is not None:
        if _in(frame.f_locals) or _in(frame.f_globals.get("__builtins__", {}) if isinstance(
                frame.f_globals.get("__builtins__"), dict) else {}):
            found.append("frames")
        for value in frame.f_locals.values():
            if isinstance(value, str) and os.path.isdir(value):
                input_dirs.append(value)
        frame = frame.f_back
    if any(_in(vars(m)) for name, m in list(sys.modules.items()) if m is not None and name != "__main__"):
        found.append("sys.modules")
    filename = h.__code__.co_filename
    if os.path.isfile(filename) and _files([os.path.dirname(filename)]):
        found.append("the helper's file")
    parents = {os.path.dirname(d.rstrip("/")) for d in input_dirs}
    if _files(input_dirs) or _files(parents) or _files([os.getcwd(), "/tmp"]):
        found.append("files")
    return {"helper": h(1), "found": found}
'''


def test_the_reference_is_cut_into_standalone_helpers():
    (helper,) = cut_out(REFERENCE, ["helper"])
    assert "def twice" not in helper.source and "secret_answer" not in helper.source
    assert "def _inner" in helper.source and "import math" in helper.source
    with pytest.raises(ValueError, match="twice.*not bound"):
        cut_out(REFERENCE.replace("return 42", "return twice(21)"), ["secret_answer"])


@pytest.fixture(scope="module")
def rerun():
    checks = [Check("t.helper", "t", (Probe("h", "helper", (1,)),), AllClose("h", 2.0)),
              Check("t.twice", "t", (Probe("w", "twice", (1,)),), Exact("w", {"never": "right"}),
                    depends=("helper",))]
    run = run_notebook(notebook_from_cells([THIEF]), checks, limits=LIMITS,
                       carry=CarryForward(REFERENCE, Verdicts(checks).to_rerun))
    assert set(run.carried) == {"t.twice"}, run.outcomes
    outcome = run.carried["t.twice"]["w"]
    assert outcome.ok, outcome
    return outcome.value


def test_the_rerun_binds_the_reference_helper(rerun):
    assert rerun["helper"] == 2


def test_no_route_from_the_bound_helper_leads_to_the_rest_of_the_reference(rerun):
    assert rerun["found"] == []
