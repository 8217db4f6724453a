"""The review loop and the live progress comment, end to end: the real ansible-playbook watcher.yml, the
real Claude Code CLI against the scripted model, real git, the Forgejo double (its reviews and
collaborator-permission API checked against the spec like every other request)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from sandbox.watcher_world import git

pytestmark = [pytest.mark.integration, pytest.mark.claude]

BUG = "Vessel tonnage is shown one tonne too low: 1234.5 t shows as 1,234 t, it should be 1,235 t."
REVISION = {"timeoutSeconds": 90, "maxTurns": 8, "perRun": 1, "maxPerPr": 3}


@pytest.fixture(autouse=True)
def _no_secret_leaks(watcher):
    yield
    watcher.assert_no_secret_anywhere()


def _open_pr(watcher, number: int) -> tuple[int, str]:
    """The state a fix leaves: branch claude/issue-N with the fix on Forgejo, its PR open, the issue
    labelled claude-pr. Returns (PR number, a local clone of the branch)."""
    branch = f"claude/issue-{number}"
    work = watcher.base / f"pr-{number}"
    remote = str(watcher.forgejo.repo_path(watcher.owner, watcher.repo))
    git("clone", "-q", remote, str(work))
    git("checkout", "-q", "-b", branch, cwd=work)
    tonnage = work / "App" / "lib" / "tonnage.js"
    tonnage.write_text(tonnage.read_text().replace("Math.floor(value)", "Math.round(value)"))
    git("commit", "-qam", "Round tonnage to the nearest tonne", cwd=work)
    git("push", "-q", remote, branch, cwd=work)
    response = httpx.post(
        f"{watcher.forgejo.url}/api/v1/repos/{watcher.owner}/{watcher.repo}/pulls",
        headers={"Authorization": f"token {watcher.forgejo.token}"},
        json={"head": branch, "base": "main", "title": f"Fix #{number}", "body": f"Fixes #{number}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["number"], str(work)


def _revising_requests(watcher) -> list:
    return [r for r in watcher.model.requests if "You are revising" in json.dumps(r["body"])]


def _revision_does(*replies: list) -> dict:
    return {"match": "You are revising", "replies": list(replies)}


def _explaining_the_rounding() -> list:
    command = (
        "printf '// Rounded to the nearest tonne, as the review asked.\\n' >> App/lib/tonnage.js "
        "&& git -c user.name=Claude -c user.email=claude@localhost commit -qam 'Explain the rounding'"
    )
    return [[{"tool": "Bash", "input": {"command": command}}], [{"text": "Added a comment on the rounding."}]]


def _watcher_log(watcher) -> str:
    return "".join(p.read_text() for p in watcher.logs.glob("watcher-*.log"))


def test_request_changes_from_a_writer_adds_a_commit_on_top_of_a_human_one(watcher):
    watcher.write_config(revision=REVISION)
    number = watcher.issue("Tonnage rounds down", BUG, labels=("portal", "claude-pr"))
    pr, work = _open_pr(watcher, number)
    branch = f"claude/issue-{number}"
    # A human adds a commit of their own to the PR's branch: the revision must keep it.
    (watcher.base / f"pr-{number}" / "NOTES.md").write_text("Checked by a human.\n")
    git("add", "NOTES.md", cwd=work)
    git("-c", "user.name=Hannah Human", "commit", "-qm", "Human note", cwd=work)
    git("push", "-q", str(watcher.forgejo.repo_path(watcher.owner, watcher.repo)), branch, cwd=work)
    human = watcher.remote_branches()[branch]
    watcher.forgejo.set_collaborator(watcher.owner, watcher.repo, "alice", "write")
    watcher.forgejo.add_review(
        watcher.owner,
        watcher.repo,
        pr,
        "alice",
        "REQUEST_CHANGES",
        "Please explain the rounding in a comment.",
        comments=[("App/lib/tonnage.js", "Why round here? Say so in the code.")],
    )
    watcher.script(_revision_does(*_explaining_the_rounding()))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    head = watcher.remote_branches()[branch]
    assert head != human
    # a new commit on top: the human's commit is an ancestor (no force push over it)
    git(
        "merge-base", "--is-ancestor", human, head, cwd=watcher.forgejo.repo_path(watcher.owner, watcher.repo)
    )
    assert "Explain the rounding" in git(
        "log", "-1", "--format=%s", head, cwd=watcher.forgejo.repo_path(watcher.owner, watcher.repo)
    )
    assert "as the review asked" in watcher.remote_file(branch, "App/lib/tonnage.js")
    assert "Math.round(value)" in watcher.remote_file(branch, "App/lib/tonnage.js")
    assert watcher.remote_file(branch, "NOTES.md") == "Checked by a human."
    assert watcher.labels(number) == ["claude-pr", "portal"]
    # the review reached Claude fenced as untrusted data, with its code comment
    [prompt] = [json.dumps(r["body"]) for r in _revising_requests(watcher)[:1]]
    assert "Please explain the rounding" in prompt and "Why round here?" in prompt
    assert "REVIEW COMMENT" in prompt and "BEGIN" in prompt
    # one reply on the PR: what changed, cost, turns
    [reply] = watcher.comments(pr)
    assert "pushed 1 new commit(s)" in reply and "Explain the rounding" in reply
    assert "Added a comment on the rounding." in reply
    assert "turns" in reply and "cost $" in reply and f"branch `{branch}`" in reply
    assert [(e["stage"], e["result"]) for e in watcher.ledger()] == [("revise", "pushed")]
    # the same review seen again: nothing runs a second time
    asked = len(_revising_requests(watcher))
    again = watcher.run_watcher()
    assert again.rc == 0, again.output
    assert len(_revising_requests(watcher)) == asked
    assert watcher.remote_branches()[branch] == head and len(watcher.comments(pr)) == 1
    assert [(e["stage"], e["result"]) for e in watcher.ledger()] == [("revise", "pushed")]


def test_trigger_comment_from_a_non_writer_is_ignored_and_logged(watcher):
    watcher.write_config(revision=REVISION)
    number = watcher.issue("Tonnage rounds down", BUG, labels=("portal", "claude-pr"))
    pr, _ = _open_pr(watcher, number)
    before = watcher.remote_branches()[f"claude/issue-{number}"]
    watcher.forgejo.add_comment(
        watcher.owner, watcher.repo, pr, "/claude rewrite it all in Rust", user="mallory"
    )
    watcher.script(_revision_does(*_explaining_the_rounding()))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert _revising_requests(watcher) == []
    assert watcher.remote_branches()[f"claude/issue-{number}"] == before
    assert watcher.labels(number) == ["claude-pr", "portal"]
    assert watcher.comments(pr) == ["/claude rewrite it all in Rust"]
    assert "'mallory': no write access (read)" in _watcher_log(watcher)
    # asked of Forgejo, per user
    asked = [r.path for r in watcher.forgejo.requests if r.path.endswith("/collaborators/mallory/permission")]
    assert len(asked) == 1


def test_attempts_cap_reached_says_so_and_runs_nothing(watcher):
    watcher.write_config(revision={**REVISION, "maxPerPr": 1})
    number = watcher.issue("Tonnage rounds down", BUG, labels=("portal", "claude-pr"))
    pr, _ = _open_pr(watcher, number)
    # one revision of this PR already ran
    watcher.logs.mkdir(parents=True, exist_ok=True)
    earlier = {"ts": datetime.now(UTC).isoformat(), "issue": number, "stage": "revise", "pr": pr}
    (watcher.logs / "ledger.jsonl").write_text(
        json.dumps({**earlier, "result": "pushed", "cost_usd": 0.01}) + "\n"
    )
    watcher._chown()
    watcher.forgejo.add_comment(watcher.owner, watcher.repo, pr, "/claude one more thing please")
    watcher.script(_revision_does(*_explaining_the_rounding()))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert _revising_requests(watcher) == []
    [_, capped] = watcher.comments(pr)
    assert "maximum of 1 automatic revisions" in capped and "`revision.maxPerPr`" in capped
    assert watcher.labels(number) == ["claude-pr", "portal"]
    again = watcher.run_watcher()
    assert again.rc == 0, again.output
    assert len(watcher.comments(pr)) == 2  # said once, not every run


def test_revision_touching_a_protected_path_is_refused_like_a_fix(watcher):
    watcher.write_config(revision=REVISION)
    number = watcher.issue("Tonnage rounds down", BUG, labels=("portal", "claude-pr"))
    pr, _ = _open_pr(watcher, number)
    branch = f"claude/issue-{number}"
    before = watcher.remote_branches()[branch]
    watcher.forgejo.add_comment(watcher.owner, watcher.repo, pr, "/claude also store the IMO number")
    schema = "App/prisma/schema.prisma"
    watcher.script(
        _revision_does(
            [{"tool": "Bash", "input": {"command": f"echo '// imo' >> {schema} && git commit -qam schema"}}],
            [{"text": "Changed the schema."}],
        )
    )
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert len(_revising_requests(watcher)) >= 1
    assert watcher.remote_branches()[branch] == before  # nothing pushed
    assert watcher.labels(number) == ["interactive", "portal"]  # never left in claude-working
    reply = watcher.comments(pr)[-1]
    assert f"protected paths ({schema})" in reply and "Nothing was pushed" in reply
    mirror = str(watcher.watcher_home / "mirror.git")
    refs = git(
        "-c",
        "safe.directory=*",
        "--git-dir",
        mirror,
        "for-each-ref",
        "--format=%(refname)",
        "refs/heads/claude",
    )
    assert refs == ""
    assert [(e["stage"], e["result"]) for e in watcher.ledger()] == [("revise", "interactive")]


def test_fix_keeps_one_progress_comment_edited_through_its_stages(watcher):
    number = watcher.issue("Tonnage rounds down", BUG, labels=("portal", "claude-queue"))
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug()))
    watcher.forgejo.reset_requests()
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    [comment] = watcher.forgejo.comments(watcher.owner, watcher.repo, number)
    text = comment["body"]
    [pull] = watcher.pulls()
    assert f"opened pull request #{pull['number']}" in text and pull["html_url"] in text
    for stage in ("started on", "clone synced", "Claude finished", "checks passed", "verification passed",
                  "pushed"):  # fmt: skip
        assert stage in text, stage
    assert "Duration " in text and " turns" in text and "cost $" in text
    assert f"branch `claude/issue-{number}`" in text
    edits = [
        r
        for r in watcher.forgejo.requests
        if r.method == "PATCH" and r.path.endswith(f"/issues/comments/{comment['id']}")
    ]
    assert len(edits) >= 5 and all(r.status == 200 for r in edits)
    posts = [r for r in watcher.forgejo.requests if r.method == "POST" and r.path.endswith("/comments")]
    assert len(posts) == 1
    assert watcher.labels(number) == ["claude-pr", "portal"]
