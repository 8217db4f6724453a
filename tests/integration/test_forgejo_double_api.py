"""The Forgejo double over real HTTP (httpx) and real git: every operation and quirk the toolkit relies on."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from sandbox.forgejo_double import ForgejoDouble


def client(forgejo: ForgejoDouble, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"token {token or forgejo.token}"}
    return httpx.Client(
        base_url=f"{forgejo.url}/api/v1/repos/{forgejo.owner}/{forgejo.repo}", headers=headers
    )


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd or Path.cwd()),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=check
    )


def authed_url(forgejo: ForgejoDouble, token: str | None = None) -> str:
    return forgejo.git_url(forgejo.owner, forgejo.repo).replace(
        "http://", f"http://anyone:{token or forgejo.token}@"
    )


def push_branch(forgejo: ForgejoDouble, tmp_path: Path, branch: str, filename: str, content: str) -> Path:
    work = tmp_path / f"work-{branch.replace('/', '-')}"
    git("clone", "-q", authed_url(forgejo), str(work), cwd=tmp_path)
    git("checkout", "-q", "-b", branch, cwd=work)
    (work / filename).write_text(content)
    git("add", filename, cwd=work)
    git("commit", "-q", "-m", f"Change {filename}", cwd=work)
    git("push", "-q", "origin", branch, cwd=work)
    return work


# --------------------------------------------------------------------------- basics


def test_fixture_starts_quickly(tmp_path: Path) -> None:
    started = time.monotonic()
    double = ForgejoDouble(tmp_path / "fj").start()
    double.add_user("shad0w", admin=True)
    double.create_repo("shad0w", "pelagia-portal", files={"README.md": b"x\n"})
    double.add_token("shad0w", ["write:issue"])
    elapsed = time.monotonic() - started
    double.stop()
    assert elapsed < 0.2


def test_version_needs_no_token(forgejo: ForgejoDouble) -> None:
    response = httpx.get(f"{forgejo.url}/api/v1/version")
    assert response.status_code == 200
    assert response.json()["version"]


def test_user_without_token_is_401_with_forgejo_message(forgejo: ForgejoDouble) -> None:
    response = httpx.get(f"{forgejo.url}/api/v1/user")
    assert response.status_code == 401
    assert response.json()["message"] == "token is required"
    assert response.json()["url"].endswith("/api/swagger")


def test_user_with_bad_token_is_401(forgejo: ForgejoDouble) -> None:
    response = httpx.get(f"{forgejo.url}/api/v1/user", headers={"Authorization": "token nope"})
    assert response.status_code == 401


def test_user_needs_read_user_scope(forgejo: ForgejoDouble) -> None:
    response = httpx.get(f"{forgejo.url}/api/v1/user", headers={"Authorization": f"token {forgejo.token}"})
    assert response.status_code == 403
    assert response.json()["message"] == "token does not have at least one of required scope(s): [read:user]"
    token = forgejo.add_token("shad0w", ["read:user"])
    ok = httpx.get(f"{forgejo.url}/api/v1/user", headers={"Authorization": f"token {token}"})
    assert ok.json()["login"] == "shad0w"
    assert ok.json()["is_admin"] is True


def test_basic_auth_with_token_as_password_is_accepted(forgejo: ForgejoDouble) -> None:
    response = httpx.get(f"{forgejo.url}/api/v1/repos/shad0w/pelagia-portal", auth=("whoever", forgejo.token))
    assert response.status_code == 200


def test_repo_reports_default_branch_and_urls(forgejo: ForgejoDouble) -> None:
    repo = client(forgejo).get("").json()
    assert repo["default_branch"] == "main"
    assert repo["clone_url"] == f"{forgejo.url}/shad0w/pelagia-portal.git"
    assert repo["html_url"] == f"{forgejo.url}/shad0w/pelagia-portal"
    assert repo["permissions"]["admin"] is True


def test_unknown_repo_is_404(forgejo: ForgejoDouble) -> None:
    response = httpx.get(
        f"{forgejo.url}/api/v1/repos/shad0w/nope", headers={"Authorization": f"token {forgejo.token}"}
    )
    assert response.status_code == 404
    assert response.json()["message"] == "The target couldn't be found."


# --------------------------------------------------------------------------- scopes


def test_read_scope_cannot_write_issues(forgejo: ForgejoDouble) -> None:
    token = forgejo.add_token("shad0w", ["read:issue"])
    api = client(forgejo, token)
    assert api.get("/issues").status_code == 200
    response = api.post("/issues", json={"title": "x"})
    assert response.status_code == 403
    assert (
        response.json()["message"] == "token does not have at least one of required scope(s): [write:issue]"
    )


def test_issue_scope_does_not_grant_pulls(forgejo: ForgejoDouble) -> None:
    token = forgejo.add_token("shad0w", ["write:issue"])
    response = client(forgejo, token).get("/pulls")
    assert response.status_code == 403
    assert "[read:repository]" in response.json()["message"]


def test_all_scope_grants_everything(forgejo: ForgejoDouble) -> None:
    token = forgejo.add_token("shad0w", ["all"])
    api = client(forgejo, token)
    assert api.post("/issues", json={"title": "x"}).status_code == 201
    assert api.get("/pulls").status_code == 200


def test_hooks_and_runner_token_need_repo_admin(forgejo: ForgejoDouble) -> None:
    forgejo.add_user("visitor")
    token = forgejo.add_token("visitor", ["write:repository"])
    api = client(forgejo, token)
    response = api.get("/actions/runners/registration-token")
    assert response.status_code == 403
    assert "owner or a collaborator with admin" in response.json()["message"]
    hook = {"type": "forgejo", "config": {"url": "http://127.0.0.1:9/hook", "content_type": "json"}}
    assert api.post("/hooks", json=hook).status_code == 403


# --------------------------------------------------------------------------- issues


def test_issues_and_pulls_share_one_index(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    api = client(forgejo)
    first = api.post("/issues", json={"title": "one"}).json()
    push_branch(forgejo, tmp_path, "fix/one", "a.txt", "a\n")
    pull = api.post("/pulls", json={"head": "fix/one", "base": "main", "title": "PR"}).json()
    second = api.post("/issues", json={"title": "two"}).json()
    assert [first["number"], pull["number"], second["number"]] == [1, 2, 3]


def test_issue_list_defaults_to_open_and_includes_pulls_unless_typed(
    forgejo: ForgejoDouble, tmp_path: Path
) -> None:
    api = client(forgejo)
    api.post("/issues", json={"title": "open one"})
    closed = api.post("/issues", json={"title": "closed one"}).json()
    assert api.patch(f"/issues/{closed['number']}", json={"state": "closed"}).status_code == 201
    push_branch(forgejo, tmp_path, "fix/x", "x.txt", "x\n")
    api.post("/pulls", json={"head": "fix/x", "base": "main", "title": "PR"})
    titles = {i["title"]: i for i in api.get("/issues").json()}
    assert set(titles) == {"open one", "PR"}
    assert titles["PR"]["pull_request"] is not None
    assert titles["open one"]["pull_request"] is None
    assert [i["title"] for i in api.get("/issues", params={"type": "issues"}).json()] == ["open one"]
    assert [i["title"] for i in api.get("/issues", params={"type": "pulls"}).json()] == ["PR"]
    assert len(api.get("/issues", params={"state": "all"}).json()) == 3
    assert [i["title"] for i in api.get("/issues", params={"state": "closed"}).json()] == ["closed one"]


def test_label_filter_requires_all_named_labels(forgejo: ForgejoDouble) -> None:
    for name in ("portal", "triaged"):
        forgejo.create_label("shad0w", "pelagia-portal", name)
    forgejo.create_issue("shad0w", "pelagia-portal", "only portal", labels=["portal"])
    forgejo.create_issue("shad0w", "pelagia-portal", "both", labels=["portal", "triaged"])
    found = client(forgejo).get("/issues", params={"labels": "portal,triaged"}).json()
    assert [i["title"] for i in found] == ["both"]


def test_issue_list_pages_cap_limit_at_50_and_link_uses_root_url(tmp_path: Path) -> None:
    double = ForgejoDouble(tmp_path / "fj", root_url="https://git.example.org/").start()
    try:
        double.add_user("shad0w", admin=True)
        double.create_repo("shad0w", "pelagia-portal")
        token = double.add_token("shad0w", ["read:issue"])
        for n in range(60):
            double.create_issue("shad0w", "pelagia-portal", f"issue {n}")
        api = httpx.Client(base_url=f"{double.url}/api/v1/repos/shad0w/pelagia-portal",
                           headers={"Authorization": f"token {token}"})  # fmt: skip
        default = api.get("/issues")
        assert len(default.json()) == 30
        capped = api.get("/issues", params={"limit": 100})
        assert len(capped.json()) == 50
        assert capped.headers["X-Total-Count"] == "60"
        link = capped.headers["Link"]
        assert link.startswith("<https://git.example.org/api/v1/repos/shad0w/pelagia-portal/issues?")
        assert 'rel="next"' in link and "page=2" in link
        second = api.get("/issues", params={"limit": 50, "page": 2})
        assert len(second.json()) == 10
        assert 'rel="prev"' in second.headers["Link"] and 'rel="next"' not in second.headers["Link"]
        numbers = [i["number"] for i in capped.json() + second.json()]
        assert sorted(numbers) == list(range(1, 61))
        assert double.repo_path("shad0w", "pelagia-portal").is_dir()
    finally:
        double.stop()
    from tests.spec_check import check_recorded

    assert check_recorded(double.requests) == []


def test_since_filters_by_update_time(forgejo: ForgejoDouble) -> None:
    forgejo.create_issue("shad0w", "pelagia-portal", "old")
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert client(forgejo).get("/issues", params={"since": future}).json() == []
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    assert len(client(forgejo).get("/issues", params={"since": past}).json()) == 1


def test_issue_patch_changes_title_body_and_state(forgejo: ForgejoDouble) -> None:
    api = client(forgejo)
    issue = api.post("/issues", json={"title": "t", "body": "b"}).json()
    edited = api.patch(f"/issues/{issue['number']}", json={"title": "T2", "body": "B2", "state": "closed"})
    assert edited.status_code == 201
    assert (edited.json()["title"], edited.json()["body"], edited.json()["state"]) == ("T2", "B2", "closed")
    assert edited.json()["closed_at"] is not None
    assert api.get(f"/issues/{issue['number']}").json()["state"] == "closed"


@pytest.mark.forgejo_unchecked  # the request is invalid on purpose
def test_create_issue_without_title_is_422(forgejo: ForgejoDouble) -> None:
    response = client(forgejo).post("/issues", json={"body": "no title"})
    assert response.status_code == 422


def test_missing_issue_is_404(forgejo: ForgejoDouble) -> None:
    assert client(forgejo).get("/issues/99").status_code == 404


# --------------------------------------------------------------------------- labels


def test_adding_labels_by_name_drops_unknown_names_silently(forgejo: ForgejoDouble) -> None:
    forgejo.create_label("shad0w", "pelagia-portal", "portal")
    forgejo.create_issue("shad0w", "pelagia-portal", "t")
    response = client(forgejo).post("/issues/1/labels", json={"labels": ["portal", "does-not-exist"]})
    assert response.status_code == 200
    assert [lb["name"] for lb in response.json()] == ["portal"]
    assert forgejo.issue_label_names("shad0w", "pelagia-portal", 1) == ["portal"]


def test_mixing_label_ids_and_names_is_400(forgejo: ForgejoDouble) -> None:
    label = forgejo.create_label("shad0w", "pelagia-portal", "portal")
    forgejo.create_issue("shad0w", "pelagia-portal", "t")
    response = client(forgejo).post("/issues/1/labels", json={"labels": [label["id"], "portal"]})
    assert response.status_code == 400
    assert response.json()["message"] == "labels should be an array of strings or integers"


def test_replace_and_remove_labels_by_id(forgejo: ForgejoDouble) -> None:
    a = forgejo.create_label("shad0w", "pelagia-portal", "a")
    b = forgejo.create_label("shad0w", "pelagia-portal", "b")
    forgejo.create_issue("shad0w", "pelagia-portal", "t", labels=["a"])
    api = client(forgejo)
    replaced = api.put("/issues/1/labels", json={"labels": [b["id"]]})
    assert [lb["name"] for lb in replaced.json()] == ["b"]
    assert api.delete(f"/issues/1/labels/{b['id']}").status_code == 204
    assert api.get("/issues/1/labels").json() == []
    assert api.delete("/issues/1/labels/9999").status_code == 422
    api.post("/issues/1/labels", json={"labels": [a["id"], b["id"]]})
    assert api.delete("/issues/1/labels").status_code == 204
    assert forgejo.issue_label_names("shad0w", "pelagia-portal", 1) == []


def test_repo_label_crud_and_color_rules(forgejo: ForgejoDouble) -> None:
    api = client(forgejo)
    created = api.post("/labels", json={"name": "slipway/triaged", "color": "#00aabb", "description": "d"})
    assert created.status_code == 201
    assert created.json()["color"] == "00aabb"
    assert api.post("/labels", json={"name": "bad", "color": "blue"}).status_code == 422
    # Forgejo does not reject a duplicate name: a second label with that name is created.
    duplicate = api.post("/labels", json={"name": "slipway/triaged", "color": "#00aabb"})
    assert duplicate.status_code == 201 and duplicate.json()["id"] != created.json()["id"]
    label_id = created.json()["id"]
    assert api.get(f"/labels/{label_id}").json()["name"] == "slipway/triaged"
    patched = api.patch(f"/labels/{label_id}", json={"name": "renamed", "color": "#112233"})
    assert (patched.json()["name"], patched.json()["color"]) == ("renamed", "112233")
    listed = api.get("/labels")
    assert listed.headers["X-Total-Count"] == "2"
    assert api.delete(f"/labels/{label_id}").status_code == 204
    assert api.get(f"/labels/{label_id}").status_code == 404


@pytest.mark.forgejo_unchecked  # the request is invalid on purpose
def test_label_without_color_is_422(forgejo: ForgejoDouble) -> None:
    assert client(forgejo).post("/labels", json={"name": "nocolor"}).status_code == 422


# --------------------------------------------------------------------------- comments


def test_comments_create_list_since_edit_delete(forgejo: ForgejoDouble) -> None:
    forgejo.create_issue("shad0w", "pelagia-portal", "t")
    api = client(forgejo)
    first = api.post("/issues/1/comments", json={"body": "first"})
    assert first.status_code == 201
    api.post("/issues/1/comments", json={"body": "second"})
    listed = api.get("/issues/1/comments").json()
    assert [c["body"] for c in listed] == ["first", "second"]
    future = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    assert api.get("/issues/1/comments", params={"since": future}).json() == []
    comment_id = first.json()["id"]
    assert api.patch(f"/issues/comments/{comment_id}", json={"body": "edited"}).json()["body"] == "edited"
    assert api.delete(f"/issues/comments/{comment_id}").status_code == 204
    assert [c["body"] for c in forgejo.comments("shad0w", "pelagia-portal", 1)] == ["second"]
    assert forgejo.issue("shad0w", "pelagia-portal", 1)["comments"] == 1


# --------------------------------------------------------------------------- pulls and git


def test_pushed_branch_is_visible_and_pull_can_be_created(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    push_branch(forgejo, tmp_path, "slipway/issue-1", "fix.txt", "fixed\n")
    api = client(forgejo)
    branch = api.get("/branches/slipway/issue-1")
    assert branch.status_code == 200
    assert branch.json()["commit"]["message"].startswith("Change fix.txt")
    label = forgejo.create_label("shad0w", "pelagia-portal", "slipway/fix")
    created = api.post("/pulls", json={"head": "slipway/issue-1", "base": "main", "title": "Fix",
                                       "body": "Fixes #1", "labels": [label["id"]]})  # fmt: skip
    assert created.status_code == 201
    pr = created.json()
    assert (pr["head"]["ref"], pr["base"]["ref"], pr["state"], pr["merged"]) == (
        "slipway/issue-1",
        "main",
        "open",
        False,
    )
    assert [lb["name"] for lb in pr["labels"]] == ["slipway/fix"]
    assert pr["additions"] == 1 and pr["changed_files"] == 1
    assert api.get(f"/pulls/{pr['number']}").json()["title"] == "Fix"


def test_second_open_pull_for_same_head_and_base_is_409(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    push_branch(forgejo, tmp_path, "fix/dup", "d.txt", "d\n")
    api = client(forgejo)
    assert api.post("/pulls", json={"head": "fix/dup", "base": "main", "title": "a"}).status_code == 201
    again = api.post("/pulls", json={"head": "fix/dup", "base": "main", "title": "b"})
    assert again.status_code == 409
    assert again.json()["message"].startswith("pull request already exists for these targets")


def test_pull_from_missing_branch_is_404(forgejo: ForgejoDouble) -> None:
    response = client(forgejo).post("/pulls", json={"head": "no-such", "base": "main", "title": "x"})
    assert response.status_code == 404


def test_pull_by_base_and_head_finds_closed_ones(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    push_branch(forgejo, tmp_path, "fix/closed", "c.txt", "c\n")
    api = client(forgejo)
    number = api.post("/pulls", json={"head": "fix/closed", "base": "main", "title": "c"}).json()["number"]
    closed = api.patch(f"/pulls/{number}", json={"state": "closed"})
    assert closed.status_code == 201 and closed.json()["state"] == "closed"
    found = api.get("/pulls/main/fix/closed")
    assert found.status_code == 200
    assert (found.json()["number"], found.json()["state"]) == (number, "closed")
    assert api.get("/pulls", params={"state": "open"}).json() == []
    assert [p["number"] for p in api.get("/pulls", params={"state": "closed"}).json()] == [number]
    # A closed PR no longer blocks a new one for the same branches.
    assert (
        api.post("/pulls", json={"head": "fix/closed", "base": "main", "title": "again"}).status_code == 201
    )
    assert api.get("/pulls/main/missing").status_code == 404


def test_merge_really_merges_and_closes_referenced_issue(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    forgejo.create_issue("shad0w", "pelagia-portal", "bug")
    push_branch(forgejo, tmp_path, "slipway/issue-1", "fix.txt", "fixed\n")
    api = client(forgejo)
    pr = api.post("/pulls", json={"head": "slipway/issue-1", "base": "main", "title": "Fix bug",
                                  "body": "Closes #1"}).json()  # fmt: skip
    merged = api.post(f"/pulls/{pr['number']}/merge", json={"Do": "merge"})
    assert merged.status_code == 200
    after = api.get(f"/pulls/{pr['number']}").json()
    assert (after["merged"], after["state"]) == (True, "closed")
    assert after["merge_commit_sha"]
    assert forgejo.issue("shad0w", "pelagia-portal", 1)["state"] == "closed"
    assert api.get(f"/pulls/{pr['number']}/merge").status_code == 204
    clone = tmp_path / "after-merge"
    git("clone", "-q", authed_url(forgejo), str(clone), cwd=tmp_path)
    assert (clone / "fix.txt").read_text() == "fixed\n"
    parents = git("log", "-1", "--format=%P", cwd=clone).stdout.split()
    assert len(parents) == 2  # a merge commit
    assert api.post(f"/pulls/{pr['number']}/merge", json={"Do": "merge"}).status_code == 405


def test_conflicting_pull_is_not_mergeable_and_merge_is_405(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    push_branch(forgejo, tmp_path, "one", "README.md", "one\n")
    push_branch(forgejo, tmp_path, "two", "README.md", "two\n")
    api = client(forgejo)
    first = api.post("/pulls", json={"head": "one", "base": "main", "title": "1"}).json()
    second = api.post("/pulls", json={"head": "two", "base": "main", "title": "2"}).json()
    assert second["mergeable"] is True
    assert api.post(f"/pulls/{first['number']}/merge", json={"Do": "merge"}).status_code == 200
    assert api.get(f"/pulls/{second['number']}").json()["mergeable"] is False
    refused = api.post(f"/pulls/{second['number']}/merge", json={"Do": "merge"})
    assert (refused.status_code, refused.json()["message"]) == (405, "Please try again later")


def test_tags_pushed_over_git_are_listed(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    work = tmp_path / "tagging"
    git("clone", "-q", authed_url(forgejo), str(work), cwd=tmp_path)
    git("tag", "-a", "v1.0.0", "-m", "Release 1.0.0", cwd=work)
    git("tag", "v1.0.1-light", cwd=work)
    git("push", "-q", "origin", "--tags", cwd=work)
    api = client(forgejo)
    tags = {t["name"]: t for t in api.get("/tags").json()}
    assert set(tags) == {"v1.0.0", "v1.0.1-light"}
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    one = api.get("/tags/v1.0.0").json()
    assert one["commit"]["sha"] == head
    assert one["message"].strip() == "Release 1.0.0"
    assert api.get("/tags/v9").status_code == 404


def test_git_push_without_credentials_gets_basic_challenge(forgejo: ForgejoDouble) -> None:
    url = forgejo.git_url("shad0w", "pelagia-portal")
    response = httpx.get(f"{url}/info/refs?service=git-receive-pack")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    # Reading a public repository needs no credentials (see test_forgejo_fidelity, M4).
    assert httpx.get(f"{url}/info/refs?service=git-upload-pack").status_code == 200


def test_git_push_needs_write_repository(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    reader = forgejo.add_token("shad0w", ["read:repository"])
    work = tmp_path / "ro"
    git("clone", "-q", authed_url(forgejo, reader), str(work), cwd=tmp_path)
    (work / "x.txt").write_text("x\n")
    git("add", "x.txt", cwd=work)
    git("commit", "-q", "-m", "x", cwd=work)
    pushed = git("push", "-q", "origin", "HEAD:refs/heads/ro", cwd=work, check=False)
    assert pushed.returncode != 0
    assert "403" in pushed.stderr
    # A token without a repository scope may clone the public repository, but not push to it.
    issue_only = forgejo.add_token("shad0w", ["write:issue"])
    clone = tmp_path / "issue-only"
    git("clone", "-q", authed_url(forgejo, issue_only), str(clone), cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "y", cwd=clone)
    refused = git("push", "-q", "origin", "HEAD:refs/heads/io", cwd=clone, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr


# --------------------------------------------------------------------------- hooks, runner


def test_runner_registration_token_is_in_body(forgejo: ForgejoDouble) -> None:
    response = client(forgejo).get("/actions/runners/registration-token")
    assert response.status_code == 200
    assert len(response.json()["token"]) >= 20


def test_create_hook_defaults_to_push_events(forgejo: ForgejoDouble) -> None:
    api = client(forgejo)
    hook = {
        "type": "forgejo",
        "config": {"url": "http://127.0.0.1:9/hook", "content_type": "json"},
        "active": True,
    }
    created = api.post("/hooks", json=hook)
    assert created.status_code == 201
    assert created.json()["events"] == ["push"]
    missing_url = {"type": "forgejo", "config": {"content_type": "json"}}
    assert api.post("/hooks", json=missing_url).status_code == 422
    assert api.get("/hooks").headers["X-Total-Count"] == "1"


def test_hook_is_read_edited_and_deleted_by_id_and_never_shows_its_secret(forgejo: ForgejoDouble) -> None:
    api = client(forgejo)
    hook = {
        "type": "forgejo",
        "config": {"url": "http://127.0.0.1:9/hook", "content_type": "json", "secret": "s3cret-hook"},
        "events": ["issues"],
        "active": True,
    }
    created = api.post("/hooks", json=hook).json()
    assert "s3cret-hook" not in str(created)
    edited = api.patch(
        f"/hooks/{created['id']}",
        json={"events": ["issues", "issue_comment"], "config": {"url": "http://127.0.0.1:8/x"}},
    )
    assert edited.status_code == 200
    assert (
        edited.json()["events"] == ["issues", "issue_comment"]
        and edited.json()["config"]["url"] == "http://127.0.0.1:8/x"
    )
    assert edited.json()["config"]["content_type"] == "json" and "s3cret-hook" not in edited.text
    assert api.get(f"/hooks/{created['id']}").json()["events"] == ["issues", "issue_comment"]
    assert api.get("/hooks/999").status_code == 404
    assert api.delete(f"/hooks/{created['id']}").status_code == 204
    assert api.get("/hooks").json() == []


def test_issue_events_are_delivered_signed_to_the_hook(forgejo: ForgejoDouble) -> None:
    import hashlib
    import hmac
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    got: list[tuple[dict, bytes]] = []

    class Catch(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Catch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = client(forgejo)
        url = f"http://127.0.0.1:{server.server_address[1]}/forgejo"
        hook = {"type": "forgejo", "active": True, "events": ["issues", "issue_label", "issue_comment"],
                "config": {"url": url, "content_type": "json", "secret": "hook-secret"}}  # fmt: skip
        assert api.post("/hooks", json=hook).status_code == 201
        label = api.post("/labels", json={"name": "portal", "color": "#ededed"}).json()
        number = api.post("/issues", json={"title": "Report"}).json()["number"]
        api.post(f"/issues/{number}/labels", json={"labels": [label["id"]]})
        api.post(f"/issues/{number}/comments", json={"body": "hi"})
        deadline = time.monotonic() + 5
        while len(got) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(h["x-forgejo-event"], h["x-forgejo-event-type"]) for h, _ in got] == [
            ("issues", "issues"), ("issues", "issue_label"), ("issue_comment", "issue_comment"),
        ]  # fmt: skip
        for headers, body in got:
            assert (
                headers["x-forgejo-signature"] == hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
            )
            assert json.loads(body)["repository"]["full_name"] == f"{forgejo.owner}/{forgejo.repo}"
        assert len({h["x-forgejo-delivery"] for h, _ in got}) == 3
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- faults, log


def test_injected_status_hits_only_matching_requests_then_expires(forgejo: ForgejoDouble) -> None:
    forgejo.inject_fault(status=503, count=2, method="GET", path_regex=r"/issues$")
    api = client(forgejo)
    assert api.get("/labels").status_code == 200
    assert [api.get("/issues").status_code for _ in range(3)] == [503, 503, 200]
    assert "message" in forgejo.requests[1].response_json


def test_injected_fault_forever_until_cleared(forgejo: ForgejoDouble) -> None:
    forgejo.inject_fault(status=500, count=None)
    api = client(forgejo)
    assert [api.get("/issues").status_code for _ in range(3)] == [500, 500, 500]
    forgejo.clear_faults()
    assert api.get("/issues").status_code == 200


def test_injected_delay_slows_the_answer(forgejo: ForgejoDouble) -> None:
    forgejo.inject_fault(delay=0.3)
    started = time.monotonic()
    assert client(forgejo).get("/issues").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_dropped_connection_gives_no_response(forgejo: ForgejoDouble) -> None:
    forgejo.inject_fault(drop=True)
    with pytest.raises(httpx.TransportError):
        client(forgejo).get("/issues")
    assert forgejo.requests[-1].status is None
    assert client(forgejo).get("/issues").status_code == 200


def test_request_log_records_method_query_body_and_response(forgejo: ForgejoDouble) -> None:
    api = client(forgejo)
    api.post("/issues", json={"title": "logged"})
    api.get("/issues", params={"state": "all", "limit": 5})
    post, listing = forgejo.requests[-2:]
    assert (post.method, post.path, post.request_json, post.status) == (
        "POST", "/api/v1/repos/shad0w/pelagia-portal/issues", {"title": "logged"}, 201,
    )  # fmt: skip
    assert post.response_json["title"] == "logged"
    assert listing.query == {"state": "all", "limit": "5"}
    assert listing.response_headers["X-Total-Count"] == "1"
    forgejo.reset_requests()
    assert forgejo.requests == []


def test_all_operations_traffic_matches_spec(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    """A run through every operation; the checker finds zero problems (also checked by the fixture)."""
    from tests.spec_check import check_recorded

    api = client(forgejo)
    api.get("")
    api.post("/labels", json={"name": "portal", "color": "#ff0000"})
    api.post("/issues", json={"title": "bug", "body": "b", "labels": [1]})
    api.get("/issues", params={"labels": "portal", "state": "all", "type": "issues", "page": 1, "limit": 10})
    api.get("/issues/1")
    api.patch("/issues/1", json={"body": "more"})
    api.post("/issues/1/labels", json={"labels": ["portal"]})
    api.put("/issues/1/labels", json={"labels": [1]})
    api.get("/issues/1/labels")
    api.delete("/issues/1/labels/1")
    api.post("/issues/1/comments", json={"body": "c"})
    api.get("/issues/1/comments")
    push_branch(forgejo, tmp_path, "fix/all", "all.txt", "all\n")
    api.post("/pulls", json={"head": "fix/all", "base": "main", "title": "t", "body": "Fixes #1"})
    api.get("/pulls", params={"state": "all"})
    api.get("/pulls/2")
    api.get("/pulls/main/fix/all")
    api.post("/pulls/2/merge", json={"Do": "merge"})
    api.get("/branches/main")
    api.get("/tags")
    api.get("/actions/runners/registration-token")
    api.post(
        "/hooks", json={"type": "forgejo", "config": {"url": "http://127.0.0.1:9/", "content_type": "json"}}
    )
    api.get("/issues/404")
    api_requests = forgejo.api_requests()
    assert len(api_requests) == 22
    assert check_recorded(api_requests) == []


# --------------------------------------------------------------------------- reviews and permissions


def test_permission_names_the_access_mode_and_only_admins_ask_about_others(forgejo: ForgejoDouble) -> None:
    forgejo.set_collaborator(forgejo.owner, forgejo.repo, "writer", "write")
    forgejo.add_user("visitor")
    api = client(forgejo)
    answers = {name: api.get(f"/collaborators/{name}/permission").json() for name in ("writer", "visitor")}
    assert answers["writer"]["permission"] == answers["writer"]["role_name"] == "write"
    assert answers["visitor"]["permission"] == "read"  # a public repository: anyone signed in reads it
    assert api.get(f"/collaborators/{forgejo.owner}/permission").json()["permission"] == "owner"
    assert api.get("/collaborators/nobody-here/permission").status_code == 404
    visitor = client(forgejo, forgejo.add_token("visitor", ["read:repository"]))
    refused = visitor.get("/collaborators/writer/permission")
    assert refused.status_code == 403 and "Only admins can query all permissions" in refused.json()["message"]
    assert visitor.get("/collaborators/visitor/permission").json()["permission"] == "read"


def test_reviews_and_their_comments_are_listed_per_pull(forgejo: ForgejoDouble, tmp_path: Path) -> None:
    push_branch(forgejo, tmp_path, "claude/issue-9", "fix.txt", "fixed\n")
    api = client(forgejo)
    pr = api.post("/pulls", json={"head": "claude/issue-9", "base": "main", "title": "Fix"}).json()["number"]
    forgejo.add_review(forgejo.owner, forgejo.repo, pr, "alice", "APPROVED", "lgtm")
    forgejo.add_review(forgejo.owner, forgejo.repo, pr, "bob", "REQUEST_CHANGES", "no", [("fix.txt", "why?")])
    reviews = api.get(f"/pulls/{pr}/reviews").json()
    assert [(r["user"]["login"], r["state"], r["comments_count"]) for r in reviews] == [
        ("alice", "APPROVED", 0),
        ("bob", "REQUEST_CHANGES", 1),
    ]
    [comment] = api.get(f"/pulls/{pr}/reviews/{reviews[1]['id']}/comments").json()
    assert (comment["path"], comment["body"], comment["pull_request_review_id"]) == (
        "fix.txt",
        "why?",
        reviews[1]["id"],
    )
    assert api.get(f"/pulls/{pr}/reviews/999/comments").status_code == 404
