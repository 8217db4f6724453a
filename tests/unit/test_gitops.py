"""Protected paths and the git credential plumbing."""

from __future__ import annotations

import subprocess

import pytest
from ansible.module_utils.slipway import gitops


@pytest.mark.parametrize(
    "path",
    [
        "App/prisma/schema.prisma",
        "prisma/schema.prisma",
        "App/prisma/migrations/001/migration.sql",
        ".forgejo/workflows/deploy.yml",
        ".env",
        "App/.env",
        "App/.env.local",
    ],
)
def test_protected_paths_are_caught(path):
    assert gitops.protected_hits([path], gitops.DEFAULT_PROTECTED) == [path]


@pytest.mark.parametrize(
    "path", ["App/lib/tonnage.js", "App/prisma-notes.md", "docs/forgejo.md", "App/env.js"]
)
def test_ordinary_paths_pass(path):
    assert gitops.protected_hits([path], gitops.DEFAULT_PROTECTED) == []


def test_credentials_reach_git_only_through_askpass_and_never_stay(tmp_path):
    """A fetch from a URL that needs a password gets it from the askpass program, the password is in no
    argv, and nothing is written into a git config."""
    git = gitops.Git(env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, secret="s3cret-value")  # noqa: S106 - a test value
    mirror = tmp_path / "mirror.git"
    gitops.ensure_mirror(git, mirror)
    with pytest.raises(gitops.GitError) as error:
        git.run(["fetch", "http://127.0.0.1:9/x.git", "main"], git_dir=mirror, credentials=True)
    assert "s3cret-value" not in str(error.value)
    assert "s3cret-value" not in (mirror / "config").read_text()
    assert not list(tmp_path.glob("slipway-askpass-*"))


def test_hooks_planted_in_a_clone_never_run(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    marker = tmp_path / "hook-ran"
    hook = clone / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    (clone / "f").write_text("x")
    git = gitops.Git(env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert gitops.commit_leftovers(git, clone, "msg") is True
    assert not marker.exists()
