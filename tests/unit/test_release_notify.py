"""The release notifier's logic: closing keywords, the previous tag, the commit range and which issues
a range fixes, the comment's words and marker, the local record."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from ansible.module_utils.slipway.release_notify import (
    DEPLOYED,
    MARKER_RE,
    ROLLED_BACK,
    Result,
    client,
    closed_refs,
    comment_text,
    commit_range,
    fixed_issues,
    previous_tag,
    tag_of_release,
    update_record,
)

REPO = "shad0w/pelagia-portal"


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Fixes #12", [12]),
        ("fixes #12\nCloses #3 and resolves #4", [12, 3, 4]),
        ("Fix #1, close #2, closed #3, fixed #4, resolve #5, resolved #6, closes #7", [1, 2, 3, 4, 5, 6, 7]),
        ("FIXES: #9", [9]),
        ("Resolves shad0w/pelagia-portal#8", [8]),
        ("Resolves Shad0w/Pelagia-Portal#8", [8]),
        ("Fixes other/repo#8", []),
        ("Refs #12, see #13", []),
        ("prefixes #12", []),
        ("hotfix #12", []),
        ("Fixes#12", []),
        ("Fixes #12abc", []),
        ("Fixes #0", []),
        ("Fixes #12 and fixes #12 again", [12]),
        ("", []),
    ],
)
def test_closing_keywords_are_read_as_forgejo_reads_them(text: str, numbers: list[int]) -> None:
    assert closed_refs(text, REPO) == numbers


def test_the_tag_of_a_release_directory() -> None:
    assert tag_of_release("v0.1.7-20261206T101010Z") == "v0.1.7"
    assert tag_of_release("v0.1.7") == "v0.1.7"
    assert tag_of_release("") == tag_of_release("pms-inplace-20261206T101010Z") == ""
    assert tag_of_release("v0.1.70x-1") == ""


def test_the_previous_tag_is_the_live_one_else_the_last_other_one_that_went_live(tmp_path: Path) -> None:
    log = tmp_path / "releases.log"
    log.write_text(
        "2026-12-01T00:00:00Z\trelease\tv0.1.5\tv0.1.5-a\tok\tme\n"
        "2026-12-02T00:00:00Z\trelease\tv0.1.6\tv0.1.6-a\tfailed at 'x'\tme\n"
        "2026-12-03T00:00:00Z\trollback\t-\tv0.1.4-20261130T000000Z\tok\tme\trun-1\n"
        "2026-12-04T00:00:00Z\trelease\tv0.1.7\tv0.1.7-20261204T000000Z\tok\tme\trun-2\n"
    )
    assert previous_tag("v0.1.8", "v0.1.7-20261204T000000Z", str(log)) == "v0.1.7"
    # a rerun of the live tag compares with the last other tag that went live: here the rollback put
    # v0.1.4 live before v0.1.7's first run (not v0.1.5, which the rollback took away)
    assert previous_tag("v0.1.7", "v0.1.7-20261204T000000Z", str(log)) == "v0.1.4"
    # a failed rollback, a rollback to a directory without a tag and a failed release put nothing live
    log.write_text(
        "2026-12-01T00:00:00Z\trelease\tv0.1.5\tv0.1.5-a\tok\tme\n"
        "2026-12-02T00:00:00Z\trollback\t-\tv0.1.3-20261129T000000Z\tfailed\tme\trun-1\n"
        "2026-12-03T00:00:00Z\trollback\t-\tinplace-20261101T000000Z\tok\tme\trun-2\n"
        "2026-12-04T00:00:00Z\trelease\tv0.1.7\tv0.1.7-20261204T000000Z\tok\tme\trun-3\n"
    )
    assert previous_tag("v0.1.7", "v0.1.7-20261204T000000Z", str(log)) == "v0.1.5"
    assert previous_tag("v0.1.8", "", str(log)) == "v0.1.7"
    assert previous_tag("v0.1.8", "", str(tmp_path / "missing.log")) == ""
    assert previous_tag("v0.1.8", "", None) == ""


def git(repo: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    env |= {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """v1 -- a -- merge(PR 5) -- b ("Closes #30") -- v2 -- c -- v3 (annotated tags)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    shas = {"v1": commit(repo, "first")}
    git(repo, "tag", "-a", "v1", "-m", "v1")
    shas["a"] = commit(repo, "work, see #99")
    shas["merge"] = commit(repo, "Merge pull request 'x' (#5)")
    shas["b"] = commit(repo, "Tidy\n\nCloses #30")
    git(repo, "tag", "-a", "v2", "-m", "v2")
    shas["c"] = commit(repo, "more")
    git(repo, "tag", "v3")
    return repo / ".git", shas


