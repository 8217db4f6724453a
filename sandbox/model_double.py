"""A scripted Messages-API double for the real Claude Code CLI.

A real HTTP server on loopback (stdlib ``ThreadingHTTPServer``, port chosen at
start) that answers ``POST /v1/messages`` (any query string) with server-sent
events the way the Anthropic Messages API streams them, following a script:

    scenarios:
      - match: "fix the login"          # regex searched in the prompt (first user message)
        replies:                        # reply k = number of assistant messages in the request
          - [{tool: Bash, input: {command: "echo hi > out.txt"}}]
          - [{text: "Done."}]
      - match: "overloaded"
        status: 529                     # forever, or with status_times: N then the replies
      - match: "slow"
        hang_seconds: 30                # sleep before answering (timeout tests)
        replies: [[{text: "late"}]]

No matching scenario: a 400 ``invalid_request_error`` naming the problem.
Replies past the end of the list repeat the last one (provokes max-turns with a
looping tool call). Every request is recorded (path, headers, parsed body).

Out of process: ``python -m sandbox.model_double [--port N] [--script FILE]
[--ready-file F]`` prints ``MODEL_DOUBLE_URL=http://127.0.0.1:PORT``; the script can
be replaced with ``POST /_double/script`` (JSON ``{"scenarios": [...]}``) and the
recorded requests read with ``GET /_double/requests``
(``DELETE /_double/requests`` clears them).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MODEL_NAME = "claude-double-1"
# Usage reported for every answer: enough tokens for the CLI to compute a non-zero cost.
INPUT_TOKENS = 1000
OUTPUT_TOKENS = 100


class ScriptError(ValueError):
    """A scenario list that cannot be played."""


def load_script(path: str | Path) -> list[dict[str, Any]]:
    """Read scenarios from a YAML or JSON file (a list, or a mapping with ``scenarios``)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yml", ".yaml")):
        import yaml  # only needed for YAML scripts

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, dict):
        data = data.get("scenarios", [])
    return validate_scenarios(data)


def validate_scenarios(scenarios: Any) -> list[dict[str, Any]]:
    """Check the shape of a scenario list; return it (as a list of dicts)."""
    if not isinstance(scenarios, list):
        raise ScriptError("scenarios must be a list")
    for index, scenario in enumerate(scenarios):
        if not isinstance(scenario, dict) or not isinstance(scenario.get("match"), str):
            raise ScriptError(f"scenario {index} needs a 'match' regex")
        re.compile(scenario["match"])
        replies = scenario.get("replies")
        if replies is None and "status" not in scenario:
            raise ScriptError(f"scenario {index} needs 'replies' or 'status'")
        for reply in replies or []:
            if not isinstance(reply, list) or not reply:
                raise ScriptError(f"scenario {index}: each reply is a non-empty list of blocks")
            for block in reply:
                if not isinstance(block, dict) or not ({"text"} <= block.keys() or {"tool"} <= block.keys()):
                    raise ScriptError(
                        f"scenario {index}: a block is {{text: ...}} or {{tool: ..., input: ...}}"
                    )
    return [dict(s) for s in scenarios]


def prompt_text(body: dict[str, Any]) -> str:
    """The text of the first ``user`` message of a Messages request (all its text blocks)."""
    for message in body.get("messages", []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "\n".join(
            block.get("text", "")
            for block in content or []
            if isinstance(block, dict) and block.get("type") == "text"
        )
    return ""


def assistant_turns(body: dict[str, Any]) -> int:
    """How many assistant messages the request already carries (selects the reply)."""
    return sum(1 for message in body.get("messages", []) if message.get("role") == "assistant")


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def reply_events(blocks: list[dict[str, Any]], model: str) -> Iterator[bytes]:
    """The server-sent events of one streamed assistant message made of ``blocks``."""
    message_id = f"msg_double_{uuid.uuid4().hex[:20]}"
    usage = {
        "input_tokens": INPUT_TOKENS,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    yield sse(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        },
    )
    uses_tool = False
    for index, block in enumerate(blocks):
        if "tool" in block:
            uses_tool = True
            yield from tool_block_events(index, block)
        else:
            yield from text_block_events(index, str(block["text"]))
    yield sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use" if uses_tool else "end_turn", "stop_sequence": None},
            "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
        },
    )
    yield sse("message_stop", {"type": "message_stop"})


def text_block_events(index: int, text: str) -> Iterator[bytes]:
    yield sse(
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
    )
    yield sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}},
    )
    yield sse("content_block_stop", {"type": "content_block_stop", "index": index})


def tool_block_events(index: int, block: dict[str, Any]) -> Iterator[bytes]:
    tool_id = f"toolu_double_{uuid.uuid4().hex[:20]}"
    yield sse(
        "content_block_start",
        {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "tool_use", "id": tool_id, "name": block["tool"], "input": {}},
        },
    )
    yield sse(
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": index,
            "delta": {"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))},
        },
    )
    yield sse("content_block_stop", {"type": "content_block_stop", "index": index})


def error_body(status: int, message: str) -> dict[str, Any]:
    kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
        500: "api_error",
        529: "overloaded_error",
    }
    return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message}}


