"""Triage and fix of one issue: the work behind the claude_triage and claude_fix modules.

Both end with the issue in a clear, labelled state and a comment saying why, whatever happens; the fix
never leaves ``claude-working`` behind and always frees the dev-server port.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex
from typing import Any

from ansible.module_utils.slipway import agent_protocol as protocol
from ansible.module_utils.slipway import claude, gitops, ledger, lifecycle
from ansible.module_utils.slipway.config import StageBudget, WatcherConfig
from ansible.module_utils.slipway.forgejo import ForgejoClient, ForgejoError
from ansible.module_utils.slipway.model_gateway import price_of
from ansible.module_utils.slipway.progress import Progress
from ansible.module_utils.slipway.prompts import IssueText, fix_prompt, parse_triage, triage_prompt
from ansible.module_utils.slipway.runlog import claude_log_path, log_line
from ansible.module_utils.slipway.sanitize import (
    closing_references,
    code_span,
    find_secrets,
    one_line,
    redact,
    safe_line,
    safe_markdown,
    safe_title,
)
from ansible.module_utils.slipway.workspace import (
    AgentWorkspace,
    LocalWorkspace,
    WorkspaceError,
    git_for,
    workspace_for,
)

# Tools that cannot run or write anything (the agent protocol's list): in agent mode, agent-run enforces
# it and runs triage with the clone read-only.
TRIAGE_TOOLS = list(protocol.READ_ONLY_TOOLS)


@dataclass
class Outcome:
    """What happened to one issue, as the module reports it."""

    number: int
    stage: str  # triage | fix
    result: str  # queued | interactive | pr | failed | skipped | no-change ...
    reason: str = ""
    changed: bool = False
    labels: list[str] = field(default_factory=list)
    pr_number: int | None = None
    pr_url: str | None = None
    cost_usd: float = 0.0
    cost_source: str = ""  # gateway: measured by the model gateway; cli: the CLI's own figure
    num_turns: int = 0
    duration_ms: int = 0
    log_path: str | None = None
    comment_id: int | None = None
    stage_ms: int = 0  # the whole step, wall clock
    claude_wall_ms: int = 0  # of which the Claude CLI run, wall clock

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def claude_env(cfg: WatcherConfig) -> dict[str, str]:
    """Claude's environment: an allow-list of the watcher's own, plus the configured extras. Never the
    Forgejo token, never the production app's variables."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "ANTHROPIC_API_KEY")}
    base.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    base["HOME"] = str(cfg.home)
    env = claude.build_env(base, claude.DEFAULT_ENV_ALLOW, cfg.claude_env)
    for name in list(env):
        if cfg.token and cfg.token in env[name]:
            del env[name]
    return env


def run_claude_in(
    workspace: LocalWorkspace | AgentWorkspace,
    cfg: WatcherConfig,
    budget: StageBudget,
    prompt: str,
    log_path: Path,
    **options: Any,
) -> claude.ClaudeResult:
    """One Claude run in the workspace, within the stage's budget (turns, timeout)."""
    run_id = token_hex(8)
    exe, run_as, extra = workspace.claude_command(run_id)
    result = claude.run_claude(
        exe,
        prompt,
        workspace.cwd,
        str(log_path),
        max_turns=budget.max_turns,
        timeout_s=budget.timeout_seconds,
        env=claude_env(cfg),
        model=cfg.model,
        run_as=run_as,
        extra_args=extra,
        **options,
    )
    measured = workspace.measured_usage(run_id)
    if measured is not None:
        # The spend cap counts what the gateway measured, never the cost the CLI's output claims.
        result.cli_cost_usd, result.cost_usd = (
            result.cost_usd,
            price_of(measured.get("models") or {}, cfg.model_prices),
        )
        result.cost_source = "gateway"
    elif isinstance(workspace, AgentWorkspace):
        log_line(cfg.log_dir, f"no gateway measurement for Claude run {run_id}; counting the CLI's figure")
    return result


def remote_url(cfg: WatcherConfig) -> str:
    return f"{cfg.forgejo_url.rstrip('/')}/{cfg.repo}.git"


def issue_text(client: ForgejoClient, number: int) -> tuple[dict, IssueText]:
    issue = client.get_issue(number)
    comments = client.list_comments(number)
    text = IssueText(
        number=number,
        title=issue.get("title") or "",
        body=issue.get("body") or "",
        comments=tuple((int(c["id"]), c.get("body") or "") for c in comments),
    )
    return issue, text


