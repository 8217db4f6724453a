"""The REST API of the Forgejo double: routing, auth scopes, and one handler per operation.

Behaviour follows Forgejo's source (routers/api/v1): status codes, error texts, the
shared issue/PR index, silent dropping of unknown label names, limit capped at 50,
Link headers built from ROOT_URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.forgejo.gitrepo import BareRepo, GitError, MergeConflict
from sandbox.forgejo.state import (
    FORGEJO_VERSION,
    Comment,
    Hook,
    Ids,
    Issue,
    Label,
    PullData,
    Renderer,
    Repo,
    Review,
    ReviewComment,
    TagProtection,
    Token,
    User,
    fmt_time,
    new_token,
)

MERGE_STYLES = {"merge", "rebase", "rebase-merge", "squash", "fast-forward-only", "manually-merged"}
DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 50
COLOR_RE = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
CLOSING_RE = re.compile(
    r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+(?:[\w.-]+/[\w.-]+)?#(\d+)\b"
)
HOOK_TYPES = {
    "forgejo", "dingtalk", "discord", "gitea", "gogs", "msteams",
    "slack", "telegram", "feishu", "wechatwork", "packagist",
}  # fmt: skip


class ApiError(Exception):
    """An error response in Forgejo's JSON shape."""

    def __init__(
        self, status: int, message: str, errors: list[str] | None = None, null_errors: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.null_errors = null_errors  # send `"errors": null` when there are none (Go nil slice)


NOT_FOUND_MESSAGE = "The target couldn't be found."


def not_found(message: str | None = None, *errors: str) -> ApiError:
    """APIContext.NotFound: a string argument replaces the message, errors go to `errors` (null when
    there are none) (services/context/api.go; FIDELITY M14)."""
    return ApiError(404, message or NOT_FOUND_MESSAGE, list(errors) if errors else None, null_errors=True)


def validation_error(field_name: str, rule: str = "Required") -> ApiError:
    """The API's bind middleware: 422 with the first failing field (routers/api/v1/api.go, bind)."""
    return ApiError(422, f"[{field_name}]: {rule}")


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    method: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    doer: User | None
    repo: Repo | None
    path: str  # as sent, still percent-encoded, without /api/v1
    query_multi: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Call], Reply]
    category: str | None  # scope category: issue, repository, user, or None (public)
    admin: bool = False


def compile_template(template: str) -> re.Pattern[str]:
    """`/repos/{owner}/{repo}/branches/{branch}` -> regex; a trailing param may contain slashes."""
    parts = template.strip("/").split("/")
    out = []
    for i, part in enumerate(parts):
        if part.startswith("{"):
            name = part[1:-1]
            greedy = i == len(parts) - 1 and name in {"branch", "head", "tag"}
            out.append(f"(?P<{name}>{'.+' if greedy else '[^/]+'})")
        else:
            out.append(re.escape(part))
    return re.compile("^/" + "/".join(out) + "$")


