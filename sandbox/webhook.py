"""The webhook receiver beside a watcher sandbox, as on pms1: scripts/slipway_webhook.py on loopback,
its runs being cron's command (`flock` on cron.lock, `ansible-playbook watcher.yml` as the watcher's
user, output appended to cron.log). Shared by tests/integration/test_webhook.py and bench/webhook-latency."""

from __future__ import annotations

import threading
import uuid

import httpx

from sandbox.playbook import ROOT, VENV_BIN, playbook_env
from sandbox.watcher_world import WatcherSandbox
from scripts import slipway_webhook as wh

SECRET = "integration-webhook-secret-7f3a9c"  # noqa: S105 - the sandbox's


class Running:
    def __init__(self, server: wh.Server, receiver: wh.Receiver, box: WatcherSandbox):
        self.server, self.receiver, self.box = server, receiver, box
        self.url = f"http://127.0.0.1:{server.server_address[1]}/forgejo"
        self.lock = box.watcher_home / "cron.lock"
        self.log = box.logs / "cron.log"

    @property
    def runner(self) -> wh.CoalescingRunner:
        return self.receiver.runner

    def post(self, body: bytes, *, event: str = "issues", delivery: str | None = None,
             secret: str | None = SECRET, extra: dict | None = None) -> httpx.Response:  # fmt: skip
        headers = {
            "Content-Type": "application/json",
            "X-Forgejo-Delivery": delivery or str(uuid.uuid4()),
            "X-Forgejo-Event": event.split("_")[0] if event.startswith("issue") else event,
            "X-Forgejo-Event-Type": event,
        }
        if secret is not None:
            headers["X-Forgejo-Signature"] = wh.sign(secret.encode(), body)
        headers.update(extra or {})
        return httpx.post(self.url, content=body, headers=headers, timeout=5)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.runner.wait_idle(300)
        self.runner.stop()

    def recaps(self) -> int:
        return self.log.read_text().count("PLAY RECAP") if self.log.exists() else 0


def start_receiver(watcher: WatcherSandbox) -> Running:
    secret_file = watcher.watcher_home / "webhook.secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    watcher.logs.mkdir(parents=True, exist_ok=True)
    watcher._chown()
    work = watcher.base / "webhook-run"
    work.mkdir()
    watcher.user.chown(work)
    env = playbook_env(work)
    env.pop("SLIPWAY_RESULTS")
    env.update(
        {
            "HOME": str(watcher.home),
            "USER": watcher.user.name,
            "LOGNAME": watcher.user.name,
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "SLIPWAY_WATCHER_CONFIG": str(watcher.config_path),
        }
    )
    lock = watcher.watcher_home / "cron.lock"
    ansible = str(VENV_BIN / "ansible-playbook")
    config = {
        "listen": "127.0.0.1", "port": 0, "path": "/forgejo", "repo": f"{watcher.owner}/{watcher.repo}",
        "secretFile": str(secret_file), "stateFile": str(watcher.watcher_home / "webhook-deliveries.json"),
        "maxBodyBytes": 65536, "ignoreSenders": [watcher.owner],
        # cron's command (roles/slipway_watcher/tasks/cron.yml), waiting for the lock instead of skipping
        "command": [*watcher.user.run_as, "flock", "-w", "600", str(lock), ansible, "watcher.yml"],
        "cwd": str(ROOT), "env": env, "log": str(watcher.logs / "cron.log"),
    }  # fmt: skip
    server, rec = wh.build(config)
    rec.runner.start()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Running(server, rec, watcher)


def register_hook(running: Running) -> None:
    box = running.box
    api = httpx.Client(
        base_url=f"{box.forgejo.url}/api/v1/repos/{box.owner}/{box.repo}",
        headers={"Authorization": f"token {box.forgejo.token}"},
    )
    hook = {"type": "forgejo", "active": True, "events": ["issues", "issue_label", "issue_comment"],
            "config": {"url": running.url, "content_type": "json", "secret": SECRET}}  # fmt: skip
    assert api.post("/hooks", json=hook).status_code == 201


def file_report(box: WatcherSandbox, title: str, body: str) -> int:
    """As the portal's Report Issue button does: POST /issues with the `portal` label."""
    api = httpx.Client(
        base_url=f"{box.forgejo.url}/api/v1/repos/{box.owner}/{box.repo}",
        headers={"Authorization": f"token {box.forgejo.token}"},
    )
    portal = [lb["id"] for lb in api.get("/labels").json() if lb["name"] == "portal"]
    return api.post("/issues", json={"title": title, "body": body, "labels": portal}).json()["number"]
