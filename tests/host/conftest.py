"""Fixtures for host tests: one prepared pms1 shared by the whole session.

``pms1`` builds the base image if the cache lacks it, boots a prepared host (from the
cached "prepared" snapshot when there is one, else up + prepare + snapshot), yields the
running :class:`sandbox.pms1.Pms1Host` and removes it at the end of the session.
Its connection facts are ``pms1.facts`` (also the ``pms1_facts`` fixture).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.pms1 import Pms1Host

REQUIRED_TOOLS = ("debootstrap", "systemd-nspawn", "zstd", "ssh", "ssh-keygen", "tar")


def _missing_requirements() -> list[str]:
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root")
    return missing


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.host)


@pytest.fixture(scope="session")
def pms1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pms1Host]:
    """A running, prepared pms1 (app user ``deploy``, PostgreSQL 15, both databases)."""
    missing = _missing_requirements()
    if missing:
        pytest.fail(f"the disposable host needs {', '.join(missing)}; see scripts/system-packages.txt")
    host = Pms1Host(tmp_path_factory.mktemp("pms1"))
    try:
        host.ensure_prepared(app_user="deploy")
        yield host
    finally:
        host.down()


@pytest.fixture(scope="session")
def pms1_facts(pms1: Pms1Host) -> dict[str, Any]:
    """PostgreSQL connection facts of the shared host: pg_port, pg_user, pg_password, ..."""
    return dict(pms1.facts)


@pytest.fixture(scope="session")
def pms1_inventory(pms1: Pms1Host, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A YAML inventory (group ``pms1``) reaching the shared host."""
    return pms1.write_inventory(tmp_path_factory.mktemp("pms1-inventory") / "hosts.yml")


@pytest.fixture(scope="session")
def pms1_testinfra(pms1: Pms1Host) -> Any:
    """A testinfra host object for the shared host (``ssh://`` backend)."""
    return pms1.testinfra_host()


@pytest.fixture
def pms1_fresh(tmp_path: Path, pms1: Pms1Host) -> Iterator[Pms1Host]:
    """A second, private prepared host for a test that must change it freely.

    Restored from the prepared snapshot that the session's ``pms1`` made or used (about as
    long as a tar extraction of ~500 MB plus 2-4 s of boot); removed after the test. Its
    machine name and hostname are ``pms1`` as well, its ports differ.
    """
    host = Pms1Host(tmp_path / "pms1-fresh")
    try:
        host.ensure_prepared(app_user="deploy")
        yield host
    finally:
        host.down()
