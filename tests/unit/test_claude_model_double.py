"""The scripted Messages-API double, spoken to over real HTTP on loopback."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from sandbox.model_double import ModelDouble, ScriptError, load_script, prompt_text

FIX_SCRIPT = [
    {
        "match": r"issue #\d+",
        "replies": [
            [{"text": "Looking."}, {"tool": "Bash", "input": {"command": "ls"}}],
            [{"text": "Fixed."}],
        ],
    }
]


@pytest.fixture()
def double() -> Iterator[ModelDouble]:
    server = ModelDouble().start()
    yield server
    server.stop()


def request(
    url: str, method: str, path: str, body: object | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def messages_body(prompt: str, assistant_turns: int = 0, stream: bool = True) -> dict:
    messages: list[dict] = [{"role": "user", "content": [{"type": "text", "text": prompt}]}]
    for n in range(assistant_turns):
        messages.append({"role": "assistant", "content": [{"type": "text", "text": f"turn {n}"}]})
        messages.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]}
        )
    return {"model": "claude-test", "max_tokens": 100, "stream": stream, "messages": messages}


def parse_sse(payload: bytes) -> list[tuple[str, dict]]:
    events = []
    for chunk in payload.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_head_on_root_answers_200_and_unknown_paths_404(double):
    assert request(double.url, "HEAD", "/")[0] == 200
    assert request(double.url, "HEAD", "/elsewhere")[0] == 404
    assert request(double.url, "GET", "/v1/models")[0] == 404
    assert request(double.url, "POST", "/v1/complete", {})[0] == 404


def test_a_streamed_reply_follows_the_messages_event_order(double):
    double.set_scenarios(FIX_SCRIPT)
    status, headers, payload = request(
        double.url, "POST", "/v1/messages?beta=true", messages_body("fix issue #4")
    )

    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    events = parse_sse(payload)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta",
        "message_stop",
    ]  # fmt: skip
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "Looking."}
    tool_start = events[4][1]["content_block"]
    assert tool_start["type"] == "tool_use" and tool_start["name"] == "Bash"
    assert events[5][1]["delta"]["type"] == "input_json_delta"
    assert json.loads(events[5][1]["delta"]["partial_json"]) == {"command": "ls"}
    assert events[4][1]["index"] == 1
    delta = events[7][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["output_tokens"] > 0
    assert events[0][1]["message"]["usage"]["input_tokens"] > 0


def test_the_reply_is_chosen_by_the_number_of_assistant_messages(double):
    double.set_scenarios(FIX_SCRIPT)
    second = parse_sse(request(double.url, "POST", "/v1/messages", messages_body("issue #4", 1))[2])

    assert second[2][1]["delta"]["text"] == "Fixed."
    assert second[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_a_retried_request_gets_the_same_reply(double):
    double.set_scenarios(FIX_SCRIPT)
    first = parse_sse(request(double.url, "POST", "/v1/messages", messages_body("issue #4"))[2])
    again = parse_sse(request(double.url, "POST", "/v1/messages", messages_body("issue #4"))[2])

    assert first[2][1]["delta"] == again[2][1]["delta"]


def test_replies_past_the_end_repeat_the_last(double):
    double.set_scenarios(FIX_SCRIPT)
    late = parse_sse(request(double.url, "POST", "/v1/messages", messages_body("issue #4", 7))[2])

    assert late[2][1]["delta"]["text"] == "Fixed."


def test_no_matching_scenario_is_an_obvious_400(double):
    double.set_scenarios(FIX_SCRIPT)
    status, _, payload = request(double.url, "POST", "/v1/messages", messages_body("something else"))

    assert status == 400
    error = json.loads(payload)["error"]
    assert error["type"] == "invalid_request_error"
    assert "no scenario matches" in error["message"] and "something else" in error["message"]


def test_only_the_first_user_message_is_matched(double):
    double.set_scenarios([{"match": "tool_result text", "replies": [[{"text": "x"}]]}])
    body = messages_body("the prompt", 1)
    body["messages"][2]["content"] = [{"type": "text", "text": "tool_result text"}]

    assert request(double.url, "POST", "/v1/messages", body)[0] == 400


def test_a_status_fault_repeats_forever(double):
    double.set_scenarios([{"match": "down", "status": 500}])
    statuses = [request(double.url, "POST", "/v1/messages", messages_body("down"))[0] for _ in range(3)]

    assert statuses == [500, 500, 500]


def test_a_status_fault_with_a_count_then_plays_the_replies(double):
    double.set_scenarios(
        [{"match": "flaky", "status": 529, "status_times": 2, "replies": [[{"text": "up"}]]}]
    )
    results = [request(double.url, "POST", "/v1/messages", messages_body("flaky")) for _ in range(3)]

    assert [status for status, _, _ in results] == [529, 529, 200]
    assert json.loads(results[0][2])["error"]["type"] == "overloaded_error"


def test_hang_seconds_delays_the_answer(double):
    double.set_scenarios([{"match": "slow", "hang_seconds": 0.6, "replies": [[{"text": "late"}]]}])
    started = time.monotonic()
    status = request(double.url, "POST", "/v1/messages", messages_body("slow"))[0]

    assert status == 200
    assert time.monotonic() - started >= 0.6


def test_a_non_streaming_request_gets_a_plain_message(double):
    double.set_scenarios(FIX_SCRIPT)
    status, _, payload = request(double.url, "POST", "/v1/messages", messages_body("issue #1", stream=False))

    assert status == 200
    message = json.loads(payload)
    assert [block["type"] for block in message["content"]] == ["text", "tool_use"]
    assert message["stop_reason"] == "tool_use"


def test_every_messages_request_is_recorded_with_headers_and_body(double):
    double.set_scenarios(FIX_SCRIPT)
    request(double.url, "HEAD", "/")
    request(double.url, "POST", "/v1/messages?beta=true", messages_body("issue #9"))

    recorded = double.messages_requests()
    assert len(recorded) == 1
    assert recorded[0]["path"] == "/v1/messages?beta=true"
    assert recorded[0]["headers"]["x-api-key"] == "sk-test"
    assert prompt_text(recorded[0]["body"]) == "issue #9"


def test_the_script_can_be_set_over_http_and_requests_read_back(double):
    status, _, payload = request(double.url, "POST", "/_double/script", {"scenarios": FIX_SCRIPT})
    assert (status, json.loads(payload)) == (200, {"ok": True, "scenarios": 1})
    assert request(double.url, "POST", "/v1/messages", messages_body("issue #2"))[0] == 200

    status, _, payload = request(double.url, "GET", "/_double/requests")
    assert status == 200
    assert len(json.loads(payload)) == 1
    assert request(double.url, "DELETE", "/_double/requests")[0] == 200
    assert double.requests == []


def test_a_malformed_script_is_refused(double):
    status, _, payload = request(double.url, "POST", "/_double/script", {"scenarios": [{"replies": []}]})

    assert status == 400
    assert "match" in json.loads(payload)["error"]
    with pytest.raises(ScriptError):
        double.set_scenarios([{"match": "x", "replies": [[{"bogus": 1}]]}])
    with pytest.raises(ScriptError):
        double.set_scenarios([{"match": "x"}])


def test_prompt_text_reads_string_and_block_content():
    assert (
        prompt_text({"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]})
        == "hi"
    )
    blocks = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
        ]
    }
    assert prompt_text(blocks) == "a\nb"


def test_scripts_load_from_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "script.yml"
    yaml_file.write_text("scenarios:\n  - match: hello\n    replies:\n      - [{text: hi}]\n")
    json_file = tmp_path / "script.json"
    json_file.write_text(json.dumps(FIX_SCRIPT))

    assert load_script(yaml_file) == [{"match": "hello", "replies": [[{"text": "hi"}]]}]
    assert load_script(json_file) == FIX_SCRIPT


def test_the_double_runs_as_a_standalone_process(tmp_path):
    script = tmp_path / "script.yml"
    script.write_text("- match: ping\n  replies: [[{text: pong}]]\n")
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.model_double", "--script", str(script), "--ready-file", str(ready)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("MODEL_DOUBLE_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        assert ready.read_text().strip() == url
        events = parse_sse(request(url, "POST", "/v1/messages", messages_body("ping"))[2])
        assert events[2][1]["delta"]["text"] == "pong"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
