"""The Forgejo modules through the real ansible-playbook against the Forgejo double."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from sandbox.playbook import run_playbook

pytestmark = pytest.mark.integration

LIFECYCLE = ["claude-failed", "claude-pr", "claude-queue", "claude-working", "interactive", "portal"]


def conn(forgejo, token: str | None = None) -> dict:
    return {
        "forgejo_url": forgejo.url,
        "forgejo_token": token or forgejo.token,
        "repo": f"{forgejo.owner}/{forgejo.repo}",
        "retries": 2,
        "connect_timeout": 2,
        "read_timeout": 5,
    }


def play(*tasks: dict) -> list[dict]:
    return [
        {"name": "Slipway module test", "hosts": "localhost", "gather_facts": False, "tasks": list(tasks)}
    ]


def task(name: str, module: str, args: dict, **extra) -> dict:
    return {"name": name, module: args, **extra}


def ensure_labels(forgejo) -> None:
    for name in LIFECYCLE:
        forgejo.create_label(forgejo.owner, forgejo.repo, name, "#ededed")


def push_branch(forgejo, tmp_path: Path, branch: str) -> None:
    url = forgejo.git_url(forgejo.owner, forgejo.repo).replace("://", f"://slipway:{forgejo.token}@", 1)
    work = tmp_path / f"clone-{branch.replace('/', '-')}"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"}
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "clone", "-q", url, str(work)], check=True, env=env, timeout=60)
    subprocess.run([*git, "checkout", "-q", "-b", branch], cwd=work, check=True, env=env)
    (work / "fix.txt").write_text(f"{branch}\n")
    subprocess.run([*git, "add", "fix.txt"], cwd=work, check=True, env=env)
    subprocess.run([*git, "commit", "-q", "-m", "fix"], cwd=work, check=True, env=env)
    subprocess.run([*git, "push", "-q", "origin", branch], cwd=work, check=True, env=env, timeout=60)


def assert_clean_failure(run, *fragments: str, token: str) -> str:
    """A failed run: one-line message with the fragments, no traceback, no token anywhere."""
    assert run.rc != 0
    failed = [r for r in run.results if r["status"] == "failed"]
    assert failed, run.output
    msg = failed[-1]["result"]["msg"]
    assert "\n" not in msg.strip()
    for fragment in fragments:
        assert fragment in msg, msg
    assert "Traceback" not in run.output
    assert token not in run.output
    assert token not in msg
    return msg


# -- forgejo_label ----------------------------------------------------------------------------------


def test_label_module_creates_lifecycle_set_then_reports_no_change(forgejo, tmp_path):
    ensure = task("Ensure lifecycle labels.", "forgejo_label", conn(forgejo), register="labels")
    first = run_playbook(tmp_path, play(ensure))
    assert first.rc == 0, first.output
    assert first.task("Ensure lifecycle labels.")["result"]["changed"] is True
    assert sorted(first.task("Ensure lifecycle labels.")["result"]["created"]) == LIFECYCLE
    second = run_playbook(tmp_path, play(ensure))
    assert second.rc == 0, second.output
    assert second.task("Ensure lifecycle labels.")["result"]["changed"] is False


def test_label_module_check_mode_changes_nothing_and_says_what_it_would_create(forgejo, tmp_path):
    ensure = task("Ensure lifecycle labels.", "forgejo_label", conn(forgejo))
    forgejo.reset_requests()
    run = run_playbook(tmp_path, play(ensure), args=["--check", "--diff"])
    assert run.rc == 0, run.output
    result = run.task("Ensure lifecycle labels.")["result"]
    assert result["changed"] is True and sorted(result["created"]) == LIFECYCLE
    methods = {r.method for r in forgejo.requests}
    assert methods <= {"GET"}
    again = run_playbook(tmp_path, play(ensure))
    assert sorted(again.task("Ensure lifecycle labels.")["result"]["created"]) == LIFECYCLE


def test_label_module_corrects_a_wrong_color(forgejo, tmp_path):
    forgejo.create_label(forgejo.owner, forgejo.repo, "portal", "#000000", "old")
    args = dict(
        conn(forgejo), labels=[{"name": "portal", "color": "1D76DB", "description": "From the portal"}]
    )
    run = run_playbook(tmp_path, play(task("Fix color.", "forgejo_label", args)))
    assert run.rc == 0, run.output
    assert run.task("Fix color.")["result"]["updated"] == ["portal"]
    again = run_playbook(tmp_path, play(task("Fix color.", "forgejo_label", args)))
    assert again.task("Fix color.")["result"]["changed"] is False


# -- forgejo_issue -----------------------------------------------------------------------------------


def test_issue_module_adds_and_removes_labels_idempotently(forgejo, tmp_path):
    ensure_labels(forgejo)
    number = forgejo.create_issue(
        forgejo.owner, forgejo.repo, "Bug", "body", labels=["portal", "claude-queue"]
    )["number"]
    args = dict(conn(forgejo), number=number, add_labels=["claude-working"], remove_labels=["claude-queue"])
    step = task("Start work.", "forgejo_issue", args)
    first = run_playbook(tmp_path, play(step), args=["--diff"])
    assert first.rc == 0, first.output
    result = first.task("Start work.")["result"]
    assert result["changed"] is True
    assert result["labels_added"] == ["claude-working"] and result["labels_removed"] == ["claude-queue"]
    assert sorted(forgejo.issue_label_names(forgejo.owner, forgejo.repo, number)) == [
        "claude-working",
        "portal",
    ]
    second = run_playbook(tmp_path, play(step))
    assert second.task("Start work.")["result"]["changed"] is False


def test_issue_module_exact_label_set(forgejo, tmp_path):
    ensure_labels(forgejo)
    number = forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug", labels=["portal", "claude-failed"])[
        "number"
    ]
    step = task(
        "Set labels.", "forgejo_issue", dict(conn(forgejo), number=number, labels=["portal", "interactive"])
    )
    run = run_playbook(tmp_path, play(step))
    assert run.rc == 0, run.output
    assert sorted(forgejo.issue_label_names(forgejo.owner, forgejo.repo, number)) == ["interactive", "portal"]
    assert run_playbook(tmp_path, play(step)).task("Set labels.")["result"]["changed"] is False


def test_issue_module_check_mode_reports_but_does_not_change(forgejo, tmp_path):
    ensure_labels(forgejo)
    number = forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug", labels=["portal"])["number"]
    args = dict(conn(forgejo), number=number, add_labels=["claude-queue"], comment="Queued.", state="closed")
    run = run_playbook(tmp_path, play(task("Queue.", "forgejo_issue", args)), args=["--check", "--diff"])
    assert run.rc == 0, run.output
    result = run.task("Queue.")["result"]
    assert result["changed"] is True and result["labels_added"] == ["claude-queue"]
    assert result["issue"]["state"] == "closed"
    assert forgejo.issue_label_names(forgejo.owner, forgejo.repo, number) == ["portal"]
    assert forgejo.comments(forgejo.owner, forgejo.repo, number) == []
    assert forgejo.issue(forgejo.owner, forgejo.repo, number)["state"] == "open"
    assert "claude-queue" in run.stdout  # the diff shows the label it would add


def test_issue_module_comment_once_posts_a_single_comment(forgejo, tmp_path):
    number = forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug")["number"]
    step = task(
        "Say it once.",
        "forgejo_issue",
        dict(conn(forgejo), number=number, comment="Hello", comment_once=True),
    )
    assert run_playbook(tmp_path, play(step)).task("Say it once.")["result"]["changed"] is True
    assert run_playbook(tmp_path, play(step)).task("Say it once.")["result"]["changed"] is False
    assert [c["body"] for c in forgejo.comments(forgejo.owner, forgejo.repo, number)] == ["Hello"]


def test_issue_module_closes_and_reopens(forgejo, tmp_path):
    number = forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug")["number"]
    close = task("Close.", "forgejo_issue", dict(conn(forgejo), number=number, state="closed"))
    assert run_playbook(tmp_path, play(close)).task("Close.")["result"]["changed"] is True
    assert forgejo.issue(forgejo.owner, forgejo.repo, number)["state"] == "closed"
    assert run_playbook(tmp_path, play(close)).task("Close.")["result"]["changed"] is False
    reopen = task("Reopen.", "forgejo_issue", dict(conn(forgejo), number=number, state="open"))
    assert run_playbook(tmp_path, play(reopen)).task("Reopen.")["result"]["changed"] is True
    assert forgejo.issue(forgejo.owner, forgejo.repo, number)["state"] == "open"


def test_issue_module_unknown_label_is_an_error_not_silently_dropped(forgejo, tmp_path):
    ensure_labels(forgejo)
    number = forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug", labels=["portal"])["number"]
    args = dict(conn(forgejo), number=number, add_labels=["claude-queue", "no-such-label"])
    run = run_playbook(tmp_path, play(task("Bad label.", "forgejo_issue", args)))
    assert_clean_failure(run, "no-such-label", "not defined", token=forgejo.token)
    assert forgejo.issue_label_names(forgejo.owner, forgejo.repo, number) == ["portal"]


def test_issue_module_missing_issue_fails_with_status(forgejo, tmp_path):
    run = run_playbook(
        tmp_path, play(task("Missing.", "forgejo_issue", dict(conn(forgejo), number=999, comment="x")))
    )
    assert_clean_failure(run, "issue #999", "HTTP 404", token=forgejo.token)


# -- forgejo_issue_info ---------------------------------------------------------------------------------


def test_issue_info_all_of_labels_minus_excluded_and_never_pull_requests(forgejo, tmp_path):
    ensure_labels(forgejo)
    o, r = forgejo.owner, forgejo.repo
    pending = forgejo.create_issue(o, r, "Pending", labels=["portal"])["number"]
    forgejo.create_issue(o, r, "Queued", labels=["portal", "claude-queue"])
    forgejo.create_issue(o, r, "Other", labels=["interactive"])
    push_branch(forgejo, tmp_path, "claude/issue-1")
    pr = run_playbook(
        tmp_path,
        play(task("PR.", "forgejo_pull_request", dict(conn(forgejo), head="claude/issue-1", title="t"))),
    )
    assert pr.rc == 0, pr.output
    args = dict(conn(forgejo), labels=["portal"], exclude_labels=["claude-queue", "interactive"])
    run = run_playbook(tmp_path, play(task("Find.", "forgejo_issue_info", args)))
    assert run.rc == 0, run.output
    issues = run.task("Find.")["result"]["issues"]
    assert [i["number"] for i in issues] == [pending]
    everything = run_playbook(tmp_path, play(task("All.", "forgejo_issue_info", conn(forgejo))))
    numbers = [i["number"] for i in everything.task("All.")["result"]["issues"]]
    assert pr.task("PR.")["result"]["number"] not in numbers and len(numbers) == 3


def test_issue_info_pages_past_fifty(forgejo, tmp_path):
    ensure_labels(forgejo)
    for n in range(57):
        forgejo.create_issue(forgejo.owner, forgejo.repo, f"Issue {n}", labels=["portal"])
    forgejo.reset_requests()
    run = run_playbook(
        tmp_path, play(task("Find.", "forgejo_issue_info", dict(conn(forgejo), labels=["portal"])))
    )
    assert run.rc == 0, run.output
    assert len(run.task("Find.")["result"]["issues"]) == 57
    pages = [r for r in forgejo.requests if r.path.endswith("/issues")]
    assert [r.query.get("limit") for r in pages] == ["50", "50"]


def test_issue_info_single_issue_with_comments(forgejo, tmp_path):
    number = forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug", "It breaks")["number"]
    forgejo.add_comment(forgejo.owner, forgejo.repo, number, "First")
    run = run_playbook(
        tmp_path, play(task("Read.", "forgejo_issue_info", dict(conn(forgejo), number=number)))
    )
    issue = run.task("Read.")["result"]["issue"]
    assert issue["body"] == "It breaks" and [c["body"] for c in issue["comments"]] == ["First"]


# -- forgejo_pull_request -----------------------------------------------------------------------------


def test_pull_request_module_creates_then_reports_existing(forgejo, tmp_path):
    push_branch(forgejo, tmp_path, "claude/issue-7")
    args = dict(conn(forgejo), head="claude/issue-7", base="main", title="Fix #7", body="Fixes #7")
    step = task("Open PR.", "forgejo_pull_request", args)
    check = run_playbook(tmp_path, play(step), args=["--check"])
    assert (
        check.task("Open PR.")["result"]["created"] is True
        and forgejo.pulls(forgejo.owner, forgejo.repo) == []
    )
    first = run_playbook(tmp_path, play(step))
    assert first.rc == 0, first.output
    result = first.task("Open PR.")["result"]
    assert result["created"] is True and result["url"].endswith(f"/pulls/{result['number']}")
    second = run_playbook(tmp_path, play(step))
    assert second.task("Open PR.")["result"]["changed"] is False
    assert second.task("Open PR.")["result"]["number"] == result["number"]
    assert len(forgejo.pulls(forgejo.owner, forgejo.repo)) == 1


def test_pull_request_module_updates_title_of_open_pr(forgejo, tmp_path):
    push_branch(forgejo, tmp_path, "claude/issue-8")
    base = dict(conn(forgejo), head="claude/issue-8", title="Old")
    run_playbook(tmp_path, play(task("Open.", "forgejo_pull_request", base)))
    run = run_playbook(tmp_path, play(task("Retitle.", "forgejo_pull_request", dict(base, title="New"))))
    assert run.task("Retitle.")["result"]["changed"] is True
    assert forgejo.pulls(forgejo.owner, forgejo.repo)[0]["title"] == "New"


# -- bad input and faults -----------------------------------------------------------------------------------


def test_wrong_token_is_a_clean_401(forgejo, tmp_path):
    bad = "0123456789abcdef0123456789abcdef01234567"
    run = run_playbook(
        tmp_path, play(task("Read.", "forgejo_issue_info", conn(forgejo, token=bad))), args=["-vvv"]
    )
    assert_clean_failure(run, "HTTP 401", "list issues", token=bad)


def test_missing_scope_is_a_clean_403(forgejo, tmp_path):
    number = forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug")["number"]
    reader = forgejo.add_token(forgejo.owner, ["read:issue"])
    args = dict(conn(forgejo, token=reader), number=number, comment="hi")
    run = run_playbook(tmp_path, play(task("Comment.", "forgejo_issue", args)))
    assert_clean_failure(run, "HTTP 403", f"comment on issue #{number}", token=reader)


def test_unreachable_forgejo_fails_within_bounded_time(forgejo, tmp_path):
    args = dict(conn(forgejo), forgejo_url="http://127.0.0.1:9")
    started = time.monotonic()
    run = run_playbook(tmp_path, play(task("Read.", "forgejo_issue_info", args)))
    elapsed = time.monotonic() - started
    assert_clean_failure(run, "cannot reach Forgejo", token=forgejo.token)
    assert elapsed < 20


def test_one_500_then_success_is_retried(forgejo, tmp_path):
    forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug")
    forgejo.inject_fault(status=500, count=1, method="GET", path_regex=r"/issues$")
    run = run_playbook(tmp_path, play(task("Read.", "forgejo_issue_info", conn(forgejo))))
    assert run.rc == 0, run.output
    assert len(run.task("Read.")["result"]["issues"]) == 1


def test_500_forever_fails_with_the_status(forgejo, tmp_path):
    forgejo.inject_fault(status=500, count=None, method="GET", path_regex=r"/issues$")
    run = run_playbook(tmp_path, play(task("Read.", "forgejo_issue_info", conn(forgejo))))
    assert_clean_failure(run, "HTTP 500", token=forgejo.token)


def test_a_post_answered_500_is_not_retried(forgejo, tmp_path):
    number = forgejo.create_issue(forgejo.owner, forgejo.repo, "Bug")["number"]
    forgejo.inject_fault(status=500, count=None, method="POST", path_regex=r"/comments$")
    forgejo.reset_requests()
    run = run_playbook(
        tmp_path, play(task("Comment.", "forgejo_issue", dict(conn(forgejo), number=number, comment="x")))
    )
    assert_clean_failure(run, "HTTP 500", token=forgejo.token)
    posts = [r for r in forgejo.requests if r.method == "POST"]
    assert len(posts) == 1


def test_missing_httpx_is_a_clear_missing_library_error(forgejo, tmp_path):
    """On a target Python without httpx (Debian's own here), modules say what to install."""
    run = run_playbook(
        tmp_path,
        play(task("Read.", "forgejo_issue_info", conn(forgejo))),
        args=["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=/usr/bin/python3"],
    )
    msg = assert_clean_failure(run, "httpx", token=forgejo.token)
    assert "Failed to import the required Python library" in msg


# -- forgejo_repo_info (also without httpx: pms1's system Python) -----------------------------------


def _system_python_inventory(tmp_path: Path) -> Path:
    """localhost with /usr/bin/python3, which has no httpx, as pms1's before the toolkit's venv."""
    found = subprocess.run(["/usr/bin/python3", "-c", "import httpx"], capture_output=True, check=False)
    if found.returncode == 0:
        pytest.skip("/usr/bin/python3 has httpx")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: /usr/bin/python3\n"
    )
    return inventory


