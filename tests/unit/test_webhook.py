"""The webhook receiver's checks: signature, replay, size, event types, the coalescing runner, and the
HTTP front (a real server on loopback, a stand-in for the watcher run)."""

from __future__ import annotations

import json
import os
import threading
import time

import httpx
import pytest

from scripts import slipway_webhook as wh

SECRET = b"webhook-unit-secret-0123456789"
REPO = "shad0w/pelagia-portal"


class CountingRun:
    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> int:
        self.calls += 1
        self.gate.wait(10)
        time.sleep(self.seconds)
        return 0


def payload(event: str = "issues", repo: str = REPO) -> bytes:
    return json.dumps(
        {"action": "opened", "issue": {"number": 1}, "repository": {"full_name": repo}}
    ).encode()


def headers(body: bytes, delivery: str = "d-1", event: str = "issues", secret: bytes = SECRET) -> dict:
    return {
        "x-forgejo-signature": wh.sign(secret, body),
        "x-forgejo-delivery": delivery,
        "x-forgejo-event-type": event,
        "x-forgejo-event": "issues",
    }


@pytest.fixture
def receiver(tmp_path):
    run = CountingRun()
    runner = wh.CoalescingRunner(run).start()
    rec = wh.Receiver(SECRET, wh.DeliveryLog(tmp_path / "deliveries.json"), runner, REPO, max_body=4096)
    rec.run = run
    yield rec
    runner.wait_idle(10)
    runner.stop()


def test_signature_is_the_bare_hex_hmac_sha256_of_the_raw_body():
    body = b'{"a": 1}'
    good = wh.sign(SECRET, body)
    assert len(good) == 64 and wh.signature_ok(SECRET, body, good)
    assert wh.signature_ok(SECRET, body, good.upper())
    assert not wh.signature_ok(SECRET, body, "sha256=" + good)  # Forgejo sends no prefix
    assert not wh.signature_ok(SECRET, body + b" ", good)
    assert not wh.signature_ok(b"other", body, good)
    assert not wh.signature_ok(SECRET, body, None) and not wh.signature_ok(SECRET, body, "")
    assert not wh.signature_ok(b"", body, wh.sign(b"", body))


def test_a_signed_delivery_is_accepted_and_triggers_one_run(receiver):
    body = payload()
    status, what = receiver.handle(headers(body), body)
    assert status == 202 and "d-1" in what
    assert receiver.runner.wait_idle(5) and receiver.run.calls == 1


@pytest.mark.parametrize("event", sorted(wh.EVENT_TYPES))
def test_every_handled_event_type_is_accepted(receiver, event):
    body = payload()
    assert receiver.handle(headers(body, event=event), body)[0] == 202


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda h, b: ({**h, "x-forgejo-signature": wh.sign(b"wrong", b)}, b), 401),
        (lambda h, b: ({k: v for k, v in h.items() if k != "x-forgejo-signature"}, b), 401),
        (lambda h, b: ({**h, "x-forgejo-signature": "sha256=" + h["x-forgejo-signature"]}, b), 401),
        (lambda h, b: (h, b + b"tampered"), 401),
        (lambda h, b: ({k: v for k, v in h.items() if k != "x-forgejo-delivery"}, b), 400),
        (lambda h, b: ({**h, "x-forgejo-delivery": "../../etc"}, b), 400),
        (lambda h, b: ({**h, "x-forgejo-event-type": "push"}, b), 400),
        (lambda h, b: ({k: v for k, v in h.items() if k != "x-forgejo-event-type"}, b), 400),
    ],
    ids=["wrong-secret", "no-signature", "prefixed", "tampered-body", "no-delivery", "bad-delivery", "push",
         "no-event"],
)  # fmt: skip
def test_bad_deliveries_are_refused_and_run_nothing(receiver, mutate, status):
    body = payload()
    bad_headers, bad_body = mutate(headers(body), body)
    with pytest.raises(wh.Rejected) as refused:
        receiver.handle(bad_headers, bad_body)
    assert refused.value.status == status
    assert receiver.runner.triggers == 0 and receiver.run.calls == 0
    assert "d-1" not in receiver.deliveries  # a refused delivery is not remembered


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"not json", 400), (b"[1, 2]", 400), (b"\xff\xfe", 400), (payload(repo="someone/else"), 422)],
    ids=["not-json", "not-an-object", "not-utf8", "other-repository"],
)
def test_malformed_or_foreign_bodies_are_refused(receiver, body, status):
    with pytest.raises(wh.Rejected) as refused:
        receiver.handle(headers(body), body)
    assert refused.value.status == status and receiver.runner.triggers == 0


def test_a_replayed_delivery_is_refused_even_after_a_restart(tmp_path, receiver):
    body = payload()
    assert receiver.handle(headers(body, delivery="abc-1"), body)[0] == 202
    with pytest.raises(wh.Rejected) as replay:
        receiver.handle(headers(body, delivery="abc-1"), body)
    assert replay.value.status == 409
    state = tmp_path / "deliveries.json"
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    restarted = wh.Receiver(SECRET, wh.DeliveryLog(state), wh.CoalescingRunner(CountingRun()), REPO)
    with pytest.raises(wh.Rejected) as after:
        restarted.handle(headers(body, delivery="abc-1"), body)
    assert after.value.status == 409 and restarted.runner.triggers == 0
    assert restarted.handle(headers(body, delivery="abc-2"), body)[0] == 202


