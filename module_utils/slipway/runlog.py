"""The watcher's own log: ``logs/watcher-<date>.log`` lines, Claude's per-run log names, pruning."""

from __future__ import annotations

import os
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path


def now_utc() -> datetime:
    return datetime.now(UTC)


def log_line(log_dir: Path, message: str, issue: int | None = None) -> None:
    """Append one line to ``logs/watcher-<date>.log``."""
    stamp = now_utc()
    log_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"{stamp.isoformat(timespec='seconds')} [pid {os.getpid()}]"
    if issue is not None:
        prefix += f" #{issue}"
    with open(log_dir / f"watcher-{stamp:%Y-%m-%d}.log", "a", encoding="utf-8") as handle:
        handle.write(f"{prefix} {message}\n")


def claude_log_path(log_dir: Path, stage: str, issue: int) -> Path:
    return log_dir / f"claude-{stage}-{issue}-{now_utc():%Y%m%dT%H%M%SZ}.log"


def prune_logs(log_dir: Path, days: int) -> int:
    """Delete watcher and Claude logs older than ``days``; the ledger and cron.log are kept."""
    if days <= 0 or not log_dir.is_dir():
        return 0
    cutoff = time.time() - days * 86400
    removed = 0
    for path in log_dir.glob("*.log"):
        if path.name.startswith(("watcher-", "claude-")) and path.stat().st_mtime < cutoff:
            path.unlink()
            removed += 1
    return removed


def log_tail(path: str, lines: int = 30) -> str:
    """The last ``lines`` lines of a log ("" if it does not exist)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as log:
            return "".join(deque(log, maxlen=lines))
    except FileNotFoundError:
        return ""
