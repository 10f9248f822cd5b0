"""python -m coursetools <command> [--assignment A] ... (the Makefile's back end)."""

import argparse
import sys
import traceback
from pathlib import Path

from coursetools.errors import CourseError


def _jobs(text):
    text = str(text).strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise CourseError(f"JOBS={text}: give a number of workers >= 1 (default: number of cores)")
    return int(text)


def _operations_arguments(parser, lms=False, roster=False, exchange=False):
    """The Makefile's LMS=, ROSTER= and EXCHANGE= (empty: the course's defaults)."""
    if lms:
        parser.add_argument("--lms", default="auto", help="auto | canvas | moodle | blackboard | plain")
    if roster:
        parser.add_argument("--roster", default="", help="roster CSV (default: roster.csv if present)")
    if exchange:
        parser.add_argument("--exchange", default="", help="exchange folder (default: c.Exchange.root)")
    return parser


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m coursetools", description=__doc__)
    parser.add_argument("--root", default=".", help="course directory (default: .)")
    parser.add_argument("--assignment", default="spatial")
    parser.add_argument("--db", default="", help="the gradebook's SQLAlchemy URL (make DB=...)")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade WITHOUT the sandbox (make UNSANDBOXED=1)")
    parser.add_argument("--kernel-python", default="",
                        help="Python of the grading kernel (make KERNEL_VENV=...)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("release", help="jupytext sources -> nbgrader source notebooks -> release/")
    p.add_argument("--if-changed", action="store_true",
                   help="only when the sources, the configuration or the code that builds it changed")
    sub.add_parser("validate", help="instructor solution earns all points, blank release none")
    p = sub.add_parser("collect", help="LMS download (FROM=) or the nbgrader exchange -> submitted/")
    p.add_argument("--from", dest="source", default="")
    _operations_arguments(p, lms=True, roster=True, exchange=True)
    p = sub.add_parser("grade", help="nbgrader autograde every collected submission, then a summary")
    p.add_argument("--jobs", default="", help="students graded at once (default: number of cores)")
    p.add_argument("--cluster", default="", help="dask | tcp://scheduler:8786 | slurm | pbs | ...")
    _operations_arguments(sub.add_parser("summary", help="the grade summary only"), roster=True)
    sub.add_parser("feedback", help="HTML feedback per student")
    p = sub.add_parser("export", help="grades.csv, or an LMS's grade import file")
    p.add_argument("--format", default="csv", help="csv | canvas | moodle | gradescope")
    _operations_arguments(p, roster=True)
    _operations_arguments(sub.add_parser(
        "report", help="class report: pass rate per test, score distribution, late, failed"), roster=True)
    # course operations: the nbgrader exchange, due dates, rosters (docs/course-operations.md)
    p = sub.add_parser("publish", help="nbgrader release_assignment into the exchange")
    p.add_argument("--force", action="store_true", help="replace an assignment already published")
    _operations_arguments(p, exchange=True)
    _operations_arguments(sub.add_parser(
        "return-feedback", help="nbgrader release_feedback through the exchange"), exchange=True)
    p = sub.add_parser("due", help="show or set the assignment's due date (in the gradebook)")
    p.add_argument("--due", default="", help='"2026-12-01 23:59 Europe/Berlin", or none')
    _operations_arguments(sub.add_parser(
        "roster", help="check the roster and import it into the gradebook"), roster=True)
    sub.add_parser("demo", help="a simulated class through the whole cycle in demo/")
    sub.add_parser("perimeter-help", help="every setting of the grading perimeter (as --help-all "
                   "would show it): c.<Class>.<setting> in nbgrader_config.py")
    p = sub.add_parser("lab", help="JupyterLab on a scratch copy of the release, as a student sees it")
    p.add_argument("--reset", action="store_true")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("extra", nargs="*")
    p = sub.add_parser("formgrader", help="nbgrader's formgrader on the course (instructor)")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("extra", nargs="*")
    return parser


def _perimeter_help(log=print):
    """The traitlets of the grading perimeter's preprocessors, with their help and defaults."""
    from coursetools.perimeter import RepairCells, SandboxedExecute, VerifyHiddenChecks

    for cls in (SandboxedExecute, VerifyHiddenChecks, RepairCells):
        own = [n for n, tr in sorted(cls.class_traits(config=True).items())
               if tr.this_class is cls or n in ("timeout", "interrupt_on_timeout")]
        if own:
            log(cls.class_get_help().split("\n", 1)[0])
            for name in own:
                log(cls.class_get_trait_help(cls.class_traits()[name]))
            log("")


def run(args):
    if args.command == "perimeter-help":
        _perimeter_help()
        return
    from coursetools.course import Course
    from coursetools.settings import Settings

    settings = Settings(db_url=args.db.strip(), sandboxed=not args.unsandboxed,
                        kernel_python=args.kernel_python.strip())
    course = Course(args.root, args.assignment, settings=settings)
    if settings.db_url and args.command not in ("lab", "demo", "formgrader"):
        course.check_database()
    if args.command == "release":
        from coursetools import release

        (release.release_if_changed if args.if_changed else release.release)(course)
    elif args.command == "validate":
        from coursetools import release

        release.validate(course)
    elif args.command == "collect":
        from coursetools import collect

        collect.collect(course, args.source.strip(), args.lms, args.roster.strip(), args.exchange.strip())
    elif args.command == "grade":
        from coursetools import grading, release

        jobs = _jobs(args.jobs)
        # the release check of every other target, in this process (one Python start and
        # one load of nbgrader less: `make grade` does not depend on release-current)
        release.release_if_changed(course)
        grading.grade(course, jobs=jobs, cluster=args.cluster.strip())
    elif args.command == "summary":
        from coursetools import grading

        grading.summary(course, roster=_roster(course, args))
    elif args.command == "feedback":
        from coursetools import grading

        grading.feedback(course)
    elif args.command == "export":
        from coursetools import grading

        grading.export(course, fmt=args.format.strip() or "csv", roster=_roster(course, args))
    elif args.command == "report":
        from coursetools import report

        report.report(course, roster=_roster(course, args))
    elif args.command in ("publish", "return-feedback", "due", "roster"):
        _operations(course, args)
    elif args.command == "demo":
        from coursetools import demo

        demo.demo(course)
    elif args.command == "lab":
        from coursetools import lab

        lab.lab(course, reset=args.reset, dry_run=args.dry_run, extra=args.extra)
    elif args.command == "formgrader":
        from coursetools import lab

        lab.formgrader(course, dry_run=args.dry_run, extra=args.extra)


def _roster(course, args):
    from coursetools.intake import roster

    return roster.find(course, args.roster.strip())


def _operations(course, args):
    """publish, return-feedback, due, roster (docs/course-operations.md)."""
    from coursetools import deadlines
    from coursetools.intake import exchange, roster

    if args.command == "publish":
        exchange.publish(course, args.exchange.strip(), force=args.force)
    elif args.command == "return-feedback":
        exchange.return_feedback(course, args.exchange.strip())
    elif args.command == "due":
        deadlines.set_due(course, args.due)
    elif args.command == "roster":
        found = roster.find(course, args.roster.strip())
        if found is None:
            raise CourseError("no roster: give ROSTER=<file.csv> or put roster.csv in the course "
                              "folder (columns: docs/course-operations.md, 'Rosters')")
        course.require_gradebook_assignment()
        roster.import_into_gradebook(course, found)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback in a file
        logs = Path(args.root) / "logs"
        logs.mkdir(exist_ok=True)
        (logs / "coursetools-error.log").write_text(traceback.format_exc(), encoding="utf-8")
        print(f"error: {args.command} failed unexpectedly: {type(exc).__name__}: {exc} "
              "(traceback in logs/coursetools-error.log)", file=sys.stderr)
        return 1
    return 0
