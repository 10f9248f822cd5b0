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


# What a box lists at its root: the system folders, the mount points the launcher makes, and
# the first folder of every path bound in (the environment, the notebook's folder, ipc).
BOX_ROOT = {"usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "proc", "dev", "tmp",
            "var", "run"}

PEEK = """
import glob, json, os, sys

def writable(folder):
    try:
        os.mkdir(os.path.join(folder, "planted"))
        return True
    except OSError:
        return False

environs = []
for path in glob.glob("/proc/[0-9]*/environ"):
    try:
        environs.append(open(path, "rb").read().decode(errors="replace"))
    except OSError:
        pass
print("BOX " + json.dumps({"root": sorted(os.listdir("/")), "repo": os.path.exists(sys.argv[1]),
                           "secret": os.path.exists(sys.argv[2]),
                           "hidden_in_env": os.path.exists(sys.argv[3]),
                           "shown_in_env": os.path.exists(sys.argv[4]),
                           "pid1": open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode(),
                           "grader_env": any("GRADER_SECRET" in e for e in environs),
                           "root_writable": writable("/"), "tmp_writable": writable("/tmp"),
                           "cwd_writable": writable("."),
                           "data": open("data.txt").read()}))
"""


def test_the_kernel_sees_the_system_the_environment_and_its_folder_only(tmp_path):
    """The box is an allow-list, not the host minus a few folders: another copy of the course
    on the same machine (this repository itself: its source/, the grader, the reference) and
    any folder outside the system ones (/work, /opt, /srv, /mnt, /var, ...) do not exist."""
    import json
    import subprocess
    import sys

    from conftest import KERNEL_VENV, REPO

    python = str(KERNEL_VENV / "bin" / "python")
    expose, masks = sandbox.prefixes(python)
    course = tmp_path / "course"
    cwd = course / "autograded" / "s1" / "a"
    cwd.mkdir(parents=True)
    (cwd / "data.txt").write_text("the notebook's own data file")
    secret = course / "source" / "a" / "grader" / "reference.py"
    secret.parent.mkdir(parents=True)
    secret.write_text("SECRET = 1\n")
    ipc = tmp_path / "ipc"
    ipc.mkdir()
    connection = tmp_path / "connection.json"
    connection.write_text(json.dumps({"transport": "ipc", "ip": str(ipc / "kernel")}))
    # an exposed folder (like the kernel's environment) with a hidden folder inside it
    env_dir = tmp_path / "env"
    (env_dir / "private").mkdir(parents=True)
    (env_dir / "private" / "key").write_text("k")
    (env_dir / "public").write_text("p")
    logs = tmp_path / "logs"
    argv = [sys.executable, "-I", sandbox.LAUNCHER, "--hide", str(course), "--log-dir", str(logs),
            "--expose", str(env_dir), "--hide", str(env_dir / "private")]
    for path in expose:
        argv += ["--expose", path]
    for path in masks:
        argv += ["--mask", path]
    argv += ["--", python, "-I", "-c", PEEK, str(REPO / "source"), str(secret),
             str(env_dir / "private" / "key"), str(env_dir / "public"), "-f", str(connection)]
    run = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "GRADER_SECRET": "postgresql://grader:pw@db/course"})
    log = (logs / "s1" / "a.log").read_text()
    assert run.returncode == 0, (run.stderr, log)
    seen = json.loads(log.split("BOX ", 1)[1].splitlines()[0])
    assert seen["data"] == "the notebook's own data file"
    assert not seen["secret"], "the kernel sees the course's source folder"
    assert not seen["repo"], f"the kernel sees another copy of the course: {REPO}"
    assert seen["shown_in_env"] and not seen["hidden_in_env"], "a hidden folder inside an exposed one"
    assert not seen["root_writable"], "the kernel can write to / (a tmpfs of unbounded size)"
    assert seen["tmp_writable"] and seen["cwd_writable"]
    assert "python" in os.path.basename(seen["pid1"]), f"pid 1 of the box is {seen['pid1']}, not the kernel"
    assert not seen["grader_env"], "a process in the box holds the grader's environment"
    allowed = BOX_ROOT | {Path(p).parts[1] for p in [*expose, str(cwd), str(ipc)]}
    assert set(seen["root"]) <= allowed, f"visible beyond the allow-list: {sorted(set(seen['root']) - allowed)}"


def test_a_kernel_log_is_cut_to_a_megabyte(tmp_path):
    """The kernel may write 64 MB (its file-size limit) to its own stdout/stderr log: only the
    first KERNEL_LOG_BYTES stay once its notebook is graded."""
    from nbformat.v4 import new_code_cell, new_notebook

    from conftest import KERNEL_VENV
    from coursetools.perimeter.sandboxed_execute import KERNEL_LOG_BYTES

    folder = tmp_path / "autograded" / "s1" / "a"
    folder.mkdir(parents=True)
    (tmp_path / "nbgrader_config.py").write_text("")
    nb = new_notebook(cells=[new_code_cell("import os\nfor _ in range(8):\n"
                                           "    os.write(2, b'x' * 1_000_000)\nprint('wrote')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    ex = SandboxedExecute(course_root=str(tmp_path), kernel_python=str(KERNEL_VENV / "bin" / "python"),
                          timeout=60)
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(folder)}})
    assert "wrote" in "".join(o.get("text", "") for o in nb.cells[0].outputs)
    log = Path(ex.kernel_log_path())
    assert log == tmp_path / "logs" / "sandbox" / "s1" / "a.log"
    assert KERNEL_LOG_BYTES < log.stat().st_size < KERNEL_LOG_BYTES + 200
    assert log.read_bytes().endswith(b"log cut at %d bytes]\n" % KERNEL_LOG_BYTES)
