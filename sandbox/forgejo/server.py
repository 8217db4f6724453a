"""HTTP front of the Forgejo double: API dispatch with token auth, git smart HTTP, faults, log."""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from sandbox.forgejo.api import ApiError, Call, Forge, Reply, not_found
from sandbox.forgejo.gitrepo import git_env

if TYPE_CHECKING:
    from sandbox.forgejo_double import ForgejoDouble

API_PREFIX = "/api/v1"
GIT_PATH_RE = re.compile(r"^/(?P<owner>[^/]+)/(?P<repo>[^/]+?)\.git(?P<rest>/.*)$")
GIT_BACKEND_TIMEOUT = 300.0
READ_METHODS = {"GET", "HEAD"}


@dataclass
class RecordedRequest:
    """One request the double answered (or dropped)."""

    method: str
    path: str  # as sent (still percent-encoded), without the query string (includes /api/v1)
    query: dict[str, str]  # last value of each parameter (see query_multi for repeated ones)
    request_json: Any
    status: int | None  # None when the connection was dropped by a fault
    response_headers: dict[str, str]
    response_json: Any = None
    response_text: str = ""
    kind: str = "api"  # "api" or "git"
    injected: bool = False  # answered by an injected fault, not by the double's logic
    duration: float = 0.0
    started: float = field(default_factory=time.time)
    query_multi: dict[str, list[str]] = field(default_factory=dict)  # every value, in order

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Fault:
    status: int | None
    count: int | None
    delay: float
    drop: bool
    method: str | None
    path_regex: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return not self.path_regex or re.search(self.path_regex, path) is not None


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first active fault matching the request; uses up one of its count."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count <= 0:
                            self._faults.remove(fault)
                    return fault
        return None


