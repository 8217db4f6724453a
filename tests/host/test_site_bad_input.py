"""Bad input stops site.yml early, with a message naming the variable or step to fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.playbook import PlaybookRun
from sandbox.pms1 import Pms1Host, free_port
from sandbox.site import SiteWorld

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def world(pms1: Pms1Host, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteWorld]:
    # The one change the prerequisites make before they check anything is installing the PostgreSQL
    # client they check with; have it in place so that each test sees nothing else change.
    pms1.ssh(
        "bash",
        "-c",
        "dpkg -s postgresql-client >/dev/null 2>&1 || { apt-get update -qq && "
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client; }",
        timeout=300,
    )
    site = SiteWorld(pms1, tmp_path_factory.mktemp("site-bad-world")).start()
    try:
        yield site
    finally:
        site.stop()


def failed_task(run: PlaybookRun) -> str:
    failed = [r["task"] for r in run.results if r["status"] == "failed"]
    assert len(failed) == 1, f"expected one failed task, got {failed}:\n{run.output[-3000:]}"
    return failed[0]


def changed_anything(run: PlaybookRun) -> list[str]:
    return [r["task"] for r in run.results if r["status"] == "ok" and r["result"].get("changed")]


def assert_stopped_in_prereqs(run: PlaybookRun, *needles: str) -> None:
    assert run.rc != 0
    task = failed_task(run)
    assert task.startswith("slipway_prereqs : "), task
    for needle in needles:
        assert needle in run.output, f"{needle!r} not in the failure:\n{run.output[-3000:]}"
    assert changed_anything(run) == []
    assert not any(r["task"].startswith("slipway_node") for r in run.results)


def test_a_missing_token_stops_naming_the_variable(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_forgejo_token": ""})
    assert_stopped_in_prereqs(
        run, "Required variable(s) not set: slipway_forgejo_token", "vault_slipway_forgejo_token"
    )


def test_a_vault_variable_left_unset_stops_naming_it(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_pg_password": "{{ vault_slipway_pg_password }}"})
    assert_stopped_in_prereqs(
        run, "Required variable(s) not set: slipway_pg_password", "vault_slipway_pg_password"
    )


def test_a_placeholder_secret_counts_as_unset(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_forgejo_token": "CHANGE_ME"})
    assert_stopped_in_prereqs(run, "Required variable(s) not set: slipway_forgejo_token")


def test_a_wrong_token_stops_at_the_forgejo_check(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_forgejo_token": "0" * 40})
    assert_stopped_in_prereqs(run, "rejected the token (slipway_forgejo_token", "HTTP 401")
    assert "0" * 40 not in run.output


def test_an_unreachable_forgejo_stops_naming_the_url(world: SiteWorld, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = world.run_site(tmp_path, extra_vars={"slipway_forgejo_url": url})
    assert_stopped_in_prereqs(run, f"Forgejo is unreachable at {url} (slipway_forgejo_url)")


def test_an_unknown_repository_stops_naming_it(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_forgejo_repo": "shad0w/no-such-repo"})
    assert_stopped_in_prereqs(run, "shad0w/no-such-repo (slipway_forgejo_repo)", "HTTP 404")


def test_a_wrong_database_password_stops_at_the_postgresql_check(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_pg_password": "not-the-password"})
    assert_stopped_in_prereqs(
        run, "PostgreSQL at 127.0.0.1:", "slipway_pg_password", "password authentication failed"
    )
    assert "not-the-password" not in run.output.replace("slipway_pg_password", "")


def test_a_missing_app_user_stops_naming_it(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_app_user": "nobody-here"})
    assert_stopped_in_prereqs(run, "The application user 'nobody-here' (slipway_app_user) does not exist")


def test_a_wrong_runner_checksum_fails_at_the_download(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_forgejo_runner_sha256": "0" * 64})
    assert run.rc != 0
    failed = [r["task"] for r in run.results if r["status"] == "failed"]
    # The download fails, its rescue fails the play naming the step and the variables.
    assert failed == [
        "slipway_forgejo_runner : Download forgejo-runner 6.3.1.",
        "slipway_forgejo_runner : Fail, naming the download step and its variables.",
    ]
    assert "Downloading the forgejo-runner binary failed" in run.output
    assert "checksum" in run.output.lower() and "slipway_forgejo_runner_sha256" in run.output
    assert not any(r["task"].startswith(("slipway_autofix", "slipway_watcher")) for r in run.results)


def test_a_malformed_runner_checksum_stops_before_downloading(world: SiteWorld, tmp_path: Path) -> None:
    run = world.run_site(tmp_path, extra_vars={"slipway_forgejo_runner_sha256": ""})
    assert run.rc != 0
    assert "slipway_forgejo_runner_sha256" in run.output
    assert not any("Download forgejo-runner" in r["task"] for r in run.results)
