"""Shared pytest fixtures. Others append their fixtures below; keep each one small."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import ansible.module_utils
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# Every layer imports the modules' shared code as Ansible does: ``ansible.module_utils.slipway``.
if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(ROOT / "module_utils"))

from sandbox.forgejo_double import ForgejoDouble  # noqa: E402
from tests.spec_check import check_recorded  # noqa: E402

FORGEJO_OWNER = "shad0w"
FORGEJO_REPO = "pelagia-portal"
FORGEJO_SCOPES = ["write:issue", "write:repository"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "forgejo_unchecked: skip the automatic spec check of the forgejo fixture's traffic"
    )


@pytest.fixture
def forgejo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ForgejoDouble]:
    """A started Forgejo double: admin `shad0w`, repo `shad0w/pelagia-portal` with a README on main.

    Attributes: `owner`, `repo`, `token` (write:issue, write:repository). After the test,
    every API request the double saw is checked against the Forgejo spec; problems fail the test.
    """
    double = ForgejoDouble(tmp_path / "forgejo").start()
    double.add_user(FORGEJO_OWNER, admin=True)
    double.create_repo(FORGEJO_OWNER, FORGEJO_REPO, files={"README.md": b"# pelagia-portal\n"})
    double.owner, double.repo = FORGEJO_OWNER, FORGEJO_REPO
    double.token = double.add_token(FORGEJO_OWNER, FORGEJO_SCOPES)
    try:
        yield double
    finally:
        double.stop()
    if request.node.get_closest_marker("forgejo_unchecked") is None:
        problems = check_recorded(double.requests)
        if problems:
            pytest.fail("Forgejo traffic does not match the spec:\n  " + "\n  ".join(problems), pytrace=False)
