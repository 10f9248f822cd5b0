"""The rules behind `make collect`, `make due` and the late policy, without nbgrader runs (fast).

LMS file names as the LMSs write them (sources in each coursetools/intake/lms/ module),
roster matching, due dates with time zones, and the late penalty's arithmetic.
"""

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from coursetools import student_ids
from coursetools.deadlines import parse_due
from coursetools.errors import CourseError
from coursetools.intake import lms
from coursetools.intake.lms import blackboard, canvas, moodle, plain
from coursetools.intake.roster import load, slug
from coursetools.intake.settings import Intake
from coursetools.intake.unpack import Entry, Unpacked
from coursetools.late import LatePolicy
from lms_downloads import blackboard_receipt


def unpacked(*paths, texts=None):
    result = Unpacked(Path("download.zip"))
    result.notebooks = [Entry(p, Path(f"/nonexistent/{i}.ipynb"), 1) for i, p in enumerate(paths)]
    result.texts = texts or {}
    return result


@pytest.mark.parametrize("name, user, late, file_id, original", [
    ("smithjohn_123456_7890_spatial.ipynb", "123456", False, "7890", "spatial.ipynb"),
    ("smithjohn_late_123456_7890_spatial.ipynb", "123456", True, "7890", "spatial.ipynb"),
    ("müllerzoë_late_1002_5002_spatial-1.ipynb", "1002", True, "5002", "spatial.ipynb"),
    ("o_brien_sean_77_88_my_work_2_1.ipynb", "77", False, "88", "my_work_2_1.ipynb"),
    ("smithjohn_123_456_Spatial Operations (final)-2.ipynb", "123", False, "456",
     "Spatial Operations (final).ipynb"),
])
def test_canvas_names(name, user, late, file_id, original):
    (attempt,), refused = canvas.parse(unpacked(name), Intake())
    assert refused == []
    assert (attempt.user, attempt.late, attempt.ids["canvas_file_id"], attempt.original_name) == \
        (user, late, file_id, original)


def test_canvas_orders_uploads_by_file_id():
    attempts, _ = canvas.parse(unpacked("a_1_900_spatial-1.ipynb", "a_1_1000_spatial.ipynb"), Intake())
    assert max(attempts, key=lambda a: a.within).entry.path == "a_1_1000_spatial.ipynb"


@pytest.mark.parametrize("path, name, pid, original", [
    ("Jane Roe_34567_assignsubmission_file_/spatial.ipynb", "Jane Roe", "34567", "spatial.ipynb"),
    ("CNN-Spatial-12/Zoë Müller_34568_assignsubmission_file_/Übung 1/spatial.ipynb", "Zoë Müller",
     "34568", "spatial.ipynb"),
    ("Jane Roe_34567_assignsubmission_file_spatial.ipynb", "Jane Roe", "34567", "spatial.ipynb"),
    ("Group A-Jane Roe_34567_assignsubmission_file_/nb.ipynb", "Group A-Jane Roe", "34567", "nb.ipynb"),
])
def test_moodle_names(path, name, pid, original):
    (attempt,), refused = moodle.parse(unpacked(path), Intake())
    assert refused == [] and (attempt.user, attempt.ids["moodle_participant"], attempt.original_name) == \
        (name, pid, original)


def test_moodle_blind_marking_is_refused_with_the_reason():
    _, ((entry, why),) = moodle.parse(unpacked("Participant_123_assignsubmission_file_/a.ipynb"), Intake())
    assert "blind marking hides who Participant 123 is" in why


def test_blackboard_receipt_gives_username_original_name_and_the_zone_gives_the_time():
    stem = "Spatial_ops_j_roe_attempt_2026-12-01-23-45-03"
    receipt = blackboard_receipt("Jane Roe", "j_roe", "Tuesday, December 1, 2026 11:45:03 PM CET",
                                 [("spatial (2).ipynb", f"{stem}_spatial 2.ipynb")])
    zone = Intake(lms_timezone="Europe/Berlin")
    (attempt,), refused = blackboard.parse(unpacked(f"{stem}_spatial 2.ipynb",
                                                    texts={f"{stem}.txt": receipt.decode()}), zone)
    assert refused == [] and attempt.user == "j_roe" and attempt.original_name == "spatial (2).ipynb"
    assert attempt.submitted_at == datetime(2026, 12, 1, 23, 45, 3, tzinfo=ZoneInfo("Europe/Berlin"))
    assert attempt.submitted_at.astimezone(timezone.utc).hour == 22


def test_blackboard_without_receipt_reads_the_file_name():
    (attempt,), _ = blackboard.parse(unpacked("HW 1_jroe_attempt_2026-11-30-10-00-00_a.ipynb"), Intake())
    assert attempt.user == "jroe" and attempt.submitted_at.tzinfo is not None


@pytest.mark.parametrize("paths, expected", [
    (["smithjohn_1_2_spatial.ipynb", "doeann_late_3_4_spatial.ipynb"], "canvas"),
    (["Jane Roe_1_assignsubmission_file_/spatial.ipynb"], "moodle"),
    (["HW_jroe_attempt_2026-11-30-10-00-00_spatial.ipynb"], "blackboard"),
    (["alice.ipynb", "bob_spatial.ipynb"], "plain"),
    ([], "plain"),
])
def test_detection_says_what_it_detected(paths, expected):
    module, message = lms.detect(unpacked(*paths))
    assert module.NAME == expected
    if paths and expected != "plain":
        assert message.startswith(f"LMS=auto: detected a {module.TITLE} download ({len(paths)} of {len(paths)}")


