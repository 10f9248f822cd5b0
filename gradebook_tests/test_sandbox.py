"""The grading sandbox: available here, required unless the instructor opts out explicitly."""

import os
from pathlib import Path

import pytest

from conftest import make
from coursetools import grading
from coursetools.course import Course
from coursetools.perimeter import sandbox
from coursetools.perimeter.sandboxed_execute import SandboxedExecute
from coursetools.settings import Settings
from coursetools.errors import CourseError


def test_sandbox_can_start_on_this_machine():
    # CI installs bubblewrap (`make sandbox`); every grading test below runs sandboxed.
    assert sandbox.preflight() is None


def test_grading_refuses_without_a_sandbox_and_says_how_to_fix_it(monkeypatch, course):
    monkeypatch.setattr(sandbox, "preflight", lambda: "not found: bwrap (package bubblewrap)")
    assert grading.sandbox_mode(Course(course, "spatial", settings=Settings(sandboxed=False))) == "off"
    with pytest.raises(CourseError) as err:
        grading.sandbox_mode(Course(course, "spatial"))
    message = str(err.value)
    assert "not found: bwrap" in message and "apt-get install bubblewrap" in message
    assert "UNSANDBOXED=1" in message


def test_explicit_opt_out_grades_unsandboxed_and_the_summary_says_so(course):
    """`make grade UNSANDBOXED=1`: graded (the opt-out works) with a WARNING in the summary."""
    demo = make(course, "demo", "UNSANDBOXED=1")
    assert grading.UNSANDBOXED_WARNING in demo.stdout
    assert "WITHOUT sandbox" in demo.stdout
    sandboxed = make(course, "demo")
    assert grading.UNSANDBOXED_WARNING not in sandboxed.stdout
    assert "in the bubblewrap sandbox" in sandboxed.stdout
    assert "gradebook: integrity check passed" in sandboxed.stdout


def test_kernelspec_hides_the_course_and_exposes_the_environment(course):
    import json
    import sys

    ex = SandboxedExecute(course_root=str(course), hide=["/opt"])
    folder = ex._kernelspec_dir()
    spec = json.loads((Path(folder) / sandbox.KERNEL_NAME / "kernel.json").read_text())
    pairs = list(zip(spec["argv"], spec["argv"][1:]))
    assert ("--hide", os.path.realpath(course)) in pairs and ("--hide", "/opt") in pairs
    assert ("--expose", os.path.realpath(sys.prefix)) in pairs
    assert ("--mem", "4G") in pairs and ("--wall", "1200") in pairs
    assert spec["interrupt_mode"] == "message"
    assert spec["argv"][spec["argv"].index("--") + 1] == sys.executable
    # other limits, another kernelspec folder: settings never mix
    assert SandboxedExecute(course_root=str(course), memory="2G")._kernelspec_dir() != folder
