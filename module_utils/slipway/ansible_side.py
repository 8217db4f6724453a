"""The Ansible side of Slipway: what the modules in ``library/`` share, and nothing else imports.

Two kinds of module:

* **Forgejo modules** (``forgejo_*``): connection options (documented once, in
  ``doc_fragments/slipway_forgejo.py``), completed from ``watcher.config.json`` when given, and a
  client; ``forgejo_module`` + ``run_with_client``.
* **Watcher modules** (``claude_*``, ``watcher_*``): one ``config`` option, the configuration loaded
  with one-line errors and its secrets added to ``no_log_values``; ``watcher_module`` +
  ``run_watcher_step`` / ``run_issue_step``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible.module_utils.slipway.config import ConfigError, WatcherConfig, load_config
from ansible.module_utils.slipway.forgejo import (
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    ForgejoClient,
    ForgejoConfig,
    ForgejoError,
    client_for,
    validate_config,
)

# -- Forgejo modules ----------------------------------------------------------------------------------


def forgejo_argument_spec() -> dict[str, Any]:
    """The connection options (documented once, in doc_fragments/slipway_forgejo.py)."""
    return {
        "forgejo_url": {"type": "str", "fallback": (env_fallback, ["FORGEJO_URL"])},
        "forgejo_token": {"type": "str", "no_log": True, "fallback": (env_fallback, ["FORGEJO_TOKEN"])},
        "repo": {"type": "str", "fallback": (env_fallback, ["FORGEJO_REPO"])},
        "watcher_config": {"type": "path"},
        "connect_timeout": {"type": "float", "default": 5.0},
        "read_timeout": {"type": "float", "default": 30.0},
        "retries": {"type": "int", "default": 3},
        "validate_certs": {"type": "bool", "default": True},
    }


def forgejo_config(params: dict[str, Any]) -> ForgejoConfig:
    """Connection settings from the options, completed from watcher.config.json when given (so the
    watcher's token never travels through Ansible variables)."""
    url, repo, token = params["forgejo_url"], params["repo"], params["forgejo_token"]
    if params.get("watcher_config"):
        cfg = load_config(params["watcher_config"])
        url, repo, token = url or cfg.forgejo_url, repo or cfg.repo, token or cfg.token
    missing = [
        name for name, value in (("forgejo_url", url), ("repo", repo), ("forgejo_token", token)) if not value
    ]
    if missing:
        raise ConfigError(
            "missing required Forgejo setting(s): " + ", ".join(missing) + " (or give watcher_config)"
        )
    return ForgejoConfig(
        url=url,
        repo=repo,
        token=token,
        connect_timeout=params["connect_timeout"],
        read_timeout=params["read_timeout"],
        retries=params["retries"],
        validate_certs=params["validate_certs"],
    )


def forgejo_module(extra_spec: dict[str, Any], **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule with the connection options and check mode; fails early without httpx."""
    spec = forgejo_argument_spec()
    spec.update(extra_spec)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, **kwargs)
    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    return module


def run_with_client(module: AnsibleModule, action: Callable[[ForgejoClient], dict[str, Any]]) -> None:
    """Run ``action`` with a client and exit: its dict is the result; Forgejo errors are one line."""
    try:
        cfg = forgejo_config(module.params)
    except ConfigError as exc:
        module.fail_json(msg=str(exc))
    problems = validate_config(cfg)
    if problems:
        module.fail_json(msg="invalid Forgejo settings: " + "; ".join(problems))
    try:
        with ForgejoClient(cfg) as client:
            result = action(client)
    except ForgejoError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


# -- watcher modules ----------------------------------------------------------------------------------

CONFIG_OPTION = {"config": {"type": "path", "default": "~/issue-watcher/watcher.config.json"}}


def watcher_module(extra_spec: dict[str, Any], needs_httpx: bool = True) -> AnsibleModule:
    module = AnsibleModule(argument_spec={**CONFIG_OPTION, **extra_spec}, supports_check_mode=True)
    if needs_httpx and not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    return module


def run_watcher_step(module: AnsibleModule, step: Callable[[WatcherConfig], dict[str, Any]]) -> None:
    """Load the configuration, run ``step``, exit; failures are one line without secrets."""
    try:
        cfg = load_config(module.params["config"])
    except ConfigError as exc:
        module.fail_json(msg=str(exc))
    for secret in cfg.secrets():
        module.no_log_values.add(secret)
    try:
        result = step(cfg)
    except ForgejoError as exc:
        module.fail_json(msg=str(exc), status=exc.status)
    except (ConfigError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


def run_issue_step(module: AnsibleModule, action: Callable[..., Any]) -> None:
    """Run ``action(cfg, client, number, check_mode)`` on the module's issue and exit with its outcome."""

    def step(cfg: WatcherConfig) -> dict[str, Any]:
        with client_for(cfg) as client:
            outcome = action(cfg, client, module.params["number"], module.check_mode)
        return {"changed": outcome.changed, "outcome": outcome.as_dict()}

    run_watcher_step(module, step)