def test_repo_info_reads_the_repository_and_the_runner_token_without_httpx(forgejo, tmp_path):
    inventory = _system_python_inventory(tmp_path)
    plays = play(
        task("Read the repository.", "forgejo_repo_info", conn(forgejo), register="repo"),
        task(
            "Fetch a runner token.",
            "forgejo_repo_info",
            {**conn(forgejo), "runner_registration_token": True},
            register="runner",
            no_log=True,
        ),
        task("Show it.", "ansible.builtin.debug", {"msg": "{{ runner.registration_token | length }}"}),
    )
    run = run_playbook(tmp_path, plays, args=["-i", str(inventory)])
    assert run.rc == 0, run.output
    read = run.task("Read the repository.")["result"]
    assert read["status"] == 200 and read["changed"] is False
    assert read["repo"]["full_name"] == f"{forgejo.owner}/{forgejo.repo}"
    assert "registration_token" not in read
    assert int(run.task("Show it.")["result"]["msg"]) > 0
    assert forgejo.token not in run.output


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ({"forgejo_token": "0" * 40}, 401, "Forgejo rejected the token"),
        ({"repo": "shad0w/no-such-repo"}, 404, "read repository shad0w/no-such-repo failed: HTTP 404"),
        ({"forgejo_url": "http://127.0.0.1:9"}, None, "cannot reach Forgejo at http://127.0.0.1:9"),
    ],
    ids=["wrong-token", "unknown-repo", "unreachable"],
)
def test_repo_info_failures_carry_the_status_without_httpx(forgejo, tmp_path, change, status, fragment):
    inventory = _system_python_inventory(tmp_path)
    plays = play(task("Read the repository.", "forgejo_repo_info", {**conn(forgejo), "retries": 0, **change}))
    run = run_playbook(tmp_path, plays, args=["-i", str(inventory)])
    msg = assert_clean_failure(run, fragment, token=forgejo.token)
    assert run.task("Read the repository.")["result"]["status"] == status, msg
