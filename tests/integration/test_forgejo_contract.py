"""Contract test: an independent published Forgejo client (pyforgejo, generated from Forgejo's own OpenAPI
description) drives the double through every Forgejo operation Slipway uses.

For each call the answer must parse into pyforgejo's model, and the model, dumped back to JSON, must equal
what the double sent: a field pyforgejo does not know, a value it reads differently (type, date, enum) or
a missing field fails the test. The operations are the ones module_utils/slipway/forgejo.py,
library/*, roles/slipway_forgejo_runner (registration token, tag protections) and the tests' and demo's
own set-up (merge, branches, hooks, version) send.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest

from sandbox.forgejo_double import ForgejoDouble
from tests.integration.test_forgejo_double_api import push_branch

pyforgejo = pytest.importorskip("pyforgejo", reason="pyforgejo (requirements-dev.txt) is not installed")

OPERATIONS = {
    # operation id in the spec -> how the product reaches it
    "repoGet": "ForgejoClient.get_repo; slipway_prereqs",
    "repoGetRunnerRegistrationToken": "ForgejoClient.registration_token; slipway_forgejo_runner",
    "issueListIssues": "ForgejoClient.list_issues (forgejo_issue_info, watcher)",
    "issueGetIssue": "ForgejoClient.get_issue",
    "issueEditIssue": "ForgejoClient.edit_issue (forgejo_issue state)",
    "issueGetComments": "ForgejoClient.list_comments",
    "issueCreateComment": "ForgejoClient.add_comment",
    "issueEditComment": "ForgejoClient.edit_comment (the fix's progress comment)",
    "repoListPullReviews": "ForgejoClient.list_reviews (claude_revise)",
    "repoGetPullReviewComments": "ForgejoClient.review_comments (claude_revise)",
    "repoGetRepoPermissions": "ForgejoClient.permission_of (claude_revise)",
    "issueListLabels": "ForgejoClient.repo_labels / label_ids (forgejo_label)",
    "issueCreateLabel": "ForgejoClient.create_label (forgejo_label)",
    "issueEditLabel": "ForgejoClient.edit_label (forgejo_label)",
    "issueAddLabel": "ForgejoClient.add_issue_labels",
    "issueReplaceLabels": "ForgejoClient.replace_issue_labels",
    "issueRemoveLabel": "ForgejoClient.remove_issue_label",
    "repoGetPullRequestByBaseHead": "ForgejoClient.pull_by_branches",
    "repoListPullRequests": "ForgejoClient.list_pulls / open_pull_for",
    "repoCreatePullRequest": "ForgejoClient.create_pull (forgejo_pull_request, claude_fix)",
    "repoEditPullRequest": "ForgejoClient.edit_pull",
    "repoGetPullRequest": "tests, demo",
    "repoMergePullRequest": "demo (a human's merge), tests",
    "repoPullRequestIsMerged": "tests",
    "repoGetBranch": "tests",
    "repoListTagProtection": "release-tag (require_protected_tag)",
    "repoCreateTagProtection": "site set-up in tests",
    "repoCreateHook": "tests",
    "repoListHooks": "tests",
    "getVersion": "tests, agent isolation probe",
}


def normalise(value: Any) -> Any:
    """pyforgejo's parsed value back in the JSON form Forgejo sends."""
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def dumped(parsed: Any) -> Any:
    if isinstance(parsed, list):
        return [dumped(item) for item in parsed]
    if hasattr(parsed, "model_dump"):
        return normalise(parsed.model_dump(by_alias=True, exclude_unset=True))
    return normalise(parsed)


def unknown_fields(parsed: Any, where: str = "") -> list[str]:
    """Fields pyforgejo's models keep only as extras, i.e. fields its Forgejo description does not have."""
    if isinstance(parsed, list):
        return [p for i, item in enumerate(parsed) for p in unknown_fields(item, f"{where}[{i}]")]
    if not hasattr(parsed, "model_dump"):
        return []
    problems = [f"{where}/{key}: not in pyforgejo's model" for key in (parsed.model_extra or {})]
    for name in type(parsed).model_fields:
        problems += unknown_fields(getattr(parsed, name), f"{where}/{name}")
    return problems


