"""What the watcher modules share: the ``config`` option and loading it with one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.slipway.forgejo import HAS_HTTPX, HTTPX_IMPORT_ERROR, ForgejoError
from ansible.module_utils.slipway.pipeline import client_for
from ansible.module_utils.slipway.watcher import ConfigError, WatcherConfig, load_config

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
