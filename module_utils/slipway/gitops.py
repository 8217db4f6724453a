"""Git for the fixer: sync the autofix clone, inspect what Claude committed, push through a mirror.

The Forgejo credential never lands in a git config, a remote URL or a command line: git gets it from
an askpass program that reads it from its own environment. Pushes and fetches that need it run in a
bare mirror owned by the watcher (``<watcher home>/mirror.git``), never in the clone Claude worked
in, so hooks or config Claude may have planted in the clone never run next to the credential. Every
git command also runs with hooks disabled and without credential helpers or fsmonitor.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "credential.helper=",
    "core.fsmonitor=false",
    "protocol.file.allow=always",
    "safe.directory=*",
)
# Slipway's one git askpass program. Written here to a private temporary file per git call, and
# installed root-owned on pms1 from this same text (roles/slipway_git_askpass, through the
# slipway_program filter) for the autofix clone and release-tag. It holds no secret: the password
# comes from the file SLIPWAY_GIT_PASSWORD_FILE names, else from SLIPWAY_GIT_PASSWORD, both in git's
# environment only (never an argv).
ASKPASS_SCRIPT = """#!/bin/sh
# Slipway's git askpass (module_utils/slipway/gitops.py): hands git the credential, holds none.
case "$1" in
  Username*) printf '%s\\n' "${SLIPWAY_GIT_USERNAME:-slipway}" ;;
  *)
    if [ -n "${SLIPWAY_GIT_PASSWORD_FILE:-}" ]; then
      cat -- "$SLIPWAY_GIT_PASSWORD_FILE"
    else
      printf '%s\\n' "${SLIPWAY_GIT_PASSWORD:-}"
    fi
    ;;