def raw_dates(value: Any) -> Any:
    """The double's dates (and Forgejo's) are RFC 3339; compare them in UTC like `normalise` does."""
    if isinstance(value, dict):
        return {key: raw_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [raw_dates(item) for item in value]
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value[10] == "T":
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if parsed.tzinfo is not None:
            return parsed.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def differences(parsed: Any, raw: Any, where: str = "") -> list[str]:
    if isinstance(raw, dict) and isinstance(parsed, dict):
        problems = [f"{where}/{key}: not in pyforgejo's model" for key in raw if key not in parsed]
        problems += [f"{where}/{key}: not sent by the double" for key in parsed if key not in raw]
        for key in raw.keys() & parsed.keys():
            problems += differences(parsed[key], raw[key], f"{where}/{key}")
        return problems
    if isinstance(raw, list) and isinstance(parsed, list) and len(raw) == len(parsed):
        return [
            p
            for i, (a, b) in enumerate(zip(parsed, raw, strict=True))
            for p in differences(a, b, f"{where}[{i}]")
        ]
    return [] if parsed == raw else [f"{where or '(root)'}: double sent {raw!r}, pyforgejo read {parsed!r}"]


class Contract:
    """Calls pyforgejo, then checks its parsed answer against the double's raw answer."""

    def __init__(self, forgejo: ForgejoDouble, token: str) -> None:
        self.forgejo = forgejo
        self.api = pyforgejo.PyforgejoApi(base_url=f"{forgejo.url}/api/v1", api_key=token)
        self.owner, self.repo = forgejo.owner, forgejo.repo
        self.seen: set[str] = set()

    def __call__(self, operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        assert operation in OPERATIONS, operation
        before = len(self.forgejo.requests)
        parsed = call(*args, **kwargs)
        [request] = self.forgejo.requests[before:]
        assert request.status is not None and request.status < 300, (operation, request.response_text)
        if request.response_json is not None:
            problems = unknown_fields(parsed) + differences(dumped(parsed), raw_dates(request.response_json))
            assert not problems, f"{operation}: " + "; ".join(problems[:10])
        self.seen.add(operation)
        return parsed


@pytest.fixture
def contract(forgejo: ForgejoDouble) -> Contract:
    return Contract(forgejo, forgejo.token)


def test_pyforgejo_parses_every_operation_slipway_uses(
    forgejo: ForgejoDouble, contract: Contract, tmp_path
) -> None:
    c, o, r = contract, forgejo.owner, forgejo.repo
    issue_api, repo_api = c.api.issue, c.api.repository

    c("getVersion", c.api.miscellaneous.get_version)
    c("repoGet", repo_api.repo_get, o, r)
    c("repoGetRunnerRegistrationToken", repo_api.repo_get_runner_registration_token, o, r)

    bug = c(
        "issueCreateLabel", issue_api.create_label, o, r, name="bug", color="#ee0701", description="broken"
    )
    c("issueCreateLabel", issue_api.create_label, o, r, name="kind/ui", color="00aabb", exclusive=True)
    c("issueEditLabel", issue_api.edit_label, o, r, bug.id, description="it is broken")
    labels = c("issueListLabels", issue_api.list_labels, o, r, page=1, limit=50)
    assert sorted(lb.name for lb in labels) == ["bug", "kind/ui"]

    number = forgejo.create_issue(o, r, "Tonnage rounds wrong", body="details")["number"]
    c("issueGetIssue", issue_api.get_issue, o, r, number)
    c("issueAddLabel", issue_api.add_label, o, r, number, labels=[lb.id for lb in labels])
    c("issueReplaceLabels", issue_api.replace_labels, o, r, number, labels=[bug.id])
    c("issueRemoveLabel", issue_api.remove_label, o, r, number, str(bug.id))
    c("issueAddLabel", issue_api.add_label, o, r, number, labels=["bug"])
    listed = c(
        "issueListIssues",
        issue_api.list_issues,
        o,
        r,
        state="open",
        type="issues",
        labels="bug",
        page=1,
        limit=50,
    )
    assert [i.number for i in listed] == [number]
    c("issueCreateComment", issue_api.create_comment, o, r, number, body="Triaged: portal")
    assert len(c("issueGetComments", issue_api.get_comments, o, r, number)) == 1

    push_branch(forgejo, tmp_path, "claude/issue-1", "fix.txt", "fixed\n")
    pr = c("repoCreatePullRequest", repo_api.repo_create_pull_request, o, r,
           head="claude/issue-1", base="main", title="Fix #1: tonnage", body="Fixes #1", labels=[bug.id])  # fmt: skip
    c(
        "repoGetPullRequestByBaseHead",
        repo_api.repo_get_pull_request_by_base_head,
        o,
        r,
        "main",
        "claude/issue-1",
    )
    c("repoGetPullRequest", repo_api.repo_get_pull_request, o, r, pr.number)
    c(
        "repoEditPullRequest",
        repo_api.repo_edit_pull_request,
        o,
        r,
        pr.number,
        title="Fix #1: tonnage rounding",
    )
    pulls = c(
        "repoListPullRequests",
        repo_api.repo_list_pull_requests,
        o,
        r,
        state="open",
        labels=[bug.id],
        page=1,
        limit=50,
    )
    assert [p.number for p in pulls] == [pr.number]
    c("repoGetBranch", repo_api.repo_get_branch, o, r, "claude/issue-1")
    progress = c("issueCreateComment", issue_api.create_comment, o, r, number, body="started")
    c("issueEditComment", issue_api.edit_comment, o, r, progress.id, body="started; done")
    forgejo.set_collaborator(o, r, "alice", "write")
    forgejo.add_review(o, r, pr.number, "alice", "REQUEST_CHANGES", "explain", comments=[("fix.txt", "why?")])
    [review] = c("repoListPullReviews", repo_api.repo_list_pull_reviews, o, r, pr.number, page=1, limit=50)
    assert review.state == "REQUEST_CHANGES" and review.user.login == "alice"
    [line] = c(
        "repoGetPullReviewComments", repo_api.repo_get_pull_review_comments, o, r, pr.number, review.id
    )
    assert (line.path, line.body) == ("fix.txt", "why?")
    allowed = c("repoGetRepoPermissions", repo_api.repo_get_repo_permissions, o, r, "alice")
    assert allowed.permission == "write"
    c("repoMergePullRequest", repo_api.repo_merge_pull_request, o, r, pr.number, do="merge")
    c("repoPullRequestIsMerged", repo_api.repo_pull_request_is_merged, o, r, pr.number)
    assert c.api.issue.get_issue(o, r, number).state == "closed"  # "Fixes #1" closed it
    c("issueEditIssue", issue_api.edit_issue, o, r, number, state="open")

    c(
        "repoCreateTagProtection",
        repo_api.repo_create_tag_protection,
        o,
        r,
        name_pattern="v*",
        whitelist_usernames=[o],
    )
    assert [p.name_pattern for p in c("repoListTagProtection", repo_api.repo_list_tag_protection, o, r)] == [
        "v*"
    ]
    c("repoCreateHook", repo_api.repo_create_hook, o, r, type="forgejo",
      config={"url": "http://127.0.0.1:9/hook", "content_type": "json"}, events=["issues"], active=True)  # fmt: skip
    assert len(c("repoListHooks", repo_api.repo_list_hooks, o, r)) == 1

    assert c.seen == set(OPERATIONS), set(OPERATIONS) - c.seen


def test_contract_fails_when_a_field_differs() -> None:
    """The comparison itself: a field pyforgejo would read differently, or not at all, is reported."""
    from pyforgejo.types.label import Label

    raw = {"id": 1, "name": "bug", "color": "ee0701", "description": "", "exclusive": False,
           "is_archived": False, "url": "u"}  # fmt: skip
    assert differences(dumped(Label.model_validate(raw)), raw) == []
    assert unknown_fields(Label.model_validate(dict(raw, invented=1))) == [
        "/invented: not in pyforgejo's model"
    ]
    assert differences(dumped(Label.model_validate(raw)), dict(raw, invented=1)) == [
        "/invented: not in pyforgejo's model"
    ]
    assert differences(dumped(Label.model_validate(dict(raw, id="1"))), raw) == []  # "1" is read as 1 ...
    assert differences(dumped(Label.model_validate(raw)), dict(raw, id="1"))  # ... but then differs
