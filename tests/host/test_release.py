"""Zero-downtime releases on the disposable pms1: release.yml and rollback.yml end to end.

One module-wide setup (Node role, the portal's tagged versions in a bare repository inside the
host, the shared .env) and a sequence of scenarios that build on each other's live release, in file
order, so that each Next.js build is done once.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sandbox.playbook import ROOT, VENV_BIN, PlaybookRun, playbook_env, run_playbook
from sandbox.pms1 import free_port
from sandbox.releases import (
    BROKEN_MIGRATION,
    BUILD_FAILS,
    DRIFT,
    DRIFT_MIGRATION,
    HEALTH_FAILS,
    MIGRATION_FAILS,
    NEW_MIGRATION,
    Prober,
    health_version,
    make_portal_versions,
    publish_into_host,
)

BASE = "/home/deploy/pms"
TIMEOUT = 540
MIGRATE_TASK = "slipway_release : Run the database migrations."
# The host's own default: a controller path made by root would be unusable for the app user.
REMOTE_TEMP = {"ANSIBLE_REMOTE_TEMP": "~/.ansible/tmp"}


class Site:
    """The release setup on the shared host, and ways to run the playbooks against it."""

    def __init__(self, pms1: Any, inventory: Path, workdir: Path, port: int) -> None:
        self.pms1, self.inventory, self.workdir, self.port = pms1, inventory, workdir, port
        self.vars = {
            "slipway_release_become": True,
            "slipway_release_repo_url": "/srv/git/portal.git",
            "slipway_release_port": port,
            "slipway_release_health_timeout": 30,
        }
        self.runs = 0

    def _dir(self) -> Path:
        self.runs += 1
        path = self.workdir / f"run-{self.runs}"
        path.mkdir()
        return path

    def play(
        self, playbook: str, env: dict[str, str] | None = None, check: bool = False, **extra: Any
    ) -> PlaybookRun:
        return run_playbook(
            self._dir(),
            Path(playbook),
            args=["-i", str(self.inventory), *(["--check"] if check else [])],
            extra_vars={**self.vars, **extra},
            env={**REMOTE_TEMP, **(env or {})},
            timeout=TIMEOUT,
        )

    def release(
        self, tag: str | None, env: dict[str, str] | None = None, check: bool = False, **extra: Any
    ) -> PlaybookRun:
        if tag is not None:
            extra["tag"] = tag
        return self.play("release.yml", env=env, check=check, **extra)

    def start_release(self, tag: str, **extra: Any) -> subprocess.Popen:
        """release.yml in the background (its own process group), output to a file."""
        run_dir = self._dir()
        vars_file = run_dir / "vars.json"
        vars_file.write_text(json.dumps({**self.vars, **extra, "tag": tag}))
        out = (run_dir / "output.txt").open("w")
        return subprocess.Popen(
            [
                str(VENV_BIN / "ansible-playbook"),
                "release.yml",
                "-i",
                str(self.inventory),
                "-e",
                f"@{vars_file}",
            ],
            cwd=ROOT,
            env=playbook_env(run_dir, REMOTE_TEMP),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def sh(self, script: str, check: bool = True) -> str:
        return self.pms1.ssh("bash", "-c", script, check=check, timeout=120).stdout

    def live(self) -> str:
        return self.sh(f"readlink {BASE}/current").strip().removeprefix("releases/")

    def releases(self) -> list[str]:
        return sorted(self.sh(f"ls -1 {BASE}/releases").split())

    def log(self) -> list[list[str]]:
        return [line.split("\t") for line in self.sh(f"cat {BASE}/releases.log").splitlines() if line]

    def pm2_processes(self) -> list[tuple[Any, ...]]:
        apps = json.loads(
            self.sh("runuser -u deploy -- env HOME=/home/deploy pm2 jlist | sed -n '/^\\[/,$p'")
        )
        return sorted(
            (app["name"], app["pid"], app["pm2_env"]["restart_time"], app["pm2_env"]["pm_cwd"])
            for app in apps
        )

    def sql(self, query: str) -> str:
        """A query's rows (unaligned, tuples only) in the production database, as postgres."""
        facts = self.pms1.facts
        return self.sh(
            f"runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -p {facts['pg_port']} "
            f"-d {facts['prod_db']} -c {shlex.quote(query)}"
        )

    def migrations(self) -> list[str]:
        """name|state of every row of _prisma_migrations, oldest first."""
        return self.sql(
            "SELECT migration_name || '|' || CASE WHEN rolled_back_at IS NOT NULL THEN 'rolled back'"
            " WHEN finished_at IS NOT NULL THEN 'applied' ELSE 'failed' END"
            " FROM _prisma_migrations ORDER BY started_at"
        ).splitlines()

    def lock_is_free(self) -> bool:
        return self.sh(f"flock --nonblock {BASE}/deploy.lock echo free", check=False).strip() == "free"


