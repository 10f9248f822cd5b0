# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Demo

# %% nbgrader={"grade": true, "grade_id": "grader_setup", "locked": true, "points": 0, "schema_version": 3, "solution": false, "task": false}
# Grader setup (runs during grading)
import numpy as np
### BEGIN HIDDEN TESTS
def _grader_double(x):
    return 2 * np.asarray(x)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "double", "locked": false, "schema_version": 3, "solution": true, "task": false}
def double(x):
    """Return 2*x."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "double_visible", "locked": true, "schema_version": 3, "solution": false, "task": false}
assert double(2) == 4

# %% nbgrader={"grade": true, "grade_id": "double_hidden", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
# hidden tests
### BEGIN HIDDEN TESTS
assert np.all(double(np.arange(3)) == _grader_double(np.arange(3)))
### END HIDDEN TESTS