class ModelDouble:
    """The Messages-API double; ``start()`` binds a free port and serves in a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.url = ""
        self.requests: list[dict[str, Any]] = []
        self._scenarios: list[dict[str, Any]] = []
        self._fault_counts: dict[int, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> ModelDouble:
        handler = type("BoundHandler", (_Handler,), {"double": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="model-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ModelDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- script ----------------------------------------------------------------
    def set_scenarios(self, scenarios: list[dict[str, Any]]) -> None:
        """Replace the script; resets the per-scenario fault counters (not the request log)."""
        checked = validate_scenarios(scenarios)
        with self._lock:
            self._scenarios = checked
            self._fault_counts = {}

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def messages_requests(self) -> list[dict[str, Any]]:
        """The recorded ``POST /v1/messages`` requests only."""
        with self._lock:
            return [r for r in self.requests if r["path"].startswith("/v1/messages")]

    def record(self, path: str, headers: dict[str, str], body: Any) -> None:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body, "time": time.time()})

    def plan(self, body: dict[str, Any]) -> tuple[str, Any, float]:
        """Decide an answer: ("reply", replies, hang) or ("error", (status, message), hang)."""
        prompt = prompt_text(body)
        with self._lock:
            for index, scenario in enumerate(self._scenarios):
                if re.search(scenario["match"], prompt):
                    return self._plan_scenario(index, scenario)
        excerpt = prompt[:200].replace("\n", " ")
        return "error", (400, f"model double: no scenario matches the prompt: {excerpt!r}"), 0.0

    def _plan_scenario(self, index: int, scenario: dict[str, Any]) -> tuple[str, Any, float]:
        hang = float(scenario.get("hang_seconds", 0) or 0)
        status = scenario.get("status")
        if status is not None:
            limit = scenario.get("status_times")
            served = self._fault_counts.get(index, 0)
            if limit is None or served < int(limit) or not scenario.get("replies"):
                self._fault_counts[index] = served + 1
                message = scenario.get("message", f"model double: scripted status {status}")
                return "error", (int(status), message), hang
        return "reply", scenario["replies"], hang


class _Handler(BaseHTTPRequestHandler):
    double: ModelDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: the request log is ``double.requests``."""

    # -- helpers ---------------------------------------------------------------
    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except json.JSONDecodeError:
            return {"_unparsed": raw.decode("utf-8", "replace")}

    def _send_json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    # -- verbs -----------------------------------------------------------------
    def do_HEAD(self) -> None:
        status = 200 if urlsplit(self.path).path == "/" else 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/_double/requests":
            with self.double._lock:
                snapshot = list(self.double.requests)
            self._send_json(200, snapshot)
        elif path == "/":
            self._send_json(200, {"double": "model", "url": self.double.url})
        else:
            self._send_json(404, error_body(404, f"model double: no such path {path}"))

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path == "/_double/requests":
            self.double.clear_requests()
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, error_body(404, "model double: no such path"))

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._read_json()
        if path == "/_double/script":
            self._set_script(body)
        elif path == "/v1/messages":
            self.double.record(self.path, dict(self.headers.items()), body)
            self._answer_messages(body if isinstance(body, dict) else {})
        else:
            self._send_json(404, error_body(404, f"model double: no such path {path}"))

    def _set_script(self, body: Any) -> None:
        scenarios = body.get("scenarios") if isinstance(body, dict) else body
        try:
            self.double.set_scenarios(scenarios)
        except (ScriptError, re.error) as exc:
            self._send_json(400, {"ok": False, "error": str(exc)})
            return
        self._send_json(200, {"ok": True, "scenarios": len(scenarios)})

    def _answer_messages(self, body: dict[str, Any]) -> None:
        kind, detail, hang = self.double.plan(body)
        if hang:
            time.sleep(hang)
        if kind == "error":
            status, message = detail
            headers = {"x-should-retry": "true"} if status >= 500 or status == 429 else {}
            self._send_json(status, error_body(status, message), headers)
            return
        replies: list[list[dict[str, Any]]] = detail
        blocks = replies[min(assistant_turns(body), len(replies) - 1)]
        if body.get("stream"):
            self._stream(blocks, str(body.get("model") or MODEL_NAME))
        else:
            self._send_json(200, plain_message(blocks, str(body.get("model") or MODEL_NAME)))

    def _stream(self, blocks: list[dict[str, Any]], model: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in reply_events(blocks, model):
                self.wfile.write(chunk)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


def plain_message(blocks: list[dict[str, Any]], model: str) -> dict[str, Any]:
    """A non-streaming Messages answer (for requests without ``stream: true``)."""
    content: list[dict[str, Any]] = []
    for block in blocks:
        if "tool" in block:
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_double_{uuid.uuid4().hex[:20]}",
                    "name": block["tool"],
                    "input": block.get("input", {}),
                }
            )
        else:
            content.append({"type": "text", "text": str(block["text"])})
    uses_tool = any(b["type"] == "tool_use" for b in content)
    return {
        "id": f"msg_double_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if uses_tool else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.model_double", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    parser.add_argument("--script", help="YAML or JSON file of scenarios")
    parser.add_argument("--ready-file", help="write the URL here once listening")
    args = parser.parse_args(argv)

    double = ModelDouble(args.host, args.port)
    if args.script:
        double.set_scenarios(load_script(args.script))
    double.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.ready_file:
        ready = Path(args.ready_file)
        partial = ready.with_name(ready.name + ".partial")
        partial.write_text(double.url + "\n", encoding="utf-8")
        partial.replace(ready)  # readers never see a half-written file
    print(f"MODEL_DOUBLE_URL={double.url}", flush=True)
    for _ in itertools.count():
        if stop.wait(1.0):
            break
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
