"""Piece 1 of the probe runtime (see ``graders.probe.runtime``): what it holds on to.

The modules and functions the runtime keeps are bound here, while the runtime cell runs — before any
student cell —, so a notebook that later patches ``json``, ``numpy``, ``os.replace``, ``open`` or
``signal`` does not change what the other pieces call (builtin names they use directly resolve
through the runtime's own copy of the builtins).
"""

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
import _signal  # the C functions themselves: ``signal.signal`` is a wrapper that looks them up at each call

import numpy as _np

_user_ns = globals().get("_HW4_USER_NS")  # the notebook's namespace, handed over by the runtime cell

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
# the alarm that ends one check of a batch at its own time limit (answers.py ``_answer_within``)
_setitimer = _signal.setitimer
_set_handler = _signal.signal
_get_handler = _signal.getsignal
_ITIMER_REAL = _signal.ITIMER_REAL
_SIGALRM = _signal.SIGALRM
_SIG_DFL = _signal.SIG_DFL
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
