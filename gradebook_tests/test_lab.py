"""`make lab` (the student's view) and `make formgrader` (the instructor's), started for real.

Each server is started through make on a free local port, asked over HTTP what it offers,
and stopped: the student view has one kernel (the grading kernel venv's Python, unsandboxed),
no nbgrader server extension (no /formgrader) and nbgrader's lab plugins disabled; the
formgrader answers on /formgrader; --allow-root is passed as root; a server that cannot start
gives one error line with Jupyter's reason.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import conftest
from conftest import VENV, make

TOKEN = "test-token-123"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root, target, *args):
        self.port = free_port()
        extra = f"--no-browser --ServerApp.port={self.port} --ServerApp.port_retries=0 --ServerApp.token={TOKEN}"
        self.proc = subprocess.Popen(
            ["make", "-s", target, f"LAB_ARGS={extra}", *args, f"VENV={VENV}",
             f"KERNEL_VENV={conftest.KERNEL_VENV}"], cwd=root, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL, start_new_session=True)
        self.lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if "is running: open" in line:
                return
        self.stop()
        raise AssertionError("server did not start:\n" + "\n".join(self.lines))

    def get(self, path):
        """(status, body); waits up to 30 s for the port to accept (Jupyter prints its address
        a moment before it listens)."""
        sep = "&" if "?" in path else "?"
        url = f"http://127.0.0.1:{self.port}{path}{sep}token={TOKEN}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=30) as r:
                    return r.status, r.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                return e.code, ""
            except urllib.error.URLError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.5)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.stdout.read()


def page_config(html):
    data = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(data.group(1))


def test_student_lab_has_the_kernel_venv_and_no_instructor_ui(course):
    server = Server(course, "lab")
    try:
        status, body = server.get("/api/kernelspecs")
        assert status == 200
        specs = json.loads(body)["kernelspecs"]
        assert list(specs) == ["python3"], specs
        argv = specs["python3"]["spec"]["argv"]
        assert argv[0] == str(conftest.KERNEL_VENV / "bin" / "python") and "sandbox_launcher" not in " ".join(argv)
        assert server.get("/formgrader")[0] == 404
        status, html = server.get("/lab")
        assert status == 200
        disabled = page_config(html)["disabledExtensions"]
        for plugin in ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"):
            assert plugin in disabled, disabled
        status, body = server.get("/api/contents")
        names = {item["name"] for item in json.loads(body)["content"]}
        assert {"spatial.ipynb", "digits.npz"} <= names, names
    finally:
        server.stop()
    if os.geteuid() == 0:
        log = (course / "logs" / "lab-spatial.log").read_text()
        assert "Running as root is not recommended" not in log


def test_formgrader_opens_on_the_course(course):
    server = Server(course, "formgrader")
    try:
        assert any("/formgrader" in line for line in server.lines), server.lines
        status, html = server.get("/formgrader/manage_assignments")
        assert status == 200 and "Manage Assignments" in html, html[:500]
        status, body = server.get("/formgrader/api/assignments")
        assert status == 200 and "spatial" in body, body[:500]
    finally:
        server.stop()


def test_lab_that_cannot_start_says_why_in_one_line(course):
    out = make(course, "lab", "LAB_ARGS=--no-browser --ServerApp.port=notaport", check=False)
    assert out.returncode != 0
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "could not start" in errors[0] and "port" in errors[0], out.stderr
    assert "Traceback" not in out.stderr
