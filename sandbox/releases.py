"""What the release host tests and bench/release-downtime share: tagged portal versions, a repository
pms1 can fetch, and an HTTP prober of the app port."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.playbook import ROOT
from sandbox.site import APP_USER

# tag -> what the version is for
GOOD = ("v0.1.0", "v0.1.1", "v0.1.5", "v0.1.6", "v0.1.7")
BUILD_FAILS = "v0.1.2"
MIGRATION_FAILS = "v0.1.3"
HEALTH_FAILS = "v0.1.4"  # serves, but reports the wrong version
DRIFT = "v0.3.0"  # v0.1.7 plus a migration (a rollback from it crosses a migration)
DRIFT_MIGRATION = "prisma/migrations/20260401000000_add_release_notes"


def run_git(repo: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LANG": "C.UTF-8",
    }
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout


def set_version(work: Path, version: str) -> None:
    package = work / "App/package.json"
    text = package.read_text()
    current = json.loads(text)["version"]
    package.write_text(text.replace(f'"version": "{current}"', f'"version": "{version}"', 1))


def _commit_and_tag(work: Path, tag: str, message: str) -> None:
    run_git(work, "add", "--all")
    run_git(work, "commit", "--quiet", "-m", message)
    run_git(work, "tag", "-a", tag, "-m", f"Release {tag}")


MIGRATIONS = "App/prisma/migrations"
# v0.1.1's new migration: a `$$` body and a `;` inside a string literal (adapter-pg 6.19.3 would
# split both apart; the fixture's prisma.config.ts sends a migration as one query).
NEW_MIGRATION = "20260201000000_add_port_calls"
NEW_MIGRATION_SQL = """-- Port calls of the vessels.
CREATE TABLE port_calls (
    id         SERIAL PRIMARY KEY,
    vessel_id  INTEGER NOT NULL REFERENCES vessels (id),
    port       TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT 'berth; pilot',
    arrived_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE FUNCTION port_calls_upper_port() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.port := upper(NEW.port);
    RETURN NEW;
END;
$$;

CREATE TRIGGER port_calls_upper_port BEFORE INSERT ON port_calls
    FOR EACH ROW EXECUTE FUNCTION port_calls_upper_port();
"""
# v0.1.3's migration: its first statement works, its second fails (nothing of it may stay).
BROKEN_MIGRATION = "20260301000000_broken"
BROKEN_MIGRATION_SQL = "CREATE TABLE half_made (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n"


def make_portal_versions(work: Path) -> Path:
    """A working repository with the fixture tagged v0.1.0 and every later scenario's tag."""
    subprocess.run(
        [str(ROOT / "scripts/make-portal-repo"), str(work), "--version", "0.1.0"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    set_version(work, "0.1.1")
    (work / MIGRATIONS / NEW_MIGRATION).mkdir()
    (work / MIGRATIONS / NEW_MIGRATION / "migration.sql").write_text(NEW_MIGRATION_SQL)
    _commit_and_tag(work, "v0.1.1", "Portal 0.1.1 (a new migration)")

    base = run_git(work, "rev-parse", "HEAD").strip()
    set_version(work, "0.1.2")
    broken = work / "App/app/broken/page.js"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("export default function Broken() {\n  return <div>{\n}\n")
    _commit_and_tag(work, BUILD_FAILS, "Portal 0.1.2 (does not build)")

    run_git(work, "checkout", "--quiet", base, "--", ".")
    run_git(work, "rm", "-r", "--quiet", "--cached", "App/app/broken")
    shutil.rmtree(work / "App/app/broken")
    set_version(work, "0.1.3")
    (work / MIGRATIONS / BROKEN_MIGRATION).mkdir()
    (work / MIGRATIONS / BROKEN_MIGRATION / "migration.sql").write_text(BROKEN_MIGRATION_SQL)
    _commit_and_tag(work, MIGRATION_FAILS, "Portal 0.1.3 (migration fails)")

    shutil.rmtree(work / MIGRATIONS / BROKEN_MIGRATION)
    set_version(work, "0.1.40")  # the health check wants 0.1.4
    _commit_and_tag(work, HEALTH_FAILS, "Portal 0.1.4 (reports the wrong version)")

    for tag in GOOD[2:]:
        set_version(work, tag[1:])
        _commit_and_tag(work, tag, f"Portal {tag[1:]}")

    set_version(work, DRIFT[1:])
    (work / "App" / DRIFT_MIGRATION).mkdir()
    (work / "App" / DRIFT_MIGRATION / "migration.sql").write_text("CREATE TABLE release_notes (id int);\n")
    _commit_and_tag(work, DRIFT, f"Portal {DRIFT[1:]} (adds a migration)")
    return work


def publish_into_host(work: Path, rootfs: Path, path_in_host: str = "/srv/git/portal.git") -> str:
    """A bare copy of ``work`` inside the host's rootfs, owned by the app user; its path there."""
    target = rootfs / path_in_host.lstrip("/")
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(work), str(target)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    uid, gid = _user_ids(rootfs, APP_USER)
    for dirpath, _dirs, files in os.walk(target):
        os.chown(dirpath, uid, gid)
        for name in files:
            os.chown(os.path.join(dirpath, name), uid, gid)
    return path_in_host


def _user_ids(rootfs: Path, user: str) -> tuple[int, int]:
    for line in (rootfs / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise LookupError(f"no user {user} in {rootfs}/etc/passwd")


def health_version(port: int, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=timeout) as answer:
            return json.loads(answer.read()).get("version")
    except (OSError, ValueError):
        return None


@dataclass
class ProbeReport:
    sent: int = 0
    failed: int = 0
    longest_gap_ms: float = 0.0
    versions: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    slow: list[tuple[float, float]] = field(
        default_factory=list, repr=False
    )  # (end wall time, gap ms) >= 100


class Prober:
    """Requests /api/health at a steady rate in a thread, counting failures and the longest gap
    between successful answers."""

    def __init__(self, port: int, interval: float = 0.05, path: str = "/api/health") -> None:
        self.port, self.interval, self.path = port, interval, path
        self.report = ProbeReport()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.is_set():
            started = time.monotonic()
            self.report.sent += 1
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.path}", timeout=2) as answer:
                    body = answer.read()
                version = json.loads(body).get("version", "?") if self.path == "/api/health" else "ok"
                self.report.versions[version] = self.report.versions.get(version, 0) + 1
                now = time.monotonic()
                gap_ms = (now - last_ok) * 1000
                self.report.longest_gap_ms = max(self.report.longest_gap_ms, gap_ms)
                if gap_ms >= 100:
                    self.report.slow.append((time.time(), round(gap_ms)))
                last_ok = now
            except urllib.error.HTTPError as exc:
                self.report.failed += 1
                self.report.errors[f"HTTP {exc.code}"] = self.report.errors.get(f"HTTP {exc.code}", 0) + 1
            except (OSError, ValueError) as exc:
                self.report.failed += 1
                kind = type(getattr(exc, "reason", exc)).__name__
                self.report.errors[kind] = self.report.errors.get(kind, 0) + 1
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
