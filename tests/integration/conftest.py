"""Fixtures for the integration tests: the Claude CLI fixtures and the watcher sandbox."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.watcher_world import WatcherSandbox
from tests.claude_fixtures import claude_exe, model_double, unprivileged_user  # noqa: F401


@pytest.fixture
def watcher(forgejo, model_double, claude_exe, unprivileged_user) -> Iterator[WatcherSandbox]:  # noqa: F811
    """The watcher's world: portal repo in the Forgejo double, autofix clone, config, model double."""
    base = Path(tempfile.mkdtemp(prefix="slipway-watcher-", dir="/var/tmp"))
    base.chmod(0o755)
    sandbox = WatcherSandbox(forgejo, model_double, claude_exe, unprivileged_user, base)
    try:
        yield sandbox
    finally:
        sandbox.cleanup()
