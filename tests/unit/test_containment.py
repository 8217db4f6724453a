"""The containment's pure parts: the model gateway (key held, usage measured), the home reset, the
price table, and agent-run's refusals for triage runs. The whole of it runs for real on pms1 in
tests/host/test_agent_isolation.py."""

from __future__ import annotations

import http.client
import json
import os
import socket
from pathlib import Path

import pytest
from ansible.module_utils.slipway import agent_sandbox, model_gateway
from ansible.module_utils.slipway.config import DEFAULT_MODEL_PRICES

from sandbox.model_double import INPUT_TOKENS, OUTPUT_TOKENS, ModelDouble
from tests.unit.test_hostile_input import _agent_run


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def _ask(sock_path: str, body: dict, headers: dict | None = None) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(sock_path)
    conn.request(
        "POST",
        "/v1/messages?beta=true",
        body=json.dumps(body),
        headers={"content-type": "application/json", **(headers or {})},
    )
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    return answer.status, data


@pytest.fixture
def model():
    with ModelDouble() as double:
        double.set_scenarios([{"match": "hello", "replies": [[{"text": "hi there"}], [{"text": "again"}]]}])
        yield double


def test_the_gateway_measures_the_usage_of_streamed_answers_and_holds_the_key(model, tmp_path):
    meter = model_gateway.Meter()
    path = str(tmp_path / "model.sock")
    server = model_gateway.serve(path, model.url, "sk-ant-real-key", meter)
    try:
        request = {
            "model": "claude-sonnet-4-5",
            "stream": True,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hello"}],
        }
        status, data = _ask(path, request, {"x-api-key": "agent-forged", "authorization": "Bearer forged"})
        assert status == 200 and b"hi there" in data
        status, _ = _ask(path, request)
        assert status == 200
    finally:
        server.shutdown()
    seen = model.messages_requests()
    assert [r["headers"].get("x-api-key") for r in seen] == ["sk-ant-real-key", "sk-ant-real-key"]
    assert all("authorization" not in {k.lower() for k in r["headers"]} for r in seen)
    snapshot = meter.snapshot()
    assert snapshot["requests"] == 2
    usage = snapshot["models"]["claude-sonnet-4-5"]
    assert usage["input_tokens"] == 2 * INPUT_TOKENS and usage["output_tokens"] == 2 * OUTPUT_TOKENS
    cost = model_gateway.price_of(snapshot["models"], DEFAULT_MODEL_PRICES)
    assert cost == pytest.approx((2 * INPUT_TOKENS * 3 + 2 * OUTPUT_TOKENS * 15) / 1e6)


def test_the_gateway_relays_only_the_messages_api(model, tmp_path):
    path = str(tmp_path / "model.sock")
    server = model_gateway.serve(path, model.url, "", model_gateway.Meter())
    try:
        conn = UnixHTTPConnection(path)
        conn.request("GET", "/_double/requests")
        assert conn.getresponse().status == 404
        conn.close()
        conn = UnixHTTPConnection(path)
        conn.request("POST", "/v1/complete", body="{}")
        assert conn.getresponse().status == 404
    finally:
        server.shutdown()


def test_an_unknown_model_is_priced_as_the_dearest():
    usage = {"mystery-model": {"input_tokens": 1_000_000, "output_tokens": 0}}
    assert model_gateway.price_of(usage, DEFAULT_MODEL_PRICES) == 15.0
    opus = {"claude-opus-4-5": {"input_tokens": 0, "output_tokens": 1_000_000}}
    assert model_gateway.price_of(opus, DEFAULT_MODEL_PRICES) == 75.0
    cached = {
        "claude-haiku-4-5": {"cache_read_input_tokens": 1_000_000, "cache_creation_input_tokens": 1_000_000}
    }
    assert model_gateway.price_of(cached, DEFAULT_MODEL_PRICES) == pytest.approx(0.1 + 1.25)


