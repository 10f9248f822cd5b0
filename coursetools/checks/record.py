"""Record in the grading kernel, replay in the trusted grader: the calls of a hidden check.

Nothing computed in the grading kernel can be trusted: student code runs there and can
replace numpy, builtins, IPython or these very functions. So in the kernel a hidden check
only CALLS the student's functions on the hidden inputs and RECORDS what came back (return
values, arguments changed in place, exceptions, timings, observed values). The record leaves
the kernel as one display output of the hidden test cell (MIME type protocol.RECORD_MIME).

The trusted grader (coursetools/perimeter/verify_hidden_checks.py) runs the very same check
code again, outside the kernel, in *replay* mode: every ``call`` returns what the record says
the student's function returned, and every comparison against the reference happens there.
A record only passes by holding the right numbers for inputs nobody outside the hidden code
knows; a forged or truncated record fails.

Standard library and numpy only: this module is also loaded into the grading kernel, before
any student cell runs, so the builtins and numpy functions it uses are bound here, at import
time (a student who later replaces ``builtins.len`` or ``numpy.array`` does not change them).
"""

import base64
import linecache
import os
import time
import warnings
import re
from builtins import (BaseException, Exception, KeyboardInterrupt, NotImplementedError,  # noqa: A004
                      ValueError, bool, bytes, callable, complex, dict, enumerate, float, hasattr,
                      int, isinstance, len, list, next, repr, setattr, str, tuple, type, vars,
                      zip)

import numpy

# ---- numpy functions and types, bound at import (see the module docstring) ----
ndarray = numpy.ndarray
nd_copy = numpy.ndarray.copy
nd_tobytes = numpy.ndarray.tobytes
np_array = numpy.array
np_zeros = numpy.zeros
np_frombuffer = numpy.frombuffer
np_dtype = numpy.dtype
np_generic = numpy.generic
b64encode, b64decode = base64.b64encode, base64.b64decode
perf_counter = time.perf_counter
catch_warnings = warnings.catch_warnings
simplefilter = warnings.simplefilter
getline = linecache.getline
isfile = os.path.isfile
NoneType = type(None)

MAX_VALUES = 2_000_000        # elements per recorded array; larger ones are not kept
MAX_TEXT = 300                # characters kept of a student's exception message / code line
MAX_DEPTH = 8

# replay: the record being replayed (None while recording); events: the current case's
# event list (recording) or iterator (replay); paused: student calls inside a timed block
# are not recorded; sink: records go into this list instead of a display (tests).
STATE = {"replay": None, "events": None, "paused": False, "sink": None}


