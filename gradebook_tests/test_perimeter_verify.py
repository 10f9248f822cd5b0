"""VerifyHiddenChecks on the fixture assignment `tiny`: records made here, judged as in grading.

No kernel: the records come from running the checks in this process (``capturing``), then
they are judged by the preprocessor against the gradebook's copy of the grader cells, and the
cell's score is read the way nbgrader reads it (nbgrader.utils.determine_grade).
"""

import copy

import nbformat
import pytest
from nbgrader.utils import determine_grade

from coursetools.checks import record
from coursetools.perimeter.verify_hidden_checks import VerifyHiddenChecks
from coursetools.splice import load_folder

HIDDEN = "scale_hidden"


@pytest.fixture(scope="module")
def checks(tiny_course):
    return load_folder("tiny", tiny_course.path("source", "tiny", "grader"), "checks")


def record_of(checks, scale):
    sink = []
    with record.capturing(sink):
        checks.check_scale(scale)
    assert len(sink) == 1
    return sink[0]


def judge(course, records, **traits):
    """Score of the hidden cell (and its outputs) for ``records`` of that cell."""
    nb = nbformat.read(course.build_dir / "tiny.ipynb", as_version=4)
    resources = {"nbgrader": {"db_url": course.db_url(), "assignment": "tiny", "notebook": "tiny"},
                 "cnn_grader": {"records": {HIDDEN: records}}}
    nb, _ = VerifyHiddenChecks(**traits).preprocess(nb, resources)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == HIDDEN)
    score, points = determine_grade(cell)
    text = "".join(o.get("text", "") or o.get("evalue", "") for o in cell.outputs)
    return score, points, text


def right(x, k):
    import numpy as np
    return np.asarray(x) * k


def test_a_right_record_earns_every_point(tiny_course, checks):
    assert judge(tiny_course, [record_of(checks, right)])[:2] == (4.0, 4.0)


def test_partial_credit_by_group_and_the_groups_in_the_verdict(tiny_course, checks):
    import numpy as np

    def floats_only(x, k):
        if np.asarray(x).dtype.kind == "i":
            raise TypeError("integers are not supported")
        return np.asarray(x) * k

    score, points, text = judge(tiny_course, [record_of(checks, floats_only)])
    assert (score, points) == (3.0, 4.0)       # core 2 + unchanged 1, integer (1) lost
    assert "FAILED  integer inputs (1 point" in text and "passed  float inputs" in text
    assert "scale raised TypeError: integers are not supported" in text
    assert judge(tiny_course, [record_of(checks, floats_only)], all_or_nothing=[HIDDEN])[0] == 0
    assert judge(tiny_course, [record_of(checks, floats_only)], partial_credit=False)[0] == 0


def test_an_in_place_change_costs_the_unchanged_group_only(tiny_course, checks):
    def in_place(x, k):
        x *= k
        return x.copy()

    score, _, text = judge(tiny_course, [record_of(checks, in_place)])
    assert score == 3.0 and "x (values changed) was modified in place by scale" in text


def test_garbage_values_earn_nothing_not_even_the_unchanged_group(tiny_course, checks):
    import numpy as np

    score, _, text = judge(tiny_course, [record_of(checks, lambda x, k: np.zeros(np.shape(x)))])
    assert score == 0 and "FAILED  input left unchanged" in text


@pytest.mark.parametrize("forgery", ["wrong numbers", "missing", "two records", "malformed",
                                     "another check", "no cases"])
def test_forged_or_missing_records_never_score(tiny_course, checks, forgery):
    good = record_of(checks, right)
    bad = copy.deepcopy(good)
    if forgery == "wrong numbers":
        for events in bad["cases"].values():
            events[0][2] = record.encode(__import__("numpy").ones(5))
        records = [bad]
    elif forgery == "missing":
        records = []
    elif forgery == "two records":
        records = [good, good]
    elif forgery == "malformed":
        for events in bad["cases"].values():
            events[0][2] = ["array", "float64", [10 ** 9], "AAAA"]
        records = [bad]
    elif forgery == "another check":
        bad["check"] = "other"
        records = [bad]
    else:
        bad["cases"] = {}
        records = [bad]
    score, _, text = judge(tiny_course, records)
    assert score == 0, (forgery, text)


def test_student_text_in_a_verdict_is_short_and_hides_numbers(tiny_course, checks):
    import numpy as np

    def leaky(x, k):
        raise ValueError(repr(np.asarray(x)) + " " + "A" * 300 + "\nsecond line")

    _, _, text = judge(tiny_course, [record_of(checks, leaky)])
    line = next(ln for ln in text.splitlines() if "raised ValueError" in ln)
    assert "<float>" in line and "second line" not in text and len(line) < 200
    assert "<data>" in line


def test_the_verdict_stays_short_however_many_cases_fail(tiny_course, checks):
    _, _, text = judge(tiny_course, [record_of(checks, lambda x, k: None)])
    assert len(text) <= 2100


def test_a_forged_record_cannot_write_text_into_the_verdict(tiny_course, checks):
    """The record is the kernel's: text in it (a dtype name, an unknown kind) was quoted in
    the verdict through the decoder's error messages."""
    secret = "def ref_scale(x, k): return x * k"
    bad = record_of(checks, right)
    for n, events in enumerate(bad["cases"].values()):
        events[0][2] = ["array", secret, [2], "AAAA"] if n % 2 else [secret, 1]
    score, _, text = judge(tiny_course, [bad])
    assert score == 0 and "ref_scale" not in text and "return x" not in text, text


def test_an_exception_cannot_spell_out_text_the_kernel_found(tiny_course, checks):
    """A message or a 'code line' made of text the student's code found in the kernel (a
    line of the grader's source: short prose, no numbers) passed record.clean whole."""
    import linecache

    source = "def ref_scale(x, k): return x * k  # the grader's reference"
    linecache.cache["<forged>"] = (len(source), None, [source + "\n"], "<forged>")
    namespace = {}
    exec(compile("def scale(x, k):\n    raise ValueError(SOURCE)\n", "<forged>", "exec"),
         {"SOURCE": source}, namespace)
    try:
        _, _, text = judge(tiny_course, [record_of(checks, namespace["scale"])])
    finally:
        linecache.cache.pop("<forged>", None)
    assert "ref_scale" not in text and "reference" not in text, text
    assert "scale raised ValueError: (not shown: only Python's and NumPy's own messages are)" in text