def failure_message(run: PlaybookRun) -> str:
    """The msg of the last failed task, as ansible printed it."""
    messages = re.findall(r'"msg": "((?:[^"\\]|\\.)*)"', run.stdout)
    return json.loads(f'"{messages[-1]}"') if messages else run.output[-2000:]


@pytest.fixture(scope="module")
def site(pms1: Any, pms1_inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Site:
    workdir = tmp_path_factory.mktemp("release")
    node = run_playbook(
        workdir,
        [{"name": "Node for the app user.", "hosts": "pms1", "become": True, "roles": ["slipway_node"]}],
        args=["-i", str(pms1_inventory)],
        env=REMOTE_TEMP,
        timeout=TIMEOUT,
    )
    assert node.rc == 0, node.output[-3000:]
    make_portal_versions(workdir / "portal")
    publish_into_host(workdir / "portal", pms1.rootfs)
    facts = pms1.facts
    env_line = (
        f"DATABASE_URL=postgresql://{facts['pg_user']}:{facts['pg_password']}@127.0.0.1:{facts['pg_port']}/"
        f"{facts['prod_db']}?schema=public"
    )
    pms1.ssh(
        "bash",
        "-c",
        f"install -d -o deploy -g deploy -m 750 {BASE} {BASE}/shared {BASE}/shared/App && "
        f"install -o deploy -g deploy -m 600 /dev/stdin {BASE}/shared/App/.env",
        input=env_line + "\nPORT=3000\n",
    )
    return Site(pms1, pms1_inventory, workdir, free_port({pms1.ssh_port, facts["pg_port"]}))


@pytest.mark.parametrize("tag", ["v1.2", "v1.2.3;id", "../x", "", "v1.2.3\n", "V1.2.3", None])
def test_bad_tags_are_refused_before_anything_happens(site: Site, tag: str | None) -> None:
    run = site.release(tag)
    assert run.rc != 0
    message = failure_message(run)
    assert "is not of the form vX.Y.Z" in message, message
    assert "\n" not in message.strip()
    assert site.sh(f"ls {BASE}").split() == ["shared"], "nothing may be made before the tag is checked"


def test_a_tag_missing_from_the_repository_is_refused(site: Site) -> None:
    run = site.release("v9.9.9")
    assert run.rc != 0
    assert failure_message(run) == "release: the tag v9.9.9 does not exist in /srv/git/portal.git"
    assert site.sh(f"ls -A {BASE}/releases") == ""


def test_first_release_goes_live_under_pm2_cluster_through_current(site: Site) -> None:
    run = site.release("v0.1.0")
    assert run.rc == 0, run.output[-3000:]
    print(
        f"\nmigrate deploy (2 migrations) in the first release: {run.task(MIGRATE_TASK)['result']['delta']}"
    )
    assert health_version(site.port) == "0.1.0"
    assert site.live().startswith("v0.1.0-")
    apps = json.loads(site.sh("runuser -u deploy -- env HOME=/home/deploy pm2 jlist | sed -n '/^\\[/,$p'"))
    ppms = [app for app in apps if app["name"] == "ppms"]
    assert len(ppms) == 2
    assert {app["pm2_env"]["exec_mode"] for app in ppms} == {"cluster_mode"}
    assert {app["pm2_env"]["pm_cwd"] for app in ppms} == {f"{BASE}/current/App"}
    assert site.sh("systemctl is-enabled pm2-deploy").strip() == "enabled"
    assert "ppms" in site.sh("cat /home/deploy/.pm2/dump.pm2")
    assert site.lock_is_free()
    # the real `pnpm exec prisma migrate deploy` (the role's default) made the fixture's tables
    assert site.migrations() == [
        "20260101000000_create_vessels|applied",
        "20260101000100_create_issue_reports|applied",
    ]


def test_a_release_switches_to_the_new_version_without_failed_requests(site: Site) -> None:
    old = site.live()
    with Prober(site.port) as probe:
        run = site.release("v0.1.1")
    assert run.rc == 0, run.output[-3000:]
    print(f"\nmigrate deploy (1 new migration) in the release: {run.task(MIGRATE_TASK)['result']['delta']}")
    assert health_version(site.port) == "0.1.1"
    print(f"release v0.1.0 -> v0.1.1: {probe.report}")
    assert probe.report.failed == 0, probe.report
    assert probe.report.versions.get("0.1.1", 0) > 0
    assert site.sh(f"readlink {BASE}/previous").strip() == f"releases/{old}"
    assert len(site.sh(f"ls {BASE}/backups/*.dump").split()) == 2
    log = site.sh(f"tail -n 1 {BASE}/releases.log").rstrip("\n").split("\t")
    assert log[1:3] == ["release", "v0.1.1"] and log[4] == "ok"


def test_a_release_applies_its_new_migration_with_prisma(site: Site) -> None:
    """v0.1.1 (live now) brought a migration: applied once, atomically, recorded by Prisma."""
    assert site.migrations()[-1] == f"{NEW_MIGRATION}|applied"
    assert len(site.migrations()) == 3
    assert (
        site.sql(
            "SELECT column_default FROM information_schema.columns"
            " WHERE table_name = 'port_calls' AND column_name = 'note'"
        )
        == "'berth; pilot'::text\n"
    )
    site.sql("INSERT INTO vessels (name, gross_tonnage) VALUES ('MV Aegean Dawn', 1234.5)")
    site.sql("INSERT INTO port_calls (vessel_id, port) SELECT id, 'piraeus' FROM vessels")
    assert site.sql("SELECT port FROM port_calls").split() == ["PIRAEUS"], "the $$ body was cut"
    # Prisma Client in the live release reads the table the first migration made
    with urllib.request.urlopen(f"http://127.0.0.1:{site.port}/api/vessels", timeout=10) as answer:
        vessels = json.loads(answer.read())
    assert vessels == [
        {"name": "MV Aegean Dawn", "imoNumber": None, "grossTonnage": 1234.5, "formatted": "1,234 t"}
    ]
    site.sql("DELETE FROM port_calls; DELETE FROM vessels")


def _assert_failed_release_left_live(
    site: Site, run: PlaybookRun, live: str, tag: str, kept_bad: bool = False
) -> str:
    assert run.rc != 0
    message = failure_message(run)
    assert message.startswith(f"release {tag} failed at step '"), message
    assert f"The live release {live} keeps serving" in message
    assert site.live() == live
    assert health_version(site.port) == "0.1.1"
    left = [name for name in site.releases() if name.startswith(tag)]
    result = site.sh(f"tail -n 1 {BASE}/releases.log").split("\t")[4]
    assert result.startswith("failed at ")
    if kept_bad:  # it went live and failed its health check: kept, marked bad, skipped by rollbacks
        assert len(left) == 1, left
        assert "health check failed" in site.sh(f"cat {BASE}/releases/{left[0]}/.slipway-bad")
        assert result.endswith("; marked bad") and f"The release {left[0]} is kept, marked bad" in message
    else:
        assert not left, "half-made release left behind"
    assert site.lock_is_free()
    return message


def test_a_build_failure_leaves_the_live_release_serving(site: Site) -> None:
    live = site.live()
    with Prober(site.port) as probe:
        run = site.release(BUILD_FAILS)
    message = _assert_failed_release_left_live(site, run, live, BUILD_FAILS)
    assert "'Build the release.'" in message
    assert probe.report.failed == 0


def test_a_migration_failure_stops_before_the_switch_and_names_the_backup(site: Site) -> None:
    live = site.live()
    run = site.release(MIGRATION_FAILS)
    message = _assert_failed_release_left_live(site, run, live, MIGRATION_FAILS)
    assert "'Stop when the migrations failed.'" in message, message
    assert f"pnpm exec prisma migrate deploy exited 1: migration {BROKEN_MIGRATION}:" in message
    assert "no_such_table" in message and "the next release refuses (P3009)" in message
    backup = re.search(r"backup taken before migrating: (\S+\.dump)", message)
    assert backup, message
    assert site.sh(f"test -s {backup.group(1)} && echo present").strip() == "present"
    # one transaction: the statement before the failing one left nothing behind
    assert site.sql("SELECT to_regclass('half_made') IS NULL") == "t\n"
    assert site.migrations()[-1] == f"{BROKEN_MIGRATION}|failed"
    migrate = run.task(MIGRATE_TASK)
    print(f"\nfailing migrate deploy in the release: {migrate['result']['delta']}")


def test_the_next_release_refuses_until_the_failed_migration_is_resolved(site: Site) -> None:
    live = site.live()
    # The database password, looked for in every argv and in the environment of every process
    # running Prisma, sampled while the release runs (grep reads it from a file).
    site.pms1.ssh(
        "bash", "-c", "umask 077; cat > /root/db-password", input=site.pms1.facts["pg_password"] + "\n"
    )
    site.sh(
        "rm -f /root/secret-seen /root/stop-sampling; "
        "(while [ ! -e /root/stop-sampling ]; do ps -eww -o args= | grep -F -f /root/db-password >> /root/secret-seen;"
        " for p in $(pgrep -f prisma); do grep -l -a -F -f /root/db-password /proc/$p/environ >> /root/secret-seen;"
        " done; sleep 0.1; done) >/dev/null 2>&1 </dev/null & disown"
    )
    try:
        run = site.release(HEALTH_FAILS)  # no broken migration in it, but Prisma refuses all the same
    finally:
        site.sh("touch /root/stop-sampling; sleep 0.3")
    assert site.sh("cat /root/secret-seen") == "", "the database password was in an argv or prisma's environ"
    message = _assert_failed_release_left_live(site, run, live, HEALTH_FAILS)
    assert f"prisma migrate deploy exited 1: migration {BROKEN_MIGRATION}: Error: P3009." in message
    assert "blocks every release until resolved" in message
    assert f"prisma migrate resolve --applied {BROKEN_MIGRATION}" in message
    # what the message says to do, as printed (prisma 6.19.3's `migrate resolve --rolled-back`
    # wants the native schema engine; this is the same update)
    resolve = re.search(r"UPDATE _prisma_migrations SET rolled_back_at = now\(\) WHERE .*? IS NULL", message)
    assert resolve, message
    site.sql(resolve.group(0))
    assert site.migrations()[-1] == f"{BROKEN_MIGRATION}|rolled back"


def test_a_failed_health_check_switches_back(site: Site) -> None:
    live = site.live()
    with Prober(site.port) as probe:
        run = site.release(HEALTH_FAILS)
    message = _assert_failed_release_left_live(site, run, live, HEALTH_FAILS, kept_bad=True)
    assert "health check with version 0.1.4" in message and '"0.1.40"' in message
    assert run.task(MIGRATE_TASK)["result"]["rc"] == 0  # the resolved migration blocks no more
    assert probe.report.versions.get("0.1.40", 0) > 0, "the bad version was live for a while"
    assert probe.report.failed == 0, probe.report


def test_a_killed_release_leaves_the_live_release_and_the_next_one_works(site: Site) -> None:
    live = site.live()
    proc = site.start_release("v0.1.5")
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # kill it while the build runs
            if site.sh(f"ls -d {BASE}/releases/v0.1.5-*/App/node_modules 2>/dev/null", check=False).strip():
                break
            assert proc.poll() is None, "the release ended before it could be killed"
            time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert site.live() == live and health_version(site.port) == "0.1.1"
    started = time.monotonic()
    run = site.release("v0.1.5")
    assert run.rc == 0, run.output[-3000:]
    print(f"release after the kill took {time.monotonic() - started:.1f}s (waiting for the lock included)")
    assert health_version(site.port) == "0.1.5"
    assert len([name for name in site.releases() if name.startswith("v0.1.5-")]) == 1


def test_check_mode_says_what_a_release_would_do_and_changes_nothing(site: Site) -> None:
    before = (
        site.live(),
        site.sh(f"readlink {BASE}/previous"),
        site.releases(),
        site.pm2_processes(),
        site.sh(
            f"md5sum {BASE}/releases.log {BASE}/shared/ecosystem.config.cjs; ls -l --time-style=+%s {BASE}"
        ),
    )
    site.sh("touch /root/before-check; sleep 1.1")
    run = site.release("v0.1.6", check=True)
    assert run.rc == 0, run.output[-3000:]
    out = run.stdout
    assert "check mode: release v0.1.6 (" in out, out[-3000:]
    assert f"switch current from {before[0]} to v0.1.6-" in out
    assert "pm2 reload ppms (2 processes)" in out and "take the deploy lock (free;" in out
    assert "back up the database to" in out and "report 0.1.6" in out
    after = (
        site.live(),
        site.sh(f"readlink {BASE}/previous"),
        site.releases(),
        site.pm2_processes(),
        site.sh(
            f"md5sum {BASE}/releases.log {BASE}/shared/ecosystem.config.cjs; ls -l --time-style=+%s {BASE}"
        ),
    )
    assert after == before
    assert site.sh(f"find {BASE} -newer /root/before-check") == "", "check mode changed a file"
    missing = site.release("v9.9.9", check=True)
    assert missing.rc != 0 and "the tag v9.9.9 does not exist" in failure_message(missing)


def test_rollback_skips_a_release_marked_bad_and_a_second_one_goes_further_back(site: Site) -> None:
    names = site.releases()
    live = site.live()
    assert live.startswith("v0.1.5-")
    (bad,) = (name for name in names if name.startswith(HEALTH_FAILS))
    (v011,) = (name for name in names if name.startswith("v0.1.1-"))
    (v010,) = (name for name in names if name.startswith("v0.1.0-"))
    assert site.sh(f"readlink {BASE}/previous").strip() == f"releases/{v011}", "previous skips the bad one"
    with Prober(site.port) as probe:
        first = site.play("rollback.yml")
    assert first.rc == 0, first.output[-3000:]
    assert f"rollback: skipped {bad} (marked bad)" in first.stdout
    assert site.live() == v011 and health_version(site.port) == "0.1.1"
    assert probe.report.failed == 0, probe.report
    assert site.sh(f"readlink {BASE}/previous").strip() == f"releases/{v010}"
    # v0.1.1 brought a migration v0.1.0 lacks: the second rollback crosses it, so it must be accepted
    refused = site.play("rollback.yml")
    assert refused.rc != 0 and f"it lacks prisma/migrations/{NEW_MIGRATION}" in failure_message(refused)
    assert site.live() == v011 and site.lock_is_free()
    second = site.play("rollback.yml", accept_schema_drift=True)
    assert second.rc == 0, second.output[-3000:]
    assert site.live() == v010 and health_version(site.port) == "0.1.0", "a second rollback went forward"
    assert site.sh(f"test -e {BASE}/previous || echo none").strip() == "none"
    third = site.play("rollback.yml")
    assert third.rc != 0 and f"there is no release before {v010}" in failure_message(third)
    assert site.live() == v010 and site.lock_is_free()
    log = site.log()
    assert [row[1:5] for row in log[-2:]] == [["rollback", "-", v011, "ok"], ["rollback", "-", v010, "ok"]]
    assert log[-1][6] != log[-2][6], "each run has its own id"
    back = site.play("rollback.yml", release=live, accept_schema_drift=True)  # v0.1.5 has it again
    assert back.rc == 0, back.output[-3000:]
    assert site.live() == live and health_version(site.port) == "0.1.5"
    assert site.sh(f"readlink {BASE}/previous").strip() == f"releases/{v011}"


def test_two_releases_at_once_the_second_fails_naming_the_first(site: Site) -> None:
    first = site.start_release("v0.1.6")
    try:
        deadline = time.monotonic() + 120
        while "release v0.1.6" not in site.sh(f"cat {BASE}/deploy.lock", check=False):
            assert time.monotonic() < deadline and first.poll() is None, (
                "the first release never took the lock"
            )
            time.sleep(0.3)
        status = site.pms1.ssh(
            "python3", "-", "--base", BASE, input=(ROOT / "scripts/release_status.py").read_text(), timeout=60
        ).stdout
        assert re.search(
            r"lock: +held by .+ for release v0\.1\.6 \(tag v0\.1\.6, run \S+, pid \d+, since 20", status
        ), status
        assert "live:     v0.1.5-" in status and "previous: v0.1.1-" in status, status
        assert "rollback  -  v0.1.5-" in status, status  # the last results from releases.log
        second = site.release("v0.1.7", slipway_release_lock_wait=3)
        assert second.rc != 0
        message = failure_message(second)
        assert "is held by release v0.1.6 by" in message and ", run " in message, message
        assert first.wait(TIMEOUT) == 0
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert health_version(site.port) == "0.1.6"


def test_rollback_goes_to_the_previous_release_and_says_migrations_stay(site: Site) -> None:
    before = site.live()
    before_version = health_version(site.port)
    previous = site.sh(f"readlink {BASE}/previous").strip().removeprefix("releases/")
    previous_version = json.loads(site.sh(f"cat {BASE}/releases/{previous}/App/package.json"))["version"]
    assert previous_version != before_version
    with Prober(site.port) as probe:
        run = site.play("rollback.yml")
    assert run.rc == 0, run.output[-3000:]
    assert site.live() == previous and health_version(site.port) == previous_version
    assert "Database migrations are NOT rolled back" in run.stdout
    assert re.search(rf"the latest backup is {BASE}/backups/\S+\.dump", run.stdout)
    assert probe.report.failed == 0, probe.report
    forward = site.play("rollback.yml", release=before)
    assert forward.rc == 0, forward.output[-3000:]
    assert site.live() == before and health_version(site.port) == before_version
    bad = site.play("rollback.yml", release="../etc")
    assert bad.rc != 0 and "is not a release directory name" in failure_message(bad)


RUNNER_USER = "forgejo-runner"
WRAPPER = "/usr/local/libexec/slipway/release-tag"
JOB_TOKEN = "job-token-3c9e0b7d41"  # noqa: S105 - a test value, looked for in every process's argv


@pytest.fixture(scope="module")
def wrapped(site: Site) -> Site:
    """This world plus what a job on the host label goes through: the runner's user, release-tag,
    its settings and sudo rule (slipway_forgejo_runner), and the toolkit copy with its local
    inventory (slipway_watcher), set up for this world's repository and port."""
    release_settings = {key: value for key, value in site.vars.items() if key != "slipway_release_become"} | {
        "slipway_release_app_user": "deploy",
        "slipway_release_keep": 2,
    }
    play = [
        {
            "name": "The release wrapper and the toolkit on pms1.",
            "hosts": "pms1",
            "become": True,
            "gather_facts": False,
            "vars": {
                "slipway_forgejo_runner_release_repo_url": site.vars["slipway_release_repo_url"],
                "slipway_watcher_release_settings": release_settings,
            },
            "tasks": [
                {"ansible.builtin.include_role": {"name": "slipway_forgejo_runner", "tasks_from": name}}
                for name in ("user.yml", "release.yml")
            ]
            + [
                {"ansible.builtin.include_role": {"name": "slipway_watcher", "tasks_from": name}}
                for name in ("toolkit.yml", "release-inventory.yml")
            ],
        }
    ]
    run = run_playbook(
        site._dir(), play, args=["-i", str(site.inventory)], env={**REMOTE_TEMP}, timeout=TIMEOUT
    )
    assert run.rc == 0, run.output[-3000:]
    return site


def job_step(
    site: Site, tag: str, token: str = JOB_TOKEN, actor: str = "hardik"
) -> subprocess.CompletedProcess:
    """The deploy workflow's step as the host runner runs it: as the runner's user, the step's env:
    expanded and exported, the script on bash's stdin."""
    workflow = yaml.safe_load((ROOT / "files/forgejo/workflows/deploy.yml").read_text())
    step = workflow["jobs"]["deploy"]["steps"][-1]
    context = {"forgejo.ref_name": tag, "forgejo.actor": actor, "forgejo.token": token}
    env = {
        name: re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: context[m.group(1)], value)
        for name, value in step["env"].items()
    } | {"FORGEJO_REF_NAME": tag, "FORGEJO_ACTOR": actor}
    script = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items()) + step["run"]
    return site.pms1.ssh(
        "runuser", "-u", RUNNER_USER, "--", "bash", "-e", "-s", input=script, check=False, timeout=TIMEOUT
    )


