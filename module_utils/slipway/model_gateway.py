"""The model gateway (stdlib only): the agent's one way to the Messages API, and the meter of its spend.

``agent-run`` (root) starts it for one Claude step on a unix socket that only the agent's unit can
reach (through the sandbox's forwarder). It relays ``POST /v1/messages`` (and ``HEAD /``) to the
configured upstream, replacing whatever credential the agent sent with the real API key when one is
configured (so the agent never holds it), and reads the token usage out of every answer (the
``message_start`` / ``message_delta`` events of a stream, or a plain JSON body). That usage, measured
here and not taken from anything the agent prints, is what the watcher's spend cap counts.

Runs in a child process of agent-run that drops to an unprivileged user once the socket is bound.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import socketserver
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

MAX_REQUEST_BYTES = 32 * 1024 * 1024
FORWARD_HEADERS = ("content-type", "anthropic-version", "anthropic-beta", "user-agent", "accept", "x-app")
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


class Meter:
    """Usage per model, summed over every answer relayed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.models: dict[str, dict[str, int]] = {}
        self.requests = 0

    def add(self, model: str, usage: dict[str, Any]) -> None:
        with self.lock:
            totals = self.models.setdefault(model or "unknown", dict.fromkeys(USAGE_KEYS, 0))
            for key in USAGE_KEYS:
                value = usage.get(key)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    totals[key] += value

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.requests, "models": {m: dict(t) for m, t in self.models.items()}}


class SseUsage:
    """Follows a server-sent event stream and collects the usage of the message in it."""

    def __init__(self, request_model: str) -> None:
        self.model = request_model
        self.usage: dict[str, int] = {}
        self._buffer = b""

    def feed(self, chunk: bytes) -> None:
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            line = line.strip()
            if line.startswith(b"data:"):
                self._data(line[5:].strip())

    def _data(self, raw: bytes) -> None:
        try:
            event = json.loads(raw)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        if event.get("type") == "message_start":
            message = event.get("message") or {}
            self.model = str(message.get("model") or self.model)
            self._merge(message.get("usage") or {})
        elif event.get("type") == "message_delta":
            self._merge(event.get("usage") or {})

    def _merge(self, usage: dict[str, Any]) -> None:
        # message_delta's usage is cumulative for output_tokens; take the largest value seen per key.
        for key in USAGE_KEYS:
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                self.usage[key] = max(self.usage.get(key, 0), value)


def price_of(usage_by_model: dict[str, dict[str, int]], prices: dict[str, dict[str, float]]) -> float:
    """Cost in USD of ``usage_by_model`` with ``prices`` (USD per million tokens, by model-name prefix,
    longest prefix first; ``"*"`` for models no prefix matches)."""
    total = 0.0
    for model, usage in usage_by_model.items():
        match = max((p for p in prices if p != "*" and model.startswith(p)), key=len, default="*")
        price = prices.get(match) or prices.get("*") or {}
        inp = float(price.get("input", 0))
        total += usage.get("input_tokens", 0) * inp
        total += usage.get("output_tokens", 0) * float(price.get("output", 0))
        total += usage.get("cache_creation_input_tokens", 0) * float(price.get("cacheWrite", inp * 1.25))
        total += usage.get("cache_read_input_tokens", 0) * float(price.get("cacheRead", inp * 0.1))
    return round(total / 1_000_000, 6)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, path: str, upstream: str, api_key: str, meter: Meter) -> None:
        self.upstream = urlsplit(upstream)
        self.api_key = api_key
        self.meter = meter
        super().__init__(path, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def address_string(self) -> str:
        return "agent"

    def _refuse(self, status: int, message: str) -> None:
        body = json.dumps({"type": "error", "error": {"type": "gateway_error", "message": message}}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._refuse(404, "only the Messages API is relayed")

    def do_POST(self) -> None:
        path = self.path
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST_BYTES:
            self._refuse(413, "request too large")
            return
        # Read the body before any answer: a client still sending it would otherwise meet a closed pipe.
        body = self.rfile.read(length)
        if path.split("?", 1)[0] not in ("/v1/messages", "/v1/messages/count_tokens"):
            self._refuse(404, "only the Messages API is relayed")
            return
        try:
            request_model = str(json.loads(body).get("model") or "")
        except (ValueError, AttributeError):
            request_model = ""
        headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARD_HEADERS}
        if self.server.api_key:
            headers["x-api-key"] = self.server.api_key
        else:  # the agent signs in with its own credentials: pass them through
            for name in ("x-api-key", "authorization"):
                if self.headers.get(name):
                    headers[name] = self.headers[name]
        headers["Content-Length"] = str(len(body))
        up = self.server.upstream
        prefix = up.path.rstrip("/")
        try:
            if up.scheme == "https":
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    up.hostname, up.port or 443, timeout=600, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=600)
            conn.request("POST", prefix + path, body=body, headers=headers)
            answer = conn.getresponse()
        except OSError as exc:
            self._refuse(502, f"upstream unreachable: {exc.__class__.__name__}")
            return
        with self.server.meter.lock:
            self.server.meter.requests += 1
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() in (
                "content-type",
                "request-id",
                "retry-after",
                "anthropic-ratelimit-requests-remaining",
            ):
                self.send_header(name, value)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        streaming = "text/event-stream" in (answer.getheader("content-type") or "")
        tracker = SseUsage(request_model)
        collected = b""
        try:
            while chunk := answer.read1(65536):
                if streaming:
                    tracker.feed(chunk)
                elif len(collected) < MAX_REQUEST_BYTES:
                    collected += chunk
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass
        finally:
            conn.close()
        if streaming:
            self.server.meter.add(tracker.model, tracker.usage)
        elif answer.status == 200:
            try:
                message = json.loads(collected)
                self.server.meter.add(str(message.get("model") or request_model), message.get("usage") or {})
            except (ValueError, AttributeError):
                pass


def serve(path: str, upstream: str, api_key: str, meter: Meter) -> _Server:
    """Bind ``path`` (mode 0666: the directory holding it decides who may connect) and serve in a thread."""
    if os.path.exists(path):
        os.unlink(path)
    server = _Server(path, upstream, api_key, meter)
    os.chmod(path, 0o666)  # noqa: S103 - the 0750 directory around it decides who connects
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def connect_unix(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    return sock
