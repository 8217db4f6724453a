"""The agent protocol: what the watcher builds is what agent-run and the contained steps accept, and
nothing else is (one definition for both sides)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils.slipway import agent_protocol as protocol
from ansible.module_utils.slipway.config import ConfigError, load_config
from ansible.module_utils.slipway.workspace import AgentWorkspace

from tests.unit.test_hostile_input import _agent_run

COMMIT = "a" * 40


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("sync", {"base": "main", "branch": "claude/issue-7"}),
        ("sync", {"base": "main"}),
        ("finish", {"branch": "claude/issue-7", "message": "Uncommitted changes left by the fix for #7"}),
        ("bundle", {"branch": "claude/issue-7", "base_commit": COMMIT}),
        ("verify", {"branch": "claude/issue-7", "commit": COMMIT}),
        ("usage", {"run_id": "0123456789abcdef"}),
        ("free-port", {}),
        ("check-credentials", {}),
    ],
)
def test_every_request_the_watcher_builds_is_read_back_the_same(command, options):
    argv = protocol.request(command, **options)
    parsed_command, parsed = protocol.parse(argv)
    assert parsed_command == command
    assert parsed == {"--" + k.replace("_", "-"): v for k, v in options.items()}
    # the contained step reads the same options agent-run passes on
    if command in protocol.STEPS:
        assert protocol.step_options(command, argv[1:]) == parsed


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [
        ("sync", {"base": "-fdx"}, "bad value for --base"),
        ("sync", {"branch": "claude/issue-1"}, "missing --base"),
        ("verify", {"branch": "x", "commit": "HEAD"}, "bad value for --commit"),
        ("finish", {"branch": "x", "message": "m" * 201}, "bad value for --message"),
        ("bundle", {"branch": "x", "base_commit": COMMIT, "extra": "1"}, "unexpected option --extra"),
        ("rm", {}, "unknown command"),
    ],
)
def test_requests_outside_the_protocol_are_refused_on_both_sides(command, options, message):
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.request(command, **options)
    argv = [command, *(p for k, v in options.items() for p in ("--" + k.replace("_", "-"), v))]
    with pytest.raises(protocol.ProtocolError, match=message):
        protocol.parse(argv)


def test_options_must_pair_and_not_repeat():
    with pytest.raises(protocol.ProtocolError, match="pairs"):
        protocol.parse(["sync", "--base"])
    with pytest.raises(protocol.ProtocolError, match="twice"):
        protocol.parse(["sync", "--base", "main", "--base", "dev"])


def test_a_value_shaped_like_the_skip_permissions_switch_does_not_lift_the_triage_limits():
    """``--model --dangerously-skip-permissions`` passes the model-name pattern: the switch must count
    only as a switch, or a triage run would lose its read-only tools and clone."""
    with pytest.raises(protocol.ProtocolError, match="flag not allowed"):
        protocol.claude_flags(
            ["-p", "--run-id", "0123456789abcdef", "--model", "--dangerously-skip-permissions"]
        )


def test_triage_gets_only_read_only_tools_and_a_fix_keeps_its_own():
    flags, run_id, _tools, read_only = protocol.claude_flags(
        ["-p", "--allowedTools", "Bash(*)", "--run-id", "0123456789abcdef"]
    )
    assert read_only and run_id == "0123456789abcdef"
    assert flags[-4:] == ["--tools", "Read,Grep,Glob,LS", "--allowedTools", "Read,Grep,Glob,LS"]
    assert "Bash(*)" not in flags
    flags, _, _, read_only = protocol.claude_flags(
        ["-p", "--dangerously-skip-permissions", "--allowedTools", "Bash(*)", "--run-id", "0123456789abcdef"]
    )
    assert not read_only and ["--allowedTools", "Bash(*)"] == flags[-2:]
    with pytest.raises(protocol.ProtocolError, match="may only have the tools"):
        protocol.claude_flags(["-p", "--tools", "Bash", "--run-id", "0123456789abcdef"])


def test_agent_run_uses_the_same_protocol_module():
    assert _agent_run().protocol.COMMANDS is not None
    assert set(_agent_run().protocol.COMMANDS) == set(protocol.COMMANDS)


def _agent_settings(tmp_path: Path, **extra) -> Path:
    path = tmp_path / "agent.json"
    settings = {
        "user": "autofix",
        "verifyCommand": ["pnpm", "test:agent"],
        "verifyTimeoutSeconds": 77,
        "devPort": 3111,
    }
    path.write_text(json.dumps({**settings, **extra}))
    return path


def _agent_config(tmp_path: Path, settings: Path, **extra) -> Path:
    path = tmp_path / "watcher.config.json"
    raw = {
        "repo": "o/r",
        "token": "t0ken-value",
        "claudeExe": "claude",
        "agent": {"user": "autofix", "settings": str(settings)},
    }
    path.write_text(json.dumps({**raw, **extra}))
    return path


def test_in_agent_mode_the_verify_command_and_port_are_the_agents_own(tmp_path):
    cfg = load_config(_agent_config(tmp_path, _agent_settings(tmp_path)), home=tmp_path)
    workspace = AgentWorkspace(cfg)
    assert workspace.verify_command == ["pnpm", "test:agent"]
    assert workspace.verify_timeout == 77 and workspace.dev_port == 3111
    assert cfg.public()["agent_settings"] == str(tmp_path / "agent.json") and cfg.public()["dev_port"] is None


@pytest.mark.parametrize("key", ["verifyCommand", "verifyTimeoutSeconds", "devPort"])
def test_in_agent_mode_the_watcher_config_may_not_set_them_too(tmp_path, key):
    value = {"verifyCommand": ["true"], "verifyTimeoutSeconds": 5, "devPort": 3200}[key]
    with pytest.raises(ConfigError, match="one source of the verify command"):
        load_config(_agent_config(tmp_path, _agent_settings(tmp_path), **{key: value}), home=tmp_path)


def test_missing_or_broken_agent_settings_are_one_clear_line(tmp_path):
    with pytest.raises(protocol.ProtocolError, match="cannot read the agent settings"):
        protocol.load_settings(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text('{"user": "autofix", "verifyCommand": "pnpm test"}')
    with pytest.raises(protocol.ProtocolError, match="'verifyCommand' must be a non-empty argument list"):
        protocol.load_settings(tmp_path / "bad.json")
