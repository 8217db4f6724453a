"""A small Forgejo REST client (httpx) shared by the Slipway modules and the watcher.

Everything that talks to Forgejo goes through ``ForgejoClient``: base URL, owner/repo and token come
from configuration, so the same code runs against ``http://127.0.0.1:3001`` and a public ``https://``
Forgejo. Requests carry ``Authorization: token ...``; idempotent requests are retried with backoff on
connection errors and 5xx answers, a POST only when nothing reached the server; lists are paged with
``limit=50`` until a short page. Errors name the operation, the HTTP status and Forgejo's message, and
never contain the token.

Without httpx (pms1's system Python, before the toolkit's venv exists: slipway_prereqs and
slipway_forgejo_runner ask Forgejo through forgejo_repo_info then) the client sends its requests with
the standard library (``urllib``) instead, with the same headers, timeouts, retries and errors.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

try:
    import httpx

    HAS_HTTPX = True
    HTTPX_IMPORT_ERROR: str | None = None
except ImportError as exc:  # pragma: no cover - exercised through missing_required_lib
    httpx = None  # type: ignore[assignment]
    HAS_HTTPX = False
    HTTPX_IMPORT_ERROR = str(exc)

PAGE_LIMIT = 50  # Forgejo silently caps ``limit`` at 50
MAX_PAGES = 40  # be polite: at most 2000 items a listing
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
USER_AGENT = "slipway/1.0"


class ForgejoError(Exception):
    """A failed Forgejo operation: what was done, the HTTP status (if any) and the server's message."""

    def __init__(self, operation: str, status: int | None, message: str):
        self.operation = operation
        self.status = status
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.status is None:
            return f"{self.operation} failed: {self.message}"
        return f"{self.operation} failed: HTTP {self.status}: {self.message}"


@dataclass(frozen=True)
class ForgejoConfig:
    url: str
    repo: str  # "owner/name"
    token: str
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    validate_certs: bool = True

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]


def validate_config(cfg: ForgejoConfig) -> list[str]:
    """Problems with a configuration, in words a user can act on (empty when it is usable)."""
    problems = []
    if not cfg.url.startswith(("http://", "https://")):
        problems.append(f"forgejo_url must start with http:// or https:// (got {cfg.url!r})")
    parts = cfg.repo.split("/")
    if len(parts) != 2 or not all(parts):
        problems.append(f"repo must be 'owner/name' (got {cfg.repo!r})")
    if not cfg.token:
        problems.append("forgejo_token is empty")
    if cfg.retries < 0:
        problems.append("retries must be >= 0")
    return problems


def _server_message(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        message = str(data["message"])
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            message += " (" + "; ".join(str(e) for e in errors[:5]) + ")"
        return message
    text = (response.text or "").strip().replace("\n", " ")
    return text[:200] or response.reason_phrase or "no message"


class StdlibConnectError(Exception):
    """Nothing reached the server (refused, unknown host, connect timeout)."""


class StdlibTransportError(Exception):
    """The request may have reached the server, but no answer came back."""


class _StdlibResponse:
    """The part of an httpx.Response the client reads."""

    def __init__(self, status: int, body: bytes, reason: str) -> None:
        self.status_code = status
        self.content = body
        self.reason_phrase = reason or ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)  # a ValueError when it is not JSON, as httpx's


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a 3xx is the answer (httpx: no follow)
        return None


