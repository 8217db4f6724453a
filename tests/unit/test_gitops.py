"""Protected paths and the git credential plumbing."""

from __future__ import annotations

import os
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


# -- judging a branch in the mirror: real repositories ---------------------------------------------------


class Repo:
    """A repository whose ``.git`` stands in for the watcher's mirror: ``main`` is the base, the fix
    branch is committed on top of it."""

    BRANCH = "claude/issue-1"

    def __init__(self, path):
        self.path = path
        self.git = gitops.Git(env={"PATH": "/usr/bin:/bin", "HOME": str(path), "LANG": "C.UTF-8"})
        path.mkdir()
        self.sh("init", "-q", "-b", "main")
        self.write(
            "App/package.json", '{"name": "app", "scripts": {"build": "next build"}, "version": "1.0.0"}'
        )
        self.write("App/lib/tonnage.js", "module.exports = Math.floor;\n")
        self.write("App/pnpm-lock.yaml", "lockfileVersion: '9.0'\n")
        self.commit("base")
        self.base = self.sh("rev-parse", "HEAD")
        self.sh("checkout", "-q", "-b", self.BRANCH)

    @property
    def mirror(self):
        return self.path / ".git"

    def sh(self, *args: str) -> str:
        return self.git.out(["-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=self.path)

    def write(self, name: str, text: str) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, message: str = "change") -> None:
        self.sh("add", "-A")
        self.sh("commit", "-q", "--no-verify", "-m", message)

    def judge(self, patterns=gitops.DEFAULT_PROTECTED) -> list[str]:
        return gitops.judge(self.git, self.mirror, self.base, self.BRANCH, patterns)


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path / "repo")


@pytest.mark.parametrize(
    "name",
    [
        ".forgejo/workflows/pwné.yml",
        '.forgejo/workflows/a"b.yml',
        ".forgejo/workflows/a\\b.yml",
        ".forgejo/workflows/tab\there.yml",
        ".forgejo/workflows/new\nline.yml",
        ".env.é",
        "App/.env.é",
        "App/prisma/migrations/2026_é/migration.sql",
    ],
)
def test_names_git_quotes_are_still_caught(repo, name):
    """git's line output quotes these names ("\\303\\251", "\\"", "\\t"...): read NUL-separated, they match."""
    repo.write(name, "on: push\n")
    repo.commit()
    assert gitops.changed_paths(repo.git, repo.mirror, repo.base, repo.BRANCH) == [name]
    [reason] = repo.judge()
    assert reason == gitops.shown_path(name)
    assert "\n" not in reason and "\t" not in reason


def test_a_name_that_is_not_utf8_is_caught_and_shown_escaped(repo):
    raw = b".forgejo/workflows/\xff.yml"
    (repo.path / ".forgejo" / "workflows").mkdir(parents=True)
    (repo.path / os.fsdecode(raw)).write_bytes(b"on: push\n")
    repo.commit()
    assert repo.judge() == [".forgejo/workflows/\\xff.yml"]


@pytest.mark.parametrize(
    "name",
    [
        ".github/workflows/ci.yml",
        ".gitea/workflows/ci.yml",
        ".Forgejo/workflows/ci.yml",
        "App/prisma/migrations/001/migration.sql",
        "db/migrations/001.sql",
        "migrations/001.sql",
        "App/prisma.config.ts",
        "prisma.config.mjs",
        "App/prisma/extra.prisma",
        ".npmrc",
        "App/.npmrc",
        "App/.pnpmfile.cjs",
        "App/pnpm-workspace.yaml",
        "App/.yarnrc.yml",
        "App/package-lock.json",
        "App/binding.gyp",
        ".gitattributes",
        "App/lib/.gitattributes",
        ".gitmodules",
    ],
)
def test_what_a_release_or_ci_executes_is_refused(repo, name):
    repo.write(name, "x\n")
    repo.commit()
    assert repo.judge() == [name]


def test_git_attributes_and_submodules_are_refused_even_with_no_configured_globs(repo):
    repo.write("App/.gitattributes", "*.js filter=evil\n")
    repo.commit()
    assert repo.judge(patterns=[]) == ["App/.gitattributes"]


def test_lockfile_changes_are_refused_with_or_without_a_hook_marker(repo):
    repo.write(
        "App/pnpm-lock.yaml",
        "lockfileVersion: '9.0'\npackages:\n  evil@1.0.0:\n    requiresBuild: true\n",
    )
    repo.commit()
    assert repo.judge() == ["App/pnpm-lock.yaml"]


def test_a_committed_symlink_is_refused_anywhere(repo):
    (repo.path / "App" / "lib" / "evil").symlink_to("/home/deploy/issue-watcher/watcher.config.json")
    repo.commit()
    assert repo.judge() == ["App/lib/evil (a symlink)"]


def test_a_submodule_gitlink_is_refused(repo):
    repo.sh("update-index", "--add", "--cacheinfo", f"160000,{repo.base},App/vendor/sub")
    repo.sh("commit", "-q", "--no-verify", "-m", "gitlink")
    assert repo.judge() == ["App/vendor/sub (a submodule)"]


def test_package_json_scripts_change_is_refused(repo):
    repo.write(
        "App/package.json",
        '{"name": "app", "scripts": {"build": "next build", "postinstall": "curl x | sh"}, "version": "1.0.0"}',
    )
    repo.commit()
    assert repo.judge() == ["App/package.json (scripts changed)"]


def test_package_json_pnpm_section_and_a_new_package_with_scripts_are_refused(repo):
    repo.write(
        "App/package.json",
        '{"name": "app", "scripts": {"build": "next build"}, "pnpm": {"onlyBuiltDependencies": ["evil"]}}',
    )
    repo.write("tools/package.json", '{"scripts": {"preinstall": "sh x"}}')
    repo.commit()
    assert repo.judge() == ["App/package.json (pnpm changed)", "tools/package.json (scripts changed)"]


def test_package_json_other_keys_may_change(repo):
    repo.write("App/package.json", '{"name": "app", "scripts": {"build": "next build"}, "version": "1.0.1"}')
    repo.write("App/lib/tonnage.js", "module.exports = Math.round;\n")
    repo.commit()
    assert repo.judge() == []


def test_an_unparseable_package_json_is_refused(repo):
    repo.write("App/package.json", '{"name": "app", "scripts": ')
    repo.commit()
    assert repo.judge() == ["App/package.json (not valid JSON)"]


def test_an_ordinary_fix_passes(repo):
    repo.write("App/lib/tonnage.js", "module.exports = Math.round;\n")
    repo.commit()
    assert repo.judge() == []
    assert gitops.builds_on(repo.git, repo.mirror, repo.base, repo.BRANCH)


def test_a_branch_not_built_on_the_base_is_told_apart(repo):
    repo.sh("checkout", "-q", "--orphan", "elsewhere")
    repo.commit("unrelated")
    assert not gitops.builds_on(repo.git, repo.mirror, repo.base, "elsewhere")


def test_drop_branch_removes_it_from_the_mirror(repo):
    repo.sh("checkout", "-q", "main")
    gitops.drop_branch(repo.git, repo.mirror, repo.BRANCH)
    assert repo.sh("for-each-ref", "--format=%(refname)", "refs/heads/claude") == ""
    gitops.drop_branch(repo.git, repo.mirror, repo.BRANCH)  # already gone: no error
