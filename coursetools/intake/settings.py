"""The settings of `make collect`, as traitlets read from the course's nbgrader_config.py.

An instructor sets them next to nbgrader's own settings, e.g.
``c.Intake.lms_timezone = "Europe/Berlin"``; `python -m coursetools` reads them in-process
(they are not nbgrader's, so nbgrader itself never sees them).
"""

from traitlets import Integer, Unicode, validate, TraitError
from traitlets.config import Configurable

MiB = 1024 * 1024


class Intake(Configurable):
    """Limits on what an LMS download may unpack to, and the LMS's clock."""

    max_entries = Integer(
        10000,
        help="Most entries (files and folders) a download may have; a bigger one is refused "
             "whole, before anything is unpacked (a zip with millions of tiny entries).",
    ).tag(config=True)

    max_notebook_bytes = Integer(
        100 * MiB,
        help="Largest notebook unpacked; a bigger one is refused (that student alone). "
             "nbgrader's own exchange ignores files over CourseDirectory.max_file_size "
             "(100 MB by default).",
    ).tag(config=True)

    max_unpacked_bytes = Integer(
        4096 * MiB,
        help="Most bytes all accepted notebooks of one download may unpack to; a bigger "
             "download is refused whole, before anything is filed.",
    ).tag(config=True)

    lms_timezone = Unicode(
        "UTC",
        help="Time zone of LMS submission times that carry none: Blackboard writes the "
             "attempt time into its file names in the server's local time "
             "(e.g. 'Europe/Berlin', 'America/New_York').",
    ).tag(config=True)

    @validate("lms_timezone")
    def _known_zone(self, proposal):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(proposal["value"])
        except (ZoneInfoNotFoundError, ValueError):
            raise TraitError(f"c.Intake.lms_timezone={proposal['value']!r} is not a time zone "
                             "name such as 'Europe/Berlin' or 'UTC'") from None
        return proposal["value"]


def load(course):
    """The Intake settings of ``course`` (its nbgrader_config.py)."""
    try:
        return Intake(config=course.nbgrader_config())
    except TraitError as exc:
        from coursetools.errors import CourseError

        raise CourseError(str(exc)) from None
