"""A watcher sandbox for the integration tests and the watcher benches: the Forgejo double holding the
portal fixture, an autofix clone, watcher.config.json, and `ansible-playbook watcher.yml` run as an
unprivileged user (as on pms1), with the real Claude Code CLI talking to the scripted model double."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.claude_cli import install_claude_cli
from sandbox.forgejo_double import ForgejoDouble
from sandbox.model_double import ModelDouble
from sandbox.playbook import ROOT, PlaybookRun, run_playbook
from sandbox.pms1 import free_port
from sandbox.portal_bug import fix_tonnage
from sandbox.site import OWNER, REPO, SCOPES
from sandbox.users import UnprivilegedUser, sandbox_user

LIFECYCLE = ["portal", "claude-queue", "claude-working", "claude-pr", "claude-failed", "interactive"]
API_KEY = "sk-ant-double-watcher-test-key"
GIT_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_TERMINAL_PROMPT": "0", "LANG": "C.UTF-8"}

TRIAGE_OK = "## Requirements\n\n- Round tonnage to the nearest tonne.\n\nSCHEMA: no\nROUTE: claude-queue\nREASON: small fix"


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        env=GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()


class ArgvWatch:
    """Samples every process's command line while a run is going, to prove no secret is in one."""

    def __init__(self, secrets: list[str]):
        self.secrets = secrets
        self.leaks: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                for secret in self.secrets:
                    if secret in argv:
                        self.leaks.append(argv[:200])
            self.samples += 1
            self._stop.wait(0.05)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class WatcherSandbox:
    forgejo: object
    model: object
    claude_exe: str
    user: object
    base: Path
    config_overrides: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.owner, self.repo = self.forgejo.owner, self.forgejo.repo
        self.home = self.base / "home"
        self.watcher_home = self.home / "issue-watcher"
        self.logs = self.watcher_home / "logs"
        self.clone = self.home / "pelagia-autofix"
        self.config_path = self.watcher_home / "watcher.config.json"
        self.dev_port = free_port()
        self.runs: list[PlaybookRun] = []
        self._publish_portal()
        for name in LIFECYCLE:
            self.forgejo.create_label(self.owner, self.repo, name, "#ededed")
        self.home.mkdir(parents=True)
        git("clone", "-q", str(self.forgejo.repo_path(self.owner, self.repo)), str(self.clone))
        (self.clone / "App" / ".env").write_text(
            "DATABASE_URL=postgresql://test@127.0.0.1/pelagia_test\nPORT=3100\n"
        )
        self.write_config()

    # -- set-up ---------------------------------------------------------------------------------------

    def _publish_portal(self) -> None:
        source = self.base / "portal-src"
        subprocess.run(
            [str(ROOT / "scripts" / "make-portal-repo"), str(source)], check=True, capture_output=True
        )
        url = self.forgejo.git_url(self.owner, self.repo).replace("://", f"://t:{self.forgejo.token}@", 1)
        git("push", "-q", "--force", url, "main", "--tags", cwd=source)

    def write_config(self, **overrides: object) -> None:
        config = {
            "forgejoUrl": self.forgejo.url,
            "repo": f"{self.owner}/{self.repo}",
            "token": self.forgejo.token,
            "claudeExe": self.claude_exe,
            "agentMode": "same-user",  # the real watcher with Claude as its own user (no agent here)
            "autofixDir": str(self.clone),
            "devPort": self.dev_port,
            "claudeCredentials": str(self.home / ".claude" / ".credentials.json"),
            "claudeEnv": {
                "ANTHROPIC_BASE_URL": self.model.url,
                "ANTHROPIC_API_KEY": API_KEY,
                "CLAUDE_CODE_MAX_RETRIES": "0",
                "API_TIMEOUT_MS": "15000",
            },
            "verifyCommand": ["node", "--test", "App/tests/integration/tonnage.test.mjs"],
            "verifyTimeoutSeconds": 120,
            "triage": {"timeoutSeconds": 60, "maxTurns": 5, "perRun": 5},
            "fix": {"timeoutSeconds": 90, "maxTurns": 8, "perRun": 1},
            "dailySpendCapUsd": 5.0,
            "forgejoRetries": 2,
        }
        config.update(self.config_overrides)
        config.update(overrides)
        self.watcher_home.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(config, indent=2))
        self.config_path.chmod(0o600)
        self._chown()

    def _chown(self) -> None:
        for path in [self.base, *self.base.rglob("*")]:
            try:
                os.lchown(path, self.user.uid, self.user.gid)
            except FileNotFoundError:
                pass

    # -- issues -----------------------------------------------------------------------------------------

    def issue(self, title: str, body: str = "", labels: tuple[str, ...] = ("portal",)) -> int:
        return self.forgejo.create_issue(self.owner, self.repo, title, body, labels=list(labels))["number"]

    def labels(self, number: int) -> list[str]:
        return sorted(self.forgejo.issue_label_names(self.owner, self.repo, number))

    def comments(self, number: int) -> list[str]:
        return [c["body"] for c in self.forgejo.comments(self.owner, self.repo, number)]

    def pulls(self) -> list[dict]:
        return self.forgejo.pulls(self.owner, self.repo)

    def remote_branches(self) -> dict[str, str]:
        out = git(
            "for-each-ref",
            "--format=%(refname:short) %(objectname)",
            "refs/heads",
            cwd=self.forgejo.repo_path(self.owner, self.repo),
        )
        return dict(line.split(" ", 1) for line in out.splitlines())

    def remote_file(self, ref: str, path: str) -> str:
        return git("show", f"{ref}:{path}", cwd=self.forgejo.repo_path(self.owner, self.repo))

    def ledger(self) -> list[dict]:
        path = self.logs / "ledger.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    # -- scripts for the model -------------------------------------------------------------------------------

    def script(self, *scenarios: dict) -> None:
        self.model.set_scenarios(list(scenarios))

    @staticmethod
    def triage_says(text: str, number: int | None = None) -> dict:
        match = "You are triaging" + (f"[\\s\\S]*Issue #{number}\\b" if number else "")
        return {"match": match, "replies": [[{"text": text}]]}

    def fix_does(self, *replies: list[dict], number: int | None = None) -> dict:
        match = "You are fixing" + (f"[\\s\\S]*Issue #{number}\\b" if number else "")
        return {"match": match, "replies": list(replies)}

    def fixing_the_bug(
        self, summary: str = "Rounded tonnage with Math.round; the tonnage test passes."
    ) -> list:
        return [
            *fix_tonnage(self.clone),
            [{"tool": "Bash", "input": {"command": "git commit -qam 'Round tonnage to the nearest tonne'"}}],
            [{"text": summary}],
        ]

    # -- running -----------------------------------------------------------------------------------------

    def run_watcher(self, timeout: float = 300, env: dict | None = None) -> PlaybookRun:
        work = self.base / f"run-{uuid.uuid4().hex[:8]}"
        work.mkdir()
        os.chown(work, self.user.uid, self.user.gid)
        run_env = {
            "HOME": str(self.home),
            "USER": self.user.name,
            "LOGNAME": self.user.name,
            "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "SLIPWAY_WATCHER_CONFIG": str(self.config_path),
        }
        run_env.update(env or {})
        with ArgvWatch(self.secrets()) as watch:
            run = run_playbook(
                work,
                ROOT / "watcher.yml",
                env=run_env,
                run_as=self.user.run_as,
                inventory=False,
                timeout=timeout,
            )
        run.argv_leaks = watch.leaks
        self.runs.append(run)
        return run

    def secrets(self) -> list[str]:
        return [self.forgejo.token, API_KEY]

    def assert_no_secret_anywhere(self) -> None:
        """No token in any log, comment, PR, branch, ledger entry, playbook output or process argument."""
        places: dict[str, str] = {}
        for path in self.logs.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_text(errors="replace")
        for number in range(1, 60):
            try:
                issue = self.forgejo.issue(self.owner, self.repo, number)
            except Exception:  # noqa: BLE001 - past the last issue
                break
            places[f"issue #{number}"] = json.dumps(issue) + "\n".join(self.comments(number))
        for pull in self.pulls():
            places[f"PR #{pull['number']}"] = json.dumps(pull)
        for branch in self.remote_branches():
            places[f"branch {branch}"] = git(
                "log", "-p", branch, cwd=self.forgejo.repo_path(self.owner, self.repo)
            )
        places[".git/config of the clone"] = (self.clone / ".git" / "config").read_text()
        for i, run in enumerate(self.runs):
            places[f"run {i} output"] = run.output
            assert not run.argv_leaks, f"secret in a process argument: {run.argv_leaks[:2]}"
        for where, text in places.items():
            for secret in self.secrets():
                assert secret not in text, f"a secret leaked into {where}"
        assert self.forgejo.token not in json.dumps(self.model.requests), (
            "the Forgejo token reached the model"
        )

    def cleanup(self) -> None:
        subprocess.run(["fuser", "-k", "-n", "tcp", str(self.dev_port)], capture_output=True, check=False)
        shutil.rmtree(self.base, ignore_errors=True)


