"""The course roster (ROSTER=roster.csv): who the students are, and their id in each LMS.

A CSV file with a header row; ``nbgrader db student import`` reads the same file (it takes
id, first_name, last_name, email and ignores the other columns):

    id,first_name,last_name,email,canvas_id,sis_user_id,sis_login_id,section,moodle_idnumber,blackboard_username,gradescope_sid,hub_user
    jroe,Jane,Roe,jane.roe@uni.example,123456,S0042,jroe,Section A,S0042,jroe,S0042,jroe

Only ``id`` is required. Each LMS column maps that LMS's key to the course's student id:
Canvas's user id (``canvas_id``, the "ID" column of Canvas's gradebook export), Blackboard's
username, the JupyterHub user name of the exchange (``hub_user``, default: the id); Moodle
downloads are matched by first and last name. ``sis_user_id``, ``sis_login_id``,
``section``, ``moodle_idnumber``, ``email`` and ``gradescope_sid`` fill the LMS exports.
Without a roster the LMS's own user id or username becomes the student id.
"""

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from coursetools import student_ids
from coursetools.errors import CourseError

COLUMNS = ("id", "first_name", "last_name", "email", "canvas_id", "sis_user_id", "sis_login_id",
           "section", "moodle_idnumber", "blackboard_username", "gradescope_sid", "hub_user")
ALIASES = {"student_id": "id", "canvas_user_id": "canvas_id", "sis_id": "sis_user_id",
           "idnumber": "moodle_idnumber", "id_number": "moodle_idnumber",
           "username": "blackboard_username", "sid": "gradescope_sid",
           "jupyterhub_user": "hub_user", "first": "first_name", "last": "last_name",
           "surname": "last_name", "given_name": "first_name", "family_name": "last_name"}
UNIQUE = ("email", "canvas_id", "sis_user_id", "sis_login_id", "moodle_idnumber",
          "blackboard_username", "gradescope_sid", "hub_user")
LOOKUP = {"canvas": "canvas_id", "blackboard": "blackboard_username", "exchange": "hub_user"}


@dataclass
class Student:
    id: str
    row: dict

    def get(self, column):
        return self.row.get(column, "") or ""

    @property
    def full_name(self):
        return " ".join(x for x in (self.get("first_name"), self.get("last_name")) if x)


def _header(name):
    key = re.sub(r"[\s-]+", "_", name.strip().lstrip("\ufeff").lower())
    return ALIASES.get(key, key)


def normal_name(text):
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


class Roster:
    """The students of a roster file, with lookups by every LMS key."""

    def __init__(self, path, students, columns):
        self.path, self.students, self.columns = Path(path), students, columns
        self.by_id = {s.id: s for s in students}
        self._index = {c: {s.get(c): s.id for s in students if s.get(c)} for c in UNIQUE}

    def __len__(self):
        return len(self.students)

    def ids(self):
        return [s.id for s in self.students]

    def student_id(self, lms, user, label):
        """(student id, None) for an LMS's key, or (None, why not)."""
        if lms == "moodle":
            return self._by_name(user, label)
        column = LOOKUP.get(lms)
        if column and column in self.columns and user in self._index[column]:
            return self._index[column][user], None
        if lms in ("plain", "blackboard", "exchange") and user in self.by_id:
            if column is None or not self.by_id[user].get(column):
                return user, None
        if lms == "canvas" and "canvas_id" not in self.columns:
            return None, (f"{label}: the roster {self.path.name} has no canvas_id column "
                          "(Canvas's user ID), so Canvas users cannot be matched")
        where = f"column {column} or id" if column else "column id"
        return None, f"{label} is not in the roster {self.path.name} ({where})"

    def _by_name(self, full_name, label):
        wanted = normal_name(full_name)
        found = []
        for s in self.students:
            first, last = s.get("first_name"), s.get("last_name")
            names = {normal_name(f"{first} {last}"), normal_name(f"{last} {first}"),
                     normal_name(f"{last}, {first}")}
            if wanted in names:
                found.append(s.id)
        if len(found) == 1:
            return found[0], None
        if found:
            return None, (f"{label}: several roster students are called {full_name!r} "
                          f"({', '.join(found)}): none filed")
        return None, (f"{label} is not in the roster {self.path.name} "
                      "(first_name and last_name; Moodle downloads carry only the full name)")


def load(path):
    """The roster at ``path``, checked; CourseError (one line) for anything wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"ROSTER={path}: no such file (a CSV with a header row; "
                          "see docs/course-operations.md, 'Rosters')")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CourseError(f"ROSTER={path} is not UTF-8 text: save it as 'CSV UTF-8'") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    rows = [r for r in reader if any(cell.strip() for cell in r)]
    if not rows:
        raise CourseError(f"ROSTER={path} is empty: it needs a header row with an 'id' column")
    columns = [_header(h) for h in rows[0]]
    if "id" not in columns:
        raise CourseError(f"ROSTER={path}: no 'id' column in its header ({', '.join(rows[0])})")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise CourseError(f"ROSTER={path}: column(s) {', '.join(repeated)} appear twice")
    students, seen = [], {}
    for number, cells in enumerate(rows[1:], start=2):
        if len(cells) > len(columns):
            raise CourseError(f"ROSTER={path}, line {number}: {len(cells)} fields, the header has "
                              f"{len(columns)}")
        row = {c: (cells[i].strip() if i < len(cells) else "") for i, c in enumerate(columns)}
        why = student_ids.problem(row["id"]) if row["id"] else "the id is empty"
        if why:
            raise CourseError(f"ROSTER={path}, line {number}: {why}")
        for column in ("id",) + UNIQUE:
            value = row.get(column, "")
            if not value:
                continue
            key = (column, value.casefold() if column == "email" else value)
            if key in seen:
                raise CourseError(f"ROSTER={path}, line {number}: {column} {value!r} is already "
                                  f"on line {seen[key]}")
            seen[key] = number
        students.append(Student(row["id"], row))
    return Roster(path, students, set(columns))


def find(course, given):
    """The roster to use: ROSTER=<file> when given, else <course>/roster.csv if it exists."""
    if given:
        path = Path(given).expanduser()
        return load(path if path.is_absolute() else Path.cwd() / path)
    default = course.path("roster.csv")
    return load(default) if default.is_file() else None


def slug(full_name):
    """A student id from a full name when there is no roster: 'Zoë Müller' -> 'zoe.muller'."""
    ascii_name = unicodedata.normalize("NFKD", full_name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", ".", ascii_name.lower()).strip(".")


def default_student_id(lms, user):
    """The student id of an LMS key without a roster: (id, None) or (None, why not)."""
    student = slug(user) if lms == "moodle" else user
    if not student:
        return None, (f"cannot make a student id from the name {user!r} without a roster: "
                      "give ROSTER=roster.csv")
    return student, None


def import_into_gradebook(course, roster, log=print):
    """`nbgrader db student import` of the roster (a normalised copy: nbgrader's reader wants
    plain UTF-8 and its own column names)."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8",
                                     newline="", dir=course.root) as tmp:
        writer = csv.DictWriter(tmp, fieldnames=["id", "first_name", "last_name", "email"])
        writer.writeheader()
        for s in roster.students:
            writer.writerow({k: s.get(k) for k in writer.fieldnames})
    try:
        course.nbgrader_checked(["db", "student", "import", tmp.name], "roster",
                                "nbgrader db student import")
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    log(f"roster {roster.path.name}: {len(roster)} student(s) imported into the gradebook "
        f"(columns: {', '.join(c for c in COLUMNS if c in roster.columns)})")
