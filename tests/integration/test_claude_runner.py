"""The runner with the REAL Claude Code CLI, run as an unprivileged user, against the model double."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from ansible.module_utils.slipway.claude import DEFAULT_ENV_ALLOW, ClaudeResult, build_env, run_claude
from ansible.module_utils.slipway.runlog import log_tail

pytest.register_assert_rewrite("tests.claude_fixtures")
from sandbox.users import UnprivilegedUser
from tests.claude_fixtures import claude_env_for

pytest_plugins = ["tests.claude_fixtures"]

pytestmark = [pytest.mark.claude, pytest.mark.integration]

SECRET = "forgejo-token-0123456789abcdef"  # noqa: S105 - a canary, not a credential


def run(
    exe: str,
    user: UnprivilegedUser,
    double_url: str,
    workdir: Path,
    prompt: str,
    *,
    max_turns: int = 5,
    timeout_s: float = 60,
    skip_permissions: bool = True,
    allowed_tools: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> ClaudeResult:
    return run_claude(
        exe,
        prompt,
        str(workdir),
        str(workdir.parent / "claude.log"),
        max_turns=max_turns,
        timeout_s=timeout_s,
        env=claude_env_for(user, double_url, extra_env),
        allowed_tools=allowed_tools,
        skip_permissions=skip_permissions,
        run_as=user.run_as,
        kill_grace_s=2.0,
    )


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_a_scripted_fix_reads_and_edits_a_file_in_the_working_directory(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    target = claude_workdir / "app.py"
    target.write_text("GREETING = 'helo'\n")
    unprivileged_user.chown(target)
    model_double.set_scenarios(
        [
            {
                "match": "Fix the greeting typo",
                "replies": [
                    [{"text": "Reading."}, {"tool": "Read", "input": {"file_path": str(target)}}],
                    [
                        {
                            "tool": "Edit",
                            "input": {"file_path": str(target), "old_string": "helo", "new_string": "hello"},
                        }
                    ],
                    [{"text": "Fixed the typo in app.py."}],
                ],
            }
        ]
    )
    started = time.monotonic()
    result = run(claude_exe, unprivileged_user, model_double.url, claude_workdir, "Fix the greeting typo.")
    elapsed = time.monotonic() - started

    assert result.ok, result.reason
    assert result.reason == ""
    assert (result.exit_code, result.subtype, result.is_error) == (0, "success", False)
    assert result.text == "Fixed the typo in app.py."
    assert target.read_text() == "GREETING = 'hello'\n"
    assert result.num_turns == 3
    assert result.cost_usd > 0
    assert result.session_id
    assert result.permission_denials == []
    assert len(model_double.messages_requests()) == 3
    assert '"type":"result"' in log_tail(result.log_path, 5).replace(" ", "")
    print(f"TIMING success-3-turn-edit {elapsed:.2f}s")


def test_no_secret_from_the_parent_environment_reaches_the_cli_or_the_model(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    # The model asks for `env`; the tool output goes back to the model in the next request.
    model_double.set_scenarios(
        [
            {
                "match": "show env",
                "replies": [[{"tool": "Bash", "input": {"command": "env"}}], [{"text": "done"}]],
            }
        ]
    )
    parent = {
        **os.environ,
        "SLIPWAY_TEST_FORGEJO_TOKEN": SECRET,
        "DATABASE_URL": f"postgres://app:{SECRET}@db/prod",
        **claude_env_for(unprivileged_user, model_double.url),
    }
    result = run_claude(
        claude_exe,
        "show env",
        str(claude_workdir),
        str(claude_workdir.parent / "claude.log"),
        max_turns=3,
        timeout_s=60,
        env=build_env(parent, DEFAULT_ENV_ALLOW),
        skip_permissions=True,
        run_as=unprivileged_user.run_as,
    )

    assert result.ok, result.reason
    requests = model_double.messages_requests()
    tool_output = json.dumps(requests[1]["body"]["messages"][-1])
    assert "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1" in tool_output  # the env really came back
    assert SECRET not in json.dumps(model_double.requests)
    assert "SLIPWAY_TEST_FORGEJO_TOKEN" not in tool_output
    offered = {tool["name"] for tool in requests[0]["body"]["tools"]}
    assert {"Bash", "Read", "Edit", "Write"} <= offered
    assert requests[0]["headers"]["User-Agent"].startswith("claude-cli/2.1.197")


def test_api_500_forever_fails_fast_with_bounded_retries(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    model_double.set_scenarios([{"match": "broken", "status": 500}])
    started = time.monotonic()
    result = run(claude_exe, unprivileged_user, model_double.url, claude_workdir, "broken backend")
    elapsed = time.monotonic() - started

    assert not result.ok
    assert result.reason.startswith("API error 500: "), result.reason
    assert (result.exit_code, result.subtype, result.is_error) == (1, "success", True)
    assert result.cost_usd == 0
    assert len(model_double.messages_requests()) == 2  # CLAUDE_CODE_MAX_RETRIES=1: one try + one retry
    assert elapsed < 15
    print(f"TIMING api-500-forever(max_retries=1) {elapsed:.2f}s")


def test_a_transient_500_is_retried_and_the_run_succeeds(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    model_double.set_scenarios(
        [{"match": "flaky", "status": 500, "status_times": 1, "replies": [[{"text": "ok"}]]}]
    )
    result = run(claude_exe, unprivileged_user, model_double.url, claude_workdir, "flaky backend")

    assert result.ok, result.reason
    assert result.text == "ok"
    assert len(model_double.messages_requests()) == 2


def test_api_529_overloaded_is_reported_as_an_api_error(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    model_double.set_scenarios([{"match": "busy", "status": 529}])
    started = time.monotonic()
    result = run(claude_exe, unprivileged_user, model_double.url, claude_workdir, "busy backend")
    elapsed = time.monotonic() - started

    assert not result.ok
    assert result.reason.startswith("API error"), result.reason
    assert "529" in result.reason
    assert result.exit_code == 1
    print(f"TIMING api-529(max_retries=1) {elapsed:.2f}s")


def test_a_looping_tool_call_stops_at_max_turns(claude_exe, unprivileged_user, model_double, claude_workdir):
    model_double.set_scenarios(
        [{"match": "loop", "replies": [[{"tool": "Bash", "input": {"command": "true"}}]]}]
    )
    started = time.monotonic()
    result = run(claude_exe, unprivileged_user, model_double.url, claude_workdir, "loop forever", max_turns=2)
    elapsed = time.monotonic() - started

    assert not result.ok
    assert result.reason == "max turns (2) reached"
    assert result.subtype == "error_max_turns"
    assert result.exit_code == 1
    assert result.text == ""
    assert result.cost_usd > 0
    print(f"TIMING max-turns(2) {elapsed:.2f}s")


def test_the_timeout_kills_the_cli_and_everything_it_started(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    pid_file = claude_workdir / "bg.pid"
    model_double.set_scenarios(
        [
            {
                "match": "slow work",
                "replies": [
                    [
                        {
                            "tool": "Bash",
                            "input": {"command": f"nohup sleep 307 >/dev/null 2>&1 & echo $! > {pid_file}"},
                        }
                    ]
                ],
            },
        ]
    )

    # The second request (after the tool result) hangs: switch the script once the tool ran.
    def hang_after_tool() -> None:
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        model_double.set_scenarios(
            [{"match": "slow work", "hang_seconds": 60, "replies": [[{"text": "late"}]]}]
        )

    switcher = threading.Thread(target=hang_after_tool, daemon=True)
    switcher.start()
    started = time.monotonic()
    result = run(claude_exe, unprivileged_user, model_double.url, claude_workdir, "slow work", timeout_s=6)
    elapsed = time.monotonic() - started
    switcher.join(timeout=1)

    assert result.timed_out
    assert not result.ok
    assert result.reason == "timed out after 6s"
    assert result.exit_code in (143, 137)
    background_pid = int(pid_file.read_text())
    assert not pid_alive(background_pid), "the backgrounded tool process survived the timeout"
    assert elapsed < 6 + 2 + 3
    print(f"TIMING timeout(6s)-kill {elapsed:.2f}s exit={result.exit_code}")


def test_allowed_tools_deny_a_write_and_the_denial_is_reported(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    target = claude_workdir / "forbidden.txt"
    model_double.set_scenarios(
        [
            {
                "match": "write a file",
                "replies": [
                    [{"tool": "Write", "input": {"file_path": str(target), "content": "nope\n"}}],
                    [{"text": "I could not write."}],
                ],
            }
        ]
    )
    result = run(
        claude_exe,
        unprivileged_user,
        model_double.url,
        claude_workdir,
        "write a file",
        skip_permissions=False,
        allowed_tools=["Read", "Bash(git grep:*)"],
    )

    assert result.ok, result.reason  # a denial is not a failed run: exit 0
    assert not target.exists()
    assert [denial["tool_name"] for denial in result.permission_denials] == ["Write"]
    tool_result = model_double.messages_requests()[1]["body"]["messages"][-1]["content"][0]
    assert tool_result["is_error"] is True


def test_the_prompt_goes_on_stdin_and_never_appears_in_the_process_list(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    marker = "issue-text-marker-7f3a9c"
    model_double.set_scenarios([{"match": marker, "hang_seconds": 3, "replies": [[{"text": "seen"}]]}])
    seen_in_cmdlines: list[str] = []
    found_cli = threading.Event()

    def scan() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not model_double.messages_requests():
            time.sleep(0.05)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "claude" in cmdline and "--output-format" in cmdline:
                found_cli.set()
            if marker in cmdline:
                seen_in_cmdlines.append(cmdline)

    scanner = threading.Thread(target=scan)
    scanner.start()
    result = run(claude_exe, unprivileged_user, model_double.url, claude_workdir, f"Bug report: {marker}")
    scanner.join()

    assert result.ok, result.reason
    assert found_cli.is_set(), "the scan ran while the CLI was alive"
    assert seen_in_cmdlines == []
    assert marker in json.dumps(model_double.messages_requests()[0]["body"]["messages"])


def test_nothing_of_a_finished_run_is_left_in_its_session(
    claude_exe, unprivileged_user, model_double, claude_workdir
):
    pid_file = claude_workdir / "left.pid"
    model_double.set_scenarios(
        [
            {
                "match": "leave",
                "replies": [
                    [
                        {
                            "tool": "Bash",
                            "input": {"command": f"nohup sleep 309 >/dev/null 2>&1 & echo $! > {pid_file}"},
                        }
                    ],
                    [{"text": "done"}],
                ],
            }
        ]
    )
    result = run(claude_exe, unprivileged_user, model_double.url, claude_workdir, "leave a process behind")

    assert result.ok, result.reason
    left = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while pid_alive(left) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(left)


@pytest.mark.skipif(os.geteuid() != 0, reason="the CLI refuses to skip permissions only as root")
def test_running_as_root_with_skipped_permissions_fails_with_the_cli_message(
    claude_exe, model_double, claude_workdir, unprivileged_user
):
    model_double.set_scenarios([{"match": "x", "replies": [[{"text": "never"}]]}])
    root = UnprivilegedUser("root", 0, 0, "/root")
    result = run(claude_exe, root, model_double.url, claude_workdir, "x")

    assert not result.ok
    assert result.reason.startswith("exited 1 without a result: "), result.reason
    assert "root" in result.reason or "sudo" in result.reason
    assert model_double.messages_requests() == []
