#!/usr/bin/python
"""Revise the watcher's pull requests that reviewers asked changes of."""

from __future__ import annotations

DOCUMENTATION = r"""
module: claude_revise
short_description: Revise watcher pull requests after a review asks for changes
description:
  - Looks at the open pull request of every C(claude-pr) issue. A review with state C(REQUEST_CHANGES),
    or a PR comment, review body or review comment starting with the trigger word (C(reviewTrigger),
    default C(/claude)), by a user with write access to the repository (asked of Forgejo), asks for a
    revision; anyone else's is ignored with a log line. Handled reviews and comments are remembered in the
    ledger and never trigger again.
  - A revision runs Claude Code like a fix (same containment, the feedback fenced as untrusted text) on
    the PR's branch as Forgejo has it, human commits included; the module then checks the new commits
    (they build on that head, protected paths, secrets, the verify command) and pushes them without force,
    as a fast-forward only.
  - The issue is C(claude-working) while it runs and C(claude-pr) after; a refused change goes to
    C(interactive), any other failure to C(claude-failed), with the reason in the PR's reply.
  - At most C(revision.perRun) revisions per run and C(revision.maxPerPr) per pull request (then a
    comment says so); nothing runs once the daily spend cap is reached.
version_added: "1.1.0"
author: Slipway
extends_documentation_fragment:
  - slipway_watcher
options:
  issues:
    description:
      - The open issues this run already listed (RV(forgejo_issue_info#module:issues)); the ones labelled
        C(claude-pr) among them are looked at. Omitted, the module lists them itself.
    type: list
    elements: dict
attributes:
  check_mode:
    support: full
    description: Reports which pull requests would be revised; runs nothing and changes nothing.
  diff_mode:
    support: none
requirements:
  - git, fuser
  - the Claude Code CLI (C(claudeExe) in the configuration)
"""

EXAMPLES = r"""
- name: Revise the pull requests reviewers asked changes of.
  claude_revise:
    config: ~/issue-watcher/watcher.config.json
"""

RETURN = r"""
revisions:
  description: One entry per pull request with new feedback (number, pr, result; and cost, turns... when it ran).
  returned: success
  type: list
  elements: dict
"""

from ansible.module_utils.slipway.ansible_side import run_watcher_step, watcher_module
from ansible.module_utils.slipway.forgejo import client_for
from ansible.module_utils.slipway.review import revise_all


def main() -> None:
    module = watcher_module({"issues": {"type": "list", "elements": "dict"}})

    def step(cfg):
        with client_for(cfg) as client:
            revisions = revise_all(cfg, client, module.check_mode, module.params["issues"])
        changed = any(r.get("result") not in ("ignored", "later", "budget") for r in revisions)
        return {"changed": changed and not module.check_mode, "revisions": revisions}

    run_watcher_step(module, step)


if __name__ == "__main__":
    main()