class CaseFailure(Exception):
    """A hidden case failed. ``kind``: "values" (the case's own group), "unchanged" (an input
    changed in place) or "repeat" (a second call gave another result); ``signature`` groups
    failures that have the same cause in the verdict."""

    def __init__(self, message, kind="values", signature=None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.signature = signature if signature is not None else message


class NotImplementedYet(Exception):
    """The student's function still raises NotImplementedError."""


class RecordMismatch(Exception):
    """The record does not fit the hidden test (tampered kernel, or it stopped early)."""


class Opaque:
    """Something the record could not keep (an unknown object, a huge array)."""

    def __init__(self, what):
        self.what = what


class Decoded:
    """An object of the student's class, rebuilt with its attributes only."""


def recording():
    """True in the grading kernel, False in the trusted grader while it replays a record."""
    return STATE["replay"] is None


# ================================ encoding ================================

def _b64(a):
    return b64encode(nd_tobytes(a)).decode("ascii")


def encode(obj, values=True, depth=0):
    """A JSON-safe copy of what a student function returned (kernel side).

    ``values=False`` keeps only the shape and dtype of arrays (timed calls).
    """
    if depth > MAX_DEPTH:
        return ["opaque", "nested too deep"]
    if isinstance(obj, ndarray) or (not isinstance(obj, (str, bytes, dict, tuple, list))
                                    and hasattr(type(obj), "__array__")):
        try:
            a = np_array(obj, copy=True, subok=False)
        except Exception:
            return ["opaque", type(obj).__name__]
        if a.dtype.kind not in "biufc" or a.size > MAX_VALUES:
            return ["opaque", f"array {a.dtype} {tuple(a.shape)}"]
        if isinstance(obj, np_generic):
            return ["scalar", a.dtype.str, _b64(a)]
        if not values:
            return ["zeros", a.dtype.str, list(a.shape)]
        return ["array", a.dtype.str, list(a.shape), _b64(a)]
    if obj is None:
        return ["none"]
    if isinstance(obj, bool):
        return ["bool", bool(obj)]
    if isinstance(obj, int):
        return ["int", repr(int(obj))[:500]]
    if isinstance(obj, float):
        return ["float", float(obj).hex()]
    if isinstance(obj, complex):
        return ["complex", obj.real.hex(), obj.imag.hex()]
    if isinstance(obj, str):
        return ["str", str(obj)[:2000]]
    if isinstance(obj, (tuple, list)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return [kind, [encode(v, values, depth + 1) for v in obj]]
    if isinstance(obj, dict):
        return ["dict", [[encode(k, values, depth + 1), encode(v, values, depth + 1)]
                         for k, v in obj.items()]]
    if hasattr(obj, "__dict__") and not callable(obj):
        return ["object", type(obj).__name__,
                [[k, encode(v, values, depth + 1)] for k, v in vars(obj).items()
                 if isinstance(k, str)]]
    return ["opaque", type(obj).__name__]


def decode(e, depth=0):
    """The inverse of encode (trusted side): plain numpy arrays and containers only."""
    try:
        kind = e[0]
        if depth > MAX_DEPTH + 2:
            raise ValueError("nested too deep")
        if kind in ("array", "zeros", "scalar"):
            dt = np_dtype(str(e[1]))
            if dt.kind not in "biufc":
                raise ValueError(f"dtype {dt}")
            if kind == "scalar":
                return np_frombuffer(b64decode(e[2]), dtype=dt, count=1)[0]
            shape = tuple(int(d) for d in e[2])
            size = 1
            for d in shape:
                if d < 0:
                    raise ValueError("negative dimension")
                size *= d
            if size > MAX_VALUES:
                raise ValueError("array too large")
            if kind == "zeros":
                return np_zeros(shape, dtype=dt)
            return nd_copy(np_frombuffer(b64decode(e[3]), dtype=dt, count=size)).reshape(shape)
        if kind == "none":
            return None
        if kind == "bool":
            return bool(e[1])
        if kind == "int":
            if len(e[1]) > 400:
                raise ValueError("integer too long")
            return int(e[1])
        if kind == "float":
            return float.fromhex(e[1])
        if kind == "complex":
            return complex(float.fromhex(e[1]), float.fromhex(e[2]))
        if kind == "str":
            return str(e[1])
        if kind == "tuple":
            return tuple(decode(v, depth + 1) for v in e[1])
        if kind == "list":
            return [decode(v, depth + 1) for v in e[1]]
        if kind == "dict":
            return {decode(k, depth + 1): decode(v, depth + 1) for k, v in e[1]}
        if kind == "object":
            obj = Decoded()
            for k, v in e[2]:
                setattr(obj, str(k), decode(v, depth + 1))
            return obj
        if kind == "opaque":
            return Opaque(str(e[1])[:200])
        raise ValueError(f"unknown kind {kind!r}")
    except RecordMismatch:
        raise
    except Exception as exc:
        # the exception's text is the record's (the kernel's): only its type is shown
        raise RecordMismatch(f"the record is malformed ({type(exc).__name__})") from None


def restore(target, e):
    """Replay an argument's change in place: target becomes what the kernel saw after the call."""
    new = decode(e)
    try:
        if isinstance(target, ndarray) and isinstance(new, ndarray):
            if target.shape != new.shape:
                target.shape = new.shape
            target[...] = new
            if target.dtype == new.dtype:
                return
        elif isinstance(target, list) and isinstance(new, list):
            target[:] = new
            return
        elif isinstance(target, dict) and isinstance(new, dict):
            target.clear()
            target.update(new)
            return
        elif (isinstance(target, tuple) and isinstance(new, tuple) and e[0] == "tuple"
              and len(target) == len(new)):
            for t, sub in zip(target, e[1]):
                restore(t, sub)
            return
        elif hasattr(target, "__dict__") and isinstance(new, Decoded):
            vars(target).clear()
            vars(target).update(vars(new))
            return
    except Exception:
        pass
    if isinstance(target, ndarray) and target.size:   # cannot be replayed exactly:
        target.reshape(-1)[0] += 1                    # at least it is changed
    elif isinstance(target, list):
        target.append(None)
    elif isinstance(target, dict):
        target[object()] = None


# ================================ snapshots (in-place changes) ================================

def snap(obj, depth=0):
    """Deep snapshot: ndarrays by shape/dtype/bytes, containers recursively."""
    if isinstance(obj, ndarray):
        return ("array", (tuple(obj.shape), obj.dtype.str, nd_tobytes(nd_copy(obj))))
    if depth > MAX_DEPTH:
        return ("deep", repr(type(obj)))
    if isinstance(obj, (tuple, list)):
        return (type(obj).__name__, tuple((f"[{i}]", snap(v, depth + 1)) for i, v in enumerate(obj)))
    if isinstance(obj, dict):
        return ("dict", tuple((f"[{k!r}]", snap(v, depth + 1)) for k, v in obj.items()))
    if isinstance(obj, (int, float, complex, str, bytes, bool, NoneType)):
        return ("value", repr(obj))
    if hasattr(obj, "__dict__"):
        return ("object", tuple((f".{k}", snap(v, depth + 1)) for k, v in vars(obj).items()))
    return ("value", repr(obj))


def first_change(a, b, path):
    """Where snapshot b differs from snapshot a (a readable path), or None."""
    if a == b:
        return None
    if a[0] == "array" and b[0] == "array":
        if a[1][:2] != b[1][:2]:
            return f"{path} (shape/dtype changed from {a[1][0]} {a[1][1]} to {b[1][0]} {b[1][1]})"
        return f"{path} (values changed)"
    if a[0] == b[0] and a[0] in ("tuple", "list", "dict", "object") and len(a[1]) == len(b[1]):
        for (la, va), (lb, vb) in zip(a[1], b[1]):
            if la != lb:
                return path
            found = first_change(va, vb, path + la)
            if found:
                return found
    return path


# ================================ student exceptions ================================

def _student_frame(tb):
    """(function, line number, code) of the innermost frame of notebook code in ``tb``.

    Notebook cells have no file on disk (IPython keeps their text in linecache); module code
    (numpy, this package) does.
    """
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        name = code.co_filename
        if not isfile(name) and not name.startswith("<coursetools") and not name.startswith("<grader"):
            found = (code.co_name, tb.tb_lineno, name)
        tb = tb.tb_next
    if found is None:
        return None
    fn, lineno, filename = found
    try:
        line = str(getline(filename, lineno)).strip()
    except Exception:
        line = ""
    return {"function": str(fn)[:60], "line": int(lineno), "code": line[:MAX_TEXT]}


def describe_exception(exc):
    """What the verdict may say about an exception raised by student code: its type, the
    start of its message and the student's own line (all cut short)."""
    try:
        message = str(exc)
    except BaseException:
        message = "(its message could not be turned into text)"
    info = {"type": str(type(exc).__name__)[:60], "message": message.strip()[:MAX_TEXT]}
    try:
        where = _student_frame(exc.__traceback__)
    except Exception:
        where = None
    if where:
        info["where"] = where
    return info


# What student code may put into a verdict (exception messages, code lines, type names) is
# shown short, one line, with numbers that could be hidden data masked: the verdict must not
# become a way to copy hidden inputs or reference values into the feedback.
_FLOAT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+")
_LONG_INT = re.compile(r"\d{5,}")
_DATA = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
_NAME = re.compile(r"[^A-Za-z0-9_.]")


def clean(text, limit=120):
    """Student-controlled text as a verdict may show it (see above)."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    line = _FLOAT.sub("<float>", line)
    line = _LONG_INT.sub("<int>", line)
    line = _DATA.sub("<data>", line)
    return line[:limit] + ("..." if len(line) > limit else "")


def clean_name(text, limit=40):
    """A type or function name from student code: identifier characters only."""
    return _NAME.sub("", str(text))[:limit] or "?"


# Cleaning alone lets any short prose through: a line of the grader's own source (read in the
# kernel from linecache or the grader's modules) passes it. So when the trusted grader knows the
# submission (``use_submission``), a verdict shows student text only when every word of it is a
# word of Python's or NumPy's own error messages or a name of the submission's code, a code
# line only when it is a line of the submission, and a type name only when it is Python's own
# or the submission's: what a student's code found in the kernel cannot be spelled out.
ERROR_WORDS = frozenset("""
a about above after all allocate allowed already ambiguous an and any are argument arguments
array arrays as assignment at attribute axes axis be been bool boolean bounds broadcast
broadcastable but by call callable can cannot cast casting checked code concatenation contain
contains core could data decode deep defined detected did different dim dimension dimensional
dimensions division does doesn domain dtype each element ellipsis empty encode enough equal
error exactly exceeded exceeds expected for from function given got gufunc has have identity
if ignored in index indexed indices infs input instance integer integers into invalid is it
item items its iterable key keyword kind larger len length list match math maximum memory
method minimum mismatch missing modulo more must n nan nans ndarray ndim negative newaxis no
non none not np number numpy object of on one only operand operands operation or order out
output pass perhaps positional range recursion reduction remapped required reshape result rule
s same scalar sequence setting shape shapes signature size slice slices str string subscriptable
sum supported take takes than that the them this to together too truth tuple type types unable
unexpected unhashable unpack unsupported use valid value values was were which while with
without wrong zero
int int8 int16 int32 int64 uint8 uint16 uint32 uint64 float float16 float32 float64 float128
complex complex64 complex128 bool_ object_ str_ bytes_ NoneType dict set frozenset bytes
intp uint longlong ufunc add subtract multiply divide true_divide matmul dot einsum
Input Use The Cannot Maximum Unable Non Please ValueError TypeError IndexError KeyError
AttributeError NameError ZeroDivisionError RuntimeError RecursionError MemoryError
AxisError LinAlgError C F A K k m x y d i j
""".split())
VOCABULARY = {"words": None, "lines": None}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NOT_SHOWN = "(not shown: only Python's and NumPy's own messages are)"


def use_submission(code_cells):
    """Trusted grader: the student's code cells (their source), whose names and lines student
    text in a verdict may contain; None: no submission known (plain cleaning only)."""
    if code_cells is None:
        VOCABULARY.update(words=None, lines=None)
        return
    words, lines = set(), set()
    for source in code_cells:
        words.update(_WORD.findall(str(source)))
        lines.update(line.strip() for line in str(source).splitlines() if line.strip())
    VOCABULARY.update(words=frozenset(words), lines=frozenset(lines))


def _known_words(text):
    words = VOCABULARY["words"]
    return all(w in ERROR_WORDS or w in words or w in ("float", "int", "data")
               for w in _WORD.findall(text))


def student_text(text, limit=120):
    """Student-controlled text (an exception message, ...) as a verdict may show it."""
    line = clean(text, limit)
    if VOCABULARY["words"] is None or _known_words(line):
        return line
    return NOT_SHOWN


def student_name(text, limit=40):
    """A type or function name from the kernel as a verdict may show it."""
    name = clean_name(text, limit)
    if VOCABULARY["words"] is None or _known_words(name):
        return name
    return "an exception of its own" if name else "?"


def exception_text(fn_name, info, hint):
    """The verdict's sentence for an exception recorded by ``describe_exception``."""
    if not isinstance(info, dict):
        info = {"type": "Exception", "message": str(info)}
    kind = student_name(info.get("type", "Exception"))
    message = student_text(info.get("message", ""))
    text = f"{fn_name} raised {kind}" + (f": {message}" if message else "")
    where = info.get("where")
    if isinstance(where, dict):
        try:
            line = int(where.get("line", 0))
        except (TypeError, ValueError):
            line = 0
        code = clean(where.get("code", ""), 100)
        lines = VOCABULARY["lines"]
        if lines is not None and str(where.get("code", "")).strip() not in lines:
            code = ""          # not a line of the submission (linecache can be written)
        text += (f"\n    at line {line} of your {student_name(where.get('function', ''))}"
                 + (f": {code}" if code else ""))
    return text + (f"\n    Likely cause: {hint}" if hint else "")


# ================================ events ================================

def _record(event):
    if STATE["events"] is not None:
        STATE["events"].append(event)


def _next_event(kinds, name):
    ev = next(STATE["events"], None)
    if not isinstance(ev, list) or len(ev) < 2 or ev[0] not in kinds or ev[1] != name:
        raise RecordMismatch(f"the record has no {name} here (the hidden test did not run "
                             f"to the end in the kernel, or the kernel was tampered with)")
    return ev


def _base_name(fn_name):
    return str(fn_name).split(" (", 1)[0]


def call(fn, fn_name, args, kwargs, hint, values=True):
    """fn(*args, **kwargs): recorded in the kernel, replayed in the trusted grader.

    ``values=False`` keeps only shapes and dtypes of the result (timed calls). An exception
    raised by ``fn`` becomes a CaseFailure naming the student's own line; NotImplementedError
    becomes NotImplementedYet.
    """
    if not recording():
        ev = _next_event(("call", "raise"), fn_name)
        if ev[0] == "raise":
            if len(ev) < 3 or ev[2] is None:
                raise NotImplementedYet(_base_name(fn_name))
            info = ev[2]
            sig_type = info.get("type") if isinstance(info, dict) else "Exception"
            raise CaseFailure(exception_text(fn_name, info, hint),
                              signature=("raise", _base_name(fn_name), str(sig_type)[:60]))
        for i, change in ev[3]:
            restore(args[int(i)], change)
        return decode(ev[2])
    if STATE["paused"]:
        return fn(*args, **kwargs)
    before = [snap(a) for a in args]
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        _record(["raise", fn_name, None])
        raise NotImplementedYet(_base_name(fn_name)) from None
    except KeyboardInterrupt:
        raise
    except Exception as e:
        _record(["raise", fn_name, describe_exception(e)])
        raise CaseFailure(f"{fn_name} raised {type(e).__name__}") from None
    changed = [[i, encode(a)] for i, a in enumerate(args) if snap(a) != before[i]]
    _record(["call", fn_name, encode(result, values), changed])
    return result


def observed(name, value):
    """A value the kernel reports (e.g. something the student's code left behind)."""
    if recording():
        _record(["value", name, encode(value)])
        return value
    return decode(_next_event(("value",), name)[2])


def timed(measure):
    """measure() -> tuple of numbers, taken in the kernel (student calls inside not recorded)."""
    if recording():
        STATE["paused"] = True
        try:
            result = measure()
        finally:
            STATE["paused"] = False
        _record(["timing", "timing", [float(v).hex() for v in result]])
        return result
    return tuple(float.fromhex(v) for v in _next_event(("timing",), "timing")[2])


def clock():
    """The clock of the timed checks, bound before any student cell ran."""
    return perf_counter()


class capturing:
    """Tests, outside a kernel: ``with capturing(records): checks.check_x(fn)``."""

    def __init__(self, sink):
        self.sink = sink

    def __enter__(self):
        STATE["sink"] = self.sink

    def __exit__(self, *exc):
        STATE["sink"] = None


class replaying:
    """Trusted grader: ``with replaying(record): checks.check_x(None, ...)``."""

    def __init__(self, rec):
        self.rec = rec

    def __enter__(self):
        STATE["replay"] = self.rec

    def __exit__(self, *exc):
        STATE["replay"] = None
        STATE["events"] = None
