"""The explicit environment and the command line of a Claude run."""

from __future__ import annotations

import sys

import pytest
from ansible.module_utils.slipway.claude import DEFAULT_ENV_ALLOW, build_argv, build_env, supervised

PARENT_ENV = {
    "HOME": "/home/autofix",
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    "ANTHROPIC_API_KEY": "sk-ant-key",
    "FORGEJO_TOKEN": "forgejo-secret",
    "DATABASE_URL": "postgres://u:p@db/prod",
    "SSH_AUTH_SOCK": "/tmp/agent",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "IS_SANDBOX": "1",
}


def test_only_allow_listed_variables_pass():
    env = build_env(PARENT_ENV, DEFAULT_ENV_ALLOW)

    assert env == {
        "HOME": "/home/autofix",
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "ANTHROPIC_API_KEY": "sk-ant-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def test_the_default_allow_list_is_used_when_none_is_given():
    assert build_env(PARENT_ENV) == build_env(PARENT_ENV, DEFAULT_ENV_ALLOW)


def test_a_prefix_pattern_does_not_match_longer_exact_names():
    env = build_env({"LC_CTYPE": "C", "LCX": "no", "HOMEDIR": "no"}, ["LC_*", "HOME"])

    assert env == {"LC_CTYPE": "C", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}


def test_extra_variables_are_added_and_override():
    env = build_env(PARENT_ENV, ["HOME"], {"HOME": "/var/tmp/x", "CLAUDE_CODE_MAX_RETRIES": "2"})

    assert env["HOME"] == "/var/tmp/x"
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "2"


def test_nonessential_traffic_is_always_disabled_even_against_extra():
    env = build_env({}, [], {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "0"})

    assert env == {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}


def test_the_base_mapping_is_not_modified():
    base = dict(PARENT_ENV)
    build_env(base, ["HOME"], {"X": "1"})
    assert base == PARENT_ENV


def test_minimal_argv_is_headless_stream_json_with_max_turns():
    argv = build_argv("/opt/claude", max_turns=7)

    assert argv == ["/opt/claude", "-p", "--output-format", "stream-json", "--verbose", "--max-turns", "7"]


def test_full_argv_with_tools_model_and_run_as_prefix():
    argv = build_argv(
        "claude",
        max_turns=3,
        allowed_tools=["Read", "Bash(git grep:*)"],
        skip_permissions=True,
        model="claude-sonnet-4-5",
        run_as=["sudo", "-n", "-u", "autofix", "--"],
    )

    assert argv == [
        "sudo", "-n", "-u", "autofix", "--",
        "claude", "-p", "--output-format", "stream-json", "--verbose", "--max-turns", "3",
        "--allowedTools", "Read,Bash(git grep:*)",
        "--dangerously-skip-permissions",
        "--model", "claude-sonnet-4-5",
    ]  # fmt: skip


def test_argv_carries_no_prompt_argument():
    argv = build_argv("claude", max_turns=1)
    # every element is either an option, its value, or the executable
    assert all(a.startswith("-") or a in {"claude", "stream-json", "1"} for a in argv)


def test_no_tool_list_means_no_allowed_tools_option():
    assert "--allowedTools" not in build_argv("claude", max_turns=1, allowed_tools=[])


def test_max_turns_must_be_positive():
    with pytest.raises(ValueError, match="max_turns"):
        build_argv("claude", max_turns=0)


def test_the_supervisor_wraps_the_argv_unchanged_after_a_separator():
    argv = ["setpriv", "--reuid=5", "--", "claude", "-p"]
    wrapped = supervised(argv, 2.5)

    assert wrapped[0] == sys.executable
    assert wrapped[1] == "-c"
    assert wrapped[3:5] == ["2.5", "--"]
    assert wrapped[5:] == argv
