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
    unprivileged_user  (session) ``sandbox.users.UnprivilegedUser`` to run the CLI as
                       (``sandbox.users.sandbox_user()``): the system user ``slipway-test`` (home
                       /var/tmp/slipway-test), created when the tests run as root; otherwise the
                       current (already unprivileged) user.
    claude_workdir     (function) an empty directory ``<tmp>/work`` the unprivileged user owns (not
                       under /tmp's root-only pytest dirs); put logs in its parent. Removed afterwards.
Helper:
    claude_env_for(user, model_url, extra=None) -> dict   an explicit env for a run against the double.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ansible.module_utils.slipway.claude import build_env

from sandbox.claude_cli import install_claude_cli
from sandbox.model_double import ModelDouble
from sandbox.users import UnprivilegedUser, sandbox_user

# A key the double accepts; never a real credential.
DOUBLE_API_KEY = "sk-ant-double-not-a-real-key"


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


@pytest.fixture(scope="session")
def claude_exe() -> str:
    try:
        return install_claude_cli()
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture()
def model_double() -> Iterator[ModelDouble]:
    double = ModelDouble().start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture(scope="session")
def unprivileged_user() -> UnprivilegedUser:
    return sandbox_user()


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
