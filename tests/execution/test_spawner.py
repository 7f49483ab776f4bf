"""The worker's clean-up of a program slot where the worker is not its PID namespace's init (as
root without the namespaces: no CAP_SYS_ADMIN, or executor.network=none): what a program leaves
behind can neither kill the worker while it is being killed nor steer the removal of its directory
outside it. Each test runs the worker's own modules in a fresh root process, as the worker does."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.support.cli import REPO

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="slots' uids need root")]

SLOT_UID = 200_977
"""A uid no other test uses (the executor's slots start at 200,000 + pid-derived offsets)."""
PRELUDE = f"""
import os, subprocess, sys
sys.path.insert(0, {str(REPO / "evalkit" / "execution")!r})
import spawner

def as_slot():
    os.setgroups([])
    os.setresgid({SLOT_UID}, {SLOT_UID}, {SLOT_UID})
    os.setresuid({SLOT_UID}, {SLOT_UID}, {SLOT_UID})

class Slot:
    slot = 0

worker = object.__new__(spawner.Spawner)  # only what _kill_slot and close use
worker.cfg = {{"uid_base": {SLOT_UID}}}
"""


def _as_worker(body: str) -> subprocess.CompletedProcess:
    """``body`` in a new root process (not a namespace's init) with the worker's modules imported."""
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=30, check=False)


def test_leftover_processes_cannot_kill_the_worker_while_it_kills_them():
    # Six leftovers of a slot, each signalling the worker as fast as it can (as the slot's uid they
    # may, for the moment the worker itself takes that uid); the worker kills the slot 20 times.
    result = _as_worker("""
        import time
        me = os.getpid()
        loop = f"while :; do kill -STOP {me}; kill -KILL {me}; done"
        for _ in range(20):
            left = [subprocess.Popen(["/bin/sh", "-c", loop], preexec_fn=as_slot) for _ in range(6)]
            time.sleep(0.02)
            worker._kill_slot(Slot())
            for proc in left:
                proc.wait(timeout=5)
        print("worker alive")
    """)
    assert result.returncode == 0, (result.returncode, result.stderr[-500:])
    assert result.stdout.strip() == "worker alive"


def test_a_program_cannot_turn_the_removal_of_its_directory_onto_another(tmp_path):
    victim = tmp_path / "victim"
    (victim / "deep").mkdir(parents=True)
    for n in range(5):
        (victim / f"file{n}").write_text("keep me")
        (victim / "deep" / f"file{n}").write_text("keep me")
    result = _as_worker(f"""
        worker.scratch = spawner._scratch_root()
        workdir = spawner._scratch_dir(worker.scratch, {SLOT_UID})
        # the program: its directory swapped for a link to the victim, and links inside it
        swap = subprocess.run(["/bin/sh", "-c", 'mv "$0" "$0.moved" && ln -s "$1" "$0"', workdir,
                               {str(victim)!r}], preexec_fn=as_slot, capture_output=True)
        subprocess.run(["/bin/sh", "-c", 'cd "$0" && ln -s "$1" in && mkdir -p a/b && ln -s "$1" a/b/c',
                        workdir, {str(victim)!r}], preexec_fn=as_slot, check=True)
        worker._kill_slot(Slot(), workdir)
        worker.close()
        print(swap.returncode != 0, os.path.exists(workdir), os.path.exists(worker.scratch))
    """)
    assert result.returncode == 0, result.stderr[-1000:]
    assert result.stdout.split() == ["True", "False", "False"]  # the swap refused; directory and root gone
    assert sorted(p.name for p in victim.rglob("*")) == sorted(["deep"] + [f"file{n}" for n in range(5)] * 2)
