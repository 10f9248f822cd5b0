"""Hostile and mistaken downloads: refused one line each, nothing lost, nobody misattributed.

The five cases nbgrader's zip_collect got wrong (issue 13), each through `python -m
coursetools collect` on its own copy of the course: a zip nested in the download holding
another student's notebook; duplicates stopping the class; a ``../`` entry; a zip bomb;
a setuid entry. Then: another assignment's notebook, overwriting, and a download in which
everything is refused (submitted/ and the gradebook byte for byte unchanged).
"""

import hashlib
import os
import stat

import pytest

from conftest import coursetools, fresh_course
from lms_downloads import (add_release, notebooks, other_assignment_notebook, set_config, write_zip,
                           zip_bytes)


@pytest.fixture(scope="module")
def nbs(released_course):
    return notebooks(released_course)


@pytest.fixture
def course(released_course, tmp_path):
    return fresh_course(released_course, tmp_path / "course")


def collect(root, download, *more, check=True):
    return coursetools(root, "collect", "--from", str(download), *more, check=check)


def refused(out):
    """{path: reason} of the 'not collected' lines (each path at most once)."""
    found = {}
    for line in out.stdout.splitlines():
        if line.startswith("  not collected: "):
            path, _, reason = line[len("  not collected: "):].partition(": ")
            assert path not in found, f"{path} listed twice:\n{out.stdout}"
            found[path] = reason
    return found


