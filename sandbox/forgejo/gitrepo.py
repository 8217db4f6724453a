"""Bare git repositories for the Forgejo double: create, read refs, merge.

Every git call is an argument list with a timeout and an explicit, minimal
environment, so the host's git configuration never leaks into the double.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT = 60.0
IDENTITY = {"name": "Forgejo Double", "email": "double@forgejo.invalid"}


# Bare repositories already built in this process, keyed by their content (see init_from_files).
_TEMPLATES: dict[tuple, Path] = {}


class GitError(RuntimeError):
    """A git command failed; `stderr` carries git's own words."""

    def __init__(self, args: list[str], returncode: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args)} exited {returncode}: {stderr.strip()}")
        self.stderr = stderr


class MergeConflict(GitError):
    """Merging head into base stopped on conflicts."""


def git_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for git: no system or global config, fixed identity."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": IDENTITY["name"],
        "GIT_AUTHOR_EMAIL": IDENTITY["email"],
        "GIT_COMMITTER_NAME": IDENTITY["name"],
        "GIT_COMMITTER_EMAIL": IDENTITY["email"],
    }
    if extra:
        env.update(extra)
    return env


@dataclass
class CommitInfo:
    sha: str
    message: str
    author_name: str
    author_email: str
    committer_name: str
    committer_email: str
    timestamp: str  # ISO 8601 with offset


@dataclass
class TagInfo:
    name: str
    id: str  # tag object sha (annotated) or commit sha (lightweight)
    commit_sha: str
    message: str
    created: str


