"""The disposable pms1 host behaves like the real pms1 before Slipway, and leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandbox import pms1 as pms1_module
from sandbox.pms1 import Pms1Host

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _tool_env() -> dict[str, str]:
    return {
        "PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/root"),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "PYTHONPATH": str(REPO),
    }


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on ``port`` in the (shared) network namespace."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


LOOPBACK_HEX = "0100007F"


# ---------------------------------------------------------------- ansible over ssh


def test_ansible_ping_succeeds_through_the_written_inventory(pms1: Pms1Host, tmp_path: Path) -> None:
    inventory = pms1.write_inventory(tmp_path / "hosts.yml")
    result = subprocess.run(
        [str(VENV_BIN / "ansible"), "-i", str(inventory), "pms1", "-m", "ansible.builtin.ping"],
        env=_tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"ping": "pong"' in result.stdout


def test_ansible_sees_systemd_as_the_service_manager(pms1: Pms1Host, tmp_path: Path) -> None:
    inventory = pms1.write_inventory(tmp_path / "hosts.yml", extra_vars={"slipway_marker": "from-inventory"})
    result = subprocess.run(
        [str(VENV_BIN / "ansible"), "-i", str(inventory), "pms1", "-m", "ansible.builtin.setup"]
        + ["-a", "filter=ansible_service_mgr"],
        env=_tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"ansible_service_mgr": "systemd"' in result.stdout


def test_written_inventory_carries_extra_vars_to_the_host(pms1: Pms1Host, tmp_path: Path) -> None:
    inventory = pms1.write_inventory(
        tmp_path / "hosts.yml", group="portal", extra_vars={"slipway_marker": "x1"}
    )
    result = subprocess.run(
        [str(VENV_BIN / "ansible"), "-i", str(inventory), "portal", "-m", "ansible.builtin.debug"]
        + ["-a", "var=slipway_marker"],
        env=_tool_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"slipway_marker": "x1"' in result.stdout


# ---------------------------------------------------------------- testinfra checks


def test_pid_one_is_systemd_and_the_system_is_up(pms1_testinfra: Any) -> None:
    assert pms1_testinfra.check_output("ps -p 1 -o comm=").strip() == "systemd"
    state = pms1_testinfra.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded")
    assert pms1_testinfra.service("ssh").is_running


def test_sshd_listens_on_loopback_only(pms1: Pms1Host, pms1_testinfra: Any) -> None:
    effective = pms1_testinfra.check_output("sshd -T")
    listen = sorted(line for line in effective.splitlines() if line.startswith("listenaddress "))
    assert listen == [f"listenaddress 127.0.0.1:{pms1.ssh_port}"]
    assert _listening_addresses(pms1.ssh_port) == {LOOPBACK_HEX}


def test_apt_daily_timers_are_masked(pms1_testinfra: Any) -> None:
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert pms1_testinfra.run(f"systemctl is-enabled {timer}").stdout.strip() == "masked"


def test_no_mail_server_came_with_the_image(pms1_testinfra: Any) -> None:
    for package in ("exim4-base", "exim4-daemon-light", "postfix"):
        assert not pms1_testinfra.package(package).is_installed


def test_app_user_exists_with_a_home_and_no_sudo(pms1_testinfra: Any) -> None:
    deploy = pms1_testinfra.user("deploy")
    assert deploy.exists
    assert deploy.home == "/home/deploy"
    assert pms1_testinfra.file("/home/deploy").is_directory
    assert pms1_testinfra.file("/home/deploy").user == "deploy"
    assert "sudo" not in deploy.groups
    sudo_rights = pms1_testinfra.run("sudo -l -U deploy").stdout
    assert "is not allowed to run sudo" in sudo_rights


def test_postgresql_serves_both_databases_to_the_app_user(
    pms1_testinfra: Any, pms1_facts: dict[str, Any]
) -> None:
    facts = pms1_facts
    assert facts["prod_db"] == "pelagia" and facts["test_db"] == "pelagia_test"
    for database in (facts["prod_db"], facts["test_db"]):
        query = pms1_testinfra.run(
            "runuser -u deploy -- env PGPASSWORD=%s psql -h 127.0.0.1 -p %s -U %s -d %s -Atc %s",
            facts["pg_password"],
            str(facts["pg_port"]),
            facts["pg_user"],
            database,
            "select current_database()",
        )
        assert query.rc == 0, query.stderr
        assert query.stdout.strip() == database


def test_postgresql_rejects_a_wrong_password(pms1_testinfra: Any, pms1_facts: dict[str, Any]) -> None:
    query = pms1_testinfra.run(
        "env PGPASSWORD=wrong psql -h 127.0.0.1 -p %s -U %s -d pelagia -Atc 'select 1'",
        str(pms1_facts["pg_port"]),
        pms1_facts["pg_user"],
    )
    assert query.rc != 0
    assert "password authentication failed" in query.stderr


def test_postgresql_listens_on_loopback_only_on_a_chosen_port(pms1_facts: dict[str, Any]) -> None:
    assert _listening_addresses(pms1_facts["pg_port"]) == {LOOPBACK_HEX}


def test_ca_trust_lets_curl_reach_the_npm_registry(pms1_testinfra: Any) -> None:
    result = pms1_testinfra.run("curl -sS -o /dev/null -w '%{http_code}' https://registry.npmjs.org/")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "200"


# ---------------------------------------------------------------- lifecycle


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (the CLI's nspawn is reaped by init, later)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone(workdir: Path, name: str, pid: int, ssh_port: int) -> list[str]:
    problems = []
    if _running(pid):
        problems.append(f"nspawn pid {pid} still runs")
    if (workdir / "rootfs").exists():
        problems.append("rootfs still exists")
    if _listening_addresses(ssh_port):
        problems.append(f"something still listens on {ssh_port}")
    if Path("/run/systemd/nspawn/unix-export", name).exists():
        problems.append("nspawn runtime entry left behind")
    with open("/proc/self/mountinfo") as mountinfo:
        if str(workdir) in mountinfo.read():
            problems.append("mounts left under the work directory")
    return problems


def test_down_removes_the_host_processes_and_rootfs(pms1: Pms1Host, tmp_path: Path) -> None:
    host = Pms1Host(tmp_path / "gone", name="pms1-gone").up()
    try:
        pid, ssh_port = host.pid, host.ssh_port
        assert pid is not None and ssh_port is not None
        assert host.ssh("hostname").stdout.strip() == "pms1-gone"
    finally:
        host.down()
    assert _gone(host.workdir, host.name, pid, ssh_port) == []


def test_cli_runs_the_host_as_standalone_processes(pms1: Pms1Host, tmp_path: Path) -> None:
    workdir = tmp_path / "cli"

    def cli(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sandbox.pms1", *argv],
            cwd=REPO,
            env=_tool_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    started = cli("up", "--workdir", str(workdir), "--name", "pms1-cli")
    assert started.returncode == 0, started.stderr
    report = json.loads(started.stdout)
    try:
        ran = cli("ssh", "--workdir", str(workdir), "--", "cat", "/etc/os-release")
        assert ran.returncode == 0, ran.stderr
        assert "VERSION_CODENAME=bookworm" in ran.stdout
        failed = cli("ssh", "--workdir", str(workdir), "--", "sh", "-c", "exit 7")
        assert failed.returncode == 7
    finally:
        stopped = cli("down", "--workdir", str(workdir))
    assert stopped.returncode == 0, stopped.stderr
    assert _gone(workdir, "pms1-cli", report["pid"], report["ssh_port"]) == []


def test_restored_snapshot_answers_postgres_on_a_fresh_port(pms1: Pms1Host, tmp_path: Path) -> None:
    tag = pms1_module.prepared_tag("deploy")
    assert pms1_module.has_snapshot(tag)
    with Pms1Host(tmp_path / "restored", name="pms1-restored").restore(tag) as host:
        assert host.facts["pg_port"] != pms1.facts["pg_port"]
        assert host.facts["pg_password"] == pms1.facts["pg_password"]
        databases = host.ssh(
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-p",
            str(host.facts["pg_port"]),
            "-Atc",
            "select datname from pg_database order by 1",
        ).stdout.split()
        assert {"pelagia", "pelagia_test"} <= set(databases)


# ---------------------------------------------------------------- recipe


def test_apt_mirrors_are_read_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("deb http://mirror.example/debian bookworm main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb\nURIs: https://other.example/apt\nSuites: nodistro\n"
    )
    assert pms1_module.machine_debian_mirrors(tmp_path) == (
        "http://mirror.example/debian",
        "http://sec.example/debian-security",
    )


def test_snapshot_tags_cannot_escape_the_cache(tmp_path: Path) -> None:
    for bad in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(ValueError):
            pms1_module.snapshot_path(bad)