def test_the_range_is_what_the_new_tag_has_and_the_previous_does_not(history) -> None:
    git_dir, shas = history
    commits, messages = commit_range(str(git_dir), "v1", "v2")
    assert commits == {shas["a"], shas["merge"], shas["b"]}
    assert any("Closes #30" in m for m in messages)
    assert commit_range(str(git_dir), "v2", "v3")[0] == {shas["c"]}
    assert commit_range(str(git_dir), "v3", "v1")[0] == set()  # going back fixes nothing
    with pytest.raises(ValueError, match="git rev-list"):
        commit_range(str(git_dir), "v1", "v9")


def test_fixed_issues_come_from_merged_prs_in_the_range_and_commit_messages(history) -> None:
    git_dir, shas = history
    commits, messages = commit_range(str(git_dir), "v1", "v2")
    pulls = [
        {
            "number": 5,
            "merged": True,
            "merge_commit_sha": shas["merge"],
            "title": "Round",
            "body": "Fixes #12",
        },
        {"number": 6, "merged": True, "merge_commit_sha": shas["c"], "title": "later", "body": "Fixes #13"},
        {"number": 7, "merged": False, "merge_commit_sha": None, "body": "Fixes #14"},
        {
            "number": 8,
            "merged": True,
            "merge_commit_sha": shas["a"],
            "title": "Fix #15",
            "body": "Resolves #12",
        },
    ]
    assert fixed_issues(pulls, commits, messages, REPO) == {12: [5, 8], 15: [8], 30: []}


def test_the_comments_say_what_happened_once_per_tag() -> None:
    deployed = comment_text(DEPLOYED, "v0.1.8", "2026-12-06 17:40 UTC", [5], "")
    assert deployed.startswith("Deployed in v0.1.8 at 2026-12-06 17:40 UTC (PR #5).")
    assert MARKER_RE.findall(deployed) == [("deployed", "v0.1.8")]
    back = comment_text(ROLLED_BACK, "v0.1.9", "2026-12-06 17:41 UTC", [6, 7], "v0.1.8")
    assert back.startswith("Release v0.1.9 was rolled back at 2026-12-06 17:41 UTC")
    assert "v0.1.8 is live again" in back and "(PR #6, PR #7)" in back and "stays open" in back
    assert MARKER_RE.findall(back) == [("rolled-back", "v0.1.9")]


def test_the_record_keeps_the_latest_release_of_each_issue(tmp_path: Path) -> None:
    record = tmp_path / "deployed.json"
    first = Result(previous="v0.1.7", notified=True)
    first.issues = [{"number": 12, "pulls": [5], "commented": True, "title": "Tonnage"}]
    update_record(str(record), ROLLED_BACK, "v0.1.8", "2026-12-06T17:00:00Z", first)
    again = Result(previous="v0.1.7", notified=True)
    again.issues = [{"number": 12, "pulls": [5], "commented": False, "title": "Tonnage"}]
    data = update_record(str(record), DEPLOYED, "v0.1.8", "2026-12-06T18:00:00Z", again)
    assert data == json.loads(record.read_text())
    assert oct(record.stat().st_mode & 0o777) == "0o640"
    issue = data["issues"]["12"]
    assert (issue["tag"], issue["result"], issue["commented"]) == ("v0.1.8", "deployed", True)
    assert [h["result"] for h in issue["history"]] == ["rolled back", "deployed"]
    assert [r["result"] for r in data["releases"]] == ["rolled back", "deployed"]


def test_settings_come_from_the_watcher_config_and_bad_ones_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "watcher.config.json"
    base = {"repo": REPO, "token": "t0k", "claudeExe": "/x", "agentMode": "same-user"}
    cfg.write_text(json.dumps(base))
    api = client(str(cfg), 7.0)
    assert (api.cfg.url, api.cfg.repo, api.cfg.token) == ("http://127.0.0.1:3001", REPO, "t0k")
    assert (api.cfg.read_timeout, api.cfg.retries) == (7.0, 1)  # a release waits for this: short, one retry
    cfg.write_text(json.dumps({**base, "forgejoUrl": "file:///etc/passwd"}))
    with pytest.raises(ValueError, match="must start with http"):
        client(str(cfg), 10.0)
    cfg.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON") as info:
        client(str(cfg), 10.0)
    assert "t0k" not in str(info.value)
    with pytest.raises(FileNotFoundError):
        client(str(tmp_path / "none.json"), 10.0)
