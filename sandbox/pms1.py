"""The disposable Debian host "pms1": a debootstrap rootfs booted with systemd-nspawn.

The image is built once per recipe and cached as a zstd tarball outside the repository
(``~/.cache/slipway`` or ``$SLIPWAY_CACHE_DIR``). Each host restores it into its own work
directory, gets a fresh ssh key and a free loopback port, and boots a real systemd.

nspawn shares the machine's network namespace: every port the host binds is the machine's
loopback, so sshd and PostgreSQL listen on 127.0.0.1 and on ports chosen at run time.

Used by the host tests and by the local demo; runs standalone as
``python -m sandbox.pms1 build|up|down|ssh|prepare|snapshot|restore``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import inspect
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SUITE = "bookworm"
RECIPE_VERSION = 1
PACKAGES: tuple[str, ...] = (
    "openssh-server",
    "python3",
    "sudo",
    "systemd",
    "systemd-sysv",
    "dbus",
    "ca-certificates",
    "cron",
    "curl",
    "git",
    "iproute2",
    "acl",
    "psmisc",
    "procps",
    "util-linux",
    "xz-utils",
    "zstd",
)
MASKED_UNITS: tuple[str, ...] = ("apt-daily.timer", "apt-daily-upgrade.timer")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")
FACTS_PATH_IN_HOST = "etc/slipway/pms1-facts.json"
PG_MAJOR = "15"
PG_CONF_IN_HOST = f"etc/postgresql/{PG_MAJOR}/main/postgresql.conf"
PROD_DB = "pelagia"
TEST_DB = "pelagia_test"
PG_ROLE = "pelagia"

BUILD_TIMEOUT = 900
TAR_TIMEOUT = 300
BOOT_TIMEOUT = 90.0
SHUTDOWN_TIMEOUT = 30.0
PREPARE_TIMEOUT = 600


class Pms1Error(RuntimeError):
    """The disposable host could not be built, booted, prepared or stopped."""


# --------------------------------------------------------------------------- helpers


def _system_env(**extra: str) -> dict[str, str]:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": os.environ.get("HOME", "/root"),
    }
    env.update(extra)
    return env


def _run(
    argv: list[str], timeout: float, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            argv,
            env=env if env is not None else _system_env(),
            timeout=timeout,
            check=True,
            capture_output=True,
            text=True,
            **kwargs,
        )
    except subprocess.CalledProcessError as exc:
        raise Pms1Error(
            f"{argv[0]} failed with exit {exc.returncode}: {(exc.stderr or exc.stdout or '')[-2000:]}"
        ) from exc


def free_port(avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port
    raise Pms1Error("no free port found on 127.0.0.1")


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def cache_dir() -> Path:
    configured = os.environ.get("SLIPWAY_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "slipway"
    base.mkdir(parents=True, exist_ok=True)
    return base


@contextlib.contextmanager
def _cache_lock(name: str) -> Iterator[None]:
    """Serialise builds and snapshots of one cache entry across processes."""
    lock_path = cache_dir() / f"{name}.lock"
    with open(lock_path, "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- apt sources


def _parse_deb822(text: str) -> list[tuple[str, list[str]]]:
    entries: list[tuple[str, list[str]]] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line.startswith((" ", "\t")):
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                entries.append((uri, fields.get("suites", "").split()))
    return entries


def _parse_one_line(text: str) -> list[tuple[str, list[str]]]:
    entries: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        words = [w for w in line.split() if not w.startswith("[")]
        if len(words) >= 3 and words[0] == "deb":
            entries.append((words[1], [words[2]]))
    return entries


def machine_debian_mirrors(etc_apt: Path = Path("/etc/apt")) -> tuple[str, str]:
    """The Debian archive and security mirrors the machine's own apt sources use."""
    entries: list[tuple[str, list[str]]] = []
    candidates = [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*"))]
    for path in candidates:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        entries += _parse_deb822(text) if path.suffix == ".sources" else _parse_one_line(text)
    archive, security = DEFAULT_MIRROR, DEFAULT_SECURITY_MIRROR
    for uri, suites in reversed(entries):
        if SUITE in suites:
            archive = uri.rstrip("/")
        if f"{SUITE}-security" in suites or f"{SUITE}/updates" in suites:
            security = uri.rstrip("/")
    return archive, security


def _image_sources(archive: str, security: str) -> str:
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    return (
        f"Types: deb\nURIs: {archive}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        f"Signed-By: {keyring}\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
        f"Signed-By: {keyring}\n"
    )


# --------------------------------------------------------------------------- recipe and build


def extra_ca_certificates() -> dict[str, bytes]:
    """The machine's locally added CA certificates (the egress proxy's among them)."""
    if not EXTRA_CA_DIR.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(EXTRA_CA_DIR.glob("*.crt")) if p.is_file()}