class _StdlibHttp:
    """The part of httpx.Client the client uses, on urllib: for a Python without httpx."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, verify: bool) -> None:
        self.base_url = base_url
        self.headers = headers
        self.timeout = timeout
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self._opener = urllib.request.build_opener(
            _NoRedirect(), urllib.request.HTTPSHandler(context=context)
        )

    def request(self, method: str, path: str, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        url = self.base_url + path + ("?" + urlencode(params, doseq=True) if params else "")
        headers = dict(self.headers)
        data = None
        if json is not None:
            data = jsonlib.dumps(json).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http(s) base URL
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return _StdlibResponse(answer.status, answer.read(), answer.reason)
        except urllib.error.HTTPError as exc:
            with exc:
                return _StdlibResponse(exc.code, exc.read(), str(exc.reason))
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (ConnectionRefusedError, socket.gaierror, TimeoutError, ssl.SSLError)):
                raise StdlibConnectError(f"{type(reason).__name__}: {reason}") from None
            raise StdlibTransportError(f"{type(reason).__name__}: {reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise StdlibTransportError(f"{type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        pass


_CONNECT_ERRORS: tuple[type[BaseException], ...] = (StdlibConnectError,)
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (StdlibTransportError,)
if HAS_HTTPX:
    _CONNECT_ERRORS += (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
    _TRANSPORT_ERRORS += (httpx.TransportError,)


class ForgejoClient:
    """One repository on one Forgejo, as the pipeline needs it."""

    def __init__(self, cfg: ForgejoConfig, sleep=time.sleep, stdlib: bool | None = None):
        """``stdlib``: send requests with urllib instead of httpx (default: only when httpx is missing)."""
        problems = validate_config(cfg)
        if problems:
            raise ValueError("; ".join(problems))
        self.cfg = cfg
        self._sleep = sleep
        self.request_count = 0
        headers = {
            "Authorization": f"token {cfg.token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if stdlib or not HAS_HTTPX:
            self._http = _StdlibHttp(
                cfg.url.rstrip("/") + "/api/v1",
                headers,
                timeout=max(cfg.connect_timeout, cfg.read_timeout),
                verify=cfg.validate_certs,
            )
            return
        self._http = httpx.Client(
            base_url=cfg.url.rstrip("/") + "/api/v1",
            headers=headers,
            timeout=httpx.Timeout(
                connect=cfg.connect_timeout,
                read=cfg.read_timeout,
                write=cfg.read_timeout,
                pool=cfg.connect_timeout,
            ),
            verify=cfg.validate_certs,
            follow_redirects=False,
        )

    # -- plumbing ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ForgejoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def repo_path(self) -> str:
        return f"/repos/{quote(self.cfg.owner, safe='')}/{quote(self.cfg.name, safe='')}"

    def _scrub(self, text: str) -> str:
        return text.replace(self.cfg.token, "***") if self.cfg.token else text

    def request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> Any:
        """Send one request with the retry policy; return the response (status in ``ok``) or raise."""
        method = method.upper()
        idempotent = method in IDEMPOTENT_METHODS
        attempt = 0
        while True:
            retryable, error = False, None
            try:
                self.request_count += 1
                response = self._http.request(method, path, params=params, json=json)
            except _CONNECT_ERRORS as exc:
                # Nothing reached the server: safe to retry whatever the method.
                retryable, error = True, ForgejoError(operation, None, self._connect_message(exc))
            except _TRANSPORT_ERRORS as exc:
                # The request may have reached the server: retry only what is idempotent.
                retryable = idempotent
                error = ForgejoError(operation, None, self._scrub(f"{type(exc).__name__}: {exc}"))
            else:
                if response.status_code in ok:
                    return response
                error = ForgejoError(operation, response.status_code, self._scrub(self._message(response)))
                retryable = idempotent and response.status_code >= 500
            if not retryable or attempt >= self.cfg.retries:
                raise error
            self._sleep(min(self.cfg.backoff * (2**attempt), 8.0))
            attempt += 1

    @staticmethod
    def _message(response: Any) -> str:
        message = _server_message(response)
        if response.status_code == 401:
            # Forgejo's words for an unknown token are "user does not exist [uid: 0, name: ]" (and "token
            # is required" without one): say what it means, on one line.
            return f"Forgejo rejected the token (check forgejo_token): {message}"
        return message

    def _connect_message(self, exc: Exception) -> str:
        return self._scrub(f"cannot reach Forgejo at {self.cfg.url} ({type(exc).__name__}: {exc})")

    def get_json(self, operation: str, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request(operation, "GET", path, params=params).json()

    def paginate(self, operation: str, path: str, params: dict[str, Any] | None = None) -> list[Any]:
        """All items of a paged listing: ``limit=50`` pages until one comes back short."""
        items: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            query = dict(params or {}, page=page, limit=PAGE_LIMIT)
            batch = self.get_json(f"{operation} (page {page})", path, query)
            if not isinstance(batch, list):
                raise ForgejoError(operation, None, "expected a JSON list from Forgejo")
            items.extend(batch)
            if len(batch) < PAGE_LIMIT:
                return items
        raise ForgejoError(operation, None, f"more than {MAX_PAGES * PAGE_LIMIT} items; refusing to page on")

    # -- repository ---------------------------------------------------------------------------------

    def get_repo(self) -> dict:
        return self.get_json(f"read repository {self.cfg.repo}", self.repo_path)

    def registration_token(self) -> str:
        data = self.get_json(
            f"get a runner registration token for {self.cfg.repo}",
            self.repo_path + "/actions/runners/registration-token",
        )
        return str(data["token"])

    # -- webhooks (repo admin) ------------------------------------------------------------------------

    def list_hooks(self) -> list[dict]:
        return self.paginate(f"list webhooks of {self.cfg.repo}", f"{self.repo_path}/hooks")

    def create_hook(self, body: dict) -> dict:
        return self.request(
            f"create a webhook in {self.cfg.repo}", "POST", f"{self.repo_path}/hooks", json=body, ok=(201,)
        ).json()

    def edit_hook(self, hook_id: int, body: dict) -> dict:
        return self.request(
            f"edit webhook {hook_id} of {self.cfg.repo}",
            "PATCH",
            f"{self.repo_path}/hooks/{int(hook_id)}",
            json=body,
            ok=(200,),
        ).json()

    # -- issues ---------------------------------------------------------------------------------------

    def get_issue(self, number: int) -> dict:
        return self.get_json(f"read issue #{number} of {self.cfg.repo}", f"{self.repo_path}/issues/{number}")

    def list_issues(self, labels: list[str] | None = None, state: str = "open") -> list[dict]:
        """Issues (never pull requests) carrying ALL of ``labels``, oldest first."""
        params: dict[str, Any] = {"state": state, "type": "issues"}
        if labels:
            params["labels"] = ",".join(labels)
        issues = self.paginate(f"list issues of {self.cfg.repo}", f"{self.repo_path}/issues", params)
        issues = [i for i in issues if not i.get("pull_request")]
        return sorted(issues, key=lambda i: (i.get("created_at") or "", i["number"]))

    def edit_issue(self, number: int, **fields: Any) -> dict:
        response = self.request(
            f"edit issue #{number} of {self.cfg.repo}",
            "PATCH",
            f"{self.repo_path}/issues/{number}",
            json=fields,
        )
        return response.json()

    def list_comments(self, number: int) -> list[dict]:
        # The comments listing has no paging parameters: one request returns them all.
        return self.get_json(
            f"list comments of issue #{number} of {self.cfg.repo}",
            f"{self.repo_path}/issues/{number}/comments",
        )

    def add_comment(self, number: int, body: str) -> dict:
        response = self.request(
            f"comment on issue #{number} of {self.cfg.repo}",
            "POST",
            f"{self.repo_path}/issues/{number}/comments",
            json={"body": body},
        )
        return response.json()

    def edit_comment(self, comment_id: int, body: str) -> dict:
        response = self.request(
            f"edit comment {comment_id} in {self.cfg.repo}",
            "PATCH",
            f"{self.repo_path}/issues/comments/{int(comment_id)}",
            json={"body": body},
        )
        return response.json()

    def permission_of(self, user: str) -> str:
        """The user's access to the repository: none, read, write, admin or owner."""
        found = self.get_json(
            f"read {user}'s permission on {self.cfg.repo}",
            f"{self.repo_path}/collaborators/{quote(user, safe='')}/permission",
        )
        return str(found.get("permission") or "none")

    def list_reviews(self, pull: int) -> list[dict]:
        return self.paginate(
            f"list reviews of pull request #{pull} of {self.cfg.repo}",
            f"{self.repo_path}/pulls/{pull}/reviews",
        )

    def review_comments(self, pull: int, review_id: int) -> list[dict]:
        return self.get_json(
            f"list comments of review {review_id} on pull request #{pull} of {self.cfg.repo}",
            f"{self.repo_path}/pulls/{pull}/reviews/{int(review_id)}/comments",
        )

    # -- labels ---------------------------------------------------------------------------------------

    def repo_labels(self) -> list[dict]:
        return self.paginate(f"list labels of {self.cfg.repo}", f"{self.repo_path}/labels")

    def create_label(self, name: str, color: str, description: str = "") -> dict:
        response = self.request(
            f"create label {name!r} in {self.cfg.repo}",
            "POST",
            f"{self.repo_path}/labels",
            json={"name": name, "color": color, "description": description},
        )
        return response.json()

    def edit_label(self, label_id: int, name: str, **fields: Any) -> dict:
        response = self.request(
            f"edit label {name!r} in {self.cfg.repo}",
            "PATCH",
            f"{self.repo_path}/labels/{label_id}",
            json=fields,
        )
        return response.json()

    def label_ids(self, names: list[str]) -> dict[str, int]:
        """Resolve label names to ids; a name the repository does not have is an error (the API
        would silently drop it)."""
        by_name = {label["name"]: int(label["id"]) for label in self.repo_labels()}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ForgejoError(
                f"resolve labels in {self.cfg.repo}",
                None,
                "label(s) not defined in the repository: " + ", ".join(sorted(missing)),
            )
        return {n: by_name[n] for n in names}

    def add_issue_labels(self, number: int, ids: list[int]) -> list[dict]:
        response = self.request(
            f"add labels to issue #{number} of {self.cfg.repo}",
            "POST",
            f"{self.repo_path}/issues/{number}/labels",
            json={"labels": ids},
        )
        return response.json()

    def replace_issue_labels(self, number: int, ids: list[int]) -> list[dict]:
        response = self.request(
            f"replace labels of issue #{number} of {self.cfg.repo}",
            "PUT",
            f"{self.repo_path}/issues/{number}/labels",
            json={"labels": ids},
        )
        return response.json()

    def remove_issue_label(self, number: int, label_id: int, name: str) -> None:
        self.request(
            f"remove label {name!r} from issue #{number} of {self.cfg.repo}",
            "DELETE",
            f"{self.repo_path}/issues/{number}/labels/{label_id}",
            ok=(204, 404),
        )

    def set_issue_labels(
        self, number: int, add: list[str], remove: list[str], current: list, check_mode: bool = False
    ) -> tuple[list[str], list[str], list[str]]:
        """The one way an issue's labels change: add and remove by name. ``current`` is the issue's
        labels (names, or Forgejo label objects whose ids then save a lookup); names neither there nor in
        the repository are an error, never silently dropped as the API would. Returns (the labels after,
        added, removed)."""
        known = {label["name"]: int(label["id"]) for label in current if isinstance(label, dict)}
        have = {label["name"] if isinstance(label, dict) else str(label) for label in current}
        to_add = sorted(set(add) - have)
        to_remove = sorted(set(remove) & have)
        unknown = sorted((set(add) | set(remove)) - set(known))
        if unknown:
            known.update(self.label_ids(unknown))
        if not check_mode:
            if to_add:
                self.add_issue_labels(number, [known[name] for name in to_add])
            for name in to_remove:
                self.remove_issue_label(number, known[name], name)
        return sorted((have | set(to_add)) - set(to_remove)), to_add, to_remove

    # -- pull requests -----------------------------------------------------------------------------------

    def pull_by_branches(self, base: str, head: str) -> dict | None:
        """The pull request from ``head`` to ``base`` (may be closed or merged), or None."""
        response = self.request(
            f"look up the pull request {head} -> {base} in {self.cfg.repo}",
            "GET",
            f"{self.repo_path}/pulls/{quote(base, safe='')}/{quote(head, safe='')}",
            ok=(200, 404),
        )
        return response.json() if response.status_code == 200 else None

    def list_pulls(self, state: str = "open", label_ids: list[int] | None = None) -> list[dict]:
        """Pull requests in ``state`` (``open``, ``closed`` or ``all``; always sent, since Forgejo's default
        without it is every state), carrying ANY of ``label_ids``: Forgejo takes ``labels`` as a repeated
        parameter (``labels=1&labels=2``); a comma-joined value is a 500."""
        params: dict[str, Any] = {"state": state}
        if label_ids:
            params["labels"] = [int(i) for i in label_ids]
        return self.paginate(
            f"list {state} pull requests of {self.cfg.repo}", f"{self.repo_path}/pulls", params
        )

    def open_pull_for(self, base: str, head: str) -> dict | None:
        """The open pull request from ``head`` to ``base``, or None.

        The lookup by base/head returns whichever matching PR the database finds first, in practice the
        OLDEST, which is a closed one when a fix branch is retried; then the open list decides.
        """
        found = self.pull_by_branches(base, head)
        if found and found.get("state") == "open":
            return found
        pulls = self.list_pulls("open")
        for pull in pulls:
            if (pull.get("head") or {}).get("ref") == head and (pull.get("base") or {}).get("ref") == base:
                return pull
        return None

    def create_pull(self, head: str, base: str, title: str, body: str) -> tuple[dict, bool]:
        """Create the PR; on 409 (an open one exists) return that one. Returns (pull, created)."""
        operation = f"open a pull request {head} -> {base} in {self.cfg.repo}"
        response = self.request(
            operation,
            "POST",
            f"{self.repo_path}/pulls",
            json={"head": head, "base": base, "title": title, "body": body},
            ok=(201, 409),
        )
        if response.status_code == 201:
            return response.json(), True
        existing = self.open_pull_for(base, head)
        if existing is None:
            raise ForgejoError(
                operation, 409, "Forgejo reported a conflict but no open pull request was found"
            )
        return existing, False

    def ensure_pull(
        self, head: str, base: str, title: str, body: str, check_mode: bool = False
    ) -> tuple[dict | None, bool, dict | None]:
        """The one way a pull request is opened: the open PR from ``head`` to ``base`` with this title and
        body, created, or edited when one is open already (a retried fix brings its new summary). Returns
        (the pull, created, the title and body before an edit or None); in check mode nothing is written
        and the pull is None when it would be created."""
        wanted = {"title": title, "body": body}
        if check_mode:
            pull = self.open_pull_for(base, head)
            if pull is None:
                return None, True, None
        else:
            pull, created = self.create_pull(head, base, title, body)
            if created:
                return pull, True, None
        before = {"title": pull.get("title", ""), "body": pull.get("body") or ""}
        if before != wanted and not check_mode:
            pull = self.edit_pull(pull["number"], **wanted)
        return pull, False, before

    def edit_pull(self, number: int, **fields: Any) -> dict:
        response = self.request(
            f"edit pull request #{number} of {self.cfg.repo}",
            "PATCH",
            f"{self.repo_path}/pulls/{number}",
            json=fields,
        )
        return response.json()