def test_the_release_wrapper_refuses_a_bad_tag_and_a_tag_off_main(wrapped: Site) -> None:
    site = wrapped
    live, names = site.live(), site.releases()
    # v0.2.0: a commit beside main (v0.1.7's tree on top of v0.1.1), tagged; never merged.
    side = site.sh(
        "cd /srv/git/portal.git && c=$(runuser -u deploy -- git -c user.name=t -c user.email=t@e.invalid commit-tree -p 'v0.1.1^{commit}' -m side 'v0.1.7^{tree}')"
        " && runuser -u deploy -- git tag v0.2.0 $c && echo $c"
    ).strip()
    assert re.fullmatch(r"[0-9a-f]{40}", side)
    for tag, code, message in (
        ("v0.2.0", 3, f"release-tag: the tag v0.2.0 ({side[:12]}) is not on main"),
        ("v9.9.9", 3, "release-tag: the tag v9.9.9 does not exist in /srv/git/portal.git"),
        ("v1.2.3;id", 2, "release-tag: not a release tag (want vX.Y.Z): 'v1.2.3;id'"),
    ):
        done = site.pms1.ssh(
            "runuser", "-u", RUNNER_USER, "--", "sudo", "-n", WRAPPER, tag, input="", check=False, timeout=120
        )
        # the last line: the sandbox's sudo may first warn that it cannot resolve the host name
        assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (code, message), (
            done.stdout + done.stderr
        )
    # the workflow's own check stops a malformed tag before sudo; the wrapper refuses the side tag
    refused = job_step(site, "v0.2.0")
    assert refused.returncode == 3 and "is not on main" in refused.stderr, refused.stderr
    assert (site.live(), site.releases()) == (live, names), "a refused tag changed the releases"


