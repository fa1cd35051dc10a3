"""Grader side of the probe: read what the kernel wrote and rebuild it as plain, safe values.

Nothing here unpickles, evals, sympifies or parses code. JSON is parsed as data; arrays are
loaded with ``allow_pickle=False`` after their header is checked; sympy expressions are rebuilt
node by node from a whitelist, unevaluated, with size limits, so a hostile tree costs bounded
time. Every problem becomes an ``Outcome`` with ``ok=False`` and a reason, never an exception.

Reading is defensive because the kernel controls the folder: only regular files are opened
(``O_NOFOLLOW | O_NONBLOCK``, then ``fstat``: a FIFO, device, folder or link is refused without
blocking), and the bytes read are capped per file, per check and per submission (``ReadBudget``),
counted per name read, so hard links or sparse files cannot make the grader read gigabytes. The
caps are far above what a correct answer needs (measured on the reference: at most 21 MB for one
check, 54 MB for a whole submission, 163 kB for one JSON file).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

MB = 2**20
#: one answer's JSON file (arrays over 4,096 elements travel as .npy files beside it)
MAX_JSON_BYTES = 8 * MB
#: every file of one check together (and so any one .npy file)
MAX_CHECK_BYTES = 64 * MB
MAX_NPY_BYTES = MAX_CHECK_BYTES
#: every file of every check of one submission (all its notebooks) together
MAX_SUBMISSION_BYTES = 192 * MB
MAX_INT_DIGITS = 300
ALLOWED_DTYPES = set("?bBhHiIlLqQefdgFD")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")


#: the error type of a check not run because a function it calls killed or hung a kernel before
#: (graders.execute): the student's function failed, and the message is the grader's own words
HUNG_EARLIER = "HungEarlier"
INTERFERED = ("the answer could not be verified: the notebook interfered with the grader's probe "
              "(its files no longer match what the probe wrote)")


@dataclass
class ReadBudget:
    """Bytes of answers the grader still reads for one submission (shared by all its notebooks)."""

    left: int = MAX_SUBMISSION_BYTES
    per_check: int = MAX_CHECK_BYTES


class TooMuch(Exception):
    """Reading a file would go over a cap; the message says which (shown to the student)."""


def read_regular(folder: Path | int, name: str, limit: int) -> bytearray:
    """The bytes of ``folder/name`` if it is a regular file of at most ``limit`` bytes.

    ``folder`` is a path or an open folder descriptor. Raises ``OSError`` for anything but a
    regular file (a link, FIFO, device or folder — never blocking on one) and ``TooMuch`` when
    it holds more than ``limit`` bytes (checked before reading, and again while reading).
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    if isinstance(folder, int):
        fd = os.open(name, flags, dir_fd=folder)
    else:
        fd = os.open(os.path.join(folder, name), flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{name} is not a regular file")
        if info.st_size > limit:
            raise TooMuch(info.st_size)
        data = bytearray(info.st_size)
        view, got = memoryview(data), 0
        while got < len(data):
            n = os.readv(fd, [view[got:]])
            if n == 0:
                break
            got += n
        del view
        if got < len(data):
            del data[got:]
        elif os.read(fd, 1):  # it grew while being read
            raise TooMuch(limit + 1)
        return data
    finally:
        os.close(fd)


def one_line(text: Any, limit: int) -> str:
    """Kernel-supplied text made safe to show a student: no terminal escapes or control characters, one line."""
    text = _CONTROL.sub(" ", str(text))
    return " ".join(text.split())[:limit]


@dataclass(frozen=True)
class Outcome:
    """The kernel's answer to one probe, rebuilt on the grader side.

    ok:         the probe returned a value (not whether it is right)
    value:      the rebuilt value (numbers, str, list/tuple/dict, KernelArray, sympy expr,
                pandas objects, networkx graphs, FigureData, Record, Opaque)
    type:       the Python type of the returned value in the kernel, e.g. "torch.Tensor", "builtins.float"
    error_type / message: why not ok ("NameError", "the kernel died in cell 7"…) — shown to students
    observed:   what the probe read of module arguments after the call (parameters, training…)
    """

    id: str
    ok: bool
    value: Any = None
    type: str = ""
    error_type: str = ""
    message: str = ""
    traceback: str = ""
    observed: dict = field(default_factory=dict)
    seconds: float = 0.0

    def describe_error(self) -> str:
        if self.error_type in ("NoAnswer", "Timeout", "Unreadable", "ValueTooLarge", "BadValue", HUNG_EARLIER):
            return self.message
        if self.error_type == "NameError":
            return self.message
        return f"raised {self.error_type}: {self.message}".strip()


class KernelArray(np.ndarray):
    """A numpy array that remembers what it was in the kernel (``source``: "torch.Tensor", …)."""

    source: str = ""

    def __array_finalize__(self, obj):
        self.source = getattr(obj, "source", "")


@dataclass(frozen=True)
class Record:
    """A namedtuple or dataclass instance returned by student code."""

    type: str
    fields: dict


@dataclass(frozen=True)
class Opaque:
    """A value the probe could not represent as data (e.g. a custom class)."""

    type: str


@dataclass(frozen=True)
class FigureData:
    """What a matplotlib figure draws: per axes its lines, bars, images and collections."""

    returned: str
    axes: tuple


class BadValue(Exception):
    """The kernel's output is malformed or over a limit."""


class TooComplexValue(BadValue):
    """A well-formed value beyond what is judged (a sympy expression over a limit); the message
    completes "`name` …" ("is too complex to judge (…): simplify it")."""


class Decoder:
    """Rebuilds a value; its arrays are read from ``files`` (name → bytes) when given, else from
    ``folder`` (a path or an open folder descriptor)."""

    def __init__(self, folder: Path | int, files: Mapping[str, bytes] | None = None):
        self.folder = folder
        self.files = files
        self.sympy_nodes = 0

    def decode(self, v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float, str)):
            if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10**MAX_INT_DIGITS:
                raise BadValue("an integer in the value is absurdly large")
            return v
        if isinstance(v, list):
            return [self.decode(x) for x in v]
        if not isinstance(v, dict):
            raise BadValue(f"unexpected JSON element {type(v).__name__}")
        if "$tuple" in v:
            return tuple(self.decode(x) for x in v["$tuple"])
        if "$dict" in v:
            out = {}
            for pair in v["$dict"]:
                k, x = self.decode(pair[0]), self.decode(pair[1])
                if isinstance(k, list):
                    k = tuple(k)
                try:
                    out[k] = x
                except TypeError:
                    raise BadValue("a dict key is not hashable") from None
            return out
        if "$array" in v:
            return self.array(v["$array"], v.get("type", ""))
        if "$sympy" in v:
            return self.sympy(v["$sympy"])
        if "$dataframe" in v:
            return self.dataframe(v["$dataframe"])
        if "$series" in v:
            import pandas as pd

            s = v["$series"]
            return pd.Series([self.decode(x) for x in s["values"]],
                             index=[self.decode(i) for i in s["index"]], name=self.decode(s["name"]))
        if "$figure" in v:
            f = v["$figure"]
            return FigureData(str(f.get("returned", "")), tuple(self.decode(a) for a in f.get("axes", [])))
        if "$graph" in v:
            return self.graph(v["$graph"])
        if "$record" in v:
            r = v["$record"]
            return Record(str(r["type"]), {str(k): self.decode(x) for k, x in r["fields"].items()})
        if "$opaque" in v:
            return Opaque(str(v["$opaque"]))
        if any(k.startswith("$") for k in v):
            raise BadValue(f"unknown tag in value: {sorted(v)[:3]}")
        return {k: self.decode(x) for k, x in v.items()}

    def array(self, spec: Any, source: str) -> KernelArray:
        if not isinstance(spec, dict):
            raise BadValue("malformed array")
        if "file" in spec:
            name = str(spec["file"])
            if not re.fullmatch(r"[0-9]+_[0-9]+\.npy", name):
                raise BadValue("malformed array file name")
            if self.files is not None:
                data = self.files.get(name)
                if data is None:
                    raise BadValue("an array file is missing")
            else:
                try:
                    data = read_regular(self.folder, name, MAX_NPY_BYTES)
                except TooMuch:
                    raise BadValue("an array file is too large") from None
                except OSError:
                    raise BadValue("an array file is missing") from None
            if len(data) > MAX_NPY_BYTES:
                raise BadValue("an array file is too large")
            try:
                a = np.load(io.BytesIO(data), allow_pickle=False)
            except Exception as exc:
                raise BadValue(f"an array file is unreadable ({one_line(exc, 200)})") from None
        else:
            dtype, shape = spec.get("dtype"), spec.get("shape")
            try:
                dt = np.dtype(str(dtype))
                if dt.char not in ALLOWED_DTYPES:
                    raise TypeError
                a = np.array(spec["data"], dtype=dt)
                if list(a.shape) != list(shape):
                    a = a.reshape([int(s) for s in shape])
            except Exception:
                raise BadValue("an inline array is malformed") from None
        if a.dtype.char not in ALLOWED_DTYPES:
            raise BadValue(f"array dtype {a.dtype} is not allowed")
        out = a.view(KernelArray)
        out.source = str(source)
        return out

    def dataframe(self, d: dict):
        import pandas as pd

        columns = [self.decode(c) for c in d["columns"]]
        data = [[self.decode(x) for x in col] for col in d["data"]]
        if len(columns) != len(data):
            raise BadValue("malformed dataframe")
        frame = pd.DataFrame({i: col for i, col in enumerate(data)})
        frame.columns = columns
        frame.index = [self.decode(i) for i in d["index"]]
        frame.index.name = self.decode(d.get("index_name"))
        return frame

    def graph(self, g: dict):
        import networkx as nx

        graph = nx.DiGraph() if g.get("directed") else nx.Graph()
        for node, attrs in g.get("nodes", []):
            node = self.decode(node)
            graph.add_node(tuple(node) if isinstance(node, list) else node, **self._attrs(attrs))
        for u, w, attrs in g.get("edges", []):
            u, w = self.decode(u), self.decode(w)
            graph.add_edge(tuple(u) if isinstance(u, list) else u,
                           tuple(w) if isinstance(w, list) else w, **self._attrs(attrs))
        return graph

    def _attrs(self, attrs: Any) -> dict:
        attrs = self.decode(attrs)
        if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
            raise BadValue("graph attributes must be a dict with string keys")
        return attrs

    def sympy(self, tree: Any):
        from graders.probe.sympy_tree import TooComplex, TreeError, rebuild

        try:
            return rebuild(tree)
        except TooComplex as exc:  # too big, too deep, too many pieces: the student's answer
            raise TooComplexValue(f"is too complex to judge ({exc}): simplify it") from None
        except TreeError as exc:  # malformed, a node that is not allowed: the student's answer
            raise BadValue(f"the sympy expression was refused: {exc}") from None
        except RecursionError:  # within the depth limit, but a sympy constructor recursed further
            raise TooComplexValue("is too complex to judge (nested too deeply): simplify it") from None