def record(cfg: WatcherConfig, outcome: Outcome, **extra: Any) -> None:
    """Append the run to the ledger: cost, turns and duration of every Claude run, and its result."""
    ledger.append_ledger(
        str(cfg.ledger),
        {
            **extra,
            "issue": outcome.number,
            "stage": outcome.stage,
            "result": outcome.result,
            "reason": outcome.reason,
            "cost_usd": outcome.cost_usd,
            "cost_source": outcome.cost_source,
            "num_turns": outcome.num_turns,
            "duration_ms": outcome.duration_ms,
            "pr": outcome.pr_number,
            "comment_id": outcome.comment_id,
            "stage_ms": outcome.stage_ms,
            "claude_wall_ms": outcome.claude_wall_ms,
            "repo": cfg.repo,
        },
    )


# -- triage ---------------------------------------------------------------------------------------------


def triage(cfg: WatcherConfig, client: ForgejoClient, number: int, check_mode: bool = False) -> Outcome:
    issue, text = issue_text(client, number)
    labels = [label["name"] for label in issue.get("labels") or []]
    if issue.get("pull_request") or issue.get("state") != "open" or not lifecycle.needs_triage(labels):
        return Outcome(
            number, "triage", "skipped", "not an open portal issue without a decision label", labels=labels
        )
    if check_mode:
        return Outcome(number, "triage", "would-triage", changed=True, labels=labels)
    log_path = claude_log_path(cfg.log_dir, "triage", number)
    log_line(cfg.log_dir, f"triage started, log {log_path.name}", number)
    workspace = workspace_for(cfg)
    sync_error = ""
    try:
        gitops.fetch_base(git_for(cfg), cfg.mirror_dir, remote_url(cfg), cfg.base_branch)
        workspace.sync(cfg.base_branch, None)
    except (gitops.GitError, WorkspaceError) as exc:
        sync_error = str(exc)
    run = None
    if sync_error:
        decision_route, reason, breakdown = (
            lifecycle.INTERACTIVE,
            f"the autofix clone could not be synced: {sync_error}",
            "",
        )
    else:
        run = run_claude_in(
            workspace,
            cfg,
            cfg.triage,
            triage_prompt(text),
            log_path,
            allowed_tools=TRIAGE_TOOLS,
            tools=TRIAGE_TOOLS,
        )
        if not run.ok:
            decision_route, reason, breakdown = (
                lifecycle.INTERACTIVE,
                f"Claude's triage run failed: {run.reason}",
                "",
            )
        else:
            decision = parse_triage(run.text, text)
            decision_route, reason, breakdown = decision.route, decision.reason, decision.breakdown
            if not decision.parsed:
                reason = "Claude's triage answer could not be read (" + decision.reason + ")"
    secrets = cfg.secrets()
    reason = redact(reason, secrets)
    if breakdown:
        body = safe_markdown(breakdown, secret_values=secrets)
        if decision_route == lifecycle.INTERACTIVE and reason:
            body += f"\n\nRouted to a human (`interactive`): {safe_line(reason, secrets)}"
    else:
        body = (
            "Automatic triage could not produce a requirements breakdown, so this issue is routed to a human "
            f"(`interactive`).\n\nReason: {safe_line(reason, secrets)}\n\n"
            + (f"Claude's log: `{log_path.name}`. " if run else "")
            + "To triage it again, remove the `interactive` label."
        )
    posted = client.add_comment(number, body)
    labels = client.set_issue_labels(number, [decision_route], [], labels)[0]
    result = "queued" if decision_route == lifecycle.QUEUE else "interactive"
    outcome = Outcome(number, "triage", result, one_line(reason), True, labels, log_path=str(log_path))
    outcome.comment_id = int(posted["id"]) if breakdown else None
    if run:
        outcome.cost_usd, outcome.num_turns, outcome.duration_ms = (
            run.cost_usd,
            run.num_turns,
            run.duration_ms,
        )
        outcome.cost_source = run.cost_source
    record(cfg, outcome)
    log_line(cfg.log_dir, f"triage done: {result} ({outcome.reason or 'ok'})", number)
    return outcome


# -- fix --------------------------------------------------------------------------------------------------


