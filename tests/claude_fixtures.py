"""Pytest fixtures for running the real Claude Code CLI against the model double.

Use from a conftest (or a test module)::

    from tests.claude_fixtures import (  # noqa: F401
        claude_exe, model_double, unprivileged_user, claude_workdir,
    )
    from tests.claude_fixtures import claude_env_for

Fixtures:
    claude_exe         (session) path of the pinned CLI; installs it once via scripts/install-claude-cli
                       (prefix from $SLIPWAY_CLAUDE_PREFIX, default /opt/slipway/claude-cli).
    model_double       (function) a started ``sandbox.model_double.ModelDouble``; stopped afterwards.
    unprivileged_user  (session) ``UnprivilegedUser`` to run the CLI as: the system user
                       ``slipway-test`` (home /var/tmp/slipway-test), created when the tests run as
                       root; otherwise the current (already unprivileged) user.
    claude_workdir     (function) an empty directory ``<tmp>/work`` the unprivileged user owns (not
                       under /tmp's root-only pytest dirs); put logs in its parent. Removed afterwards.
Helper:
    claude_env_for(user, model_url, extra=None) -> dict   an explicit env for a run against the double.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ansible.module_utils.slipway.claude import build_env

from sandbox.model_double import ModelDouble

TEST_USER = "slipway-test"
TEST_USER_HOME = "/var/tmp/slipway-test"
DEFAULT_PREFIX = "/opt/slipway/claude-cli"
# A key the double accepts; never a real credential.
DOUBLE_API_KEY = "sk-ant-double-not-a-real-key"


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


def claude_env_for(
    user: UnprivilegedUser, model_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An explicit env for running the CLI as ``user`` against ``model_url``.

    Retries are bounded (``CLAUDE_CODE_MAX_RETRIES=1``, ``API_TIMEOUT_MS=20000``) so that
    fault scenarios take about a second instead of three minutes; override through ``extra``.
    """
    base = {
        "HOME": user.home,
        "USER": user.name,
        "LOGNAME": user.name,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": model_url,
        "ANTHROPIC_API_KEY": DOUBLE_API_KEY,
        "CLAUDE_CODE_MAX_RETRIES": "1",
        "API_TIMEOUT_MS": "20000",
    }
    return build_env(base, base.keys(), extra)


def _ensure_system_user(name: str, home: str) -> pwd.struct_passwd:
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


@pytest.fixture(scope="session")
def claude_exe() -> str:
    prefix = os.environ.get("SLIPWAY_CLAUDE_PREFIX", DEFAULT_PREFIX)
    proc = subprocess.run(
        [str(REPO_ROOT / "scripts" / "install-claude-cli"), prefix],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")},
    )
    if proc.returncode != 0:
        pytest.fail(f"install-claude-cli failed ({proc.returncode}): {proc.stderr[-2000:]}")
    exe = proc.stdout.strip().splitlines()[-1]
    assert os.access(exe, os.X_OK), exe
    return exe


@pytest.fixture()
def model_double() -> Iterator[ModelDouble]:
    double = ModelDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture(scope="session")
def unprivileged_user() -> UnprivilegedUser:
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return UnprivilegedUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
    entry = _ensure_system_user(TEST_USER, TEST_USER_HOME)
    return UnprivilegedUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


@pytest.fixture()
def claude_workdir(unprivileged_user: UnprivilegedUser) -> Iterator[Path]:
    """``<tmp>/work``, owned by the unprivileged user; ``<tmp>`` itself (root's) is for logs."""
    parent = Path(tempfile.mkdtemp(prefix="slipway-claude-", dir="/var/tmp"))
    parent.chmod(0o755)
    workdir = parent / "work"
    workdir.mkdir(mode=0o755)
    unprivileged_user.chown(workdir)
    try:
        yield workdir
    finally:
        shutil.rmtree(parent, ignore_errors=True)
