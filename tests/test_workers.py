"""The watcher's worker processes die with it, however it dies (a SIGKILLed watcher once left its replay and game
workers running, each with a loaded model: a few hundred restarts filled the machine's memory)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import os, sys, time
from prover.dispute.workers import Workers
w = Workers({}, replay_workers=1)
pids = [w._replays.submit(os.getpid).result(timeout=120), w._games.submit(os.getpid).result(timeout=120)]
print(*pids, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_die_with_a_killed_watcher():
    p = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(v) for v in p.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(q) for q in pids) and p.pid not in pids
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        end = time.monotonic() + 30
        while any(_alive(q) for q in pids) and time.monotonic() < end:
            time.sleep(0.1)
        left = [q for q in pids if _alive(q)]
        for q in left:  # do not leak them when the test fails
            os.kill(q, signal.SIGKILL)
        assert not left, f"workers {left} outlived their watcher"
    finally:
        if p.poll() is None:
            p.kill()