esac
"""
# Globs (``protectedPaths``) a fix may not touch. A glob also matches under any directory and is
# matched case-insensitively. Beyond the schema, migrations and secrets, this is what runs without a
# review: CI workflows Forgejo runs on a push (``.forgejo``, ``.gitea``, ``.github``) and what a
# release's ``pnpm install`` / ``prisma`` execute (npm/pnpm/yarn config, pnpm hooks, lockfiles, node-gyp
# builds, the Prisma config). A lockfile change is refused outright: its install-hook markers are
# written by whoever writes the lockfile (pnpm 9+ lockfiles carry none), so they prove nothing.
DEFAULT_PROTECTED = (
    "**/prisma/schema.prisma",
    "prisma/schema.prisma",
    "*.prisma",
    "**/prisma/migrations/**",
    "prisma/migrations/**",
    "migrations/**",
    "prisma.config.*",
    ".forgejo/**",
    ".gitea/**",
    ".github/**",
    ".env*",
    "**/.env*",
    ".npmrc",
    ".yarnrc*",
    ".yarn/**",
    ".pnpmfile.*",
    "pnpm-workspace.yaml",
    "pnpm-lock.yaml",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "bun.lock",
    "bun.lockb",
    "binding.gyp",
)
# Always refused, whatever ``protectedPaths`` says: git's own attributes (filters, diff drivers) and
# submodules, anywhere.
ALWAYS_PROTECTED = (".gitattributes", ".gitmodules")
# package.json keys whose change runs something at install, build or migrate time (or changes what
# is installed): lifecycle scripts, pnpm's build/override/patch settings, the package manager corepack
# fetches, workspaces, overrides, Prisma's seed and schema location, node-gyp.
PACKAGE_JSON_KEYS = (
    "scripts",
    "pnpm",
    "packageManager",
    "workspaces",
    "overrides",
    "resolutions",
    "dependenciesMeta",
    "prisma",
    "gypfile",
    "config",
)
SYMLINK_MODE = "120000"
GITLINK_MODE = "160000"


class GitError(Exception):
    pass


@dataclass
class Git:
    """Runs git with a fixed, minimal environment and the safe config above."""

    env: Mapping[str, str]
    timeout: float = 300.0
    secret: str = ""

    def run(
        self,
        args: Iterable[str],
        *,
        cwd: Path | None = None,
        git_dir: Path | None = None,
        credentials: bool = False,
        check: bool = True,
        binary: bool = False,
    ) -> subprocess.CompletedProcess:
        argv = ["git"]
        for setting in SAFE_CONFIG:
            argv += ["-c", setting]
        if git_dir is not None:
            argv += ["--git-dir", str(git_dir)]
        argv += list(args)
        env = dict(self.env, GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
        askpass_dir = None
        if credentials:
            askpass_dir = tempfile.mkdtemp(prefix="slipway-askpass-")
            askpass = Path(askpass_dir) / "askpass"
            askpass.write_text(ASKPASS_SCRIPT)
            askpass.chmod(stat.S_IRWXU)
            env.update(GIT_ASKPASS=str(askpass), SLIPWAY_GIT_PASSWORD=self.secret)
        try:
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=not binary,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"git {' '.join(list(args)[:2])} timed out after {self.timeout:.0f}s") from exc
        finally:
            if askpass_dir:
                for child in Path(askpass_dir).iterdir():
                    child.unlink()
                os.rmdir(askpass_dir)
        if check and proc.returncode != 0:
            detail = _text(proc.stderr or proc.stdout).strip().splitlines()
            message = detail[-1] if detail else f"exit {proc.returncode}"
            if self.secret:
                message = message.replace(self.secret, "***")
            raise GitError(f"git {' '.join(list(args)[:2])} failed: {message}")
        return proc

    def out(self, args: Iterable[str], **kwargs) -> str:
        return self.run(args, **kwargs).stdout.strip()


def ensure_mirror(git: Git, mirror: Path) -> None:
    if not (mirror / "HEAD").exists():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        git.run(["init", "--bare", "-q", str(mirror)])


def fetch_base(git: Git, mirror: Path, remote_url: str, base: str) -> str:
    """Fetch the base branch from Forgejo into the mirror; return its commit."""
    ensure_mirror(git, mirror)
    git.run(
        ["fetch", "-q", "--prune", remote_url, f"+refs/heads/{base}:refs/heads/{base}"],
        git_dir=mirror,
        credentials=True,
    )
    return git.out(["rev-parse", f"refs/heads/{base}"], git_dir=mirror)


SYNC_KEEP = (".env", "node_modules")


def reset_clone(
    git: Git, clone: Path, mirror: Path, base: str, branch: str | None, keep: Iterable[str] | None = None
) -> str:
    """Bring the clone to the mirror's base commit on ``branch`` (or detached), keeping ignored files
    such as the app ``.env`` and ``node_modules``; return the base commit. With ``keep``, every other
    untracked or ignored file is removed too (only those patterns survive)."""
    if not (clone / ".git").exists():
        raise GitError(f"{clone} is not a git clone (provision it with site.yml)")
    git.run(["fetch", "-q", str(mirror), f"+refs/heads/{base}:refs/remotes/origin/{base}"], cwd=clone)
    commit = git.out(["rev-parse", f"refs/remotes/origin/{base}"], cwd=clone)
    git.run(["reset", "-q", "--hard"], cwd=clone, check=False)
    if branch:
        git.run(["checkout", "-q", "-f", "-B", branch, commit], cwd=clone)
    else:
        git.run(["checkout", "-q", "-f", "--detach", commit], cwd=clone)
    if keep is None:
        git.run(["clean", "-q", "-fd"], cwd=clone)
    else:
        git.run(["clean", "-q", "-ffdx", *[f"--exclude={pattern}" for pattern in keep]], cwd=clone)
    return commit


def commit_leftovers(git: Git, clone: Path, message: str) -> bool:
    """Commit changes Claude left uncommitted (ignored files stay out); whether there were any."""
    if not git.out(["status", "--porcelain"], cwd=clone):
        return False
    git.run(["add", "-A"], cwd=clone)
    git.run(
        [
            "-c",
            "user.name=Slipway",
            "-c",
            "user.email=slipway@localhost",
            "commit",
            "-q",
            "--no-verify",
            "-m",
            message,
        ],
        cwd=clone,
    )
    return True


def current_branch(git: Git, clone: Path) -> str:
    return git.out(["rev-parse", "--abbrev-ref", "HEAD"], cwd=clone)


def fetch_branch_from(git: Git, mirror: Path, source: str, branch: str) -> str:
    """Copy ``branch`` from a clone path or a bundle file into the mirror; return its commit."""
    ensure_mirror(git, mirror)
    git.run(["fetch", "-q", source, f"+refs/heads/{branch}:refs/heads/{branch}"], git_dir=mirror)
    return git.out(["rev-parse", f"refs/heads/{branch}"], git_dir=mirror)


def branch_commit(git: Git, mirror: Path, branch: str) -> str:
    return git.out(["rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}"], git_dir=mirror)


def commits_since(git: Git, mirror: Path, base_commit: str, branch: str) -> list[str]:
    return git.out(["rev-list", f"{base_commit}..refs/heads/{branch}"], git_dir=mirror).split()


def builds_on(git: Git, mirror: Path, base_commit: str, branch: str) -> bool:
    """Whether the branch contains the base commit (it was started from it, not from elsewhere)."""
    proc = git.run(
        ["merge-base", "--is-ancestor", base_commit, f"refs/heads/{branch}"], git_dir=mirror, check=False
    )
    return proc.returncode == 0


def drop_branch(git: Git, mirror: Path, branch: str) -> None:
    """Delete the branch from the mirror (a refused change must never be pushed by a later run)."""
    git.run(["update-ref", "-d", f"refs/heads/{branch}"], git_dir=mirror, check=False)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def decode_path(raw: bytes) -> str:
    """A path as git stores it: bytes, decoded losslessly (surrogateescape) so patterns see the real name."""
    return raw.decode("utf-8", "surrogateescape")


def shown_path(path: str) -> str:
    """A path fit to show a human: undecodable bytes and control characters (tab, newline...) escaped."""
    raw = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in raw)


@dataclass(frozen=True)
class Change:
    """One entry of ``git diff-tree -r --raw -z``: modes are "000000" where a side has no such path."""

    old_mode: str
    new_mode: str
    status: str
    path: str


def changed_entries(git: Git, mirror: Path, base_commit: str, branch: str) -> list[Change]:
    """Every path that differs between the base commit and the branch's tree, read NUL-separated (git
    quotes unusual names in its line output; nothing here parses that)."""
    out = git.run(
        [
            "diff-tree",
            "-r",
            "-z",
            "--raw",
            "--no-renames",
            "--no-abbrev",
            "--ignore-submodules=none",
            base_commit,
            f"refs/heads/{branch}",
        ],
        git_dir=mirror,
        binary=True,
    ).stdout
    fields = out.split(b"\0")
    changes = []
    i = 0
    while i + 1 < len(fields) and fields[i].startswith(b":"):
        meta = fields[i][1:].decode("ascii").split()
        changes.append(Change(meta[0], meta[1], meta[4][:1], decode_path(fields[i + 1])))
        i += 2
    if any(field for field in fields[i:]):
        raise GitError("git diff-tree gave output that could not be read")
    return changes


def changed_paths(git: Git, mirror: Path, base_commit: str, branch: str) -> list[str]:
    return [change.path for change in changed_entries(git, mirror, base_commit, branch)]


def _matches(path: str, pattern: str) -> bool:
    path, pattern = path.casefold(), pattern.casefold()
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase("/" + path, "*/" + pattern)


def protected_hits(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The paths matching a glob, at any depth, case-insensitively (a conservative reading: some
    filesystems and tools fold case)."""
    patterns = list(patterns)
    return [path for path in paths if any(_matches(path, p) for p in patterns)]