ANSWER_NAME = re.compile(r"([0-9]+)(?:_[0-9]+\.npy|\.json)")


def parse_digests(text: Any) -> dict[str, str] | None:
    """``"0.json=<sha256>,0_1.npy=<sha256>"`` (what the kernel says it wrote) → dict; None if malformed."""
    if not isinstance(text, str) or len(text) > 1_000_000:
        return None
    out: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        name, _, digest = item.partition("=")
        if not ANSWER_NAME.fullmatch(name) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            return None
        out[name] = digest
    return out


def snapshot(output_dir: Path | int, digests: Mapping[str, str],
             budget: ReadBudget | None = None) -> tuple[dict[str, bytes], dict[int, str]]:
    """Read every file the kernel says it wrote, once, and keep those whose sha256 matches.

    ``output_dir``: the answer folder, as a path or an open folder descriptor. Returns (name →
    bytes of the verified files, probe index → why its answer cannot be used: a file that is
    missing, not a regular file, changed, or over a cap). Reading each file once and parsing those
    same bytes means nothing written afterwards (say, by a thread the notebook left running) can
    be read in place of an answer. ``budget`` (default: a fresh one) is charged for every file read.
    """
    budget = budget if budget is not None else ReadBudget()
    check_left = budget.per_check
    files: dict[str, bytes] = {}
    bad: dict[int, str] = {}
    for name, digest in digests.items():
        m = ANSWER_NAME.fullmatch(name)
        if not m:
            continue
        n = int(m.group(1))
        if n in bad:
            continue
        per_file = MAX_JSON_BYTES if name.endswith(".json") else MAX_NPY_BYTES
        limit = min(per_file, check_left, budget.left)
        try:
            data = read_regular(output_dir, name, limit)
        except TooMuch:
            if limit == per_file:
                bad[n] = f"an answer file is larger than the {per_file // MB} MB the grader reads"
            elif limit == check_left:
                bad[n] = f"the answers of this check are larger than the {budget.per_check // MB} MB the grader reads"
            else:
                bad[n] = (f"the notebook's answers are larger than the {MAX_SUBMISSION_BYTES // MB} MB the grader "
                          "reads for one submission")
            continue
        except (OSError, ValueError):
            bad[n] = INTERFERED
            continue
        check_left -= len(data)
        budget.left -= len(data)
        if hashlib.sha256(data).hexdigest() != digest:
            bad[n] = INTERFERED
            continue
        files[name] = data
    return files, bad


