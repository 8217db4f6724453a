"""`ansible-playbook site.yml` provisions the disposable pms1: converges, re-runs with changed=0,
survives --check, and leaves the pieces the pipeline needs in place (checked with testinfra and
through the Forgejo double)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.playbook import PlaybookRun
from sandbox.pms1 import Pms1Host
from sandbox.site import (
    APP_USER,
    LIFECYCLE_LABELS,
    OWNER,
    REPO,
    SiteWorld,
    changed_tasks,
    recap,
)

pytestmark = pytest.mark.host

HOME = f"/home/{APP_USER}"
TEST_ROLE = "pelagia_agent"
TEST_ROLE_PGPASS = "/etc/slipway/pg-agent.pgpass"
LEGACY_CRON = (
    "*/10 * * * * $HOME/issue-watcher/claude-issue-watcher.sh >> $HOME/issue-watcher/logs/cron.log 2>&1"
)


class Provisioned:
    def __init__(self, world: SiteWorld, first: PlaybookRun, second: PlaybookRun, check: PlaybookRun) -> None:
        self.world = world
        self.first = first
        self.second = second
        self.check = check


@pytest.fixture(scope="module")
def site_world(pms1: Pms1Host, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteWorld]:
    world = SiteWorld(pms1, tmp_path_factory.mktemp("site-world")).start()
    try:
        yield world
    finally:
        world.stop()


@pytest.fixture(scope="module")
def provisioned(
    site_world: SiteWorld, pms1: Pms1Host, tmp_path_factory: pytest.TempPathFactory
) -> Provisioned:
    """site.yml run cold, then again, then with --check; a runbook-era crontab line exists before."""
    pms1.ssh("bash", "-c", f"printf '%s\\n' {shlex.quote(LEGACY_CRON)} | crontab -u {APP_USER} -")
    first = site_world.run_site(tmp_path_factory.mktemp("site-first"))
    assert first.rc == 0, first.output[-6000:]
    second = site_world.run_site(tmp_path_factory.mktemp("site-second"))
    check = site_world.run_site(tmp_path_factory.mktemp("site-check"), "--check")
    return Provisioned(site_world, first, second, check)


def as_app_user(host: Any, command: str) -> Any:
    return host.run(f"runuser -u {APP_USER} -- bash -c {shlex.quote(command)}")


# ----------------------------------------------------------------------------- convergence


def test_site_converges(provisioned: Provisioned) -> None:
    result = recap(provisioned.first)
    assert result.failed == 0 and result.unreachable == 0
    assert result.changed > 0


def test_a_second_run_changes_nothing(provisioned: Provisioned) -> None:
    assert provisioned.second.rc == 0, provisioned.second.output[-4000:]
    assert recap(provisioned.second).changed == 0, changed_tasks(provisioned.second)


def test_check_mode_on_the_provisioned_host_reports_no_changes(provisioned: Provisioned) -> None:
    assert provisioned.check.rc == 0, provisioned.check.output[-4000:]
    assert recap(provisioned.check).changed == 0, changed_tasks(provisioned.check)


# ----------------------------------------------------------------------------- runner


RUNNER_USER = "forgejo-runner"
RUNNER_DIR = "/var/lib/forgejo-runner"
WRAPPER = "/usr/local/libexec/slipway/release-tag"


def as_runner(host: Any, script: str) -> Any:
    """A job step as the host runner runs it: the runner's user, bash, the script on stdin."""
    return host.run(f"printf '%s' {shlex.quote(script)} | runuser -u {RUNNER_USER} -- bash -s")