def _package_json(git: Git, mirror: Path, rev: str, path: str) -> dict | None:
    """The object in ``rev:path``; None when there is no such file; ValueError when it is not JSON."""
    proc = git.run(["cat-file", "blob", f"{rev}:{path}"], git_dir=mirror, binary=True, check=False)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def judge(
    git: Git, mirror: Path, base_commit: str, branch: str, patterns: Iterable[str] = DEFAULT_PROTECTED
) -> list[str]:
    """Why the unattended fixer may not propose this branch, one item per path (shown safely), judged
    in the watcher's mirror against the watcher's own base commit; empty when nothing is refused."""
    patterns = [*patterns, *ALWAYS_PROTECTED]
    head = f"refs/heads/{branch}"
    refused = []
    for change in changed_entries(git, mirror, base_commit, branch):
        shown = shown_path(change.path)
        if change.new_mode == SYMLINK_MODE:
            refused.append(f"{shown} (a symlink)")
        elif change.new_mode == GITLINK_MODE or change.old_mode == GITLINK_MODE:
            refused.append(f"{shown} (a submodule)")
        elif protected_hits([change.path], patterns):
            refused.append(shown)
        elif change.path.rsplit("/", 1)[-1].casefold() == "package.json":
            try:
                before = _package_json(git, mirror, base_commit, change.path) or {}
                after = _package_json(git, mirror, head, change.path) or {}
            except ValueError:
                refused.append(f"{shown} (not valid JSON)")
                continue
            keys = [k for k in PACKAGE_JSON_KEYS if before.get(k) != after.get(k)]
            if keys:
                refused.append(f"{shown} ({', '.join(keys)} changed)")
    return refused