def test_the_deploy_workflow_step_releases_through_the_wrapper_with_the_token_in_no_argv(
    wrapped: Site,
) -> None:
    site = wrapped
    # Every process's argv, sampled while the release runs, searched for the job token (grep reads
    # the token from a file: its own argv stays clean).
    site.pms1.ssh("bash", "-c", "umask 077; cat > /root/job-token", input=JOB_TOKEN + "\n")
    site.sh(
        "rm -f /root/argv-seen /root/stop-sampling; "
        "(while [ ! -e /root/stop-sampling ]; do ps -eww -o args= | grep -F -f /root/job-token >> /root/argv-seen;"
        " sleep 0.02; done) >/dev/null 2>&1 </dev/null & disown"
    )
    try:
        done = job_step(site, "v0.1.7")
    finally:
        site.sh("touch /root/stop-sampling; sleep 0.3")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "release-tag: releasing v0.1.7" in done.stdout
    assert health_version(site.port) == "0.1.7"
    names = site.releases()
    assert len(names) == 2 and any(name.startswith("v0.1.7-") for name in names), names
    assert {site.live(), site.sh(f"readlink {BASE}/previous").strip().removeprefix("releases/")} == set(names)
    assert site.sh(f"tail -n 1 {BASE}/releases.log").rstrip("\n").split("\t")[5] == "deploy workflow (hardik)"
    assert site.sh("cat /root/argv-seen") == "", "the job token was in a process's argv"
    assert site.sh("find /tmp /home/deploy/pms -name repo-token -o -name .repo-token") == ""


