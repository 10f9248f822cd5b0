"""Load the grader modules that `make release` spliced into a hidden cell.

An assignment keeps its hidden checks and its reference as ordinary Python modules beside
its source (``source/<a>/grader/*.py``: importable, unit-tested, never released). `make
release` (coursetools/splice.py) replaces the directive ``# grader module: grader/checks.py
as _grader`` of a hidden cell by one call of ``load`` with the module and the folder modules
it imports, packed into one string. The gradebook stores that cell, so grading uses the
version that was released; the grading kernel and the trusted grader load the same text.

Modules of one packed set become one package, named after the set's content hash, so two
versions (or two assignments) never share a module, and loading the same set again (the
next student of a grading worker) returns the modules already loaded.

Standard library only (also loaded into the grading kernel).
"""

import base64
import hashlib
import json
import os
import sys
import types
import zlib

_DATA = {"dir": None}


def pack(modules):
    """[(module name, source)] in load order -> one ASCII string."""
    raw = json.dumps([[str(n), str(s)] for n, s in modules]).encode("utf-8")
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def unpack(blob):
    return [(str(n), str(s)) for n, s in json.loads(zlib.decompress(base64.b64decode(blob)))]


def package_name(assignment, blob):
    digest = hashlib.sha256(blob.encode("ascii")).hexdigest()[:16]
    safe = "".join(ch if ch.isalnum() else "_" for ch in str(assignment))
    return f"cnn_grader_{safe}_{digest}"


def load(assignment, main, blob):
    """The module ``main`` of the packed set ``blob`` (its dependencies loaded first)."""
    package = package_name(assignment, blob)
    if f"{package}.{main}" in sys.modules:
        return sys.modules[f"{package}.{main}"]
    pkg = types.ModuleType(package, f"grader modules of {assignment}")
    pkg.__path__ = []
    pkg.__package__ = package
    sys.modules[package] = pkg
    for name, source in unpack(blob):
        module = types.ModuleType(f"{package}.{name}")
        module.__package__ = package
        module.__file__ = f"<grader/{name}.py>"
        sys.modules[module.__name__] = module
        setattr(pkg, name, module)
        try:
            exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102
        except BaseException:
            sys.modules.pop(module.__name__, None)
            raise
    return sys.modules[f"{package}.{main}"]


def set_data_dir(path):
    """Where ``data_path`` finds the assignment's files (the trusted grader sets the
    assignment's source folder; in the grading kernel it is the working folder)."""
    _DATA["dir"] = None if path is None else os.fspath(path)


def data_path(name):
    """Path of an assignment file (e.g. a data set handed out with the notebook)."""
    return os.path.join(_DATA["dir"] or os.getcwd(), name)
