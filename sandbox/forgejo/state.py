"""In-memory Forgejo state and its JSON renderings (the shapes Forgejo's API returns)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sandbox.forgejo.gitrepo import BareRepo

FORGEJO_VERSION = "12.0.0+gitea-1.22.0"


def now() -> float:
    return time.time()


def fmt_time(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class User:
    id: int
    name: str
    admin: bool
    created: float = field(default_factory=now)


@dataclass
class Token:
    value: str
    user: str
    scopes: frozenset[str]


@dataclass
class Label:
    id: int
    name: str
    color: str  # stored with '#', rendered without (as Forgejo does)
    description: str = ""
    exclusive: bool = False
    is_archived: bool = False


@dataclass
class PullData:
    id: int
    head: str
    base: str
    merge_base: str
    head_sha: str = ""  # last known head sha (frozen once merged)
    merged: bool = False
    merged_at: float | None = None
    merged_by: str | None = None
    merge_commit_sha: str | None = None
    conflict_key: tuple[str, str] | None = None  # (base sha, head sha) the conflict check last saw
    conflicts: bool = False


@dataclass
class Issue:
    id: int
    index: int
    title: str
    body: str
    user: str
    label_ids: list[int] = field(default_factory=list)
    state: str = "open"
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)
    closed: float | None = None
    pull: PullData | None = None

    def touch(self) -> None:
        self.updated = now()

    def set_state(self, state: str) -> None:
        if state == self.state:
            return
        self.state = state
        self.closed = now() if state == "closed" else None
        self.touch()


@dataclass
class Comment:
    id: int
    index: int
    body: str
    user: str
    created: float = field(default_factory=now)
    updated: float = field(default_factory=now)


@dataclass
class ReviewComment:
    id: int
    path: str
    body: str
    line: int = 1
    created: float = field(default_factory=now)


@dataclass
class Review:
    """A pull request review (models/issues/review.go): its state is one of APPROVED, PENDING, COMMENT,
    REQUEST_CHANGES, REQUEST_REVIEW; code comments belong to it."""

    id: int
    index: int
    user: str
    state: str
    body: str
    commit_id: str
    comments: list[ReviewComment] = field(default_factory=list)
    dismissed: bool = False
    submitted: float = field(default_factory=now)


@dataclass
class Hook:
    id: int
    type: str
    config: dict[str, str]
    events: list[str]
    active: bool
    branch_filter: str
    authorization_header: str
    created: float = field(default_factory=now)
    secret: str = ""  # signs deliveries; never rendered (Forgejo does not return it)
    updated: float = field(default_factory=now)


@dataclass
class TagProtection:
    id: int
    name_pattern: str
    whitelist_usernames: list[str]
    whitelist_teams: list[str]
    created: float = field(default_factory=now)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    git: BareRepo
    private: bool = False  # private: anonymous API reads are 404 and anonymous git reads 401
    created: float = field(default_factory=now)
    labels: dict[int, Label] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    hooks: dict[int, Hook] = field(default_factory=dict)
    tag_protections: dict[int, TagProtection] = field(default_factory=dict)
    reviews: dict[int, Review] = field(default_factory=dict)
    collaborators: dict[str, str] = field(default_factory=dict)  # user -> read | write | admin
    next_index: int = 1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class Ids:
    """Global id sequences, one per kind, as a database would hand them out."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def next(self, kind: str) -> int:
        value = self._next.get(kind, 0) + 1
        self._next[kind] = value
        return value


def new_token() -> str:
    return secrets.token_hex(20)


