"""The review loop: a reviewer's request for changes on a watcher PR becomes a revision on its branch.

A revision is triggered on the open PR of a ``claude-pr`` issue by a review with state
REQUEST_CHANGES, or by a PR comment, a review's body or a review (code) comment that starts with the
trigger word (``reviewTrigger``, default ``/claude``), written by a user with write access to the
repository (asked of Forgejo: ``collaborators/{user}/permission``); anyone else's is ignored with a log
line. Handled reviews and comments are remembered in the ledger (``handled_review``,
``handled_comment``: the highest ids seen), so nothing triggers twice.

The revision runs like a fix (same containment, untrusted-text fencing, protected-path, secret and
verify checks) on the PR's branch as Forgejo has it (a human's commits included) and is pushed WITHOUT
force: only a fast-forward is accepted. The PR gets one live reply; the issue is ``claude-working``
while it runs and ``claude-pr`` after (``claude-failed`` or ``interactive`` with the reason otherwise).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible.module_utils.slipway import gitops, ledger, lifecycle
from ansible.module_utils.slipway.config import WatcherConfig
from ansible.module_utils.slipway.forgejo import ForgejoClient, ForgejoError
from ansible.module_utils.slipway.pipeline import (
    FixFailure,
    Outcome,
    issue_text,
    record,
    refuse_protected,
    refuse_secrets,
    remote_url,
    run_agent_on_branch,
    run_verify,
)
from ansible.module_utils.slipway.progress import Progress
from ansible.module_utils.slipway.prompts import revision_prompt
from ansible.module_utils.slipway.runlog import claude_log_path, log_line
from ansible.module_utils.slipway.sanitize import one_line, redact, safe_line, safe_markdown
from ansible.module_utils.slipway.workspace import WorkspaceError, git_for, workspace_for

STAGE = "revise"
WRITE_ACCESS = ("write", "admin", "owner")
RAN = ("pushed", "failed", "interactive")  # results that count as an attempt


@dataclass
class Trigger:
    kind: str  # review | comment
    id: int
    user: str
    feedback: list[tuple[str, str]] = field(default_factory=list)  # (label, untrusted text)


def _starts_with(text: str, word: str) -> bool:
    stripped = (text or "").lstrip()
    return stripped.startswith(word) and (len(stripped) == len(word) or stripped[len(word)].isspace())


def handled_marks(cfg: WatcherConfig, pr: int) -> tuple[int, int]:
    """The highest review id and comment id already handled on this PR (from the ledger)."""
    review = comment = 0
    for entry in ledger.read_ledger(str(cfg.ledger)):
        if entry.get("stage") == STAGE and entry.get("pr") == pr:
            review = max(review, int(entry.get("handled_review") or 0))
            comment = max(comment, int(entry.get("handled_comment") or 0))
    return review, comment


def attempts(cfg: WatcherConfig, pr: int) -> int:
    return sum(
        1
        for entry in ledger.read_ledger(str(cfg.ledger))
        if entry.get("stage") == STAGE and entry.get("pr") == pr and entry.get("result") in RAN
    )


def pending_triggers(cfg: WatcherConfig, client: ForgejoClient, pr: int) -> list[Trigger]:
    """New reviews and comments on the PR that ask for a revision, oldest first."""
    last_review, last_comment = handled_marks(cfg, pr)
    word = cfg.review_trigger
    found: list[Trigger] = []
    for review in client.list_reviews(pr):
        rid = int(review["id"])
        if rid <= last_review or review.get("dismissed") or review.get("state") == "PENDING":
            continue
        body = review.get("body") or ""
        comments = client.review_comments(pr, rid) if review.get("comments_count") else []
        asked = review.get("state") == "REQUEST_CHANGES" or _starts_with(body, word)
        asked = asked or any(_starts_with(c.get("body") or "", word) for c in comments)
        if not asked:
            continue
        trigger = Trigger("review", rid, (review.get("user") or {}).get("login") or "")
        if body:
            trigger.feedback.append(("REVIEW", body))
        for comment in comments:
            where = f"(on {comment.get('path') or 'the change'})\n"
            trigger.feedback.append(("REVIEW COMMENT", where + (comment.get("body") or "")))
        found.append(trigger)
    for comment in client.list_comments(pr):
        cid = int(comment["id"])
        if cid > last_comment and _starts_with(comment.get("body") or "", word):
            login = (comment.get("user") or {}).get("login") or ""
            found.append(Trigger("comment", cid, login, [("PR COMMENT", comment.get("body") or "")]))
    return found


def _marks(triggers: list[Trigger]) -> dict[str, int]:
    return {
        "handled_review": max([t.id for t in triggers if t.kind == "review"], default=0),
        "handled_comment": max([t.id for t in triggers if t.kind == "comment"], default=0),
    }


def revise_all(
    cfg: WatcherConfig, client: ForgejoClient, check_mode: bool = False, issues: list[dict] | None = None
) -> list[dict[str, Any]]:
    """Look at every open PR of a ``claude-pr`` issue and revise those a writer asked changes of
    (oldest issue first, ``revision.perRun`` per run). ``issues``: the open issues the run already
    listed (its one listing); otherwise listed here."""
    outcomes: list[dict[str, Any]] = []
    ran = 0
    permissions: dict[str, str] = {}
    if issues is None:
        issues = client.list_issues(labels=[lifecycle.PR])
    for issue in sorted(lifecycle.pick(issues, "revise"), key=lambda i: i["number"]):
        # Label objects when listed here, names in the run's listing (forgejo_issue_info's issues).
        labels = sorted(lifecycle.label_names(issue.get("labels") or []))
        number = int(issue["number"])
        if issue.get("pull_request"):
            continue
        branch = lifecycle.branch_name(number)
        pull = client.open_pull_for(cfg.base_branch, branch)
        if pull is None:
            continue
        pr = int(pull["number"])
        triggers = pending_triggers(cfg, client, pr)
        if not triggers:
            continue
        writers = []
        for trigger in triggers:
            if trigger.user not in permissions:
                try:
                    permissions[trigger.user] = client.permission_of(trigger.user)
                except ForgejoError as exc:
                    log_line(cfg.log_dir, f"could not read {trigger.user}'s permission: {exc}", number)
                    permissions[trigger.user] = "unknown"
            if permissions[trigger.user] in WRITE_ACCESS:
                writers.append(trigger)
            else:
                log_line(
                    cfg.log_dir,
                    f"ignored {trigger.kind} {trigger.id} on PR #{pr} from {trigger.user!r}: "
                    f"no write access ({permissions[trigger.user]})",
                    number,
                )
        marks = _marks(triggers)
        base = {"number": number, "pr": pr}
        if not writers:
            if not check_mode:
                record(cfg, Outcome(number, STAGE, "ignored", "no writer asked", pr_number=pr), **marks)
            outcomes.append({**base, "result": "ignored"})
            continue
        if ran >= cfg.revision.per_run:
            outcomes.append({**base, "result": "later"})
            continue
        spent = ledger.spend_today(str(cfg.ledger))
        if spent >= cfg.daily_spend_cap_usd:
            log_line(
                cfg.log_dir, f"daily spend cap reached (${spent:.2f}); revision of PR #{pr} waits", number
            )
            outcomes.append({**base, "result": "budget"})
            continue
        if attempts(cfg, pr) >= cfg.revision_max_per_pr:
            outcomes.append({**base, "result": "capped"})
            if not check_mode:
                _capped(cfg, client, number, pr, marks)
            continue
        if check_mode:
            outcomes.append({**base, "result": "would-revise"})
            continue
        ran += 1
        outcome = revise(cfg, client, number, labels, pr, writers, marks)
        outcomes.append(outcome.as_dict())
    return outcomes


def _capped(cfg: WatcherConfig, client: ForgejoClient, number: int, pr: int, marks: dict[str, int]) -> None:
    client.add_comment(
        pr,
        f"A revision was asked for, but this pull request has had its maximum of "
        f"{cfg.revision_max_per_pr} automatic revisions (`revision.maxPerPr`), so nothing was run. "
        "A human should take it from here.",
    )
    log_line(cfg.log_dir, f"revision of PR #{pr} refused: attempts cap reached", number)
    record(cfg, Outcome(number, STAGE, "capped", "attempts cap reached", pr_number=pr), **marks)


def revise(
    cfg: WatcherConfig,
    client: ForgejoClient,
    number: int,
    labels: list[str],
    pr: int,
    triggers: list[Trigger],
    marks: dict[str, int],
) -> Outcome:
    started = time.monotonic()
    branch = lifecycle.branch_name(number)
    labels = client.set_issue_labels(number, [lifecycle.WORKING], [lifecycle.PR, lifecycle.FAILED], labels)[0]
    log_path = claude_log_path(cfg.log_dir, STAGE, number)
    log_line(cfg.log_dir, f"revision of PR #{pr} started, log {log_path.name}", number)
    outcome = Outcome(number, STAGE, "failed", changed=True, labels=labels, log_path=str(log_path))
    outcome.pr_number = pr
    who = ", ".join(sorted({f"`{safe_line(t.user, [], 60)}`" for t in triggers}))
    asked = ", ".join(f"{t.kind} {t.id}" for t in triggers)
    progress = Progress(
        client, pr, "Automatic revision", branch, lambda message: log_line(cfg.log_dir, message, number)
    )
    progress.start(f"asked for by {who} ({asked}); Claude's log `{log_path.name}` on {socket.gethostname()}")
    try:
        _revise_steps(cfg, client, number, branch, triggers, log_path, outcome, progress)
    except FixFailure as failure:
        _failed(cfg, client, outcome, failure, progress)
    except (ForgejoError, gitops.GitError, WorkspaceError, OSError, ValueError) as exc:
        _failed(cfg, client, outcome, FixFailure(f"pipeline error: {exc}"), progress)
    finally:
        workspace_for(cfg).free_port()
    outcome.stage_ms = int((time.monotonic() - started) * 1000)
    record(cfg, outcome, **marks)
    log_line(cfg.log_dir, f"revision of PR #{pr} done: {outcome.result} ({outcome.reason or 'ok'})", number)
    return outcome


def _revise_steps(
    cfg: WatcherConfig,
    client: ForgejoClient,
    number: int,
    branch: str,
    triggers: list[Trigger],
    log_path: Path,
    outcome: Outcome,
    progress: Progress,
) -> None:
    git, workspace = git_for(cfg), workspace_for(cfg)
    _, text = issue_text(client, number)
    gitops.fetch_base(git, cfg.mirror_dir, remote_url(cfg), cfg.base_branch)
    # The branch as Forgejo has it now, a human's commits included: the revision builds on exactly this.
    head = gitops.fetch_remote_branch(git, cfg.mirror_dir, remote_url(cfg), branch)
    workspace.sync(branch, branch)
    progress.stage(f"clone on `{branch}` at {head[:12]}, the pull request's head")
    feedback = [item for trigger in triggers for item in trigger.feedback]
    prompt = revision_prompt(
        text, feedback, branch=branch, dev_port=workspace.dev_port, test_command=cfg.test_hint
    )
    run = run_agent_on_branch(
        cfg, workspace, cfg.revision, prompt, log_path, outcome, progress, branch, number, "revision"
    )
    gitops.drop_branch(git, cfg.mirror_dir, branch)
    try:
        workspace.export(branch, head)
        if not gitops.builds_on(git, cfg.mirror_dir, head, branch):
            raise FixFailure(
                f"the revision does not build on the pull request's head ({head[:12]}): it rewrote "
                "history, so nothing was pushed"
            )
        if not gitops.commits_since(git, cfg.mirror_dir, head, branch):
            raise FixFailure("Claude made no commits: nothing to add to the pull request")
        refuse_protected(cfg, git, head, branch)
        refuse_secrets(cfg, git, head, branch, number)
        progress.stage("checks passed: builds on the pull request's head, nothing protected, no secrets")
        verify_log, verify_s = run_verify(cfg, workspace, number, branch, head)
        progress.stage(f"verification passed ({verify_s:.1f} s; log `{verify_log.name}`)")
        commits = gitops.commit_lines(git, cfg.mirror_dir, head, branch)
        new_head = gitops.branch_commit(git, cfg.mirror_dir, branch)
        if not gitops.push_fast_forward(git, cfg.mirror_dir, remote_url(cfg), branch):
            raise FixFailure(
                f"Forgejo refused the push: `{branch}` moved on since {head[:12]} and the revision is no "
                "longer a fast-forward of it; nothing was overwritten"
            )
    except BaseException:
        gitops.drop_branch(git, cfg.mirror_dir, branch)
        raise
    secrets = cfg.secrets()
    shown = "\n".join(f"- {safe_line(line, secrets, 160)}" for line in commits[:20])
    detail = "\n".join(
        [
            f"New commits on top of {head[:12]} (nothing was force-pushed):",
            "",
            shown,
            "",
            "Summary (from Claude):",
            "",
            safe_markdown(run.text, max_chars=4000, secret_values=secrets) or "(no summary)",
        ]
    )
    progress.stage(f"pushed `{branch}` to {new_head[:12]} (a fast-forward)")
    progress.finish(
        f"pushed {len(commits)} new commit(s) to `{branch}`", run.cost_usd, run.num_turns, detail=detail
    )
    outcome.labels = client.set_issue_labels(
        number, [lifecycle.PR], [lifecycle.WORKING, lifecycle.FAILED], outcome.labels
    )[0]
    outcome.result, outcome.reason = "pushed", ""


def _failed(
    cfg: WatcherConfig, client: ForgejoClient, outcome: Outcome, failure: FixFailure, progress: Progress
) -> None:
    """Say why on the PR (redacted, one line) and label the issue: ``interactive`` for a refused change,
    ``claude-failed`` otherwise; never ``claude-working``."""
    secrets = cfg.secrets()
    reason = one_line(redact(failure.reason, secrets), 1000)
    route = failure.route
    body = f"Nothing was pushed. Reason: {safe_line(reason, secrets, 1000)}\n\n"
    if route == lifecycle.INTERACTIVE:
        body += "The issue is routed to a human (`interactive`)."
    else:
        body += (
            "The issue is marked `claude-failed`; to ask again, label it `claude-pr` again and request "
            "changes or comment anew."
        )
    outcome.result, outcome.reason = ("interactive" if route == lifecycle.INTERACTIVE else "failed"), reason
    try:
        status = "refused" if route == lifecycle.INTERACTIVE else "failed"
        progress.finish(status, outcome.cost_usd, outcome.num_turns, detail=body)
        outcome.labels = client.set_issue_labels(
            outcome.number, [route], [lifecycle.WORKING, lifecycle.PR], outcome.labels
        )[0]
    except ForgejoError as exc:
        outcome.reason = f"{reason}; and labelling the failure failed: {exc}"
        log_line(cfg.log_dir, f"could not label the failed revision: {exc}", outcome.number)