class BareRepo:
    """One bare repository on disk."""

    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.home = home

    def run(
        self,
        args: list[str],
        *,
        input_bytes: bytes | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        git_dir: bool = True,
    ) -> str:
        prefix = ["git", f"--git-dir={self.path}"] if git_dir else ["git"]
        proc = subprocess.run(
            prefix + args,
            input=input_bytes,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            env=git_env(self.home, env),
            cwd=cwd or self.home,
            check=False,
        )
        if proc.returncode != 0:
            raise GitError(args, proc.returncode, proc.stderr.decode(errors="replace"))
        return proc.stdout.decode(errors="replace")

    # -- creation -------------------------------------------------------------

    def init(self, default_branch: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        empty_template = self.home / "empty-template"
        empty_template.mkdir(exist_ok=True)
        subprocess.run(
            ["git", "init", "--quiet", "--bare", f"--template={empty_template}",
             f"--initial-branch={default_branch}", str(self.path)],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            env=git_env(self.home),
            check=True,
        )  # fmt: skip
        # Pushes over smart HTTP must be allowed for authenticated users.
        with (self.path / "config").open("a") as config:
            config.write("[http]\n\treceivepack = true\n")

    def init_from_files(self, default_branch: str, files: dict[str, bytes], message: str) -> None:
        """Init + root commit of `files`; copies a per-process template when one exists (fast fixtures)."""
        key = (default_branch, message, tuple(sorted(files.items())))
        template = _TEMPLATES.get(key)
        if template is None or not template.is_dir():
            self.init(default_branch)
            self.commit_files(default_branch, files, message)
            template = Path(tempfile.mkdtemp(prefix="forgejo-double-template-")) / "repo.git"
            shutil.copytree(self.path, template)
            atexit.register(shutil.rmtree, template.parent, True)
            _TEMPLATES[key] = template
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(template, self.path)

    def commit_files(self, branch: str, files: dict[str, bytes], message: str) -> str:
        """Write `files` as a root commit on `branch` without any working tree."""
        entries = []
        for name, content in sorted(files.items()):
            blob = self.run(["hash-object", "-w", "--stdin"], input_bytes=content).strip()
            entries.append(f"100644 blob {blob}\t{name}")
        tree = self.run(["mktree"], input_bytes=("\n".join(entries) + "\n").encode()).strip()
        commit = self.run(["commit-tree", tree, "-m", message]).strip()
        self.run(["update-ref", f"refs/heads/{branch}", commit])
        return commit

    def commit_directory(self, branch: str, source_dir: Path, message: str) -> str:
        """Commit every file under `source_dir` as the first commit of `branch`."""
        with tempfile.TemporaryDirectory(dir=self.home) as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(source_dir)}
            self.run(["add", "-A", "--force", "."], env=env, cwd=source_dir)
            tree = self.run(["write-tree"], env=env).strip()
        commit = self.run(["commit-tree", tree, "-m", message]).strip()
        self.run(["update-ref", f"refs/heads/{branch}", commit])
        return commit

    # -- reading --------------------------------------------------------------

    def refs(self) -> dict[str, str]:
        """All refs -> commit sha (annotated tags peeled)."""
        out = self.run(["for-each-ref", "--format=%(refname) %(objectname) %(*objectname)"])
        refs: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split(" ")
            refs[parts[0]] = parts[2] if len(parts) > 2 and parts[2] else parts[1]
        return refs

    def branch_sha(self, branch: str) -> str | None:
        return self.refs().get(f"refs/heads/{branch}")

    def commit_info(self, rev: str) -> CommitInfo:
        fmt = "%H%x00%an%x00%ae%x00%cn%x00%ce%x00%cI%x00%B"
        out = self.run(["log", "-1", f"--format={fmt}", rev, "--"])
        sha, an, ae, cn, ce, when, message = out.split("\x00", 6)
        return CommitInfo(sha, message.rstrip("\n") + "\n", an, ae, cn, ce, when)

    def tags(self) -> list[TagInfo]:
        fmt = "%(refname:short)%00%(objectname)%00%(objecttype)%00%(*objectname)%00%(creatordate:iso-strict)%00%(contents)%01"
        out = self.run(["for-each-ref", "--sort=-creatordate", f"--format={fmt}", "refs/tags"])
        tags = []
        for record in out.split("\x01"):
            record = record.lstrip("\n")
            if not record:
                continue
            name, obj, objtype, peeled, created, contents = record.split("\x00", 5)
            commit = peeled if objtype == "tag" else obj
            message = contents if objtype == "tag" else self.commit_info(commit).message
            tags.append(TagInfo(name, obj, commit, message, created))
        return tags

    def merge_base(self, a: str, b: str) -> str:
        try:
            return self.run(["merge-base", a, b]).strip()
        except GitError:
            return ""

    def is_ancestor(self, a: str, b: str) -> bool:
        try:
            self.run(["merge-base", "--is-ancestor", a, b])
        except GitError:
            return False
        return True

    def diff_stats(self, base: str, head: str) -> tuple[int, int, int]:
        """(additions, deletions, changed files) between merge base and head."""
        out = self.run(["diff", "--numstat", f"{base}...{head}"])
        adds = dels = files = 0
        for line in out.splitlines():
            a, d, _ = line.split("\t", 2)
            files += 1
            adds += int(a) if a.isdigit() else 0
            dels += int(d) if d.isdigit() else 0
        return adds, dels, files

    def conflicts(self, base_sha: str, head_sha: str) -> bool:
        """Whether merging `head_sha` into `base_sha` stops on conflicts (git merge-tree, no worktree)."""
        proc = subprocess.run(
            ["git", f"--git-dir={self.path}", "merge-tree", "--write-tree", "--no-messages", base_sha, head_sha],
            capture_output=True, timeout=GIT_TIMEOUT, env=git_env(self.home), cwd=self.home, check=False,
        )  # fmt: skip
        if proc.returncode not in (0, 1):
            raise GitError(["merge-tree"], proc.returncode, proc.stderr.decode(errors="replace"))
        return proc.returncode == 1

    # -- writing --------------------------------------------------------------

    def update_ref(self, ref: str, sha: str) -> None:
        self.run(["update-ref", ref, sha])

    def delete_ref(self, ref: str) -> None:
        self.run(["update-ref", "-d", ref])

    def merge(self, base: str, head_sha: str, style: str, message: str) -> str:
        """Merge `head_sha` into branch `base` in a temporary worktree; return the new base sha."""
        base_sha = self.branch_sha(base)
        if base_sha is None:
            raise GitError(["merge"], 1, f"base branch {base} does not exist")
        if style == "fast-forward-only":
            if not self.is_ancestor(base_sha, head_sha):
                raise MergeConflict(["merge", "--ff-only"], 1, "not a fast-forward")
            self.run(["update-ref", f"refs/heads/{base}", head_sha, base_sha])
            return head_sha
        worktree = Path(tempfile.mkdtemp(prefix="merge-", dir=self.home))
        try:
            self.run(["worktree", "add", "--quiet", "--detach", str(worktree), base_sha])
            wt = ["-C", str(worktree)]
            try:
                if style == "squash":
                    self.run([*wt, "merge", "--squash", head_sha], git_dir=False)
                    self.run([*wt, "commit", "--quiet", "--allow-empty", "-m", message], git_dir=False)
                elif style in ("rebase", "rebase-merge"):
                    # Replay head's commits onto base, then fast-forward (rebase) or merge them with a
                    # merge commit (rebase-merge).
                    self.run([*wt, "checkout", "--quiet", "--detach", head_sha], git_dir=False)
                    self.run([*wt, "rebase", "--quiet", base_sha], git_dir=False)
                    if style == "rebase-merge":
                        rebased = self.run([*wt, "rev-parse", "HEAD"], git_dir=False).strip()
                        self.run([*wt, "checkout", "--quiet", "--detach", base_sha], git_dir=False)
                        self.run([*wt, "merge", "--no-ff", "--quiet", "-m", message, rebased], git_dir=False)
                else:
                    self.run([*wt, "merge", "--no-ff", "--quiet", "-m", message, head_sha], git_dir=False)
            except GitError as err:
                raise MergeConflict(["merge"], 1, err.stderr) from err
            new_sha = self.run([*wt, "rev-parse", "HEAD"], git_dir=False).strip()
            self.run(["update-ref", f"refs/heads/{base}", new_sha, base_sha])
            return new_sha
        finally:
            try:
                self.run(["worktree", "remove", "--force", str(worktree)])
            except GitError:
                shutil.rmtree(worktree, ignore_errors=True)
                self.run(["worktree", "prune"])