def files(root):
    """{relative path: sha256} of submitted/ (dot folders included) and the gradebook."""
    found = {}
    for base in (root / "submitted",):
        for folder, _, names in os.walk(base):
            for name in names:
                path = os.path.join(folder, name)
                found[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    found["gradebook.db"] = hashlib.sha256((root / "gradebook.db").read_bytes()).hexdigest()
    return found


def students(root):
    """The student folders of submitted/ (not its README.md, not the course's dot folders)."""
    return sorted(p.name for p in (root / "submitted").iterdir() if p.is_dir() and p.name[0] != ".")


def notebook_of(root, student):
    return (root / "submitted" / student / "spatial" / "spatial.ipynb").read_bytes()


def test_a_zip_in_the_download_is_never_opened(course, nbs, tmp_path):
    """eve's zip holds carol.ipynb: carol (who never submitted) gets nothing."""
    download = write_zip(tmp_path / "dl.zip", [
        ("alice.ipynb", nbs["solved"]),
        ("eve_333_work.zip", zip_bytes([("carol.ipynb", nbs["solved"])])),
    ])
    out = collect(course, download)
    assert refused(out) == {"eve_333_work.zip": "an archive inside the download: not opened"}, out.stdout
    assert students(course) == ["alice"]


def test_a_duplicate_refuses_that_student_alone(course, nbs, tmp_path):
    """Two notebooks of alice stop nobody else; a nested carol.ipynb does not replace carol's own."""
    download = write_zip(tmp_path / "dl.zip", [
        ("alice.ipynb", nbs["blank"]), ("alice_v2.ipynb", nbs["solved"]),
        ("bob.ipynb", nbs["partial"]), ("carol.ipynb", nbs["partial"]),
        ("eve_work.zip", zip_bytes([("carol.ipynb", nbs["solved"])])),
    ])
    out = collect(course, download)
    assert "collected 2 submission(s) of spatial into submitted/: bob, carol" in out.stdout, out.stdout
    why = refused(out)
    assert set(why) == {"alice.ipynb", "alice_v2.ipynb", "eve_work.zip"}, out.stdout
    assert "alice: 2 files for spatial.ipynb (alice.ipynb, alice_v2.ipynb) and the download does " \
           "not say which is the latest" in why["alice.ipynb"]
    assert notebook_of(course, "carol") == nbs["partial"]
    assert not (course / "submitted" / "alice").exists()


def test_paths_leading_outside_are_refused(course, nbs, tmp_path):
    download = write_zip(tmp_path / "dl.zip", [
        ("alice.ipynb", nbs["solved"]),
        ("../bob.ipynb", nbs["solved"]),
        ("sub/../../carol.ipynb", nbs["solved"]),
        ("/tmp/dave.ipynb", nbs["solved"]),
        ("eve.zip", zip_bytes([("../../../escaped.ipynb", nbs["solved"])])),
    ])
    out = collect(course, download)
    assert refused(out) == {
        "../bob.ipynb": "a path leading outside the download (..): not unpacked",
        "sub/../../carol.ipynb": "a path leading outside the download (..): not unpacked",
        "/tmp/dave.ipynb": "an absolute path: not unpacked",
        "eve.zip": "an archive inside the download: not opened",
    }, out.stdout
    assert not (tmp_path / "bob.ipynb").exists() and not (course.parent / "carol.ipynb").exists()
    assert not list(tmp_path.rglob("escaped.ipynb"))
    assert students(course) == ["alice"]


def test_zip_bombs_are_capped(course, nbs, tmp_path):
    """A nested bomb is never opened; a notebook over the per-file cap is refused, named."""
    set_config(course, ["c.Intake.max_notebook_bytes = 4 * 1024 * 1024"])
    zeros = b"\x00" * (64 * 1024 * 1024)
    inner = zip_bytes([("big.ipynb", zeros)])
    big = b'{"cells": [], "x": "' + b" " * (40 * 1024 * 1024) + b'"}'
    download = write_zip(tmp_path / "dl.zip", [
        ("alice.ipynb", nbs["solved"]),
        ("bob.ipynb", big),
        ("eve_bomb.zip", zip_bytes([(f"layer{i}.zip", inner) for i in range(16)])),
    ])
    assert download.stat().st_size < 2 * 1024 * 1024
    out = collect(course, download)
    why = refused(out)
    assert why["eve_bomb.zip"] == "an archive inside the download: not opened", out.stdout
    assert why["bob.ipynb"].startswith(f"{len(big)} bytes unpacked, more than the cap "
                                       f"of {4 * 1024 * 1024} (c.Intake.max_notebook_bytes"), why
    assert sum(p.stat().st_size for p in course.rglob("*") if p.is_file() and ".git" not in p.parts) \
        < 64 * 1024 * 1024, "something unpacked the bomb"


@pytest.mark.parametrize("setting, message", [
    ("c.Intake.max_entries = 5", "dl.zip: 8 entries, more than the cap of 5 (c.Intake.max_entries "
                                 "in nbgrader_config.py): refused whole, nothing collected"),
    ("c.Intake.max_unpacked_bytes = 100000", "dl.zip: its notebooks unpack to"),
])
def test_a_download_over_a_cap_is_refused_whole_in_one_line(course, nbs, tmp_path, setting, message):
    set_config(course, [setting])
    download = write_zip(tmp_path / "dl.zip", [(f"s{i}.ipynb", nbs["blank"]) for i in range(8)])
    before = files(course)
    out = collect(course, download, check=False)
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode == 1 and len(errors) == 1 and errors[0].startswith("error: " + message), out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert files(course) == before


def test_mode_bits_and_links_are_never_kept(course, nbs, tmp_path):
    download = write_zip(tmp_path / "dl.zip", [
        ("alice.ipynb", nbs["solved"], 0o104755),          # setuid, executable
        ("bob.ipynb", b"/etc/passwd", 0o120777),           # a symbolic link
        ("carol.ipynb", nbs["partial"], 0o102777),         # setgid, world-writable
    ])
    out = collect(course, download)
    assert refused(out) == {"bob.ipynb": "a symbolic link: not followed"}, out.stdout
    for student in ("alice", "carol"):
        for path in (course / "submitted" / student).rglob("*"):
            mode = stat.S_IMODE(path.lstat().st_mode)
            assert not path.is_symlink() and not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)
            if path.is_file():
                assert not mode & 0o111 and not mode & 0o002, f"{path}: mode {mode:o}"


def test_another_assignments_notebook_is_refused(course, nbs, tmp_path):
    """week2's notebooks collected without ASSIGNMENT=week2 never land in spatial."""
    add_release(course, "week2", other_assignment_notebook())
    collect(course, write_zip(tmp_path / "first.zip", [("alice.ipynb", nbs["solved"])]))
    before = files(course)
    out = collect(course, write_zip(tmp_path / "week2.zip", [("alice.ipynb", other_assignment_notebook()),
                                                             ("bob.ipynb", other_assignment_notebook())]),
                  check=False)
    why = refused(out)
    assert set(why) == {"alice.ipynb", "bob.ipynb"}, out.stdout
    assert why["alice.ipynb"].startswith("a notebook of assignment 'week2', not 'spatial' (")
    assert why["alice.ipynb"].endswith("collect it with ASSIGNMENT=week2")
    assert out.returncode == 1, "nothing filed is an error"
    assert files(course) == before
    assert notebook_of(course, "alice") == nbs["solved"]


