"""The spend ledger (JSON lines) and log tails."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ansible.module_utils.slipway.ledger import append_ledger, spend_since
from ansible.module_utils.slipway.runlog import log_tail


def test_a_ledger_record_is_one_json_line_with_a_utc_timestamp(tmp_path):
    ledger = tmp_path / "deep" / "ledger.jsonl"
    before = datetime.now(UTC).replace(microsecond=0)
    append_ledger(str(ledger), {"issue": 12, "phase": "fix", "cost_usd": 0.25})
    append_ledger(str(ledger), {"issue": 13, "phase": "triage", "cost_usd": 0.5})

    lines = ledger.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["issue"] == 12 and first["cost_usd"] == 0.25
    assert datetime.fromisoformat(first["ts"]) >= before
    assert datetime.fromisoformat(first["ts"]).tzinfo is not None


def test_spend_since_sums_only_records_from_that_time_on(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    now = datetime.now(UTC)
    old = (now - timedelta(days=2)).isoformat()
    ledger.write_text(
        json.dumps({"ts": old, "cost_usd": 100.0})
        + "\n"
        + json.dumps({"ts": now.isoformat(), "cost_usd": 1.5})
        + "\n"
    )
    append_ledger(str(ledger), {"cost_usd": 0.25})

    assert spend_since(str(ledger), now - timedelta(hours=1)) == 1.75
    assert spend_since(str(ledger), now - timedelta(days=3)) == 101.75


def test_a_naive_since_is_taken_as_utc(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    append_ledger(str(ledger), {"cost_usd": 2.0})
    naive_hour_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)

    assert spend_since(str(ledger), naive_hour_ago) == 2.0


def test_torn_or_odd_lines_are_not_counted(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    now = datetime.now(UTC).isoformat()
    ledger.write_text(
        "\n".join(
            [
                json.dumps({"ts": now, "cost_usd": 1.0}),
                json.dumps({"ts": "yesterday-ish", "cost_usd": 50}),
                json.dumps({"ts": now, "cost_usd": "lots"}),
                json.dumps({"ts": now}),
                json.dumps([1, 2]),
                '{"ts": "' + now + '", "cost_us',
            ]
        )
    )

    assert spend_since(str(ledger), datetime.now(UTC) - timedelta(minutes=5)) == 1.0


def test_a_missing_ledger_means_no_spend(tmp_path):
    assert spend_since(str(tmp_path / "none.jsonl"), datetime.now(UTC)) == 0.0


def test_log_tail_returns_the_last_lines(tmp_path):
    log = tmp_path / "claude.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))

    assert log_tail(str(log), 3) == "line 97\nline 98\nline 99\n"
    assert log_tail(str(log)).count("\n") == 30


def test_log_tail_of_a_missing_log_is_empty(tmp_path):
    assert log_tail(str(tmp_path / "nope.log")) == ""
