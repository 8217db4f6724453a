#!/usr/bin/python
"""Ensure a Forgejo repository has labels with the given colors and descriptions."""

from __future__ import annotations

DOCUMENTATION = r"""
module: forgejo_label
short_description: Ensure a Forgejo repository's labels exist with the right color and description
description:
  - Creates missing labels and corrects the color or description of existing ones. Labels not listed
    are left alone.
  - Without O(labels), ensures the Slipway lifecycle set C(portal), C(claude-queue), C(claude-working),
    C(claude-pr), C(claude-failed) and C(interactive).
version_added: "1.0.0"
author: Slipway
extends_documentation_fragment:
  - slipway_forgejo
options:
  labels:
    description: The labels to ensure. Defaults to the pipeline's lifecycle set.
    type: list
    elements: dict
    suboptions:
      name:
        description: Label name.
        type: str
        required: true
      color:
        description: Color as C(#rrggbb) (the C(#) is optional).
        type: str
        required: true
      description:
        description: Label description.
        type: str
        default: ""
attributes:
  check_mode:
    support: full
    description: Reports which labels would be created or updated.
  diff_mode:
    support: full
    description: Shows the labels' color and description before and after.
"""

EXAMPLES = r"""
- name: Ensure the pipeline's lifecycle labels exist.
  forgejo_label:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ watcher_token }}"
    repo: shad0w/pelagia-portal

- name: Ensure one extra label.
  forgejo_label:
    forgejo_url: http://127.0.0.1:3001
    forgejo_token: "{{ watcher_token }}"
    repo: shad0w/pelagia-portal
    labels:
      - name: needs-design
        color: "#c5def5"
        description: Waiting for a design decision
"""

RETURN = r"""
created:
  description: Names of the labels created (or that would be).
  returned: success
  type: list
  elements: str
updated:
  description: Names of the labels whose color or description was corrected (or would be).
  returned: success
  type: list
  elements: str
labels:
  description: The ensured labels as they are now (name, id, color, description).
  returned: success
  type: list
  elements: dict
"""

import re

from ansible.module_utils.slipway.ansible_side import forgejo_module, run_with_client
from ansible.module_utils.slipway.forgejo import ForgejoClient
from ansible.module_utils.slipway.lifecycle import LIFECYCLE_LABELS

COLOR = re.compile(r"^#?[0-9a-fA-F]{6}$")


def normal_color(color: str) -> str:
    if not COLOR.match(color or ""):
        raise ValueError(f"label color must be #rrggbb, got {color!r}")
    return "#" + color.lstrip("#").lower()


def ensure(client: ForgejoClient, wanted: list[dict], check_mode: bool) -> dict:
    existing = {label["name"]: label for label in client.repo_labels()}
    created, updated, result, before, after = [], [], [], {}, {}
    for spec in wanted:
        name, color, description = spec["name"], normal_color(spec["color"]), spec.get("description") or ""
        after[name] = {"color": color, "description": description}
        have = existing.get(name)
        if have is None:
            created.append(name)
            label = {"id": None, "name": name, "color": color, "description": description}
            if not check_mode:
                label = client.create_label(name, color, description)
        else:
            before[name] = {
                "color": normal_color(have["color"]),
                "description": have.get("description") or "",
            }
            label = have
            if before[name] != after[name]:
                updated.append(name)
                if not check_mode:
                    label = client.edit_label(have["id"], name, color=color, description=description)
        result.append(
            {
                "id": label.get("id"),
                "name": name,
                "color": normal_color(label.get("color", color)) if not check_mode else color,
                "description": label.get("description", description),
            }
        )
    return {
        "changed": bool(created or updated),
        "created": created,
        "updated": updated,
        "labels": result,
        "diff": {"before": before, "after": after},
    }


def main() -> None:
    module = forgejo_module(
        {
            "labels": {
                "type": "list",
                "elements": "dict",
                "options": {
                    "name": {"type": "str", "required": True},
                    "color": {"type": "str", "required": True},
                    "description": {"type": "str", "default": ""},
                },
            },
        }
    )
    wanted = module.params["labels"] or [dict(label) for label in LIFECYCLE_LABELS]
    run_with_client(module, lambda client: ensure(client, wanted, module.check_mode))


if __name__ == "__main__":
    main()
