#!/usr/bin/python
"""Move issues left in claude-working by a dead worker to claude-failed."""

from __future__ import annotations

DOCUMENTATION = r"""
module: watcher_recover
short_description: Recover issues a dead fix worker left in claude-working
description:
  - Run it only while holding the watcher lock (see M(slipway_lock)). Then no other worker is alive, so
    every open issue labelled C(claude-working) is stale; each is moved to C(claude-failed) with a
    comment saying so and how to retry.
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_watcher
options:
  issues:
    description:
      - The open issues this run already listed (RV(forgejo_issue_info#module:issues)); the ones labelled
        C(claude-working) among them are recovered. Omitted, the module lists them itself.
    type: list
    elements: dict
attributes:
  check_mode:
    support: full
    description: Reports the stale issues without changing them.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Recover issues a dead worker left behind.
  watcher_recover:
    config: ~/issue-watcher/watcher.config.json
"""

RETURN = r"""
recovered:
  description: Numbers of the issues moved (or that would be moved) to claude-failed.
  returned: success
  type: list
  elements: int
"""

from ansible.module_utils.slipway.ansible_side import run_watcher_step, watcher_module
from ansible.module_utils.slipway.forgejo import client_for
from ansible.module_utils.slipway.pipeline import recover_stale


def main() -> None:
    module = watcher_module({"issues": {"type": "list", "elements": "dict"}})

    def step(cfg):
        with client_for(cfg) as client:
            recovered = recover_stale(cfg, client, module.check_mode, module.params["issues"])
        return {"changed": bool(recovered), "recovered": recovered}

    run_watcher_step(module, step)


if __name__ == "__main__":
    main()
