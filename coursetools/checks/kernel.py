"""The grading kernel's side of the executor: the checks see each function where it was.

SandboxedExecute (coursetools/perimeter/sandboxed_execute.py) runs every student cell first
and the hidden checks only after the last one (so no student code runs after any hidden
material has entered the kernel). So that each check still tests the functions as they were
at its own place in the notebook, the executor calls ``capture(grade_id)`` where the hidden
test cell stands, and ``restore(grade_id)`` right before that cell's checks run at the end.

Loaded into the kernel before any student cell (standard library only). ``bootstrap_code``
(used by the executor, outside the kernel) builds the code that installs this package there.
"""

import base64
import json
import zlib
from builtins import dict, isinstance, str

from coursetools.checks.protocol import PROTECTED_PREFIXES

_SNAPSHOTS = {}
_SHELL = {"ns": None}

# the framework modules the kernel gets (in load order); no secret is in any of them
KERNEL_MODULES = ("protocol", "record", "judge", "loader", "kernel")


def _user_ns():
    if _SHELL["ns"] is None:
        from IPython import get_ipython

        _SHELL["ns"] = get_ipython().user_ns
    return _SHELL["ns"]


def capture(grade_id):
    """Remember the notebook's names as they are now (a shallow copy)."""
    _SNAPSHOTS[str(grade_id)] = dict(_user_ns())


def restore(grade_id):
    """Bind the names remembered for ``grade_id`` again (the grader's own are kept)."""
    saved = _SNAPSHOTS.get(str(grade_id))
    if saved is None:
        return
    ns = _user_ns()
    for name, value in saved.items():
        if isinstance(name, str) and not name.startswith(PROTECTED_PREFIXES):
            ns[name] = value


def bootstrap_code(sources):
    """Code that installs ``coursetools.checks.<module>`` from {module: source} in a kernel."""
    blob = base64.b64encode(zlib.compress(json.dumps(
        [[name, sources[name]] for name in KERNEL_MODULES]).encode("utf-8"), 9)).decode("ascii")
    return (
        "def _cnn_bootstrap(blob):\n"
        "    import base64, json, sys, types, zlib\n"
        "    for name in ('coursetools', 'coursetools.checks'):\n"
        "        package = types.ModuleType(name)\n"
        "        package.__path__ = []\n"
        "        sys.modules[name] = package\n"
        "    sys.modules['coursetools'].checks = sys.modules['coursetools.checks']\n"
        "    for name, source in json.loads(zlib.decompress(base64.b64decode(blob))):\n"
        "        module = types.ModuleType('coursetools.checks.' + name)\n"
        "        module.__package__ = 'coursetools.checks'\n"
        "        module.__file__ = '<coursetools.checks.' + name + '>'\n"
        "        sys.modules[module.__name__] = module\n"
        "        setattr(sys.modules['coursetools.checks'], name, module)\n"
        "        exec(compile(source, module.__file__, 'exec'), module.__dict__)\n"
        "    import os\n"
        "    # the assignment's files are where the kernel started (a later os.chdir by a\n"
        "    # student cell must not hide them from the checks)\n"
        "    sys.modules['coursetools.checks.loader'].set_data_dir(os.getcwd())\n"
        f"_cnn_bootstrap({blob!r})\n"
        "del _cnn_bootstrap\n")