def test_release_yml_still_takes_the_tag_from_the_runner_env(site: Site) -> None:
    github_only = site.release(None, env={"GITHUB_REF_NAME": "v9.9.8"})
    assert "the tag v9.9.8 does not exist" in failure_message(github_only)


def test_a_rollback_across_a_migration_is_refused_unless_accepted(site: Site) -> None:
    run = site.release(DRIFT)
    assert run.rc == 0, run.output[-3000:]
    live = site.live()
    previous = site.sh(f"readlink {BASE}/previous").strip().removeprefix("releases/")
    refused = site.play("rollback.yml")
    assert refused.rc != 0
    message = failure_message(refused)
    assert message.startswith(f"rollback: {previous} carries other migrations than the live release {live}")
    assert f"it lacks {DRIFT_MIGRATION} (applied to the database, NOT undone)" in message, message
    assert "rerun with -e accept_schema_drift=true" in message
    assert site.live() == live and health_version(site.port) == DRIFT[1:] and site.lock_is_free()
    named = site.play("rollback.yml", release=previous)
    assert named.rc != 0 and "carries other migrations" in failure_message(named)
    accepted = site.play("rollback.yml", accept_schema_drift=True)
    assert accepted.rc == 0, accepted.output[-3000:]
    assert (
        f"it lacks {DRIFT_MIGRATION}" in accepted.stdout
        and "Accepted (accept_schema_drift=true)" in accepted.stdout
    )
    assert site.live() == previous and health_version(site.port) != DRIFT[1:]


