"""Headless Chromium (Debian package `chromium`, installed by `make chromium`) for page tests.

`dump_dom` loads a local page, lets its scripts run (if the page allows any) and returns the
DOM as the browser has it afterwards: a script that ran shows as a changed title or element.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

# the flags that work on these machines: no sandbox as root, no GPU, no background network
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", "--hide-scrollbars"]


def chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: `make chromium` (root + apt-get) installs it")
    return path


def _run(args, timeout=90):
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)


def dump_dom(page, wait_ms=1500):
    """The DOM of ``page`` (a file) after its load event plus ``wait_ms`` of virtual time."""
    proc = _run([f"--virtual-time-budget={wait_ms}", "--dump-dom", Path(page).resolve().as_uri()])
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise AssertionError(f"chromium could not render {page}: {proc.stderr[-2000:]}")
    return proc.stdout


def screenshot(page, png, width=1200, height=2400):
    proc = _run([f"--window-size={width},{height}", f"--screenshot={png}",
                 Path(page).resolve().as_uri()])
    if not Path(png).is_file():
        raise AssertionError(f"chromium made no screenshot of {page}: {proc.stderr[-2000:]}")
    return png
