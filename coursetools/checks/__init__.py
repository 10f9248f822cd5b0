"""Hidden checks as code: the record/replay framework every assignment's checks use.

* protocol.py: names the notebook, the grading kernel and the trusted grader agree on;
* record.py: recording a check's calls in the kernel, replaying them outside (the design);
* judge.py: cases, groups (partial credit), expectations, verdicts;
* loader.py: loading an assignment's grader modules spliced into its hidden cells;
* kernel.py: the kernel side of the executor (functions checked where they stood).

An assignment's own checks and reference live beside its source, in
``source/<assignment>/grader/`` (never released); see docs/authoring.md.
Every module here but the package itself is loaded into the grading kernel as well: they
use only the standard library and numpy.
"""
