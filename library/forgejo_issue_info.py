#!/usr/bin/python
"""Read one Forgejo issue (with comments), or the open issues matching label filters."""

from __future__ import annotations

DOCUMENTATION = r"""
module: forgejo_issue_info
short_description: Read Forgejo issues for the Slipway pipeline
description:
  - Returns one issue with its comments when O(number) is given.
  - Otherwise returns the issues (never pull requests) that carry B(all) of O(labels) and B(none) of
    O(exclude_labels), oldest first. Forgejo's own label filter is all-of; the exclusion is done here.
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_forgejo
options:
  number:
    description: The issue number. Mutually exclusive with O(labels) and O(exclude_labels).
    type: int
  labels:
    description: Only issues carrying every one of these label names.
    type: list
    elements: str
    default: []
  exclude_labels:
    description: Leave out issues carrying any of these label names.
    type: list
    elements: str
    default: []
  state:
    description: Issue state to list.
    type: str
    choices: [open, closed, all]
    default: open
  comments:
    description: Include the comments of a single issue (O(number)).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Read-only; behaves the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Find portal issues that still need triage.
  forgejo_issue_info:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ watcher_token }}"
    repo: shad0w/pelagia-portal
    labels: [portal]
    exclude_labels: [claude-queue, claude-working, claude-pr, claude-failed, interactive]
  register: pending

- name: Read issue 42 with its comments.
  forgejo_issue_info:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ watcher_token }}"
    repo: shad0w/pelagia-portal
    number: 42
  register: issue42
"""

RETURN = r"""
issue:
  description: The issue, when O(number) was given.
  returned: when number is set
  type: dict
  contains:
    number: {description: Issue number., type: int}
    title: {description: Title., type: str}
    body: {description: Body text., type: str}
    state: {description: open or closed., type: str}
    labels: {description: Label names, sorted., type: list, elements: str}
    user: {description: Login of the author., type: str}
    created_at: {description: Creation time (RFC 3339)., type: str}
    updated_at: {description: Last update (RFC 3339)., type: str}
    html_url: {description: Web address of the issue., type: str}
    comments:
      description: Comments, oldest first (id, body, user, created_at, html_url).
      type: list
      elements: dict
  sample: {"number": 42, "title": "Tonnage rounds wrong", "labels": ["portal"], "comments": []}
issues:
  description: Matching issues, oldest first, each shaped like RV(issue) without comments.
  returned: when number is not set
  type: list
  elements: dict
  sample: [{"number": 42, "title": "Tonnage rounds wrong", "labels": ["portal"]}]
"""

from ansible.module_utils.slipway.ansible_side import forgejo_module, run_with_client
from ansible.module_utils.slipway.forgejo import ForgejoClient, summarize_comment, summarize_issue


def read(client: ForgejoClient, params: dict) -> dict:
    if params["number"] is not None:
        raw = client.get_issue(params["number"])
        if raw.get("pull_request"):
            raise ValueError(f"#{params['number']} is a pull request, not an issue")
        issue = summarize_issue(raw)
        if params["comments"]:
            issue["comments"] = [summarize_comment(c) for c in client.list_comments(params["number"])]
        return {"changed": False, "issue": issue}
    excluded = set(params["exclude_labels"])
    found = client.list_issues(labels=params["labels"], state=params["state"])
    issues = [summarize_issue(i) for i in found]
    return {"changed": False, "issues": [i for i in issues if not excluded & set(i["labels"])]}


def main() -> None:
    module = forgejo_module(
        {
            "number": {"type": "int"},
            "labels": {"type": "list", "elements": "str", "default": []},
            "exclude_labels": {"type": "list", "elements": "str", "default": []},
            "state": {"type": "str", "choices": ["open", "closed", "all"], "default": "open"},
            "comments": {"type": "bool", "default": True},
        },
        mutually_exclusive=[("number", "labels"), ("number", "exclude_labels")],
    )
    run_with_client(module, lambda client: read(client, module.params))


if __name__ == "__main__":
    main()