def test_a_replaced_submission_is_kept(course, nbs, tmp_path):
    collect(course, write_zip(tmp_path / "v1.zip", [("alice.ipynb", nbs["blank"])]))
    out = collect(course, write_zip(tmp_path / "v2.zip", [("alice.ipynb", nbs["solved"])]))
    kept = list((course / "submitted" / ".history" / "alice" / "spatial").glob("*/spatial.ipynb"))
    assert len(kept) == 1 and kept[0].read_bytes() == nbs["blank"]
    assert notebook_of(course, "alice") == nbs["solved"]
    rel = kept[0].parent.relative_to(course)
    assert f"alice: replaced the earlier submission, which is kept in {rel}/" in out.stdout, out.stdout
    again = collect(course, write_zip(tmp_path / "v2b.zip", [("alice.ipynb", nbs["solved"])]))
    assert "alice: unchanged (this submission was collected before)" in again.stdout
    assert len(list((course / "submitted" / ".history" / "alice" / "spatial").iterdir())) == 1


def test_an_older_attempt_never_replaces_a_newer_one(course, nbs, tmp_path):
    name = "Spatial_jroe_attempt_{}_spatial.ipynb"
    collect(course, write_zip(tmp_path / "new.zip", [(name.format("2026-12-01-21-00-00"), nbs["solved"])]))
    before = files(course)
    out = collect(course, write_zip(tmp_path / "old.zip", [(name.format("2026-11-30-10-00-00"), nbs["blank"])]))
    assert "jroe: not replaced: the submission already collected is newer (2026-12-01 21:00:00" in out.stdout
    assert files(course) == before


def test_refused_input_changes_nothing(course, nbs, tmp_path):
    """A download in which every file is refused: one line per file, one error line, and
    submitted/ and the gradebook are byte for byte what they were."""
    add_release(course, "week2", other_assignment_notebook())
    collect(course, write_zip(tmp_path / "first.zip", [("alice.ipynb", nbs["solved"]),
                                                        ("carol.ipynb", nbs["partial"])]))
    before = files(course)
    bad = [("eve_333_work.zip", zip_bytes([("carol.ipynb", nbs["blank"])])),
           ("../alice.ipynb", nbs["blank"]),
           ("carol_week2.ipynb", other_assignment_notebook()),
           ("Jane Doe.ipynb", nbs["blank"]),
           ("alice_report.pdf", b"%PDF-1.4"),
           ("mallory.ipynb", nbs["blank"], 0o120777)]
    out = collect(course, write_zip(tmp_path / "bad.zip", bad), check=False)
    assert sorted(refused(out)) == sorted(name for name, *_ in bad), out.stdout
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode == 1 and len(errors) == 1, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert files(course) == before


def test_plain_names_need_a_student_id(course, nbs, tmp_path):
    out = collect(course, write_zip(tmp_path / "dl.zip", [
        ("alice.ipynb", nbs["blank"]), ("Jane Doe.ipynb", nbs["blank"]),
        ("x" * 129 + ".ipynb", nbs["blank"]), ("_nobody.ipynb", nbs["blank"])]))
    why = refused(out)
    assert why["Jane Doe.ipynb"].startswith("the name does not start with a student id")
    assert why["_nobody.ipynb"].startswith("the name does not start with a student id")
    assert "the student id is longer than 128 characters" in why["x" * 129 + ".ipynb"]
    assert students(course) == ["alice"]


def test_unreadable_notebook_is_filed_to_show_as_not_gradable(course, tmp_path):
    out = collect(course, write_zip(tmp_path / "dl.zip", [("eve.ipynb", b'{"cells": [ broken')]))
    assert "eve: eve.ipynb: not a readable notebook (filed: grading will report it)" in out.stdout
    assert (course / "submitted" / "eve" / "spatial" / "spatial.ipynb").read_bytes() == b'{"cells": [ broken'


@pytest.mark.parametrize("roster, message", [
    ("name,email\nA,a@x\n", "no 'id' column in its header"),
    ("id,canvas_id\njroe,1001\nzm,1001\n", "line 3: canvas_id '1001' is already on line 2"),
    ("id\nJane Doe\n", "line 2: 'Jane Doe' cannot be a student id"),
    ("", "is empty"),
])
def test_a_bad_roster_is_one_clear_line(course, nbs, tmp_path, roster, message):
    path = tmp_path / "roster.csv"
    path.write_text(roster)
    out = collect(course, write_zip(tmp_path / "dl.zip", [("jroe.ipynb", nbs["blank"])]),
                  "--roster", str(path), check=False)
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode == 1 and len(errors) == 1 and message in errors[0], out.stderr
    assert students(course) == []


