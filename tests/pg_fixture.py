"""A throwaway PostgreSQL 15 cluster for tests: initdb + pg_ctl on a free port under a temp dir.

Use the session fixture by importing it into a test module (or a conftest):

    from tests.pg_fixture import postgres_server  # noqa: F401

    def test_something(postgres_server):
        url = postgres_server.create_database("portal_test")   # postgresql://user:pw@127.0.0.1:port/db

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
`postgres` system user (override with SLIPWAY_PG_USER) in a directory that user owns.
It also runs standalone for the local demo, until interrupted:

    .venv/bin/python -m tests.pg_fixture     # prints the server's URL
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

PG_BIN = Path(os.environ.get("SLIPWAY_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "slipway"
START_ATTEMPTS = 3
COMMAND_TIMEOUT_S = 60
DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account the server's processes run as."""

    name: str
    uid: int
    gid: int

    @classmethod
    def for_current_process(cls) -> RunAs:
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
        else:
            entry = pwd.getpwnam(os.environ.get("SLIPWAY_PG_USER", "postgres"))
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid)

    def subprocess_kwargs(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_env(home: Path) -> dict[str, str]:
    return {"PATH": f"{PG_BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


@dataclass
class PostgresServer:
    """A running cluster; `url(db)` and `create_database(name)` give connection URLs."""

    base_dir: Path
    run_as: RunAs
    password: str
    host: str = "127.0.0.1"
    port: int = 0
    user: str = SUPERUSER
    _databases: list[str] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{quote(self.password, safe='')}@{self.host}:{self.port}/{database}"

    def _run(self, args: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            env=env or _server_env(self.base_dir),
            cwd=self.base_dir,
            check=False,
            **self.run_as.subprocess_kwargs(),  # type: ignore[arg-type]
        )

    def _checked(self, what: str, args: list[str], env: dict[str, str] | None = None) -> str:
        result = self._run(args, env=env)
        if result.returncode != 0:
            raise RuntimeError(
                f"{what} failed ({result.returncode}): {result.stderr.strip() or result.stdout}"
            )
        return result.stdout

    def init_cluster(self) -> None:
        password_file = self.base_dir / "pwfile"
        password_file.write_text(self.password + "\n")
        os.chown(password_file, self.run_as.uid, self.run_as.gid)
        password_file.chmod(0o600)
        self._checked(
            "initdb",
            [
                str(PG_BIN / "initdb"),
                f"--pgdata={self.data_dir}",
                f"--username={self.user}",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )
        password_file.unlink()

    def start(self) -> None:
        """Start on a free port, retrying with another when a racing process took it."""
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = find_free_port()
            options = (
                f"-p {self.port} -c listen_addresses={self.host} -k {self.base_dir} -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off"
            )
            result = self._run(
                [
                    str(PG_BIN / "pg_ctl"),
                    "start",
                    "--wait",
                    "--timeout=30",
                    f"--pgdata={self.data_dir}",
                    f"--log={self.log_file}",
                    f"--options={options}",
                ]
            )
            if result.returncode == 0:
                return
            if attempt == START_ATTEMPTS:
                log = self.log_file.read_text() if self.log_file.exists() else ""
                raise RuntimeError(f"pg_ctl start failed on port {self.port}: {result.stderr}\n{log[-2000:]}")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._run([str(PG_BIN / "pg_ctl"), "stop", "--wait", "--mode=fast", f"--pgdata={self.data_dir}"])

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL through psql as the superuser; returns unaligned, tuples-only output."""
        env = _server_env(self.base_dir) | {"PGPASSWORD": self.password}
        return self._checked(
            f"psql {sql!r}",
            [
                str(PG_BIN / "psql"),
                "--no-psqlrc",
                "--tuples-only",
                "--no-align",
                "--set=ON_ERROR_STOP=1",
                f"--host={self.host}",
                f"--port={self.port}",
                f"--username={self.user}",
                f"--dbname={database}",
                f"--command={sql}",
            ],
            env=env,
        )

    def create_database(self, name: str) -> str:
        """Create database `name` (a plain lower-case identifier); returns its URL."""
        if not DATABASE_NAME.match(name):
            raise ValueError(f"database name must match {DATABASE_NAME.pattern}: {name!r}")
        self.psql(f"CREATE DATABASE {name}")
        self._databases.append(name)
        return self.url(name)


def start_postgres_server() -> PostgresServer:
    """Create, initialise and start a cluster; the caller must `stop_postgres_server` it."""
    run_as = RunAs.for_current_process()
    base_dir = Path(tempfile.mkdtemp(prefix="slipway-pg-"))
    os.chown(base_dir, run_as.uid, run_as.gid)
    base_dir.chmod(0o700)
    server = PostgresServer(base_dir=base_dir, run_as=run_as, password=os.urandom(12).hex())
    try:
        server.init_cluster()
        server.start()
    except BaseException:
        stop_postgres_server(server)
        raise
    return server


def stop_postgres_server(server: PostgresServer) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server for the whole session (skips when PostgreSQL 15 is not installed)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing)")
    server = start_postgres_server()
    try:
        yield server
    finally:
        stop_postgres_server(server)


def main() -> None:
    server = start_postgres_server()
    print(server.url(), flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        stop_postgres_server(server)


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    main()
