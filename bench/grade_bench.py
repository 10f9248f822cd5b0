"""`make bench-grade`: a synthetic class graded by stock nbgrader and by `make grade JOBS=2`.

The class (default 200 students) mixes correct submissions (40 %), buggy ones (40 %: the
mutants of gradebook_tests/mutants.py in turn) and blank ones (20 %). Two identical copies
of the course receive it; one is graded by stock sequential `nbgrader autograde <a> --force`,
the other by `make grade JOBS=2`, one after the other in this one run. Then, as the limit,
the same class's notebooks (hidden test cells restored) run as plain code (plain_run.py: one
Python process per notebook, no nbgrader, no kernel), JOBS at a time. Last, `make grade` runs
again on an already graded class of 6, for its fixed cost.

The script prints and writes to reports/bench-grade.md (a file this script owns): submissions
per minute and their ratio, the per-student cost of grading against the notebooks' own run time,
that every student got the same points in every graded cell in both runs, where each student's
grading time goes (the phases lines the workers log, coursetools/phases.py), and the fixed cost.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO), str(REPO / "gradebook_tests")]

import report_file  # noqa: E402 - bench/, next to this script
from coursetools import phases as phases_module  # noqa: E402
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


def busy_cores(seconds=3.0):
    """Cores kept busy by OTHER processes right now (from /proc/stat; None elsewhere): the
    load this shared machine carries besides the benchmark, measured while it waits."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]   # total, idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return None
    cores = os.cpu_count() or 1
    return cores * (1 - (idle1 - idle0) / max(total1 - total0, 1))


