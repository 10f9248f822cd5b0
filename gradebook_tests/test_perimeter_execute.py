"""SandboxedExecute on small fixture notebooks, with a plain (unsandboxed) kernel: seconds.

What is checked is the executor's own logic, which the sandbox does not change: the two
phases (student cells first, hidden checks after the last one, each check seeing the
functions as they stood at its place), sealed records, output caps counting every message,
the time budget, kernel restarts, and no grader variable in the kernel's environment.
The sandboxed end-to-end batch is test_adversarial.py.
"""

import json
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from coursetools.checks.protocol import RECORD_MIME
from coursetools.perimeter.sandboxed_execute import SandboxedExecute

SETUP = f"""
from IPython.display import display as _show
_grader_secret = "SECRET-{'x' * 20}"
def _grader_emit(value):
    _show({{{RECORD_MIME!r}: value}}, raw=True)
"""


def graded(source, grade_id, points=1):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "locked": True,
                                 "points": points, "schema_version": 3, "solution": False,
                                 "task": False}
    return cell


def notebook(*cells):
    nb = new_notebook(cells=[graded(SETUP, "grader_setup", 0), *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def run(nb, tmp_path, **traits):
    traits = {"sandbox": False, "timeout": 20, "course_root": str(tmp_path), **traits}
    ex = SandboxedExecute(**traits)
    nb, resources = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return nb, resources["cnn_grader"]


def text_of(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")


def enames(cell):
    return [o.get("ename") for o in cell.outputs if o.get("output_type") == "error"]


def test_checks_run_after_every_student_cell_and_see_functions_where_they_stood(tmp_path):
    nb = notebook(
        new_code_cell("def f(x):\n    return x + 1\nprint('first f')"),
        graded("_grader_emit({'f': f(1), 'secret_seen_by_students': None})", "check_f"),
        new_code_cell("def f(x):\n    return 100\n"
                      "print('grader in kernel:', '_grader_secret' in globals())"),
        graded("_grader_emit({'f': f(1)})", "check_f_again"))
    nb, state = run(nb, tmp_path)
    assert state["records"]["check_f"] == [{"f": 2, "secret_seen_by_students": None}]
    assert state["records"]["check_f_again"] == [{"f": 100}]
    # the student cell after the first check ran before any grader code was in the kernel
    assert "grader in kernel: False" in text_of(nb.cells[3])


def test_a_later_message_cannot_rewrite_a_sealed_record(tmp_path):
    """update_display_data / transient display ids of another cell are dropped (issue 12.1)."""
    nb = notebook(
        new_code_cell("from IPython.display import update_display\n"
                      "def forge():\n"
                      f"    update_display({{{RECORD_MIME!r}: {{'forged': True}}}}, "
                      "display_id='rec', raw=True)\n    return 1"),
        graded(f"_h = _show({{{RECORD_MIME!r}: {{'honest': True}}}}, raw=True, display_id='rec')",
               "first"),
        graded("_grader_emit({'x': forge()})", "second"))
    nb, state = run(nb, tmp_path)
    assert state["records"]["first"] == [{"honest": True}]
    assert state["records"]["second"] == [{"x": 1}]
    # the records left the cells (only the sealed copy is judged, the verdict replaces them)
    assert not any(RECORD_MIME in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert all("transient" not in o for c in nb.cells for o in c.get("outputs", []))


def test_every_byte_counts_against_the_cell_cap_updates_included(tmp_path):
    flood = ("from IPython.display import display, update_display\n"
             "for i in range(300):\n"
             "    display({'text/plain': 'x'}, raw=True, display_id=f'd{i}')\n"
             "for i in range(300):\n"
             "    update_display({'text/plain': 'y' * 100_000}, display_id=f'd{i}', raw=True)\n")
    nb = notebook(new_code_cell(flood), new_code_cell("print('after the flood')"))
    nb, state = run(nb, tmp_path, max_output_bytes=200_000)
    cell = nb.cells[1]
    assert "[output limit: this cell sent more than 200,000 characters" in text_of(cell)
    assert len(json.dumps(cell.outputs)) < 250_000
    assert "after the flood" in text_of(nb.cells[2])          # interrupted, not killed
    assert "output limit" in state["incidents"]


def test_the_notebook_cap_stops_many_cells_under_the_cell_cap(tmp_path):
    cells = [new_code_cell("print('z' * 90_000)") for _ in range(6)]
    nb, state = run(notebook(*cells), tmp_path, max_output_bytes=100_000,
                    max_notebook_output_bytes=300_000)
    assert "[output limit: the notebook sent more than 300,000" in "".join(text_of(c) for c in nb.cells)
    assert len(json.dumps([c.outputs for c in nb.cells])) < 350_000


def test_the_time_budget_stops_student_cells_and_keeps_time_for_the_checks(tmp_path):
    nb = notebook(
        new_code_cell("def f():\n    return 7"),
        graded("_grader_emit({'f': f()})", "check_f"),
        *[new_code_cell("import time\ntime.sleep(2)") for _ in range(4)])
    nb, state = run(nb, tmp_path, time_budget=6, checks_reserve=3)
    not_run = [i for i, c in enumerate(nb.cells) if "TimeBudget" in enames(c)]
    assert not_run and not_run[-1] == len(nb.cells) - 1, not_run
    assert state["records"]["check_f"] == [{"f": 7}]     # the check still ran
    assert any("time budget" in i for i in state["incidents"])


def test_a_dead_kernel_is_restarted_and_grading_goes_on(tmp_path):
    nb = notebook(
        new_code_cell("def f():\n    return 5"),
        graded("_grader_emit({'f': f()})", "check_f"),
        new_code_cell("import os\nos._exit(1)"),
        new_code_cell("def g():\n    return f() + 1"),
        graded("_grader_emit({'g': g()})", "check_g"))
    nb, state = run(nb, tmp_path)
    assert "KernelRestarted" in enames(nb.cells[3])
    assert state["records"]["check_f"] == [{"f": 5}]
    assert state["records"]["check_g"] == [{"g": 6}]    # f re-created by the replay


def test_the_kernel_cannot_tell_it_is_being_graded(tmp_path, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    nb = notebook(new_code_cell("import os\nprint(sorted(k for k in os.environ if 'NBGRADER' in k))"))
    nb, _ = run(nb, tmp_path)
    assert text_of(nb.cells[1]).strip() == "[]"


def test_comm_messages_are_dropped(tmp_path):
    code = ("from comm import create_comm\n"
            "c = create_comm(target_name='jupyter.widget', data={'state': {'blob': 'q' * 100000}})\n"
            "print('sent')")
    nb, _ = run(notebook(new_code_cell(code)), tmp_path)
    assert "widgets" not in nb.metadata
    assert len(nbformat.writes(nb)) < 20_000


@pytest.mark.parametrize("budget", [0])
def test_no_budget_means_no_deadline(tmp_path, budget):
    nb, state = run(notebook(new_code_cell("print('ok')")), tmp_path, time_budget=budget)
    assert text_of(nb.cells[1]) == "ok\n" and not state["incidents"]


def outputs_text(cell):
    return json.dumps(cell.get("outputs", []))


def test_error_messages_count_against_the_cap(tmp_path):
    """Errors were always kept whole: 60 errors of ~1 MB made a 54 MB notebook (issue 12.2)."""
    flood = ("_ip = get_ipython()\n"
             "for _k in range(30):\n"
             "    _ip._showtraceback(Exception, 'e' * 9000, ['t' * 9000] * 20)\n")
    nb = notebook(new_code_cell(flood), new_code_cell("print('after the flood')"))
    nb, state = run(nb, tmp_path, max_output_bytes=200_000)
    cell = nb.cells[1]
    assert len(outputs_text(cell)) < 250_000
    assert enames(cell)[0] == "Exception"                      # still marked failed
    assert "[output limit: this cell sent more than 200,000 characters" in text_of(cell)
    assert "after the flood" in text_of(nb.cells[2])


def test_the_error_of_the_execute_reply_is_cut_short(tmp_path):
    """nbgrader appends the execute_reply's error when no error output has its name: with the
    error display disabled, a 3 MB exception message went into the notebook whole."""
    code = ("get_ipython().showtraceback = lambda *args, **kwargs: None\n"
            "raise ValueError('r' * 3_000_000)")
    nb, _ = run(notebook(new_code_cell(code)), tmp_path)
    assert enames(nb.cells[1]) == ["ValueError"]
    assert len(outputs_text(nb.cells[1])) < 2_000


LEAKER = f"""
import sys, linecache
def _leak(*_args, **_kwargs):
    secret = globals().get('_grader_secret', 'none') + ' ' + ' '.join(
        ''.join(v[2]) for v in list(linecache.cache.values()) if isinstance(v, tuple) and len(v) > 2)
    print('[output limit] ' + secret, file=sys.stderr)
    print(secret)
    get_ipython()._showtraceback(Exception, secret, [secret])
    from IPython.display import display
    display({{'text/plain': secret, {RECORD_MIME!r}: {{'check': secret}}}}, raw=True)
get_ipython().events.register('post_run_cell', _leak)

class SECRETHOLDER(BaseException):
    pass

def f():
    _leak()
    raise SECRETHOLDER(globals().get('_grader_secret'))
"""


def test_nothing_student_code_prints_in_the_check_phase_survives(tmp_path):
    """Student code hooked into IPython, or run by a check, printed hidden material into the
    grader cells' outputs (kept by VerifyHiddenChecks as "kernel errors", issue 12.3)."""
    nb = notebook(new_code_cell(LEAKER), graded("_grader_emit({'f': f()})", "check_f"),
                  graded("_grader_reference = 'REFERENCE-' + _grader_secret", "grader_reference", 0))
    nb, state = run(nb, tmp_path)
    for cell in nb.cells[2:] + [nb.cells[0]]:
        text = outputs_text(cell)
        assert "SECRET" not in text and "linecache" not in text, text[:500]
        assert "[output limit" not in text
    assert enames(nb.cells[2]) == ["Exception"]     # Python's names only (not SECRETHOLDER), once
    assert len(state["records"]["check_f"]) == 2      # forged: judged (no points), never shown


def test_a_stalled_silent_call_stops_at_the_time_budget(tmp_path):
    """capture()/restore() of the executor waited Execute.timeout whatever the budget."""
    hook = ("import sys, time\n"
            "_k = sys.modules['coursetools.checks.kernel']\n"
            "_k.capture = lambda *a: time.sleep(120)\n"
            "def f():\n    return 1\n")
    nb = notebook(new_code_cell(hook), graded("_grader_emit({'f': f()})", "check_f"))
    started = time.monotonic()
    nb, state = run(nb, tmp_path, timeout=60, time_budget=8, checks_reserve=4)
    assert time.monotonic() - started < 30
    assert state["records"].get("check_f", []) == [] or state["records"]["check_f"] == [{"f": 1}]


def test_replays_after_a_restart_stop_at_the_time_budget(tmp_path):
    """A kernel that dies in the check phase is brought back by running every earlier cell
    again: with the student cells filling their share of the budget, that replay alone ran
    as long again, past the budget (issue 12.7: replay abuse)."""
    slow = [new_code_cell("import time\ntime.sleep(0.9)") for _ in range(10)]
    dies = "import os\ndef f():\n    os._exit(1)\n"
    nb = notebook(new_code_cell(dies), *[graded("_grader_emit({'f': f()})", f"check_{k}")
                                         for k in range(3)], *slow)
    started = time.monotonic()
    nb, state = run(nb, tmp_path, time_budget=10, checks_reserve=2)
    took = time.monotonic() - started
    assert took < 10 + 4, f"{took:.0f} s for a budget of 10 s"
    assert any("budget" in i for i in state["incidents"]), state["incidents"]


def test_a_timeout_in_a_check_is_named_as_such(tmp_path):
    """The kernel's text is dropped from grader cells, but a timeout stays a timeout."""
    nb = notebook(new_code_cell("import time\ndef f():\n    time.sleep(30)\n"),
                  graded("_grader_emit({'f': f()})", "check_f"))
    nb, state = run(nb, tmp_path, timeout=3)
    assert "CellTimeoutError" in enames(nb.cells[2]), nb.cells[2].outputs
    assert state["records"]["check_f"] == []


def test_grader_trusted_cells_never_reach_the_kernel(tmp_path):
    """The whole network's reference lives in such a cell: only the trusted grader runs it."""
    nb = notebook(graded("_trusted = 'reference loss'\nprint('ran in the kernel')",
                         "grader_trusted_reference", 0),
                  graded("_grader_emit({'seen': '_trusted' in globals()})", "check_trusted"))
    nb, state = run(nb, tmp_path)
    assert state["records"]["check_trusted"] == [{"seen": False}]
    assert not nb.cells[1].get("outputs")


def test_the_kernel_is_dead_and_reaped_when_the_notebook_is_done(tmp_path):
    """The kernel is killed and waited for (no zombie, no process left to a later student)."""
    import os

    nb = notebook(new_code_cell("import os\nprint(os.getpid())"))
    nb, info = run(nb, tmp_path)
    pid = int(text_of(nb.cells[1]).strip())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)     # a zombie would still answer
    assert info["timing"]["kernel_cpu"] > 0


# --- kernels started ahead (a grading worker starts its next student's kernel early) --------

PID_AND_DATA = "import os\nprint(os.getpid(), open('data.txt').read())"


def run_in(folder):
    """Run the notebook printing the kernel's pid and data.txt in ``folder`` -> (pid, data)."""
    nb, _ = run(notebook(new_code_cell(PID_AND_DATA)), folder, course_root=str(folder.parent))
    pid, data = text_of(nb.cells[1]).split(None, 1)
    return int(pid), data


def ahead_pid(folder):
    from coursetools.perimeter import sandboxed_execute

    return sandboxed_execute._AHEAD[str(folder.resolve())].km.provisioner.process.pid


def alive(pid):
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def two_folders(tmp_path):
    from coursetools.perimeter.sandboxed_execute import discard_ahead

    folders = []
    for name in ("alice", "bob"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "data.txt").write_text(f"{name}'s data")
        folders.append(tmp_path / name)
    yield folders
    discard_ahead()


def launch_ahead(folder):
    SandboxedExecute(sandbox=False, timeout=20, course_root=str(folder.parent)).launch_ahead(str(folder))
    return ahead_pid(folder)


def test_a_kernel_started_ahead_runs_the_notebook_of_its_folder_once(two_folders):
    alice, _ = two_folders
    pid = launch_ahead(alice)
    assert run_in(alice) == (pid, "alice's data\n")
    assert not alive(pid)
    assert run_in(alice)[0] != pid          # the next notebook there: a new kernel


def test_a_kernel_started_ahead_never_runs_another_folders_notebook(two_folders):
    alice, bob = two_folders
    pid = launch_ahead(alice)
    got_pid, data = run_in(bob)
    assert got_pid != pid and data == "bob's data\n"
    assert alive(pid)                       # still waiting for alice's notebook
    from coursetools.perimeter.sandboxed_execute import discard_ahead

    discard_ahead(str(alice))
    assert not alive(pid)


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_a_kernel_started_ahead_is_not_used_when_its_folder_changed(two_folders, change):
    alice, _ = two_folders
    pid = launch_ahead(alice)
    if change == "edit":
        (alice / "data.txt").write_text("alice's NEW data")
    elif change == "add":
        (alice / "extra.npz").write_bytes(b"x")
    else:
        (alice / "data.txt").unlink()
        (alice / "data.txt").write_text("alice's data")     # same content again: same view
    got_pid, data = run_in(alice)
    assert (got_pid == pid) == (change == "remove"), (change, got_pid, pid)
    assert data == ("alice's NEW data\n" if change == "edit" else "alice's data\n")
    assert not alive(pid)


def test_a_kernel_slow_to_start_is_waited_for(tmp_path):
    """A kernel that answers its first kernel_info requests only after a few seconds (a
    loaded machine) answers them all at once, late: any of those replies means ready (the
    executor once waited for a reply to its latest request only, and gave up after 60 s)."""
    import sys

    slow = tmp_path / "slow-python"
    slow.write_text(f"#!/bin/sh\nsleep 2.5\nexec {sys.executable} \"$@\"\n")
    slow.chmod(0o755)
    nb, info = run(notebook(new_code_cell("print('up')")), tmp_path, kernel_python=str(slow),
                   startup_timeout=30)
    assert text_of(nb.cells[1]) == "up\n"


def test_a_message_beyond_the_size_bound_never_reaches_the_grader(tmp_path):
    """One display larger than MAX_MESSAGE_BYTES is dropped by zmq before the grader reads it
    (the cell is given up and the kernel restarted); grading goes on, the checks count."""
    from coursetools.perimeter.sandboxed_execute import MAX_MESSAGE_BYTES, message_size

    big = MAX_MESSAGE_BYTES + (16 << 20)
    nb = notebook(
        new_code_cell("def f():\n    return 3"),
        new_code_cell(f"from IPython.display import display\n"
                      f"display({{'text/plain': 'x' * {big}}}, raw=True)"),
        new_code_cell("print('after the flood')"),
        graded("_grader_emit({'f': f()})", "check_f"))
    seen = []

    class Watched(SandboxedExecute):
        def process_message(self, msg, cell, cell_index):
            seen.append(message_size(msg))
            return super().process_message(msg, cell, cell_index)

    ex = Watched(sandbox=False, timeout=20, course_root=str(tmp_path))
    nb, resources = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert max(seen) < MAX_MESSAGE_BYTES, f"a message of {max(seen):,} characters was read"
    assert "KernelRestarted" in enames(nb.cells[2])
    assert "after the flood" in text_of(nb.cells[3])
    assert resources["cnn_grader"]["records"]["check_f"] == [{"f": 3}]


def test_cells_that_ran_without_output_are_not_called_not_run(tmp_path):
    """When the kernel is given up on in the check phase, the student cells and the checks
    that did run keep no 'not run' note (they ran, without output)."""
    nb = notebook(
        new_code_cell("import os\nx = 1\ndef f():\n    return x\ndef g():\n    os._exit(1)"),
        graded("_grader_emit({'f': f()})", "check_f"),
        graded("_grader_emit({'g': g()})", "check_g"),
        new_code_cell("y = 2"))
    nb, state = run(nb, tmp_path, max_restarts=0)
    assert state["records"]["check_f"] == [{"f": 1}]
    assert enames(nb.cells[1]) == [] and enames(nb.cells[4]) == []
    assert "KernelStopped" not in enames(nb.cells[2])
    assert "KernelStopped" in enames(nb.cells[3])


def test_a_record_nested_too_deeply_costs_that_check_only(tmp_path):
    """A record nested deeper than Python's recursion allows (the executor reads it while the
    cell runs) costs that check its record and the kernel a restart; the next check counts."""
    nb = notebook(
        new_code_cell("def deep():\n    v = 0\n    for _ in range(5000):\n        v = [v]\n    return v"),
        graded("_grader_emit(deep())", "check_deep"),
        graded("_grader_emit({'ok': 1})", "check_ok"))
    nb, state = run(nb, tmp_path)
    assert state["records"]["check_deep"] == []
    assert state["records"]["check_ok"] == [{"ok": 1}]


def test_a_kernel_that_cannot_be_started_again_fails_the_notebook_visibly(tmp_path):
    """A restart whose kernel does not start (the machine is out of memory or processes) is
    the grading machine's trouble: it escapes, so that nbgrader lists the notebook as not
    graded, instead of scoring the remaining checks 0 without a word."""
    class NoSecondKernel(SandboxedExecute):
        starts = 0

        def _start_kernel(self):
            NoSecondKernel.starts += 1
            if NoSecondKernel.starts > 1:
                raise RuntimeError("Kernel didn't respond in 60 seconds")
            return super()._start_kernel()

    nb = notebook(
        new_code_cell("import os\ndef f():\n    return 1\ndef g():\n    os._exit(1)"),
        graded("_grader_emit({'f': f()})", "check_f"),
        graded("_grader_emit({'g': g()})", "check_g"))
    ex = NoSecondKernel(sandbox=False, timeout=20, course_root=str(tmp_path))
    with pytest.raises(RuntimeError, match="didn't respond"):
        ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})


PLOT = ("import matplotlib\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\n"
        "print(matplotlib.get_backend().lower())")


def kinds(cell):
    return sorted({key for o in cell.outputs for key in o.get("data", {})})


def test_figures_are_not_drawn_while_grading_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb, _ = run(notebook(new_code_cell(PLOT)), tmp_path)
    assert text_of(nb.cells[1]).strip() == "agg"
    assert "image/png" not in kinds(nb.cells[1])


def test_the_kernel_keeps_freed_memory_whatever_the_graders_allocator_setting(tmp_path, monkeypatch):
    """KERNEL_ALLOCATOR: the kernel's glibc reuses freed memory (fewer page faults)."""
    from coursetools.perimeter.sandboxed_execute import KERNEL_ALLOCATOR

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "0")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    nb, _ = run(notebook(new_code_cell(
        "import os; print(os.environ.get('MALLOC_MMAP_THRESHOLD_'), "
        "os.environ.get('MALLOC_TRIM_THRESHOLD_'))")), tmp_path)
    assert text_of(nb.cells[1]).split() == [str(32 << 20), str(128 << 20)]
    assert KERNEL_ALLOCATOR == {"MALLOC_MMAP_THRESHOLD_": str(32 << 20),
                                "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}


def test_draw_figures_draws_them_whatever_the_graders_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb, _ = run(notebook(new_code_cell(PLOT)), tmp_path, draw_figures=True)
    assert "inline" in text_of(nb.cells[1])
    assert "image/png" in kinds(nb.cells[1])