def push_from_mirror(git: Git, mirror: Path, remote_url: str, branch: str) -> None:
    """Push the branch from the watcher's mirror, with the credential through askpass."""
    git.run(
        ["push", "-q", "--force", remote_url, f"refs/heads/{branch}:refs/heads/{branch}"],
        git_dir=mirror,
        credentials=True,
    )


def fetch_remote_branch(git: Git, mirror: Path, remote_url: str, branch: str) -> str:
    """Fetch ``branch`` as Forgejo has it now (a human's commits included) into the mirror; its commit."""
    ensure_mirror(git, mirror)
    git.run(
        ["fetch", "-q", remote_url, f"+refs/heads/{branch}:refs/heads/{branch}"],
        git_dir=mirror,
        credentials=True,
    )
    return branch_commit(git, mirror, branch)


def push_fast_forward(git: Git, mirror: Path, remote_url: str, branch: str) -> bool:
    """Push the branch WITHOUT force: Forgejo accepts it only as a fast-forward of what it has, so no
    commit on the remote branch (a human's) is ever overwritten. Whether it was accepted."""
    proc = git.run(
        ["push", "-q", remote_url, f"refs/heads/{branch}:refs/heads/{branch}"],
        git_dir=mirror,
        credentials=True,
        check=False,
    )
    return proc.returncode == 0


def commit_lines(git: Git, mirror: Path, since: str, branch: str) -> list[str]:
    """``<short sha> <subject>`` of each commit in since..branch, oldest first."""
    out = git.out(["log", "--reverse", "--format=%h %s", f"{since}..refs/heads/{branch}"], git_dir=mirror)
    return [line for line in out.splitlines() if line.strip()]


COMMIT_MESSAGES = "the commit messages"


def diff_text(git: Git, mirror: Path, base_commit: str, branch: str) -> list[tuple[str, str]]:
    """What a branch adds, as ``(where, text)`` pairs for the pre-push secret scan: the added lines of
    each file (binary files as text), the new file names, and the commit messages."""
    rev = f"{base_commit}..refs/heads/{branch}"
    out = git.out(
        [
            "-c",
            "core.quotePath=false",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--text",
            "-U0",
            rev,
        ],
        git_dir=mirror,
    )
    added: dict[str, list[str]] = {}
    current, in_hunk = "", False
    for line in out.splitlines():
        if line.startswith("diff --git "):
            current, in_hunk = "", False
        elif not in_hunk and line.startswith("+++ "):
            current = line[4:].removeprefix("b/") if line[4:] != "/dev/null" else ""
            added.setdefault(current, [])
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line.startswith("+"):
            added.setdefault(current, []).append(line[1:])
    pieces = [(path, "\n".join(lines)) for path, lines in added.items() if path]
    pieces.append(("the file names", "\n".join(path for path in added if path)))
    pieces.append((COMMIT_MESSAGES, git.out(["log", "--format=%B", rev], git_dir=mirror)))
    return pieces
