"""The portal fixture is a real Next.js app: it installs, builds, serves and migrates.

Installs and builds happen in temporary copies made by scripts/make-portal-repo, never in
tests/fixtures/portal itself. One `pnpm build` per session, shared by the server tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import pg_fixture
from tests.pg_fixture import PostgresServer, find_free_port

pytestmark = pytest.mark.integration

postgres_server = pg_fixture.postgres_server  # the session fixture, used by the migration tests

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "portal"
MAKE_PORTAL_REPO = REPO_ROOT / "scripts" / "make-portal-repo"
INSTALL_NODE_TOOLS = REPO_ROOT / "scripts" / "install-node-tools"
MIGRATIONS = sorted(
    p.parent.name for p in (FIXTURE / "App" / "prisma" / "migrations").glob("*/migration.sql")
)

INSTALL_TIMEOUT_S = 300
BUILD_TIMEOUT_S = 400
SERVER_READY_TIMEOUT_S = 60


@dataclass(frozen=True)
class NodeTools:
    pnpm: Path
    pm2: Path

    def env(self, **extra: str) -> dict[str, str]:
        """An explicit environment for pnpm/node: no inherited DATABASE_URL, PORT or APP_VERSION."""
        path = os.pathsep.join([str(self.pnpm.parent), "/usr/local/bin", "/usr/bin", "/bin"])
        base = {
            "PATH": path,
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "NEXT_TELEMETRY_DISABLED": "1",
            "CI": "1",
        }
        return base | extra


@dataclass(frozen=True)
class Timed:
    result: subprocess.CompletedProcess[str]
    seconds: float


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> Timed:
    started = time.monotonic()
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Timed(result, time.monotonic() - started)


def run_ok(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> Timed:
    timed = run(args, cwd, env, timeout)
    assert timed.result.returncode == 0, (
        f"{args} failed ({timed.result.returncode}):\n{timed.result.stdout[-3000:]}\n{timed.result.stderr[-3000:]}"
    )
    return timed


def make_portal_repo(dest: Path, *extra: str) -> Path:
    result = subprocess.run(
        [str(MAKE_PORTAL_REPO), str(dest), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},
    )
    assert result.stdout.strip() == str(dest)
    return dest


def bug_facts() -> dict[str, str]:
    """File, old/new strings and before/after outputs, as BUG.md states them."""
    text = (FIXTURE / "BUG.md").read_text()
    return {
        "file": re.search(r"^- File: `([^`]+)`", text, re.M).group(1),
        "old": re.search(r"^- Old string: `([^`]+)`", text, re.M).group(1),
        "new": re.search(r"^- New string: `([^`]+)`", text, re.M).group(1),
        "request": re.search(r"^ {4}GET (\S+)", text, re.M).group(1),
        "before": re.search(r"Before the fix:\n\n {4}(.+)", text).group(1),
        "after": re.search(r"After the fix:\n\n {4}(.+)", text).group(1),
    }


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    result = subprocess.run(
        [str(INSTALL_NODE_TOOLS)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},
    )
    assert result.returncode == 0, result.stderr
    pnpm, pm2 = (Path(line) for line in result.stdout.split())
    return NodeTools(pnpm=pnpm, pm2=pm2)


@pytest.fixture(scope="session")
def installed_portal(tmp_path_factory: pytest.TempPathFactory, node_tools: NodeTools) -> Path:
    """A fresh portal repo with `pnpm install --frozen-lockfile` done; its App/ directory."""
    repo = make_portal_repo(tmp_path_factory.mktemp("portal-build") / "repo")
    app = repo / "App"
    timed = run_ok(
        [str(node_tools.pnpm), "install", "--frozen-lockfile"], app, node_tools.env(), INSTALL_TIMEOUT_S
    )
    print(f"\npnpm install --frozen-lockfile: {timed.seconds:.1f} s")
    return app


@pytest.fixture(scope="session")
def built_portal(installed_portal: Path, node_tools: NodeTools) -> Path:
    timed = run_ok([str(node_tools.pnpm), "build"], installed_portal, node_tools.env(), BUILD_TIMEOUT_S)
    print(f"\npnpm build: {timed.seconds:.1f} s")
    return installed_portal


@pytest.fixture(scope="session")
def warm_store_install(
    tmp_path_factory: pytest.TempPathFactory, installed_portal: Path, node_tools: NodeTools
) -> Timed:
    """A second fresh copy installed offline, from the store the first install filled."""
    repo = make_portal_repo(tmp_path_factory.mktemp("portal-warm") / "repo")
    timed = run_ok(
        [str(node_tools.pnpm), "install", "--frozen-lockfile", "--offline"],
        repo / "App",
        node_tools.env(),
        INSTALL_TIMEOUT_S,
    )
    print(f"\npnpm install --frozen-lockfile --offline (warm store): {timed.seconds:.1f} s")
    return timed


@pytest.fixture
def scratch_app(tmp_path: Path, warm_store_install: Timed, node_tools: NodeTools) -> Path:
    """A fresh, installed App/ of this test's own (edits in it touch no other test)."""
    app = make_portal_repo(tmp_path / "repo") / "App"
    run_ok(
        [str(node_tools.pnpm), "install", "--frozen-lockfile", "--offline"],
        app,
        node_tools.env(),
        INSTALL_TIMEOUT_S,
    )
    return app


