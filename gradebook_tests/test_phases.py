"""The grading time breakdown (coursetools/phases.py) and the kernel CPU reading it relies on.

No grading here (seconds): the breakdown lines are written by every `make grade` worker and
read by `make bench-grade`; test_parallel.py checks them in a real grading log.
"""

import subprocess
import sys
import time

from coursetools import phases
from coursetools.perimeter.sandbox import process_tree_cpu


def test_a_phases_line_reads_back_with_its_numbers():
    p = phases.Phases()
    p.add("setup", 0.25)
    p.add("setup", 0.5)
    with p.span("verify"):
        time.sleep(0.01)
    p.add("worker", 1.5, p.cpu)
    text = "[INFO] something\n" + p.line() + "\nmore\n"
    (found,) = phases.parse(text)
    assert found["wall"]["setup"] == 0.75
    assert 0.01 <= found["wall"]["verify"] < 1
    assert found["cpu"] == {"worker": 1.5}
    assert list(found["wall"]) == [k for k in phases.ORDER if k in found["wall"]]


def test_a_damaged_phases_line_is_skipped():
    assert phases.parse(phases.MARK + "{not json\n" + phases.MARK + '{"wall": {}, "cpu": {}}') == \
        [{"wall": {}, "cpu": {}}]


def test_process_tree_cpu_counts_the_descendants():
    """A shell whose child burns CPU: the child's seconds count for the shell's pid."""
    burn = f"{sys.executable} -c \"import time; t = time.process_time()\nwhile time.process_time() - t < 0.4: pass\nimport sys; sys.stdout.write('x'); sys.stdout.flush(); time.sleep(5)\""
    proc = subprocess.Popen(["/bin/sh", "-c", burn + "; true"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout.read(1) == b"x"
        assert 0.35 <= process_tree_cpu(proc.pid) < 3
    finally:
        proc.kill()
        proc.wait()
    assert process_tree_cpu(proc.pid) == 0.0  # gone: nothing to read, no error
