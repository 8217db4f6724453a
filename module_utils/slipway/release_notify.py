"""Closing the loop after a release: tell the issues a release fixed that it went live (or was rolled
back), and keep a local record of which release each fixed issue went out in.

Which issues: the commits of ``<previous tag>..<tag>`` in the release's fetched repository; the merged
pull requests whose merge commit is one of them; the issues their title or body closes (``Fixes``,
``Closes``, ``Resolves`` and their forms, ``#N`` or ``owner/repo#N`` of this repository), and the
issues those commits' own messages close (Forgejo closes those on push to the default branch).

The module runs with pms1's system Python, which has no httpx: the project's one Forgejo client
(forgejo.py) then sends its requests with urllib. The token is read by the watcher's one configuration
reader (config.py).
The token is read from the watcher's configuration file by this code on the host, so it never travels
through Ansible variables, task arguments, a command line or a log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ansible.module_utils.slipway.config import ConfigError, load_config
from ansible.module_utils.slipway.forgejo import ForgejoClient, ForgejoConfig, ForgejoError

DEPLOYED = "deployed"
ROLLED_BACK = "rolled_back"
OUTCOMES = (DEPLOYED, ROLLED_BACK)
TAG_IN_NAME = re.compile(r"\A(v[0-9]+\.[0-9]+\.[0-9]+)(?:-|\Z)")
TAG = re.compile(r"\Av[0-9]+\.[0-9]+\.[0-9]+\Z")
# Forgejo's closing keywords (modules/references: close, closes, closed, fix, fixes, fixed, resolve,
# resolves, resolved), an optional colon, then a reference to an issue of this or a named repository.
CLOSING = re.compile(
    r"(?i)(?<![\w/-])(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?):?[ \t]+([\w.-]+/[\w.-]+)?#([0-9]+)\b"
)
MARKER = "<!-- slipway:{kind} {tag} -->"
MARKER_RE = re.compile(r"<!-- slipway:(deployed|rolled-back) (v[0-9]+\.[0-9]+\.[0-9]+) -->")
PAGE_LIMIT = 50
MAX_PAGES = 40
RECORD_RELEASES_KEPT = 50


# -- what a release fixes ----------------------------------------------------------------------------


def closed_refs(text: str, repo: str) -> list[int]:
    """Issue numbers ``text`` closes with a closing keyword: ``#N`` or ``<repo>#N`` (this repository,
    case-insensitively), in order of first mention."""
    found: list[int] = []
    for other, number in CLOSING.findall(text or ""):
        if other and other.lower() != repo.lower():
            continue
        if int(number) not in found and int(number) > 0:
            found.append(int(number))
    return found


def tag_of_release(name: str) -> str:
    """The tag a release directory ``<tag>-<stamp>`` was built from ("" when it has none)."""
    match = TAG_IN_NAME.match(name or "")
    return match.group(1) if match else ""


def previous_tag(tag: str, live: str, releases_log: str | None) -> str:
    """The tag to compare with: the release live before this run; for a rerun of the live tag, the
    last other tag that went live according to releases.log, by a release or by a rollback (a line
    ``time, rollback, -, <release dir>, ok, ...`` puts that directory's tag live again); "" when there
    is none."""
    live_tag = tag_of_release(live)
    if live_tag and live_tag != tag:
        return live_tag
    if releases_log:
        try:
            lines = Path(releases_log).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        for line in reversed(lines):
            fields = line.split("\t")
            if len(fields) < 5 or fields[4] != "ok":
                continue
            if fields[1] == "release" and TAG.match(fields[2]):
                went_live = fields[2]
            elif fields[1] == "rollback":
                went_live = tag_of_release(fields[3])
            else:
                continue
            if went_live and went_live != tag:
                return went_live
    return ""


def _git(git_dir: str, *args: str) -> str:
    done = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C.UTF-8"},
    )
    if done.returncode != 0:
        raise ValueError(f"git {' '.join(args[:2])} failed: {done.stderr.strip()[:300]}")
    return done.stdout


def commit_range(git_dir: str, previous: str, tag: str) -> tuple[set[str], list[str]]:
    """(the commits in ``previous..tag``, their messages) from the fetched repository."""
    spec = [f"refs/tags/{tag}^{{commit}}", f"^refs/tags/{previous}^{{commit}}"]
    shas = set(_git(git_dir, "rev-list", *spec).split())
    messages = [m for m in _git(git_dir, "log", "--format=%B%x00", *spec).split("\x00") if m.strip()]
    return shas, messages


def fixed_issues(pulls: list[dict], shas: set[str], messages: list[str], repo: str) -> dict[int, list[int]]:
    """issue number -> the merged pull requests in the range that close it (empty list: closed by a
    commit message of the range)."""
    issues: dict[int, list[int]] = {}
    for pull in pulls:
        if not pull.get("merged") or pull.get("merge_commit_sha") not in shas:
            continue
        text = f"{pull.get('title') or ''}\n{pull.get('body') or ''}"
        for number in closed_refs(text, repo):
            issues.setdefault(number, [])
            if pull["number"] not in issues[number]:
                issues[number].append(int(pull["number"]))
    for message in messages:
        for number in closed_refs(message, repo):
            issues.setdefault(number, [])
    return issues


# -- the words -----------------------------------------------------------------------------------------


def marker(outcome: str, tag: str) -> str:
    return MARKER.format(kind="deployed" if outcome == DEPLOYED else "rolled-back", tag=tag)


def comment_text(outcome: str, tag: str, at: str, pulls: list[int], live_tag: str) -> str:
    via = (" (" + ", ".join(f"PR #{n}" for n in pulls) + ")") if pulls else ""
    if outcome == DEPLOYED:
        text = f"Deployed in {tag} at {at}{via}."
    else:
        back = f"; {live_tag} is live again" if live_tag else ""
        text = (
            f"Release {tag} was rolled back at {at}: its health check failed{back}. The fix{via} is not in "
            f"production, so this issue stays open until a release with it goes live."
        )
    return f"{text}\n\n{marker(outcome, tag)}"


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- Forgejo (standard library) ------------------------------------------------------------------------


def client(config_path: str, timeout: float) -> ForgejoClient:
    """The project's one Forgejo client, from watcher.config.json read by the watcher's one reader; one
    retry and a short timeout, since a release waits for this (and only warns when it fails).
    FileNotFoundError when there is no configuration, ValueError when it is bad."""
    path = Path(config_path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return ForgejoClient(
        ForgejoConfig(
            url=cfg.forgejo_url,
            repo=cfg.repo,
            token=cfg.token,
            connect_timeout=min(timeout, cfg.forgejo_connect_timeout),
            read_timeout=timeout,
            retries=1,
        )
    )


def merged_pulls(api: ForgejoClient) -> list[dict]:
    return [pull for pull in api.list_pulls("closed") if pull.get("merged")]


# -- one notification run ------------------------------------------------------------------------------


@dataclass
class Result:
    previous: str = ""
    issues: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changed: bool = False
    notified: bool = False  # Forgejo was told (or had already been) about every issue


def notify(
    api: ForgejoClient,
    outcome: str,
    tag: str,
    previous: str,
    live_tag: str,
    git_dir: str,
    check_mode: bool = False,
    at: str | None = None,
) -> Result:
    """Find the issues ``previous..tag`` fixes and comment once on each (marker), closing them when
    deployed, reopening the ones the merge closed when rolled back."""
    result = Result(previous=previous)
    at = at or now_text()
    shas, messages = commit_range(git_dir, previous, tag)
    if not shas:
        result.notified = True
        return result
    issues = fixed_issues(merged_pulls(api), shas, messages, api.cfg.repo)
    failures = 0
    for number in sorted(issues):
        row = {"number": number, "pulls": issues[number], "commented": False, "state": None, "title": ""}
        result.issues.append(row)
        try:
            issue = api.get_issue(number)
            if issue.get("pull_request"):
                row["skipped"] = "a pull request"
                continue
            row["title"], row["state"] = issue.get("title", ""), issue.get("state")
            # The marker is what makes a rerun post nothing. Any author's comment counts: the watcher's
            # token has no read:user scope to learn its own login, and a forged marker only spares a
            # comment (the issue's state is still set).
            markers = {m for c in api.list_comments(number) for m in MARKER_RE.findall(c.get("body") or "")}
            kind = "deployed" if outcome == DEPLOYED else "rolled-back"
            if (kind, tag) not in markers:
                row["commented"] = True
                if not check_mode:
                    api.add_comment(number, comment_text(outcome, tag, at, issues[number], live_tag))
            want = "closed" if outcome == DEPLOYED else "open"
            # Rolled back: reopen what merging the fix closed, unless an earlier release already
            # brought a fix for it to production.
            deployed_before = any(k == "deployed" and t != tag for k, t in markers)
            if issue.get("state") != want and not (outcome == ROLLED_BACK and deployed_before):
                row["state"] = want
                row["state_changed"] = True
                if not check_mode:
                    api.edit_issue(number, state=want)
            result.changed = result.changed or row["commented"] or bool(row.get("state_changed"))
        except ForgejoError as exc:
            failures += 1
            row["error"] = str(exc)
            result.warnings.append(f"issue #{number}: {exc}")
            if exc.status is None:  # nothing reached Forgejo
                result.warnings.append("Forgejo stopped answering: the other issues were not told either")
                break
    result.notified = failures == 0
    return result


# -- the local record ----------------------------------------------------------------------------------


def read_record(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data.setdefault("issues", {})
    data.setdefault("releases", [])
    return data


def update_record(path: str, outcome: str, tag: str, at_iso: str, result: Result, error: str = "") -> dict:
    """Add this run to ``deployed.json`` (written atomically, 0640): the release, and per issue the
    latest release it went out in (or was rolled back from)."""
    data = read_record(path)
    result_word = "deployed" if outcome == DEPLOYED else "rolled back"
    for row in result.issues:
        if row.get("skipped"):
            continue
        entry = data["issues"].get(str(row["number"]), {})
        history = entry.get("history", [])
        history.append({"tag": tag, "result": result_word, "at": at_iso})
        data["issues"][str(row["number"])] = {
            "tag": tag,
            "result": result_word,
            "at": at_iso,
            "pulls": row["pulls"],
            "title": row.get("title", ""),
            "commented": bool(row["commented"] or not row.get("error")),
            "history": history[-10:],
        }
    data["releases"].append(
        {
            "tag": tag,
            "previous": result.previous,
            "result": result_word,
            "at": at_iso,
            "issues": [row["number"] for row in result.issues if not row.get("skipped")],
            "notified": result.notified and not error,
            "error": error or "; ".join(result.warnings)[:500],
        }
    )
    data["releases"] = data["releases"][-RECORD_RELEASES_KEPT:]
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".deployed-", dir=str(target.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return data
