"""The test process (evalkit/execution/judge.py) in a process of its own, as the worker starts it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.cli import REPO

pytest.importorskip("numpy")
pytestmark = pytest.mark.slow  # a process of its own: the full suite, not the fast tier

TIMED_IMPORT = """
import signal, sys
sys.path.insert(0, sys.argv[1])
import judge
signal.signal(signal.SIGPROF, judge._out_of_time)
judge._timing[0] = True
signal.setitimer(signal.ITIMER_PROF, 0.002)  # far less CPU than importing numpy takes
try:
    judge._import_numpy()
    going = signal.getitimer(signal.ITIMER_PROF)[0] > 0  # the job's timer runs on after the import
except judge.OutOfTime:  # the job's time was up before the import began
    going = True
signal.setitimer(signal.ITIMER_PROF, 0)
judge._timing[0] = False
import numpy
print(going, numpy.max([1, 3]), numpy.array([2.5]).tolist())
"""


def test_numpy_imported_for_a_reply_is_whole_whatever_the_job_s_cpu_timer_says():
    # A second attacker's trial: a reply padded so that the job's CPU timer ran out while a numpy type
    # it named was being imported left numpy half made in the test process, which serves many
    # programs: later replies' arrays arrived as lists, and tests importing numpy failed
    proc = subprocess.run([sys.executable, "-c", TIMED_IMPORT, str(REPO / "evalkit" / "execution")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert (proc.returncode, proc.stdout) == (0, "True 3 [2.5]\n"), proc.stderr[-2000:]
