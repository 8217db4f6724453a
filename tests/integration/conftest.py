"""Fixtures for the integration tests: the Claude CLI fixtures and the watcher sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.watcher_world import WatcherSandbox, watcher_sandbox
from tests.claude_fixtures import claude_exe, model_double, unprivileged_user  # noqa: F401


@pytest.fixture
def watcher(forgejo, model_double, claude_exe, unprivileged_user) -> Iterator[WatcherSandbox]:  # noqa: F811
    """The watcher's world: portal repo in the Forgejo double, autofix clone, config, model double."""
    with watcher_sandbox(forgejo, model_double, claude_exe, unprivileged_user) as box:
        yield box
