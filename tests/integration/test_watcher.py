"""watcher.yml end to end: the real ansible-playbook, run as an unprivileged user, the real Claude Code
CLI against the scripted model, real git, against the Forgejo double. After every scenario no secret
is in any log, comment, PR, branch, ledger entry, output or process argument."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import httpx
import pytest

from sandbox.watcher_world import TRIAGE_OK, git

pytestmark = [pytest.mark.integration, pytest.mark.claude]

BUG = (
    "Vessel tonnage is shown one tonne too low: /api/tonnage?value=1234.5 says 1,234 t, it should be 1,235 t."
)


@pytest.fixture(autouse=True)
def _no_secret_leaks(watcher):
    yield
    watcher.assert_no_secret_anywhere()


def test_portal_issue_is_triaged_queued_fixed_and_gets_a_pull_request(watcher):
    number = watcher.issue("Tonnage rounds down", BUG)
    watcher.script(watcher.triage_says(TRIAGE_OK), watcher.fix_does(*watcher.fixing_the_bug()))
    first = watcher.run_watcher()
    assert first.rc == 0, first.output
    # triage only: the fix waits for the next run, leaving a window to add `interactive`
    assert watcher.labels(number) == ["claude-queue", "portal"] and watcher.pulls() == []
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    comments = watcher.comments(number)
    assert comments[0].startswith("## Requirements")  # the breakdown, plain, no bot marker
    assert "ROUTE:" not in comments[0]
    assert watcher.labels(number) == ["claude-pr", "portal"]
    [pull] = watcher.pulls()
    assert pull["head"]["ref"] == f"claude/issue-{number}" and pull["base"]["ref"] == "main"
    assert (
        f"Fixes #{number}" in pull["body"] and "Rounded tonnage" in pull["body"] and "passed" in pull["body"]
    )
    # the verification is a line naming the log, never the output
    [verify_log] = watcher.logs.glob(f"claude-verify-{number}-*.log")
    assert "passed (exit 0, " in pull["body"] and f"`{verify_log.name}`" in pull["body"]
    assert "# pass" in verify_log.read_text() and "# pass" not in pull["body"]
    assert pull["html_url"] in comments[-1]
    fixed = watcher.remote_file(f"claude/issue-{number}", "App/lib/tonnage.js")
    assert "Math.round(value)" in fixed
    assert "Math.floor(value)" in watcher.remote_file("main", "App/lib/tonnage.js")
    # the clone kept its untracked app .env, and Claude's fix prompt carried the triage breakdown
    assert (watcher.clone / "App" / ".env").read_text().startswith("DATABASE_URL=")
    fix_prompts = [r for r in watcher.model.requests if "You are fixing" in json.dumps(r["body"])]
    assert "TRIAGE BREAKDOWN" in json.dumps(fix_prompts[0]["body"])
    stages = [(e["stage"], e["result"]) for e in watcher.ledger()]
    assert stages == [("triage", "queued"), ("fix", "pr")]
    assert all(e["cost_usd"] > 0 and e["num_turns"] >= 1 for e in watcher.ledger())
    logs = sorted(p.name for p in watcher.logs.iterdir())
    assert any(n.startswith("watcher-") for n in logs)
    assert any(n.startswith(f"claude-triage-{number}-") for n in logs)
    assert any(n.startswith(f"claude-fix-{number}-") for n in logs)


def test_schema_issue_is_routed_to_a_human(watcher):
    number = watcher.issue("Add a column for IMO numbers", "We need a new imo column on vessels.")
    watcher.script(
        watcher.triage_says("## Requirements\n\n- Add imo.\n\nSCHEMA: yes\nROUTE: claude-queue\nREASON: easy")
    )
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["interactive", "portal"]
    assert "schema" in watcher.comments(number)[0]
    assert watcher.pulls() == []


def test_unreadable_triage_answer_routes_to_interactive_with_a_comment(watcher):
    number = watcher.issue("Something", "It is broken.")
    watcher.script(watcher.triage_says("I am not sure what to do here."))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["interactive", "portal"]
    assert "could not be read" in watcher.comments(number)[0]


def test_fix_that_changes_nothing_fails_with_a_reason(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    watcher.script(watcher.fix_does([{"text": "I looked and changed nothing."}]))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"]
    assert "no commits" in watcher.comments(number)[-1]
    assert watcher.pulls() == [] and f"claude/issue-{number}" not in watcher.remote_branches()


def test_fix_touching_a_protected_path_goes_to_a_human_and_never_becomes_a_pr(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    schema = str(watcher.clone / "App" / "prisma" / "schema.prisma")
    watcher.script(
        watcher.fix_does(
            [{"tool": "Bash", "input": {"command": f"echo '// imo' >> {schema} && git commit -qam schema"}}],
            [{"text": "Changed the schema."}],
        )
    )
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["interactive", "portal"]
    assert "protected paths (App/prisma/schema.prisma)" in watcher.comments(number)[-1]
    assert watcher.pulls() == [] and f"claude/issue-{number}" not in watcher.remote_branches()


def _mirror_branches(watcher) -> list[str]:
    out = watcher_git(watcher, "for-each-ref", "--format=%(refname)", "refs/heads/claude")
    return out.splitlines()


def watcher_git(watcher, *args: str) -> str:
    return git("-c", "safe.directory=*", "--git-dir", str(watcher.watcher_home / "mirror.git"), *args)


def test_fix_adding_a_workflow_git_would_quote_is_refused_and_dropped_from_the_mirror(watcher):
    """``pwné.yml`` is ``"\\303\\251"``-quoted in git's line output: it must still be seen as protected."""
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    plant = "mkdir -p .forgejo/workflows && printf 'on: push\\n' > .forgejo/workflows/pwné.yml && git add -A"
    watcher.script(
        watcher.fix_does([{"tool": "Bash", "input": {"command": plant}}], *watcher.fixing_the_bug())
    )
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["interactive", "portal"]
    assert "protected paths (.forgejo/workflows/pwné.yml)" in watcher.comments(number)[-1]
    assert watcher.pulls() == [] and f"claude/issue-{number}" not in watcher.remote_branches()
    assert _mirror_branches(watcher) == []


