"""The one exception type the command line turns into a one-line message."""


class CourseError(Exception):
    """A problem the instructor can fix: reported as one line, exit status 1."""
