"""What the site tests, the demo, bench/provision and bench/containment share: the outside world of a
provisioning run.

``SiteWorld`` starts a Forgejo double on a free loopback port holding the portal repository (the
host shares the machine's network namespace, so pms1 reaches it at the same URL), serves the
forgejo-runner stand-in (``sandbox/runner_standin.py``: the real runner cannot be downloaded here)
over HTTP, and writes an inventory for a ``Pms1Host`` with the site-wide variables the production
inventory sets. ``run_site`` runs the real ``ansible-playbook site.yml`` against it.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import secrets
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.forgejo_double import ForgejoDouble
from sandbox.playbook import ROOT, PlaybookRun, run_playbook
from sandbox.pms1 import Pms1Host, free_port

# How a playbook reaches the disposable pms1: the host's own remote_tmp (become_user needs one under the
# connecting user's home; a controller path made by a root module would leave the app user's modules no
# temporary directory), and the toolkit importable for the callback plugin.
HOST_PLAYBOOK_ENV = {
    "ANSIBLE_HOST_KEY_CHECKING": "False",
    "PYTHONPATH": str(ROOT),
    "ANSIBLE_REMOTE_TEMP": "~/.ansible/tmp",
}
OWNER = "shad0w"
REPO = "pelagia-portal"
SCOPES = ["write:issue", "write:repository"]
APP_USER = "deploy"
RUNNER_VERSION = "6.3.1"
LIFECYCLE_LABELS = {"portal", "claude-queue", "claude-working", "claude-pr", "claude-failed", "interactive"}
RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


def portal_tree(dest: Path) -> Path:
    """The portal fixture's files as its Forgejo repository holds them (no .git)."""
    subprocess.run(
        [str(ROOT / "scripts/make-portal-repo"), str(dest)], check=True, capture_output=True, timeout=120
    )
    shutil.rmtree(dest / ".git")
    return dest


def toolkit_snapshot(dest: Path) -> Path:
    """The repository's tracked files as they are now, in a git repository of their own.

    Provisioning copies the toolkit's tracked files; taking them from this snapshot keeps a test
    session's runs comparable while the working tree changes under it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True, timeout=60
    )
    packed = subprocess.run(
        ["tar", "-C", str(ROOT), "--null", "-T", "-", "--ignore-failed-read", "-cf", "-"],
        input=tracked.stdout,
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(["tar", "-C", str(dest), "-xf", "-"], input=packed.stdout, check=True, timeout=120)
    for argv in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(argv, cwd=dest, check=True, capture_output=True, timeout=120)
    return dest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_args: Any) -> None:
        pass


@dataclass
class Recap:
    ok: int
    changed: int
    unreachable: int
    failed: int


def recap(run: PlaybookRun, host: str = "pms1") -> Recap:
    for match in RECAP.finditer(run.stdout):
        if match["host"] == host:
            return Recap(
                int(match["ok"]), int(match["changed"]), int(match["unreachable"]), int(match["failed"])
            )
    raise AssertionError(f"no PLAY RECAP line for {host}:\n{run.output[-3000:]}")


def changed_tasks(run: PlaybookRun) -> list[str]:
    return [r["task"] for r in run.results if r["status"] == "ok" and r["result"].get("changed")]


class SiteWorld:
    """Forgejo double + runner download server + inventory for one disposable pms1."""

    def __init__(self, host: Pms1Host, workdir: Path, agent: bool = False, **extra_vars: Any) -> None:
        """``agent``: Claude runs as the agent user (slipway_agent_enabled, the role's default); the
        site tests pin the runbook's same-user layout, the agent-isolation tests the agent's.
        ``extra_vars`` are added to the inventory's variables."""
        self.host = host
        self.agent = agent
        self.extra_vars = extra_vars
        self.workdir = Path(workdir)
        self.forgejo = ForgejoDouble(self.workdir / "forgejo")
        self._download: http.server.ThreadingHTTPServer | None = None
        self.runner_url = ""
        self.runner_sha256 = ""
        self.token = ""
        self.toolkit = Path()
        # The webhook receiver listens on pms1's loopback, which is this machine's (shared namespace).
        self.webhook_secret = secrets.token_hex(24)
        self.webhook_port = free_port()

    def start(self) -> SiteWorld:
        self.toolkit = toolkit_snapshot(self.workdir / "toolkit")
        self.forgejo.start()
        self.forgejo.add_user(OWNER, admin=True)
        self.forgejo.create_repo(OWNER, REPO, source_dir=portal_tree(self.workdir / "portal"))
        self.token = self.forgejo.add_token(OWNER, SCOPES)
        served = self.workdir / "downloads"
        served.mkdir(parents=True, exist_ok=True)
        binary = served / f"forgejo-runner-{RUNNER_VERSION}-linux-amd64"
        shutil.copyfile(ROOT / "sandbox/runner_standin.py", binary)
        self.runner_sha256 = hashlib.sha256(binary.read_bytes()).hexdigest()
        handler = functools.partial(_QuietHandler, directory=str(served))
        self._download = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self._download.serve_forever, daemon=True, name="runner-download").start()
        self.runner_url = f"http://127.0.0.1:{self._download.server_address[1]}/{binary.name}"
        return self

    def stop(self) -> None:
        if self._download is not None:
            self._download.shutdown()
            self._download.server_close()
            self._download = None
        self.forgejo.stop()

    def site_vars(self) -> dict[str, Any]:
        """The site-wide variables, as inventories/production/group_vars/pms1/vars.yml sets them."""
        facts = self.host.facts
        return {
            "slipway_app_user": APP_USER,
            "slipway_app_home": f"/home/{APP_USER}",
            "slipway_forgejo_url": self.forgejo.url,
            "slipway_forgejo_repo": f"{OWNER}/{REPO}",
            "slipway_forgejo_token": self.token,
            "slipway_pg_host": "127.0.0.1",
            "slipway_pg_port": facts["pg_port"],
            "slipway_pg_user": facts["pg_user"],
            "slipway_pg_password": facts["pg_password"],
            "slipway_pg_prod_db": facts["prod_db"],
            "slipway_pg_test_db": facts["test_db"],
            "slipway_forgejo_runner_version": RUNNER_VERSION,
            "slipway_forgejo_runner_url": self.runner_url,
            "slipway_forgejo_runner_sha256": self.runner_sha256,
            "slipway_watcher_toolkit_source": str(self.toolkit),
            # The sandbox's cluster listens on a port chosen at run time; hooks scrub the test copy.
            "slipway_testdb_mirror_hooks": {
                "50-scrub-people.sql": "UPDATE people SET email = 'person' || id || '@example.invalid';\n",
            },
            "slipway_agent_enabled": self.agent,
            "slipway_webhook_secret": self.webhook_secret,
            "slipway_webhook_port": self.webhook_port,
            **self.extra_vars,
        }

    def inventory(self, path: Path) -> Path:
        return self.host.write_inventory(path, extra_vars=self.site_vars())

    def run_site(
        self, tmp_path: Path, *args: str, extra_vars: dict | None = None, timeout: float = 1800
    ) -> PlaybookRun:
        tmp_path.mkdir(parents=True, exist_ok=True)
        inventory = self.inventory(tmp_path / "hosts.yml")
        return run_playbook(
            tmp_path,
            ROOT / "site.yml",
            args=["-i", str(inventory), *args],
            extra_vars=extra_vars,
            inventory=False,
            timeout=timeout,
            env=HOST_PLAYBOOK_ENV,
        )