# -- closing the loop: the issues a release fixes are told (slipway_release_notify) -------------------

FORGE_OWNER, FORGE_REPO = "shad0w", "pelagia-portal"
WATCHER_CONFIG = "/home/deploy/issue-watcher/watcher.config.json"


class Forge:
    """The Forgejo double serving this world's portal repository (pms1 shares the machine's network),
    with an issue fixed by a merged PR in v0.1.8 and another by one in v0.1.9 (which reports the
    wrong version, so its health check fails)."""

    def __init__(self, site: Site) -> None:
        from sandbox.forgejo_double import ForgejoDouble
        from sandbox.releases import run_git, set_version

        self.double = ForgejoDouble(site.workdir / "forgejo").start()
        self.double.add_user(FORGE_OWNER, admin=True)
        self.token = self.double.add_token(FORGE_OWNER, ["write:issue", "write:repository"])
        self.double.create_repo(FORGE_OWNER, FORGE_REPO)
        self.url = self.double.git_url(FORGE_OWNER, FORGE_REPO)
        portal = site.workdir / "portal"
        bare = str(self.double.repo_path(FORGE_OWNER, FORGE_REPO))
        run_git(portal, "push", "--quiet", bare, "refs/heads/main:refs/heads/main", "refs/tags/*:refs/tags/*")
        api = f"{self.double.url}/api/v1/repos/{FORGE_OWNER}/{FORGE_REPO}"
        self.http = httpx.Client(base_url=api, headers={"Authorization": f"token {self.token}"})
        work = site.workdir / "forge-work"
        run_git(site.workdir, "clone", "--quiet", bare, str(work))
        self.pulls: dict[str, int] = {}
        self.issues: dict[str, int] = {}
        identity = ["-c", "user.name=t", "-c", "user.email=t@e.invalid"]
        for tag, version in (("v0.1.8", "0.1.8"), ("v0.1.9", "0.1.90")):
            number = self.double.create_issue(FORGE_OWNER, FORGE_REPO, f"Bug fixed in {tag}", user="portal")[
                "number"
            ]
            run_git(work, "checkout", "--quiet", "-B", f"fix-{number}", "origin/main")
            set_version(work, version)
            run_git(work, *identity, "commit", "--quiet", "-am", f"Fix {number}")
            run_git(work, "push", "--quiet", "origin", f"fix-{number}")
            body = {
                "head": f"fix-{number}",
                "base": "main",
                "title": f"Fix bug {number}",
                "body": f"Fixes #{number}",
            }
            pull = self.http.post("/pulls", json=body).json()["number"]
            assert self.http.post(f"/pulls/{pull}/merge", json={"Do": "merge"}).status_code == 200
            self.pulls[tag], self.issues[tag] = pull, number
            run_git(work, "fetch", "--quiet", "origin")
            run_git(work, *identity, "tag", "-a", tag, "-m", tag, "origin/main")
            run_git(work, "push", "--quiet", "origin", tag)

    def comments(self, number: int) -> list[str]:
        return [c["body"] for c in self.double.comments(FORGE_OWNER, FORGE_REPO, number)]

    def state(self, number: int) -> str:
        return self.double.issue(FORGE_OWNER, FORGE_REPO, number)["state"]