def test_a_base_forged_in_the_clone_does_not_hide_a_protected_change(watcher):
    """A first fix rewires the clone so its next sync fetches "main" from the agent's own repository,
    whose main already adds a workflow; the next fix is an honest-looking one-line change on top. The
    watcher judges against the main it fetched itself, so the workflow is seen and nothing is pushed."""
    first = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    mirror = watcher.watcher_home / "mirror.git"
    evil = watcher.home / "evil"
    rewire = (
        f"git clone -q . {evil} && cd {evil} && mkdir -p .forgejo/workflows && "
        "printf 'on: push\\n' > .forgejo/workflows/pwn.yml && git add -A && git -c user.name=a -c user.email=a@b.invalid commit -qm tidy && "
        f"git branch -f main HEAD && cd - && git config url.{evil}.insteadOf {mirror}"
    )
    watcher.script(
        watcher.fix_does([{"tool": "Bash", "input": {"command": rewire}}], [{"text": "Nothing to do."}])
    )
    assert watcher.run_watcher().rc == 0
    assert watcher.labels(first) == ["claude-failed", "portal"]
    second = watcher.issue("Tonnage again", BUG, labels=("portal", "claude-queue"))
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug(), number=second))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    # the clone was really fooled: it sits on the forged main
    assert (watcher.clone / ".forgejo" / "workflows" / "pwn.yml").exists()
    assert watcher.labels(second) == ["interactive", "portal"]
    assert "protected paths (.forgejo/workflows/pwn.yml)" in watcher.comments(second)[-1]
    assert watcher.pulls() == [] and f"claude/issue-{second}" not in watcher.remote_branches()
    assert _mirror_branches(watcher) == []


