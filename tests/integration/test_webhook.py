"""The webhook receiver end to end: the receiver (scripts/slipway_webhook.py) on loopback, the Forgejo
double delivering signed webhooks, and real watcher runs (`ansible-playbook watcher.yml` as the
unprivileged user, under flock on the cron lock, output to cron.log, as cron runs it)."""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator

import pytest

from sandbox.watcher_world import TRIAGE_OK, WatcherSandbox, wait_for
from sandbox.webhook import Running, file_report, register_hook, start_receiver

pytestmark = [pytest.mark.integration, pytest.mark.claude]


@pytest.fixture
def receiver(watcher) -> Iterator[Running]:
    running = start_receiver(watcher)
    try:
        yield running
    finally:
        running.stop()


def issue_payload(box: WatcherSandbox, number: int = 1) -> bytes:
    return json.dumps(
        {
            "action": "opened",
            "number": number,
            "issue": {"number": number},
            "repository": {"full_name": f"{box.owner}/{box.repo}"},
        }  # fmt: skip
    ).encode()


def test_a_signed_issue_delivery_leads_to_a_triage_comment(watcher, receiver):
    register_hook(receiver)
    watcher.script(watcher.triage_says(TRIAGE_OK))
    started = time.monotonic()
    number = file_report(watcher, "Tonnage rounds down", "1234.5 shows as 1,234 t")
    assert wait_for(lambda: watcher.comments(number), timeout=120), receiver.log.read_text()[-3000:]
    latency = time.monotonic() - started
    assert watcher.comments(number)[0].startswith("## Requirements")
    assert wait_for(lambda: watcher.labels(number) == ["claude-queue", "portal"], timeout=30)
    deliveries = watcher.forgejo.forge.deliveries
    assert deliveries[0]["type"] == "issues" and deliveries[0]["status"] == 202
    assert latency < 60
    # the watcher's own comment and labels are delivered too, from its own account: no run for them,
    # so the queued issue waits for the next cron run (the interval to add `interactive`)
    assert receiver.runner.wait_idle(240)
    assert wait_for(lambda: len(watcher.forgejo.forge.deliveries) >= 3, timeout=10)
    time.sleep(1)
    assert receiver.runner.started == 1 and receiver.recaps() == 1
    assert {d["type"] for d in watcher.forgejo.forge.deliveries} >= {"issues", "issue_comment", "issue_label"}
    assert [e["stage"] for e in watcher.ledger()] == ["triage"] and watcher.pulls() == []


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong-signature", 401), ("no-signature", 401), ("replayed", 409), ("oversized", 413),
        ("not-json", 400), ("unknown-event", 400), ("other-repository", 422),
    ],
)  # fmt: skip
def test_bad_deliveries_get_a_4xx_and_run_nothing(watcher, receiver, case, status):
    number = watcher.issue("Tonnage rounds down", "1234.5 shows as 1,234 t")
    body = issue_payload(watcher, number)
    if case == "replayed":
        receiver.receiver.deliveries.add("seen-before")  # as if delivered before a restart
        answer = receiver.post(body, delivery="seen-before")
    elif case == "wrong-signature":
        answer = receiver.post(body, secret="not-the-secret")  # noqa: S106 - a wrong one on purpose
    elif case == "no-signature":
        answer = receiver.post(body, secret=None)
    elif case == "oversized":
        big = json.dumps(
            {"padding": "x" * 70000, "repository": {"full_name": "shad0w/pelagia-portal"}}
        ).encode()
        answer = receiver.post(big)
    elif case == "not-json":
        answer = receiver.post(b"{not json")
    elif case == "unknown-event":
        answer = receiver.post(body, event="push")
    else:
        answer = receiver.post(json.dumps({"repository": {"full_name": "someone/else"}}).encode())
    assert answer.status_code == status, answer.text
    time.sleep(1.0)
    assert receiver.runner.triggers == 0 and receiver.runner.started == 0
    assert (
        not receiver.log.exists() and watcher.comments(number) == [] and watcher.labels(number) == ["portal"]
    )


def test_triggers_during_a_run_lead_to_exactly_one_more_run(watcher, receiver):
    number = watcher.issue("Tonnage rounds down", "1234.5 shows as 1,234 t")
    # triage answers slowly, so the first run is still going while the deliveries arrive
    slow = watcher.triage_says(TRIAGE_OK)
    slow["hang_seconds"] = 6
    watcher.script(slow)
    assert receiver.post(issue_payload(watcher, number)).status_code == 202
    assert wait_for(lambda: len(watcher.model.requests) >= 1, timeout=60), receiver.log.read_text()[-3000:]
    assert receiver.runner.started == 1
    for _ in range(5):
        assert receiver.post(issue_payload(watcher, number), event="issue_label").status_code == 202
    assert receiver.runner.wait_idle(240)
    assert receiver.runner.triggers == 6 and receiver.runner.started == 2
    assert receiver.recaps() == 2
    assert watcher.comments(number)[0].startswith("## Requirements")
    # triaged once; the one more run is a next run (it takes the queued issue to the fixer)
    assert [e["stage"] for e in watcher.ledger()].count("triage") == 1


def test_a_delivery_while_cron_holds_the_lock_runs_once_after_it(watcher, receiver):
    watcher.script(watcher.triage_says(TRIAGE_OK))
    number = watcher.issue("Tonnage rounds down", "1234.5 shows as 1,234 t")
    with open(receiver.lock, "a+") as held:  # a cron run in progress holds cron.lock
        fcntl.flock(held, fcntl.LOCK_EX)
        for _ in range(3):
            assert receiver.post(issue_payload(watcher, number)).status_code == 202
        time.sleep(2)
        assert watcher.comments(number) == []  # waiting for the lock, not skipping
        fcntl.flock(held, fcntl.LOCK_UN)
    assert receiver.runner.wait_idle(240)
    assert receiver.runner.started == 2 and receiver.recaps() == 2  # the waiting run, then one more
    assert watcher.comments(number)[0].startswith("## Requirements")