@pytest.fixture(scope="module")
def forge(site: Site) -> Any:
    forge = Forge(site)
    try:
        yield forge
    finally:
        forge.double.stop()


def _watcher_config(site: Site, forgejo_url: str, token: str) -> None:
    config = {
        "forgejoUrl": forgejo_url,
        "repo": f"{FORGE_OWNER}/{FORGE_REPO}",
        "token": token,
        "claudeExe": "/x",
        # A whole configuration, as the watcher's reader (config.load_config, which the notifier uses too)
        # takes it: it refuses one with neither an agent section nor an explicit mode.
        "agentMode": "same-user",
    }
    site.pms1.ssh(
        "bash",
        "-c",
        f"install -d -o deploy -g deploy -m 750 {os.path.dirname(WATCHER_CONFIG)} && "
        f"install -o deploy -g deploy -m 600 /dev/stdin {WATCHER_CONFIG}",
        input=json.dumps(config),
    )


def test_a_release_tells_the_issues_it_fixes_once_and_forgejo_down_is_only_a_warning(
    site: Site, forge: Any
) -> None:
    if not site.sh(f"readlink {BASE}/current", check=False).strip():  # run on its own: something must be live
        assert site.release("v0.1.7", slipway_release_repo_url=forge.url).rc == 0
    before = site.live()
    fixed, later = forge.issues["v0.1.8"], forge.issues["v0.1.9"]
    # Forgejo unreachable while notifying (the fetch still works): live, with a warning, no comment.
    _watcher_config(site, f"http://127.0.0.1:{free_port({site.port})}", forge.token)
    down = site.release("v0.1.8", slipway_release_repo_url=forge.url)
    assert down.rc == 0, down.output[-3000:]
    assert health_version(site.port) == "0.1.8" and site.live().startswith("v0.1.8-")
    assert "release notify: the issues v0.1.8 fixes were not told" in down.output
    assert "cannot reach Forgejo" in down.output
    assert forge.comments(fixed) == []
    assert forge.token not in down.output
    # Forgejo back: a rerun of the release tells #1 once, and closes it; the next rerun posts nothing.
    _watcher_config(site, forge.double.url, forge.token)
    up = site.release("v0.1.8", slipway_release_repo_url=forge.url)
    assert up.rc == 0, up.output[-3000:]
    (comment,) = forge.comments(fixed)
    assert comment.startswith("Deployed in v0.1.8 at ") and f"(PR #{forge.pulls['v0.1.8']})" in comment
    assert forge.state(fixed) == "closed"
    assert forge.comments(later) == [], "v0.1.9's fix is not in v0.1.8"
    assert re.search(rf"v0.1.8 \(deployed, since {tag_of(before)}\): 1 fixed issue", up.stdout), up.stdout[
        -2000:
    ]
    again = run_notify(site, "deployed", "v0.1.8")
    assert again.rc == 0, again.output[-3000:]
    assert "1 fixed issue(s), none needed a comment" in again.stdout
    assert len(forge.comments(fixed)) == 1, "a rerun posted a second comment"
    record = json.loads(site.sh(f"cat {BASE}/deployed.json"))
    assert (record["issues"][str(fixed)]["tag"], record["issues"][str(fixed)]["result"]) == (
        "v0.1.8",
        "deployed",
    )
    assert [r["notified"] for r in record["releases"][-3:]] == [False, True, True]