def test_the_sse_reader_takes_usage_from_message_start_and_delta_only():
    tracker = model_gateway.SseUsage("asked-model")
    stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"model":"claude-haiku-4","usage":'
        b'{"input_tokens":7,"output_tokens":1}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","usage":{"output_tokens":999999}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":42}}\n\n'
    )
    for i in range(0, len(stream), 5):  # split anywhere, as TCP does
        tracker.feed(stream[i : i + 5])
    assert tracker.model == "claude-haiku-4"
    assert tracker.usage == {"input_tokens": 7, "output_tokens": 42}


def test_the_home_reset_keeps_credentials_clone_and_store_and_follows_no_symlink(tmp_path):
    home = tmp_path / "home"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    for rel, text in {
        ".claude/.credentials.json": "creds",
        ".claude/settings.json": "hooks",
        "CLAUDE.md": "obey",
        ".bashrc": "evil",
        "clone/App/x.js": "code",
        ".local/share/pnpm/store/v10/a": "pkg",
        ".local/bin/evil": "x",
    }.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text)
    os.symlink(outside, home / "link-out")
    os.symlink(outside, home / ".claude" / "linked")
    removed = agent_sandbox.reset_home(
        home, ["clone", ".claude/.credentials.json", ".local/share/pnpm"], {".gitconfig": "[user]\n"}
    )
    left = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert left == [
        ".claude",
        ".claude/.credentials.json",
        ".gitconfig",
        ".local",
        ".local/share",
        ".local/share/pnpm",
        ".local/share/pnpm/store",
        ".local/share/pnpm/store/v10",
        ".local/share/pnpm/store/v10/a",
        "clone",
        "clone/App",
        "clone/App/x.js",
    ]
    assert (outside / "precious").read_text() == "keep me"
    assert {"CLAUDE.md", ".bashrc", ".claude/settings.json", "link-out"} <= set(removed)
    assert oct((home / ".gitconfig").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(
    "flags",
    [
        ["-p", "--run-id", "0123456789abcdef", "--tools", "Read,Bash"],
        ["-p", "--run-id", "0123456789abcdef", "--tools", "Read,Write"],
        ["-p", "--run-id", "0123456789abcdef", "--tools", "Read,WebFetch"],
    ],
)
def test_agent_run_gives_a_triage_run_read_only_tools_only(flags, capsys):
    agent_run = _agent_run()
    settings = {"home": "/nonexistent", "user": "autofix", "clone": "/nonexistent", "claudeExe": "/bin/false"}
    with pytest.raises(SystemExit) as stopped:
        agent_run.cmd_claude(settings, flags)
    assert stopped.value.code == 2
    assert "may only have the tools Read, Grep, Glob, LS" in capsys.readouterr().err


def test_agent_run_needs_a_run_id_for_the_gateways_measurement(capsys):
    agent_run = _agent_run()
    with pytest.raises(SystemExit):
        agent_run.cmd_claude({"home": "/x", "user": "a", "clone": "/x", "claudeExe": "/bin/false"}, ["-p"])
    assert "--run-id is required" in capsys.readouterr().err


def test_no_secret_is_on_the_units_command_line():
    agent_run = _agent_run()
    settings = {
        "home": "/home/autofix",
        "user": "autofix",
        "clone": "/home/autofix/c",
        "uid": 1001,
        "gid": 1001,
    }
    _unit, argv = agent_run.unit_argv(
        settings, "claude", Path("/run/slipway-agent/abc"), 60, True, {"SLIPWAY_AGENT_CLAUDE_ENV": "{}"}
    )
    joined = " ".join(argv)
    for needed in (
        "PrivateNetwork=yes",
        "ProtectHome=tmpfs",
        "NoNewPrivileges=yes",
        "MemoryMax=",
        "TasksMax=",
    ):
        assert needed in joined
    assert "ReadOnlyPaths=/home/autofix/c" in joined
    assert "KEY" not in joined and "sk-" not in joined