@dataclass
class RunningPortal:
    base_url: str
    process: subprocess.Popen[bytes]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base_url + path, timeout=10)


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Stop `pnpm start` and the next-server it spawned: its own session, so its own group."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def wait_until_serving(portal: RunningPortal, log: Path) -> None:
    deadline = time.monotonic() + SERVER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if portal.process.poll() is not None:
            pytest.fail(f"pnpm start exited with {portal.process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if portal.get("/api/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"portal did not serve /api/health within {SERVER_READY_TIMEOUT_S} s:\n{log.read_text()}")


def start_portal(app: Path, node_tools: NodeTools, log: Path, **env: str) -> RunningPortal:
    port = find_free_port()
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(node_tools.pnpm), "start"],
            cwd=app,
            env=node_tools.env(PORT=str(port), **env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    portal = RunningPortal(base_url=f"http://127.0.0.1:{port}", process=process)
    try:
        wait_until_serving(portal, log)
    except BaseException:
        stop_process_group(process)
        raise
    return portal


@pytest.fixture(scope="module")
def running_portal(
    built_portal: Path, node_tools: NodeTools, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPortal]:
    log = tmp_path_factory.mktemp("portal-server") / "start.log"
    started = time.monotonic()
    portal = start_portal(built_portal, node_tools, log)
    print(f"\npnpm start until /api/health answers: {time.monotonic() - started:.1f} s")
    try:
        yield portal
    finally:
        stop_process_group(portal.process)


def migrate(app: Path, node_tools: NodeTools, database_url: str | None, *args: str) -> Timed:
    env = node_tools.env() if database_url is None else node_tools.env(DATABASE_URL=database_url)
    return run([str(node_tools.pnpm), "--silent", "migrate", *args], app, env)


# --- the fixture tree and the repository made from it ---------------------------------------


def test_fixture_tree_holds_no_install_or_build_output() -> None:
    leftovers = [p for name in ("node_modules", ".next", ".env") for p in FIXTURE.rglob(name)]
    assert leftovers == []


def test_make_portal_repo_commits_fixture_on_main_tagged_v0_1_0(tmp_path: Path) -> None:
    repo = make_portal_repo(tmp_path / "portal")

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()

    assert git("branch", "--show-current") == "main"
    assert git("rev-parse", "v0.1.0^{commit}") == git("rev-parse", "HEAD")
    assert git("status", "--porcelain") == ""
    assert git("config", "user.email")
    files = set(git("ls-files").splitlines())
    assert {".gitignore", "App/package.json", "App/pnpm-lock.yaml", "App/prisma/schema.prisma"} <= files
    assert "BUG.md" not in files and "dot-gitignore" not in files
    assert json.loads((repo / "App" / "package.json").read_text())["version"] == "0.1.0"


def test_make_portal_repo_with_version_sets_package_version_and_tag(tmp_path: Path) -> None:
    repo = make_portal_repo(tmp_path / "portal", "--version", "2.3.4")
    tags = subprocess.run(
        ["git", "-C", str(repo), "tag", "--points-at", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert tags == ["v2.3.4"]
    assert json.loads((repo / "App" / "package.json").read_text())["version"] == "2.3.4"


def test_portal_gitignore_ignores_env_build_output_and_dependencies(tmp_path: Path) -> None:
    repo = make_portal_repo(tmp_path / "portal")
    for name in ("App/.env", "App/.next/BUILD_ID", "App/node_modules/x/index.js"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x")
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True, check=True
    ).stdout
    assert status == ""


def test_make_portal_repo_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    result = subprocess.run(
        [str(MAKE_PORTAL_REPO), str(tmp_path / "taken")], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "not empty" in result.stderr


# --- node tools, install and build ------------------------------------------------------------


def test_install_node_tools_provides_pinned_pnpm_10_and_pm2_6(node_tools: NodeTools) -> None:
    pnpm_version = run_ok([str(node_tools.pnpm), "--version"], REPO_ROOT, node_tools.env())
    assert pnpm_version.result.stdout.strip().startswith("10.")
    package_manager = json.loads((FIXTURE / "App" / "package.json").read_text())["packageManager"]
    assert package_manager == f"pnpm@{pnpm_version.result.stdout.strip()}"
    # Not `pm2 --version`: every pm2 command starts a pm2 daemon.
    pm2_package = node_tools.pm2.resolve().parents[1] / "package.json"
    assert json.loads(pm2_package.read_text())["version"].startswith("6.")


def test_frozen_lockfile_install_provides_next_react_and_pg(installed_portal: Path) -> None:
    for package in ("next", "react", "react-dom", "pg", "prisma", "@prisma/client", "@prisma/adapter-pg"):
        assert (installed_portal / "node_modules" / package / "package.json").exists(), package


def test_install_from_a_warm_store_works_offline_in_seconds(warm_store_install: Timed) -> None:
    assert warm_store_install.seconds < 30


def test_build_produces_a_production_build(built_portal: Path) -> None:
    assert (built_portal / ".next" / "BUILD_ID").read_text().strip()
    routes = json.loads((built_portal / ".next" / "app-path-routes-manifest.json").read_text())
    assert "/api/health" in routes.values()


# --- the running server -----------------------------------------------------------------------


def test_health_reports_ok_and_the_package_version(running_portal: RunningPortal) -> None:
    response = running_portal.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "0.1.0"}


def test_tonnage_serves_the_buggy_output_bug_md_describes(running_portal: RunningPortal) -> None:
    facts = bug_facts()
    response = running_portal.get(facts["request"])
    assert response.status_code == 200
    assert response.json() == json.loads(facts["before"])


def test_tonnage_rejects_a_value_that_is_not_a_number(running_portal: RunningPortal) -> None:
    assert running_portal.get("/api/tonnage?value=heavy").status_code == 400


def test_health_version_comes_from_the_environment_and_package_at_start_not_build(
    built_portal: Path, running_portal: RunningPortal, node_tools: NodeTools, tmp_path: Path
) -> None:
    with_env = start_portal(built_portal, node_tools, tmp_path / "env.log", APP_VERSION="9.8.7")
    try:
        assert with_env.get("/api/health").json()["version"] == "9.8.7"
    finally:
        stop_process_group(with_env.process)

    package_json = built_portal / "package.json"
    original = package_json.read_text()
    package_json.write_text(original.replace('"version": "0.1.0"', '"version": "0.2.0"', 1))
    try:
        bumped = start_portal(built_portal, node_tools, tmp_path / "bumped.log")
        try:
            assert bumped.get("/api/health").json()["version"] == "0.2.0"
        finally:
            stop_process_group(bumped.process)
    finally:
        package_json.write_text(original)


def call_route_handler(app: Path, node_tools: NodeTools, request_path: str) -> object:
    """The JSON the app's route handler for `request_path` answers, called by node without a build."""
    route = app / "app" / request_path.split("?")[0].lstrip("/") / "route.js"
    script = (
        "const [route, url] = process.argv.slice(1);"
        "const { GET } = await import(route);"
        "console.log(JSON.stringify(await GET(new Request(url)).json()));"
    )
    timed = run_ok(
        ["node", "--input-type=module", "-e", script, str(route), f"http://127.0.0.1{request_path}"],
        app,
        node_tools.env(),
    )
    return json.loads(timed.result.stdout)


# --- the known bug and pnpm test:integration ----------------------------------------------------


def test_integration_tests_fail_before_the_bug_md_fix_and_pass_after(
    scratch_app: Path, node_tools: NodeTools
) -> None:
    facts = bug_facts()
    pnpm_test = [str(node_tools.pnpm), "test:integration"]
    before = run(pnpm_test, scratch_app, node_tools.env())
    assert before.result.returncode != 0
    assert "not ok" in before.result.stdout and "rounds half a tonne up" in before.result.stdout
    assert call_route_handler(scratch_app, node_tools, facts["request"]) == json.loads(facts["before"])

    target = scratch_app.parent / facts["file"]
    source = target.read_text()
    assert source.count(facts["old"]) == 1, "BUG.md's old string must match exactly once"
    target.write_text(source.replace(facts["old"], facts["new"]))

    after = run_ok(pnpm_test, scratch_app, node_tools.env())
    assert call_route_handler(scratch_app, node_tools, facts["request"]) == json.loads(facts["after"])
    assert "# fail 0" in after.result.stdout
    assert "# skipped 1" in after.result.stdout  # the database check, without DATABASE_URL


def test_integration_tests_check_the_migrations_table_when_database_url_is_set(
    scratch_app: Path, node_tools: NodeTools, postgres_server: PostgresServer
) -> None:
    facts = bug_facts()
    target = scratch_app.parent / facts["file"]
    target.write_text(target.read_text().replace(facts["old"], facts["new"]))
    url = postgres_server.create_database("portal_itest")
    pnpm_test = [str(node_tools.pnpm), "test:integration"]

    unmigrated = run(pnpm_test, scratch_app, node_tools.env(DATABASE_URL=url))
    assert unmigrated.result.returncode != 0
    assert "_prisma_migrations" in unmigrated.result.stdout

    assert migrate(scratch_app, node_tools, url).result.returncode == 0
    migrated = run_ok(pnpm_test, scratch_app, node_tools.env(DATABASE_URL=url))
    assert "# skipped 0" in migrated.result.stdout


# --- migrations (prisma migrate deploy through prisma.config.ts: Prisma 6.19.3, no download) -----


def recorded_migrations(server: PostgresServer, database: str) -> list[str]:
    return server.psql(
        "SELECT migration_name FROM _prisma_migrations"
        " WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY 1",
        database,
    ).split()


def public_tables(server: PostgresServer, database: str) -> list[str]:
    return server.psql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", database
    ).split()


def test_migrate_applies_every_migration_in_order_and_records_it(
    scratch_app: Path, node_tools: NodeTools, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database("portal_migrate_all")
    timed = migrate(scratch_app, node_tools, url)
    assert timed.result.returncode == 0, timed.result.stderr
    print(f"\npnpm migrate = prisma migrate deploy ({len(MIGRATIONS)} migrations): {timed.seconds:.2f} s")
    assert "All migrations have been successfully applied." in timed.result.stdout
    shown = re.findall(r"^\s*└─ (\S+)/$", timed.result.stdout, re.M)
    assert shown == MIGRATIONS
    assert recorded_migrations(postgres_server, "portal_migrate_all") == MIGRATIONS
    assert public_tables(postgres_server, "portal_migrate_all") == [
        "_prisma_migrations",
        "issue_reports",
        "vessels",
    ]


def test_migrate_second_run_applies_nothing(
    scratch_app: Path, node_tools: NodeTools, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database("portal_migrate_twice")
    assert migrate(scratch_app, node_tools, url).result.returncode == 0
    query = "SELECT migration_name, started_at, finished_at FROM _prisma_migrations ORDER BY 1"
    applied_at = postgres_server.psql(query, "portal_migrate_twice")

    second = migrate(scratch_app, node_tools, url)
    assert second.result.returncode == 0, second.result.stderr
    assert second.result.stdout.strip().endswith("No pending migrations to apply.")
    assert postgres_server.psql(query, "portal_migrate_twice") == applied_at


def test_migrate_stops_at_a_broken_migration_naming_it_undoing_it_and_refusing_after(
    scratch_app: Path, node_tools: NodeTools, postgres_server: PostgresServer
) -> None:
    migrations = scratch_app / "prisma" / "migrations"
    for name, sql in (
        (
            "20991231000000_add_half_a_table",
            "CREATE TABLE half_made (id INT);\nALTER TABLE no_such_table ADD COLUMN x INT;\n",
        ),
        ("20991231000100_after_the_broken_one", "CREATE TABLE after_broken (id INT);\n"),
    ):
        (migrations / name).mkdir()
        (migrations / name / "migration.sql").write_text(sql)
    url = postgres_server.create_database("portal_migrate_broken")

    result = migrate(scratch_app, node_tools, url).result

    assert result.returncode == 1
    assert 'migration_name="20991231000000_add_half_a_table"' in result.stderr
    assert "no_such_table" in result.stderr
    assert recorded_migrations(postgres_server, "portal_migrate_broken") == MIGRATIONS
    tables = public_tables(postgres_server, "portal_migrate_broken")
    assert "half_made" not in tables, "a migration runs as one transaction"
    assert "after_broken" not in tables
    assert "vessels" in tables

    again = migrate(scratch_app, node_tools, url).result
    assert again.returncode == 1
    assert "P3009" in again.stderr and "`20991231000000_add_half_a_table` migration" in again.stderr
    # README: the SQL equivalent of `prisma migrate resolve --rolled-back` (broken in 6.19.3)
    postgres_server.psql(
        "UPDATE _prisma_migrations SET rolled_back_at = now()"
        " WHERE migration_name = '20991231000000_add_half_a_table' AND finished_at IS NULL",
        "portal_migrate_broken",
    )
    (migrations / "20991231000000_add_half_a_table" / "migration.sql").write_text(
        "CREATE TABLE half_made (id INT);\n"
    )
    fixed = migrate(scratch_app, node_tools, url).result
    assert fixed.returncode == 0, fixed.stderr
    assert {"half_made", "after_broken"} <= set(public_tables(postgres_server, "portal_migrate_broken"))


def test_migration_bodies_are_not_split_on_semicolons(
    scratch_app: Path, node_tools: NodeTools, postgres_server: PostgresServer
) -> None:
    name = "20991231000000_function_and_literal"
    (scratch_app / "prisma" / "migrations" / name).mkdir()
    (scratch_app / "prisma" / "migrations" / name / "migration.sql").write_text(
        "CREATE TABLE notes (body TEXT NOT NULL DEFAULT 'a; b');\n"
        "CREATE FUNCTION two() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 2;\nEND;\n$$;\n"
    )
    url = postgres_server.create_database("portal_migrate_semicolons")
    result = migrate(scratch_app, node_tools, url).result
    assert result.returncode == 0, result.stderr
    assert postgres_server.psql("SELECT two()", "portal_migrate_semicolons").strip() == "2"


def test_migrate_without_database_url_fails_saying_so(scratch_app: Path, node_tools: NodeTools) -> None:
    result = migrate(scratch_app, node_tools, None).result
    assert result.returncode == 1
    assert "DATABASE_URL is not set" in result.stderr + result.stdout
    assert "binaries.prisma.sh" not in result.stderr + result.stdout


def test_migrate_reads_database_url_from_dot_env(
    scratch_app: Path, node_tools: NodeTools, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database("portal_migrate_dotenv")
    (scratch_app / ".env").write_text(f"PORT=3100\nDATABASE_URL={url}?schema=public\n")
    assert migrate(scratch_app, node_tools, None).result.returncode == 0
    assert recorded_migrations(postgres_server, "portal_migrate_dotenv") == MIGRATIONS


def test_vessels_route_reads_the_database_through_prisma_client(
    built_portal: Path, node_tools: NodeTools, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = postgres_server.create_database("portal_vessels")
    assert migrate(built_portal, node_tools, url).result.returncode == 0
    postgres_server.psql(
        "INSERT INTO vessels (name, gross_tonnage) VALUES ('MV Aegean Dawn', 1234.5)", "portal_vessels"
    )
    portal = start_portal(built_portal, node_tools, tmp_path / "vessels.log", DATABASE_URL=url)
    try:
        response = portal.get("/api/vessels")
    finally:
        stop_process_group(portal.process)
    assert response.status_code == 200, (tmp_path / "vessels.log").read_text()[-2000:]
    assert response.json() == [
        {"name": "MV Aegean Dawn", "imoNumber": None, "grossTonnage": 1234.5, "formatted": "1,234 t"}
    ]
