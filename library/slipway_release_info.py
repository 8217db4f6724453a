#!/usr/bin/python
"""Look at the release directories: the rollback target, bad releases and migration drift."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slipway_release_info
short_description: Choose a rollback target and compare two releases' migrations
description:
  - Read-only. Lists the finished release directories under O(releases_dir) (oldest first, by their
    UTC stamp) and which are marked bad (a C(.slipway-bad) file, written when a health check failed).
  - Without O(target), picks the release a rollback from O(live) goes to, the newest finished release
    older than O(live) that is not marked bad, so that a second rollback goes further back.
  - Compares the migrations of O(live) and the target (Prisma's C(prisma/migrations/<name>/)
    directories and the plain C(migrations/<file>) layout, under O(app_dir)).
version_added: "1.0.0"
author: Slipway
options:
  releases_dir:
    description: The directory that holds the releases.
    type: path
    required: true
  live:
    description: The live release's directory name ("" when none).
    type: str
    default: ""
  target:
    description: A release directory name to look at instead of choosing one.
    type: str
    default: ""
  app_dir:
    description: The app's directory inside a release.
    type: str
    default: App
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Choose where a rollback goes.
  slipway_release_info:
    releases_dir: ~/pms/releases
    live: v1.2.3-20260101T120000Z
  register: info
"""

RETURN = r"""
target:
  description: The chosen (or given) release; "" when there is none.
  returned: success
  type: str
exists:
  description: Whether the target is a finished release directory.
  returned: success
  type: bool
skipped_bad:
  description: Releases marked bad that the choice skipped, newest first.
  returned: success
  type: list
  elements: str
target_bad:
  description: Why the target is marked bad ("" when it is not).
  returned: success
  type: str
live_migrations:
  description: The live release's migrations.
  returned: success
  type: list
  elements: str
target_migrations:
  description: The target's migrations.
  returned: success
  type: list
  elements: str
drift:
  description: Whether the two sets of migrations differ.
  returned: success
  type: bool
only_live:
  description: Migrations the live release has and the target lacks.
  returned: success
  type: list
  elements: str
only_target:
  description: Migrations the target has and the live release lacks.
  returned: success
  type: list
  elements: str
releases:
  description: The finished releases, oldest first, each with name and bad (reason or "").
  returned: success
  type: list
  elements: dict
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.slipway.release import bad_reason, finished_releases, migrations, rollback_target


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "releases_dir": {"type": "path", "required": True},
            "live": {"type": "str", "default": ""},
            "target": {"type": "str", "default": ""},
            "app_dir": {"type": "str", "default": "App"},
        },
        supports_check_mode=True,
    )
    p = module.params
    releases_dir = Path(p["releases_dir"])
    for name in (p["live"], p["target"]):
        if name and ("/" in name or name in (".", "..")):
            module.fail_json(msg=f"not a release directory name: {name!r}")
    finished = finished_releases(releases_dir)
    skipped: list[str] = []
    target = p["target"]
    if not target:
        target, skipped = rollback_target(releases_dir, p["live"])
    live_migrations = migrations(releases_dir / p["live"] / p["app_dir"]) if p["live"] else []
    target_migrations = migrations(releases_dir / target / p["app_dir"]) if target else []
    only_live = sorted(set(live_migrations) - set(target_migrations))
    only_target = sorted(set(target_migrations) - set(live_migrations))
    module.exit_json(
        changed=False,
        target=target,
        exists=target in finished,
        skipped_bad=skipped,
        target_bad=(bad_reason(releases_dir, target) or "") if target else "",
        live_migrations=live_migrations,
        target_migrations=target_migrations,
        drift=bool(target) and bool(p["live"]) and bool(only_live or only_target),
        only_live=only_live,
        only_target=only_target,
        releases=[{"name": name, "bad": bad_reason(releases_dir, name) or ""} for name in finished],
    )


if __name__ == "__main__":
    main()
