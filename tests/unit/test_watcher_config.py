"""watcher.config.json: defaults, and one clear error per kind of mistake."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.slipway.config import ConfigError, claude_credentials_present, load_config

MINIMAL = {
    "repo": "shad0w/pelagia-portal",
    "token": "t0ken-value",
    "claudeExe": "/usr/bin/claude",
    "agentMode": "same-user",
}
AGENT = {k: v for k, v in MINIMAL.items() if k != "agentMode"} | {"agent": {"user": "autofix"}}


def write(tmp_path, data) -> str:
    path = tmp_path / "watcher.config.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_defaults_follow_the_runbook(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL), home="/home/deploy")
    assert cfg.forgejo_url == "http://127.0.0.1:3001"
    assert str(cfg.autofix_dir) == "/home/deploy/pelagia-autofix"
    assert cfg.log_dir == tmp_path / "logs" and cfg.dev_port == 3100
    assert str(cfg.credentials_file) == "/home/deploy/.claude/.credentials.json"
    assert cfg.fix.per_run == 1 and cfg.triage.max_turns > 0
    assert "t0ken-value" not in json.dumps(cfg.public()) and "t0ken-value" not in repr(cfg)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ({**MINIMAL, "token": ""}, "'token' is required"),
        ({k: v for k, v in MINIMAL.items() if k != "claudeExe"}, "'claudeExe' is required"),
        ({**MINIMAL, "repo": "justname"}, "'repo' must be 'owner/name'"),
        ({**MINIMAL, "forgejoUrl": "ftp://x"}, "forgejoUrl"),
        ({**MINIMAL, "devPort": 3000}, "devPort"),
        ({**MINIMAL, "devPort": "3100"}, "'devPort' must be a int"),
        ({**MINIMAL, "verifyCommand": "pnpm test"}, "'verifyCommand' must be a list"),
        ({**MINIMAL, "fix": {"maxTurns": 0}}, "'fix' needs"),
        ({**MINIMAL, "revision": {"timeoutSeconds": 0}}, "'revision' needs"),
        ({**MINIMAL, "revision": {"maxPerPr": -1}}, "'revision.maxPerPr' must be >= 0"),
        ({**MINIMAL, "reviewTrigger": "/claude please"}, "'reviewTrigger' must be one word"),
        # fail closed: without the agent section Claude would run as the token's user
        (
            {k: v for k, v in MINIMAL.items() if k != "agentMode"},
            "refusing to run Claude as the watcher's own",
        ),
        ({**AGENT, "agent": {}}, "no 'agent' section with a 'user'"),
        ({**AGENT, "agent": {"runner": "/x"}, "agentMode": "agent"}, "no 'agent' section with a 'user'"),
        ({**MINIMAL, "agentMode": "sameuser"}, '\'agentMode\' must be "agent" or "same-user"'),
        ({**MINIMAL, "agentMode": True}, "'agentMode' must be a str"),
        ({**AGENT, "agentMode": "same-user"}, "an 'agent' section is set too"),
    ],
)
def test_bad_configuration_is_one_clear_error_naming_the_file(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value) and path in str(error.value)
    assert "t0ken-value" not in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.json")


def test_credentials_from_file_or_api_key(tmp_path):
    cfg = load_config(write(tmp_path, {**MINIMAL, "claudeCredentials": str(tmp_path / "creds.json")}))
    assert not claude_credentials_present(cfg, environ={})
    assert claude_credentials_present(cfg, environ={"ANTHROPIC_API_KEY": "k"})
    (tmp_path / "creds.json").write_text("{}")
    assert claude_credentials_present(cfg, environ={})


def test_the_agent_section_or_an_explicit_same_user_mode_selects_who_runs_claude(tmp_path):
    agent = load_config(write(tmp_path, AGENT))
    assert (agent.agent_mode, agent.agent_user) == ("agent", "autofix")
    explicit = load_config(write(tmp_path, {**AGENT, "agentMode": "agent"}))
    assert explicit.agent_user == "autofix"
    same = load_config(write(tmp_path, MINIMAL))
    assert (same.agent_mode, same.agent_user) == ("same-user", "")
    assert same.public()["agent_mode"] == "same-user"


def test_secrets_include_claude_keys_and_the_watchers_own_claude_credentials(tmp_path, monkeypatch):
    creds = tmp_path / "creds.json"
    creds.write_text(
        json.dumps(
            {
                "claudeAiOauth": {
                    "accessToken": "sk-ant-oat01-access",
                    "refreshToken": "r" * 20,
                    "expiresAt": 1,
                }
            }
        )
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-key-123")
    cfg = load_config(
        write(
            tmp_path,
            {
                **MINIMAL,
                "claudeCredentials": str(creds),
                "claudeEnv": {"ANTHROPIC_AUTH_TOKEN": "auth-token-1", "X": "plainvalue"},
            },
        )
    )
    values = cfg.secrets()
    assert {"t0ken-value", "auth-token-1", "sk-ant-env-key-123", "sk-ant-oat01-access", "r" * 20} <= set(
        values
    )
    assert "plainvalue" not in values and 1 not in values


def test_revision_budget_and_review_trigger(tmp_path):
    cfg = load_config(write(tmp_path, MINIMAL))
    assert (cfg.revision.per_run, cfg.revision_max_per_pr, cfg.review_trigger) == (1, 3, "/claude")
    raw = {**MINIMAL, "revision": {"perRun": 2, "maxPerPr": 5, "maxTurns": 9}, "reviewTrigger": "/bot"}
    cfg = load_config(write(tmp_path, raw))
    assert (cfg.revision.per_run, cfg.revision.max_turns, cfg.revision_max_per_pr) == (2, 9, 5)
    assert cfg.review_trigger == "/bot"