def read_answers(output_dir: Path | int, digests: Mapping[str, str], wanted: Mapping[int, str],
                 budget: ReadBudget | None = None) -> dict[str, Outcome]:
    """The outcome of each probe ``wanted`` (index → probe id), from files verified against ``digests``."""
    files, bad = snapshot(output_dir, digests, budget)
    out = {}
    for n, probe_id in wanted.items():
        if n in bad:
            kind = "NoAnswer" if bad[n] == INTERFERED else "ValueTooLarge"
            out[probe_id] = Outcome(probe_id, False, error_type=kind, message=bad[n])
        else:
            out[probe_id] = read_one(output_dir, n, probe_id, INTERFERED, files=files)
    return out


def read_one(output_dir: Path | int, n: int, probe_id: str, reason_if_missing: str | None = None, *,
             files: Mapping[str, bytes] | None = None) -> Outcome:
    """Probe ``n``'s answer, from ``output_dir`` or, when given, from the verified ``files`` snapshot.

    Whatever the files hold, the result is an ``Outcome``: a malformed or hostile answer becomes
    one with ``ok=False`` and a reason.
    """
    try:
        if files is not None:
            data = files.get(f"{n}.json")
        else:
            try:
                data = read_regular(output_dir, f"{n}.json", MAX_JSON_BYTES)
            except TooMuch:
                raise BadValue("the answer is too large") from None
            except OSError:
                data = None
        if data is None:
            return Outcome(probe_id, False, error_type="NoAnswer",
                           message=reason_if_missing or "the check did not run (no answer from the kernel)")
        if len(data) > MAX_JSON_BYTES:
            raise BadValue("the answer is too large")
        raw = json.loads(bytes(data).decode("utf-8"))
        if not isinstance(raw, dict) or raw.get("id") != probe_id:
            raise BadValue("the answer file does not belong to this check")
        observed = raw.get("observed") or {}
        if not isinstance(observed, dict):
            raise BadValue("malformed observations")
        seconds = float(raw.get("seconds") or 0.0)
        if not raw.get("ok"):
            err = raw.get("error") or {}
            if not isinstance(err, dict):
                raise BadValue("malformed error")
            return Outcome(probe_id, False, error_type=one_line(err.get("type", "Error"), 100),
                           message=one_line(err.get("message", ""), 800),
                           traceback=str(err.get("traceback", ""))[:1500],
                           observed=observed, seconds=seconds)
        folder = output_dir if isinstance(output_dir, int) else Path(output_dir)
        decoder = Decoder(folder, files)
        value = decoder.decode(raw.get("value"))
        observed = {str(k): decoder.decode(v) for k, v in observed.items()}
        return Outcome(probe_id, True, value=value, type=str(raw.get("type", ""))[:200],
                       observed=observed, seconds=seconds)
    except TooComplexValue as exc:
        return Outcome(probe_id, False, error_type="BadValue", message=str(exc))
    except BadValue as exc:
        return Outcome(probe_id, False, error_type="BadValue", message=f"the returned value could not be read: {exc}")
    except MemoryError:
        return Outcome(probe_id, False, error_type="BadValue",
                       message="the returned value could not be read: it is too large")
    except Exception as exc:  # anything a malformed answer can make json, numpy, pandas or the decoder raise
        return Outcome(probe_id, False, error_type="Unreadable",
                       message=f"the answer could not be read ({type(exc).__name__})")
