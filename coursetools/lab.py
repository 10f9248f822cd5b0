"""`make lab` (JupyterLab as a student sees it) and `make formgrader` (the instructor's).

Student view: a scratch copy of the release in lab/<a>/ (release/ itself is never opened),
nbgrader's instructor and exchange UI switched off (no Formgrader, no Create Assignment
toolbar, no assignment or course list, no Validate button that would need the course
configuration), and one kernel, "Python 3 (course)": the grading kernel environment's Python
(numpy, matplotlib, nothing else), not sandboxed, so what runs here runs when grading.

Instructor view: JupyterLab on the course folder with nbgrader's server and lab extensions,
opened at /formgrader.

Both: --allow-root when running as root (Jupyter refuses root otherwise), the server's log in
logs/<lab|formgrader>-<a>.log, the address printed, and one `error:` line with the server's
own reason when it cannot start.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys

from coursetools.errors import CourseError

NBGRADER_LAB_PLUGINS = ["@jupyter/nbgrader", "@jupyter/nbgrader:formgrader",
                        "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list",
                        "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:menu",
                        "@jupyter/nbgrader:validate-assignment"]
NBGRADER_SERVER_EXTENSIONS = ["nbgrader.server_extensions.formgrader",
                              "nbgrader.server_extensions.validate_assignment",
                              "nbgrader.server_extensions.assignment_list",
                              "nbgrader.server_extensions.course_list"]
KERNEL_DISPLAY_NAME = "Python 3 (course: numpy, matplotlib)"
URL = re.compile(r"(https?://\S+)")


def root_args():
    return ["--allow-root"] if os.geteuid() == 0 else []


def student_setup(course):
    """Write the student view's kernelspec and page config into build/lab/; -> (jupyter path
    folder, settings folder)."""
    base = course.path("build", "lab")
    python = course.settings.kernel_python or sys.executable
    spec = {"argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": KERNEL_DISPLAY_NAME, "language": "python",
            "metadata": {"debugger": True}}
    kernel_dir = base / "jupyter" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    (kernel_dir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    settings = base / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "page_config.json").write_text(
        json.dumps({"disabledExtensions": NBGRADER_LAB_PLUGINS}, indent=1) + "\n", encoding="utf-8")
    return base / "jupyter", settings


def student_command(course, scratch, settings, extra=()):
    disable = [f"--ServerApp.jpserver_extensions={name}=False" for name in NBGRADER_SERVER_EXTENSIONS]
    return [sys.executable, "-m", "jupyterlab", f"--notebook-dir={scratch}",
            f"--LabApp.app_settings_dir={settings}",
            "--KernelSpecManager.ensure_native_kernel=False",
            "--KernelSpecManager.allowed_kernelspecs=python3",
            *disable, *root_args(), *extra]


def lab(course, reset=False, dry_run=False, extra=(), log=print):
    """Open JupyterLab on a scratch copy of the release, as a student gets it."""
    course.release_notebooks()
    scratch = course.path("lab", course.assignment)
    if scratch.exists() and reset:
        shutil.rmtree(scratch)
    if scratch.exists():
        log(f"reusing your scratch copy lab/{course.assignment}/ (RESET=1 starts again from release/)")
    else:
        shutil.copytree(course.release_dir, scratch)
        log(f"copied release/{course.assignment}/ to lab/{course.assignment}/ (release/ itself is never opened)")
    jupyter_path, settings = student_setup(course)
    cmd = student_command(course, scratch, settings, extra)
    env = dict(os.environ, JUPYTER_PATH=os.pathsep.join(
        [str(jupyter_path)] + [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]))
    log(f"kernel: {KERNEL_DISPLAY_NAME} = {course.settings.kernel_python or sys.executable}")
    if dry_run:
        log("would run: " + " ".join(cmd))
        return
    serve(cmd, scratch, env, course.log_path("lab"), "JupyterLab", log=log)


def formgrader(course, dry_run=False, extra=(), log=print):
    """nbgrader's formgrader on the course (instructor)."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={course.root}",
           "--ServerApp.default_url=/formgrader", *root_args(),
           *course.settings.nbgrader_options(), *extra]
    if dry_run:
        log("would run: " + " ".join(cmd))
        return
    serve(cmd, course.root, course.env(), course.log_path("formgrader"), "the formgrader",
          path="/formgrader", log=log)


def serve(cmd, cwd, env, log_path, what, path=None, log=print):
    """Run the Jupyter server until Ctrl-C: its log to ``log_path``, its address to the user,
    one error line with the server's reason if it stops on its own."""
    shown = False
    tail = []
    with open(log_path, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                errors="replace")
        try:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                tail = (tail + [line.rstrip()])[-40:]
                match = URL.search(line)
                if not shown and match and ("token=" in line or "/lab" in line) and "127.0.0.1" in line:
                    url = match.group(1)
                    if path:
                        url = re.sub(r"/lab(?=[?/]|$)", path, url, count=1)
                    log(f"{what} is running: open {url}  (Ctrl-C stops it; log: {log_path})")
                    shown = True
            status = proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log(f"{what} stopped")
            return
    if status != 0 or not shown:
        raise CourseError(f"{what} could not start: {reason(tail) or f'exit status {status}'} "
                          f"(full log: {log_path})")


def reason(lines):
    """The server's own explanation among its last lines (the last error/critical line)."""
    for line in reversed(lines):
        text = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if re.search(r"\b(CRITICAL|ERROR)\b|Error:|error:", text):
            return re.sub(r"^\[[^\]]*\]\s*", "", text)[:300]
    return next((re.sub(r"\x1b\[[0-9;]*m", "", ln).strip()[:300] for ln in reversed(lines) if ln.strip()), "")
