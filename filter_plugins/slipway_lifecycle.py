"""Jinja filters for the pipeline's label lifecycle (the logic lives in module_utils/slipway/lifecycle.py).

{{ issue.labels | slipway_stage }}         -> triage-pending | queued | working | pr-open | failed | interactive | none
{{ issue.labels | slipway_decision }}      -> interactive | claude-queue | None  (interactive wins)
{{ issue.labels | slipway_needs_triage }}  -> bool
{{ issue.labels | slipway_fixable }}       -> bool
{{ issue.number | slipway_branch }}        -> claude/issue-N
{{ issues | slipway_select(labels, exclude) }} -> the issues with all of labels, none of exclude
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_LIFECYCLE = Path(__file__).resolve().parent.parent / "module_utils" / "slipway" / "lifecycle.py"
_spec = importlib.util.spec_from_file_location("slipway_lifecycle_for_filters", _LIFECYCLE)
lifecycle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lifecycle)


class FilterModule:
    def filters(self) -> dict:
        return {
            "slipway_stage": lifecycle.stage,
            "slipway_decision": lifecycle.decision,
            "slipway_needs_triage": lifecycle.needs_triage,
            "slipway_fixable": lifecycle.is_fixable,
            "slipway_branch": lifecycle.branch_name,
            "slipway_select": lifecycle.select_issues,
        }
