#!/usr/bin/python
"""Check that the issue watcher may run now: configuration, Claude credentials, budget."""

from __future__ import annotations

DOCUMENTATION = r"""
module: watcher_preflight
short_description: Decide whether the Slipway issue watcher should run now
description:
  - Reads and checks C(watcher.config.json). A missing or invalid configuration is a failure naming
    the file and the key.
  - Fails closed, as a configuration error, when the configuration has no C(agent) section (the agent
    user Claude runs as) and does not set C(agentMode) to C(same-user) explicitly.
  - Without Claude credentials (the configured C(claudeCredentials) file, by default
    C(~/.claude/.credentials.json), or E(ANTHROPIC_API_KEY); with a dedicated agent user, the agent's own,
    asked through C(agent-run check-credentials)) the watcher must do nothing, so cron can be enabled
    before Claude is signed in; RV(proceed) is then false and the reason is logged.
  - Deletes watcher and Claude logs older than C(logRetentionDays).
  - Reports today's spend from the ledger against C(dailySpendCapUsd).
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_watcher
attributes:
  check_mode:
    support: full
    description: Only reads; log pruning is skipped in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Check whether the watcher may run.
  watcher_preflight:
    config: ~/issue-watcher/watcher.config.json
  register: preflight

- name: Stop quietly when Claude is not signed in.
  ansible.builtin.meta: end_play
  when: not preflight.proceed
"""

RETURN = r"""
proceed:
  description: Whether the watcher should go on.
  returned: success
  type: bool
reason:
  description: Why not, when RV(proceed) is false.
  returned: success
  type: str
settings:
  description: The configuration without secrets (paths, limits, repo).
  returned: success
  type: dict
spent_today_usd:
  description: Claude spend recorded in the ledger since midnight UTC.
  returned: success
  type: float
budget_left_usd:
  description: What is left of the daily cap.
  returned: success
  type: float
logs_pruned:
  description: Number of old log files deleted.
  returned: success
  type: int
"""

from ansible.module_utils.slipway.ansible_side import run_watcher_step, watcher_module
from ansible.module_utils.slipway.ledger import spend_today
from ansible.module_utils.slipway.runlog import log_line, prune_logs
from ansible.module_utils.slipway.workspace import workspace_for


def main() -> None:
    module = watcher_module({})

    def preflight(cfg):
        pruned = 0 if module.check_mode else prune_logs(cfg.log_dir, cfg.log_retention_days)
        spent = spend_today(str(cfg.ledger))
        result = {
            "changed": pruned > 0,
            "proceed": True,
            "reason": "",
            "settings": cfg.public(),
            "spent_today_usd": round(spent, 6),
            "budget_left_usd": round(max(cfg.daily_spend_cap_usd - spent, 0.0), 6),
            "logs_pruned": pruned,
        }
        if not workspace_for(cfg).credentials_present():
            where = (
                f"for the agent user {cfg.agent_user}"
                if cfg.agent_user
                else f"({cfg.credentials_file} missing"
            )
            result["proceed"] = False
            result["reason"] = (
                f"Claude is not signed in {where} and no ANTHROPIC_API_KEY): doing nothing"
                if not cfg.agent_user
                else f"Claude is not signed in {where}: doing nothing"
            )
        if not module.check_mode:
            log_line(cfg.log_dir, "preflight: " + (result["reason"] or "ok"))
        return result

    run_watcher_step(module, preflight)


if __name__ == "__main__":
    main()