class Renderer:
    """Builds the JSON bodies Forgejo returns, with URLs based on ROOT_URL."""

    def __init__(self, root_url: str, data_dir: Path) -> None:
        self.root_url = root_url.rstrip("/") + "/"
        self.data_dir = data_dir

    @property
    def api(self) -> str:
        return self.root_url + "api/v1"

    @property
    def swagger_url(self) -> str:
        return self.root_url + "api/swagger"

    def user(self, user: User) -> dict:
        return {
            "id": user.id,
            "login": user.name,
            "login_name": "",
            "source_id": 0,
            "full_name": "",
            "email": f"{user.name}@noreply.localhost",
            "avatar_url": f"{self.root_url}avatars/{user.id}",
            "html_url": f"{self.root_url}{user.name}",
            "language": "",
            "is_admin": user.admin,
            "last_login": fmt_time(user.created),
            "created": fmt_time(user.created),
            "restricted": False,
            "active": True,
            "prohibit_login": False,
            "location": "",
            "pronouns": "",
            "website": "",
            "description": "",
            "visibility": "public",
            "followers_count": 0,
            "following_count": 0,
            "starred_repos_count": 0,
        }

    def repository(self, repo: Repo, owner: User, doer: User | None, counts: tuple[int, int]) -> dict:
        is_admin = doer is not None and (doer.admin or doer.name == repo.owner)
        html = f"{self.root_url}{repo.full_name}"
        empty = not repo.git.refs()
        return {
            "id": repo.id,
            "owner": self.user(owner),
            "name": repo.name,
            "full_name": repo.full_name,
            "description": "",
            "empty": empty,
            "private": repo.private,
            "fork": False,
            "template": False,
            "parent": None,
            "mirror": False,
            "size": 0,
            "language": "",
            "languages_url": f"{self.api}/repos/{repo.full_name}/languages",
            "html_url": html,
            "url": f"{self.api}/repos/{repo.full_name}",
            "link": "",
            "ssh_url": f"ssh://git@localhost/{repo.full_name}.git",
            "clone_url": f"{html}.git",
            "original_url": "",
            "website": "",
            "stars_count": 0,
            "forks_count": 0,
            "watchers_count": 1,
            "open_issues_count": counts[0],
            "open_pr_counter": counts[1],
            "release_counter": 0,
            "default_branch": repo.default_branch,
            "archived": False,
            "created_at": fmt_time(repo.created),
            "updated_at": fmt_time(repo.created),
            "archived_at": "1970-01-01T00:00:00Z",
            "permissions": {"admin": is_admin, "push": doer is not None, "pull": True},
            "has_issues": True,
            "internal_tracker": {
                "enable_time_tracker": True,
                "allow_only_contributors_to_track_time": True,
                "enable_issue_dependencies": True,
            },
            "has_wiki": True,
            "wiki_branch": repo.default_branch,
            "globally_editable_wiki": False,
            "has_pull_requests": True,
            "has_projects": True,
            "has_releases": True,
            "has_packages": True,
            "has_actions": True,
            "ignore_whitespace_conflicts": False,
            "allow_merge_commits": True,
            "allow_rebase": True,
            "allow_rebase_explicit": True,
            "allow_squash_merge": True,
            "allow_fast_forward_only_merge": True,
            "allow_rebase_update": True,
            "default_delete_branch_after_merge": False,
            "default_merge_style": "merge",
            "default_update_style": "merge",
            "default_allow_maintainer_edit": False,
            "avatar_url": "",
            "internal": False,
            "mirror_interval": "",
            "object_format_name": "sha1",
            "mirror_updated": "0001-01-01T00:00:00Z",
            "repo_transfer": None,
            "topics": [],
        }

    def label(self, repo: Repo, label: Label) -> dict:
        return {
            "id": label.id,
            "name": label.name,
            "exclusive": label.exclusive,
            "is_archived": label.is_archived,
            "color": label.color.lstrip("#"),
            "description": label.description,
            "url": f"{self.api}/repos/{repo.full_name}/labels/{label.id}",
        }

    def issue_labels(self, repo: Repo, issue: Issue) -> list[dict]:
        """An issue's labels sorted by name, as Issue.LoadLabels reads them (FIDELITY M11)."""
        labels = sorted((repo.labels[i] for i in issue.label_ids if i in repo.labels), key=lambda lb: lb.name)
        return [self.label(repo, lb) for lb in labels]

    def issue(self, repo: Repo, issue: Issue, poster: User, comment_count: int) -> dict:
        html = f"{self.root_url}{repo.full_name}/{'pulls' if issue.pull else 'issues'}/{issue.index}"
        labels = self.issue_labels(repo, issue)
        pull_meta = None
        if issue.pull is not None:
            pull_meta = {
                "merged": issue.pull.merged,
                "merged_at": fmt_time(issue.pull.merged_at),
                "draft": False,
                "html_url": html,
            }
        return {
            "id": issue.id,
            "url": f"{self.api}/repos/{repo.full_name}/issues/{issue.index}",
            "html_url": html,
            "number": issue.index,
            "user": self.user(poster),
            "original_author": "",
            "original_author_id": 0,
            "title": issue.title,
            "body": issue.body,
            "ref": "",
            "assets": [],
            "labels": labels,
            "milestone": None,
            "assignee": None,
            "assignees": None,
            "state": issue.state,
            "is_locked": False,
            "comments": comment_count,
            "created_at": fmt_time(issue.created),
            "updated_at": fmt_time(issue.updated),
            "closed_at": fmt_time(issue.closed),
            "due_date": None,
            "pin_order": 0,
            "pull_request": pull_meta,
            "repository": {
                "id": repo.id,
                "name": repo.name,
                "owner": repo.owner,
                "full_name": repo.full_name,
            },
        }

    def comment(self, repo: Repo, comment: Comment, poster: User, is_pull: bool) -> dict:
        kind = "pulls" if is_pull else "issues"
        return {
            "id": comment.id,
            "html_url": f"{self.root_url}{repo.full_name}/{kind}/{comment.index}#issuecomment-{comment.id}",
            "pull_request_url": f"{self.root_url}{repo.full_name}/pulls/{comment.index}" if is_pull else "",
            "issue_url": f"{self.root_url}{repo.full_name}/issues/{comment.index}" if not is_pull else "",
            "user": self.user(poster),
            "original_author": "",
            "original_author_id": 0,
            "body": comment.body,
            "assets": [],
            "created_at": fmt_time(comment.created),
            "updated_at": fmt_time(comment.updated),
        }

    def commit_meta(self, repo: Repo, sha: str, created: str) -> dict:
        return {"url": f"{self.api}/repos/{repo.full_name}/git/commits/{sha}", "sha": sha, "created": created}

    def tag_protection(self, protection: TagProtection) -> dict:
        return {
            "id": protection.id,
            "name_pattern": protection.name_pattern,
            "whitelist_usernames": protection.whitelist_usernames,
            "whitelist_teams": protection.whitelist_teams,
            "created_at": fmt_time(protection.created),
            "updated_at": fmt_time(protection.created),
        }

    def hook(self, hook: Hook) -> dict:
        return {
            "id": hook.id,
            "type": hook.type,
            "branch_filter": hook.branch_filter,
            "url": hook.config.get("url", ""),
            "config": hook.config,
            "content_type": hook.config.get("content_type", ""),
            "metadata": None,
            "events": hook.events,
            "authorization_header": hook.authorization_header,
            "active": hook.active,
            "updated_at": fmt_time(hook.updated),
            "created_at": fmt_time(hook.created),
        }