def test_without_a_roster_the_lms_ids_are_the_student_ids(course, nbs, tmp_path):
    from lms_downloads import canvas_download

    out = collect(course, canvas_download(tmp_path / "submissions.zip", nbs))
    assert "collected 3 submission(s) of spatial into submitted/: 1001, 1002, 1003" in out.stdout, out.stdout
    out = collect(course, write_zip(tmp_path / "moodle.zip", [
        ("Jane Roe_11_assignsubmission_file_/spatial.ipynb", nbs["blank"]),
        ("Jane Roe_12_assignsubmission_file_/spatial.ipynb", nbs["solved"]),
        ("Zoë Müller_13_assignsubmission_file_/spatial.ipynb", nbs["partial"])]))
    assert "collected 1 submission(s) of spatial into submitted/: zoe.muller" in out.stdout, out.stdout
    why = refused(out)
    assert len(why) == 2 and all("student id 'jane.roe' would be given to 2 different LMS students "
                                 "(Jane Roe (Moodle participant 11); Jane Roe (Moodle participant 12))"
                                 in reason for reason in why.values()), why


def test_detection_is_reported_and_an_explicit_lms_refuses_other_names(course, nbs, tmp_path):
    download = write_zip(tmp_path / "dl.zip", [("alice.ipynb", nbs["blank"]),
                                                ("roejane_1001_5001_spatial.ipynb", nbs["blank"])])
    out = collect(course, download, "--lms", "canvas")
    assert out.stdout.startswith("collect spatial from dl.zip: LMS=canvas: reading Canvas file names")
    assert refused(out)["alice.ipynb"].startswith("not named like a Canvas download")


@pytest.mark.parametrize("args, message", [
    (("make", "due", "DUE=next friday"), "error: DUE='next friday' is not a date, time and time zone"),
    (("make", "export", "FORMAT=xlsx"), "error: unknown FORMAT=xlsx"),
    (("make", "return-feedback"), "error: no nbgrader exchange at"),
    (("make", "roster"), "error: no roster: give ROSTER=<file.csv>"),
    (("make", "roster", "ROSTER=missing.csv"), "error: ROSTER="),
    (("tool", "collect", "--from", "nbgrader_config.py"), "error: "),
    (("tool", "collect", "--from", "release/spatial/spatial.ipynb", "--lms", "sakai"), "error: unknown LMS=sakai"),
    (("tool", "collect"), "error: nothing to collect: no nbgrader exchange at"),
    (("tool", "publish", "--exchange", "/proc/no/such/exchange"), "error: cannot create the exchange"),
])
def test_bad_input_to_the_new_targets_is_one_clear_line(course, args, message):
    from conftest import make

    out = make(course, *args[1:], check=False) if args[0] == "make" else \
        coursetools(course, *args[1:], check=False)
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert out.returncode != 0 and len(errors) == 1 and errors[0].startswith(message), out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_help_lists_the_new_targets():
    from conftest import REPO, make

    listed = make(REPO, "help").stdout
    for target in ("publish", "return-feedback", "due", "roster", "collect", "export"):
        assert f"\n  {target} " in listed, listed


def test_make_roster_imports_names_and_the_integrity_check_accepts_them(course, tmp_path):
    """`make roster`: nbgrader db student import of the roster; roster students without a
    submission are no 'unexpected student' for the post-grading integrity check."""
    from nbgrader.api import Gradebook

    from coursetools.integrity import check_gradebook
    from lms_downloads import CANVAS_ROSTER

    path = tmp_path / "roster.csv"
    path.write_text(CANVAS_ROSTER, encoding="utf-8")
    out = coursetools(course, "roster", "--roster", str(path))
    assert "roster roster.csv: 5 student(s) imported into the gradebook" in out.stdout, out.stdout
    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url, course_id="cnn-spatial") as gb:
        people = {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}
        max_score = gb.find_assignment("spatial").max_score
    assert people["zmuller"] == ("Zoë", "Müller", "zoe.muller@uni.example") and len(people) == 5
    assert [p for p in check_gradebook(url, "spatial", [], max_score, enrolled=people)
            if "unexpected student" in p] == []
    assert [p for p in check_gradebook(url, "spatial", [], max_score) if "unexpected student" in p]
