"""The watcher's configuration (``watcher.config.json``), read and checked in one place.

The configuration file holds the Forgejo token; modules read it themselves so the token never passes
through Ansible variables, task arguments or output.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible.module_utils.slipway.gitops import DEFAULT_PROTECTED
from ansible.module_utils.slipway.sanitize import credential_values

DEFAULT_VERIFY = ["bash", "-c", "cd App && set -a && . ./.env && set +a && pnpm test:integration"]
# USD per million tokens, by model-name prefix (the longest prefix wins; "*" for any other model, priced
# as the dearest so that an unknown model never slips under the spend cap). Cache writes cost 1.25x
# input and cache reads 0.1x unless given ("cacheWrite", "cacheRead").
DEFAULT_MODEL_PRICES: dict[str, dict[str, float]] = {
    "claude-opus": {"input": 15.0, "output": 75.0},
    "claude-sonnet": {"input": 3.0, "output": 15.0},
    "claude-haiku": {"input": 1.0, "output": 5.0},
    "*": {"input": 15.0, "output": 75.0},
}
DEFAULT_TEST_HINT = "cd App && set -a; . ./.env; set +a; pnpm test:integration"


# In agent mode these live in the agent's settings (agent.json) only: what runs is what is reported.
AGENT_OWNED_KEYS = ("verifyCommand", "verifyTimeoutSeconds", "devPort")

AGENT_MODE_AGENT = "agent"
AGENT_MODE_SAME_USER = "same-user"


def _secret_name(name: str) -> bool:
    return any(word in name.upper() for word in ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"))


@dataclass
class StageBudget:
    timeout_seconds: int
    max_turns: int
    per_run: int


@dataclass
class WatcherConfig:
    path: Path
    forgejo_url: str
    repo: str
    token: str = field(repr=False)
    claude_exe: str
    home: Path
    base_branch: str = "main"
    autofix_dir: Path = Path()
    log_dir: Path = Path()
    ledger: Path = Path()
    mirror_dir: Path = Path()
    lock_file: Path = Path()
    credentials_file: Path = Path()
    dev_port: int = 3100
    verify_command: list[str] = field(default_factory=lambda: list(DEFAULT_VERIFY))
    verify_timeout_seconds: int = 900
    test_hint: str = DEFAULT_TEST_HINT
    protected_paths: list[str] = field(default_factory=lambda: list(DEFAULT_PROTECTED))
    triage: StageBudget = field(default_factory=lambda: StageBudget(600, 15, 5))
    fix: StageBudget = field(default_factory=lambda: StageBudget(1800, 60, 1))
    revision: StageBudget = field(default_factory=lambda: StageBudget(1800, 40, 1))
    revision_max_per_pr: int = 3
    review_trigger: str = "/claude"
    daily_spend_cap_usd: float = 20.0
    claude_env: dict[str, str] = field(default_factory=dict)
    run_as: list[str] = field(default_factory=list)
    model: str | None = None
    log_retention_days: int = 30
    forgejo_connect_timeout: float = 5.0
    forgejo_read_timeout: float = 30.0
    forgejo_retries: int = 3
    agent_user: str = ""  # empty: the watcher's own user runs Claude (agentMode "same-user" only)
    agent_runner: str = "/usr/local/libexec/slipway/agent-run"
    agent_settings: str = "/etc/slipway/agent.json"  # agent mode: where the verify command lives
    model_prices: dict[str, dict[str, float]] = field(default_factory=lambda: dict(DEFAULT_MODEL_PRICES))
    agent_mode: str = AGENT_MODE_AGENT  # "agent" or "same-user" (set explicitly, for development)

    def secrets(self) -> list[str]:
        """Every secret value the watcher knows: the Forgejo token, Claude's key-like settings, the
        watcher's own Claude API key and signed-in credentials (the agent's own are not readable by the
        watcher: the patterns of ``sanitize.redact`` catch those)."""
        values = [self.token]
        values += [v for k, v in self.claude_env.items() if _secret_name(k)]
        values += [
            v for k, v in os.environ.items() if _secret_name(k) and k.startswith(("ANTHROPIC", "CLAUDE"))
        ]
        values += credential_values(self.credentials_file)
        return list(dict.fromkeys(v for v in values if v and len(v) >= 6))

    def public(self) -> dict[str, Any]:
        """Every setting but the secrets, for the playbook and for logs."""
        return {
            "config": str(self.path),
            "forgejo_url": self.forgejo_url,
            "repo": self.repo,
            "claude_exe": self.claude_exe,
            "base_branch": self.base_branch,
            "autofix_dir": str(self.autofix_dir),
            "log_dir": str(self.log_dir),
            "ledger": str(self.ledger),
            "lock_file": str(self.lock_file),
            # In agent mode the dev port is the agent's (agent_settings), not this file's.
            "dev_port": None if self.agent_mode == AGENT_MODE_AGENT else self.dev_port,
            "agent_settings": self.agent_settings if self.agent_mode == AGENT_MODE_AGENT else None,
            "triage_per_run": self.triage.per_run,
            "fix_per_run": self.fix.per_run,
            "revision_per_run": self.revision.per_run,
            "review_trigger": self.review_trigger,
            "daily_spend_cap_usd": self.daily_spend_cap_usd,
            "protected_paths": list(self.protected_paths),
            "agent_user": self.agent_user,
            "agent_mode": self.agent_mode,
        }


class ConfigError(Exception):
    pass


def _expand(value: str, home: Path) -> Path:
    return Path(value.replace("~", str(home), 1) if value.startswith("~") else value)


def _typed(raw: dict, key: str, kind: type | tuple, default: Any) -> Any:
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"'{key}' must be a {names}, got {type(value).__name__}")
    return value


def _budget(raw: dict, key: str, default: StageBudget) -> StageBudget:
    section = _typed(raw, key, dict, {})
    budget = StageBudget(
        timeout_seconds=_typed(section, "timeoutSeconds", int, default.timeout_seconds),
        max_turns=_typed(section, "maxTurns", int, default.max_turns),
        per_run=_typed(section, "perRun", int, default.per_run),
    )
    if budget.timeout_seconds < 1 or budget.max_turns < 1 or budget.per_run < 0:
        raise ConfigError(f"'{key}' needs timeoutSeconds >= 1, maxTurns >= 1 and perRun >= 0")
    return budget


def _agent_mode(raw: dict) -> str:
    """Fail closed: Claude runs as the agent user unless the configuration explicitly says otherwise."""
    mode = _typed(raw, "agentMode", str, "")
    agent = _typed(raw, "agent", dict, {})
    if mode not in ("", AGENT_MODE_AGENT, AGENT_MODE_SAME_USER):
        raise ConfigError(
            f'\'agentMode\' must be "{AGENT_MODE_AGENT}" or "{AGENT_MODE_SAME_USER}", got {mode!r}'
        )
    if mode == AGENT_MODE_SAME_USER:
        if agent:
            raise ConfigError(
                "'agentMode' is \"same-user\" but an 'agent' section is set too: remove one of them"
            )
        return mode
    if not agent.get("user"):
        raise ConfigError(
            "no 'agent' section with a 'user': refusing to run Claude as the watcher's own user "
            '(set \'agent\': {"user": ...} as site.yml does, or "agentMode": "same-user" '
            "explicitly, for development only)"
        )
    return AGENT_MODE_AGENT


def load_config(path: str | Path, home: str | Path | None = None) -> WatcherConfig:
    """Read and check ``watcher.config.json``; errors name the file and the key."""
    path = Path(path).expanduser()
    home = Path(home or os.path.expanduser("~"))
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"watcher configuration {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"watcher configuration {path} is not readable by this user") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"watcher configuration {path} is not valid JSON (line {exc.lineno})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"watcher configuration {path} must be a JSON object")
    try:
        return _from_raw(raw, path, home)
    except ConfigError as exc:
        raise ConfigError(f"watcher configuration {path}: {exc}") from None


def _from_raw(raw: dict, path: Path, home: Path) -> WatcherConfig:
    for key in ("repo", "token", "claudeExe"):
        if not raw.get(key):
            raise ConfigError(f"'{key}' is required")
    watcher_home = _expand(_typed(raw, "watcherHome", str, str(path.parent)), home)
    log_dir = _expand(_typed(raw, "logDir", str, str(watcher_home / "logs")), home)
    verify = _typed(raw, "verifyCommand", list, list(DEFAULT_VERIFY))
    if not verify or not all(isinstance(part, str) for part in verify):
        raise ConfigError("'verifyCommand' must be a non-empty list of strings (an argument list)")
    run_as = _typed(raw, "runAs", list, [])
    claude_env = _typed(raw, "claudeEnv", dict, {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in claude_env.items()):
        raise ConfigError("'claudeEnv' must map names to strings")
    cfg = WatcherConfig(
        path=path,
        forgejo_url=_typed(raw, "forgejoUrl", str, "http://127.0.0.1:3001"),
        repo=_typed(raw, "repo", str, ""),
        token=_typed(raw, "token", str, ""),
        claude_exe=_typed(raw, "claudeExe", str, ""),
        home=home,
        base_branch=_typed(raw, "baseBranch", str, "main"),
        autofix_dir=_expand(_typed(raw, "autofixDir", str, "~/pelagia-autofix"), home),
        log_dir=log_dir,
        ledger=_expand(_typed(raw, "ledger", str, str(log_dir / "ledger.jsonl")), home),
        mirror_dir=_expand(_typed(raw, "mirrorDir", str, str(watcher_home / "mirror.git")), home),
        lock_file=_expand(_typed(raw, "lockFile", str, str(watcher_home / "watcher.lock")), home),
        credentials_file=_expand(_typed(raw, "claudeCredentials", str, "~/.claude/.credentials.json"), home),
        dev_port=_typed(raw, "devPort", int, 3100),
        verify_command=verify,
        verify_timeout_seconds=_typed(raw, "verifyTimeoutSeconds", int, 900),
        test_hint=_typed(raw, "testCommandHint", str, DEFAULT_TEST_HINT),
        protected_paths=_typed(raw, "protectedPaths", list, list(DEFAULT_PROTECTED)),
        triage=_budget(raw, "triage", StageBudget(600, 15, 5)),
        fix=_budget(raw, "fix", StageBudget(1800, 60, 1)),
        revision=_budget(raw, "revision", StageBudget(1800, 40, 1)),
        revision_max_per_pr=_typed(_typed(raw, "revision", dict, {}), "maxPerPr", int, 3),
        review_trigger=_typed(raw, "reviewTrigger", str, "/claude"),
        daily_spend_cap_usd=_typed(raw, "dailySpendCapUsd", float, 20.0),
        claude_env=claude_env,
        run_as=run_as,
        model=_typed(raw, "model", str, None),
        log_retention_days=_typed(raw, "logRetentionDays", int, 30),
        forgejo_connect_timeout=_typed(raw, "forgejoConnectTimeout", float, 5.0),
        forgejo_read_timeout=_typed(raw, "forgejoReadTimeout", float, 30.0),
        forgejo_retries=_typed(raw, "forgejoRetries", int, 3),
        agent_user=_typed(_typed(raw, "agent", dict, {}), "user", str, ""),
        agent_runner=_typed(
            _typed(raw, "agent", dict, {}), "runner", str, "/usr/local/libexec/slipway/agent-run"
        ),
        agent_settings=_typed(_typed(raw, "agent", dict, {}), "settings", str, "/etc/slipway/agent.json"),
        model_prices=_prices(raw),
        agent_mode=_agent_mode(raw),
    )
    if cfg.agent_mode == AGENT_MODE_AGENT:
        doubled = [key for key in AGENT_OWNED_KEYS if key in raw]
        if doubled:
            raise ConfigError(
                f"{', '.join(repr(k) for k in doubled)}: in agent mode the agent's settings "
                f"({cfg.agent_settings}, written by the slipway_agent role) are the one source of the verify "
                "command, its timeout and the dev port; remove them here"
            )
    if not cfg.forgejo_url.startswith(("http://", "https://")):
        raise ConfigError("'forgejoUrl' must start with http:// or https://")
    if cfg.repo.count("/") != 1:
        raise ConfigError("'repo' must be 'owner/name'")
    if cfg.revision_max_per_pr < 0:
        raise ConfigError("'revision.maxPerPr' must be >= 0")
    if not cfg.review_trigger.strip() or any(ch.isspace() for ch in cfg.review_trigger):
        raise ConfigError("'reviewTrigger' must be one word, such as /claude")
    if not 1 <= cfg.dev_port <= 65535 or cfg.dev_port == 3000:
        raise ConfigError("'devPort' must be a free TCP port other than production's 3000")
    return cfg


def _prices(raw: dict) -> dict[str, dict[str, float]]:
    prices = _typed(raw, "modelPrices", dict, {})
    for model, price in prices.items():
        if not isinstance(price, dict) or not all(
            k in ("input", "output", "cacheWrite", "cacheRead")
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
            and v >= 0
            for k, v in price.items()
        ):
            raise ConfigError(
                f"'modelPrices.{model}' must map input/output/cacheWrite/cacheRead to USD per million tokens"
            )
    return {**DEFAULT_MODEL_PRICES, **prices}


def claude_credentials_present(cfg: WatcherConfig, environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    if environ.get("ANTHROPIC_API_KEY") or cfg.claude_env.get("ANTHROPIC_API_KEY"):
        return True
    return cfg.credentials_file.is_file()