def test_failing_verify_command_marks_the_issue_failed_with_the_reason(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    tonnage = str(watcher.clone / "App" / "lib" / "tonnage.js")
    watcher.script(
        watcher.fix_does(
            [{"tool": "Read", "input": {"file_path": tonnage}}],
            [
                {
                    "tool": "Edit",
                    "input": {
                        "file_path": tonnage,
                        "old_string": "  const tonnes = Math.floor(value);",
                        "new_string": "  const tonnes = Math.ceil(value) + 1;",
                    },
                }
            ],
            [{"tool": "Bash", "input": {"command": "git commit -qam 'Wrong fix'"}}],
            [{"text": "Done."}],
        )
    )
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"]
    comment = watcher.comments(number)[-1]
    assert "verify command failed" in comment and "fail" in comment.lower()
    assert watcher.pulls() == []


PLANTED_DB_URL = "postgres://pelagia:hunter2@127.0.0.1/pelagia"


def test_fix_that_commits_a_secret_is_refused_before_anything_is_pushed(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    token = watcher.forgejo.token  # the known, token-shaped secret (split so no prompt or log holds it)
    config = watcher.clone / "App" / "lib" / "settings.js"
    plant = (
        f"a={token[:20]}; b={token[20:]}; "
        f'printf \'export const DB = "{PLANTED_DB_URL}";\\nexport const FORGEJO_TOKEN = "%s%s";\\n\' '
        f'"$a" "$b" > {config} && git add {config} && git commit -qm "Settings"'
    )
    watcher.script(
        watcher.fix_does(
            *watcher.fixing_the_bug()[:3],
            [{"tool": "Bash", "input": {"command": plant}}],
            [{"text": "Rounded tonnage; settings added."}],
        )
    )
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"]
    assert watcher.pulls() == [] and f"claude/issue-{number}" not in watcher.remote_branches()
    comment = watcher.comments(number)[-1]
    assert "looks like a secret" in comment and "App/lib/settings.js" in comment
    assert "known secret value" in comment and "password in a URL" in comment
    assert "hunter2" not in comment and token not in comment
    # the planted file did hold both (the refusal is about what Claude committed, not a guess)
    assert token in config.read_text() and PLANTED_DB_URL in config.read_text()


def test_fix_whose_commit_would_close_another_issue_is_refused(watcher):
    other = watcher.issue("Unrelated", "leave me open", labels=("interactive",))
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    steps = watcher.fixing_the_bug()
    steps[2] = [
        {
            "tool": "Bash",
            "input": {
                "command": f"git -c user.name=c -c user.email=c@example.invalid commit -qam Tonnage -m 'Closes #{other}'"
            },
        }
    ]
    watcher.script(watcher.fix_does(*steps))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"]
    assert watcher.pulls() == [] and f"claude/issue-{number}" not in watcher.remote_branches()
    comment = watcher.comments(number)[-1]
    assert "would close or reopen other issues" in comment and f"#{other}" in comment
    assert re.search(r"(?i)closes[\s:]*#\d", comment) is None


def test_failing_verify_posts_the_reason_and_log_name_never_the_output(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    tonnage = str(watcher.clone / "App" / "lib" / "tonnage.js")
    # the secret is assembled at run time (the diff holds no URL), and printed by the verify command
    leak = "\nprocess.on('exit', () => console.error(['postgres://pelagia', 'hunter2@127.0.0.1/pelagia'].join(':')));\n"
    watcher.script(
        watcher.fix_does(
            [{"tool": "Read", "input": {"file_path": tonnage}}],
            [
                {
                    "tool": "Edit",
                    "input": {
                        "file_path": tonnage,
                        "old_string": "  const tonnes = Math.floor(value);",
                        "new_string": "  const tonnes = Math.ceil(value) + 1;",
                    },
                }
            ],
            [
                {
                    "tool": "Bash",
                    "input": {"command": f"printf %s \"{leak}\" >> {tonnage} && git commit -qam 'Fix'"},
                }
            ],
            [{"text": "Done."}],
        )
    )
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"] and watcher.pulls() == []
    comment = watcher.comments(number)[-1]
    assert "verify command failed (exit 1" in comment and "To retry" in comment
    [verify_log] = watcher.logs.glob(f"claude-verify-{number}-*.log")
    assert verify_log.name in comment
    assert "hunter2" not in comment and "# fail" not in comment and "```" not in comment
    # the output is kept on the host, redacted
    kept = verify_log.read_text()
    assert "# fail 3" in kept and "postgres://pelagia:[redacted]@" in kept and "hunter2" not in kept


def test_triage_breakdown_with_html_mentions_images_and_closing_keywords_is_posted_inert(watcher):
    number = watcher.issue("Tonnage rounds down", BUG)
    attack = (
        "## Requirements\n\n- Round tonnage. Ping @admin, closes #1, Fixes: #2, resolves shad0w/other#3\n"
        "- ![beacon](http://evil.example/beacon.png) <img src=http://evil.example/i.png>\n"
        "- escaped \\`<details open><summary>x</summary>\\` and a ```\n\n<img src=http://evil.example/f.png>\n\n```\n"
        f"- db {PLANTED_DB_URL}\n\n"
        "SCHEMA: no\nROUTE: interactive\nREASON: ask @ops <b>now</b> closes #4"
    )
    watcher.script(watcher.triage_says(attack))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["interactive", "portal"]
    [posted] = watcher.comments(number)
    assert posted.startswith("## Requirements") and "Round tonnage" in posted
    rendered = re.sub(r"^(`{3,})[^\n]*\n.*?^\1$", "", posted, flags=re.DOTALL | re.MULTILINE)
    assert "<" not in rendered and "![" not in posted
    assert re.search(r"(?<![\w])@[A-Za-z]", posted) is None
    assert (
        re.search(r"(?i)\b(close[sd]?|fix(e[sd])?|resolve[sd]?)[\s:]+([\w.-]+/[\w.-]+)?#\d", posted) is None
    )
    assert "hunter2" not in posted


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"status": 500}, "API error 500"),
        ({"status": 529}, "529"),
    ],
)
def test_model_api_errors_mark_the_fix_failed(watcher, fault, reason):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    watcher.script({"match": "You are fixing", **fault})
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"]
    assert reason in watcher.comments(number)[-1]
    assert watcher.ledger()[-1]["result"] == "failed"