def label_names(issue: dict) -> list[str]:
    return sorted(label["name"] for label in issue.get("labels") or [])


def summarize_issue(issue: dict) -> dict:
    """The fields the pipeline uses, in a stable shape."""
    return {
        "number": issue["number"],
        "title": issue.get("title", ""),
        "body": issue.get("body") or "",
        "state": issue.get("state"),
        "labels": label_names(issue),
        "user": (issue.get("user") or {}).get("login"),
        "created_at": issue.get("created_at"),
        "updated_at": issue.get("updated_at"),
        "html_url": issue.get("html_url"),
        "comments_count": issue.get("comments", 0),
    }


def summarize_comment(comment: dict) -> dict:
    return {
        "id": comment["id"],
        "body": comment.get("body") or "",
        "user": (comment.get("user") or {}).get("login"),
        "created_at": comment.get("created_at"),
        "html_url": comment.get("html_url"),
    }


def client_for(cfg: Any) -> ForgejoClient:
    """A client from the watcher's configuration (``config.WatcherConfig``: its URL, repository, token
    and timeouts)."""
    return ForgejoClient(
        ForgejoConfig(
            url=cfg.forgejo_url,
            repo=cfg.repo,
            token=cfg.token,
            connect_timeout=cfg.forgejo_connect_timeout,
            read_timeout=cfg.forgejo_read_timeout,
            retries=cfg.forgejo_retries,
        )
    )
