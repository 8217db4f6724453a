#!/usr/bin/python
"""Change a Forgejo issue's labels, comment on it, close or reopen it."""

from __future__ import annotations

DOCUMENTATION = r"""
module: forgejo_issue
short_description: Set labels, comment, close or reopen a Forgejo issue
description:
  - Labels are given by name and resolved to ids. A name the repository does not define is an error
    (Forgejo's API would silently drop it).
  - O(add_labels) makes labels present, O(remove_labels) makes them absent, O(labels) makes the set
    exactly these. Only what differs is changed, and RV(changed) says whether anything did.
  - O(comment) posts a comment; with O(comment_once) it is skipped when an identical comment exists.
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_forgejo
options:
  number:
    description: The issue number.
    type: int
    required: true
  add_labels:
    description: Label names that must be present.
    type: list
    elements: str
    default: []
  remove_labels:
    description: Label names that must be absent.
    type: list
    elements: str
    default: []
  labels:
    description:
      - The exact set of label names the issue must carry. Mutually exclusive with O(add_labels) and
        O(remove_labels).
    type: list
    elements: str
  comment:
    description: Text of a comment to post (Markdown, posted as given).
    type: str
  comment_once:
    description: Post O(comment) only if no comment with the identical text exists on the issue.
    type: bool
    default: false
  state:
    description: Close or reopen the issue.
    type: str
    choices: [open, closed]
attributes:
  check_mode:
    support: full
    description: Reads the issue and reports what would change without changing it.
  diff_mode:
    support: full
    description: Shows labels and state before and after.
"""

EXAMPLES = r"""
- name: Mark issue 42 as being worked on.
  forgejo_issue:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ watcher_token }}"
    repo: shad0w/pelagia-portal
    number: 42
    add_labels: [claude-working]
    remove_labels: [claude-queue, claude-failed]

- name: Route issue 43 to a human, saying why, once.
  forgejo_issue:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ watcher_token }}"
    repo: shad0w/pelagia-portal
    number: 43
    add_labels: [interactive]
    comment: This touches the database schema, so a human takes it.
    comment_once: true

- name: Close issue 44.
  forgejo_issue:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ watcher_token }}"
    repo: shad0w/pelagia-portal
    number: 44
    state: closed
"""

RETURN = r"""
issue:
  description: The issue after the change (in check mode, as it would be).
  returned: success
  type: dict
  contains:
    number: {description: Issue number., type: int}
    labels: {description: Label names, sorted., type: list, elements: str}
    state: {description: open or closed., type: str}
  sample: {"number": 42, "labels": ["claude-working", "portal"], "state": "open"}
labels_added:
  description: Label names that were (or would be) added.
  returned: success
  type: list
  elements: str
labels_removed:
  description: Label names that were (or would be) removed.
  returned: success
  type: list
  elements: str
comment:
  description: The comment posted (id, html_url); null when none was posted.
  returned: success
  type: dict
  sample: {"id": 7, "html_url": "http://127.0.0.1:3001/shad0w/pelagia-portal/issues/42#issuecomment-7"}
"""

from ansible.module_utils.slipway.ansible_side import forgejo_module, run_with_client
from ansible.module_utils.slipway.forgejo import ForgejoClient, summarize_issue


def requested_labels(current: set[str], params: dict) -> tuple[list[str], list[str]]:
    """(names to add, names to remove) for the requested label state."""
    if params["labels"] is not None:
        wanted = set(params["labels"])
        return sorted(wanted), sorted(current - wanted)
    add, remove = set(params["add_labels"]), set(params["remove_labels"])
    both = add & remove
    if both:
        raise ValueError("label(s) both added and removed: " + ", ".join(sorted(both)))
    return sorted(add), sorted(remove)


def apply(client: ForgejoClient, params: dict, check_mode: bool) -> dict:
    number = params["number"]
    raw = client.get_issue(number)
    before = summarize_issue(raw)
    add, remove = requested_labels(set(before["labels"]), params)
    # The client's one label path (as the pipeline's): resolves names, refuses unknown ones.
    labels_after, to_add, to_remove = client.set_issue_labels(
        number, add, remove, raw.get("labels") or [], check_mode=check_mode
    )

    post_comment = params["comment"] is not None
    if post_comment and params["comment_once"]:
        post_comment = all(c.get("body") != params["comment"] for c in client.list_comments(number))
    change_state = params["state"] is not None and params["state"] != before["state"]

    after = dict(before, labels=labels_after)
    if change_state:
        after["state"] = params["state"]
    changed = bool(to_add or to_remove or post_comment or change_state)
    comment = None
    if changed and not check_mode:
        if post_comment:
            posted = client.add_comment(number, params["comment"])
            comment = {"id": posted["id"], "html_url": posted.get("html_url")}
        if change_state:
            client.edit_issue(number, state=params["state"])
        after = summarize_issue(client.get_issue(number))
    return {
        "changed": changed,
        "issue": after,
        "labels_added": to_add,
        "labels_removed": to_remove,
        "comment": comment,
        "diff": {
            "before": {"labels": before["labels"], "state": before["state"]},
            "after": {"labels": after["labels"], "state": after["state"]},
        },
    }


def main() -> None:
    module = forgejo_module(
        {
            "number": {"type": "int", "required": True},
            "add_labels": {"type": "list", "elements": "str", "default": []},
            "remove_labels": {"type": "list", "elements": "str", "default": []},
            "labels": {"type": "list", "elements": "str"},
            "comment": {"type": "str"},
            "comment_once": {"type": "bool", "default": False},
            "state": {"type": "str", "choices": ["open", "closed"]},
        },
        mutually_exclusive=[("labels", "add_labels"), ("labels", "remove_labels")],
    )
    run_with_client(module, lambda client: apply(client, module.params, module.check_mode))


if __name__ == "__main__":
    main()