def parse_time(value: str, name: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as err:
        raise ApiError(422, f'parsing time "{value}" as "2006-01-02T15:04:05Z07:00": cannot parse') from err


def _positive_int(value: str | None) -> bool:
    try:
        return value is not None and int(value) > 0
    except ValueError:
        return False


def paging(query: dict[str, str]) -> tuple[int, int]:
    def as_int(key: str, default: int) -> int:
        try:
            return int(query.get(key, default))
        except ValueError:
            return default

    page = max(as_int("page", 1), 1)
    limit = as_int("limit", DEFAULT_PAGE_SIZE)
    if limit <= 0:
        limit = DEFAULT_PAGE_SIZE
    return page, min(limit, MAX_PAGE_SIZE)


class Forge:
    """All state of the double plus the API operations on it. Thread-safe via one lock."""

    def __init__(self, data_dir: Path, root_url: str) -> None:
        self.data_dir = data_dir
        self.repos_dir = data_dir / "repos"
        self.home = data_dir / "home"
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.render = Renderer(root_url, data_dir)
        self.lock = threading.RLock()
        self.ids = Ids()
        self.deliveries: list[dict] = []  # webhook deliveries sent (see deliver)
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.runner_tokens: dict[str, str] = {}
        self.routes = self._routes()

    # ------------------------------------------------------------------ setup

    def add_user(self, name: str, admin: bool = False) -> dict:
        with self.lock:
            if name not in self.users:
                self.users[name] = User(self.ids.next("user"), name, admin)
            return self.render.user(self.users[name])

    def add_token(self, user: str, scopes: list[str]) -> str:
        with self.lock:
            if user not in self.users:
                raise KeyError(f"no such user: {user}")
            value = new_token()
            self.tokens[value] = Token(value, user, frozenset(scopes))
            return value

    def create_repo(
        self,
        owner: str,
        name: str,
        default_branch: str = "main",
        source_dir: Path | None = None,
        files: dict[str, bytes] | None = None,
        private: bool = False,
    ) -> dict:
        with self.lock:
            if owner not in self.users:
                self.add_user(owner)
            git = BareRepo(self.repos_dir / owner / f"{name}.git", self.home)
            if files and source_dir is None:
                git.init_from_files(default_branch, files, "Initial commit")
            else:
                git.init(default_branch)
                if source_dir is not None:
                    git.commit_directory(default_branch, Path(source_dir), "Initial commit")
            repo = Repo(self.ids.next("repo"), owner, name, default_branch, git, private=private)
            self.repos[(owner, name)] = repo
            return self._render_repo(repo, self.users[owner])

    def repo(self, owner: str, name: str) -> Repo:
        try:
            return self.repos[(owner, name)]
        except KeyError:
            raise not_found() from None

    # ------------------------------------------------------------- rendering

    def _render_repo(self, repo: Repo, doer: User | None) -> dict:
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open" and i.pull is None)
        open_pulls = sum(1 for i in repo.issues.values() if i.state == "open" and i.pull is not None)
        return self.render.repository(repo, self.users[repo.owner], doer, (open_issues, open_pulls))

    def render_issue(self, repo: Repo, issue: Issue) -> dict:
        count = sum(1 for c in repo.comments.values() if c.index == issue.index)
        return self.render.issue(repo, issue, self.users[issue.user], count)

    def render_comment(self, repo: Repo, comment: Comment) -> dict:
        is_pull = repo.issues[comment.index].pull is not None
        return self.render.comment(repo, comment, self.users[comment.user], is_pull)

    def _branch_info(self, repo: Repo, branch: str, sha: str, doer: User | None) -> dict:
        return {
            "label": branch,
            "ref": branch,
            "sha": sha,
            "repo_id": repo.id,
            "repo": self._render_repo(repo, doer),
        }

    def render_pull(self, repo: Repo, issue: Issue, doer: User | None) -> dict:
        pull = issue.pull
        assert pull is not None
        refs = repo.git.refs()
        if not pull.merged:
            pull.head_sha = refs.get(f"refs/heads/{pull.head}", pull.head_sha)
        base_sha = refs.get(f"refs/heads/{pull.base}", "")
        adds = dels = files = 0
        if pull.merge_base and pull.head_sha:
            adds, dels, files = repo.git.diff_stats(pull.merge_base, pull.head_sha)
        html = f"{self.render.root_url}{repo.full_name}/pulls/{issue.index}"
        labels = self.render.issue_labels(repo, issue)
        merged_by = self.render.user(self.users[pull.merged_by]) if pull.merged_by else None
        head = self._branch_info(repo, pull.head, pull.head_sha, doer)
        if f"refs/heads/{pull.head}" not in refs:
            # The head branch is gone: Forgejo reports the PR's own ref (FIDELITY M12).
            head["ref"] = f"refs/pull/{issue.index}/head"
        return {
            "id": pull.id,
            "url": html,
            "number": issue.index,
            "user": self.render.user(self.users[issue.user]),
            "title": issue.title,
            "body": issue.body,
            "labels": labels,
            "milestone": None,
            "assignee": None,
            "assignees": None,
            # convert.ToAPIPullRequest: "[]" rather than null (FIDELITY M12).
            "requested_reviewers": [],
            "requested_reviewers_teams": [],
            "state": issue.state,
            "draft": False,
            "is_locked": False,
            "comments": sum(1 for c in repo.comments.values() if c.index == issue.index),
            "review_comments": 0,
            "additions": adds,
            "deletions": dels,
            "changed_files": files,
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "mergeable": self._mergeable(repo, issue),
            "merged": pull.merged,
            "merged_at": fmt_time(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "merged_by": merged_by,
            "allow_maintainer_edit": False,
            "base": self._branch_info(repo, pull.base, base_sha, doer),
            "head": head,
            "merge_base": pull.merge_base,
            "due_date": None,
            "created_at": fmt_time(issue.created),
            "updated_at": fmt_time(issue.updated),
            "closed_at": fmt_time(issue.closed),
            "pin_order": 0,
            "flow": 0,
        }

    def _mergeable(self, repo: Repo, issue: Issue) -> bool:
        """PullRequest.Mergeable: false while a conflict check finds conflicts (models/issues/pull.go:849-857).

        Forgejo records the status when the PR is created or its base/head moves; the double checks
        the current tips (cached per pair of shas).
        """
        pull = issue.pull
        assert pull is not None
        if pull.merged or issue.state != "open":
            return False
        return not self._conflicting(repo, pull)

    @staticmethod
    def _conflicting(repo: Repo, pull: PullData) -> bool:
        base_sha = repo.git.branch_sha(pull.base) or ""
        head_sha = repo.git.branch_sha(pull.head) or pull.head_sha
        key = (base_sha, head_sha)
        if pull.conflict_key != key:
            pull.conflict_key = key
            pull.conflicts = bool(base_sha and head_sha) and repo.git.conflicts(base_sha, head_sha)
        return pull.conflicts

    # ------------------------------------------------------- domain actions

    def new_issue(
        self, repo: Repo, title: str, body: str, user: str, label_ids: list[int], pull: PullData | None = None
    ) -> Issue:
        issue = Issue(
            id=self.ids.next("issue"),
            index=repo.next_index,
            title=title,
            body=body,
            user=user,
            label_ids=[i for i in dict.fromkeys(label_ids) if i in repo.labels],
            pull=pull,
        )
        repo.next_index += 1
        repo.issues[issue.index] = issue
        return issue

    def new_label(
        self, repo: Repo, name: str, color: str, description: str = "", exclusive: bool = False
    ) -> Label:
        match = COLOR_RE.match(color.strip())
        if not name:
            raise ApiError(422, "[Name]: Required")
        if not match:
            raise ApiError(422, f"bad color code: {color}")
        hexpart = match.group(1)
        if len(hexpart) == 3:
            hexpart = "".join(ch * 2 for ch in hexpart)
        label = Label(self.ids.next("label"), name, "#" + hexpart.lower(), description, exclusive)
        repo.labels[label.id] = label
        return label

    def new_comment(self, repo: Repo, index: int, body: str, user: str) -> Comment:
        comment = Comment(self.ids.next("comment"), index, body, user)
        repo.comments[comment.id] = comment
        repo.issues[index].touch()
        return comment

    def get_issue(self, repo: Repo, index: int | str) -> Issue:
        try:
            return repo.issues[int(index)]
        except (KeyError, ValueError):
            raise not_found() from None

    def label_ids_by_names(self, repo: Repo, names: list[str]) -> list[int]:
        wanted = set(names)
        return [label.id for label in repo.labels.values() if label.name in wanted]

    # ---------------------------------------------------------------- routes

    def _routes(self) -> list[Route]:
        r = "/repos/{owner}/{repo}"
        table: list[tuple[str, str, Callable[[Call], Reply], str | None, bool]] = [
            ("GET", "/version", self.get_version, None, False),
            ("GET", "/user", self.get_user, "user", False),
            ("GET", r, self.get_repo, "repository", False),
            ("GET", r + "/issues", self.list_issues, "issue", False),
            ("POST", r + "/issues", self.create_issue_api, "issue", False),
            ("GET", r + "/issues/comments/{id}", self.get_comment, "issue", False),
            ("PATCH", r + "/issues/comments/{id}", self.edit_comment, "issue", False),
            ("DELETE", r + "/issues/comments/{id}", self.delete_comment, "issue", False),
            ("GET", r + "/issues/{index}", self.get_issue_api, "issue", False),
            ("PATCH", r + "/issues/{index}", self.edit_issue, "issue", False),
            ("GET", r + "/issues/{index}/labels", self.get_issue_labels, "issue", False),
            ("POST", r + "/issues/{index}/labels", self.add_issue_labels, "issue", False),
            ("PUT", r + "/issues/{index}/labels", self.replace_issue_labels, "issue", False),
            ("DELETE", r + "/issues/{index}/labels", self.clear_issue_labels, "issue", False),
            ("DELETE", r + "/issues/{index}/labels/{id}", self.remove_issue_label, "issue", False),
            ("GET", r + "/issues/{index}/comments", self.list_comments, "issue", False),
            ("POST", r + "/issues/{index}/comments", self.create_comment_api, "issue", False),
            ("GET", r + "/labels", self.list_labels, "issue", False),
            ("POST", r + "/labels", self.create_label_api, "issue", False),
            ("GET", r + "/labels/{id}", self.get_label, "issue", False),
            ("PATCH", r + "/labels/{id}", self.edit_label, "issue", False),
            ("DELETE", r + "/labels/{id}", self.delete_label, "issue", False),
            ("GET", r + "/pulls", self.list_pulls, "repository", False),
            ("POST", r + "/pulls", self.create_pull, "repository", False),
            ("GET", r + "/pulls/{index}/merge", self.is_merged, "repository", False),
            ("POST", r + "/pulls/{index}/merge", self.merge_pull, "repository", False),
            ("GET", r + "/pulls/{index}", self.get_pull, "repository", False),
            ("PATCH", r + "/pulls/{index}", self.edit_pull, "repository", False),
            ("GET", r + "/pulls/{index}/reviews", self.list_reviews, "repository", False),
            ("GET", r + "/pulls/{index}/reviews/{id}", self.get_review, "repository", False),
            (
                "GET",
                r + "/pulls/{index}/reviews/{id}/comments",
                self.list_review_comments,
                "repository",
                False,
            ),
            ("GET", r + "/pulls/{base}/{head}", self.get_pull_by_branches, "repository", False),
            ("GET", r + "/collaborators/{collaborator}/permission", self.get_permission, "repository", False),
            ("GET", r + "/branches/{branch}", self.get_branch, "repository", False),
            ("GET", r + "/tags", self.list_tags, "repository", False),
            ("GET", r + "/tags/{tag}", self.get_tag, "repository", False),
            ("GET", r + "/actions/runners/registration-token", self.runner_token, "repository", True),
            ("GET", r + "/hooks", self.list_hooks, "repository", True),
            ("GET", r + "/tag_protections", self.list_tag_protections, "repository", True),
            ("POST", r + "/tag_protections", self.create_tag_protection, "repository", True),
            ("POST", r + "/hooks", self.create_hook, "repository", True),
            ("GET", r + "/hooks/{id}", self.get_hook, "repository", True),
            ("PATCH", r + "/hooks/{id}", self.edit_hook, "repository", True),
            ("DELETE", r + "/hooks/{id}", self.delete_hook, "repository", True),
        ]
        return [Route(m, compile_template(t), h, c, a) for m, t, h, c, a in table]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """First route whose template matches; index-like params must be numeric to match."""
        path_matched = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            params = found.groupdict()
            if "index" in params and not params["index"].isdigit() and "head" not in params:
                continue
            path_matched = True
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, params
        if path_matched:
            raise ApiError(405, "Method Not Allowed")
        return None

    # ---------------------------------------------------------- auth checks

    def authenticate(self, token: str | None) -> tuple[User, Token] | None:
        if not token:
            return None
        found = self.tokens.get(token)
        if found is None or found.user not in self.users:
            return None
        return self.users[found.user], found

    @staticmethod
    def has_scope(token: Token, category: str, write: bool) -> bool:
        if "all" in token.scopes:
            return True
        if f"write:{category}" in token.scopes:
            return True
        return not write and f"read:{category}" in token.scopes

    # -------------------------------------------------------------- handlers

    def get_version(self, call: Call) -> Reply:
        return Reply(200, {"version": FORGEJO_VERSION})

    def get_user(self, call: Call) -> Reply:
        assert call.doer is not None
        return Reply(200, self.render.user(call.doer))

    def get_repo(self, call: Call) -> Reply:
        assert call.repo is not None
        return Reply(200, self._render_repo(call.repo, call.doer))

    def _paginate(self, call: Call, items: list[Any], link: bool) -> tuple[list[Any], dict[str, str]]:
        page, limit = paging(call.query)
        total = len(items)
        headers = {"X-Total-Count": str(total)}
        if link:
            link_value = self._link_header(call, page, limit, total)
            if link_value:
                headers["Link"] = link_value
        start = (page - 1) * limit
        return items[start : start + limit], headers

    def _link_header(self, call: Call, page: int, limit: int, total: int) -> str:
        """genAPILinks: the caller's own query with only `page` replaced; the page is clamped to the
        last one as modules/paginator does (FIDELITY M13)."""
        total_pages = max(-(-total // limit), 1)  # Paginator.TotalPages: 1 when there is nothing
        current = min(max(page, 1), total_pages)
        base = self.render.root_url.rstrip("/") + "/api/v1" + call.path

        def url(p: int) -> str:
            q = {key: list(values) for key, values in call.query_multi.items()}
            q["page"] = [str(p)]
            return f"<{base}?{urllib.parse.urlencode(sorted(q.items()), doseq=True)}>"

        links = []
        if total > current * limit:
            links.append(f'{url(current + 1)}; rel="next"')
        if total != 0 and not (total > (current - 1) * limit and total <= current * limit):  # !IsLast()
            links.append(f'{url(total_pages)}; rel="last"')
        if current != 1:
            links.append(f'{url(1)}; rel="first"')
        if current > 1:
            links.append(f'{url(current - 1)}; rel="prev"')
        return ",".join(links)

    @staticmethod
    def _sort(items: list[Issue], sort: str) -> list[Issue]:
        if sort == "oldest":
            return sorted(items, key=lambda i: (i.created, i.index))
        if sort == "recentupdate":
            return sorted(items, key=lambda i: (i.updated, i.index), reverse=True)
        if sort == "leastupdate":
            return sorted(items, key=lambda i: (i.updated, i.index))
        return sorted(items, key=lambda i: (i.created, i.index), reverse=True)

    def list_issues(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        q = call.query
        state = q.get("state", "open")
        items = [i for i in repo.issues.values() if state == "all" or i.state == (state or "open")]
        kind = q.get("type", "")
        if kind == "issues":
            items = [i for i in items if i.pull is None]
        elif kind == "pulls":
            items = [i for i in items if i.pull is not None]
        if q.get("labels"):
            # Forgejo resolves names to ids, drops unknown names, and requires ALL found labels.
            wanted = self.label_ids_by_names(repo, q["labels"].split(","))
            if wanted:
                items = [i for i in items if set(wanted) <= set(i.label_ids)]
        if q.get("since"):
            since = parse_time(q["since"], "since")
            items = [i for i in items if i.updated >= int(since)]
        if q.get("before"):
            before = parse_time(q["before"], "before")
            items = [i for i in items if i.updated <= int(before)]
        if q.get("created_by"):
            items = [i for i in items if i.user == q["created_by"]]
        if q.get("q"):
            needle = q["q"].lower()
            items = [i for i in items if needle in i.title.lower() or needle in i.body.lower()]
        items = self._sort(items, q.get("sort", ""))
        page_items, headers = self._paginate(call, items, link=True)
        return Reply(200, [self.render_issue(repo, i) for i in page_items], headers)

    def create_issue_api(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None and call.doer is not None
        title = body.get("title") or ""
        if not title:
            raise ApiError(422, "[Title]: Required")
        issue = self.new_issue(repo, title, body.get("body", ""), call.doer.name, body.get("labels") or [])
        if body.get("closed"):
            issue.set_state("closed")
        self.deliver(repo, "issues", "issues", "opened", issue, call.doer)
        return Reply(201, self.render_issue(repo, issue))

    def get_issue_api(self, call: Call) -> Reply:
        assert call.repo is not None
        issue = self.get_issue(call.repo, call.params["index"])
        return Reply(200, self.render_issue(call.repo, issue))

    def edit_issue(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None
        issue = self.get_issue(repo, call.params["index"])
        if body.get("title"):
            issue.title = body["title"]
            issue.touch()
        if "body" in body and body["body"] is not None:
            issue.body = body["body"]
            issue.touch()
        if body.get("state"):
            if issue.pull is not None and issue.pull.merged:
                raise ApiError(412, "cannot change state of this pull request, it was already merged")
            issue.set_state("closed" if body["state"] == "closed" else "open")
        return Reply(201, self.render_issue(repo, issue))

    def get_issue_labels(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        issue = self.get_issue(repo, call.params["index"])
        return Reply(200, self._issue_labels(repo, issue))

    def _issue_labels(self, repo: Repo, issue: Issue) -> list[dict]:
        labels = sorted((repo.labels[i] for i in issue.label_ids if i in repo.labels), key=lambda lb: lb.name)
        return [self.render.label(repo, lb) for lb in labels]

    def _resolve_label_body(self, repo: Repo, body: Any) -> list[int]:
        """prepareForReplaceOrAdd: ids or names, never mixed; unknown names/ids dropped silently."""
        raw = (body or {}).get("labels") or []
        ids: list[int] = []
        names: list[str] = []
        for item in raw:
            if isinstance(item, bool) or not isinstance(item, int | float | str):
                raise ApiError(400, "a label must be an integer or a string")
            if isinstance(item, str):
                names.append(item)
            else:
                ids.append(int(item))
        if ids and names:
            raise ApiError(400, "labels should be an array of strings or integers")
        if names:
            ids = self.label_ids_by_names(repo, names)
        return [i for i in ids if i in repo.labels]

    def add_issue_labels(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        issue = self.get_issue(repo, call.params["index"])
        ids = self._resolve_label_body(repo, call.body)
        before = list(issue.label_ids)
        self._apply_labels(repo, issue, issue.label_ids + ids)
        if issue.pull is None and issue.label_ids != before and call.doer is not None:
            self.deliver(repo, "issues", "issue_label", "label_updated", issue, call.doer)
        return Reply(200, self._issue_labels(repo, issue))

    def replace_issue_labels(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        issue = self.get_issue(repo, call.params["index"])
        ids = self._resolve_label_body(repo, call.body)
        self._apply_labels(repo, issue, ids)
        return Reply(200, self._issue_labels(repo, issue))

    @staticmethod
    def _apply_labels(repo: Repo, issue: Issue, ids: list[int]) -> None:
        """Set labels; an exclusive scoped label (scope/name) evicts others of its scope."""
        result: list[int] = []
        for label_id in dict.fromkeys(ids):
            label = repo.labels[label_id]
            if label.exclusive and "/" in label.name:
                scope = label.name.rsplit("/", 1)[0] + "/"
                result = [i for i in result if not repo.labels[i].name.startswith(scope)]
            result.append(label_id)
        if result != issue.label_ids:
            issue.label_ids = result
            issue.touch()

    def clear_issue_labels(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        issue = self.get_issue(repo, call.params["index"])
        self._apply_labels(repo, issue, [])
        return Reply(204)

    def remove_issue_label(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        issue = self.get_issue(repo, call.params["index"])
        label_id = int(call.params["id"]) if call.params["id"].isdigit() else -1
        if label_id not in repo.labels:
            raise ApiError(422, f"label does not exist [label_id: {label_id}]")
        self._apply_labels(repo, issue, [i for i in issue.label_ids if i != label_id])
        return Reply(204)

    def list_comments(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        issue = self.get_issue(repo, call.params["index"])
        items = [c for c in repo.comments.values() if c.index == issue.index]
        if call.query.get("since"):
            since = parse_time(call.query["since"], "since")
            items = [c for c in items if c.updated >= int(since)]
        if call.query.get("before"):
            before = parse_time(call.query["before"], "before")
            items = [c for c in items if c.updated <= int(before)]
        items.sort(key=lambda c: (c.created, c.id))
        return Reply(200, [self.render_comment(repo, c) for c in items], {"X-Total-Count": str(len(items))})

    def create_comment_api(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None and call.doer is not None
        issue = self.get_issue(repo, call.params["index"])
        if not body.get("body"):
            raise ApiError(422, "[Body]: Required")
        comment = self.new_comment(repo, issue.index, body["body"], call.doer.name)
        if issue.pull is None:
            self.deliver(repo, "issue_comment", "issue_comment", "created", issue, call.doer)
        return Reply(201, self.render_comment(repo, comment))

    def _get_comment(self, call: Call) -> Comment:
        assert call.repo is not None
        try:
            return call.repo.comments[int(call.params["id"])]
        except (KeyError, ValueError):
            raise not_found() from None

    def get_comment(self, call: Call) -> Reply:
        assert call.repo is not None
        return Reply(200, self.render_comment(call.repo, self._get_comment(call)))

    def edit_comment(self, call: Call) -> Reply:
        assert call.repo is not None
        comment = self._get_comment(call)
        body = call.body or {}
        if not body.get("body"):
            raise ApiError(422, "[Body]: Required")
        comment.body = body["body"]
        comment.updated = time.time()
        return Reply(200, self.render_comment(call.repo, comment))

    def delete_comment(self, call: Call) -> Reply:
        assert call.repo is not None
        comment = self._get_comment(call)
        del call.repo.comments[comment.id]
        return Reply(204)

    def list_labels(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        labels = sorted(repo.labels.values(), key=lambda lb: (lb.name, lb.id))
        page_items, headers = self._paginate(call, labels, link=False)
        if not _positive_int(call.query.get("page")):
            # GetLabelsByRepoID pages only when a page is asked for (models/issues/label.go:414-416;
            # FIDELITY M8).
            page_items = labels
        return Reply(200, [self.render.label(repo, lb) for lb in page_items], headers)

    def create_label_api(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None
        if not body.get("color"):
            raise ApiError(422, "[Color]: Required")
        label = self.new_label(
            repo,
            body.get("name") or "",
            body["color"],
            body.get("description", ""),
            bool(body.get("exclusive")),
        )
        return Reply(201, self.render.label(repo, label))

    def _get_label(self, call: Call) -> Label:
        assert call.repo is not None
        raw = call.params["id"]
        if raw.isdigit():
            label = call.repo.labels.get(int(raw))
        else:
            label = next((lb for lb in call.repo.labels.values() if lb.name == raw), None)
        if label is None:
            raise not_found()
        return label

    def get_label(self, call: Call) -> Reply:
        assert call.repo is not None
        return Reply(200, self.render.label(call.repo, self._get_label(call)))

    def edit_label(self, call: Call) -> Reply:
        assert call.repo is not None
        label = self._get_label(call)
        body = call.body or {}
        if body.get("color") is not None:
            match = COLOR_RE.match(body["color"].strip())
            if not match:
                raise ApiError(422, f"bad color code: {body['color']}")
            label.color = "#" + match.group(1).lower()
        if body.get("name"):
            label.name = body["name"]
        if body.get("description") is not None:
            label.description = body["description"]
        if body.get("exclusive") is not None:
            label.exclusive = bool(body["exclusive"])
        if body.get("is_archived") is not None:
            label.is_archived = bool(body["is_archived"])
        return Reply(200, self.render.label(call.repo, label))

    def delete_label(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        label = self._get_label(call)
        del repo.labels[label.id]
        for issue in repo.issues.values():
            if label.id in issue.label_ids:
                issue.label_ids.remove(label.id)
        return Reply(204)

    # ---------------------------------------------------------------- pulls

    def list_pulls(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        # No `state` means every state: PullRequests filters only on a non-empty state
        # (models/issues/pull_list.go:36-39; FIDELITY M6).
        state = call.query.get("state", "").strip()
        items = [
            i
            for i in repo.issues.values()
            if i.pull is not None and (state in ("", "all") or i.state == state)
        ]
        if call.query.get("poster"):
            items = [i for i in items if i.user == call.query["poster"]]
        # `labels` is repeated (collectionFormat multi) and any-of; each value must be an integer,
        # so the comma form fails base.StringsToInt64s with a 500 (FIDELITY M7).
        wanted: set[int] = set()
        for value in call.query_multi.get("labels", []):
            if value == "":
                continue
            try:
                wanted.add(int(value))
            except ValueError:
                detail = f'strconv.ParseInt: parsing "{value}": invalid syntax'
                admin = call.doer is not None and call.doer.admin
                raise ApiError(500, detail if admin else "") from None
        if wanted:
            items = [i for i in items if wanted & set(i.label_ids)]
        items = self._sort(items, call.query.get("sort", ""))
        page_items, headers = self._paginate(call, items, link=True)
        return Reply(200, [self.render_pull(repo, i, call.doer) for i in page_items], headers)

    # --------------------------------------------------------------- reviews

    def new_review(
        self, repo: Repo, index: int, user: str, state: str, body: str, comments: list[tuple[str, str]]
    ) -> Review:
        issue = self._get_pull(repo, str(index))
        assert issue.pull is not None
        commit = repo.git.refs().get(f"refs/heads/{issue.pull.head}", issue.pull.head_sha)
        review = Review(self.ids.next("review"), issue.index, user, state, body, commit)
        for path, text in comments:
            # review comments share the comment id sequence (they are rows of the comment table)
            review.comments.append(ReviewComment(self.ids.next("comment"), path, text))
        repo.reviews[review.id] = review
        issue.touch()
        return review

    def render_review(self, repo: Repo, review: Review) -> dict:
        url = f"{self.render.root_url}{repo.full_name}/pulls/{review.index}"
        return {
            "id": review.id,
            "user": self.render.user(self.users[review.user]),
            "team": None,
            "state": review.state,
            "body": review.body,
            "commit_id": review.commit_id,
            "stale": False,
            "official": review.state in ("APPROVED", "REQUEST_CHANGES"),
            "dismissed": review.dismissed,
            "comments_count": len(review.comments),
            "submitted_at": fmt_time(review.submitted),
            "updated_at": fmt_time(review.submitted),
            "html_url": f"{url}#issuecomment-{review.id}",
            "pull_request_url": url,
        }

    def render_review_comment(self, repo: Repo, review: Review, comment: ReviewComment) -> dict:
        url = f"{self.render.root_url}{repo.full_name}/pulls/{review.index}"
        return {
            "id": comment.id,
            "body": comment.body,
            "user": self.render.user(self.users[review.user]),
            "resolver": None,
            "pull_request_review_id": review.id,
            "created_at": fmt_time(comment.created),
            "updated_at": fmt_time(comment.created),
            "path": comment.path,
            "commit_id": review.commit_id,
            "original_commit_id": review.commit_id,
            "diff_hunk": "",
            "position": comment.line,
            "original_position": 0,
            "html_url": f"{url}/files#issuecomment-{comment.id}",
            "pull_request_url": url,
        }

    def list_reviews(self, call: Call) -> Reply:
        """ListPullReviews (routers/api/v1/repo/pull_review.go): the PR's reviews, oldest first,
        paged (X-Total-Count)."""
        repo = call.repo
        assert repo is not None
        issue = self._get_pull(repo, call.params["index"])
        items = sorted((r for r in repo.reviews.values() if r.index == issue.index), key=lambda r: r.id)
        page_items, headers = self._paginate(call, items, link=False)
        return Reply(200, [self.render_review(repo, r) for r in page_items], headers)

    def _get_review(self, call: Call) -> Review:
        repo = call.repo
        assert repo is not None
        issue = self._get_pull(repo, call.params["index"])
        try:
            review = repo.reviews[int(call.params["id"])]
        except (KeyError, ValueError):
            raise not_found() from None
        if review.index != issue.index:
            raise not_found()
        return review

    def get_review(self, call: Call) -> Reply:
        assert call.repo is not None
        return Reply(200, self.render_review(call.repo, self._get_review(call)))

    def list_review_comments(self, call: Call) -> Reply:
        assert call.repo is not None
        review = self._get_review(call)
        return Reply(200, [self.render_review_comment(call.repo, review, c) for c in review.comments])

    def get_permission(self, call: Call) -> Reply:
        """GetRepoPermissions (routers/api/v1/repo/collaborators.go): only a site admin, a repo admin,
        or the user asking about themselves may ask (403 otherwise); an unknown user is 404; the answer is
        the access mode's name (none, read, write, admin, owner) as permission and role_name."""
        repo, doer = call.repo, call.doer
        assert repo is not None and doer is not None
        name = urllib.parse.unquote(call.params["collaborator"])
        doer_mode = self._access(repo, doer.name)
        if not doer.admin and doer.name != name and doer_mode not in ("admin", "owner"):
            raise ApiError(
                403,
                "Only admins can query all permissions, repo admins can query all repo permissions, "
                "collaborators can query only their own",
            )
        if name not in self.users:
            raise not_found(f"user redirect does not exist [name: {name}]")
        mode = self._access(repo, name)
        user = self.render.user(self.users[name])
        return Reply(200, {"permission": mode, "role_name": mode, "user": user})

    def _access(self, repo: Repo, name: str) -> str:
        if name == repo.owner:
            return "owner"
        user = self.users.get(name)
        if user is not None and user.admin:
            return "admin"
        if name in repo.collaborators:
            return repo.collaborators[name]
        return "none" if repo.private else "read"

    def _strip_owner(self, repo: Repo, branch: str) -> str:
        if ":" in branch:
            owner, _, rest = branch.partition(":")
            if owner != repo.owner:
                raise not_found("GetUserByName")
            return rest
        return branch

    def create_pull(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None and call.doer is not None
        # Binding first (struct order Head, Base, Title), then head == base (FIDELITY M10).
        for key, field_name in (("head", "Head"), ("base", "Base"), ("title", "Title")):
            if not body.get(key):
                raise validation_error(field_name)
        if body["head"] == body["base"]:
            raise ApiError(422, "Invalid PullRequest: There are no changes between the head and the base")
        head = self._strip_owner(repo, body.get("head") or "")
        base = body.get("base") or ""
        refs = repo.git.refs()
        if f"refs/heads/{base}" not in refs:
            raise not_found("BaseNotExist")
        if f"refs/heads/{head}" not in refs:
            raise not_found("IsRefExist")
        for other in repo.issues.values():
            p = other.pull
            if p and other.state == "open" and p.head == head and p.base == base:
                raise ApiError(
                    409,
                    f"pull request already exists for these targets [id: {p.id}, issue_id: {other.index}, "
                    f"head_repo_id: {repo.id}, base_repo_id: {repo.id}, head_branch: {head}, base_branch: {base}]",
                )
        head_sha = refs[f"refs/heads/{head}"]
        pull = PullData(
            id=self.ids.next("pull"),
            head=head,
            base=base,
            merge_base=repo.git.merge_base(refs[f"refs/heads/{base}"], head_sha),
            head_sha=head_sha,
        )
        issue = self.new_issue(repo, body.get("title") or "", body.get("body", ""), call.doer.name,
                               body.get("labels") or [], pull)  # fmt: skip
        repo.git.update_ref(f"refs/pull/{issue.index}/head", head_sha)
        return Reply(201, self.render_pull(repo, issue, call.doer))

    def _get_pull(self, repo: Repo, index: str) -> Issue:
        issue = repo.issues.get(int(index)) if index.isdigit() else None
        if issue is None or issue.pull is None:
            raise not_found()
        return issue

    def get_pull(self, call: Call) -> Reply:
        assert call.repo is not None
        return Reply(
            200, self.render_pull(call.repo, self._get_pull(call.repo, call.params["index"]), call.doer)
        )

    def get_pull_by_branches(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        base, head = call.params["base"], self._strip_owner(repo, call.params["head"])
        # GetPullRequestByBaseHeadInfo has no ORDER BY (models/issues/pull.go:695-700): the database
        # hands back the first row it finds, in practice the oldest PR, which may be closed (FIDELITY M1).
        matches = [i for i in repo.issues.values() if i.pull and i.pull.base == base and i.pull.head == head]
        if not matches:
            raise not_found()
        oldest = min(matches, key=lambda i: i.pull.id if i.pull else 0)
        return Reply(200, self.render_pull(repo, oldest, call.doer))

    def edit_pull(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None
        issue = self._get_pull(repo, call.params["index"])
        if body.get("title"):
            issue.title = body["title"]
            issue.touch()
        if body.get("body") is not None:
            issue.body = body["body"]
            issue.touch()
        if body.get("labels") is not None:
            self._apply_labels(repo, issue, [i for i in body["labels"] if i in repo.labels])
        if body.get("state") is not None:
            assert issue.pull is not None
            if issue.pull.merged:
                raise ApiError(412, "cannot change state of this pull request, it was already merged")
            issue.set_state("closed" if body["state"] == "closed" else "open")
        # Forgejo answers 201 here ("TODO this should be 200, not 201").
        return Reply(201, self.render_pull(repo, issue, call.doer))

    def is_merged(self, call: Call) -> Reply:
        assert call.repo is not None
        issue = self._get_pull(call.repo, call.params["index"])
        assert issue.pull is not None
        if issue.pull.merged:
            return Reply(204)
        raise not_found()

    def merge_pull(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None and call.doer is not None
        # MergePullRequestForm: `Do` is binding:"Required;In(...)" (services/forms/repo_form.go:451;
        # FIDELITY M2): the bind middleware answers 422 before the handler runs.
        style = body.get("Do")
        if not style:
            raise validation_error("Do")
        if style not in MERGE_STYLES:
            raise validation_error("Do", "In")
        raw = call.params["index"]
        issue = repo.issues.get(int(raw)) if raw.isdigit() else None
        if issue is None or issue.pull is None:
            detail = (
                f"pull request does not exist [id: 0, issue_id: 0, head_repo_id: 0, "
                f"base_repo_id: {repo.id}, head_branch: , base_branch: ]"
            )
            raise not_found("GetPullRequestByIndex", detail)
        pull = issue.pull
        if issue.state != "open" and not pull.merged:
            raise not_found()
        if pull.merged:
            raise ApiError(405, "")
        if self._conflicting(repo, pull):
            # CheckPullMergeable: ErrNotMergeableState (services/pull/check.go:99; FIDELITY M3).
            raise ApiError(405, "Please try again later")
        if style == "manually-merged":
            raise ApiError(405, "manually-merged is not an allowed merge style for this repository")
        head_sha = repo.git.branch_sha(pull.head) or pull.head_sha
        title = (body.get("MergeTitleField") or "").strip()
        if not title:
            title = f"Merge pull request '{issue.title}' ({repo.full_name}#{issue.index}) from {pull.head} into {pull.base}"
        extra = (body.get("MergeMessageField") or "").strip()
        message = title + (f"\n\n{extra}" if extra else "")
        try:
            new_sha = repo.git.merge(pull.base, head_sha, style, message)
        except MergeConflict:
            raise ApiError(409, "merge failed because of conflict") from None  # a race only
        except GitError as err:
            raise ApiError(500, str(err)) from None
        pull.merged, pull.merged_at, pull.merged_by = True, time.time(), call.doer.name
        pull.merge_commit_sha, pull.head_sha = new_sha, head_sha
        issue.set_state("closed")
        self._close_referenced_issues(repo, issue.body)
        if body.get("delete_branch_after_merge") and pull.head != repo.default_branch:
            repo.git.delete_ref(f"refs/heads/{pull.head}")
        return Reply(200)

    def _close_referenced_issues(self, repo: Repo, text: str) -> None:
        for number in CLOSING_RE.findall(text or ""):
            target = repo.issues.get(int(number))
            if target is not None and target.pull is None:
                target.set_state("closed")

    # ------------------------------------------------------------- git reads

    def get_branch(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        branch = call.params["branch"]
        sha = repo.git.branch_sha(branch)
        if sha is None:
            raise ApiError(404, "Branch doesn't exist.", [])
        info = repo.git.commit_info(sha)
        commit = {
            "id": info.sha,
            "message": info.message,
            "url": f"{self.render.root_url}{repo.full_name}/commit/{info.sha}",
            "author": {"name": info.author_name, "email": info.author_email, "username": ""},
            "committer": {"name": info.committer_name, "email": info.committer_email, "username": ""},
            "verification": {
                "verified": False, "reason": "gpg.error.not_signed_commit",
                "signature": "", "signer": None, "payload": "",
            },
            "timestamp": info.timestamp,
            "added": None,
            "removed": None,
            "modified": None,
        }  # fmt: skip
        return Reply(
            200,
            {
                "name": branch,
                "commit": commit,
                "protected": False,
                "required_approvals": 0,
                "enable_status_check": False,
                "status_check_contexts": [],
                "user_can_push": True,
                "user_can_merge": True,
                "effective_branch_protection_name": "",
            },
        )

    def _render_tag(self, repo: Repo, tag: Any) -> dict:
        archive = f"{self.render.root_url}{repo.full_name}/archive/{tag.name}"
        return {
            "name": tag.name,
            "message": tag.message,
            "id": tag.id,
            "commit": self.render.commit_meta(repo, tag.commit_sha, tag.created),
            "zipball_url": archive + ".zip",
            "tarball_url": archive + ".tar.gz",
            "archive_download_count": {"zip": 0, "tar_gz": 0},
        }

    def list_tags(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        tags = repo.git.tags()
        page_items, headers = self._paginate(call, tags, link=False)
        return Reply(200, [self._render_tag(repo, t) for t in page_items], headers)

    def get_tag(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        for tag in repo.git.tags():
            if tag.name == call.params["tag"]:
                return Reply(200, self._render_tag(repo, tag))
        raise not_found()

    # ------------------------------------------------------- admin endpoints

    def runner_token(self, call: Call) -> Reply:
        assert call.repo is not None
        token = self.runner_tokens.setdefault(call.repo.full_name, new_token())
        return Reply(200, {"token": token})

    def list_tag_protections(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        protections = sorted(repo.tag_protections.values(), key=lambda p: p.id)
        return Reply(200, [self.render.tag_protection(p) for p in protections])

    def create_tag_protection(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None
        pattern = str(body.get("name_pattern") or "").strip()
        if not pattern:
            raise ApiError(422, "[NamePattern]: Required")
        protection = TagProtection(
            id=self.ids.next("tag_protection"),
            name_pattern=pattern,
            whitelist_usernames=[str(u) for u in body.get("whitelist_usernames") or []],
            whitelist_teams=[str(t) for t in body.get("whitelist_teams") or []],
        )
        repo.tag_protections[protection.id] = protection
        return Reply(201, self.render.tag_protection(protection))

    def list_hooks(self, call: Call) -> Reply:
        repo = call.repo
        assert repo is not None
        hooks = sorted(repo.hooks.values(), key=lambda h: h.id)
        page_items, headers = self._paginate(call, hooks, link=False)
        return Reply(200, [self.render.hook(h) for h in page_items], headers)

    def create_hook(self, call: Call) -> Reply:
        repo, body = call.repo, call.body or {}
        assert repo is not None
        hook_type = body.get("type") or ""
        config = body.get("config") or {}
        if hook_type not in HOOK_TYPES:
            raise ApiError(422, "Invalid hook type")
        if not config.get("url"):
            raise ApiError(422, "Missing config option: url")
        if config.get("content_type") not in {"json", "form"}:
            raise ApiError(422, "Invalid content type")
        hook = Hook(
            id=self.ids.next("hook"),
            type=hook_type,
            config={"url": config["url"], "content_type": config["content_type"],
                    "http_method": config.get("http_method", "post")},
            events=list(body.get("events") or ["push"]),
            active=bool(body.get("active", False)),
            branch_filter=body.get("branch_filter") or "*",
            authorization_header=body.get("authorization_header") or "",
            secret=str(config.get("secret") or ""),
        )  # fmt: skip
        repo.hooks[hook.id] = hook
        return Reply(201, self.render.hook(hook))

    def _get_hook(self, call: Call) -> Hook:
        assert call.repo is not None
        try:
            return call.repo.hooks[int(call.params["id"])]
        except (KeyError, ValueError):
            raise not_found() from None

    def get_hook(self, call: Call) -> Reply:
        return Reply(200, self.render.hook(self._get_hook(call)))

    def edit_hook(self, call: Call) -> Reply:
        """EditHookOption (routers/api/v1/utils/hook.go editHook): only the fields sent change; the
        config's url/content_type/http_method/secret are taken from `config` when present."""
        hook, body = self._get_hook(call), call.body or {}
        config = body.get("config") or {}
        if "content_type" in config and config["content_type"] not in {"json", "form"}:
            raise ApiError(422, "Invalid content type")
        for key in ("url", "content_type", "http_method"):
            if config.get(key):
                hook.config[key] = str(config[key])
        if "secret" in config:
            hook.secret = str(config["secret"] or "")
        if body.get("events") is not None:
            hook.events = list(body["events"])
        if body.get("active") is not None:
            hook.active = bool(body["active"])
        if body.get("branch_filter") is not None:
            hook.branch_filter = body["branch_filter"] or "*"
        if body.get("authorization_header") is not None:
            hook.authorization_header = body["authorization_header"]
        hook.updated = time.time()
        return Reply(200, self.render.hook(hook))

    def delete_hook(self, call: Call) -> Reply:
        hook = self._get_hook(call)
        assert call.repo is not None
        del call.repo.hooks[hook.id]
        return Reply(204)

    # ------------------------------------------------------------- webhook deliveries

    def deliver(self, repo: Repo, event: str, event_type: str, action: str, issue: Issue, doer: User) -> None:
        """Send the delivery to every active forgejo/gitea hook choosing ``event_type``, as Forgejo does:
        JSON body, `X-Forgejo-Signature` the bare hex HMAC-SHA256 of the body with the hook's secret,
        a fresh `X-Forgejo-Delivery`, `X-Forgejo-Event` and `X-Forgejo-Event-Type` (label changes:
        event `issues`, type `issue_label`). One attempt in the background, no retry."""
        hooks = [
            h for h in repo.hooks.values()
            if h.active and h.type in {"forgejo", "gitea"} and (event_type in h.events or event in h.events)
        ]  # fmt: skip
        if not hooks:
            return
        payload = {
            "action": action,
            "number": issue.index,
            "issue": self.render_issue(repo, issue),
            "repository": self._render_repo(repo, None),
            "sender": self.render.user(doer),
        }
        body = json.dumps(payload).encode()
        for hook in hooks:
            delivery = str(uuid.uuid4())
            signature = (
                hmac.new(hook.secret.encode(), body, hashlib.sha256).hexdigest() if hook.secret else ""
            )
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Go-http-client/1.1",
                "X-Forgejo-Delivery": delivery, "X-Forgejo-Event": event,
                "X-Forgejo-Event-Type": event_type, "X-Forgejo-Signature": signature,
                "X-Gitea-Delivery": delivery, "X-Gitea-Event": event,
                "X-Gitea-Event-Type": event_type, "X-Gitea-Signature": signature,
            }  # fmt: skip
            if hook.authorization_header:
                headers["Authorization"] = hook.authorization_header
            request = urllib.request.Request(hook.config["url"], data=body, headers=headers, method="POST")  # noqa: S310
            record = {"hook": hook.id, "delivery": delivery, "event": event, "type": event_type,
                      "action": action, "issue": issue.index, "sent": time.time(), "status": None}  # fmt: skip
            self.deliveries.append(record)
            threading.Thread(target=self._post, args=(request, record), daemon=True).start()

    @staticmethod
    def _post(request: urllib.request.Request, record: dict) -> None:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the hook's URL
                record["status"] = response.status
        except urllib.error.HTTPError as exc:
            record["status"] = exc.code
        except OSError as exc:
            record["status"] = f"error: {type(exc).__name__}"