def recipe_hash() -> str:
    """A short hash of everything that shapes the base image: a change means a rebuild."""
    digest = hashlib.sha256()
    archive, security = machine_debian_mirrors()
    recipe = {
        "version": RECIPE_VERSION,
        "suite": SUITE,
        "packages": PACKAGES,
        "masked": MASKED_UNITS,
        "sources": _image_sources(archive, security),
        "configure": inspect.getsource(_configure_image),
    }
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    for name, content in extra_ca_certificates().items():
        digest.update(name.encode() + b"\0" + content)
    return digest.hexdigest()[:16]


def image_path() -> Path:
    return cache_dir() / f"pms1-{recipe_hash()}.tar.zst"


def snapshot_path(tag: str) -> Path:
    if not tag or "/" in tag or tag.startswith("."):
        raise ValueError(f"bad snapshot tag: {tag!r}")
    return cache_dir() / f"pms1-{recipe_hash()}-{tag}.tar.zst"


def has_snapshot(tag: str) -> bool:
    return snapshot_path(tag).is_file()


def _configure_image(rootfs: Path, archive: str, security: str) -> None:
    """Turn a fresh debootstrap tree into the generic base image."""
    (rootfs / "etc/apt/sources.list").write_text("")
    (rootfs / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(_image_sources(archive, security))
    (rootfs / "etc/hostname").write_text("pms1\n")
    (rootfs / "etc/default/locale").write_text("LANG=C.UTF-8\n")
    # An empty machine-id makes systemd generate a fresh one at every boot.
    (rootfs / "etc/machine-id").write_text("")
    for unit in MASKED_UNITS:
        link = rootfs / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    ca_dir = rootfs / "usr/local/share/ca-certificates"
    ca_dir.mkdir(parents=True, exist_ok=True)
    for name, content in extra_ca_certificates().items():
        (ca_dir / name).write_bytes(content)
    _run(["chroot", str(rootfs), "update-ca-certificates", "--fresh"], timeout=120)
    _run(["chroot", str(rootfs), "apt-get", "clean"], timeout=60)
    for leftover in ("var/lib/apt/lists", "var/cache/apt"):
        for child in (rootfs / leftover).glob("*"):
            if child.is_file() and child.name != "lock":
                child.unlink()
    exim = subprocess.run(
        ["chroot", str(rootfs), "dpkg-query", "-W", "exim4-base"],
        env=_system_env(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    if exim.returncode == 0:
        raise Pms1Error("exim4 ended up in the image; it would bind 127.0.0.1:25")


def _tar_create(rootfs: Path, target: Path) -> None:
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    try:
        _run(
            [
                "tar",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "--acls",
                "-I",
                "zstd -T0 -3",
                "-C",
                str(rootfs),
                "-cf",
                str(partial),
                ".",
            ],
            timeout=TAR_TIMEOUT,
        )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _tar_extract(tarball: Path, rootfs: Path) -> None:
    rootfs.mkdir(parents=True, exist_ok=True)
    _run(
        [
            "tar",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "--acls",
            "-I",
            "zstd -T0",
            "-C",
            str(rootfs),
            "-xpf",
            str(tarball),
        ],
        timeout=TAR_TIMEOUT,
    )
    # The rootfs becomes "/" of the host and keeps its mode: sshd and dbus need 0755.
    rootfs.chmod(0o755)


def build(force: bool = False, log: Any = None) -> Path:
    """Build the base image unless the cache already holds it; return the tarball path."""
    target = image_path()
    with _cache_lock(target.name):
        if target.is_file() and not force:
            return target
        archive, security = machine_debian_mirrors()
        workspace = Path(tempfile.mkdtemp(prefix="pms1-build-", dir=cache_dir()))
        rootfs = workspace / "rootfs"
        try:
            _say(log, f"debootstrap {SUITE} from {archive} into {rootfs}")
            _run(
                [
                    "debootstrap",
                    "--variant=minbase",
                    f"--include={','.join(PACKAGES)}",
                    SUITE,
                    str(rootfs),
                    archive,
                ],
                timeout=BUILD_TIMEOUT,
                env=_system_env(DEBIAN_FRONTEND="noninteractive"),
            )
            _configure_image(rootfs, archive, security)
            _say(log, f"packing {target}")
            _tar_create(rootfs, target)
        finally:
            _remove_tree(rootfs)
            shutil.rmtree(workspace, ignore_errors=True)
    return target


def _say(log: Any, message: str) -> None:
    if log is not None:
        print(f"[pms1] {message}", file=log, flush=True)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    mounts: list[str] = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            mount_point = line.split()[4].replace("\\040", " ")
            if mount_point == prefix or mount_point.startswith(prefix + "/"):
                mounts.append(mount_point)
    return mounts


def _remove_tree(path: Path) -> None:
    """Remove a rootfs, first unmounting anything a failed step left mounted inside it."""
    if not path.exists():
        return
    for mount_point in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], env=_system_env(), timeout=30, check=False)
    shutil.rmtree(path)


# --------------------------------------------------------------------------- processes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _pids_rooted_in(rootfs: Path) -> list[int]:
    """Processes whose root directory is the rootfs: whatever the container still runs."""
    target = str(rootfs.resolve())
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "root") == target:
                found.append(int(entry.name))
    return found


