"""No secret reaches a process list: a root sampler on pms1 reads every process's argv (and the
environ of every process that belongs neither to root, nor the app user, nor postgres: the agent's
among them) every 20 ms while site.yml provisions the host with the agent user, a watcher run goes
through its crontab line, and the release role backs up and migrates the database. None of the
vault's Forgejo token, the PostgreSQL passwords or a marker password in the shared .env may appear.
"""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.playbook import run_playbook
from sandbox.pms1 import Pms1Host
from sandbox.site import APP_USER, SiteWorld

pytestmark = pytest.mark.host

HOME = f"/home/{APP_USER}"
AGENT = "autofix"
SAMPLER = "/root/slipway-sampler.py"
SAMPLES = "/root/slipway-samples.txt"
STOP = "/root/slipway-sampler.stop"
DONE = "/root/slipway-sampler.done"
AGENT_PGPASS = "/etc/slipway/pg-agent.pgpass"
MARKER_PASSWORD = "Marker" + secrets.token_hex(8)  # the production DATABASE_URL's password in the shared .env

# Root-only samples: argv of every process, environ of the processes of other users than SKIP_ENV.
SAMPLER_SOURCE = """\
import os, sys, time
out_path, stop_path, done_path, skip = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
skip_env = {int(u) for u in skip.split(',') if u}
me = os.getpid()
seen = set()
os.umask(0o077)
with open(out_path, 'w', encoding='utf-8', errors='backslashreplace') as out:
    while not os.path.exists(stop_path):
        for entry in os.listdir('/proc'):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                uid = os.stat('/proc/' + entry).st_uid
                kinds = ['cmdline'] + ([] if uid in skip_env else ['environ'])
                for kind in kinds:
                    with open('/proc/%s/%s' % (entry, kind), 'rb') as f:
                        data = f.read().replace(b'\\0', b' ').decode('utf-8', 'backslashreplace')
                    key = (kind, uid, data)
                    if data and key not in seen:
                        seen.add(key)
                        out.write('%s uid=%d %s\\n' % (kind, uid, data))
            except OSError:
                continue
        out.flush()
        time.sleep(0.02)
open(done_path, 'w').close()
"""


class Sampled:
    def __init__(self, host: Pms1Host, world: SiteWorld, samples: str, runs: dict[str, int]) -> None:
        self.host, self.world, self.samples, self.runs = host, world, samples, runs


def _uid(host: Pms1Host, user: str) -> int:
    for line in (host.rootfs / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2])
    raise AssertionError(f"no user {user} on the host")


def _start_sampler(host: Pms1Host) -> None:
    (host.rootfs / SAMPLER.lstrip("/")).write_text(SAMPLER_SOURCE)
    skip = ",".join(str(_uid(host, user)) for user in ("root", APP_USER, "postgres"))
    host.ssh(
        "bash",
        "-c",
        f"rm -f {STOP} {DONE}; setsid python3 {SAMPLER} {SAMPLES} {STOP} {DONE} {skip} "
        "</dev/null >/dev/null 2>&1 &",
    )
    for _ in range(100):
        if (host.rootfs / SAMPLES.lstrip("/")).exists():
            return
        time.sleep(0.05)
    raise AssertionError("the sampler did not start")


def _stop_sampler(host: Pms1Host) -> str:
    host.ssh("touch", STOP)
    done = host.rootfs / DONE.lstrip("/")
    for _ in range(200):
        if done.exists():
            break
        time.sleep(0.05)
    return (host.rootfs / SAMPLES.lstrip("/")).read_text(errors="replace")