def test_max_turns_marks_the_fix_failed(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    watcher.write_config(fix={"timeoutSeconds": 60, "maxTurns": 2, "perRun": 1})
    watcher.script(watcher.fix_does([{"tool": "Bash", "input": {"command": "true"}}]))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"]
    assert "max turns (2) reached" in watcher.comments(number)[-1]


def test_timeout_kills_claude_and_marks_the_fix_failed(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    watcher.write_config(fix={"timeoutSeconds": 4, "maxTurns": 5, "perRun": 1})
    watcher.script({"match": "You are fixing", "hang_seconds": 30, "replies": [[{"text": "late"}]]})
    started = time.monotonic()
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert time.monotonic() - started < 60
    assert watcher.labels(number) == ["claude-failed", "portal"]
    assert "timed out after 4s" in watcher.comments(number)[-1]


def test_retry_after_failure_reuses_the_branch_name(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    watcher.script(watcher.fix_does([{"text": "nothing"}]))
    watcher.run_watcher()
    assert watcher.labels(number) == ["claude-failed", "portal"]
    _add_label(watcher, number, "claude-queue")
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug()))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-pr", "portal"]
    [pull] = watcher.pulls()
    assert pull["head"]["ref"] == f"claude/issue-{number}"


def test_requeue_after_the_pull_request_was_closed_opens_a_new_one_on_the_same_branch(watcher):
    """A human closed the first PR and queued the issue again. Forgejo's lookup by base/head answers with the
    OLDEST matching PR (no ORDER BY, models/issues/pull.go:695-700; FIDELITY M1), the closed one: the
    watcher must still open (and report) a new open PR from claude/issue-N, not the closed one."""
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug()))
    assert watcher.run_watcher().rc == 0
    [first] = watcher.pulls()
    api = httpx.Client(
        base_url=f"{watcher.forgejo.url}/api/v1/repos/{watcher.owner}/{watcher.repo}",
        headers={"Authorization": f"token {watcher.forgejo.token}"},
    )
    assert api.patch(f"/pulls/{first['number']}", json={"state": "closed"}).status_code == 201
    queue = next(
        lb["id"] for lb in watcher.forgejo.labels(watcher.owner, watcher.repo) if lb["name"] == "claude-queue"
    )
    portal = next(
        lb["id"] for lb in watcher.forgejo.labels(watcher.owner, watcher.repo) if lb["name"] == "portal"
    )
    assert api.put(f"/issues/{number}/labels", json={"labels": [portal, queue]}).status_code == 200
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug("Rounded it again.")))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-pr", "portal"]
    closed, reopened = watcher.pulls()
    assert (closed["number"], closed["state"]) == (first["number"], "closed")
    assert reopened["state"] == "open" and reopened["head"]["ref"] == f"claude/issue-{number}"
    assert api.get(f"/pulls/main/claude%2Fissue-{number}").json()["number"] == first["number"]
    assert f"#{reopened['number']}" in watcher.comments(number)[-1]
    # Queued once more while the new PR is open: the create is a 409, the lookup by base/head returns the
    # closed PR, and the watcher must settle on the open one instead of failing or reporting the closed one.
    assert api.put(f"/issues/{number}/labels", json={"labels": [portal, queue]}).status_code == 200
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug("Rounded it a third time.")))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-pr", "portal"]
    assert [p["number"] for p in watcher.pulls()] == [first["number"], reopened["number"]]
    assert f"#{reopened['number']}" in watcher.comments(number)[-1]
    statuses = [
        r.status for r in watcher.forgejo.api_requests() if r.method == "POST" and r.path.endswith("/pulls")
    ]
    assert statuses[-1] == 409
    # ... and the open PR now carries this attempt's summary, not the one its first attempt wrote.
    [current] = [p for p in watcher.pulls() if p["number"] == reopened["number"]]
    assert "Rounded it a third time." in current["body"] and "Rounded it again." not in current["body"]


