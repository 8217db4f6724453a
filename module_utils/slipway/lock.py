"""The run lock: an exclusive flock kept by a small holder process for as long as the process it
is taken for (the playbook) lives, so a killed run never leaves it behind. Used by the watcher and by
release.yml; it needs nothing but /proc."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ansible.module_utils.slipway.proc import start_time

_HOLDER = """
import os, sys, time
pid, start = int(sys.argv[1]), sys.argv[2]
def start_of(p):
    try:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]
while start_of(pid) == start:
    time.sleep(0.2)
"""


@dataclass
class LockResult:
    acquired: bool
    holder: str  # who holds it, when not acquired
    waited_s: float


def acquire_run_lock(path: Path, owner_pid: int, what: str, wait_s: float = 0.0) -> LockResult:
    """Take an exclusive flock on ``path`` on behalf of ``owner_pid`` and keep it until that process
    ends (a small holder process keeps the descriptor): a dead run can never leave the lock behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    started = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started >= wait_s:
                    holder = os.pread(fd, 400, 0).decode(errors="replace").strip() or "another process"
                    return LockResult(False, holder, time.monotonic() - started)
                time.sleep(0.25)
        start = start_time(owner_pid)
        if start is None:
            raise RuntimeError(f"the process {owner_pid} the lock is for is gone")
        info = f"{what} (pid {owner_pid}, since {datetime.now(UTC).isoformat(timespec='seconds')})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        subprocess.Popen(  # noqa: S603 - fixed interpreter and source, no shell
            [sys.executable, "-c", _HOLDER, str(owner_pid), start],
            pass_fds=(fd,),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        return LockResult(True, info, time.monotonic() - started)
    finally:
        os.close(fd)
