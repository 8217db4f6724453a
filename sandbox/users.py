"""The unprivileged user the sandbox runs Claude Code and the watcher as (as on pms1, never root).

``sandbox_user()`` is that user: the system user ``slipway-test`` (home /var/tmp/slipway-test), created
when we run as root; otherwise the current (already unprivileged) user. The integration tests' fixture
and the watcher benches both take it from here.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

TEST_USER = "slipway-test"
TEST_USER_HOME = "/var/tmp/slipway-test"


@dataclass(frozen=True)
class UnprivilegedUser:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def run_as(self) -> list[str]:
        """argv prefix that drops to this user (empty when we already are this user)."""
        if os.geteuid() == self.uid:
            return []
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--"]

    def chown(self, path: str | Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)


def ensure_system_user(name: str, home: str) -> pwd.struct_passwd:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--home-dir",
                home,
                "--create-home",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
            timeout=60,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        entry = pwd.getpwnam(name)
    os.makedirs(entry.pw_dir, mode=0o750, exist_ok=True)
    os.chown(entry.pw_dir, entry.pw_uid, entry.pw_gid)
    return entry


def sandbox_user() -> UnprivilegedUser:
    """``slipway-test`` (created if need be) when we are root; else the current user."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
    else:
        entry = ensure_system_user(TEST_USER, TEST_USER_HOME)
    return UnprivilegedUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
