"""scripts/status: the pipeline's issues by stage from Forgejo and the ledger, read-only."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.playbook import ROOT
from sandbox.watcher_world import TRIAGE_OK
from scripts.pipeline_status import collect, render

pytestmark = [pytest.mark.integration, pytest.mark.claude]


def status(watcher, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "status"), "--config", str(watcher.config_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_status_lists_issues_by_stage_with_attempts_and_cost_and_changes_nothing(watcher):
    fixed = watcher.issue("Tonnage rounds down", "1234.5 shows as 1,234 t")
    human = watcher.issue("Needs a person", "x", labels=("portal", "interactive"))
    watcher.script(watcher.triage_says(TRIAGE_OK, fixed), watcher.fix_does(*watcher.fixing_the_bug()))
    assert watcher.run_watcher().rc == 0  # triage
    assert watcher.run_watcher().rc == 0  # fix
    pending = watcher.issue("Not triaged yet", "later", labels=("portal",))
    watcher.forgejo.reset_requests()
    result = status(watcher, "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["number"]: row for row in json.loads(result.stdout)["issues"]}
    assert rows[fixed]["stage"] == "pr-open" and rows[fixed]["attempts"] == 1 and rows[fixed]["cost_usd"] > 0
    assert rows[fixed]["last_result"] == "fix: pr"
    assert rows[pending]["stage"] == "triage-pending" and rows[pending]["attempts"] == 0
    assert rows[human]["stage"] == "interactive"
    assert {r.method for r in watcher.forgejo.api_requests()} == {"GET"}
    table = status(watcher)
    assert table.returncode == 0 and "pr-open" in table.stdout and "triage-pending: 1" in table.stdout
    assert watcher.forgejo.token not in table.stdout + result.stdout


def test_status_with_a_bad_config_is_a_one_line_error(tmp_path):
    bad = tmp_path / "watcher.config.json"
    bad.write_text("{}")
    result = subprocess.run(
        [str(ROOT / "scripts" / "status"), "--config", str(bad)], capture_output=True, text=True, check=False
    )
    assert (
        result.returncode == 2 and "'repo' is required" in result.stderr and "Traceback" not in result.stderr
    )


class _Cfg:
    repo = "o/r"

    class fix:  # noqa: N801 - mimics WatcherConfig.fix
        timeout_seconds = 1800


def test_stuck_issues_are_flagged():
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    old = (now - timedelta(hours=5)).isoformat()
    issues = [
        {"number": 1, "title": "a", "labels": [{"name": "claude-working"}], "created_at": old},
        {"number": 2, "title": "b", "labels": [{"name": "claude-queue"}], "created_at": old},
        {"number": 3, "title": "c", "labels": [{"name": "claude-pr"}], "created_at": old},
        {"number": 4, "title": "d", "labels": [{"name": "bug"}], "created_at": old},
    ]
    ledger = [{"ts": old, "issue": 1, "stage": "fix", "result": "pr", "cost_usd": 0.5, "repo": "o/r"}]
    rows = {r["number"]: r for r in collect(_Cfg, issues, ledger, now, stuck_hours=2)}
    assert "worker probably died" in rows[1]["stuck"]
    assert "waiting over 2 h" in rows[2]["stuck"]
    assert rows[3]["stuck"] == "" and 4 not in rows
    assert "STUCK" in render(list(rows.values()))
