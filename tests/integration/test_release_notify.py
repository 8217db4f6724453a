"""slipway_release_notify through the real ansible-playbook against the Forgejo double: a merged PR
`Fixes #N` between the previous tag and the new one gets its issue one "Deployed in" comment and
closed; a rerun posts nothing; a rolled-back release says so and leaves the issue open; a Forgejo that
cannot be reached is a warning, never a failed task."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from sandbox.playbook import ROOT, run_playbook
from sandbox.pms1 import free_port

pytestmark = pytest.mark.integration


class World:
    """The double's portal repository with v0.1.0 and v0.1.1 tagged; between them a merged PR closing
    #1 and #2 (#2 reopened since, as if Forgejo had not closed it); before v0.1.0 a merged PR closing
    #3. The release's fetched cache and a watcher configuration beside it."""

    def __init__(self, forgejo, tmp_path: Path) -> None:
        self.forgejo, self.tmp, self.runs = forgejo, tmp_path, 0
        self.api = httpx.Client(
            base_url=f"{forgejo.url}/api/v1/repos/{forgejo.owner}/{forgejo.repo}",
            headers={"Authorization": f"token {forgejo.token}"},
        )
        self.url = forgejo.git_url(forgejo.owner, forgejo.repo).replace(
            "://", f"://slipway:{forgejo.token}@", 1
        )
        self.work = tmp_path / "work"
        self.git("clone", "-q", self.url, str(self.work), cwd=tmp_path)
        for title in ("Tonnage is truncated", "Totals are off", "Old bug"):
            forgejo.create_issue(forgejo.owner, forgejo.repo, title)
        self.merge_pr("old-fix", "Old fix", "Fixes #3")
        self.tag("v0.1.0")
        self.pr = self.merge_pr("round", "Round tonnage", "Fixes #1\n\nAlso closes #2 (same cause).")
        assert self.api.patch("/issues/2", json={"state": "open"}).status_code == 201
        self.tag("v0.1.1")
        self.cache = tmp_path / "repo.git"
        self.git("init", "-q", "--bare", str(self.cache), cwd=tmp_path)
        self.git(
            "--git-dir", str(self.cache), "fetch", "-q", self.url, "+refs/tags/*:refs/tags/*", cwd=tmp_path
        )
        self.config = tmp_path / "watcher.config.json"
        self.write_config(forgejo.url)
        self.record = tmp_path / "deployed.json"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.tmp), "GIT_TERMINAL_PROMPT": "0"}
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
        done = subprocess.run(
            [*git, *args], cwd=cwd or self.work, env=env, check=True, capture_output=True, text=True
        )
        return done.stdout

    def merge_pr(self, branch: str, title: str, body: str) -> int:
        self.git("checkout", "-q", "-B", branch, "origin/main")
        (self.work / f"{branch}.txt").write_text(branch + "\n")
        self.git("add", "--all")
        self.git("commit", "-q", "-m", title)
        self.git("push", "-q", "origin", branch)
        pull = self.api.post("/pulls", json={"head": branch, "base": "main", "title": title, "body": body})
        assert pull.status_code == 201, pull.text
        number = pull.json()["number"]
        assert self.api.post(f"/pulls/{number}/merge", json={"Do": "merge"}).status_code == 200
        self.git("fetch", "-q", "origin")
        return number

    def tag(self, name: str) -> None:
        self.git("tag", "-a", name, "-m", name, "origin/main")
        self.git("push", "-q", "origin", name)

    def write_config(self, url: str) -> None:
        repo = f"{self.forgejo.owner}/{self.forgejo.repo}"
        self.config.write_text(
            json.dumps(
                {
                    "forgejoUrl": url,
                    "repo": repo,
                    "token": self.forgejo.token,
                    "claudeExe": "/x",
                    "agentMode": "same-user",
                }
            )
        )
        self.config.chmod(0o600)

    def notify(self, outcome: str, tag: str = "v0.1.1", live: str = "v0.1.0-20261206T170000Z", **extra):
        args = {
            "tag": tag,
            "outcome": outcome,
            "live": live,
            "git_dir": str(self.cache),
            "releases_log": str(self.tmp / "releases.log"),
            "record": str(self.record),
            "watcher_config": str(self.config),
            "timeout": 3,
            **extra,
        }
        plays = [
            {
                "name": "Notify.",
                "hosts": "localhost",
                "gather_facts": False,
                "tasks": [{"name": "Notify the issues.", "slipway_release_notify": args, "register": "n"}],
            }
        ]
        self.runs += 1
        run_dir = self.tmp / f"run-{self.runs}"
        run_dir.mkdir()
        run = run_playbook(run_dir, plays)
        assert run.rc == 0, run.output[-3000:]
        assert self.forgejo.token not in run.output
        return run, run.results[-1]["result"]

    def comments(self, number: int) -> list[str]:
        return [c["body"] for c in self.forgejo.comments(self.forgejo.owner, self.forgejo.repo, number)]

    def state(self, number: int) -> str:
        return self.forgejo.issue(self.forgejo.owner, self.forgejo.repo, number)["state"]