def _release_backup_and_migrate(host: Pms1Host, workdir: Path, inventory: Path) -> int:
    """The release role's backup + migrate tasks against production, the URL in the shared .env."""
    facts = host.facts
    env_line = (
        f"DATABASE_URL=postgresql://{facts['pg_user']}:{MARKER_PASSWORD}@127.0.0.1:{facts['pg_port']}/"
        f"{facts['prod_db']}?schema=public\n"
    )
    host.ssh(
        "bash",
        "-c",
        f"runuser -u postgres -- psql -q -p {facts['pg_port']} -f - && "
        f"install -d -o {APP_USER} -g {APP_USER} -m 750 {HOME}/pms {HOME}/pms/shared {HOME}/pms/shared/App "
        f"{HOME}/pms/backups && install -o {APP_USER} -g {APP_USER} -m 600 /dev/null {HOME}/pms/shared/App/.env",
        input=f"ALTER ROLE {facts['pg_user']} PASSWORD '{MARKER_PASSWORD}';\n",
    )
    (host.rootfs / f"home/{APP_USER}/pms/shared/App/.env").write_text(env_line)
    try:
        play = [
            {
                "name": "The release's backup and migration.",
                "hosts": "pms1",
                "gather_facts": False,
                "become": True,
                "become_user": APP_USER,
                "tasks": [
                    {
                        "name": "Back up and migrate.",
                        "ansible.builtin.include_role": {
                            "name": "slipway_release",
                            "tasks_from": "migrate.yml",
                        },
                        "vars": {
                            "slipway_release_root": f"{HOME}/pms",
                            "slipway_release_name": "sampled",
                            "slipway_release_app": f"{HOME}/pms/shared/App",
                            "slipway_release_migrate_command": "pnpm --version",
                        },
                    }
                ],
            }
        ]
        run = run_playbook(
            workdir,
            play,
            args=["-i", str(inventory)],
            inventory=False,
            timeout=600,
            env={"ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_REMOTE_TEMP": "~/.ansible/tmp"},
        )
        assert run.rc == 0, run.output[-3000:]
        return run.rc
    finally:
        # Production's role gets its own password back for whatever runs next on this host.
        host.ssh(
            "bash",
            "-c",
            f"runuser -u postgres -- psql -q -p {facts['pg_port']} -f -",
            input=f"ALTER ROLE {facts['pg_user']} PASSWORD '{facts['pg_password']}';\n",
        )


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sampled]:
    host = Pms1Host(tmp_path_factory.mktemp("pms1-argv"))
    world = None
    try:
        host.ensure_prepared(app_user=APP_USER)
        world = SiteWorld(host, tmp_path_factory.mktemp("argv-world"), agent=True).start()
        _start_sampler(host)
        runs: dict[str, int] = {}
        try:
            site = world.run_site(tmp_path_factory.mktemp("argv-site"))
            assert site.rc == 0, site.output[-6000:]
            runs["site"] = site.rc
            crontab = host.ssh("crontab", "-l", "-u", APP_USER).stdout
            (line,) = [entry for entry in crontab.splitlines() if "watcher.yml" in entry and entry[0] != "#"]
            watcher = host.ssh(
                "bash",
                "-c",
                f"runuser -u {APP_USER} -- env -i HOME={HOME} SHELL=/bin/sh /bin/sh -c "
                f"{shlex.quote(line.split(' ', 5)[5])}",
                check=False,
                timeout=600,
            )
            runs["watcher"] = watcher.returncode
            inventory = world.inventory(tmp_path_factory.mktemp("argv-release") / "hosts.yml")
            runs["release"] = _release_backup_and_migrate(
                host, tmp_path_factory.mktemp("argv-release-run"), inventory
            )
        finally:
            samples = _stop_sampler(host)
        yield Sampled(host, world, samples, runs)
    finally:
        if world is not None:
            world.stop()
        host.down()


def _secrets(sampled: Sampled) -> dict[str, str]:
    facts = sampled.host.facts
    found = {
        "the vault's Forgejo token": sampled.world.token,
        "production's PostgreSQL password": facts["pg_password"],
        "the marker password of the shared .env's DATABASE_URL": MARKER_PASSWORD,
    }
    pgpass = sampled.host.rootfs / AGENT_PGPASS.lstrip("/")
    if pgpass.exists():
        found["the agent role's PostgreSQL password"] = pgpass.read_text().strip().rsplit(":", 1)[1]
    return found


def test_the_runs_under_the_sampler_went_through(sampled: Sampled) -> None:
    assert sampled.runs == {"site": 0, "watcher": 0, "release": 0}
    # The sampler saw the runs: ansible's modules, the watcher's playbook and pg_dump.
    assert "ansible-playbook watcher.yml" in sampled.samples or "watcher.yml" in sampled.samples
    assert "pg_dump" in sampled.samples
    backup = sampled.host.rootfs / f"home/{APP_USER}/pms/backups/sampled.dump"
    assert backup.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format, taken with the URL from stdin


def test_no_secret_appears_in_any_argv(sampled: Sampled) -> None:
    argv = [line for line in sampled.samples.splitlines() if line.startswith("cmdline ")]
    leaks = {
        name: [line[:300] for line in argv if secret in line][:3]
        for name, secret in _secrets(sampled).items()
    }
    assert {name: lines for name, lines in leaks.items() if lines} == {}


def test_no_secret_appears_in_another_users_environ(sampled: Sampled) -> None:
    agent_uid = _uid(sampled.host, AGENT)
    environ = [line for line in sampled.samples.splitlines() if line.startswith("environ ")]
    secrets = _secrets(sampled)
    leaks = {}
    for name, secret in secrets.items():
        own = name == "the agent role's PostgreSQL password"
        lines = [
            line[:300]
            for line in environ
            if secret in line and not (own and line.startswith(f"environ uid={agent_uid} "))
        ]
        if lines:
            leaks[name] = lines[:3]
    assert leaks == {}


def test_processes_of_other_users_are_hidden_from_the_agent(sampled: Sampled) -> None:
    seen = sampled.host.ssh("runuser", "-u", AGENT, "--", "ps", "-eo", "user=").stdout.split()
    assert set(seen) == {AGENT}
    assert "hidepid=invisible" in sampled.host.ssh("findmnt", "-no", "OPTIONS", "/proc").stdout
    # The app user (the watcher) still sees every process: it is in /proc's gid group.
    watcher_sees = sampled.host.ssh("runuser", "-u", APP_USER, "--", "ps", "-eo", "user=").stdout.split()
    assert "root" in watcher_sees


def test_the_sampler_would_catch_a_secret_on_a_command_line(sampled: Sampled) -> None:
    """The sampler itself: a marker on a short-lived command line is seen."""
    host = sampled.host
    _start_sampler(host)
    try:
        host.ssh("sh", "-c", "sleep 0.2 # canary-on-argv-7f3a")
    finally:
        samples = _stop_sampler(host)
    assert "canary-on-argv-7f3a" in samples