def test_unknown_lms_is_one_clear_error():
    with pytest.raises(CourseError, match="unknown LMS=sakai: use auto, canvas, moodle, blackboard, plain"):
        lms.choose("sakai", unpacked())


def test_an_explicit_lms_refuses_files_named_otherwise():
    attempts, refused = canvas.parse(unpacked("alice.ipynb"), Intake())
    assert attempts == [] and "not named like a Canvas download" in refused[0][1]
    assert plain.matches("alice_1.ipynb") and not plain.matches("Jane Doe.ipynb")


def test_roster_columns_aliases_and_name_matching(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("\ufeffStudent ID;First Name;Last Name;Canvas User ID;Username\n"
                    "jroe;Jane;Roe;1001;jane_r\nzm;Zoë;Müller;1002;\nj2;Jane;Roe;1003;\n",
                    encoding="utf-8")
    roster = load(path)
    assert roster.student_id("canvas", "1002", "x") == ("zm", None)
    assert roster.student_id("blackboard", "jane_r", "x") == ("jroe", None)
    assert roster.student_id("moodle", "ZOË  müller", "x") == ("zm", None)
    student, why = roster.student_id("moodle", "Jane Roe", "Jane Roe (Moodle participant 1)")
    assert student is None and "several roster students are called 'Jane Roe' (jroe, j2)" in why
    student, why = roster.student_id("canvas", "999", "smith (Canvas user 999)")
    assert student is None and why.startswith("smith (Canvas user 999) is not in the roster r.csv")


def test_names_become_ids_without_a_roster():
    assert slug("Zoë Müller-Lüdenscheidt") == "zoe.muller.ludenscheidt"
    assert slug("李雷") == ""
    assert student_ids.is_valid(slug("Ann-Marie O'Neil"))


@pytest.mark.parametrize("text, utc", [
    ("2026-12-01 23:59 Europe/Berlin", datetime(2026, 12, 1, 22, 59, tzinfo=timezone.utc)),
    ("2026-07-01 23:59 Europe/Berlin", datetime(2026, 7, 1, 21, 59, tzinfo=timezone.utc)),
    ("2026-12-01T23:59:00+01:00", datetime(2026, 12, 1, 22, 59, tzinfo=timezone.utc)),
    ("2026-12-01 22:59:30 UTC", datetime(2026, 12, 1, 22, 59, 30, tzinfo=timezone.utc)),
    ("2026-12-01T22:59Z", datetime(2026, 12, 1, 22, 59, tzinfo=timezone.utc)),
])
def test_due_dates_need_and_honour_a_time_zone(text, utc):
    assert parse_due(text) == utc


@pytest.mark.parametrize("text, message", [
    ("2026-12-01 23:59", "has no time zone"),
    ("2026-12-01 23:59 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ("tomorrow", "is not a date, time and time zone"),
    ("2026-13-01 23:59 UTC", "is not a date and time"),
])
def test_bad_due_dates_say_what_is_expected(text, message):
    with pytest.raises(CourseError, match=message):
        parse_due(text)


@pytest.mark.parametrize("method, seconds, expected", [
    ("none", 86400 * 3, 0.0),
    ("zero", 1, 150.0),
    ("per_day", 1, 16.0),                 # 1 started day: 10 % of 160
    ("per_day", 86400 + 7200, 32.0),      # 26 h: 2 started days (the docstring's example)
    ("per_day", 86400 * 30, 80.0),        # capped at 50 %
    ("per_hour", 3600 * 2 + 1, 48.0),     # 3 started hours
    ("per_hour", 60 * 4, 0.0),            # within the 5 min grace
    ("per_hour", 60 * 6, 16.0),           # after the grace: counted from the due date
])
def test_late_penalty(method, seconds, expected):
    policy = LatePolicy(penalty_method=method, penalty_percent=10, max_penalty_percent=50,
                        grace_minutes=5 if method == "per_hour" else 0)
    assert policy.penalty(150.0, 160.0, seconds) == expected


def test_penalty_never_exceeds_the_score():
    assert LatePolicy(penalty_method="per_day", max_penalty_percent=100).penalty(5.0, 160.0, 86400 * 9) == 5.0


def test_student_id_rule_is_one_rule():
    from coursetools import grading

    assert grading.STUDENT_ID is student_ids.PATTERN
    assert student_ids.is_valid("a" * 128) and not student_ids.is_valid("a" * 129)
    for bad in ("a*", "-x", "Jane Doe", "a/b", "", "ä"):
        assert not student_ids.is_valid(bad), bad
    assert student_ids.problem("Jane Doe").startswith("'Jane Doe' cannot be a student id")


def test_a_late_policy_nbgrader_cannot_take_is_one_clear_error(tmp_path):
    from conftest import REPO
    from coursetools.course import Course
    from coursetools.late import describe_policy

    (tmp_path / "nbgrader_config.py").write_text(
        (REPO / "nbgrader_config.py").read_text() + '\nc.LatePolicy.penalty_method = "per_week"\n')
    with pytest.raises(CourseError, match=r"c.LatePolicy: .*per_week"):
        describe_policy(Course(tmp_path, "spatial"))


def test_exchange_users_map_through_hub_user_or_id(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,hub_user\njroe,jane\nbob,\n")
    roster = load(path)
    assert roster.student_id("exchange", "jane", "jane") == ("jroe", None)
    assert roster.student_id("exchange", "bob", "bob") == ("bob", None)
    assert roster.student_id("exchange", "jroe", "jroe")[0] is None  # jroe logs in as jane
    assert roster.student_id("exchange", "eve", "eve")[1] == "eve is not in the roster r.csv (column hub_user or id)"
