"""Jinja filters for the pipeline's label lifecycle: the playbooks' view of module_utils/slipway/lifecycle.py,
which holds every rule (the filters add none).

{{ issue.labels | slipway_stage }}         -> triage-pending | queued | working | pr-open | failed | interactive | none
{{ issue.labels | slipway_decision }}      -> interactive | claude-queue | None  (interactive wins)
{{ issue.labels | slipway_needs_triage }}  -> bool
{{ issue.labels | slipway_fixable }}       -> bool
{{ issue.number | slipway_branch }}        -> claude/issue-N
{{ issues | slipway_pick('fix', 1) }}      -> the issues a watcher step (recover, triage, fix, revise) takes
"""

from __future__ import annotations

from pathlib import Path

import ansible.module_utils

# The one way code outside Ansible's module runner imports the core: this repository's module_utils
# added to ansible.module_utils, then ``ansible.module_utils.slipway.X`` as the modules import it.
_MODULE_UTILS = str(Path(__file__).resolve().parents[1] / "module_utils")
if _MODULE_UTILS not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(_MODULE_UTILS)

from ansible.module_utils.slipway import lifecycle  # noqa: E402


class FilterModule:
    def filters(self) -> dict:
        return {
            "slipway_stage": lifecycle.stage,
            "slipway_decision": lifecycle.decision,
            "slipway_needs_triage": lifecycle.needs_triage,
            "slipway_fixable": lifecycle.is_fixable,
            "slipway_branch": lifecycle.branch_name,
            "slipway_pick": lifecycle.pick,
        }