def test_the_delivery_log_keeps_only_the_most_recent_ids(tmp_path):
    log = wh.DeliveryLog(tmp_path / "d.json", keep=3)
    for i in range(5):
        assert log.add(f"id-{i}")
    assert "id-0" not in log and "id-1" not in log and "id-4" in log
    reloaded = wh.DeliveryLog(tmp_path / "d.json", keep=3)
    assert "id-2" in reloaded and "id-1" not in reloaded
    (tmp_path / "d.json").write_text("garbage")
    assert "id-4" not in wh.DeliveryLog(tmp_path / "d.json")  # unreadable: starts empty, does not crash


def test_size_is_bounded_before_the_body_is_read(receiver):
    with pytest.raises(wh.Rejected) as big:
        receiver.check_length("4097", False)
    assert big.value.status == 413
    for header, chunked, status in [
        (None, False, 411),
        ("10", True, 411),
        ("x", False, 400),
        ("-1", False, 400),
    ]:
        with pytest.raises(wh.Rejected) as refused:
            receiver.check_length(header, chunked)
        assert refused.value.status == status
    assert receiver.check_length("4096", False) == 4096
    body = b"{" + b" " * 5000 + b"}"
    with pytest.raises(wh.Rejected) as large:
        receiver.handle(headers(body), body)
    assert large.value.status == 413


def test_triggers_during_a_run_lead_to_exactly_one_more_run():
    run = CountingRun()
    run.gate.clear()  # the first run blocks until released
    runner = wh.CoalescingRunner(run).start()
    assert runner.trigger() == "queued"
    assert wait(lambda: run.calls == 1)
    for _ in range(10):
        runner.trigger()
    run.gate.set()
    assert runner.wait_idle(5)
    assert run.calls == 2 and runner.started == 2 and runner.triggers == 11
    runner.trigger()
    assert runner.wait_idle(5) and run.calls == 3
    runner.stop()


def test_a_failing_run_does_not_stop_the_runner():
    calls = []

    def boom() -> int:
        calls.append(1)
        raise OSError("no ansible-playbook")

    runner = wh.CoalescingRunner(boom).start()
    runner.trigger()
    assert runner.wait_idle(5)
    runner.trigger()
    assert runner.wait_idle(5) and len(calls) == 2
    runner.stop()


def test_config_must_listen_on_loopback_and_the_secret_must_be_private(tmp_path):
    config = tmp_path / "webhook.json"
    config.write_text(json.dumps({"listen": "0.0.0.0", "port": 1, "secretFile": "x", "command": ["true"]}))  # noqa: S104
    with pytest.raises(ValueError, match="loopback"):
        wh.load_config(config)
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")
    secret.chmod(0o644)
    with pytest.raises(ValueError, match="0600"):
        wh.read_secret(secret)
    secret.chmod(0o600)
    assert wh.read_secret(secret) == SECRET


def test_the_http_front_answers_fast_and_refuses_bad_requests(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    os.chmod(secret, 0o600)
    run = CountingRun(seconds=3)  # a slow watcher run: the answer must not wait for it
    config = {
        "listen": "127.0.0.1", "port": 0, "secretFile": str(secret), "stateFile": str(tmp_path / "d.json"),
        "command": ["true"], "repo": REPO, "path": "/forgejo", "maxBodyBytes": 2048,
    }  # fmt: skip
    server, receiver = wh.build(config, wh.CoalescingRunner(run))
    receiver.runner.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        body = payload()
        started = time.monotonic()
        ok = httpx.post(url + "/forgejo", content=body, headers=headers(body, delivery="h-1"))
        assert ok.status_code == 202 and time.monotonic() - started < 1.0
        assert (
            httpx.post(url + "/forgejo", content=body, headers=headers(body, delivery="h-1")).status_code
            == 409
        )
        assert (
            httpx.post(url + "/other", content=body, headers=headers(body, delivery="h-2")).status_code == 404
        )
        big = b"{" + b" " * 4096 + b"}"
        assert (
            httpx.post(url + "/forgejo", content=big, headers=headers(big, delivery="h-3")).status_code == 413
        )
        assert httpx.get(url + "/forgejo").status_code == 405
        bad = httpx.post(url + "/forgejo", content=body, headers=headers(body, delivery="h-4", secret=b"x"))
        assert bad.status_code == 401
        assert receiver.runner.triggers == 1
    finally:
        server.shutdown()
        server.server_close()
        receiver.runner.wait_idle(10)
        receiver.runner.stop()


def wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_the_watchers_own_label_and_comment_changes_trigger_no_run(tmp_path):
    runner = wh.CoalescingRunner(CountingRun())
    rec = wh.Receiver(SECRET, wh.DeliveryLog(None), runner, REPO, ignore_senders=["Slipway-Bot"])

    def body(sender: str) -> bytes:
        return json.dumps(
            {"action": "x", "sender": {"login": sender}, "repository": {"full_name": REPO}}
        ).encode()

    for i, event in enumerate(["issue_label", "issue_comment", "pull_request_review_comment"]):
        status, what = rec.handle(
            headers(body("slipway-bot"), delivery=f"s-{i}", event=event), body("slipway-bot")
        )
        assert status == 202 and "ignored" in what
    assert runner.triggers == 0
    # a new issue always runs, and anyone else's label change does
    assert rec.handle(headers(body("slipway-bot"), delivery="n-1"), body("slipway-bot"))[0] == 202
    assert rec.handle(headers(body("alice"), delivery="n-2", event="issue_label"), body("alice"))[0] == 202
    assert runner.triggers == 2
