#!/usr/bin/python
"""Triage one portal issue with headless Claude Code (analysis only) and route it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: claude_triage
short_description: Triage a Forgejo issue with headless Claude Code and route it
description:
  - Runs Claude Code in the autofix clone with an C(--allowedTools) list of read-only tools (never
    C(--dangerously-skip-permissions)), on the issue's title, body and comments as fenced, cleaned data.
  - Posts Claude's requirements breakdown as a plain comment (no bot marker) and adds C(claude-queue) or
    C(interactive). Anything touching the database schema or migrations goes to C(interactive); so does
    an answer that cannot be read, or a failed run, with a comment saying so.
  - Skips issues that are not open portal issues without a decision label.
  - Cost, turns and duration go to the ledger; Claude's stream goes to C(logs/claude-triage-N-*.log).
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_watcher
options:
  number:
    description: The issue to triage.
    type: int
    required: true
attributes:
  check_mode:
    support: full
    description: Reports whether the issue would be triaged; runs nothing and changes nothing.
  diff_mode:
    support: none
requirements:
  - the Claude Code CLI (C(claudeExe) in the configuration)
"""

EXAMPLES = r"""
- name: Triage issue 42.
  claude_triage:
    config: ~/issue-watcher/watcher.config.json
    number: 42
  register: triaged
"""

RETURN = r"""
outcome:
  description: What happened.
  returned: success
  type: dict
  contains:
    number: {description: The issue., type: int}
    result: {description: "queued, interactive, skipped or would-triage.", type: str}
    reason: {description: Why (one line)., type: str}
    labels: {description: The issue's labels afterwards., type: list, elements: str}
    cost_usd: {description: Claude's cost for this run., type: float}
    num_turns: {description: Claude's turns., type: int}
    duration_ms: {description: Claude's run time., type: int}
    log_path: {description: Claude's stream-json log., type: str}
"""

from ansible.module_utils.slipway.ansible_side import run_issue_step, watcher_module
from ansible.module_utils.slipway.pipeline import triage


def main() -> None:
    module = watcher_module({"number": {"type": "int", "required": True}})
    run_issue_step(module, triage)


if __name__ == "__main__":
    main()
