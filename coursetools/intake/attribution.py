"""From the notebooks of a download to one submission per student, or a refusal naming why.

Rules, in order:
1. the student: the roster maps the LMS's key (user id, username, full name) to a course
   student id; without a roster the LMS's key is the id. No match: refused, never guessed;
2. one student id may come from one LMS student only (two "Jane Roe"s: both refused);
3. the notebook must be this assignment's (coursetools.intake.identify);
4. of several attempts of one student the latest wins (Blackboard's attempt time); the
   others are named in the report;
5. of several files for one notebook in the chosen attempt, the LMS's order decides
   (Canvas's file ids grow with each upload); where the LMS gives none, that student alone
   is refused, named: nothing is filed for them, nobody else is affected.
"""

from dataclasses import dataclass, field

from coursetools import student_ids
from coursetools.intake import identify, roster as rosters


@dataclass
class Plan:
    """What will be filed for one student."""

    student: str
    files: dict                      # {release notebook name: Attempt}
    superseded: list = field(default_factory=list)   # [(Attempt, why)]
    notes: list = field(default_factory=list)        # filed, but worth saying

    @property
    def attempts(self):
        return list(self.files.values())

    @property
    def submitted_at(self):
        times = [a.submitted_at for a in self.files.values() if a.submitted_at]
        return max(times) if times else None

    @property
    def late(self):
        return any(a.late for a in self.files.values())

    @property
    def label(self):
        return next(iter(self.files.values())).label


def person(attempt):
    """Who the LMS says submitted: Moodle tells two students of the same name apart only by
    their participant ids."""
    return attempt.lms, attempt.ids.get("moodle_participant", attempt.user)


def student_of(attempt, roster):
    """(student id, None) or (None, why not) for one attempt."""
    if roster is not None:
        student, why = roster.student_id(attempt.lms, attempt.user, attempt.label)
    else:
        student, why = rosters.default_student_id(attempt.lms, attempt.user)
    if student is None:
        return None, why
    problem = student_ids.problem(student)
    if problem:
        return None, f"{attempt.label}: {problem}"
    return student, None


def plan(attempts, roster, course, assignment):
    """-> (plans {student: Plan}, refusals [(path, reason)])."""
    refusals = []
    cells = identify.release_cells(course)
    by_student = {}
    for attempt in attempts:
        student, why = student_of(attempt, roster)
        if student is None:
            refusals.append((attempt.entry.path, why))
            continue
        taken = course.path("submitted", student)
        if taken.exists() and not taken.is_dir():  # submitted/README.md explains the folder
            refusals.append((attempt.entry.path, f"student id '{student}' is the name of the file "
                             f"submitted/{student}, not of a student's folder"))
            continue
        by_student.setdefault(student, []).append(attempt)

    plans = {}
    for student, mine in sorted(by_student.items()):
        people = sorted({a.label for a in mine})
        if len({person(a) for a in mine}) > 1:
            for a in mine:
                refusals.append((a.entry.path, f"student id '{student}' would be given to "
                                 f"{len(people)} different LMS students ({'; '.join(people)}): "
                                 "none of them filed; a roster tells them apart"))
            continue
        candidates, notes = [], []
        for a in mine:
            verdict = identify.identify(a.entry.staged, a.original_name, assignment, cells)
            if verdict.notebook is None:
                refusals.append((a.entry.path, verdict.reason))
                continue
            if verdict.reason:
                notes.append(f"{a.entry.path}: {verdict.reason}")
            candidates.append((verdict.notebook, a))
        if not candidates:
            continue
        latest = max(a.attempt for _, a in candidates)
        chosen = [(nb, a) for nb, a in candidates if a.attempt == latest]
        superseded = [(a, "an earlier attempt") for _, a in candidates if a.attempt != latest]
        files, ambiguous = {}, {}
        for nb in sorted({nb for nb, _ in chosen}):
            same = [a for n, a in chosen if n == nb]
            if len(same) == 1:
                files[nb] = same[0]
            elif all(a.within for a in same) and len({a.within for a in same}) == len(same):
                same.sort(key=lambda a: a.within)
                files[nb] = same[-1]
                superseded += [(a, f"an earlier upload of {nb}.ipynb") for a in same[:-1]]
            else:
                ambiguous[nb] = same
        if ambiguous:
            for nb, same in ambiguous.items():
                names = ", ".join(a.entry.path for a in same)
                for a in same:
                    refusals.append((a.entry.path, f"{student}: {len(same)} files for {nb}.ipynb "
                                     f"({names}) and the download does not say which is the "
                                     "latest: none of this student's files filed; leave one"))
            for a in files.values():
                refusals.append((a.entry.path, f"{student}: not filed, another notebook of this "
                                 "student is ambiguous (see above)"))
            continue
        plans[student] = Plan(student, files, superseded, notes)
    return plans, refusals