@contextmanager
def watcher_sandbox(
    forgejo: ForgejoDouble, model: ModelDouble, claude_exe: str, user: UnprivilegedUser
) -> Iterator[WatcherSandbox]:
    """A ``WatcherSandbox`` in a new directory under /var/tmp (not under /tmp's root-only pytest dirs,
    so the unprivileged user reaches it); cleaned up afterwards."""
    base = Path(tempfile.mkdtemp(prefix="slipway-watcher-", dir="/var/tmp"))
    base.chmod(0o755)
    box = WatcherSandbox(forgejo, model, claude_exe, user, base)
    try:
        yield box
    finally:
        box.cleanup()


@contextmanager
def watcher_world() -> Iterator[WatcherSandbox]:
    """A watcher sandbox with a Forgejo double and a model double of its own, as the watcher benches run
    it (the integration tests take the doubles from fixtures): the sandbox user, the pinned Claude CLI.
    The doubles are ``box.forgejo`` and ``box.model``; all stop afterwards."""
    user = sandbox_user()
    exe = install_claude_cli()
    model = ModelDouble().start()
    forgejo = ForgejoDouble(
        Path(tempfile.mkdtemp(prefix="slipway-bench-", dir="/var/tmp")) / "forgejo"
    ).start()
    try:
        forgejo.add_user(OWNER, admin=True)
        forgejo.create_repo(OWNER, REPO, files={"README.md": b"# portal\n"})
        forgejo.owner, forgejo.repo = OWNER, REPO
        forgejo.token = forgejo.add_token(OWNER, SCOPES)
        with watcher_sandbox(forgejo, model, exe, user) as box:
            yield box
    finally:
        forgejo.stop()
        model.stop()


def wait_for(predicate, timeout: float = 30.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False
