"""Processes as Linux ``/proc`` shows them (stdlib only): stat fields, command lines, sessions and
descendants, signalling a whole session, and which process a run's lock should follow."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

KILL_GRACE_S = 5.0


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after "pid (comm)" (state, ppid, pgrp, session, ...), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def all_proc_stats() -> Iterator[tuple[int, list[str]]]:
    """(pid, stat fields) of every process that can still be read."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(entry)
            if fields:
                yield int(entry), fields


def session_members(sid: int) -> list[int]:
    """PIDs of live processes in session ``sid`` (Linux /proc), even if they changed process group."""
    members = []
    for pid, fields in all_proc_stats():
        # after "pid (comm)": state ppid pgrp session ...
        if len(fields) > 3 and fields[3] == str(sid) and fields[0] != "Z":
            members.append(pid)
    return members


def signal_session(sid: int, signum: int) -> int:
    """Send ``signum`` to the process group and to every process of the session; returns how many."""
    try:
        os.killpg(sid, signum)
    except OSError:  # gone already, or not ours to signal
        pass
    sent = 0
    for pid in session_members(sid):
        try:
            os.kill(pid, signum)
            sent += 1
        except OSError:
            pass
    return sent


def kill_session(sid: int, grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the whole session, wait up to ``grace_s``, then SIGKILL whatever is left."""
    if not signal_session(sid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not session_members(sid):
            return
        time.sleep(0.05)
    signal_session(sid, signal.SIGKILL)


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (from /proc), children before grandchildren."""
    children: dict[int, list[int]] = {}
    for child, fields in all_proc_stats():
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(child)
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def start_time(pid: int) -> str | None:
    fields = proc_stat(pid)
    return fields[19] if fields else None


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def ppid(pid: int) -> int:
    fields = proc_stat(pid)
    return int(fields[1]) if fields else 0


def is_sshd_session(argv: list[str]) -> bool:
    """``sshd: user@notty`` (or ``sshd: user [priv]``), not the listener nor the daemon itself."""
    return bool(argv) and argv[0].startswith("sshd: ") and "[listener]" not in argv[0]


def playbook_pid(start: int | None = None) -> int:
    """The process whose life the run lock follows.

    Locally (``-c local``) that is the outermost ``ansible-playbook`` above this module. On a host
    reached over ssh there is no ``ansible-playbook`` above it (the chain is sshd -> sh [-> sudo -> sh]
    -> python), so it is the nearest sshd session process: with ssh multiplexing (Ansible's default
    ControlMaster/ControlPersist) one session carries every task of the run and ends when the
    controller's master connection does (``meta: reset_connection``, or ControlPersist after a
    killed run). Without either, the parent process (e.g. a module run by hand)."""
    pid, found, session = start or os.getpid(), 0, 0
    while pid > 1:
        pid = ppid(pid)
        argv = cmdline(pid)
        if any(part.endswith("ansible-playbook") for part in argv[:2]):
            found = pid
        elif not session and is_sshd_session(argv):
            session = pid
    return found or session or os.getppid()
