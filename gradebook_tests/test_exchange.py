"""The nbgrader exchange end to end, on a real exchange folder with students of their own.

make publish -> students fetch_assignment and submit (alice twice: the later wins; bob on
time; carol after the due date; mallory in dave's name) -> make collect -> make grade ->
make feedback -> make return-feedback -> every student fetch_feedback: exactly their own.
"""

import re
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import VENV, fresh_course, make
from hub import Hub
from lms_downloads import notebooks, read_json, set_config

STUDENTS = ("alice", "bob", "carol", "mallory")


@pytest.fixture(scope="module")
def term(released_course, tmp_path_factory):
    root = fresh_course(released_course, tmp_path_factory.mktemp("exchange") / "course")
    base = Path(tempfile.mkdtemp(prefix="hub-", dir="/tmp"))
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)  # the hub admin's one-time set-up (docs/course-operations.md)
    hub = Hub(base, STUDENTS, exchange)
    if hub.mode != "uids":
        set_config(root, ["c.ExchangeCollect.check_owner = False"])
    EX = f"EXCHANGE={exchange}"
    out = {"publish": make(root, "publish", EX)}
    nbs = notebooks(root)
    for user in STUDENTS:
        out[f"fetch-{user}"] = hub.nbgrader(user, "fetch_assignment", "spatial")
    hub.nbgrader("alice", "submit", "spatial")                      # the blank notebook first
    time.sleep(1.1)
    hub.write("alice", "spatial/spatial.ipynb", nbs["solved"])
    hub.nbgrader("alice", "submit", "spatial")                      # ... then her answers
    hub.write("bob", "spatial/spatial.ipynb", nbs["partial"])
    hub.nbgrader("bob", "submit", "spatial")
    time.sleep(1.1)
    due = datetime.now(timezone.utc).replace(microsecond=0)
    out["due"] = make(root, "due", f"DUE={due:%Y-%m-%d %H:%M:%S} UTC")
    time.sleep(1.1)
    hub.write("carol", "spatial/spatial.ipynb", nbs["solved"])
    hub.nbgrader("carol", "submit", "spatial")                      # after the due date
    hub.write("mallory", "spatial/spatial.ipynb", nbs["solved"])
    if hub.mode == "uids":  # nbgrader lets anyone submit in another's name; collect refuses it
        hub.nbgrader("mallory", "submit", "spatial", "--student=dave")
    out["collect"] = hub.instructor(["make", "-s", "collect", EX, f"VENV={VENV}"], cwd=root)
    assert out["collect"].returncode == 0, out["collect"].stdout + out["collect"].stderr
    for step in ("grade", "feedback"):
        out[step] = make(root, step)
    out["return"] = make(root, "return-feedback", EX)
    for user in STUDENTS:
        out[f"feedback-{user}"] = hub.nbgrader(user, "fetch_feedback", "spatial")
    yield root, hub, out
    shutil.rmtree(base, ignore_errors=True)


def test_publish_puts_the_release_in_the_exchange(term):
    root, hub, out = term
    outbound = hub.exchange / "cnn-spatial" / "outbound" / "spatial" / "spatial.ipynb"
    assert outbound.read_bytes() == (root / "release" / "spatial" / "spatial.ipynb").read_bytes()
    for user in STUDENTS:
        fetched = hub.home(user) / "spatial" / "spatial.ipynb"
        assert fetched.is_file(), f"{user} fetched nothing: {out[f'fetch-{user}'].stderr}"


def test_collect_takes_the_latest_submission_of_each_student(term):
    root, hub, out = term
    text = out["collect"].stdout
    assert "collected 3 submission(s) of spatial into submitted/: alice, bob, carol" in text, text
    assert re.search(r"alice: 2 submissions in the exchange \(.*\): collected the latest", text), text
    inbound = sorted(p.name for p in (hub.exchange / "cnn-spatial" / "inbound").iterdir()
                     if p.name.startswith("alice+"))
    latest = inbound[-1].split("+")[2]
    assert (root / "submitted" / "alice" / "spatial" / "timestamp.txt").read_text() == latest
    for student in ("alice", "bob", "carol"):
        folder = root / "submitted" / student / "spatial"
        assert (folder / "submission_secret.txt").is_file(), student
        assert read_json(folder / ".intake.json")["channel"] == "exchange"


def test_a_submission_in_another_students_name_is_refused(term):
    root, hub, out = term
    if hub.mode != "uids":
        pytest.skip("needs distinct Unix users (root, bwrap, setpriv)")
    lines = [ln for ln in out["collect"].stdout.splitlines() if "not collected: dave" in ln]
    assert len(lines) == 1 and "owned by 'mallory', not by 'dave'" in lines[0], out["collect"].stdout
    assert not (root / "submitted" / "dave").exists()


def test_grades_with_the_late_penalty(term):
    root, hub, out = term
    text = out["grade"].stdout
    assert re.search(r"^\s+alice\s+160 / 160\s*$", text, re.M), text
    assert re.search(r"^\s+bob\s+100 / 160\s*$", text, re.M), text
    # carol: seconds after the due date, 10 % of 160 points per started day
    assert re.search(r"^\s+carol\s+144 / 160\s+late \d+ s, penalty 16 \(before: 160\)", text, re.M), text
    assert "3 graded submission(s), 0 problem(s), 1 late" in text


def test_each_student_fetches_exactly_their_own_feedback(term):
    root, hub, out = term
    assert "returned feedback on spatial to 3 student(s) through the exchange: alice, bob, carol" \
        in out["return"].stdout
    scores = {"alice": "160.0 / 160.0", "bob": "100.0 / 160.0", "carol": "144.0 / 160.0"}
    for user in STUDENTS:
        pages = sorted((hub.home(user) / "spatial" / "feedback").glob("*/*.html"))
        if user == "mallory":
            assert pages == [], f"mallory submitted nothing of her own but fetched {pages}"
            continue
        assert len(pages) == 1, f"{user}: {pages}\n{out[f'feedback-{user}'].stderr}"
        html = pages[0].read_text()
        assert f"Score: {scores[user]}" in html, f"{user}'s feedback shows another score"
        submitted = (root / "submitted" / user / "spatial" / "timestamp.txt").read_text()
        assert pages[0].parent.name == submitted, f"{user}: feedback of another submission"
