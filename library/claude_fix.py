#!/usr/bin/python
"""Fix one queued issue with headless Claude Code and open a pull request."""

from __future__ import annotations

DOCUMENTATION = r"""
module: claude_fix
short_description: Fix a queued Forgejo issue with Claude Code in the autofix clone and open a PR
description:
  - Labels the issue C(claude-working) (removing C(claude-queue) and C(claude-failed)) before starting.
  - Brings the autofix clone to the base branch's latest commit (ignored files such as the app C(.env)
    and C(node_modules) stay), on branch C(claude/issue-N) (a retry reuses the name).
  - Runs Claude Code with C(--dangerously-skip-permissions) on a prompt carrying the issue, the triage
    breakdown (read back as refined requirements) and the runbook's rules.
  - "Then checks it itself, in the watcher's mirror against the base commit it fetched itself (never
    one the agent reports), in this order: Claude succeeded; the branch builds on that commit and has
    commits; nothing protected changed (protected globs, symlinks, submodules, C(.gitattributes),
    C(package.json) scripts; otherwise the issue goes to C(interactive), and the refused branch is deleted
    from the mirror); the verify command passes. Only then does it
    push the branch with the watcher's credential (Claude never holds it) and open the pull request
    (C(Fixes #N), Claude's summary, the verification, cost, turns, duration) and label the issue
    C(claude-pr)."
  - One progress comment on the issue, posted at the start and edited as each stage completes; its final
    text gives the outcome (the PR's link or the failure's reason), duration, cost, turns and branch.
  - Any failure ends in C(claude-failed) with the reason and the log's name in that comment. The issue
    never stays C(claude-working); the dev-server port is freed by port afterwards.
  - When the daily spend cap is reached the issue is left queued, untouched.
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_watcher
options:
  number:
    description: The issue to fix.
    type: int
    required: true
attributes:
  check_mode:
    support: full
    description: Reports whether the issue would be worked on; runs nothing and changes nothing.
  diff_mode:
    support: none
requirements:
  - git, fuser
  - the Claude Code CLI (C(claudeExe) in the configuration)
"""

EXAMPLES = r"""
- name: Fix issue 42.
  claude_fix:
    config: ~/issue-watcher/watcher.config.json
    number: 42
  register: fixed
"""

RETURN = r"""
outcome:
  description: What happened.
  returned: success
  type: dict
  contains:
    number: {description: The issue., type: int}
    result: {description: "pr, failed, interactive, budget, skipped or would-fix.", type: str}
    reason: {description: Why (one line)., type: str}
    labels: {description: The issue's labels afterwards., type: list, elements: str}
    pr_number: {description: The pull request opened., type: int}
    pr_url: {description: Its address., type: str}
    cost_usd: {description: Claude's cost for this run., type: float}
    num_turns: {description: Claude's turns., type: int}
    duration_ms: {description: Claude's run time., type: int}
    log_path: {description: Claude's stream-json log., type: str}
"""

from ansible.module_utils.slipway.ansible_side import run_issue_step, watcher_module
from ansible.module_utils.slipway.pipeline import fix


def main() -> None:
    module = watcher_module({"number": {"type": "int", "required": True}})
    run_issue_step(module, fix)


if __name__ == "__main__":
    main()
