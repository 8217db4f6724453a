"""Release directory logic: tag validation, ordering by stamp, pruning; and whose life the deploy
lock follows on a host reached over ssh."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils.slipway import proc
from ansible.module_utils.slipway.release import (
    BUILT_MARKER,
    plan_prune,
    release_stamp,
    remove_releases,
    valid_tag,
)


@pytest.mark.parametrize("tag", ["v0.0.1", "v1.2.3", "v10.20.30"])
def test_release_tags_of_the_form_vxyz_are_valid(tag: str) -> None:
    assert valid_tag(tag)


@pytest.mark.parametrize(
    "tag", ["", "v1.2", "1.2.3", "V1.2.3", "v1.2.3;id", "../x", "v1.2.3\n", "v１.2.3", None, 3]
)
def test_anything_else_is_not_a_release_tag(tag: object) -> None:
    assert not valid_tag(tag)


def test_the_stamp_orders_releases_not_the_tag() -> None:
    names = ["v0.1.10-20260102T000000Z", "v0.1.9-20260103T000000Z", "inplace"]
    assert sorted(names, key=release_stamp) == [
        "inplace",
        "v0.1.10-20260102T000000Z",
        "v0.1.9-20260103T000000Z",
    ]


def _release(root: Path, name: str, built: bool = True) -> None:
    (root / name / "App").mkdir(parents=True)
    if built:
        (root / name / BUILT_MARKER).write_text("{}")


def test_pruning_keeps_the_newest_n_and_the_protected_ones(tmp_path: Path) -> None:
    for day in range(1, 8):
        _release(tmp_path, f"v0.1.{day}-2026010{day}T000000Z")
    plan = plan_prune(tmp_path, keep=3, protect={"v0.1.1-20260101T000000Z"})
    assert plan.kept == ["v0.1.7-20260107T000000Z", "v0.1.6-20260106T000000Z", "v0.1.1-20260101T000000Z"]
    assert plan.remove_old == [f"v0.1.{day}-2026010{day}T000000Z" for day in (5, 4, 3, 2)]
    assert plan.remove_stale == []


def test_more_protected_releases_than_keep_are_all_kept(tmp_path: Path) -> None:
    for day in range(1, 4):
        _release(tmp_path, f"v0.1.{day}-2026010{day}T000000Z")
    plan = plan_prune(tmp_path, keep=1, protect={"v0.1.1-20260101T000000Z", "v0.1.2-20260102T000000Z"})
    assert plan.remove_old == ["v0.1.3-20260103T000000Z"]


def test_half_made_releases_are_stale_unless_live(tmp_path: Path) -> None:
    _release(tmp_path, "v0.1.1-20260101T000000Z")
    _release(tmp_path, "v0.1.2-20260102T000000Z", built=False)
    _release(tmp_path, "inplace-20260101T000000Z", built=False)
    plan = plan_prune(tmp_path, keep=5, protect={"inplace-20260101T000000Z"})
    assert plan.remove_stale == ["v0.1.2-20260102T000000Z"]
    remove_releases(tmp_path, plan.remove_stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "inplace-20260101T000000Z",
        "v0.1.1-20260101T000000Z",
    ]


def test_removing_refuses_names_that_leave_the_releases_dir(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        remove_releases(tmp_path, ["../etc"])


def _fake_process_tree(monkeypatch: pytest.MonkeyPatch, tree: dict[int, tuple[int, list[str]]]) -> None:
    monkeypatch.setattr(proc, "ppid", lambda pid: tree.get(pid, (0, []))[0])
    monkeypatch.setattr(proc, "cmdline", lambda pid: tree.get(pid, (0, []))[1])


def test_over_ssh_the_lock_follows_the_sshd_session(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_process_tree(
        monkeypatch,
        {
            500: (499, ["/usr/bin/python3"]),
            499: (498, ["/bin/sh", "-c", "echo BECOME-SUCCESS; /usr/bin/python3"]),
            498: (497, ["sudo", "-u", "deploy", "/bin/sh", "-c", "..."]),
            497: (110, ["/bin/sh", "-c", "sudo ..."]),
            110: (40, ["sshd: root@notty"]),
            40: (1, ["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"]),
        },
    )
    assert proc.playbook_pid(500) == 110


def test_locally_the_lock_follows_ansible_playbook(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_process_tree(
        monkeypatch,
        {
            500: (499, ["/usr/bin/python3"]),
            499: (300, ["/usr/bin/python3", "/usr/bin/ansible-playbook", "release.yml"]),
            300: (200, ["forgejo-runner", "daemon"]),
            200: (110, ["bash"]),
            110: (1, ["sshd: deploy@pts/0"]),
        },
    )
    assert proc.playbook_pid(500) == 499


def test_rollback_goes_to_the_newest_earlier_release_skipping_bad_ones(tmp_path: Path) -> None:
    from ansible.module_utils.slipway.release import BAD_MARKER, migrations, rollback_target

    for name in ("v0.1.0-20260101T000000Z", "v0.1.1-20260102T000000Z", "v0.1.4-20260103T000000Z"):
        _release(tmp_path, name)
    _release(tmp_path, "v0.1.5-20260104T000000Z")
    _release(tmp_path, "v0.1.6-20260105T000000Z", built=False)
    (tmp_path / "v0.1.4-20260103T000000Z" / BAD_MARKER).write_text("health check failed")
    assert rollback_target(tmp_path, "v0.1.5-20260104T000000Z") == (
        "v0.1.1-20260102T000000Z",
        ["v0.1.4-20260103T000000Z"],
    )
    # after that rollback, the next one goes further back, never forward
    assert rollback_target(tmp_path, "v0.1.1-20260102T000000Z") == ("v0.1.0-20260101T000000Z", [])
    assert rollback_target(tmp_path, "v0.1.0-20260101T000000Z") == ("", [])
    app = tmp_path / "v0.1.5-20260104T000000Z" / "App"
    (app / "migrations").mkdir()
    (app / "migrations/001_a.sql").write_text("")
    (app / "prisma/migrations/20260101_init").mkdir(parents=True)
    (app / "prisma/migrations/migration_lock.toml").write_text("")
    assert migrations(app) == ["migrations/001_a.sql", "prisma/migrations/20260101_init"]