def test_a_rolled_back_release_tells_its_issues_and_leaves_them_open(site: Site, forge: Any) -> None:
    fixed, later = forge.issues["v0.1.8"], forge.issues["v0.1.9"]
    if not site.sh(f"readlink {BASE}/current", check=False).strip().startswith("releases/v0.1.8-"):
        # run on its own: v0.1.8 live, its issue told (Forgejo up)
        _watcher_config(site, forge.double.url, forge.token)
        assert site.release("v0.1.8", slipway_release_repo_url=forge.url).rc == 0
    live = site.live()
    assert live.startswith("v0.1.8-") and forge.state(later) == "closed"  # Forgejo closed it on merge
    untouched = (forge.comments(fixed), forge.state(fixed))
    run = site.release("v0.1.9", slipway_release_repo_url=forge.url)
    assert run.rc != 0 and site.live() == live and health_version(site.port) == "0.1.8"
    assert f"The live release {live} keeps serving" in failure_message(run)
    (comment,) = forge.comments(later)
    assert comment.startswith("Release v0.1.9 was rolled back at ") and "v0.1.8 is live again" in comment
    assert forge.state(later) == "open"
    assert (forge.comments(fixed), forge.state(fixed)) == untouched, "v0.1.8's issue is not v0.1.9's"


def tag_of(release: str) -> str:
    return release.split("-", 1)[0]


def run_notify(site: Site, outcome: str, tag: str) -> PlaybookRun:
    """Only the release role's notify.yml, as a rerun reaches it, against the live release."""
    play = [
        {
            "name": "Notify only.",
            "hosts": "pms1",
            "gather_facts": False,
            "become": True,
            "become_user": "deploy",
            "tasks": [
                {
                    "ansible.builtin.include_role": {"name": "slipway_release", "tasks_from": "notify.yml"},
                    "vars": {
                        "slipway_release_root": BASE,
                        "slipway_release_tag": tag,
                        "slipway_release_live": site.live(),
                        "slipway_release_notify_outcome": outcome,
                    },
                }
            ],
        }
    ]
    return run_playbook(
        site._dir(), play, args=["-i", str(site.inventory)], env={**REMOTE_TEMP}, timeout=TIMEOUT
    )
