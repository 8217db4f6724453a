#!/usr/bin/env python3
"""The Forgejo webhook receiver: a signed delivery triggers one watcher run (see README, "Webhook").

Standard library only; run as the app user by the systemd unit `slipway-webhook.service`:

    python3 slipway_webhook.py --config /etc/slipway/webhook.json

A delivery is accepted (202) only when, in this order: it is a POST to the configured path with a
Content-Length of at most ``maxBodyBytes`` (411/413), ``X-Forgejo-Signature`` is the hex HMAC-SHA256 of
the raw body with the shared secret (401), ``X-Forgejo-Delivery`` is a well-formed ID not seen before
(400/409; recent IDs persist across restarts), ``X-Forgejo-Event-Type`` is one the watcher acts on
(400), and the body is a JSON object about the configured repository (400/422). Anything else is
logged and nothing runs. Label and comment deliveries sent by one of ``ignoreSenders`` (the watcher's
own Forgejo account) are accepted without a run, so that the watcher's own triage labels do not start
the fix at once. An accepted delivery answers at once and asks the runner for a watcher run:
one run at a time; any number of triggers during a run lead to exactly one more run afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOG = logging.getLogger("slipway-webhook")

# X-Forgejo-Event-Type values the watcher acts on: issues (opened, edited, closed, ...), label changes
# (event `issues`, type `issue_label`), comments, and pull request reviews.
EVENT_TYPES = frozenset(
    {
        "issues",
        "issue_label",
        "issue_comment",
        "pull_request_review_approved",
        "pull_request_review_rejected",
        "pull_request_review_comment",
    }
)
# Event types a delivery from one of ``ignoreSenders`` (the watcher's own account) does not trigger a run
# for. A new issue (`issues`) always does.
SELF_IGNORABLE = EVENT_TYPES - {"issues"}
DELIVERY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
SIGNATURE_RE = re.compile(r"^[0-9a-fA-F]{64}$")
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_KEEP = 5000


class Rejected(Exception):
    """A delivery that is refused: the HTTP status and a short reason (logged, and the answer)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """``header`` is the bare hex HMAC-SHA256 of ``body`` (Forgejo: no ``sha256=`` prefix)."""
    if not secret or not header or not SIGNATURE_RE.match(header.strip()):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip().lower())