def plain_runs(students, notebooks_dir, assignment, jobs, kernel_python):
    """Run every student's graded notebook as plain code (plain_run.py), ``jobs`` at a time.

    Returns (wall seconds of the whole run, {student: (wall s, CPU s, cells failed)}).
    """
    # the grading kernel's environment (launcher.py): one BLAS thread, no bytecode written
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMEXPR_NUM_THREADS="1")
    results, todo, lock = {}, list(students), threading.Lock()

    def one(student, scratch):
        src = notebooks_dir / student / assignment
        work = scratch / student
        shutil.copytree(src, work)
        walls, cpus, failed = 0.0, 0.0, 0
        for nb in sorted(work.glob("*.ipynb")):
            out = work / (nb.stem + ".plain.json")
            started = time.monotonic()
            proc = subprocess.Popen([kernel_python, str(HERE / "plain_run.py"), str(nb), str(out)],
                                    cwd=work, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            walls += time.monotonic() - started
            cpus += usage.ru_utime + usage.ru_stime
            failed += json.loads(out.read_text())["failed"] if out.is_file() else 1
        shutil.rmtree(work, ignore_errors=True)
        return walls, cpus, failed

    def lane(scratch):
        while True:
            with lock:
                if not todo:
                    return
                student = todo.pop(0)
            results[student] = one(student, scratch)

    with tempfile.TemporaryDirectory(prefix="plain-") as scratch:
        t0 = time.monotonic()
        lanes = [threading.Thread(target=lane, args=(Path(scratch),)) for _ in range(jobs)]
        for t in lanes:
            t.start()
        for t in lanes:
            t.join()
        return time.monotonic() - t0, results


def kind(student):
    return student.rsplit("-", 1)[-1]


def mean(values):
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


STOCK_TIMING = re.compile(r"timing: (.*)$")


def stock_timings(log_text):
    """SandboxedExecute's "timing: kernel_start 0.7 s, ..." lines of a stock nbgrader log."""
    found = []
    for line in log_text.splitlines():
        m = STOCK_TIMING.search(line)
        if m:
            found.append({k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+) s", m.group(1))})
    return found


PHASE_ROWS = [
    ("setup", "nbgrader: student and submission in the gradebook, files copied"),
    ("sanitize", "nbgrader's sanitize pass (RepairCells, OverwriteCells, ...)"),
    ("kernel_start", "sandboxed kernel start (bubblewrap, Python, ipykernel, the recorder)"),
    ("student_cells", "the student's cells (student phase)"),
    ("checks", "the hidden checks in the kernel (check phase)"),
    ("kernel_stop", "kernel stop"),
    ("verify", "trusted replay of the records (VerifyHiddenChecks)"),
    ("save", "nbgrader: scores into the gradebook (SaveAutoGrades, ...)"),
    ("io", "notebooks read, copied and written"),
    ("ahead", "the next student's folder prepared and kernel started (coursetools/prewarm.py)"),
    ("score", "the worker reads the student's total"),
    ("other", "the rest (converter set-up, replays after a dead kernel, ...)"),
]


def breakdown(phases, stock, plain):
    """The per-student breakdown table (means over the class)."""
    rows = ["| per student (mean) | `make grade` (wall s) | stock (wall s) |", "|---|---:|---:|"]
    for key, what in PHASE_ROWS:
        ours = mean(p["wall"].get(key, 0.0) for p in phases)
        theirs = (f"{mean(t.get(key, 0.0) for t in stock):.2f}"
                  if stock and key in ("kernel_start", "student_cells", "checks", "kernel_stop")
                  else "")
        rows.append(f"| {key}: {what} | {ours:.2f} | {theirs} |")
    rows.append(f"| **total** | **{mean(p['wall'].get('total', 0.0) for p in phases):.2f}** | |")
    rows.append(f"| CPU: the worker process | {mean(p['cpu'].get('worker', 0.0) for p in phases):.2f} | |")
    rows.append(f"| CPU: the kernel's processes | {mean(p['cpu'].get('kernel', 0.0) for p in phases):.2f} "
                f"| {mean(t.get('kernel_cpu', 0.0) for t in stock):.2f} |" if stock else "")
    rows.append(f"| the notebook as plain code: wall / CPU | {mean(w for w, _, _ in plain.values()):.2f}"
                f" / {mean(c for _, c, _ in plain.values()):.2f} | |")
    return "\n".join(r for r in rows if r)


def by_kind(phases_by_student, plain):
    rows = ["| submissions | n | plain code: CPU s | grading: worker + kernel CPU s | grading: wall s |",
            "|---|---:|---:|---:|---:|"]
    for k in ("correct", "buggy", "blank"):
        names = [s for s in plain if kind(s) == k]
        if not names:
            continue
        ph = [phases_by_student[s] for s in names if s in phases_by_student]
        rows.append(f"| {k} | {len(names)} | {mean(plain[s][1] for s in names):.2f} | "
                    f"{mean(p['cpu'].get('worker', 0) + p['cpu'].get('kernel', 0) for p in ph):.2f} | "
                    f"{mean(p['wall'].get('total', 0) for p in ph):.2f} |")
    return "\n".join(rows)


def student_phases(log_text):
    """{student: phases} from a `make grade` log (each "==== student" entry ends with one)."""
    found, current = {}, None
    for line in log_text.splitlines():
        if line.startswith("==== "):
            current = line.split()[1]
        elif current and phases_module.MARK in line:
            found[current] = phases_module.parse(line)[0]
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cluster", default="", help="CLUSTER= of the parallel run (e.g. dask)")
    parser.add_argument("--assignment", default="spatial")
    parser.add_argument("--no-report", action="store_true",
                        help=f"print the table only; do not rewrite {REPORT.relative_to(REPO)}")
    parser.add_argument("--kernel-venv", default=str(REPO / ".venv-kernel"),
                        help="the grading kernel's venv (make bench-grade passes KERNEL_VENV)")
    args = parser.parse_args()
    global KERNEL_VENV
    KERNEL_VENV = args.kernel_venv
    kernel_python = str(Path(KERNEL_VENV) / "bin" / "python")
    # both copies grade with the kernel venv's Python, as make grade does
    Course.default_settings = Settings(kernel_python=kernel_python)
    if args.students < 1:
        sys.exit("error: --students must be at least 1")
    cluster = [f"CLUSTER={args.cluster}"] if args.cluster else []
    load = {}

    with tempfile.TemporaryDirectory(prefix="grade-bench-") as tmp:
        stock = Course(copy_course(Path(tmp) / "stock"), args.assignment)
        print(f"building the course copies in {tmp} ...", flush=True)
        make(stock.root, "release", f"ASSIGNMENT={args.assignment}")
        mine = Course(copy_course(Path(tmp) / "parallel"), args.assignment)
        make(mine.root, "release", f"ASSIGNMENT={args.assignment}")
        six = Course(copy_course(Path(tmp) / "six"), args.assignment)
        make(six.root, "release", f"ASSIGNMENT={args.assignment}")
        students = synthetic_class(stock, args.students)
        for course in (stock, mine):
            hand_in(course.root, args.assignment, students)
        hand_in(six.root, args.assignment, synthetic_class(six, 6))
        print(f"a class of {len(students)}: "
              f"{sum(s.endswith('correct') for s in students)} correct, "
              f"{sum(s.endswith('buggy') for s in students)} buggy, "
              f"{sum(s.endswith('blank') for s in students)} blank", flush=True)

        load["stock"] = busy_cores()
        print("stock: nbgrader autograde (sequential) ...", flush=True)
        t0 = time.monotonic()
        status, lines = stock.nbgrader(["autograde", args.assignment, "--force"], "autograde",
                                       ticker("stock", len(students)))
        t_stock = time.monotonic() - t0
        if status != 0:
            sys.exit(f"error: stock nbgrader autograde failed; see {stock.log_path('autograde')}")

        load["parallel"] = busy_cores()
        print(f"parallel: make grade JOBS={args.jobs} {' '.join(cluster)} ...", flush=True)
        t0 = time.monotonic()
        make(mine.root, "grade", f"ASSIGNMENT={args.assignment}", f"JOBS={args.jobs}", *cluster,
             on_line=ticker("parallel", len(students)))
        t_mine = time.monotonic() - t0

        load["plain"] = busy_cores()
        print(f"plain: the class's notebooks as plain code, {args.jobs} at a time ...", flush=True)
        t_plain, plain = plain_runs(sorted(students), stock.path("autograded"), args.assignment,
                                    args.jobs, kernel_python)

        print("fixed cost: make grade again on an already graded class of 6 ...", flush=True)
        make(six.root, "grade", f"ASSIGNMENT={args.assignment}", f"JOBS={args.jobs}")
        load["six"] = busy_cores()
        t0 = time.monotonic()
        out = make(six.root, "grade", f"ASSIGNMENT={args.assignment}", f"JOBS={args.jobs}")
        t_six = time.monotonic() - t0
        spans = [float(m.group(1)) for line in out
                 if (m := re.search(r"time: [\d.]+ s, of which ([\d.]+) s grading", line))]
        t_six_grading = spans[-1] if spans else float("nan")

        a, b = cell_scores(stock), cell_scores(mine)
        differ = sorted(s for s in set(a) | set(b) if a.get(s) != b.get(s))
        phases = student_phases(mine.log_path("autograde").read_text(encoding="utf-8"))
        stock_kernel = stock_timings(stock.log_path("autograde").read_text(encoding="utf-8"))

    n = len(students)
    rate_stock, rate_mine, rate_plain = 60 * n / t_stock, 60 * n / t_mine, 60 * n / t_plain
    # grading: core-seconds per student from the wall time (idle cores and every fixed cost
    # count); the limit: the notebooks' own CPU time (what a free core takes to run them)
    cost_mine = args.jobs * t_mine / n
    cost_plain = sum(c for _, c, _ in plain.values()) / n
    cpu_mine = mean(p["cpu"].get("worker", 0.0) + p["cpu"].get("kernel", 0.0)
                    for p in phases.values())
    identical = "yes" if not differ else f"NO: {len(differ)} students differ ({', '.join(differ[:5])})"
    loads = ", ".join(f"{k} {v:.1f}" for k, v in load.items() if v is not None)
    table = "\n".join([
        f"Measured by `make bench-grade` on {datetime.date.today()}: {os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()}; assignment "
        f"`{args.assignment}`, a synthetic class of {n} (40 % correct, 40 % buggy: the "
        f"mutants in turn, 20 % blank), sandboxed kernels, SQLite gradebook; the runs one "
        f"after the other in one process. Cores busy with other work just before each run "
        f"(a shared machine): {loads or 'unknown'}.",
        "",
        "| run | submissions | wall time | submissions/min | core-seconds per student |",
        "|---|---:|---:|---:|---:|",
        f"| stock `nbgrader autograde` (sequential, one core) | {n} | {t_stock:.0f} s | "
        f"{rate_stock:.1f} | {t_stock / n:.2f} |",
        f"| `make grade JOBS={args.jobs}{' ' + ' '.join(cluster) if cluster else ''}` | {n} | "
        f"{t_mine:.0f} s | {rate_mine:.1f} | {cost_mine:.2f} |",
        f"| the same notebooks as plain code, {args.jobs} at a time: the limit | {n} | "
        f"{t_plain:.0f} s | {rate_plain:.1f} | {cost_plain:.2f} (CPU time) |",
        "",
        f"Speed-up over stock: **{rate_mine / rate_stock:.2f}x**. Grading costs "
        f"**{cost_mine / cost_plain:.2f}x** the notebooks' own run time (core-seconds per "
        f"student: `make grade`'s wall time x {args.jobs} / {n}, fixed costs and idle cores "
        f"included, against the CPU time of the plain runs; counting CPU time on both sides, "
        f"{cpu_mine / cost_plain:.2f}x). Identical grades (every graded cell of every "
        f"student): **{identical}**.",
        "",
        f"Fixed cost: `make grade JOBS={args.jobs}` on an already graded class of 6 took "
        f"{t_six:.1f} s, of which {t_six_grading:.1f} s grading: **{t_six - t_six_grading:.1f} s** "
        f"outside grading (release check, sandbox check, workers starting, summary, integrity "
        f"check).",
        "",
        "Where a student's time goes in `make grade` (means over the class, from the phases "
        "line the workers log for each student, `coursetools/phases.py`; stock: the timing "
        "line of the sandboxed kernel):",
        "",
        breakdown(list(phases.values()), stock_kernel, plain),
        "",
        by_kind(phases, plain),
    ])
    print("\n" + table)
    if not args.no_report:
        report_file.write(REPORT, TITLE, "make bench-grade", EXPLAINED_IN, table)
        print(f"\nwrote {REPORT.relative_to(REPO)}")
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
