#!/usr/bin/python
"""Remove half-made release directories and finished ones beyond the newest N."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slipway_release_prune
short_description: Prune the release directories of a zero-downtime deploy
description:
  - Looks at the directories under O(releases_dir) named C(<tag>-<YYYYmmddTHHMMSSZ>).
  - Removes those without the C(.slipway-built) marker (left by a run that was killed or failed
    before its build finished) and finished ones beyond the O(keep) newest (by their UTC stamp).
  - Never removes a directory named in O(protect) (the live and the previous release).
version_added: "1.0.0"
author: Slipway
options:
  releases_dir:
    description: The directory that holds the releases.
    type: path
    required: true
  keep:
    description: How many finished releases to keep, besides the protected ones.
    type: int
    default: 5
  protect:
    description: Release directory names never to remove.
    type: list
    elements: str
    default: []
  stale_only:
    description: Remove only half-made directories (before a new build starts).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports what it would remove.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Keep the five newest releases, the live and the previous one.
  slipway_release_prune:
    releases_dir: ~/pms/releases
    keep: 5
    protect: [v1.2.3-20260101T120000Z, v1.2.2-20251231T120000Z]
"""

RETURN = r"""
removed:
  description: Names of the directories removed (or that would be, in check mode).
  returned: success
  type: list
  elements: str
kept:
  description: Names of the directories kept.
  returned: success
  type: list
  elements: str
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.slipway.release import plan_prune, remove_releases


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "releases_dir": {"type": "path", "required": True},
            "keep": {"type": "int", "default": 5},
            "protect": {"type": "list", "elements": "str", "default": []},
            "stale_only": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    releases_dir = Path(p["releases_dir"])
    plan = plan_prune(releases_dir, max(p["keep"], 0), {name for name in p["protect"] if name})
    removing = plan.remove_stale + ([] if p["stale_only"] else plan.remove_old)
    if not module.check_mode:
        try:
            remove_releases(releases_dir, removing)
        except OSError as exc:
            module.fail_json(msg=f"could not remove a release under {releases_dir}: {exc}", removed=[])
    module.exit_json(changed=bool(removing), removed=removing, kept=plan.kept)


if __name__ == "__main__":
    main()
