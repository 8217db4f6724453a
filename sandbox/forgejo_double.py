"""A faithful Forgejo test double: real HTTP on 127.0.0.1, in-memory state, bare git repos.

In process::

    double = ForgejoDouble(tmp_path).start()
    double.add_user("shad0w", admin=True)
    token = double.add_token("shad0w", ["write:issue", "write:repository"])
    double.create_repo("shad0w", "pelagia-portal", source_dir=some_dir)

Out of process::

    python -m sandbox.forgejo_double --data DIR [--port N] [--root-url U] [--ready-file F]

prints ``FORGEJO_DOUBLE_URL=http://127.0.0.1:PORT`` and serves until SIGTERM; the same
set-up operations are available as JSON POSTs under ``/_double/`` (no token needed).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox.forgejo.api import ApiError, Forge
from sandbox.forgejo.server import DoubleHTTPServer, Fault, Faults, Handler, RecordedRequest

__all__ = ["ForgejoDouble", "RecordedRequest", "main"]


class ForgejoDouble:
    """The Forgejo double. Start it, seed it, point the toolkit at `url`."""

    def __init__(
        self, data_dir: Path, host: str = "127.0.0.1", port: int = 0, root_url: str | None = None
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self._root_url = root_url
        self._server: DoubleHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._forge: Forge | None = None  # type: ignore[assignment]
        self._faults = Faults()
        self._log_lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.url = ""
        # Set by the pytest fixture for convenience; unused by the double itself.
        self.owner = ""
        self.repo = ""
        self.token = ""

    # ------------------------------------------------------------- lifecycle

    def start(self) -> ForgejoDouble:
        self._server = DoubleHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._forge = Forge(self.data_dir, self._root_url or self.url + "/")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="forgejo-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ForgejoDouble:
        return self if self._server else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def forge(self) -> Forge:
        if self._forge is None:
            raise RuntimeError("ForgejoDouble.start() has not been called")
        return self._forge

    @property
    def root_url(self) -> str:
        return self.forge.render.root_url

    # ---------------------------------------------------------------- set-up

    def add_user(self, name: str, admin: bool = False) -> dict:
        return self.forge.add_user(name, admin)

    def add_token(self, user: str, scopes: list[str]) -> str:
        return self.forge.add_token(user, list(scopes))

    def create_repo(
        self,
        owner: str,
        name: str,
        default_branch: str = "main",
        source_dir: Path | None = None,
        files: dict[str, bytes] | None = None,
        private: bool = False,
    ) -> dict:
        """A bare repo; `source_dir`'s files (or `files`, name -> content) become the first commit.

        Repositories are public unless `private`: like Forgejo, anyone may then read a public one (API
        and clone) without a token; a private one is 404 on the API and asks for credentials over git."""
        return self.forge.create_repo(owner, name, default_branch, source_dir, files, private)

    def git_url(self, owner: str, repo: str) -> str:
        return f"{self.url}/{owner}/{repo}.git"

    def repo_path(self, owner: str, repo: str) -> Path:
        """Where the bare repository lives on disk."""
        return self.forge.repo(owner, repo).git.path

    def create_label(
        self, owner: str, repo: str, name: str, color: str = "#ededed", description: str = ""
    ) -> dict:
        forge = self.forge
        with forge.lock:
            r = forge.repo(owner, repo)
            return forge.render.label(r, forge.new_label(r, name, color, description))

    def create_issue(
        self,
        owner: str,
        repo: str,
        title: str,
        body: str = "",
        labels: Sequence[str] = (),
        user: str | None = None,
    ) -> dict:
        forge = self.forge
        with forge.lock:
            r = forge.repo(owner, repo)
            ids = self._label_ids(r, labels)
            poster = user or owner
            forge.add_user(poster)
            return forge.render_issue(r, forge.new_issue(r, title, body, poster, ids))

    def add_comment(self, owner: str, repo: str, index: int, body: str, user: str | None = None) -> dict:
        forge = self.forge
        with forge.lock:
            r = forge.repo(owner, repo)
            forge.get_issue(r, index)
            poster = user or owner
            forge.add_user(poster)
            return forge.render_comment(r, forge.new_comment(r, int(index), body, poster))

    def add_review(
        self,
        owner: str,
        repo: str,
        index: int,
        user: str,
        state: str,
        body: str = "",
        comments: Sequence[tuple[str, str]] = (),
    ) -> dict:
        """A submitted review on a PR (state APPROVED, COMMENT or REQUEST_CHANGES), with code comments
        as (path, body)."""
        forge = self.forge
        with forge.lock:
            r = forge.repo(owner, repo)
            forge.add_user(user)
            review = forge.new_review(r, int(index), user, state, body, list(comments))
            return forge.render_review(r, review)

    def set_collaborator(self, owner: str, repo: str, user: str, permission: str) -> None:
        """Make ``user`` a collaborator with read, write or admin access."""
        forge = self.forge
        with forge.lock:
            forge.add_user(user)
            forge.repo(owner, repo).collaborators[user] = permission

    @staticmethod
    def _label_ids(repo: Any, names: Sequence[str]) -> list[int]:
        """Unlike the API, the set-up helper fails loudly on unknown label names."""
        by_name = {label.name: label.id for label in repo.labels.values()}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise KeyError(f"labels not defined in {repo.full_name}: {missing}")
        return [by_name[n] for n in names]

    # ---------------------------------------------------------- inspection

    def issue(self, owner: str, repo: str, index: int) -> dict:
        forge = self.forge
        with forge.lock:
            r = forge.repo(owner, repo)
            return forge.render_issue(r, forge.get_issue(r, index))

    def issue_label_names(self, owner: str, repo: str, index: int) -> list[str]:
        return [label["name"] for label in self.issue(owner, repo, index)["labels"]]

    def comments(self, owner: str, repo: str, index: int) -> list[dict]:
        forge = self.forge
        with forge.lock:
            r = forge.repo(owner, repo)
            items = sorted((c for c in r.comments.values() if c.index == int(index)), key=lambda c: c.id)
            return [forge.render_comment(r, c) for c in items]

    def pulls(self, owner: str, repo: str) -> list[dict]:
        forge = self.forge
        with forge.lock:
            r = forge.repo(owner, repo)
            items = sorted((i for i in r.issues.values() if i.pull is not None), key=lambda i: i.index)
            return [forge.render_pull(r, i, None) for i in items]

    def labels(self, owner: str, repo: str) -> list[dict]:
        forge = self.forge
        with forge.lock:
            r = forge.repo(owner, repo)
            return [forge.render.label(r, lb) for lb in sorted(r.labels.values(), key=lambda lb: lb.id)]

    def hooks(self, owner: str, repo: str) -> list[dict]:
        forge = self.forge
        with forge.lock:
            return [forge.render.hook(h) for h in forge.repo(owner, repo).hooks.values()]

    # ------------------------------------------------------ faults and log

    def inject_fault(
        self,
        status: int | None = None,
        count: int | None = 1,
        delay: float = 0.0,
        drop: bool = False,
        method: str | None = None,
        path_regex: str | None = None,
    ) -> None:
        """The next `count` matching requests (None: all) get `status`, a delay, or a dropped connection."""
        if path_regex is not None:
            re.compile(path_regex)
        self._faults.add(Fault(status, count, float(delay), bool(drop), method, path_regex))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _record(self, record: RecordedRequest) -> None:
        with self._log_lock:
            self.requests.append(record)

    def reset_requests(self) -> None:
        with self._log_lock:
            self.requests.clear()

    def api_requests(self) -> list[RecordedRequest]:
        """Recorded REST calls only (no git smart-HTTP)."""
        with self._log_lock:
            return [r for r in self.requests if r.kind == "api"]

    # -------------------------------------------------------- control plane

    def _control(self, handler: Handler, path: str, body: bytes) -> None:
        try:
            payload = json.loads(body) if body else {}
            status, result = self._control_dispatch(handler.command, path.removeprefix("/_double"), payload)
        except (KeyError, ValueError, TypeError) as err:
            status, result = 400, {"error": str(err)}
        except ApiError as err:
            status, result = err.status, {"error": err.message}
        data = json.dumps(result).encode()
        handler.send(status, data, {"Content-Type": "application/json"})

    def _control_dispatch(self, method: str, path: str, p: dict) -> tuple[int, Any]:
        if method == "GET" and path == "/health":
            return 200, {"url": self.url, "root_url": self.root_url}
        if method == "POST" and path == "/users":
            return 201, self.add_user(p["name"], bool(p.get("admin", False)))
        if method == "POST" and path == "/tokens":
            return 201, {"token": self.add_token(p["user"], p["scopes"])}
        if method == "POST" and path == "/repos":
            source = Path(p["source_dir"]) if p.get("source_dir") else None
            files = {name: text.encode() for name, text in (p.get("files") or {}).items()}
            return 201, self.create_repo(
                p["owner"], p["name"], p.get("default_branch", "main"), source, files, bool(p.get("private"))
            )
        if method == "POST" and path == "/labels":
            args = (p["owner"], p["repo"], p["name"], p.get("color", "#ededed"), p.get("description", ""))
            return 201, self.create_label(*args)
        if method == "POST" and path == "/issues":
            args = (p["owner"], p["repo"], p["title"], p.get("body", ""), p.get("labels", ()), p.get("user"))
            return 201, self.create_issue(*args)
        if method == "POST" and path == "/comments":
            return 201, self.add_comment(p["owner"], p["repo"], int(p["index"]), p["body"], p.get("user"))
        if method == "POST" and path == "/faults":
            self.inject_fault(**p)
            return 201, {}
        if method == "DELETE" and path == "/faults":
            self.clear_faults()
            return 200, {}
        if method == "GET" and path == "/requests":
            with self._log_lock:
                return 200, [r.to_dict() for r in self.requests]
        if method == "DELETE" and path == "/requests":
            self.reset_requests()
            return 200, {}
        return self._control_read(method, path)

    def _control_read(self, method: str, path: str) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) == 4 and parts[0] == "issues":
            return 200, self.issue(parts[1], parts[2], int(parts[3]))
        if method == "GET" and len(parts) == 5 and parts[0] == "issues" and parts[4] == "comments":
            return 200, self.comments(parts[1], parts[2], int(parts[3]))
        if method == "GET" and len(parts) == 3 and parts[0] in {"pulls", "labels", "hooks"}:
            getter = {"pulls": self.pulls, "labels": self.labels, "hooks": self.hooks}[parts[0]]
            return 200, getter(parts[1], parts[2])
        return 404, {"error": f"no control operation {method} {path}"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.forgejo_double", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data", required=True, type=Path, help="directory for bare repos and scratch files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--root-url", default=None, help="public ROOT_URL used in links (default: own address)"
    )
    parser.add_argument("--ready-file", type=Path, default=None, help="write the URL here once serving")
    args = parser.parse_args(argv)

    double = ForgejoDouble(args.data, host=args.host, port=args.port, root_url=args.root_url).start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    line = f"FORGEJO_DOUBLE_URL={double.url}"
    if args.ready_file is not None:
        tmp = args.ready_file.with_suffix(args.ready_file.suffix + ".tmp")
        tmp.write_text(double.url + "\n")
        tmp.replace(args.ready_file)
    print(line, flush=True)
    while not stopping.is_set():
        stopping.wait(0.5)
    double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
