#!/usr/bin/python
"""Read a Forgejo repository as the token sees it, and optionally its runner registration token."""

from __future__ import annotations

DOCUMENTATION = r"""
module: forgejo_repo_info
short_description: Read a Forgejo repository with a token (and its actions runner registration token)
description:
  - Reads the repository (C(GET /repos/{owner}/{repo})), which proves that Forgejo answers, that it accepts
    the token and that the token sees the repository.
  - With O(runner_registration_token), also fetches the repository's actions runner registration token
    (C(GET /repos/{owner}/{repo}/actions/runners/registration-token), which needs repo admin).
  - Runs with the standard library when httpx is missing (pms1's system Python before the toolkit's venv
    exists), so that provisioning can ask Forgejo first.
  - On failure, the result also carries RV(status), the HTTP status (none when Forgejo could not be reached).
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_forgejo
options:
  runner_registration_token:
    description:
      - Also return the runner registration token as RV(registration_token). Set C(no_log) on the task.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Only reads; runs the same in check mode.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Ask Forgejo for the portal repository with the token.
  forgejo_repo_info:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ slipway_forgejo_token }}"
    repo: shad0w/pelagia-portal
    retries: 0
  register: answer
  failed_when: false
  no_log: true

- name: Fetch a runner registration token.
  forgejo_repo_info:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ slipway_forgejo_token }}"
    repo: shad0w/pelagia-portal
    runner_registration_token: true
  register: runner_token
  no_log: true
"""

RETURN = r"""
status:
  description: The HTTP status of the last request (200 on success; on failure the error's, or none when unreachable).
  returned: always
  type: int
repo:
  description: The repository (C(full_name), C(private), C(permissions) as the token has them, C(default_branch)).
  returned: success
  type: dict
registration_token:
  description: The runner registration token (a secret).
  returned: success and O(runner_registration_token)
  type: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.slipway.ansible_side import forgejo_argument_spec, run_with_client
from ansible.module_utils.slipway.forgejo import ForgejoClient


def read(client: ForgejoClient, params: dict[str, Any]) -> dict[str, Any]:
    raw = client.get_repo()
    repo = {key: raw.get(key) for key in ("full_name", "private", "permissions", "default_branch")}
    result: dict[str, Any] = {"changed": False, "status": 200, "repo": repo}
    if params["runner_registration_token"]:
        result["registration_token"] = client.registration_token()
    return result


def main() -> None:
    # Not ansible_side.forgejo_module: that one needs httpx, and this module must also run without it.
    spec = forgejo_argument_spec()
    spec["runner_registration_token"] = {"type": "bool", "default": False}
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    run_with_client(module, lambda client: read(client, module.params))


if __name__ == "__main__":
    main()
