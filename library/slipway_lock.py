#!/usr/bin/python
"""Hold an exclusive lock for the rest of this ansible-playbook run."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slipway_lock
short_description: Hold an flock for the rest of the running playbook
description:
  - Takes an exclusive C(flock) on O(path) and keeps it until the C(ansible-playbook) process that runs
    this task ends; a small holder process keeps the descriptor and exits with the playbook. A killed
    playbook therefore never leaves the lock behind (the kernel drops it with the holder).
  - When the lock is busy, waits up to O(wait) seconds, then reports RV(acquired)=false with who holds it
    (or fails, with O(fail_when_busy)).
version_added: "1.0.0"
author: Slipway
options:
  path:
    description: The lock file (created with mode 0600 if missing).
    type: path
    required: true
  what:
    description: Words naming the holder, written into the lock file for whoever finds it busy.
    type: str
    default: ansible-playbook
  wait:
    description: Seconds to wait for a busy lock. 0 means do not wait.
    type: float
    default: 0
  fail_when_busy:
    description: Fail (instead of returning RV(acquired)=false) when the lock stays busy.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The lock is taken in check mode too, so that a check run cannot overlap a real one.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Make sure only one watcher works at a time.
  slipway_lock:
    path: ~/issue-watcher/watcher.lock
    what: issue watcher
  register: lock

- name: Another watcher is running; leave it alone.
  ansible.builtin.meta: end_play
  when: not lock.acquired
"""

RETURN = r"""
acquired:
  description: Whether this run holds the lock now.
  returned: success
  type: bool
holder:
  description: Who holds the lock (this run when acquired).
  returned: success
  type: str
waited:
  description: Seconds spent waiting.
  returned: success
  type: float
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.slipway.lock import acquire_run_lock
from ansible.module_utils.slipway.proc import playbook_pid


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "what": {"type": "str", "default": "ansible-playbook"},
            "wait": {"type": "float", "default": 0.0},
            "fail_when_busy": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        lock = acquire_run_lock(Path(p["path"]), playbook_pid(), p["what"], max(p["wait"], 0.0))
    except (OSError, RuntimeError) as exc:
        module.fail_json(msg=f"could not take the lock {p['path']}: {exc}")
    if not lock.acquired and p["fail_when_busy"]:
        module.fail_json(
            msg=f"the lock {p['path']} is held by {lock.holder}; gave up after {lock.waited_s:.0f}s",
            acquired=False,
        )
    module.exit_json(
        changed=False, acquired=lock.acquired, holder=lock.holder, waited=round(lock.waited_s, 2)
    )


if __name__ == "__main__":
    main()