@pytest.fixture
def world(forgejo, tmp_path: Path) -> World:
    return World(forgejo, tmp_path)


def test_a_deployed_release_comments_once_on_each_fixed_issue_and_closes_it(world: World) -> None:
    assert (world.state(1), world.state(2)) == ("closed", "open")  # Forgejo closed #1 on merge
    run, result = world.notify("deployed")
    assert result["changed"] and result["notified"] and result["previous"] == "v0.1.0", run.output[-3000:]
    assert [(i["number"], i["pulls"]) for i in result["issues"]] == [(1, [world.pr]), (2, [world.pr])]
    for number in (1, 2):
        (comment,) = world.comments(number)
        assert comment.startswith("Deployed in v0.1.1 at 20") and f"(PR #{world.pr})" in comment
        assert world.state(number) == "closed"
    assert world.comments(3) == [], "a fix of an earlier release is not told again"
    record = json.loads(world.record.read_text())
    assert {n: (e["tag"], e["result"]) for n, e in record["issues"].items()} == {
        "1": ("v0.1.1", "deployed"),
        "2": ("v0.1.1", "deployed"),
    }

    status = subprocess.run(
        [
            str(ROOT / "scripts/status"),
            "--config",
            str(world.config),
            "--deployed",
            str(world.record),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    shown = {
        row["number"]: (row["result"], row["tag"], row["pulls"])
        for row in json.loads(status.stdout)["deployed"]
    }
    assert shown == {1: ("deployed", "v0.1.1", [world.pr]), 2: ("deployed", "v0.1.1", [world.pr])}
    table = subprocess.run(
        [str(ROOT / "scripts/status"), "--config", str(world.config), "--deployed", str(world.record)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    assert re.search(
        rf"^\s+1  deployed\s+v0\.1\.1\s+20\S+\s+PR #{world.pr}\s+Tonnage is truncated$", table, re.M
    ), table

    _run, again = world.notify("deployed")
    assert not again["changed"] and again["notified"]
    assert [len(world.comments(n)) for n in (1, 2)] == [1, 1], "a rerun posted a second comment"
    # a rerun of the live tag compares with the last other tag that went live
    (world.tmp / "releases.log").write_text("2026-12-06T17:00:00Z\trelease\tv0.1.0\tv0.1.0-x\tok\tme\n")
    _run, rerun = world.notify("deployed", live="v0.1.1-20261206T171000Z")
    assert rerun["previous"] == "v0.1.0" and not rerun["changed"]
    assert [len(world.comments(n)) for n in (1, 2)] == [1, 1]


def test_check_mode_says_what_it_would_post_and_posts_nothing(world: World) -> None:
    (world.tmp / "check").mkdir()
    run = run_playbook(
        world.tmp / "check",
        [
            {
                "name": "Notify.",
                "hosts": "localhost",
                "gather_facts": False,
                "tasks": [
                    {
                        "name": "Notify the issues.",
                        "slipway_release_notify": {
                            "tag": "v0.1.1",
                            "outcome": "deployed",
                            "live": "v0.1.0-20261206T170000Z",
                            "git_dir": str(world.cache),
                            "record": str(world.record),
                            "watcher_config": str(world.config),
                        },
                    }
                ],
            }
        ],
        args=["--check"],
    )
    assert run.rc == 0, run.output[-2000:]
    result = run.results[-1]["result"]
    assert result["changed"] and [i["commented"] for i in result["issues"]] == [True, True]
    assert world.comments(1) == world.comments(2) == [] and world.state(2) == "open"
    assert not world.record.exists()


def test_a_rolled_back_release_says_so_and_the_issues_stay_open(world: World) -> None:
    _run, result = world.notify("rolled_back")
    assert result["changed"] and result["notified"]
    for number in (1, 2):
        (comment,) = world.comments(number)
        assert comment.startswith("Release v0.1.1 was rolled back at 20"), comment
        assert "v0.1.0 is live again" in comment and "stays open" in comment
        assert world.state(number) == "open", "merging closed #1; the fix is not live, so it is reopened"
    _run, again = world.notify("rolled_back")
    assert not again["changed"] and [len(world.comments(n)) for n in (1, 2)] == [1, 1]
    record = json.loads(world.record.read_text())
    assert record["issues"]["1"]["result"] == "rolled back"
    # the same tag released again later goes live: now it is deployed, closed
    _run, later = world.notify("deployed")
    assert [world.state(n) for n in (1, 2)] == ["closed", "closed"]
    assert [len(world.comments(n)) for n in (1, 2)] == [2, 2]
    assert later["notified"]


def test_an_unreachable_forgejo_is_a_warning_and_the_task_succeeds(world: World) -> None:
    world.write_config(f"http://127.0.0.1:{free_port(set())}")
    run, result = world.notify("deployed")
    assert result["notified"] is False and not result.get("failed")
    assert "release notify: the issues v0.1.1 fixes were not told" in run.output
    assert "cannot reach Forgejo" in run.output
    record = json.loads(world.record.read_text())
    assert record["releases"][-1]["notified"] is False and record["issues"] == {}
    from scripts.pipeline_status import read_deployed, render_deployed

    text = render_deployed(*read_deployed(str(world.record)))
    assert "The last release (v0.1.1, deployed) could not tell its issues" in text
    world.config.unlink()
    run, result = world.notify("deployed")
    assert "no watcher configuration" in run.output and result["notified"] is False
    assert world.comments(1) == []


def test_the_release_role_notify_file_never_fails_even_when_the_task_itself_breaks(tmp_path: Path) -> None:
    """notify.yml as release.yml includes it, with a setting that cannot even be templated: a warning."""
    (tmp_path / "pms").mkdir()
    play = [
        {
            "name": "Notify.",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {
                    "ansible.builtin.include_role": {"name": "slipway_release", "tasks_from": "notify.yml"},
                    "vars": {
                        "slipway_release_root": str(tmp_path / "pms"),
                        "slipway_release_tag": "v0.1.1",
                        "slipway_release_live": "v0.1.0-20261206T170000Z",
                        "slipway_release_notify_outcome": "deployed",
                        "slipway_release_notify_config": "{{ no_such_variable }}",
                    },
                },
                {"name": "The play goes on.", "ansible.builtin.debug": {"msg": "still running"}},
            ],
        }
    ]
    run = run_playbook(tmp_path, play)
    assert run.rc == 0, run.output[-3000:]
    assert "WARNING: the issues v0.1.1 fixes were not told" in run.output and "still running" in run.output
