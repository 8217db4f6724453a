#!/usr/bin/python
"""Register the repository's webhook to the Slipway receiver once, and keep it as configured."""

from __future__ import annotations

DOCUMENTATION = r"""
module: forgejo_webhook
short_description: Ensure one Forgejo repository webhook pointing at the Slipway receiver
description:
  - Lists the repository's webhooks (C(GET /repos/{owner}/{repo}/hooks)) and finds the one whose URL is
    O(url). If there is none it is created (C(POST)). If its events, content type or active flag differ,
    or this host has not registered its secret yet, it is corrected (C(PATCH /hooks/{id})). Otherwise
    nothing changes, so a second run reports no change.
  - Forgejo never returns a hook's secret, so the module keeps a fingerprint of the secret it registered
    (an HMAC of the hook's id, never the secret) in O(state_file); a new secret is sent when the
    fingerprint no longer matches.
  - The secret is read from O(secret_file) on the managed host; it is never a module argument or output.
  - Needs a token with repository admin rights (the hooks API is admin-only).
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_forgejo
options:
  url:
    description: The receiver's URL as Forgejo reaches it (on pms1, C(http://127.0.0.1:<port>/forgejo)).
    type: str
    required: true
  secret_file:
    description: File holding the shared secret (read on the managed host).
    type: path
    required: true
  state_file:
    description: File where the fingerprint of the registered secret is kept (created 0600).
    type: path
    required: true
  events:
    description: Events the hook is sent for (Forgejo's event names).
    type: list
    elements: str
    default: [issues, issue_label, issue_comment, pull_request_review_approved, pull_request_review_rejected, pull_request_review_comment]
  type:
    description: Hook type.
    type: str
    default: forgejo
  active:
    description: Whether the hook is active.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Reports what would be created or corrected.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Register the webhook.
  forgejo_webhook:
    watcher_config: ~/issue-watcher/watcher.config.json
    url: http://127.0.0.1:3090/forgejo
    secret_file: ~/issue-watcher/webhook.secret
    state_file: ~/issue-watcher/webhook.registered
"""

RETURN = r"""
hook_id:
  description: The hook's id (null when it would be created in check mode).
  returned: success
  type: int
created:
  description: Whether the hook was (or would be) created.
  returned: success
  type: bool
updated:
  description: What was (or would be) corrected on an existing hook.
  returned: success
  type: list
  elements: str
duplicates:
  description: Ids of further hooks with the same URL (left alone; Forgejo would deliver to each).
  returned: success
  type: list
  elements: int
"""

import hashlib
import hmac
import os
import tempfile

from ansible.module_utils.slipway.ansible_side import forgejo_module, run_with_client
from ansible.module_utils.slipway.forgejo import ForgejoClient


def read_secret(path: str) -> str:
    path = os.path.expanduser(path)
    with open(path, encoding="utf-8") as handle:
        secret = handle.read().strip()
    if not secret:
        raise ValueError(f"{path} is empty")
    return secret


def fingerprint(secret: str, hook_id: int, url: str) -> str:
    return hmac.new(secret.encode(), f"slipway-webhook:{hook_id}:{url}".encode(), hashlib.sha256).hexdigest()


def read_state(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return ""


def write_state(path: str, value: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".webhook-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure(client: ForgejoClient, params: dict, check_mode: bool) -> dict:
    secret = read_secret(os.path.expanduser(params["secret_file"]))
    state_file = os.path.expanduser(params["state_file"])
    url, events = params["url"], list(params["events"])
    config = {"url": url, "content_type": "json", "http_method": "post", "secret": secret}
    matching = [h for h in client.list_hooks() if (h.get("config") or {}).get("url") == url]
    duplicates = [int(h["id"]) for h in matching[1:]]
    if not matching:
        hook_id = None
        if not check_mode:
            body = {"type": params["type"], "config": config, "events": events, "active": params["active"]}
            hook_id = int(client.create_hook(body)["id"])
            write_state(state_file, fingerprint(secret, hook_id, url))
        return {"changed": True, "created": True, "updated": [], "hook_id": hook_id, "duplicates": []}
    hook = matching[0]
    hook_id = int(hook["id"])
    have = hook.get("config") or {}
    updated = []
    if hook.get("type") != params["type"]:
        raise ValueError(
            f"webhook {hook_id} to {url} is of type {hook.get('type')!r}, not {params['type']!r}: delete it in "
            "Forgejo (repository settings, Webhooks) and run again"
        )
    if sorted(hook.get("events") or []) != sorted(events):
        updated.append("events")
    if bool(hook.get("active")) != params["active"]:
        updated.append("active")
    if have.get("content_type") != "json":
        updated.append("content_type")
    if read_state(state_file) != fingerprint(secret, hook_id, url):
        updated.append("secret")
    if updated and not check_mode:
        client.edit_hook(hook_id, {"config": config, "events": events, "active": params["active"]})
        write_state(state_file, fingerprint(secret, hook_id, url))
    return {"changed": bool(updated), "created": False, "updated": updated, "hook_id": hook_id,
            "duplicates": duplicates}  # fmt: skip


def main() -> None:
    module = forgejo_module(
        {
            "url": {"type": "str", "required": True},
            "secret_file": {"type": "path", "required": True},
            "state_file": {"type": "path", "required": True},
            "events": {
                "type": "list",
                "elements": "str",
                "default": [
                    "issues",
                    "issue_label",
                    "issue_comment",
                    "pull_request_review_approved",
                    "pull_request_review_rejected",
                    "pull_request_review_comment",
                ],
            },  # fmt: skip
            "type": {"type": "str", "default": "forgejo"},
            "active": {"type": "bool", "default": True},
        }
    )
    try:
        module.no_log_values.add(read_secret(module.params["secret_file"]))
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"cannot read the webhook secret: {exc}")
    run_with_client(module, lambda client: ensure(client, module.params, module.check_mode))


if __name__ == "__main__":
    main()
