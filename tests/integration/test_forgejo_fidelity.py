"""The Forgejo double does what Forgejo does where it used to differ (FIDELITY.md, M1-M14).

Each test cites the Forgejo source (commit 7958942e3e, the one spec/forgejo/swagger.v1.json was generated
from) that fixes the behaviour. The second half drives the product's own client
(module_utils/slipway/forgejo.py) down the paths real Forgejo makes it take.
"""

from __future__ import annotations

import urllib.parse

import httpx
import pytest
from ansible.module_utils.slipway.forgejo import ForgejoClient, ForgejoConfig, ForgejoError

from sandbox.forgejo_double import ForgejoDouble
from tests.integration.test_forgejo_double_api import authed_url, client, git, push_branch


def make_label(forgejo: ForgejoDouble, name: str) -> int:
    return forgejo.create_label(forgejo.owner, forgejo.repo, name)["id"]


def open_pull(api: httpx.Client, head: str, base: str = "main", title: str = "t", **extra) -> dict:
    response = api.post("/pulls", json={"head": head, "base": base, "title": title, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def forget_deliberate(forgejo: ForgejoDouble, *statuses: int) -> None:
    """Drop requests a test sends against the spec on purpose (the answer is the point), so the automatic
    spec check still covers everything else the test did."""
    forgejo.requests[:] = [r for r in forgejo.requests if r.status not in statuses]


def product_client(forgejo: ForgejoDouble, token: str | None = None) -> ForgejoClient:
    cfg = ForgejoConfig(
        url=forgejo.url, repo=f"{forgejo.owner}/{forgejo.repo}", token=token or forgejo.token, retries=0
    )
    return ForgejoClient(cfg, sleep=lambda _s: None)


# ----------------------------------------------------------------------------------- the double


def test_m1_pull_by_base_head_returns_the_oldest_even_when_closed(forgejo, tmp_path):
    """models/issues/pull.go:695-700: GetPullRequestByBaseHeadInfo has no ORDER BY; the first row, in
    practice the oldest PR, comes back even when it is closed and a newer one is open."""
    push_branch(forgejo, tmp_path, "claude/issue-1", "fix.txt", "1\n")
    api = client(forgejo)
    first = open_pull(api, "claude/issue-1")
    assert api.patch(f"/pulls/{first['number']}", json={"state": "closed"}).status_code == 201
    second = open_pull(api, "claude/issue-1")
    found = api.get("/pulls/main/claude%2Fissue-1").json()
    assert (found["number"], found["state"]) == (first["number"], "closed")
    assert second["state"] == "open"


def test_m2_merge_do_is_required_checked_and_every_style_is_accepted(forgejo, tmp_path):
    """services/forms/repo_form.go:451: `Do` is binding:"Required;In(merge,rebase,rebase-merge,squash,
    fast-forward-only,manually-merged)"; the API's bind middleware answers 422 "[Do]: Required" / "[Do]: In"
    (routers/api/v1/api.go, bind), and rebase / rebase-merge really merge."""
    api = client(forgejo)
    for i, style in enumerate(["rebase", "rebase-merge"]):
        push_branch(forgejo, tmp_path, f"s{i}", f"s{i}.txt", f"{style}\n")
        pr = open_pull(api, f"s{i}")
        missing = api.post(f"/pulls/{pr['number']}/merge", json={})
        assert (missing.status_code, missing.json()["message"]) == (422, "[Do]: Required")
        bogus = api.post(f"/pulls/{pr['number']}/merge", json={"Do": "octopus"})
        assert (bogus.status_code, bogus.json()["message"]) == (422, "[Do]: In")
        assert api.get(f"/pulls/{pr['number']}/merge").status_code == 404  # not merged by the refusals
        assert api.post(f"/pulls/{pr['number']}/merge", json={"Do": style}).status_code == 200
        merged = api.get(f"/pulls/{pr['number']}").json()
        assert (merged["merged"], merged["state"]) == (True, "closed")
    forget_deliberate(forgejo, 422)
    clone = tmp_path / "after"
    git("clone", "-q", authed_url(forgejo), str(clone), cwd=tmp_path)
    assert (clone / "s0.txt").read_text() == "rebase\n"
    assert (clone / "s1.txt").read_text() == "rebase-merge\n"
    parents = git("log", "-1", "--format=%P", cwd=clone).stdout.split()
    assert len(parents) == 2  # rebase-merge ends in a merge commit


def test_m3_conflicting_pull_is_not_mergeable_and_merge_says_try_again_later(forgejo, tmp_path):
    """models/issues/pull.go:849-857: `mergeable` comes from the conflict check;
    services/pull/check.go:99: merging a PR not in a mergeable state is 405 "Please try again later"."""
    push_branch(forgejo, tmp_path, "one", "README.md", "one\n")
    push_branch(forgejo, tmp_path, "two", "README.md", "two\n")
    api = client(forgejo)
    first, second = open_pull(api, "one"), open_pull(api, "two")
    assert api.post(f"/pulls/{first['number']}/merge", json={"Do": "merge"}).status_code == 200
    after = api.get(f"/pulls/{second['number']}").json()
    assert (after["mergeable"], after["state"]) == (False, "open")
    refused = api.post(f"/pulls/{second['number']}/merge", json={"Do": "merge"})
    assert (refused.status_code, refused.json()["message"]) == (405, "Please try again later")


def test_m4_anonymous_reads_of_a_public_repository_are_allowed(forgejo, tmp_path):
    """routers/web/repo/githttp.go:128-130: anonymous clone of a public repository is allowed (and a token
    without a repository scope may clone it); the API's public-repo reads need no token either."""
    forgejo.create_issue(forgejo.owner, forgejo.repo, "public bug")
    anon = httpx.Client(base_url=f"{forgejo.url}/api/v1/repos/{forgejo.owner}/{forgejo.repo}")
    assert anon.get("").status_code == 200
    assert [i["title"] for i in anon.get("/issues").json()] == ["public bug"]
    assert anon.get("/labels").status_code == 200
    denied = anon.post("/issues", json={"title": "x"})
    assert (denied.status_code, denied.json()["message"]) == (401, "token is required")
    assert anon.get("/hooks").status_code == 401  # admin route: reqToken
    assert httpx.get(f"{forgejo.url}/api/v1/user").status_code == 401
    git("clone", "-q", forgejo.git_url(forgejo.owner, forgejo.repo), str(tmp_path / "anon"), cwd=tmp_path)
    assert (tmp_path / "anon" / "README.md").is_file()
    issue_only = forgejo.add_token(forgejo.owner, ["write:issue"])
    git("clone", "-q", authed_url(forgejo, issue_only), str(tmp_path / "scopeless"), cwd=tmp_path)
    # A private repository stays hidden: 404 on the API, a credentials challenge over git.
    forgejo.create_repo(forgejo.owner, "secret", files={"README.md": b"s\n"}, private=True)
    assert httpx.get(f"{forgejo.url}/api/v1/repos/{forgejo.owner}/secret").status_code == 404
    hidden = httpx.get(f"{forgejo.git_url(forgejo.owner, 'secret')}/info/refs?service=git-upload-pack")
    assert hidden.status_code == 401 and hidden.headers["WWW-Authenticate"].startswith("Basic")
    private_clone = authed_url(forgejo, issue_only).replace(f"/{forgejo.repo}.git", "/secret.git")
    refused = git("clone", "-q", private_clone, str(tmp_path / "private"), cwd=tmp_path, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr
    authed = {"Authorization": f"token {forgejo.token}"}
    assert httpx.get(f"{forgejo.url}/api/v1/repos/{forgejo.owner}/secret", headers=authed).json()["private"]


def test_m5_invalid_token_is_401_user_does_not_exist_on_every_path(forgejo):
    """services/auth/oauth2.go:205-208: an unknown token fails authentication for every API path, /version
    included, with 401 "user does not exist [uid: 0, name: ]"."""
    bad = {"Authorization": "token 0123456789abcdef0123456789abcdef01234567"}
    repo = f"/api/v1/repos/{forgejo.owner}/{forgejo.repo}"
    for path in ("/api/v1/version", "/api/v1/user", repo, f"{repo}/issues", f"{repo}/pulls/main/x"):
        response = httpx.get(forgejo.url + path, headers=bad)
        assert response.status_code == 401, path
        assert response.json()["message"] == "user does not exist [uid: 0, name: ]", path
    assert httpx.get(f"{forgejo.url}/api/v1/version").status_code == 200  # no token at all: fine


def test_m6_pull_list_without_state_is_every_state(forgejo, tmp_path):
    """models/issues/pull_list.go:36-39: PullRequests filters on state only when one is given."""
    push_branch(forgejo, tmp_path, "a", "a.txt", "a\n")
    push_branch(forgejo, tmp_path, "b", "b.txt", "b\n")
    api = client(forgejo)
    closed, still_open = open_pull(api, "a"), open_pull(api, "b")
    api.patch(f"/pulls/{closed['number']}", json={"state": "closed"})
    assert {p["number"] for p in api.get("/pulls").json()} == {closed["number"], still_open["number"]}
    assert [p["number"] for p in api.get("/pulls", params={"state": "open"}).json()] == [still_open["number"]]


def test_m7_pull_label_filter_is_repeated_and_any_of_and_comma_is_500(forgejo, tmp_path):
    """routers/api/v1/repo/pull.go (ListPullRequests): labels = base.StringsToInt64s(ctx.FormStrings("labels")),
    matched with IN (any of); "1,2" is not an int64, so the comma form is a 500."""
    bug, ui = make_label(forgejo, "bug"), make_label(forgejo, "ui")
    for name in ("a", "b", "c"):
        push_branch(forgejo, tmp_path, name, f"{name}.txt", "x\n")
    api = client(forgejo)
    only_bug = open_pull(api, "a", labels=[bug])
    only_ui = open_pull(api, "b", labels=[ui])
    open_pull(api, "c")
    any_of = api.get("/pulls", params=[("state", "open"), ("labels", bug), ("labels", ui)]).json()
    assert {p["number"] for p in any_of} == {only_bug["number"], only_ui["number"]}
    one = api.get("/pulls", params={"state": "open", "labels": bug}).json()
    assert [p["number"] for p in one] == [only_bug["number"]]
    comma = api.get("/pulls", params={"state": "open", "labels": f"{bug},{ui}"})
    assert comma.status_code == 500
    forget_deliberate(forgejo, 500)


def test_m8_label_list_without_page_is_complete(forgejo):
    """models/issues/label.go:414-416: GetLabelsByRepoID pages only when a page is given."""
    for i in range(35):
        make_label(forgejo, f"l{i:02d}")
    api = client(forgejo)
    everything = api.get("/labels")
    assert len(everything.json()) == 35 and everything.headers["X-Total-Count"] == "35"
    assert len(api.get("/labels", params={"limit": 10}).json()) == 35  # a limit alone does not page
    assert len(api.get("/labels", params={"page": 2, "limit": 30}).json()) == 5


def test_m9_base_branch_with_slash_percent_encoded_in_the_path_is_found(forgejo, tmp_path):
    """Forgejo routes on the raw path and unescapes each parameter (routers/api/v1/api.go, the
    `/pulls/{base}/*` route with ctx.Params(":base")), so `release%2F1.0` is one segment."""
    work = push_branch(forgejo, tmp_path, "release/1.0", "r.txt", "r\n")
    git("checkout", "-q", "-b", "claude/issue-9", cwd=work)
    (work / "fix.txt").write_text("fix\n")
    git("add", "fix.txt", cwd=work)
    git("commit", "-q", "-m", "fix", cwd=work)
    git("push", "-q", "origin", "claude/issue-9", cwd=work)
    api = client(forgejo)
    pr = open_pull(api, "claude/issue-9", base="release/1.0")
    found = api.get("/pulls/release%2F1.0/claude/issue-9")
    assert found.status_code == 200 and found.json()["number"] == pr["number"]
    assert found.json()["base"]["ref"] == "release/1.0"
    assert api.get("/branches/release%2F1.0").json()["name"] == "release/1.0"
    assert api.get("/pulls/release/1.0/claude/issue-9").status_code == 404  # unencoded: base "release"


def test_m10_pull_with_head_equal_base_or_without_title_is_422(forgejo):
    """routers/api/v1/repo/pull.go (CreatePullRequest): head == base is 422 "Invalid PullRequest: There are no
    changes between the head and the base"; CreatePullRequestOption's title is binding:"Required"."""
    api = client(forgejo)
    same = api.post("/pulls", json={"head": "main", "base": "main", "title": "t"})
    assert same.status_code == 422
    assert same.json()["message"].startswith("Invalid PullRequest: There are no changes")
    untitled = api.post("/pulls", json={"head": "main", "base": "main", "title": ""})
    assert (untitled.status_code, untitled.json()["message"]) == (422, "[Title]: Required")
    assert forgejo.pulls(forgejo.owner, forgejo.repo) == []


def test_m11_labels_inside_issue_json_are_sorted_by_name(forgejo):
    """models/issues/label.go (GetLabelsByIssueID, Asc("label.name")): an issue's labels, in issue and pull
    JSON, come sorted by name."""
    for name in ("zeta", "alpha", "mid"):
        make_label(forgejo, name)
    issue = forgejo.create_issue(forgejo.owner, forgejo.repo, "t", labels=["zeta", "alpha", "mid"])
    api = client(forgejo)
    assert [lb["name"] for lb in api.get(f"/issues/{issue['number']}").json()["labels"]] == [
        "alpha",
        "mid",
        "zeta",
    ]
    listed = api.get("/issues").json()[0]
    assert [lb["name"] for lb in listed["labels"]] == ["alpha", "mid", "zeta"]


def test_m12_requested_reviewers_is_a_list_and_deleted_head_shows_the_pull_ref(forgejo, tmp_path):
    """services/convert/pull.go: RequestedReviewers: []*api.User{} ("[]" rather than null); Head.Ref is
    refs/pull/N/head unless the head branch still exists."""
    push_branch(forgejo, tmp_path, "gone", "g.txt", "g\n")
    api = client(forgejo)
    pr = open_pull(api, "gone")
    assert pr["requested_reviewers"] == [] and pr["requested_reviewers_teams"] == []
    assert pr["head"]["ref"] == "gone"
    merged = api.post(f"/pulls/{pr['number']}/merge", json={"Do": "merge", "delete_branch_after_merge": True})
    assert merged.status_code == 200
    assert api.get(f"/pulls/{pr['number']}").json()["head"]["ref"] == f"refs/pull/{pr['number']}/head"


def test_m13_link_header_keeps_the_callers_query_and_clamps_the_page(forgejo):
    """services/context/api.go (SetLinkHeader -> genAPILinks): the request's own query with only `page` set;
    modules/paginator clamps the page to the last one."""
    for i in range(7):
        forgejo.create_issue(forgejo.owner, forgejo.repo, f"i{i}")
    api = client(forgejo)
    links = api.get("/issues", params={"state": "open", "limit": 3, "page": 1}).headers["Link"]
    assert 'limit=3&page=2&state=open>; rel="next"' in links and "page=3&" in links
    capped = api.get("/issues", params={"limit": 100}).headers.get("Link")
    assert capped is None  # 7 issues on one page of 50: no links, and limit=100 was not rewritten
    beyond = api.get("/issues", params={"limit": 3, "page": 9}).headers["Link"]
    rels = dict(reversed(part.split("; ")) for part in beyond.split(","))
    assert set(rels) == {'rel="first"', 'rel="prev"'}
    prev = urllib.parse.parse_qs(urllib.parse.urlsplit(rels['rel="prev"'].strip("<>")).query)
    assert prev["page"] == ["2"] and prev["limit"] == ["3"]  # clamped to last page 3, so prev is 2
    assert "Link" not in api.get("/issues", params={"state": "closed", "page": 4}).headers  # nothing: 1 page


def test_m14_not_found_message_is_the_string_argument_and_errors_are_separate(forgejo):
    """services/context/api.go (APIContext.NotFound): a string argument replaces the message, errors go to
    `errors` (null when there are none)."""
    api = client(forgejo)
    missing_base = api.post("/pulls", json={"head": "main", "base": "nope", "title": "t"})
    assert missing_base.status_code == 404
    assert (missing_base.json()["message"], missing_base.json()["errors"]) == ("BaseNotExist", None)
    plain = api.get("/issues/999")
    assert plain.json()["message"] == "The target couldn't be found." and plain.json()["errors"] is None
    merge = api.post("/pulls/999/merge", json={"Do": "merge"})
    assert merge.json()["message"] == "GetPullRequestByIndex"
    assert merge.json()["errors"][0].startswith("pull request does not exist")


# ---------------------------------------------------------------------- the product's client paths


def test_product_finds_the_open_pull_when_the_lookup_returns_an_older_closed_one(forgejo, tmp_path):
    """M1 in the product: a retried fix reuses claude/issue-N; the by-branch lookup answers with the closed
    PR of the first attempt, so the client must fall back to the open list and never open a duplicate."""
    push_branch(forgejo, tmp_path, "claude/issue-4", "fix.txt", "1\n")
    fj = product_client(forgejo)
    first, created = fj.create_pull("claude/issue-4", "main", "Fix #4: first", "Fixes #4")
    assert created
    fj.edit_pull(first["number"], state="closed")
    assert fj.open_pull_for("main", "claude/issue-4") is None
    second, created = fj.create_pull("claude/issue-4", "main", "Fix #4: retry", "Fixes #4")
    assert created and second["number"] != first["number"]
    assert fj.pull_by_branches("main", "claude/issue-4")["number"] == first["number"]  # the closed one
    assert fj.open_pull_for("main", "claude/issue-4")["number"] == second["number"]
    again, created = fj.create_pull("claude/issue-4", "main", "Fix #4: retry", "Fixes #4")  # 409 path
    assert (again["number"], created) == (second["number"], False)
    assert [p["state"] for p in forgejo.pulls(forgejo.owner, forgejo.repo)] == ["closed", "open"]


def test_product_lists_pulls_with_explicit_state_and_repeated_labels(forgejo, tmp_path):
    """M6 and M7 in the product: the client always sends `state` and sends label ids as repeated params."""
    bug, ui = make_label(forgejo, "bug"), make_label(forgejo, "ui")
    push_branch(forgejo, tmp_path, "a", "a.txt", "a\n")
    push_branch(forgejo, tmp_path, "b", "b.txt", "b\n")
    api = client(forgejo)
    with_bug, with_ui = open_pull(api, "a", labels=[bug]), open_pull(api, "b", labels=[ui])
    api.patch(f"/pulls/{with_ui['number']}", json={"state": "closed"})
    forgejo.reset_requests()
    fj = product_client(forgejo)
    assert [p["number"] for p in fj.list_pulls()] == [with_bug["number"]]
    assert {p["number"] for p in fj.list_pulls("all", [bug, ui])} == {with_bug["number"], with_ui["number"]}
    listings = [r for r in forgejo.api_requests() if r.path.endswith("/pulls")]
    assert all("state" in r.query for r in listings)
    assert listings[-1].query_multi["labels"] == [str(bug), str(ui)]


def test_product_repo_labels_are_complete(forgejo):
    """M8 in the product: more labels than one page; the client pages with page+limit and gets them all."""
    for i in range(57):
        make_label(forgejo, f"l{i:02d}")
    assert len(product_client(forgejo).repo_labels()) == 57


def test_product_percent_encodes_a_base_branch_with_a_slash(forgejo, tmp_path):
    """M9 in the product: pull_by_branches sends release%2F1.0 and finds the PR without the list fallback."""
    work = push_branch(forgejo, tmp_path, "release/1.0", "r.txt", "r\n")
    git("checkout", "-q", "-b", "claude/issue-5", cwd=work)
    (work / "f.txt").write_text("f\n")
    git("add", "f.txt", cwd=work)
    git("commit", "-q", "-m", "fix", cwd=work)
    git("push", "-q", "origin", "claude/issue-5", cwd=work)
    fj = product_client(forgejo)
    pull, created = fj.create_pull("claude/issue-5", "release/1.0", "Fix #5", "Fixes #5")
    assert created
    forgejo.reset_requests()
    assert fj.open_pull_for("release/1.0", "claude/issue-5")["number"] == pull["number"]
    [lookup] = forgejo.api_requests()
    assert lookup.path.endswith("/pulls/release%2F1.0/claude%2Fissue-5") and lookup.status == 200


def test_product_invalid_token_error_is_one_clear_line_without_the_token(forgejo):
    """M5 in the product: Forgejo's 401 text is "user does not exist [uid: 0, name: ]"; the client's error says
    the token was rejected, on one line, and never contains the token."""
    token = "0123456789abcdef0123456789abcdef01234567"  # noqa: S105 - a token Forgejo does not know
    with pytest.raises(ForgejoError) as caught:
        product_client(forgejo, token).list_issues()
    text = str(caught.value)
    assert "\n" not in text and token not in text
    assert "HTTP 401" in text and "rejected the token" in text and "user does not exist" in text
