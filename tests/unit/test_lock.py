"""The run lock: one holder at a time, and a dead owner never leaves it behind."""

from __future__ import annotations

import subprocess
import sys
import time

from ansible.module_utils.slipway.lock import acquire_run_lock


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_second_taker_is_refused_and_told_who_holds_it(tmp_path):
    owner = sleeper()
    try:
        first = acquire_run_lock(tmp_path / "l", owner.pid, "watcher A")
        second = acquire_run_lock(tmp_path / "l", owner.pid, "watcher B")
        assert first.acquired and not second.acquired
        assert "watcher A" in second.holder and str(owner.pid) in second.holder
    finally:
        owner.kill()
        owner.wait()


def test_lock_is_released_when_its_owner_dies_even_by_sigkill(tmp_path):
    owner = sleeper()
    assert acquire_run_lock(tmp_path / "l", owner.pid, "A").acquired
    owner.kill()
    owner.wait()
    later = sleeper()
    try:
        result = acquire_run_lock(tmp_path / "l", later.pid, "B", wait_s=5)
        assert result.acquired and result.waited_s < 5
    finally:
        later.kill()
        later.wait()


def test_waiting_taker_gets_it_after_the_owner_ends(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    assert acquire_run_lock(tmp_path / "l", owner.pid, "A").acquired
    started = time.monotonic()
    other = sleeper()
    try:
        result = acquire_run_lock(tmp_path / "l", other.pid, "B", wait_s=10)
        assert result.acquired and 0.3 < time.monotonic() - started < 10
    finally:
        owner.wait()
        other.kill()
        other.wait()
