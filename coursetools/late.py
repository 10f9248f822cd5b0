"""The course's late policy: nbgrader's LateSubmissionPlugin with per-hour and per-day penalties.

nbgrader's own plugin knows ``none`` and ``zero``. This one adds a penalty per started hour
or day late, a percentage of the notebook's points, with a cap and a grace period. Chosen in
nbgrader_config.py, e.g. 10 % of the points per started day, at most 50 %::

    c.AssignLatePenalties.plugin_class = "coursetools.late.LatePolicy"
    c.LatePolicy.penalty_method = "per_day"
    c.LatePolicy.penalty_percent = 10
    c.LatePolicy.max_penalty_percent = 50

Worked example: a 160-point notebook handed in 26 hours late scores 150 before the
penalty; 26 h is 2 started days, so the penalty is 2 x 10 % x 160 = 32 points and the grade
150 - 32 = 118. nbgrader never takes more than the score (a penalty is at most the score).
"""

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

UNIT_SECONDS = {"per_hour": 3600, "per_day": 86400}


class LatePolicy(LateSubmissionPlugin):
    """none, zero, or a percentage of the notebook's points per started hour/day, capped."""

    penalty_method = Enum(
        ("none", "zero", "per_hour", "per_day"), default_value="none",
        help="'none': no penalty; 'zero': a late notebook scores 0; 'per_hour' / 'per_day': "
             "penalty_percent of the notebook's points per started hour / day late, at most "
             "max_penalty_percent.",
    ).tag(config=True)

    penalty_percent = Float(
        10.0, min=0.0, max=100.0,
        help="Percent of the notebook's points taken per started hour or day late "
             "(per_hour / per_day).",
    ).tag(config=True)

    max_penalty_percent = Float(
        100.0, min=0.0, max=100.0,
        help="The most a late notebook loses, in percent of its points (per_hour / per_day).",
    ).tag(config=True)

    grace_minutes = Float(
        0.0, min=0.0,
        help="A submission at most this many minutes late is not penalised (clock skew, "
             "upload time); later ones count from the due date, not from the grace's end.",
    ).tag(config=True)

    def penalty(self, score, max_score, seconds_late):
        """The penalty in points (0 when none), never more than ``score``."""
        if seconds_late <= 0 or seconds_late <= 60 * self.grace_minutes:
            return 0.0
        if self.penalty_method == "none":
            return 0.0
        if self.penalty_method == "zero":
            return max(0.0, score)
        steps = math.ceil(seconds_late / UNIT_SECONDS[self.penalty_method])
        percent = min(steps * self.penalty_percent, self.max_penalty_percent)
        return max(0.0, min(score, round(max_score * percent / 100.0, 6)))

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        max_score = self._notebook_max_score()
        result = self.penalty(score, score if max_score is None else max_score, total_seconds_late)
        self.log.info("late policy %s: %s is %.0f s late, penalty %g of %g", self.penalty_method,
                      student_id, total_seconds_late, result, score)
        return None if self.penalty_method == "none" else result

    def _notebook_max_score(self):
        """The points of the notebook being graded (nbgrader's AssignLatePenalties is the
        parent and has the gradebook open); None when called outside it."""
        parent = self.parent
        try:
            notebook = parent.gradebook.find_submission_notebook(
                parent.notebook_id, parent.assignment_id, parent.student_id)
            return float(notebook.max_score)
        except Exception:  # noqa: BLE001 - outside autograde: fall back to the score
            return None


def policy(course):
    """The LatePolicy configured in the course's nbgrader_config.py (None if another plugin);
    CourseError (one line) for a setting it cannot take."""
    from traitlets import TraitError

    from coursetools.errors import CourseError

    try:
        return _policy(course)
    except TraitError as exc:
        raise CourseError(f"nbgrader_config.py, c.LatePolicy: {exc}") from None


def _policy(course):
    config = course.nbgrader_config()
    plugin = config.AssignLatePenalties.get("plugin_class", None)
    name = plugin if isinstance(plugin, str) else getattr(plugin, "__module__", "") + "." + \
        getattr(plugin, "__name__", "")
    if plugin is not None and not name.endswith("LatePolicy"):
        return None
    return LatePolicy(config=config)


def describe_policy(course):
    p = policy(course)
    if p is None:
        plugin = course.nbgrader_config().AssignLatePenalties.get("plugin_class")
        return f"{plugin} (c.AssignLatePenalties.plugin_class)"
    if p.penalty_method == "none":
        text = "no penalty"
    elif p.penalty_method == "zero":
        text = "a late notebook scores 0"
    else:
        unit = "hour" if p.penalty_method == "per_hour" else "day"
        text = (f"{p.penalty_percent:g} % of the points per started {unit} late, at most "
                f"{p.max_penalty_percent:g} %")
    if p.grace_minutes:
        text += f", {p.grace_minutes:g} min grace"
    return text + " (c.LatePolicy in nbgrader_config.py)"
