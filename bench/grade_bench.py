"""`make bench-grade`: a synthetic class graded by stock nbgrader and by `make grade JOBS=2`.

The class (default 200 students) mixes correct submissions (40 %), buggy ones (40 %: the
mutants of gradebook_tests/mutants.py in turn) and blank ones (20 %). Two identical copies
of the course receive it; one is graded by stock sequential `nbgrader autograde <a> --force`,
the other by `make grade JOBS=2`, one after the other in this one run. The script prints
submissions per minute for both and their ratio, checks that every student got the same
points in every graded cell, and writes the table to reports/bench-grade.md (a file this
script owns).
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "gradebook_tests")]

import report_file  # noqa: E402 - bench/, next to this script
from coursetools.course import Course  # noqa: E402
from coursetools.settings import Settings  # noqa: E402
from coursetools.release import blank_submission, instructor_submission  # noqa: E402
from mutants import MUTANTS  # noqa: E402
from mutation_report import mutant_submission  # noqa: E402

REPORT = report_file.REPORTS / "bench-grade.md"
TITLE = "Parallel grading against stock nbgrader"
EXPLAINED_IN = ("[docs/grading-at-scale.md]"
                "(../docs/grading-at-scale.md#benchmark-make-bench-grade)")
for _var in ("DB", "COURSE_DB_URL", "COURSE_DB_ROOT"):  # the class is synthetic: own gradebooks
    os.environ.pop(_var, None)


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p and (REPO / p).is_file()]


KERNEL_VENV = str(REPO / ".venv-kernel")


def make(root, *args, on_line=None):
    """`make -s ARGS` in ``root`` with this environment; streams lines to ``on_line``."""
    proc = subprocess.Popen(["make", "-s", *args, f"VENV={sys.prefix}", f"KERNEL_VENV={KERNEL_VENV}"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if on_line:
            on_line(lines[-1])
    if proc.wait() != 0:
        sys.exit(f"error: make {' '.join(args)} failed in {root}:\n" + "\n".join(lines[-30:]))
    return lines


def copy_course(dest):
    for rel in tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / rel).read_bytes())
    return dest


def synthetic_class(course, n):
    """{student: {notebook: nb}}: 40 % correct, 40 % buggy (mutants in turn), 20 % blank."""
    correct, blank = instructor_submission(course), blank_submission(course)
    students, bug = {}, 0
    for i in range(n):
        slot = i % 10
        if slot < 4:
            students[f"s{i:03d}-correct"] = correct
        elif slot < 8:
            students[f"s{i:03d}-buggy"] = mutant_submission(course, MUTANTS[bug % len(MUTANTS)])
            bug += 1
        else:
            students[f"s{i:03d}-blank"] = blank
    return students


def hand_in(root, assignment, students):
    for student, notebooks in students.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, folder / f"{name}.ipynb")


def cell_scores(course):
    """{student: {(notebook, cell): points}} from the course's gradebook."""
    found = {}
    with course.gradebook() as gb:
        for sub in gb.find_assignment(course.assignment).submissions:
            found[sub.student.id] = {(nb.name, g.name): float(g.score)
                                     for nb in sub.notebooks for g in nb.grades}
    return found


def ticker(label, total):
    state = {"n": 0, "t0": time.monotonic()}

    def on_line(line):
        if "Creating/updating student" in line or re.match(r"\s*\[\s*\d+/\d+\]", line):
            state["n"] += 1
            if state["n"] % 10 == 0 or state["n"] == total:
                print(f"  {label}: {state['n']}/{total} after "
                      f"{time.monotonic() - state['t0']:.0f} s", flush=True)
        elif "ERROR" in line or "error" in line.lower()[:10]:
            print(f"  {label}: {line}", flush=True)
    return on_line


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignment", default="spatial")
    parser.add_argument("--no-report", action="store_true",
                        help=f"print the table only; do not rewrite {REPORT.relative_to(REPO)}")
    parser.add_argument("--kernel-venv", default=str(REPO / ".venv-kernel"),
                        help="the grading kernel's venv (make bench-grade passes KERNEL_VENV)")
    args = parser.parse_args()
    global KERNEL_VENV
    KERNEL_VENV = args.kernel_venv
    # both copies grade with the kernel venv's Python, as make grade does
    Course.default_settings = Settings(kernel_python=str(Path(KERNEL_VENV) / "bin" / "python"))
    if args.students < 1:
        sys.exit("error: --students must be at least 1")

    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        stock, mine = Course(copy_course(Path(tmp) / "stock"), args.assignment), None
        print(f"building the course copies in {tmp} ...", flush=True)
        make(stock.root, "release", f"ASSIGNMENT={args.assignment}")
        mine = Course(copy_course(Path(tmp) / "parallel"), args.assignment)
        make(mine.root, "release", f"ASSIGNMENT={args.assignment}")
        students = synthetic_class(stock, args.students)
        for course in (stock, mine):
            hand_in(course.root, args.assignment, students)
        print(f"a class of {len(students)}: "
              f"{sum(s.endswith('correct') for s in students)} correct, "
              f"{sum(s.endswith('buggy') for s in students)} buggy, "
              f"{sum(s.endswith('blank') for s in students)} blank", flush=True)

        print("stock: nbgrader autograde (sequential) ...", flush=True)
        t0 = time.monotonic()
        status, lines = stock.nbgrader(["autograde", args.assignment, "--force"], "autograde",
                                       ticker("stock", len(students)))
        t_stock = time.monotonic() - t0
        if status != 0:
            sys.exit(f"error: stock nbgrader autograde failed; see {stock.log_path('autograde')}")

        print(f"parallel: make grade JOBS={args.jobs} ...", flush=True)
        t0 = time.monotonic()
        make(mine.root, "grade", f"ASSIGNMENT={args.assignment}", f"JOBS={args.jobs}",
             on_line=ticker("parallel", len(students)))
        t_mine = time.monotonic() - t0

        a, b = cell_scores(stock), cell_scores(mine)
        differ = sorted(s for s in set(a) | set(b) if a.get(s) != b.get(s))
    n = len(students)
    rate_stock, rate_mine = 60 * n / t_stock, 60 * n / t_mine
    identical = "yes" if not differ else f"NO: {len(differ)} students differ ({', '.join(differ[:5])})"
    table = "\n".join([
        f"Measured by `make bench-grade` on {datetime.date.today()}: {os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()}; assignment "
        f"`{args.assignment}`, a synthetic class of {n} (40 % correct, 40 % buggy: the "
        f"mutants in turn, 20 % blank), sandboxed kernels, SQLite gradebook; both runs one "
        f"after the other in one process.",
        "",
        "| run | submissions | wall time | submissions/min |",
        "|---|---:|---:|---:|",
        f"| stock `nbgrader autograde` (sequential) | {n} | {t_stock:.0f} s | {rate_stock:.1f} |",
        f"| `make grade JOBS={args.jobs}` | {n} | {t_mine:.0f} s | {rate_mine:.1f} |",
        "",
        f"Speed-up: **{rate_mine / rate_stock:.2f}x**. Identical grades (every graded cell of "
        f"every student): **{identical}**.",
    ])
    print("\n" + table)
    if not args.no_report:
        report_file.write(REPORT, TITLE, "make bench-grade", EXPLAINED_IN, table)
        print(f"\nwrote {REPORT.relative_to(REPO)}")
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
