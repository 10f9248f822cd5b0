"""The three environments and the grading kernel's Python (docs/environments.md).

* requirements*.txt are fully pinned, torch without a local version label, and the kernel's
  file has nothing that does the students' work;
* `make release` builds only the tooling venv (no torch), the grading targets the kernel venv;
* a submission graded through real nbgrader (sandboxed kernel) cannot import scipy, sklearn,
  torch or pandas, and can import numpy and matplotlib, from the kernel venv.
"""

import re
import subprocess

import nbformat
import pytest

import conftest
from conftest import REPO
from coursetools import scratch
from coursetools.course import Course
from coursetools.release import blank_submission

PIN = re.compile(r"^[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.]*$")
FORBIDDEN = ("torch", "scipy", "scikit-learn", "pandas", "jax", "tensorflow")


def requirement_lines(name):
    return [ln.strip() for ln in (REPO / name).read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-kernel.txt", "requirements-test.txt"])
def test_every_requirement_is_pinned_without_local_label(name):
    lines = requirement_lines(name)
    assert lines
    for line in lines:
        if line.startswith("-r "):
            assert (REPO / line[3:]).is_file(), line
            continue
        assert PIN.match(line), f"{name}: {line!r} is not pinned as name==version (no +local label)"


def test_kernel_requirements_hold_numpy_matplotlib_ipykernel_and_nothing_that_does_the_work():
    names = {ln.split("==")[0].lower() for ln in requirement_lines("requirements-kernel.txt")}
    assert {"numpy", "matplotlib", "ipykernel"} <= names
    assert not names & set(FORBIDDEN), names & set(FORBIDDEN)
    assert "torch" not in {ln.split("==")[0].lower() for ln in requirement_lines("requirements.txt")}
    assert "torch==2.13.0" in requirement_lines("requirements-test.txt")


def test_release_builds_only_the_tooling_venv(tmp_path):
    """A fresh clone: `make release` creates .venv and no other environment (dry run)."""
    def dry(*args):
        return subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout

    out = dry("release", f"VENV={tmp_path}/tool")
    assert "course tooling" in out and "requirements.txt" in out
    assert "requirements-kernel.txt" not in out and "requirements-test.txt" not in out
    grade = dry("grade", f"VENV={tmp_path}/tool", f"KERNEL_VENV={tmp_path}/kernel")
    assert "grading kernel" in grade and "requirements-test.txt" not in grade
    assert f"--kernel-python {tmp_path}/kernel/bin/python" in grade


PROBE = '''
import glob, importlib, sys
# reach for other Pythons' packages: the base Python's site-packages, Debian's dist-packages
sys.path += [p for pattern in ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages",
                               sys.base_prefix + "/lib/python3*/site-packages")
             for p in glob.glob(pattern)]
for name in ("scipy", "sklearn", "torch", "pandas"):
    try:
        importlib.import_module(name)
        print("IMPORTED", name)
    except ModuleNotFoundError as e:
        print("missing", name, type(e).__name__)
import numpy, matplotlib
import matplotlib.pyplot as plt
print("numpy", numpy.__version__, "matplotlib", matplotlib.__version__)
print("prefix", sys.prefix)
import importlib.util
print("debugger", importlib.util.find_spec("debugpy.server") is not None,
      any(m.startswith(("_pydevd", "pydevd")) for m in sys.modules))
import os
print("allocator", os.environ.get("MALLOC_MMAP_THRESHOLD_"), os.environ.get("MALLOC_TRIM_THRESHOLD_"))
'''


def test_graded_kernel_has_numpy_and_matplotlib_but_not_torch_scipy_sklearn_nor_a_debugger(course):
    """Through real nbgrader autograde, sandboxed, with the kernel venv make passes."""
    nb = blank_submission(Course(course, "spatial"))["spatial"]
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    result = scratch.grade(Course(course, "spatial"), {"probe": {"spatial": nb}})["probe"]
    graded = result.autograded["spatial"]
    text = "".join(o.get("text", "") for o in graded.cells[-1].outputs if o.get("output_type") == "stream")
    errors = [o for o in graded.cells[-1].outputs if o.get("output_type") == "error"]
    assert not errors, errors
    for name in ("scipy", "sklearn", "torch", "pandas"):
        assert f"missing {name} ModuleNotFoundError" in text, text
    assert "IMPORTED" not in text
    assert "numpy 2." in text and "matplotlib 3." in text
    assert f"prefix {conftest.KERNEL_VENV}" in text or f"prefix {conftest.KERNEL_VENV.resolve()}" in text, text
    # ipykernel's debugger (debugpy) is not loaded while grading: its start-up cost per student
    # buys nothing there (coursetools/perimeter/sandbox.py UNUSED_WHEN_GRADING)
    assert "debugger False False" in text, text
    # the allocator setting reaches the kernel through the launcher (KEEP_ENV)
    from coursetools.perimeter.sandboxed_execute import KERNEL_ALLOCATOR
    assert (f"allocator {KERNEL_ALLOCATOR['MALLOC_MMAP_THRESHOLD_']} "
            f"{KERNEL_ALLOCATOR['MALLOC_TRIM_THRESHOLD_']}") in text, text
