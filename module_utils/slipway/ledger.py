"""The spend ledger (``logs/ledger.jsonl``): one JSON line per Claude run or pipeline step, fsync'd;
what the daily spend cap, the review loop's attempt count and ``scripts/status`` read."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def append_ledger(path: str, record: Mapping[str, Any]) -> None:
    """Append ``record`` with a UTC timestamp ``ts`` as one JSON line, fsync'd."""
    line = json.dumps({"ts": _now_iso(), **record}, sort_keys=True, default=str) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse_ts(value: Any) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def read_ledger(path: str) -> Iterator[dict[str, Any]]:
    """The ledger's records, oldest first; torn or foreign lines (a crash mid-write) are skipped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as ledger:
            for line in ledger:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record
    except FileNotFoundError:
        return


def spend_since(path: str, since: datetime) -> float:
    """Sum of ``cost_usd`` of ledger records stamped at or after ``since`` (naive = UTC)."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    total = 0.0
    for record in read_ledger(path):
        stamp = _parse_ts(record.get("ts"))
        if stamp is None or stamp < since:
            continue
        try:
            total += float(record.get("cost_usd") or 0.0)
        except (TypeError, ValueError):
            continue
    return round(total, 6)


def spend_today(path: str) -> float:
    """What today's (UTC) records cost: what the daily spend cap counts."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return spend_since(path, midnight)


def triage_comment_id(path: str, number: int) -> int | None:
    """The id of the breakdown comment the last triage of issue ``number`` posted: the comment is plain,
    without a bot marker, so the ledger is what tells it apart."""
    found = None
    for entry in read_ledger(path):
        if entry.get("issue") == number and entry.get("stage") == "triage" and entry.get("comment_id"):
            found = int(entry["comment_id"])
    return found
