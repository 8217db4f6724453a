#!/usr/bin/python
"""Ensure an open Forgejo pull request from a head branch to a base exists."""

from __future__ import annotations

DOCUMENTATION = r"""
module: forgejo_pull_request
short_description: Ensure an open Forgejo pull request exists from a head branch to a base
description:
  - Looks up the open pull request from O(head) to O(base); creates it if there is none, or corrects
    its title and body if they differ.
  - Forgejo answers 409 when an open pull request for that head and base already exists; that means
    "look it up and report it", not an error.
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_forgejo
options:
  head:
    description: The branch with the changes, for example C(claude/issue-42).
    type: str
    required: true
  base:
    description: The branch to merge into.
    type: str
    default: main
  title:
    description: Pull request title.
    type: str
    required: true
  body:
    description: Pull request description (Markdown).
    type: str
    default: ""
attributes:
  check_mode:
    support: full
    description: Reports whether a pull request would be created or edited.
  diff_mode:
    support: full
    description: Shows title and body before and after.
"""

EXAMPLES = r"""
- name: Open the pull request for issue 42.
  forgejo_pull_request:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ watcher_token }}"
    repo: shad0w/pelagia-portal
    head: claude/issue-42
    base: main
    title: "Fix #42: tonnage rounds wrong"
    body: "Fixes #42"
  register: pr

- name: Show where it is.
  ansible.builtin.debug:
    msg: "PR #{{ pr.number }} at {{ pr.url }}"
"""

RETURN = r"""
number:
  description: The pull request number (null in check mode when it would be created).
  returned: success
  type: int
  sample: 43
url:
  description: Web address of the pull request (null in check mode when it would be created).
  returned: success
  type: str
  sample: http://127.0.0.1:3001/shad0w/pelagia-portal/pulls/43
created:
  description: Whether the pull request was (or would be) created by this run.
  returned: success
  type: bool
state:
  description: The pull request's state.
  returned: success
  type: str
  sample: open
"""

from ansible.module_utils.slipway.ansible_side import forgejo_module, run_with_client
from ansible.module_utils.slipway.forgejo import ForgejoClient


def ensure(client: ForgejoClient, params: dict, check_mode: bool) -> dict:
    head, base, title, body = params["head"], params["base"], params["title"], params["body"]
    wanted = {"title": title, "body": body}
    # The client's one PR path (as the fixer's): create, or edit the open one to this title and body.
    pull, created, before = client.ensure_pull(head, base, title, body, check_mode=check_mode)
    edited = before is not None and before != wanted
    return {
        "changed": created or edited,
        "created": created,
        "number": pull["number"] if pull else None,
        "url": pull.get("html_url") if pull else None,
        "state": pull.get("state") if pull else "open",
        "diff": {"before": before or {}, "after": wanted},
    }


def main() -> None:
    module = forgejo_module(
        {
            "head": {"type": "str", "required": True},
            "base": {"type": "str", "default": "main"},
            "title": {"type": "str", "required": True},
            "body": {"type": "str", "default": ""},
        }
    )
    run_with_client(module, lambda client: ensure(client, module.params, module.check_mode))


if __name__ == "__main__":
    main()
