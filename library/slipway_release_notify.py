#!/usr/bin/python
"""Tell the issues a release fixed that it went live, or that it was rolled back."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slipway_release_notify
short_description: Comment on (and close or reopen) the issues a release fixed
description:
  - Finds the commits of C(<previous tag>..<tag>) in the release's fetched repository O(git_dir), the merged
    pull requests whose merge commit is one of them, and the issues they close (C(Fixes), C(Closes),
    C(Resolves) and their forms with C(#N)), plus those the commits' own messages close.
  - O(outcome=deployed) comments C(Deployed in <tag> at <time>) once per issue and closes it;
    O(outcome=rolled_back) comments that the release was rolled back and reopens an issue the merge
    had closed (unless an earlier release already deployed a fix for it).
  - Idempotent. Each comment carries a hidden marker C(<!-- slipway:deployed <tag> -->); an issue with
    a comment carrying it is not commented on again.
  - Never fails because of Forgejo. A Forgejo that cannot be reached, or refuses a request, is a
    warning; the release stands. Only a wrong argument fails the task.
  - The Forgejo URL, repository and token are read by the module from O(watcher_config) on the host, so
    the token never passes through Ansible variables, arguments or output.
  - Records the result in O(record) (JSON, 0640), which C(scripts/status) shows.
version_added: "1.0.0"
author: Slipway
options:
  tag:
    description: The release tag (C(vX.Y.Z)).
    type: str
    required: true
  outcome:
    description: Whether the release went live or was switched back.
    type: str
    required: true
    choices: [deployed, rolled_back]
  live:
    description:
      - The release directory (C(<tag>-<stamp>)) live before this run; its tag is the start of the range.
      - For a rerun of the live tag, the last other tag that went live in O(releases_log) is used.
    type: str
    default: ""
  git_dir:
    description: The release's bare repository cache, fetched with the tags.
    type: path
    required: true
  releases_log:
    description: The release log, for the start of the range on a rerun.
    type: path
  record:
    description: The local record of which release each fixed issue went out in.
    type: path
  watcher_config:
    description: The watcher's configuration; its C(forgejoUrl), C(repo) and C(token) are used.
    type: path
    default: ~/issue-watcher/watcher.config.json
  timeout:
    description: Seconds per Forgejo request.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    description: Reads Forgejo and reports what it would post and change; writes nothing.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Tell the issues v1.2.3 fixed that it is live.
  slipway_release_notify:
    tag: v1.2.3
    outcome: deployed
    live: v1.2.2-20260101T120000Z
    git_dir: ~/pms/repo.git
    releases_log: ~/pms/releases.log
    record: ~/pms/deployed.json
"""

RETURN = r"""
previous:
  description: The tag the range starts from ("" when there was none to compare with).
  returned: always
  type: str
issues:
  description: The issues the release fixes, each with number, pulls, commented, state and error.
  returned: always
  type: list
  elements: dict
notified:
  description: Whether every issue was told (or had been already).
  returned: always
  type: bool
summary:
  description: One line saying what was done.
  returned: always
  type: str
"""

from datetime import UTC, datetime
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.slipway.forgejo import ForgejoError
from ansible.module_utils.slipway.release_notify import (
    OUTCOMES,
    TAG,
    Result,
    client,
    notify,
    previous_tag,
    tag_of_release,
    update_record,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "tag": {"type": "str", "required": True},
            "outcome": {"type": "str", "required": True, "choices": list(OUTCOMES)},
            "live": {"type": "str", "default": ""},
            "git_dir": {"type": "path", "required": True},
            "releases_log": {"type": "path"},
            "record": {"type": "path"},
            "watcher_config": {"type": "path", "default": "~/issue-watcher/watcher.config.json"},
            "timeout": {"type": "float", "default": 10.0},
        },
        supports_check_mode=True,
    )
    p = module.params
    tag, outcome = p["tag"], p["outcome"]
    if not TAG.match(tag):
        module.fail_json(msg=f"release notify: {tag!r} is not a tag vX.Y.Z")
    at_iso = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    previous = previous_tag(tag, p["live"], p["releases_log"])
    result, error = Result(previous=previous), ""
    if not previous:
        summary = f"no earlier release to compare {tag} with: no issue to tell"
        module.exit_json(changed=False, previous="", issues=[], notified=True, summary=summary)
    try:
        live_tag = previous if outcome != "deployed" else tag_of_release(p["live"])
        with client(p["watcher_config"], p["timeout"]) as api:
            result = notify(api, outcome, tag, previous, live_tag, p["git_dir"], module.check_mode)
    except FileNotFoundError as exc:
        error = f"no watcher configuration ({exc}): the issues {tag} fixes were not told"
    except (ForgejoError, ValueError, OSError) as exc:
        error = f"the issues {tag} fixes were not told: {exc}"
    except Exception as exc:  # noqa: BLE001 - whatever goes wrong here must not fail a release
        error = f"the issues {tag} fixes were not told: {type(exc).__name__}: {exc}"
    for warning in result.warnings + ([error] if error else []):
        module.warn(f"release notify: {warning}")
    if p["record"] and not module.check_mode and Path(p["record"]).parent.is_dir():
        try:
            update_record(p["record"], outcome, tag, at_iso, result, error)
        except OSError as exc:
            module.warn(f"release notify: could not write {p['record']}: {exc}")
    told = [row["number"] for row in result.issues if row.get("commented")]
    word = "deployed" if outcome == "deployed" else "rolled back"
    summary = f"{tag} ({word}, since {previous}): " + (
        f"{len(result.issues)} fixed issue(s)"
        + (f", commented on #{', #'.join(map(str, told))}" if told else ", none needed a comment")
        if not error
        else f"the issues were NOT told ({error})"
    )
    if not error and not result.notified:
        summary += "; NOT all were told, see the warnings"
    module.exit_json(
        changed=result.changed,
        previous=previous,
        issues=result.issues,
        notified=result.notified and not error,
        summary=summary,
    )


if __name__ == "__main__":
    main()