def extract_token(header: str | None) -> str | None:
    """Token from `token X`, `Bearer X` or basic auth (password, else username)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme in {"token", "bearer"}:
        return value.strip() or None
    if scheme == "basic":
        try:
            user, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return password or user or None
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: DoubleHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # Every method goes through the same dispatcher.
    def do_GET(self) -> None:  # noqa: N802
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET  # noqa: N815

    @property
    def double(self) -> ForgejoDouble:
        return self.server.double

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def dispatch(self) -> None:
        started = time.monotonic()
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        pairs = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        query = dict(pairs)
        query_multi: dict[str, list[str]] = {}
        for key, value in pairs:
            query_multi.setdefault(key, []).append(value)
        body = self.read_body()
        if path.startswith("/_double/"):
            self.double._control(self, path, body)
            return
        kind = "git" if GIT_PATH_RE.match(path) else "api"
        record = RecordedRequest(
            self.command, path, query, _try_json(body), None, {}, kind=kind, query_multi=query_multi
        )
        fault = self.double._faults.take(self.command, path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                record.injected = True
                self._finish(record, started)
                self.drop()
                return
            if fault.status is not None:
                record.injected = True
                payload = {
                    "message": f"injected fault: HTTP {fault.status}",
                    "url": self.double._forge.render.swagger_url,
                }
                self._respond_json(record, started, fault.status, payload, {})
                return
        if kind == "git":
            self._git(record, started, path, split.query, body)
        elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            self._api(record, started, path[len(API_PREFIX) :] or "/", query_multi, body)
        else:
            self._respond_json(record, started, 404, {"message": "Not Found"}, {})

    # ------------------------------------------------------------------ API

    def _api(
        self, record: RecordedRequest, started: float, api_path: str, query: dict[str, list[str]], body: bytes
    ) -> None:
        forge = self.double._forge
        try:
            reply = self._api_reply(forge, api_path, query, body, record)
        except ApiError as err:
            payload: dict[str, Any] = {"message": err.message, "url": forge.render.swagger_url}
            if err.errors is not None or err.null_errors:
                payload["errors"] = err.errors
            reply = Reply(err.status, payload)
        self._respond_json(record, started, reply.status, reply.body, reply.headers)

    def _api_reply(
        self, forge: Forge, api_path: str, query: dict[str, list[str]], body: bytes, record: RecordedRequest
    ) -> Reply:
        # Forgejo routes on the raw (still percent-encoded) path and unescapes each parameter, so a
        # branch `release/1.0` sent as `release%2F1.0` is one path segment (FIDELITY M9).
        matched = forge.match(self.command, api_path.rstrip("/") or "/")
        if matched is None:
            raise not_found()
        route, params = matched
        params = {key: urllib.parse.unquote(value) for key, value in params.items()}
        # The auth group runs first on every API path: a token that is sent but unknown is a 401 for
        # every route, /version included (services/auth/oauth2.go:205-208; FIDELITY M5).
        sent = extract_token(self.headers.get("Authorization"))
        auth = forge.authenticate(sent)
        if sent is not None and auth is None:
            raise ApiError(401, "user does not exist [uid: 0, name: ]")
        doer, token = auth if auth is not None else (None, None)
        write = self.command not in READ_METHODS
        if route.category is not None:
            if token is None:
                # Anonymous reads of a public repository are allowed (FIDELITY M4); a private one is
                # hidden (repoAssignment: 404). Writes, admin routes and /user need a token (reqToken).
                hidden = forge.repos.get((params.get("owner", ""), params.get("repo", "")))
                if hidden is not None and hidden.private:
                    raise not_found()
                if write or route.admin or route.category == "user":
                    raise ApiError(401, "token is required")
            elif not forge.has_scope(token, route.category, write):
                needed = f"{'write' if write else 'read'}:{route.category}"
                raise ApiError(403, f"token does not have at least one of required scope(s): [{needed}]")
        if body and record.request_json is None:
            raise ApiError(422, "invalid JSON in request body")
        with forge.lock:
            repo = forge.repo(params["owner"], params["repo"]) if "owner" in params else None
            if (
                route.admin
                and doer is not None
                and repo is not None
                and not (doer.admin or doer.name == repo.owner)
            ):
                raise ApiError(
                    403, "user should be an owner or a collaborator with admin write of a repository"
                )
            call = Call(
                self.command,
                params,
                {key: values[-1] for key, values in query.items()},
                record.request_json,
                doer,
                repo,
                api_path,
                query,
            )
            return route.handler(call)

    def _respond_json(
        self, record: RecordedRequest, started: float, status: int, payload: Any, headers: dict[str, str]
    ) -> None:
        out_headers = dict(headers)
        data = b""
        if payload is not None:
            data = json.dumps(payload).encode()
            out_headers["Content-Type"] = "application/json;charset=utf-8"
        record.status = status
        record.response_headers = out_headers
        record.response_json = payload
        record.response_text = data.decode()
        self._finish(record, started)
        self.send(status, data, out_headers)

    def _finish(self, record: RecordedRequest, started: float) -> None:
        record.duration = time.monotonic() - started
        self.double._record(record)

    # ------------------------------------------------------------------ git

    def _git(self, record: RecordedRequest, started: float, path: str, raw_query: str, body: bytes) -> None:
        forge = self.double._forge
        found = GIT_PATH_RE.match(path)
        assert found is not None
        owner, name, rest = found["owner"], found["repo"], found["rest"]
        if (owner, name) not in forge.repos:
            self._git_plain(record, started, 404, "Repository not found\n", {})
            return
        service = (
            dict(urllib.parse.parse_qsl(raw_query)).get("service", "") if rest == "/info/refs" else rest[1:]
        )
        write = service == "git-receive-pack"
        sent = extract_token(self.headers.get("Authorization"))
        auth = forge.authenticate(sent)
        if auth is None and (write or sent is not None or forge.repos[(owner, name)].private):
            # Anonymous clone of a public repository is allowed; pushing is not
            # (routers/web/repo/githttp.go:128-130; FIDELITY M4).
            challenge = {"WWW-Authenticate": 'Basic realm="Forgejo"'}
            self._git_plain(record, started, 401, "Unauthorized\n", challenge)
            return
        user, token = auth if auth is not None else (None, None)
        # A token needs write:repository to push, read:repository to read a private repository; reading
        # a public repository needs no scope.
        needs_scope = write or forge.repos[(owner, name)].private
        if needs_scope and token is not None and not forge.has_scope(token, "repository", write):
            needed = f"{'write' if write else 'read'}:repository"
            self._git_plain(
                record,
                started,
                403,
                f"token does not have at least one of required scope(s): [{needed}]\n",
                {},
            )
            return
        env = git_env(
            forge.home,
            {
                "GIT_PROJECT_ROOT": str(forge.repos_dir),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": f"/{owner}/{name}.git{rest}",
                "QUERY_STRING": raw_query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type") or "",
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": user.name if user is not None else "",
                "REMOTE_ADDR": self.client_address[0],
                "GIT_PROTOCOL": self.headers.get("Git-Protocol") or "",
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding") or "",
            },
        )
        proc = subprocess.run(
            ["git", "http-backend"], input=body, capture_output=True, env=env,
            timeout=GIT_BACKEND_TIMEOUT, check=False, cwd=forge.home,
        )  # fmt: skip
        head, _, payload = _split_cgi(proc.stdout)
        status, headers = 200, {}
        for line in head.decode(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split(" ")[0])
            elif key:
                headers[key.strip()] = value.strip()
        record.status, record.response_headers = status, headers
        record.response_text = proc.stderr.decode(errors="replace")
        self._finish(record, started)
        self.send(status, payload, headers)

    def _git_plain(
        self, record: RecordedRequest, started: float, status: int, text: str, headers: dict
    ) -> None:
        out = {"Content-Type": "text/plain; charset=utf-8", **headers}
        record.status, record.response_headers, record.response_text = status, out, text
        self._finish(record, started)
        self.send(status, text.encode(), out)


def _split_cgi(output: bytes) -> tuple[bytes, bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = output.find(sep)
        if idx != -1:
            return output[:idx], sep, output[idx + len(sep) :]
    return output, b"", b""


def _try_json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


class DoubleHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], double: ForgejoDouble) -> None:
        self.double = double
        super().__init__(address, Handler)