def _nspawn_running_as(name: str) -> bool:
    """Whether some systemd-nspawn on this machine runs a container called ``name``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _pid_alive(int(entry.name)):
            continue
        argv = _cmdline(int(entry.name))
        if (
            argv
            and argv[0].endswith("systemd-nspawn")
            and any(argv[i] in ("-M", "--machine") and argv[i + 1] == name for i in range(len(argv) - 1))
        ):
            return True
    return False


def _wait_gone(pid: int, timeout: float, child: subprocess.Popen | None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None:
            if child.poll() is not None:
                return True
        elif not _pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


# --------------------------------------------------------------------------- the host


class Pms1Host:
    """One disposable pms1 under ``workdir``: rootfs, ssh key, state, console log."""

    def __init__(self, workdir: Path, ssh_port: int | None = None, name: str = "pms1") -> None:
        self.workdir = Path(workdir).resolve()
        self.name = name
        self.ssh_port = ssh_port
        self.rootfs = self.workdir / "rootfs"
        self.key_path = self.workdir / "id_ed25519"
        self.ssh_config_path = self.workdir / "ssh_config"
        self.state_path = self.workdir / "state.json"
        self.console_log = self.workdir / "console.log"
        self._ssh_port_requested = ssh_port is not None
        self.pid: int | None = None
        self.timings: dict[str, float] = {}
        self.facts: dict[str, Any] = {}
        self._process: subprocess.Popen | None = None

    # ---- state shared with the CLI (up and down may run in different processes)

    @classmethod
    def attach(cls, workdir: Path) -> Pms1Host:
        """A handle on a host that ``up`` started earlier, perhaps from another process."""
        host = cls(workdir)
        state = json.loads(host.state_path.read_text())
        host.name = state["name"]
        host.ssh_port = state["ssh_port"]
        host.pid = state.get("pid")
        host.facts = state.get("facts", {})
        return host

    def _save_state(self) -> None:
        state = {"name": self.name, "ssh_port": self.ssh_port, "pid": self.pid, "facts": self.facts}
        self.state_path.write_text(json.dumps(state, indent=2) + "\n")

    @property
    def running(self) -> bool:
        return self.pid is not None and _pid_alive(self.pid) and self._is_our_nspawn(self.pid)

    def _is_our_nspawn(self, pid: int) -> bool:
        argv = _cmdline(pid)
        return bool(argv) and argv[0].endswith("systemd-nspawn") and str(self.rootfs) in argv

    # ---- lifecycle

    def up(self) -> Pms1Host:
        """Restore the base image, authorise a fresh key, boot, and wait until ready."""
        return self._boot_from(build())

    def restore(self, tag: str) -> Pms1Host:
        """Replace this host by the snapshot ``tag`` and boot it (pg port chosen afresh)."""
        tarball = snapshot_path(tag)
        if not tarball.is_file():
            raise Pms1Error(f"no snapshot {tag!r} at {tarball}")
        if self.running:
            self.down()
        return self._boot_from(tarball)

    def _boot_from(self, tarball: Path) -> Pms1Host:
        if self.running:
            raise Pms1Error(f"{self.name} already runs (pid {self.pid})")
        if self.state_path.is_file():
            recorded = json.loads(self.state_path.read_text()).get("pid")
            if recorded and _pid_alive(recorded) and self._is_our_nspawn(recorded):
                raise Pms1Error(f"a host already runs from {self.workdir} (pid {recorded}); run down first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        _remove_tree(self.rootfs)
        _tar_extract(tarball, self.rootfs)
        self.timings["restore"] = time.monotonic() - started
        self._load_facts_from_rootfs()
        self._ensure_key()
        if self.ssh_port is not None and port_answers(self.ssh_port):
            if self._ssh_port_requested:
                raise Pms1Error(f"ssh port {self.ssh_port} is already in use on 127.0.0.1")
            self.ssh_port = None
        self.ssh_port = self.ssh_port or free_port()
        self._configure_for_boot()
        self._start_nspawn()
        try:
            self._wait_ready()
        except BaseException:
            self.down()
            raise
        return self

    def _ensure_key(self) -> None:
        if not self.key_path.exists():
            _run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"slipway-{self.name}", "-f"]
                + [str(self.key_path)],
                timeout=30,
            )
        self.key_path.chmod(0o600)

    def _configure_for_boot(self) -> None:
        ssh_dir = self.rootfs / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        ssh_dir.chmod(0o700)
        authorized = ssh_dir / "authorized_keys"
        authorized.write_text(Path(f"{self.key_path}.pub").read_text())
        authorized.chmod(0o600)
        (self.rootfs / "etc/hostname").write_text(f"{self.name}\n")
        sshd_conf = self.rootfs / "etc/ssh/sshd_config.d/slipway-sandbox.conf"
        sshd_conf.write_text(
            f"# Written by sandbox.pms1: loopback only, key only.\n"
            f"Port {self.ssh_port}\nListenAddress 127.0.0.1\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        )
        if self.facts.get("pg_port"):
            self._move_postgres_port()
        self._write_ssh_config()

    def _move_postgres_port(self) -> None:
        """A restored snapshot gets a PostgreSQL port that is free on this machine now."""
        avoid = {self.ssh_port} if self.ssh_port else set()
        new_port = free_port(avoid)
        conf = self.rootfs / PG_CONF_IN_HOST
        lines = [
            f"port = {new_port}\t\t\t\t# set by sandbox.pms1"
            if line.split("=")[0].strip() == "port"
            else line
            for line in conf.read_text().splitlines()
        ]
        conf.write_text("\n".join(lines) + "\n")
        self.facts["pg_port"] = new_port
        self._write_facts_to_rootfs()

    def _write_ssh_config(self) -> None:
        self.ssh_config_path.write_text(
            f"Host {self.name}\n"
            "  HostName 127.0.0.1\n"
            f"  Port {self.ssh_port}\n"
            "  User root\n"
            f"  IdentityFile {self.key_path}\n"
            "  IdentitiesOnly yes\n"
            "  StrictHostKeyChecking no\n"
            "  UserKnownHostsFile /dev/null\n"
            "  LogLevel ERROR\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 5\n"
            "  SetEnv LANG=C.UTF-8\n"
        )

    def _start_nspawn(self) -> None:
        argv = [
            "systemd-nspawn",
            "-D",
            str(self.rootfs),
            "-b",
            "-M",
            self.name,
            "--register=no",
            "--keep-unit",
            "--console=read-only",
        ]
        with open(self.console_log, "wb") as console:
            self._process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=_system_env(),
                start_new_session=True,
            )
        self.pid = self._process.pid
        self._save_state()

    def _wait_ready(self, timeout: float = BOOT_TIMEOUT) -> None:
        started = time.monotonic()
        deadline = started + timeout
        while not self._ssh_answers():
            self._fail_if_exited()
            if time.monotonic() > deadline:
                raise Pms1Error(f"ssh on port {self.ssh_port} did not answer: {self._console_tail()}")
            time.sleep(0.2)
        self.timings["boot_to_ssh"] = time.monotonic() - started
        state = ""
        while time.monotonic() < deadline:
            state = self.ssh("systemctl", "is-system-running", check=False, timeout=20).stdout.strip()
            if state in ("running", "degraded"):
                self.timings["boot_to_running"] = time.monotonic() - started
                return
            self._fail_if_exited()
            time.sleep(0.3)
        raise Pms1Error(f"systemd did not settle (last state {state!r}): {self._console_tail()}")

    def _ssh_answers(self) -> bool:
        if self.ssh_port is None or not port_answers(self.ssh_port, timeout=0.5):
            return False
        return self.ssh("true", check=False, timeout=15).returncode == 0

    def _fail_if_exited(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise Pms1Error(f"systemd-nspawn exited with {self._process.returncode}: {self._console_tail()}")

    def _console_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.console_log.read_text(errors="replace")[-chars:]
        return ""

    def stop(self) -> None:
        """Shut the container down in order (SIGTERM to nspawn) but keep the rootfs."""
        if self.pid is not None and self._is_our_nspawn(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            if not _wait_gone(self.pid, SHUTDOWN_TIMEOUT, self._process):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                _wait_gone(self.pid, 10, self._process)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
        self._kill_stragglers()
        self._remove_runtime_entries()
        self.pid = None
        self._process = None
        if self.workdir.is_dir():
            self._save_state()

    def down(self) -> None:
        """Stop the host and remove its rootfs; the work directory keeps key and log."""
        self.stop()
        _remove_tree(self.rootfs)

    def _kill_stragglers(self) -> None:
        if not self.rootfs.exists():
            return
        for pid in _pids_rooted_in(self.rootfs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _pids_rooted_in(self.rootfs) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _remove_runtime_entries(self) -> None:
        """nspawn leaves /run/systemd/nspawn/ entries behind when it cannot register."""
        runtime = Path("/run/systemd/nspawn")
        if _nspawn_running_as(self.name):
            return  # another host of the same name still uses these entries
        for entry in (runtime / "unix-export" / self.name, runtime / "propagate" / self.name):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.exists() or entry.is_symlink():
                entry.unlink(missing_ok=True)
        for directory in (runtime / "unix-export", runtime / "propagate", runtime / "locks", runtime):
            with contextlib.suppress(OSError):
                directory.rmdir()

    # ---- access

    def ssh(
        self,
        *argv: str,
        user: str = "root",
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Run argv on the host over ssh (quoted for the remote shell); text output captured."""
        command = [
            "ssh",
            "-F",
            str(self.ssh_config_path),
            "-l",
            user,
            self.name,
            "--",
            shlex.join(argv),
        ]
        try:
            result = subprocess.run(
                command,
                input=input,
                env=_system_env(),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise Pms1Error(f"ssh {shlex.join(argv)} timed out after {timeout}s") from exc
        if check and result.returncode != 0:
            raise Pms1Error(
                f"ssh {shlex.join(argv)} exited {result.returncode}: {(result.stderr or result.stdout)[-2000:]}"
            )
        return result

    def write_inventory(self, path: Path, group: str = "pms1", extra_vars: dict | None = None) -> Path:
        """A YAML inventory that reaches this host with the real ``ansible`` commands."""
        host_vars: dict[str, Any] = {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(self.key_path),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
            "-o IdentitiesOnly=yes",
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        host_vars.update(extra_vars or {})
        import yaml  # only here: the rest of the module needs nothing outside the stdlib

        inventory = {"all": {"children": {group: {"hosts": {self.name: host_vars}}}}}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        return path

    def testinfra_host(self) -> Any:
        """A testinfra host on the ``ssh://`` backend, configured by this host's ssh_config."""
        import testinfra

        return testinfra.get_host(f"ssh://{self.name}", ssh_config=str(self.ssh_config_path))

    # ---- what pms1 already has before Slipway

    def prepare(self, app_user: str = "deploy", pg_port: int | None = None) -> dict[str, Any]:
        """Install the app user and PostgreSQL 15 with the production and test databases."""
        if self.facts.get("pg_port"):
            return dict(self.facts)
        port = pg_port or free_port({self.ssh_port} if self.ssh_port else set())
        if port == 5432 and pg_port is None:
            port = free_port({5432, self.ssh_port or 0})
        password = secrets.token_hex(16)
        script = _prepare_script(app_user, port, password)
        self.ssh("bash", "-s", input=script, timeout=PREPARE_TIMEOUT)
        self.facts = {
            "app_user": app_user,
            "pg_host": "127.0.0.1",
            "pg_port": port,
            "pg_user": PG_ROLE,
            "pg_password": password,
            "prod_db": PROD_DB,
            "test_db": TEST_DB,
        }
        self._write_facts_to_rootfs()
        self._save_state()
        return dict(self.facts)

    def _write_facts_to_rootfs(self) -> None:
        facts_file = self.rootfs / FACTS_PATH_IN_HOST
        facts_file.parent.mkdir(parents=True, exist_ok=True)
        facts_file.write_text(json.dumps(self.facts, indent=2) + "\n")
        facts_file.chmod(0o600)

    def _load_facts_from_rootfs(self) -> None:
        facts_file = self.rootfs / FACTS_PATH_IN_HOST
        self.facts = json.loads(facts_file.read_text()) if facts_file.is_file() else {}

    # ---- snapshots

    def snapshot(self, tag: str) -> Path:
        """Tar the stopped rootfs beside the base image, then boot again if it was running."""
        target = snapshot_path(tag)
        was_running = self.running
        self.stop()
        with _cache_lock(target.name):
            _tar_create(self.rootfs, target)
        if was_running:
            self._start_nspawn()
            self._wait_ready()
        return target

    def ensure_prepared(self, app_user: str = "deploy") -> dict[str, Any]:
        """Boot a prepared host: from its snapshot when cached, else up + prepare + snapshot."""
        tag = prepared_tag(app_user)
        if has_snapshot(tag):
            self.restore(tag)
            return dict(self.facts)
        self.up()
        facts = self.prepare(app_user=app_user)
        self.snapshot(tag)
        return facts

    def __enter__(self) -> Pms1Host:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()


# psql script run as postgres; the password arrives as the psql variable "pw".
_PREPARE_SQL = """\
SELECT 'CREATE ROLE pelagia LOGIN' WHERE NOT EXISTS
    (SELECT FROM pg_roles WHERE rolname = 'pelagia')\\gexec
ALTER ROLE pelagia WITH LOGIN PASSWORD :'pw';
SELECT 'CREATE DATABASE pelagia OWNER pelagia' WHERE NOT EXISTS
    (SELECT FROM pg_database WHERE datname = 'pelagia')\\gexec
SELECT 'CREATE DATABASE pelagia_test OWNER pelagia' WHERE NOT EXISTS
    (SELECT FROM pg_database WHERE datname = 'pelagia_test')\\gexec
"""


def _prepare_script(app_user: str, pg_port: int, password: str) -> str:
    user = shlex.quote(app_user)
    return f"""set -euo pipefail
cd /
export DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1
id -u {user} >/dev/null 2>&1 || useradd --create-home --shell /bin/bash {user}
# No main cluster from the package: it would start on 5432, which the machine may use.
install -d /etc/postgresql-common
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
apt-get update -q
apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold \\
    postgresql-{PG_MAJOR} postgresql-client-{PG_MAJOR}
# Keep the package lists (a real host has them) but not the downloaded debs: smaller snapshots.
apt-get clean
rm -f /var/cache/apt/*.bin
if [ ! -d /etc/postgresql/{PG_MAJOR}/main ]; then
    pg_createcluster {PG_MAJOR} main --port {pg_port}
fi
conf=/etc/postgresql/{PG_MAJOR}/main/postgresql.conf
sed -i -E "s/^#?listen_addresses = [^#]*/listen_addresses = '127.0.0.1' /" "$conf"
sed -i -E "s/^#?port = [0-9]+/port = {pg_port}/" "$conf"
grep -q "^listen_addresses = '127.0.0.1'" "$conf"
grep -q "^port = {pg_port}" "$conf"
systemctl enable postgresql@{PG_MAJOR}-main.service
systemctl restart postgresql@{PG_MAJOR}-main.service
for _ in $(seq 1 100); do
    pg_isready -q -h 127.0.0.1 -p {pg_port} && break
    sleep 0.2
done
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -v pw={password} -p {pg_port} <<'SQL'
{_PREPARE_SQL}SQL
"""


def prepared_tag(app_user: str = "deploy") -> str:
    """The snapshot tag of a prepared host; changes whenever the prepare recipe does."""
    source = inspect.getsource(_prepare_script) + inspect.getsource(Pms1Host.prepare) + app_user
    return f"prepared-{hashlib.sha256(source.encode()).hexdigest()[:12]}"


def prune_cache() -> list[Path]:
    """Delete cached tarballs of other base recipes and stale prepared snapshots."""
    current = recipe_hash()
    keep_prepared = prepared_tag()
    removed: list[Path] = []
    for tarball in cache_dir().glob("pms1-*.tar.zst"):
        rest = tarball.name.removeprefix("pms1-").removesuffix(".tar.zst")
        base, _, tag = rest.partition("-")
        stale = base != current or (tag.startswith("prepared-") and tag != keep_prepared)
        if stale:
            tarball.unlink(missing_ok=True)
            Path(f"{tarball}.lock").unlink(missing_ok=True)
            removed.append(tarball)
    return removed


# --------------------------------------------------------------------------- CLI


def _cli_up(args: argparse.Namespace) -> int:
    host = Pms1Host(args.workdir, ssh_port=args.ssh_port, name=args.name)
    started = time.monotonic()
    if args.prepared:
        host.ensure_prepared(app_user=args.app_user)
    else:
        host.up()
    inventory = host.write_inventory(host.workdir / "inventory.yml")
    report = {
        "name": host.name,
        "pid": host.pid,
        "ssh_port": host.ssh_port,
        "ssh_config": str(host.ssh_config_path),
        "private_key": str(host.key_path),
        "inventory": str(inventory),
        "facts": host.facts,
        "seconds": round(time.monotonic() - started, 2),
    }
    print(json.dumps(report, indent=2))
    return 0


def _cli_ssh(args: argparse.Namespace) -> int:
    host = Pms1Host.attach(args.workdir)
    argv = list(args.command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        interactive = ["ssh", "-F", str(host.ssh_config_path), "-t", host.name]
        return subprocess.run(
            interactive, env=_system_env(TERM=os.environ.get("TERM", "xterm")), check=False
        ).returncode
    result = host.ssh(*argv, check=False, timeout=args.timeout)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.pms1", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    build_cmd = sub.add_parser("build", help="build the base image unless cached")
    build_cmd.add_argument("--force", action="store_true")
    sub.add_parser("image-path", help="print where the base image is cached")
    sub.add_parser("prune", help="delete cached images and snapshots of older recipes")
    for action in ("up", "down", "ssh", "prepare", "snapshot", "restore"):
        cmd = sub.add_parser(action)
        cmd.add_argument("--workdir", type=Path, required=True)
        if action in ("up", "restore"):
            cmd.add_argument("--ssh-port", type=int, default=None)
            cmd.add_argument("--name", default="pms1")
        if action == "up":
            cmd.add_argument("--prepared", action="store_true", help="boot a prepared host")
        if action in ("up", "prepare"):
            cmd.add_argument("--app-user", default="deploy")
        if action == "prepare":
            cmd.add_argument("--pg-port", type=int, default=None)
        if action in ("snapshot", "restore"):
            cmd.add_argument("--tag", required=True)
        if action == "ssh":
            cmd.add_argument("--timeout", type=float, default=600)
            cmd.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.action == "build":
        print(build(force=args.force, log=sys.stderr))
    elif args.action == "image-path":
        print(image_path())
    elif args.action == "prune":
        for removed in prune_cache():
            print(f"removed {removed}")
    elif args.action == "up":
        return _cli_up(args)
    elif args.action == "down":
        Pms1Host.attach(args.workdir).down()
    elif args.action == "ssh":
        return _cli_ssh(args)
    elif args.action == "prepare":
        host = Pms1Host.attach(args.workdir)
        print(json.dumps(host.prepare(app_user=args.app_user, pg_port=args.pg_port), indent=2))
    elif args.action == "snapshot":
        print(Pms1Host.attach(args.workdir).snapshot(args.tag))
    elif args.action == "restore":
        host = Pms1Host(args.workdir, ssh_port=args.ssh_port, name=args.name)
        if host.state_path.is_file():
            host = Pms1Host.attach(args.workdir)
            host.ssh_port = args.ssh_port or host.ssh_port
        host.restore(args.tag)
        print(json.dumps({"ssh_port": host.ssh_port, "pid": host.pid, "facts": host.facts}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