def test_the_runner_is_registered_once_with_its_name_and_labels(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    runner_file = pms1_testinfra.file(f"{RUNNER_DIR}/.runner")
    assert runner_file.exists and runner_file.user == RUNNER_USER and runner_file.mode == 0o600
    registered = json.loads(runner_file.content_string)
    assert registered["name"] == "pms1-host"
    assert registered["labels"] == ["host:host", "docker:docker://node:20-bookworm"]
    assert registered["address"] == provisioned.world.forgejo.url
    register = [
        r for r in provisioned.second.results if r["task"].endswith("Register the runner with Forgejo once.")
    ]
    assert register and register[-1]["status"] == "skipped"


def test_the_runner_token_came_from_the_forgejo_api(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    registered = json.loads(pms1_testinfra.file(f"{RUNNER_DIR}/.runner").content_string)
    asked = [
        r
        for r in provisioned.world.forgejo.requests
        if r.path.endswith("/actions/runners/registration-token")
    ]
    assert asked, "the registration token was not fetched from the API"
    assert registered["token"] == provisioned.world.forgejo.forge.runner_tokens[f"{OWNER}/{REPO}"]


def test_the_runner_config_carries_the_labels_and_no_toolkit_dir(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    config = pms1_testinfra.file(f"{RUNNER_DIR}/config.yml")
    assert config.mode == 0o640 and config.user == RUNNER_USER
    text = config.content_string
    assert '"host:host"' in text and '"docker:docker://node:20-bookworm"' in text
    assert "SLIPWAY_DIR" not in text  # the job needs no path into the app user's home


def test_the_runner_runs_as_its_own_user_under_systemd(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    user = pms1_testinfra.user(RUNNER_USER)
    assert user.exists and user.groups == [RUNNER_USER] and user.home == RUNNER_DIR
    assert APP_USER not in user.groups and RUNNER_USER not in pms1_testinfra.user(APP_USER).groups
    service = pms1_testinfra.service("forgejo-runner")
    assert service.is_running and service.is_enabled
    pid = pms1_testinfra.check_output("systemctl show -p MainPID --value forgejo-runner")
    assert pms1_testinfra.check_output(f"ps -o user:32= -p {pid}") == RUNNER_USER
    assert "daemon" in pms1_testinfra.check_output(f"ps -o args= -p {pid}")
    listing = as_app_user(pms1_testinfra, "PATH=/usr/local/bin:$PATH pm2 jlist")
    assert listing.rc == 0, listing.stderr
    assert "forgejo-runner" not in {p["name"] for p in json.loads(listing.stdout.strip().splitlines()[-1])}


def test_the_runner_has_exactly_one_sudo_rule_to_the_root_owned_wrapper(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    sudoers = pms1_testinfra.file("/etc/sudoers.d/slipway-release")
    assert (sudoers.user, sudoers.group, sudoers.mode) == ("root", "root", 0o440)
    rules = [
        line for line in sudoers.content_string.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert rules == [f"Defaults!{WRAPPER} env_reset", f"{RUNNER_USER} ALL=(root) NOPASSWD: {WRAPPER}"]
    listed = pms1_testinfra.check_output(f"sudo -l -U {RUNNER_USER}")
    allowed = listed.split("may run the following commands on", 1)[1].splitlines()[1:]
    assert [line.strip() for line in allowed if line.strip()] == [f"(root) NOPASSWD: {WRAPPER}"]
    for path, mode in ((WRAPPER, 0o755), ("/etc/slipway/release.json", 0o644)):
        found = pms1_testinfra.file(path)
        assert (found.user, found.group, found.mode) == ("root", "root", mode), path
    for directory in ("/usr/local/libexec/slipway", "/etc/slipway", "/usr/local/libexec", "/etc"):
        assert pms1_testinfra.file(directory).user == "root", directory
    settings = json.loads(pms1_testinfra.file("/etc/slipway/release.json").content_string)
    assert settings["app_user"] == APP_USER and settings["toolkit_dir"] == f"{HOME}/slipway"
    assert settings["base_branch"] == "main" and settings["require_protected_tag"] is False
    assert settings["repo_url"] == f"{provisioned.world.forgejo.url}/{OWNER}/{REPO}.git"
    assert provisioned.world.token not in json.dumps(settings)


def test_a_job_on_the_host_label_can_do_nothing_as_the_app_user(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    app_pid = pms1_testinfra.check_output(f"pgrep -u {APP_USER} -o -f PM2")
    attempts = {
        "read the watcher's settings": f"cat {HOME}/issue-watcher/watcher.config.json",
        "list the app user's home": f"ls {HOME}",
        "become the app user": f"sudo -n -u {APP_USER} true",
        "run anything as root": "sudo -n true",
        "hand the wrapper an untrusted tag": f"sudo -n {WRAPPER} v9.9.9 </dev/null",
        "hand the wrapper a crafted argument": f"sudo -n {WRAPPER} 'v1.0.0;id' </dev/null",
        "write into the releases": f"mkdir -p {HOME}/pms/x",
        "write into the toolkit": f"touch {HOME}/slipway/release.yml",
        "signal the app's processes": f"kill -0 {app_pid}",
        "read the app's environment": f"cat /proc/{app_pid}/environ",
        "change the wrapper's settings": "touch /etc/slipway/release.json",
        "replace the wrapper": f"touch {WRAPPER}",
    }
    for what, script in attempts.items():
        done = as_runner(pms1_testinfra, script)
        assert done.rc != 0, f"a job could {what}: {done.stdout}"
    # with the job's token on stdin, as the workflow passes it: main is fetched, the tag is not there
    refused = provisioned.world.host.ssh(
        "runuser", "-u", RUNNER_USER, "--", "sudo", "-n", WRAPPER, "v9.9.9",
        input=provisioned.world.token + "\n", check=False, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 3, refused.stdout + refused.stderr
    # (the sandbox's sudo may first warn that it cannot resolve the host name)
    assert refused.stderr.strip().splitlines()[-1].startswith("release-tag: the tag v9.9.9 does not exist")
    assert pms1_testinfra.file(f"{HOME}/slipway/release.yml").user == APP_USER


# ----------------------------------------------------------------------------- autofix


def test_the_autofix_clone_holds_no_token(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    token = provisioned.world.token
    git_config = pms1_testinfra.file(f"{HOME}/pelagia-autofix/.git/config")
    assert git_config.user == APP_USER
    assert token not in git_config.content_string
    remote = as_app_user(
        pms1_testinfra, f"git -C {HOME}/pelagia-autofix remote get-url origin"
    ).stdout.strip()
    assert remote == f"{provisioned.world.forgejo.url}/{OWNER}/{REPO}.git"
    leaked = pms1_testinfra.run(
        f"grep -rl --exclude-dir=node_modules -F {shlex.quote(token)} {HOME}/pelagia-autofix"
    )
    assert leaked.stdout == ""


def test_the_autofix_env_points_at_the_test_database_on_port_3100(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    facts = provisioned.world.host.facts
    env_file = pms1_testinfra.file(f"{HOME}/pelagia-autofix/App/.env")
    assert env_file.mode == 0o600 and env_file.user == APP_USER
    lines = dict(
        line.split("=", 1)
        for line in env_file.content_string.splitlines()
        if line and not line.startswith("#")
    )
    # The test database's own role, never production's.
    assert lines["DATABASE_URL"] == (
        f"postgresql://{TEST_ROLE}:{_test_role_password(pms1_testinfra)}@127.0.0.1:{facts['pg_port']}/pelagia_test"
    )
    assert facts["pg_password"] not in env_file.content_string
    assert lines["PORT"] == "3100"
    assert lines["NEXTAUTH_URL"] == "http://localhost:3100"
    assert lines["EMAIL_TRANSPORT"] == "console" and lines["STORAGE_DRIVER"] == "local"
    assert lines["RESEND_API_KEY"] == "" and lines["FORGEJO_TOKEN"] == ""
    assert not any(name.startswith(("AZURE_AD", "GOOGLE_", "AUTH_SSO")) for name in lines)


def test_the_autofix_dependencies_are_installed(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    assert pms1_testinfra.file(f"{HOME}/pelagia-autofix/App/node_modules/.modules.yaml").exists
    assert pms1_testinfra.file(f"{HOME}/pelagia-autofix/App/node_modules/next/package.json").exists


def test_port_3100_is_free(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    assert not pms1_testinfra.socket("tcp://127.0.0.1:3100").is_listening


# ----------------------------------------------------------------------------- watcher


def test_the_toolkit_venv_imports_httpx_and_ansible(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    result = as_app_user(
        pms1_testinfra, f"{HOME}/slipway/.venv/bin/python -c 'import httpx, ansible; print(1)'"
    )
    assert result.rc == 0 and result.stdout.strip() == "1", result.stderr


def test_the_toolkit_copy_leaves_the_vault_behind(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    assert pms1_testinfra.file(f"{HOME}/slipway/watcher.yml").exists
    assert pms1_testinfra.file(f"{HOME}/slipway/library/forgejo_label.py").exists
    assert not pms1_testinfra.file(f"{HOME}/slipway/inventories/production/group_vars/pms1/vault.yml").exists


def test_the_claude_cli_is_installed_at_the_pinned_version(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    exe = f"{HOME}/.local/lib/claude-code/node_modules/.bin/claude"
    result = as_app_user(pms1_testinfra, f"PATH=/usr/local/bin:/usr/bin:/bin {exe} --version")
    assert result.rc == 0 and result.stdout.split()[0] == "2.1.197", result.stdout + result.stderr


def test_the_watcher_config_holds_the_token_and_is_private(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    config_file = pms1_testinfra.file(f"{HOME}/issue-watcher/watcher.config.json")
    assert config_file.mode == 0o600 and config_file.user == APP_USER
    config = json.loads(config_file.content_string)
    assert config["token"] == provisioned.world.token
    assert config["repo"] == f"{OWNER}/{REPO}"
    assert config["forgejoUrl"] == provisioned.world.forgejo.url
    assert config["claudeExe"] == f"{HOME}/.local/lib/claude-code/node_modules/.bin/claude"
    assert config["autofixDir"] == f"{HOME}/pelagia-autofix" and config["devPort"] == 3100
    assert pms1_testinfra.file(f"{HOME}/issue-watcher/logs").is_directory


def test_the_lifecycle_labels_exist_in_the_repository(provisioned: Provisioned) -> None:
    names = {label["name"] for label in provisioned.world.forgejo.labels(OWNER, REPO)}
    assert LIFECYCLE_LABELS <= names


def test_cron_runs_the_watcher_every_ten_minutes_and_the_legacy_line_is_gone(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    crontab = pms1_testinfra.run(f"crontab -l -u {APP_USER}").stdout
    assert "claude-issue-watcher.sh" not in crontab
    entries = [line for line in crontab.splitlines() if line and not line.startswith("#")]
    (watcher,) = [line for line in entries if "watcher.yml" in line]
    assert watcher.startswith("*/10 * * * * ")
    assert f"flock -n {HOME}/issue-watcher/cron.lock" in watcher
    assert f"{HOME}/slipway/.venv/bin/ansible-playbook watcher.yml" in watcher
    assert watcher.endswith(f">> {HOME}/issue-watcher/logs/cron.log 2>&1")


def test_the_cron_command_runs_the_watcher_which_waits_for_claude_sign_in(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    crontab = pms1_testinfra.run(f"crontab -l -u {APP_USER}").stdout
    (watcher,) = [line for line in crontab.splitlines() if "watcher.yml" in line and not line.startswith("#")]
    command = watcher.split(" ", 5)[5]
    result = pms1_testinfra.run(
        f"runuser -u {APP_USER} -- env -i HOME={HOME} SHELL=/bin/sh /bin/sh -c {shlex.quote(command)}"
    )
    assert result.rc == 0, result.stdout + result.stderr
    log = pms1_testinfra.file(f"{HOME}/issue-watcher/logs/cron.log").content_string
    assert "PLAY RECAP" in log and "failed=0" in log
    assert "credentials" in log.lower() or "sign" in log.lower()


# ----------------------------------------------------------------------------- webhook receiver


def test_the_webhook_receiver_runs_as_the_app_user_on_loopback_only(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    service = pms1_testinfra.service("slipway-webhook")
    assert service.is_running and service.is_enabled
    port = provisioned.world.webhook_port
    main_pid = pms1_testinfra.check_output("systemctl show -p MainPID --value slipway-webhook")
    assert pms1_testinfra.check_output(f"ps -o user= -p {main_pid}").strip() == APP_USER
    listening = pms1_testinfra.check_output(f"ss -Hltn 'sport = :{port}'").split()
    assert f"127.0.0.1:{port}" in listening
    assert not [a for a in listening if a.endswith(f":{port}") and a != f"127.0.0.1:{port}"]


def test_the_webhook_secret_is_private_and_in_no_world_readable_file(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    secret = pms1_testinfra.file(f"{HOME}/issue-watcher/webhook.secret")
    assert secret.user == APP_USER and secret.mode == 0o600
    assert secret.content_string.strip() == provisioned.world.webhook_secret
    settings = pms1_testinfra.file("/etc/slipway/webhook.json")
    assert provisioned.world.webhook_secret not in settings.content_string
    unit = pms1_testinfra.file("/etc/systemd/system/slipway-webhook.service").content_string
    assert provisioned.world.webhook_secret not in unit
    assert provisioned.world.webhook_secret not in provisioned.first.output + provisioned.second.output
    config = json.loads(settings.content_string)
    # the run is cron's: the same lock file, playbook, working directory, config and log
    assert (
        config["command"][:2] == ["flock", "-w"] and config["command"][3] == f"{HOME}/issue-watcher/cron.lock"
    )
    assert config["command"][-1] == "watcher.yml" and config["cwd"] == f"{HOME}/slipway"
    assert config["env"]["SLIPWAY_WATCHER_CONFIG"] == f"{HOME}/issue-watcher/watcher.config.json"
    assert config["log"] == f"{HOME}/issue-watcher/logs/cron.log"


def test_the_hook_is_registered_once_after_two_site_runs(provisioned: Provisioned) -> None:
    world = provisioned.world
    url = f"http://127.0.0.1:{world.webhook_port}/forgejo"
    hooks = [h for h in world.forgejo.hooks(OWNER, REPO) if h["config"]["url"] == url]
    assert len(hooks) == 1 and hooks[0]["active"] and hooks[0]["type"] == "forgejo"
    assert {"issues", "issue_label", "issue_comment"} <= set(hooks[0]["events"])
    posts = [r for r in world.forgejo.requests if r.method == "POST" and r.path.endswith("/hooks")]
    assert len(posts) == 1
    register = [
        r
        for r in provisioned.second.results
        if r["task"].endswith(
            "Register the webhook on the repository once (idempotent; the token from watcher.config.json)."
        )
    ]  # noqa: E501
    assert register and not register[-1]["result"].get("changed")


def test_the_receiver_takes_a_signed_delivery_and_refuses_a_forged_one(provisioned: Provisioned) -> None:
    import hashlib
    import hmac
    import uuid

    import httpx

    world = provisioned.world
    body = json.dumps({"action": "opened", "repository": {"full_name": f"{OWNER}/{REPO}"}}).encode()
    url = f"http://127.0.0.1:{world.webhook_port}/forgejo"

    def post(secret: str) -> int:
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-Forgejo-Signature": signature, "X-Forgejo-Delivery": str(uuid.uuid4()),
                   "X-Forgejo-Event": "issues", "X-Forgejo-Event-Type": "issues"}  # fmt: skip
        return httpx.post(url, content=body, headers=headers, timeout=5).status_code

    assert post("not-the-secret") == 401
    assert post(world.webhook_secret) == 202


# ----------------------------------------------------------------------------- test-database mirror


def test_the_mirror_is_scheduled_daily_as_postgres(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    crontab = pms1_testinfra.run("crontab -l -u postgres").stdout
    (line,) = [
        entry
        for entry in crontab.splitlines()
        if "slipway-testdb-mirror" in entry and not entry.startswith("#")
    ]
    minute, hour, dom, month, dow = line.split()[:5]
    assert (dom, month, dow) == ("*", "*", "*") and hour.isdigit() and minute.isdigit()
    assert pms1_testinfra.file("/usr/local/sbin/slipway-testdb-mirror").mode == 0o755


def _test_role_password(host: Any) -> str:
    pgpass = host.file(TEST_ROLE_PGPASS)
    assert (pgpass.user, pgpass.group, pgpass.mode) == ("root", "root", 0o600)
    line = pgpass.content_string.strip()
    assert line.startswith(f"*:*:*:{TEST_ROLE}:")
    return line.rsplit(":", 1)[1]


def _psql(host: Any, facts: dict, database: str, sql: str, role: str = "", via: str = "127.0.0.1") -> Any:
    """psql as production's role (default) or the test role, over TCP or the socket directory."""
    password = _test_role_password(host) if role == TEST_ROLE else facts["pg_password"]
    return host.run(
        f"PGPASSWORD={shlex.quote(password)} psql -X -tA -v ON_ERROR_STOP=1 -h {via} "
        f"-p {facts['pg_port']} -U {role or facts['pg_user']} -d {database} -c {shlex.quote(sql)}"
    )


def _as_test_role(host: Any, facts: dict, database: str, sql: str) -> Any:
    return _psql(host, facts, database, sql, role=TEST_ROLE)


def _superuser_sql(host: Any, facts: dict, database: str, sql: str) -> Any:
    return host.run(
        f"cd / && runuser -u postgres -- psql -X -tA -v ON_ERROR_STOP=1 -p {facts['pg_port']} -d {database} "
        f"-c {shlex.quote(sql)}"
    )


def test_the_mirror_restores_production_into_the_test_database_scrubbed(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    facts = provisioned.world.host.facts
    seeded = _psql(
        pms1_testinfra,
        facts,
        "pelagia",
        "DROP TABLE IF EXISTS people; CREATE TABLE people (id int PRIMARY KEY, name text, email text);"
        "INSERT INTO people VALUES (1, 'Ada', 'ada@pelagia.example'), (2, 'Bo', 'bo@pelagia.example');",
    )
    assert seeded.rc == 0, seeded.stderr
    stale = _as_test_role(pms1_testinfra, facts, "pelagia_test", "CREATE TABLE IF NOT EXISTS stale (x int)")
    assert stale.rc == 0, stale.stderr
    # A hook that records who runs it: the job's own user, never the role the agent can use.
    pms1_testinfra.run(
        "echo 'CREATE TABLE hook_ran_as AS SELECT current_user::text AS who;' "
        "> /etc/slipway/testdb-mirror.d/60-who.sql"
    )
    run = pms1_testinfra.run("runuser -u postgres -- /usr/local/sbin/slipway-testdb-mirror")
    pms1_testinfra.run("rm -f /etc/slipway/testdb-mirror.d/60-who.sql")
    assert run.rc == 0, run.stdout + run.stderr
    rows = _as_test_role(
        pms1_testinfra, facts, "pelagia_test", "SELECT id, name, email FROM people ORDER BY id"
    )
    assert rows.stdout.split() == ["1|Ada|person1@example.invalid", "2|Bo|person2@example.invalid"]
    gone = _as_test_role(pms1_testinfra, facts, "pelagia_test", "SELECT to_regclass('stale') IS NULL")
    assert gone.stdout.strip() == "t"
    who = _as_test_role(pms1_testinfra, facts, "pelagia_test", "SELECT who FROM hook_ran_as")
    assert who.stdout.strip() == "postgres"
    # The test role owns the copy and all in it, and can write it; production kept its real data.
    owners = _superuser_sql(
        pms1_testinfra,
        facts,
        "pelagia_test",
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
        "UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()",
    )
    assert owners.stdout.split() == [TEST_ROLE], owners.stdout + owners.stderr
    write = _as_test_role(pms1_testinfra, facts, "pelagia_test", "UPDATE people SET name = name RETURNING id")
    assert write.rc == 0, write.stderr
    prod = _psql(pms1_testinfra, facts, "pelagia", "SELECT email FROM people WHERE id = 1")
    assert prod.stdout.strip() == "ada@pelagia.example"
    leftovers = _psql(
        pms1_testinfra,
        facts,
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'pelagia_test_%'",
    )
    assert leftovers.stdout.strip() == ""


def test_the_mirror_refuses_when_source_and_target_are_the_same(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    same = "/etc/slipway/testdb-mirror-same.conf"
    pms1_testinfra.run(f"sed 's/^TARGET_DB=.*/TARGET_DB=pelagia/' /etc/slipway/testdb-mirror.conf > {same}")
    run = pms1_testinfra.run(f"runuser -u postgres -- /usr/local/sbin/slipway-testdb-mirror {same}")
    pms1_testinfra.run(f"rm -f {same}")
    assert run.rc != 0
    assert "refusing: source and target are the same database" in run.stdout + run.stderr


def test_a_failing_hook_leaves_the_test_database_as_it_was(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    facts = provisioned.world.host.facts
    marker = _as_test_role(
        pms1_testinfra, facts, "pelagia_test", "CREATE TABLE IF NOT EXISTS keep_me (x int)"
    )
    assert marker.rc == 0, marker.stderr
    pms1_testinfra.run("echo 'SELECT no_such_function();' > /etc/slipway/testdb-mirror.d/99-broken.sql")
    run = pms1_testinfra.run("runuser -u postgres -- /usr/local/sbin/slipway-testdb-mirror")
    pms1_testinfra.run("rm -f /etc/slipway/testdb-mirror.d/99-broken.sql")
    assert run.rc != 0
    kept = _as_test_role(pms1_testinfra, facts, "pelagia_test", "SELECT to_regclass('keep_me') IS NOT NULL")
    assert kept.stdout.strip() == "t"
    leftovers = _psql(
        pms1_testinfra,
        facts,
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE 'pelagia_test_%'",
    )
    assert leftovers.stdout.strip() == ""


def test_without_a_scrub_hook_the_mirror_refuses_and_leaves_the_test_database(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    facts = provisioned.world.host.facts
    marker = _as_test_role(
        pms1_testinfra, facts, "pelagia_test", "CREATE TABLE IF NOT EXISTS keep_me_too (x int)"
    )
    assert marker.rc == 0, marker.stderr
    hooks = "/etc/slipway/testdb-mirror.d"
    pms1_testinfra.run(f"mkdir -p /root/hooks-aside && mv {hooks}/*.sql /root/hooks-aside/")
    try:
        run = pms1_testinfra.run("runuser -u postgres -- /usr/local/sbin/slipway-testdb-mirror")
        assert run.rc != 0
        assert "no post-restore hook (*.sql) in /etc/slipway/testdb-mirror.d" in run.stdout + run.stderr
        assert "slipway_testdb_mirror_unscrubbed_ok: true" in run.stdout + run.stderr
        kept = _as_test_role(
            pms1_testinfra, facts, "pelagia_test", "SELECT to_regclass('keep_me_too') IS NOT NULL"
        )
        assert kept.stdout.strip() == "t"
        # Explicitly allowed (slipway_testdb_mirror_unscrubbed_ok: true), it copies production as is.
        allowed = "/etc/slipway/testdb-mirror-unscrubbed.conf"
        pms1_testinfra.run(
            f"sed 's/^UNSCRUBBED_OK=.*/UNSCRUBBED_OK=true/' /etc/slipway/testdb-mirror.conf > {allowed}"
        )
        run = pms1_testinfra.run(f"runuser -u postgres -- /usr/local/sbin/slipway-testdb-mirror {allowed}")
        pms1_testinfra.run(f"rm -f {allowed}")
        assert run.rc == 0, run.stdout + run.stderr
        assert "copying pelagia unscrubbed" in run.stdout
        gone = _as_test_role(
            pms1_testinfra, facts, "pelagia_test", "SELECT to_regclass('keep_me_too') IS NULL"
        )
        assert gone.stdout.strip() == "t"
    finally:
        pms1_testinfra.run(f"mv /root/hooks-aside/*.sql {hooks}/ && rmdir /root/hooks-aside")


def test_the_site_run_sets_the_unscrubbed_switch_off_by_default(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    conf = pms1_testinfra.file("/etc/slipway/testdb-mirror.conf").content_string
    assert "UNSCRUBBED_OK=false" in conf.splitlines()


# ----------------------------------------------------------------------------- database roles


def test_the_test_role_reaches_the_test_database_alone(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    """Over TCP and over the socket (from the clone owner's account): pelagia_test yes, nothing else."""
    facts = provisioned.world.host.facts
    password = shlex.quote(_test_role_password(pms1_testinfra))
    for via in ("127.0.0.1", "/var/run/postgresql"):
        for database in ("pelagia", "postgres", "template1"):
            refused = as_app_user(
                pms1_testinfra,
                f"PGPASSWORD={password} psql -X -tA -w -h {via} -p {facts['pg_port']} -U {TEST_ROLE} "
                f"-d {database} -c 'SELECT 1'",
            )
            assert refused.rc != 0, (via, database, refused.stdout)
            assert "pg_hba.conf rejects connection" in refused.stderr, refused.stderr
        sql = "DROP TABLE IF EXISTS made_here; CREATE TABLE made_here (x int); INSERT INTO made_here VALUES (1);"
        count = shlex.quote("SELECT count(*) FROM made_here")
        made = as_app_user(
            pms1_testinfra,
            f"PGPASSWORD={password} psql -X -q -tA -w -v ON_ERROR_STOP=1 -h {via} -p {facts['pg_port']} "
            f"-U {TEST_ROLE} -d pelagia_test -c {shlex.quote(sql)} -c {count}",
        )
        assert made.rc == 0 and made.stdout.strip() == "1", made.stderr


def test_the_test_role_has_no_rights_beyond_its_database(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    facts = provisioned.world.host.facts
    role = _superuser_sql(
        pms1_testinfra,
        facts,
        "postgres",
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
        "(SELECT count(*) FROM pg_auth_members WHERE member = r.oid), "
        "has_database_privilege(r.oid, 'pelagia', 'CONNECT') FROM pg_roles r WHERE rolname = 'pelagia_agent'",
    )
    assert role.stdout.strip() == "t|f|f|f|f|f|0|f", role.stdout + role.stderr


def test_production_is_closed_to_public_and_open_to_its_role(
    provisioned: Provisioned, pms1_testinfra: Any
) -> None:
    facts = provisioned.world.host.facts
    public = _superuser_sql(
        pms1_testinfra,
        facts,
        "postgres",
        "SELECT datacl IS NOT NULL AND NOT EXISTS (SELECT FROM aclexplode(datacl) a "
        "WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT') FROM pg_database WHERE datname = 'pelagia'",
    )
    assert public.stdout.strip() == "t", public.stdout + public.stderr
    prod = _psql(pms1_testinfra, facts, "pelagia", "SELECT current_user")
    assert prod.rc == 0 and prod.stdout.strip() == facts["pg_user"], prod.stderr


def test_the_deploy_workflow_ships_with_the_toolkit(provisioned: Provisioned, pms1_testinfra: Any) -> None:
    shipped = pms1_testinfra.file(f"{HOME}/slipway/files/forgejo/workflows/deploy.yml")
    local = Path(__file__).resolve().parents[2] / "files/forgejo/workflows/deploy.yml"
    assert shipped.content_string == local.read_text()


# ----------------------------------------------------------------------------- runner migration (last: it re-provisions)


def test_a_runbook_era_runner_under_the_app_users_pm2_is_moved_keeping_its_registration(
    provisioned: Provisioned, pms1_testinfra: Any, tmp_path: Path
) -> None:
    world = provisioned.world
    legacy = f"{HOME}/forgejo-runner"
    registration = pms1_testinfra.file(f"{RUNNER_DIR}/.runner").content_string
    # The runbook's layout: the runner under the app user's pm2, registered in ~/forgejo-runner.
    pms1_testinfra.check_output(
        f"set -e; install -d -o {APP_USER} -g {APP_USER} {legacy}; "
        f"install -o {APP_USER} -g {APP_USER} -m 755 $(readlink -f {RUNNER_DIR}/forgejo-runner) {legacy}/forgejo-runner; "
        f"install -o {APP_USER} -g {APP_USER} -m 600 {RUNNER_DIR}/.runner {legacy}/.runner; rm {RUNNER_DIR}/.runner"
    )
    started = as_app_user(
        pms1_testinfra,
        f"cd {legacy} && PATH=/usr/local/bin:$PATH pm2 start ./forgejo-runner --name forgejo-runner"
        " --interpreter none -- daemon && PATH=/usr/local/bin:$PATH pm2 save",
    )
    assert started.rc == 0, started.stderr
    asked_before = len([r for r in world.forgejo.requests if r.path.endswith("/registration-token")])
    run = world.run_site(tmp_path / "site-migrate")
    assert run.rc == 0, run.output[-4000:]
    listing = as_app_user(pms1_testinfra, "PATH=/usr/local/bin:$PATH pm2 jlist")
    assert "forgejo-runner" not in {p["name"] for p in json.loads(listing.stdout.strip().splitlines()[-1])}
    dump = json.loads(pms1_testinfra.file(f"{HOME}/.pm2/dump.pm2").content_string)
    assert "forgejo-runner" not in {p["name"] for p in dump}
    moved = pms1_testinfra.file(f"{RUNNER_DIR}/.runner")
    assert moved.content_string == registration, "the registration was not carried over"
    assert (moved.user, moved.mode) == (RUNNER_USER, 0o600)
    assert not pms1_testinfra.file(f"{legacy}/.runner").exists
    assert len([r for r in world.forgejo.requests if r.path.endswith("/registration-token")]) == asked_before
    assert pms1_testinfra.service("forgejo-runner").is_running
    again = world.run_site(tmp_path / "site-migrate-again")
    assert again.rc == 0 and recap(again).changed == 0, changed_tasks(again)