def test_manually_queued_issue_is_fixed_without_triage(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("claude-queue",))
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug()))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-pr"]
    assert not any("You are triaging" in json.dumps(r["body"]) for r in watcher.model.requests)


def test_interactive_issues_are_never_touched(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "interactive", "claude-queue"))
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug()))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-queue", "interactive", "portal"]
    assert watcher.comments(number) == [] and watcher.model.requests == []


def test_without_claude_credentials_the_watcher_does_nothing_and_exits_zero(watcher):
    number = watcher.issue("Tonnage", BUG)
    env = dict(json.loads(watcher.config_path.read_text())["claudeEnv"])
    env.pop("ANTHROPIC_API_KEY")
    watcher.write_config(claudeEnv=env)
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert "not signed in" in run.output
    assert watcher.labels(number) == ["portal"] and watcher.comments(number) == []
    assert watcher.model.requests == []
    log = next(watcher.logs.glob("watcher-*.log")).read_text()
    assert "not signed in" in log


def test_a_config_without_the_agent_section_fails_the_run_and_runs_no_claude(watcher):
    number = watcher.issue("Tonnage", BUG)
    config = json.loads(watcher.config_path.read_text())
    del config["agentMode"]
    watcher.config_path.write_text(json.dumps(config))
    run = watcher.run_watcher()
    assert run.rc != 0
    assert "no 'agent' section" in run.output and "agentMode" in run.output and "Traceback" not in run.output
    assert watcher.labels(number) == ["portal"] and watcher.comments(number) == []
    assert watcher.model.requests == []


def test_stale_claude_working_is_recovered_to_failed(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-working"))
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"]
    assert "stopped without finishing" in watcher.comments(number)[-1]


def test_daily_spend_cap_leaves_the_queue_as_it_is(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    watcher.logs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    (watcher.logs / "ledger.jsonl").write_text(
        json.dumps({"ts": stamp, "stage": "fix", "cost_usd": 6.0}) + "\n"
    )
    for path in (watcher.logs, watcher.logs / "ledger.jsonl"):
        os.chown(path, watcher.user.uid, watcher.user.gid)
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-queue", "portal"] and watcher.comments(number) == []
    assert "daily spend cap reached" in next(watcher.logs.glob("watcher-*.log")).read_text()


def test_two_watchers_started_together_exactly_one_works(watcher):
    number = watcher.issue("Tonnage", BUG)
    slow = watcher.triage_says(TRIAGE_OK)
    slow["hang_seconds"] = 6
    watcher.script(slow, watcher.fix_does([{"text": "nothing"}]))
    results = []
    threads = [threading.Thread(target=lambda: results.append(watcher.run_watcher())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.rc for r in results] == [0, 0], [r.output for r in results]
    busy = [r for r in results if "Another watcher holds the lock" in r.output]
    assert len(busy) == 1
    triage_comments = [c for c in watcher.comments(number) if c.startswith("## Requirements")]
    assert len(triage_comments) == 1


def test_forgejo_500_in_the_middle_of_a_fix_still_ends_labelled_with_a_comment(watcher):
    number = watcher.issue("Tonnage", BUG, labels=("portal", "claude-queue"))
    watcher.script(watcher.fix_does(*watcher.fixing_the_bug()))
    watcher.forgejo.inject_fault(status=500, count=None, method="POST", path_regex=r"/pulls$")
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert watcher.labels(number) == ["claude-failed", "portal"]
    assert "HTTP 500" in watcher.comments(number)[-1]


def _add_label(watcher, number: int, name: str) -> None:
    label_id = next(
        label["id"] for label in watcher.forgejo.labels(watcher.owner, watcher.repo) if label["name"] == name
    )

    response = httpx.post(
        f"{watcher.forgejo.url}/api/v1/repos/{watcher.owner}/{watcher.repo}/issues/{number}/labels",
        headers={"Authorization": f"token {watcher.forgejo.token}"},
        json={"labels": [label_id]},
    )
    response.raise_for_status()


def test_an_idle_cycle_lists_the_open_issues_once_per_50(watcher):
    watcher.forgejo.reset_requests()
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in watcher.forgejo.api_requests()] == [
        ("GET", "issues")
    ]
    for i in range(50):  # nothing to do for any of them: a human has each
        watcher.issue(f"Report {i}", labels=("portal", "interactive"))
    watcher.forgejo.reset_requests()
    run = watcher.run_watcher()
    assert run.rc == 0, run.output
    pages = [r.query.get("page") for r in watcher.forgejo.api_requests()]
    assert pages == ["1", "2"]  # 50 open issues: one full page, then the short one