def sign(secret: bytes, body: bytes) -> str:
    """What Forgejo sends in X-Forgejo-Signature (for tests and the bench)."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


class DeliveryLog:
    """The most recent delivery IDs, persisted (0600, replaced atomically) so a restart does not replay."""

    def __init__(self, path: Path | None, keep: int = DEFAULT_KEEP):
        self.path = path
        self.keep = keep
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                for delivery, when in data.get("deliveries", []):
                    self._seen[str(delivery)] = float(when)
            except (OSError, ValueError, TypeError) as exc:
                LOG.warning("delivery log %s unreadable (%s); starting empty", path, type(exc).__name__)
        while len(self._seen) > self.keep:
            self._seen.popitem(last=False)

    def __contains__(self, delivery: str) -> bool:
        with self._lock:
            return delivery in self._seen

    def add(self, delivery: str) -> bool:
        """Record ``delivery``; False when it was already there (a replay)."""
        with self._lock:
            if delivery in self._seen:
                return False
            self._seen[delivery] = time.time()
            while len(self._seen) > self.keep:
                self._seen.popitem(last=False)
            self._save()
            return True

    def _save(self) -> None:
        if self.path is None:
            return
        data = json.dumps({"deliveries": list(self._seen.items())})
        fd, tmp = tempfile.mkstemp(prefix=".deliveries-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class CoalescingRunner:
    """Runs ``run`` in one background thread. A trigger while idle starts a run; any number of triggers
    while a run is going set one flag, which leads to exactly one more run afterwards."""

    def __init__(self, run: Callable[[], int]):
        self._run = run
        self._cond = threading.Condition()
        self._pending = False
        self._running = False
        self._stopped = False
        self.triggers = 0
        self.started = 0
        self.finished = 0
        self.last_rc: int | None = None
        self._thread = threading.Thread(target=self._loop, name="watcher-runner", daemon=True)

    def start(self) -> CoalescingRunner:
        self._thread.start()
        return self

    def trigger(self) -> str:
        """Ask for a run: 'queued', or 'coalesced' when one is already pending (still exactly one more)."""
        with self._cond:
            self.triggers += 1
            already = self._pending
            self._pending = True
            self._cond.notify_all()
        return "coalesced" if already else "queued"

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._running

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                self._pending = False
                self._running = True
                self.started += 1
            rc = None
            try:
                rc = self._run()
            except Exception:  # noqa: BLE001 - a broken run must not end the runner
                LOG.exception("watcher run failed to start")
            with self._cond:
                self._running = False
                self.finished += 1
                self.last_rc = rc
                self._cond.notify_all()
            LOG.info("watcher run %d finished: rc=%s", self.started, rc)


def command_runner(config: dict) -> Callable[[], int]:
    """The watcher run as cron runs it: the configured argv, working directory and environment, output
    appended to the cron log."""
    argv = [str(a) for a in config["command"]]
    cwd = config.get("cwd") or None
    env = {k: os.environ[k] for k in ("HOME", "USER", "LOGNAME", "LANG") if k in os.environ}
    env.update({str(k): str(v) for k, v in (config.get("env") or {}).items()})
    log = config.get("log")

    def run() -> int:
        LOG.info("watcher run starting")
        if log:
            with open(log, "ab") as out:
                return subprocess.run(
                    argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
                ).returncode
        return subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, check=False).returncode

    return run


class Receiver:
    """Checks deliveries (no I/O besides the delivery log) and triggers the runner."""

    def __init__(
        self,
        secret: bytes,
        deliveries: DeliveryLog,
        runner: CoalescingRunner,
        repo: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        ignore_senders: list[str] | tuple[str, ...] = (),
    ):
        if not secret:
            raise ValueError("the webhook secret is empty")
        self.secret = secret
        self.deliveries = deliveries
        self.runner = runner
        self.repo = repo.lower() if repo else None
        self.max_body = max_body
        self.ignore_senders = {name.lower() for name in ignore_senders}

    def check_length(self, length_header: str | None, chunked: bool) -> int:
        if chunked or length_header is None:
            raise Rejected(HTTPStatus.LENGTH_REQUIRED, "no Content-Length")
        try:
            length = int(length_header)
        except ValueError:
            raise Rejected(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if length < 0:
            raise Rejected(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        if length > self.max_body:
            raise Rejected(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body of {length} bytes over {self.max_body}"
            )
        return length

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """Headers with lower-case names. Returns (status, what happened); raises Rejected."""
        if len(body) > self.max_body:
            raise Rejected(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large")
        if not signature_ok(self.secret, body, headers.get("x-forgejo-signature")):
            raise Rejected(HTTPStatus.UNAUTHORIZED, "missing or wrong X-Forgejo-Signature")
        delivery = (headers.get("x-forgejo-delivery") or "").strip()
        if not DELIVERY_RE.match(delivery):
            raise Rejected(HTTPStatus.BAD_REQUEST, "missing or malformed X-Forgejo-Delivery")
        if delivery in self.deliveries:
            raise Rejected(HTTPStatus.CONFLICT, f"delivery {delivery} already received")
        event = (headers.get("x-forgejo-event-type") or "").strip()
        if event not in EVENT_TYPES:
            raise Rejected(HTTPStatus.BAD_REQUEST, f"event type {event[:40]!r} is not handled")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Rejected(HTTPStatus.BAD_REQUEST, "body is not JSON") from None
        if not isinstance(payload, dict):
            raise Rejected(HTTPStatus.BAD_REQUEST, "body is not a JSON object")
        if self.repo is not None:
            repository = payload.get("repository")
            name = repository.get("full_name") if isinstance(repository, dict) else None
            if not isinstance(name, str) or name.lower() != self.repo:
                raise Rejected(HTTPStatus.UNPROCESSABLE_ENTITY, "delivery is about another repository")
        if not self.deliveries.add(delivery):
            raise Rejected(HTTPStatus.CONFLICT, f"delivery {delivery} already received")
        action = payload.get("action") if isinstance(payload.get("action"), str) else ""
        sender = payload.get("sender")
        login = sender.get("login") if isinstance(sender, dict) else None
        if event in SELF_IGNORABLE and isinstance(login, str) and login.lower() in self.ignore_senders:
            # The watcher's own labels and comments: a run right after triage would fix the issue at
            # once, without the interval in which a human can still add `interactive`.
            return (
                HTTPStatus.ACCEPTED,
                f"delivery {delivery} ({event} {action[:40]}) by {login}: ignored, no run",
            )
        how = self.runner.trigger()
        return HTTPStatus.ACCEPTED, f"delivery {delivery} ({event} {action[:40]}): watcher run {how}"


def make_handler(receiver: Receiver, path: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "slipway-webhook"
        sys_version = ""
        timeout = 5  # a client that does not send its body in time is dropped

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
            pass  # one line per delivery is logged below, never headers or bodies

        def _answer(self, status: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self._answer(HTTPStatus.METHOD_NOT_ALLOWED, "POST deliveries only")

        do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815 - http.server's names

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            delivery = (self.headers.get("X-Forgejo-Delivery") or "-")[:80]
            try:
                if self.path.split("?", 1)[0] != path:
                    raise Rejected(HTTPStatus.NOT_FOUND, "unknown path")
                chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
                length = receiver.check_length(self.headers.get("Content-Length"), chunked)
                body = self.rfile.read(length)
                if len(body) != length:
                    raise Rejected(HTTPStatus.BAD_REQUEST, "body shorter than Content-Length")
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, what = receiver.handle(headers, body)
            except Rejected as exc:
                LOG.warning("refused delivery %r: %d %s", delivery, exc.status, exc.reason)
                self._answer(exc.status, exc.reason)
                return
            except TimeoutError:
                LOG.warning("refused delivery %r: body not received in time", delivery)
                return
            LOG.info("accepted %s", what)
            self._answer(status, what)

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def load_config(path: Path) -> dict:
    config = json.loads(path.read_text())
    for key in ("listen", "port", "secretFile", "command"):
        if key not in config:
            raise ValueError(f"{path}: missing {key}")
    if not ipaddress.ip_address(config["listen"]).is_loopback:
        raise ValueError(f"{path}: listen must be a loopback address, not {config['listen']}")
    return config


def read_secret(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode:o}); it must be 0600")
    secret = path.read_bytes().strip()
    if not secret:
        raise ValueError(f"{path} is empty")
    return secret


def build(config: dict, runner: CoalescingRunner | None = None) -> tuple[Server, Receiver]:
    secret = read_secret(Path(config["secretFile"]))
    state = config.get("stateFile")
    deliveries = DeliveryLog(Path(state) if state else None, int(config.get("keepDeliveries", DEFAULT_KEEP)))
    runner = runner or CoalescingRunner(command_runner(config))
    receiver = Receiver(
        secret,
        deliveries,
        runner,
        config.get("repo"),
        int(config.get("maxBodyBytes", DEFAULT_MAX_BODY)),
        [str(s) for s in config.get("ignoreSenders") or []],
    )
    server = Server((config["listen"], int(config["port"])), make_handler(receiver, config.get("path", "/")))
    return server, receiver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = load_config(args.config)
        server, receiver = build(config)
    except (OSError, ValueError, KeyError) as exc:
        print(f"slipway-webhook: {exc}", file=sys.stderr)
        return 2
    receiver.runner.start()
    LOG.info("listening on %s:%s%s", config["listen"], config["port"], config.get("path", "/"))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
