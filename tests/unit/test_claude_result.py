"""Reading the CLI's final result object: every case of the reference table."""

from __future__ import annotations

import json

from ansible.module_utils.slipway.claude import find_result, one_line, parse_result_line, result_from

SUCCESS = {
    "type": "result",
    "subtype": "success",
    "is_error": False,
    "api_error_status": None,
    "duration_ms": 241,
    "num_turns": 2,
    "result": "Made the file.",
    "stop_reason": "end_turn",
    "session_id": "3561b8ee-9402-4adc-b494-2661d3ebb6ea",
    "total_cost_usd": 0.015,
    "permission_denials": [],
    "terminal_reason": "completed",
}
API_500 = {
    "type": "result",
    "subtype": "success",
    "is_error": True,
    "api_error_status": 500,
    "duration_ms": 174669,
    "num_turns": 1,
    "result": "API Error: 500 Internal error. This is a server-side issue, usually temporary.",
    "total_cost_usd": 0,
    "permission_denials": [],
}
API_529_REPEATED = {
    "type": "result",
    "subtype": "success",
    "is_error": True,
    "api_error_status": None,
    "duration_ms": 1689,
    "num_turns": 1,
    "result": "API Error: Repeated 529 Overloaded errors. The API is at capacity.",
    "total_cost_usd": 0,
}
UNREACHABLE = {
    "type": "result",
    "subtype": "success",
    "is_error": True,
    "api_error_status": None,
    "num_turns": 1,
    "result": "API Error: Unable to connect to API (ConnectionRefused)",
    "total_cost_usd": 0,
}
MAX_TURNS = {
    "type": "result",
    "subtype": "error_max_turns",
    "duration_ms": 234,
    "is_error": True,
    "num_turns": 4,
    "stop_reason": "tool_use",
    "session_id": "b267a9c9",
    "total_cost_usd": 0.0225,
    "permission_denials": [],
    "terminal_reason": "max_turns",
    "errors": ["Reached maximum number of turns (3)"],
}


def test_success_needs_exit_0_subtype_success_and_no_error():
    result = result_from(SUCCESS, 0, max_turns=5, log_path="/l")

    assert result.ok
    assert result.reason == ""
    assert result.text == "Made the file."
    assert (result.exit_code, result.subtype, result.is_error) == (0, "success", False)
    assert result.cost_usd == 0.015
    assert result.num_turns == 2
    assert result.duration_ms == 241
    assert result.session_id == "3561b8ee-9402-4adc-b494-2661d3ebb6ea"
    assert result.log_path == "/l"
    assert not result.timed_out


def test_a_500_after_the_retries_is_an_api_error_with_its_status():
    result = result_from(API_500, 1, max_turns=5)

    assert not result.ok
    assert result.reason == ("API error 500: Internal error. This is a server-side issue, usually temporary.")
    assert result.is_error is True
    assert result.text.startswith("API Error: 500")


def test_repeated_529_without_a_status_is_still_an_api_error():
    result = result_from(API_529_REPEATED, 1, max_turns=5)

    assert not result.ok
    assert result.reason == "API error: Repeated 529 Overloaded errors. The API is at capacity."


def test_an_unreachable_api_is_an_api_error():
    result = result_from(UNREACHABLE, 1, max_turns=5)

    assert result.reason == "API error: Unable to connect to API (ConnectionRefused)"


def test_max_turns_has_no_result_key_and_names_the_limit():
    result = result_from(MAX_TURNS, 1, max_turns=3)

    assert not result.ok
    assert result.reason == "max turns (3) reached"
    assert result.text == ""
    assert result.subtype == "error_max_turns"
    assert result.cost_usd == 0.0225


def test_killed_by_sigterm_without_a_result_object():
    result = result_from(None, 143, max_turns=5, wall_ms=1200)

    assert not result.ok
    assert result.reason == "exited 143 without a result"
    assert result.subtype is None
    assert result.is_error is None
    assert result.cost_usd == 0.0
    assert result.duration_ms == 1200


def test_no_result_names_the_last_stderr_line():
    stderr = "some noise\n--dangerously-skip-permissions cannot be used with root/sudo privileges\n"
    result = result_from(None, 1, stderr_tail=stderr)

    assert result.reason == (
        "exited 1 without a result: --dangerously-skip-permissions cannot be used with root/sudo privileges"
    )


def test_a_timeout_wins_over_whatever_the_process_printed():
    result = result_from(SUCCESS, 143, timed_out=True, timeout_s=900, max_turns=5)

    assert not result.ok
    assert result.timed_out
    assert result.reason == "timed out after 900s"
    assert result.text == "Made the file."


def test_a_denied_tool_is_not_a_failed_run_but_is_reported():
    denied = {
        **SUCCESS,
        "permission_denials": [{"tool_name": "Write", "tool_use_id": "t1", "tool_input": {}}],
    }
    result = result_from(denied, 0)

    assert result.ok
    assert result.permission_denials == [{"tool_name": "Write", "tool_use_id": "t1", "tool_input": {}}]


def test_success_with_a_nonzero_exit_is_a_failure():
    result = result_from(SUCCESS, 2)

    assert not result.ok
    assert result.reason == "exited 2"


def test_an_error_subtype_is_reported_with_its_errors():
    obj = {
        "type": "result",
        "subtype": "error_during_execution",
        "is_error": True,
        "errors": ["boom", "bang"],
    }
    result = result_from(obj, 1)

    assert result.reason == "error_during_execution: boom; bang"


def test_is_error_without_an_api_status_reports_the_text():
    obj = {**SUCCESS, "is_error": True, "result": "Credit balance is too low"}
    assert result_from(obj, 1).reason == "error: Credit balance is too low"


def test_keys_are_read_by_name_whatever_their_order_or_extras():
    shuffled = dict(reversed(list(SUCCESS.items())))
    shuffled["a_new_key_from_a_later_version"] = {"x": 1}
    line = json.dumps(shuffled)

    assert result_from(parse_result_line(line), 0).ok


def test_the_last_result_line_of_a_stream_is_found_among_other_events():
    lines = [
        '{"type":"system","subtype":"init","session_id":"s"}',
        "not json at all",
        '{"type":"assistant","message":{"content":[{"type":"text","text":"\\"result\\""}]}}',
        json.dumps({**SUCCESS, "result": "first"}),
        '{"type":"result", "truncated',
        json.dumps(SUCCESS),
    ]
    found = find_result(lines)

    assert found is not None
    assert found["result"] == "Made the file."


def test_a_stream_without_a_result_gives_none():
    assert find_result(['{"type":"system"}', "[stderr] boom"]) is None


def test_reasons_are_one_bounded_line():
    long = "API Error: 500 " + "line one\nline two " * 100
    reason = result_from({**API_500, "result": long}, 1).reason

    assert "\n" not in reason
    assert len(reason) <= 300
    assert reason.endswith("...")
    assert one_line("a\n  b\tc") == "a b c"
