"""The grading perimeter: everything between an untrusted submission and its grade.

Wired into `nbgrader autograde` by nbgrader_config.py, in this order:

* ``RepairCells`` (repair_cells.py, sanitize pass): instructor cells deleted, duplicated,
  re-typed or re-labelled come back from the gradebook, where nbgrader's own restoring gives
  up on the student;
* ``SandboxedExecute`` (sandboxed_execute.py): the notebook runs in a bubblewrap sandbox
  (sandbox.py, launcher.py), student cells first and the hidden checks after the last one,
  records sealed, outputs capped, a time budget, dead kernels restarted;
* ``VerifyHiddenChecks`` (verify_hidden_checks.py): each hidden test cell is judged outside
  the kernel from its sealed record, with the reference, and scored by its case groups.

Their settings are traitlets (``--help-all`` of `python -m coursetools perimeter-help`, or
nbgrader_config.py: ``c.SandboxedExecute.time_budget = 900``). docs/threat-model.md says what
each defends against.
"""

from coursetools.perimeter.repair_cells import RepairCells
from coursetools.perimeter.sandbox import preflight
from coursetools.perimeter.sandboxed_execute import SandboxedExecute
from coursetools.perimeter.verify_hidden_checks import VerifyHiddenChecks

__all__ = ["RepairCells", "SandboxedExecute", "VerifyHiddenChecks", "preflight"]