class FixFailure(Exception):
    """A fix that ends in ``claude-failed`` (or, with ``route``, in another label) with this reason."""

    def __init__(self, reason: str, route: str = lifecycle.FAILED, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.route = route
        self.detail = detail


def fix(cfg: WatcherConfig, client: ForgejoClient, number: int, check_mode: bool = False) -> Outcome:
    issue, text = issue_text(client, number)
    labels = [label["name"] for label in issue.get("labels") or []]
    if issue.get("pull_request") or issue.get("state") != "open" or not lifecycle.is_fixable(labels):
        return Outcome(number, "fix", "skipped", "not an open issue queued for the fixer", labels=labels)
    spent = ledger.spend_today(str(cfg.ledger))
    if spent >= cfg.daily_spend_cap_usd:
        reason = f"daily spend cap reached (${spent:.2f} of ${cfg.daily_spend_cap_usd:.2f}); left queued"
        log_line(cfg.log_dir, reason, number)
        return Outcome(number, "fix", "budget", reason, labels=labels)
    if check_mode:
        return Outcome(number, "fix", "would-fix", changed=True, labels=labels)
    started = time.monotonic()
    labels = client.set_issue_labels(
        number, [lifecycle.WORKING], [lifecycle.QUEUE, lifecycle.FAILED], labels
    )[0]
    log_path = claude_log_path(cfg.log_dir, "fix", number)
    log_line(cfg.log_dir, f"fix started, log {log_path.name}", number)
    outcome = Outcome(number, "fix", "failed", changed=True, labels=labels, log_path=str(log_path))
    branch = lifecycle.branch_name(number)
    progress = Progress(
        client, number, "Automatic fix", branch, lambda message: log_line(cfg.log_dir, message, number)
    )
    progress.start(f"started on {socket.gethostname()}; Claude's log `{log_path.name}`")
    try:
        _fix_steps(cfg, client, number, text, log_path, outcome, progress)
    except FixFailure as failure:
        _finish_failed(cfg, client, outcome, failure, log_path, progress)
    except (ForgejoError, gitops.GitError, WorkspaceError, OSError, ValueError) as exc:
        _finish_failed(cfg, client, outcome, FixFailure(f"pipeline error: {exc}"), log_path, progress)
    finally:
        workspace_for(cfg).free_port()
    outcome.stage_ms = int((time.monotonic() - started) * 1000)
    record(cfg, outcome)
    log_line(cfg.log_dir, f"fix done: {outcome.result} ({outcome.reason or 'ok'})", number)
    return outcome


def _fix_steps(
    cfg: WatcherConfig,
    client: ForgejoClient,
    number: int,
    text: IssueText,
    log_path: Path,
    outcome: Outcome,
    progress: Progress,
) -> None:
    git, workspace = git_for(cfg), workspace_for(cfg)
    branch = lifecycle.branch_name(number)
    # The base is the commit the watcher fetched itself; what the workspace reports is never trusted.
    base_commit = gitops.fetch_base(git, cfg.mirror_dir, remote_url(cfg), cfg.base_branch)
    workspace.sync(cfg.base_branch, branch)
    progress.stage(f"clone synced to `{cfg.base_branch}` ({base_commit[:12]})")
    prompt = fix_prompt(
        text,
        branch=branch,
        base=cfg.base_branch,
        dev_port=workspace.dev_port,
        test_command=cfg.test_hint,
        triage_comment=ledger.triage_comment_id(str(cfg.ledger), number),
    )
    run = run_agent_on_branch(
        cfg, workspace, cfg.fix, prompt, log_path, outcome, progress, branch, number, "fix"
    )
    # From here on, what Claude did is judged in the watcher's own mirror, not in the clone. The mirror
    # holds the branch only while it is being judged and once it is pushed: a refused branch is deleted,
    # so no later push can carry it (a branch an earlier attempt pushed to Forgejo stays there).
    gitops.drop_branch(git, cfg.mirror_dir, branch)
    try:
        workspace.export(branch, base_commit)
        _judge_branch(cfg, git, base_commit, branch)
        refuse_secrets(cfg, git, base_commit, branch, number)
        progress.stage("checks passed: builds on the base, nothing protected changed, no secrets")
        verify_log, verify_s = run_verify(cfg, workspace, number, branch, base_commit)
        progress.stage(f"verification passed ({verify_s:.1f} s; log `{verify_log.name}`)")
        gitops.push_from_mirror(git, cfg.mirror_dir, remote_url(cfg), branch)
    except BaseException:
        gitops.drop_branch(git, cfg.mirror_dir, branch)
        raise
    secrets = cfg.secrets()
    # The command that ran: the agent's own (agent.json) in agent mode, the watcher's in same-user mode.
    command = code_span(redact(one_line(" ".join(workspace.verify_command), 200), secrets))
    body = "\n".join(
        [
            f"Fixes #{number}",
            "",
            "## Summary (from Claude)",
            "",
            safe_markdown(run.text, max_chars=8000, secret_values=secrets) or "(no summary)",
            "",
            "## Verification",
            "",
            f"Verification: {command} passed (exit 0, {verify_s:.1f} s); full output in the log "
            f"`{verify_log.name}` on {socket.gethostname()}.",
            "",
            f"Claude: {run.num_turns} turns, ${run.cost_usd:.4f}, {run.duration_ms / 1000:.1f} s.",
        ]
    )
    title = f"Fix #{number}: {one_line(text.title, 120)}"
    # A retried fix edits the PR its first attempt opened, so the body is always this run's.
    pull, _created, _before = client.ensure_pull(
        branch, cfg.base_branch, safe_title(title, secrets, 200), body
    )
    outcome.pr_number, outcome.pr_url = pull["number"], pull.get("html_url")
    progress.stage(f"branch `{branch}` pushed")
    progress.finish(
        f"opened pull request #{pull['number']}: {pull.get('html_url')}", run.cost_usd, run.num_turns
    )
    outcome.labels = client.set_issue_labels(
        number, [lifecycle.PR], [lifecycle.WORKING, lifecycle.FAILED], outcome.labels
    )[0]
    outcome.result, outcome.reason = "pr", ""


def run_agent_on_branch(
    cfg: WatcherConfig,
    workspace: Any,
    budget: Any,
    prompt: str,
    log_path: Path,
    outcome: Outcome,
    progress: Progress,
    branch: str,
    number: int,
    what: str,
) -> Any:
    """Claude with permissions skipped on ``branch`` (a fix or a revision, by ``what``): its time, cost
    and turns go into ``outcome``; anything it left uncommitted is committed on the branch. Raises
    FixFailure when the run failed or Claude left the branch."""
    claude_started = time.monotonic()
    run = run_claude_in(workspace, cfg, budget, prompt, log_path, skip_permissions=True)
    outcome.claude_wall_ms = int((time.monotonic() - claude_started) * 1000)
    outcome.cost_usd, outcome.num_turns, outcome.duration_ms = run.cost_usd, run.num_turns, run.duration_ms
    outcome.cost_source = run.cost_source
    if not run.ok:
        raise FixFailure(f"Claude's {what} run failed: {run.reason}")
    progress.stage(f"Claude finished: {run.num_turns} turns, ${run.cost_usd:.4f}")
    if not workspace.finish(branch, f"Uncommitted changes left by the {what} for #{number}"):
        raise FixFailure(f"Claude left the branch {branch}; nothing was pushed")
    return run


def refuse_secrets(cfg: WatcherConfig, git: gitops.Git, base_commit: str, branch: str, number: int) -> None:
    """Before anything is pushed: the branch's added lines, new file names and commit messages hold no
    known secret value and nothing shaped like a secret (the refusal names kinds and places, never a
    value), and no commit message would close or reopen another issue when merged."""
    secrets = cfg.secrets()
    found = []
    for where, text in gitops.diff_text(git, cfg.mirror_dir, base_commit, branch):
        kinds = find_secrets(text, secrets)
        if kinds:
            found.append(f"{', '.join(kinds)} in {redact(where, secrets)}")
        if where == gitops.COMMIT_MESSAGES:
            others = [ref for ref in closing_references(text) if ref != f"#{number}"]
            if others:
                raise FixFailure(
                    "a commit message would close or reopen other issues when merged ("
                    + ", ".join(redact(ref, secrets) for ref in others[:10])
                    + "), so nothing was pushed"
                )
    if found:
        raise FixFailure(
            "the change contains what looks like a secret ("
            + "; ".join(found[:10])
            + "), so nothing was pushed; a human should look at the branch in the watcher's mirror"
        )


def run_verify(
    cfg: WatcherConfig,
    workspace: LocalWorkspace | AgentWorkspace,
    number: int,
    branch: str,
    base_commit: str,
) -> tuple[Path, float]:
    """Run the verify command on exactly the commit the mirror will push; its output (redacted) goes to
    a log of its own, never to Forgejo. A failure raises FixFailure with the exit status and the log's
    name."""
    started = time.monotonic()
    head_commit = gitops.branch_commit(workspace.git, cfg.mirror_dir, branch)
    verified, output = workspace.verify(branch, head_commit, base_commit)
    took = time.monotonic() - started
    verify_log = claude_log_path(cfg.log_dir, "verify", number)
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    command = one_line(" ".join(workspace.verify_command), 500)
    status = "passed" if verified else "failed"
    verify_log.write_text(
        redact(f"$ {command}\n{status} after {took:.1f} s\n\n{output}\n", cfg.secrets()), encoding="utf-8"
    )
    if not verified:
        first = output.splitlines()[0] if output else ""
        status = first if re.fullmatch(r"exit -?\d+|timed out after \d+s", first) else "see the log"
        raise FixFailure(
            f"the verify command failed ({status}, after {took:.1f} s); its output is in the log "
            f"{verify_log.name}"
        )
    return verify_log, took


def _judge_branch(cfg: WatcherConfig, git: gitops.Git, base_commit: str, branch: str) -> None:
    """Refuse the branch unless it builds on the watcher's base, has commits and changes nothing
    protected (paths, symlinks, submodules, git attributes, package.json scripts...)."""
    if not gitops.builds_on(git, cfg.mirror_dir, base_commit, branch):
        raise FixFailure(
            f"the branch does not build on the current {cfg.base_branch} ({base_commit[:12]}); "
            "nothing was pushed and a human should take this issue",
            route=lifecycle.INTERACTIVE,
        )
    if not gitops.commits_since(git, cfg.mirror_dir, base_commit, branch):
        raise FixFailure("Claude made no commits: nothing to propose")
    refuse_protected(cfg, git, base_commit, branch)


def refuse_protected(cfg: WatcherConfig, git: gitops.Git, since: str, branch: str) -> None:
    """Refuse (to a human) a branch whose commits since ``since`` change anything protected."""
    refused = gitops.judge(git, cfg.mirror_dir, since, branch, cfg.protected_paths)
    if refused:
        # Names are the agent's: one printable line each, HTML and @mentions defused.
        shown = ", ".join(safe_markdown(one_line(item, 80), 160) for item in refused[:8])
        more = f" and {len(refused) - 8} more" if len(refused) > 8 else ""
        raise FixFailure(
            f"the change touches protected paths ({shown}{more}), which the unattended fixer may not "
            "change; a human should take this issue",
            route=lifecycle.INTERACTIVE,
        )


def _finish_failed(
    cfg: WatcherConfig,
    client: ForgejoClient,
    outcome: Outcome,
    failure: FixFailure,
    log_path: Path,
    progress: Progress | None = None,
) -> None:
    """Label and comment a failed fix; the comment says why (redacted, one line), names Claude's log and
    says how to retry. Never a log's tail or the verify output: those stay in the logs on the host."""
    secrets = cfg.secrets()
    reason = one_line(redact(failure.reason, secrets), 1000)
    route = failure.route
    body = (
        f"The automatic fix did not open a pull request.\n\nReason: {safe_line(reason, secrets, 1000)}\n\n"
        f"Claude's log on {socket.gethostname()}: `{log_path.name}`.\n"
    )
    if route == lifecycle.INTERACTIVE:
        body += "\nRouted to a human (`interactive`).\n"
    else:
        body += "\nTo retry, add the `claude-queue` label again.\n"
    outcome.result, outcome.reason = ("interactive" if route == lifecycle.INTERACTIVE else "failed"), reason
    try:
        number = outcome.number
        if progress is None:
            client.add_comment(number, body)
        else:
            status = "routed to a human (`interactive`)" if route == lifecycle.INTERACTIVE else "failed"
            progress.finish(status, outcome.cost_usd, outcome.num_turns, detail=body.strip())
        outcome.labels = client.set_issue_labels(
            number, [route], [lifecycle.WORKING, lifecycle.QUEUE], outcome.labels
        )[0]
    except ForgejoError as exc:
        # Forgejo is failing too: the next run finds the issue in claude-working and recovers it.
        outcome.reason = f"{reason}; and labelling the failure failed: {exc}"
        log_line(cfg.log_dir, f"could not label the failure: {exc}", outcome.number)


def recover_stale(
    cfg: WatcherConfig, client: ForgejoClient, check_mode: bool = False, issues: list[dict] | None = None
) -> list[int]:
    """Issues in claude-working while we hold the lock: their worker died. Move them to claude-failed.
    ``issues``: the open issues the run already listed (this run's one listing); otherwise listed here."""
    if issues is None:
        stale = client.list_issues(labels=[lifecycle.WORKING])
    else:
        stale = lifecycle.pick(issues, "recover")
    numbers = []
    for issue in stale:
        number = issue["number"]
        numbers.append(number)
        if check_mode:
            continue
        client.add_comment(
            number,
            "The previous fix run for this issue stopped without finishing (its worker died or was killed), "
            "so it is marked `claude-failed`. To retry, add the `claude-queue` label again.",
        )
        labels = sorted(lifecycle.label_names(issue.get("labels") or []))
        client.set_issue_labels(number, [lifecycle.FAILED], [lifecycle.WORKING, lifecycle.QUEUE], labels)[0]
        log_line(cfg.log_dir, "stale claude-working recovered to claude-failed", number)
        record(cfg, Outcome(number, "recover", "failed", "stale claude-working"))
    return numbers
