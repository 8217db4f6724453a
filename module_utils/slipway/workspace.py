"""Where the agent works: the autofix clone, operated either by the watcher's own user (the runbook's
setup) or by a dedicated agent user through ``agent-run`` and one narrow sudo rule.

Both kinds offer the same steps; data crosses between the watcher and the agent only as a git bundle
or the prompt on stdin, so in the isolated setup the watcher never reads the agent's files and the
agent never holds a credential. The watcher checks what Claude did in its OWN mirror, after copying
the branch there, never by asking the agent.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from ansible.module_utils.slipway import agent_protocol as protocol
from ansible.module_utils.slipway import gitops
from ansible.module_utils.slipway.config import (
    AGENT_MODE_SAME_USER,
    WatcherConfig,
    claude_credentials_present,
)


class WorkspaceError(Exception):
    pass


def git_for(cfg: WatcherConfig) -> gitops.Git:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cfg.home), "LANG": "C.UTF-8"}
    return gitops.Git(env=env, secret=cfg.token)


def verify_env(cfg: WatcherConfig) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cfg.home),
        "LANG": "C.UTF-8",
        "CI": "1",
    }


class LocalWorkspace:
    """The clone belongs to the watcher's user (the runbook's layout)."""

    def __init__(self, cfg: WatcherConfig):
        self.cfg = cfg
        self.git = git_for(cfg)
        self.cwd = str(cfg.autofix_dir)
        # Same-user mode: the verify command, its timeout and the dev port are watcher.config.json's.
        self.verify_command = list(cfg.verify_command)
        self.verify_timeout = cfg.verify_timeout_seconds
        self.dev_port = cfg.dev_port

    def credentials_present(self) -> bool:
        return claude_credentials_present(self.cfg)

    def sync(self, base: str, branch: str | None) -> str:
        return gitops.reset_clone(self.git, self.cfg.autofix_dir, self.cfg.mirror_dir, base, branch)

    def claude_command(self, run_id: str) -> tuple[str, list[str] | None, list[str]]:
        return self.cfg.claude_exe, self.cfg.run_as or None, []

    def measured_usage(self, run_id: str) -> dict | None:
        """Same-user mode has no gateway: nothing measured apart from what the CLI says."""
        return None

    def finish(self, branch: str, message: str) -> bool:
        """Whether Claude stayed on the branch; commits what it left uncommitted."""
        if gitops.current_branch(self.git, self.cfg.autofix_dir) != branch:
            return False
        gitops.commit_leftovers(self.git, self.cfg.autofix_dir, message)
        return True

    def export(self, branch: str, base_commit: str) -> None:
        """Copy the branch into the watcher's mirror."""
        gitops.fetch_branch_from(self.git, self.cfg.mirror_dir, str(self.cfg.autofix_dir), branch)

    def verify(self, branch: str, commit: str, base_commit: str) -> tuple[bool, str]:
        """Same-user (development) mode: the verify command in the clone itself, uncontained."""
        try:
            proc = subprocess.run(  # noqa: S603 - an argument list from the operator's configuration
                self.verify_command,
                cwd=self.cfg.autofix_dir,
                env=verify_env(self.cfg),
                capture_output=True,
                text=True,
                timeout=self.verify_timeout,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return False, f"timed out after {self.verify_timeout}s"
        except OSError as exc:
            return False, f"could not run: {exc}"
        return proc.returncode == 0, _verify_report(proc.returncode, proc.stdout + proc.stderr)

    def free_port(self) -> None:
        subprocess.run(  # noqa: S603 - fixed argv
            ["fuser", "-k", "-n", "tcp", str(self.dev_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
            check=False,
        )


class AgentWorkspace:
    """The clone belongs to the agent user; every step goes through ``sudo -n agent-run`` (root), which
    runs it as the agent inside a contained unit of its own (see agent-run). Requests are built by the
    agent protocol (agent_protocol.py, which agent-run checks them with), and the verify command, its
    timeout and the dev port are the agent's own settings (agent.json): what runs is what is reported."""

    def __init__(self, cfg: WatcherConfig):
        self.cfg = cfg
        self.git = git_for(cfg)
        self.cwd = str(cfg.home)
        self.prefix = ["sudo", "-n", "--", cfg.agent_runner]
        self._settings: dict | None = None

    @property
    def settings(self) -> dict:
        if self._settings is None:
            try:
                self._settings = protocol.load_settings(self.cfg.agent_settings)
            except protocol.ProtocolError as exc:
                raise WorkspaceError(str(exc)) from None
        return self._settings

    @property
    def verify_command(self) -> list[str]:
        return protocol.verify_command(self.settings)

    @property
    def verify_timeout(self) -> int:
        return protocol.verify_timeout(self.settings)

    @property
    def dev_port(self) -> int:
        return protocol.dev_port(self.settings)

    def _call(
        self, command: str, stdin: bytes | None = None, timeout: float = 600, **options: str | None
    ) -> subprocess.CompletedProcess:
        args = protocol.request(command, **options)
        try:
            return subprocess.run(  # noqa: S603 - fixed program, arguments checked by the protocol
                [*self.prefix, *args],
                input=stdin if stdin is not None else b"",
                capture_output=True,
                timeout=timeout,
                check=False,
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            )
        except subprocess.TimeoutExpired as exc:
            raise WorkspaceError(f"agent-run {command} timed out after {timeout:.0f}s") from exc

    def _checked(
        self, command: str, stdin: bytes | None = None, timeout: float = 600, **options: str | None
    ) -> bytes:
        proc = self._call(command, stdin=stdin, timeout=timeout, **options)
        if proc.returncode != 0:
            detail = proc.stderr.decode(errors="replace").strip().splitlines()
            raise WorkspaceError(
                f"agent-run {command} failed: {detail[-1] if detail else f'exit {proc.returncode}'}"
            )
        return proc.stdout

    def credentials_present(self) -> bool:
        return self._call("check-credentials", timeout=60).returncode == 0

    def sync(self, base: str, branch: str | None) -> str:
        with tempfile.TemporaryDirectory(prefix="slipway-bundle-") as tmp:
            bundle = Path(tmp) / "base.bundle"
            self.git.run(
                ["bundle", "create", "-q", str(bundle), f"refs/heads/{base}"], git_dir=self.cfg.mirror_dir
            )
            return self._checked("sync", stdin=bundle.read_bytes(), base=base, branch=branch).decode().strip()

    def claude_command(self, run_id: str) -> tuple[str, list[str] | None, list[str]]:
        return "claude", self.prefix, ["--run-id", run_id]

    def measured_usage(self, run_id: str) -> dict | None:
        """What the model gateway measured for the run (never what the agent printed)."""
        proc = self._call("usage", timeout=60, run_id=run_id)
        if proc.returncode != 0:
            return None
        try:
            usage = json.loads(proc.stdout.decode())
        except ValueError:
            return None
        return usage if isinstance(usage, dict) and usage.get("measured_by") == "gateway" else None

    def finish(self, branch: str, message: str) -> bool:
        out = self._checked("finish", branch=branch, message=message[: protocol.MESSAGE_MAX])
        return bool(json.loads(out.decode()).get("on_branch"))

    def export(self, branch: str, base_commit: str) -> None:
        data = self._checked("bundle", branch=branch, base_commit=base_commit)
        with tempfile.TemporaryDirectory(prefix="slipway-bundle-") as tmp:
            bundle = Path(tmp) / "branch.bundle"
            bundle.write_bytes(data)
            gitops.fetch_branch_from(self.git, self.cfg.mirror_dir, str(bundle), branch)

    def verify(self, branch: str, commit: str, base_commit: str) -> tuple[bool, str]:
        """Verify exactly ``commit`` (the mirror's ``branch``, the commit that will be pushed): agent-run
        checks it out fresh from this bundle and runs the verify command in the same containment."""
        with tempfile.TemporaryDirectory(prefix="slipway-bundle-") as tmp:
            bundle = Path(tmp) / "verify.bundle"
            self.git.run(
                ["bundle", "create", "-q", str(bundle), f"refs/heads/{branch}", f"^{base_commit}"],
                git_dir=self.cfg.mirror_dir,
            )
            data = bundle.read_bytes()
        try:
            proc = self._call(
                "verify", stdin=data, timeout=self.verify_timeout + 60, branch=branch, commit=commit
            )
        except WorkspaceError as exc:
            return False, str(exc)
        output = (proc.stdout + proc.stderr).decode(errors="replace")
        return proc.returncode == 0, _verify_report(proc.returncode, output)

    def free_port(self) -> None:
        self._call("free-port", timeout=60)


def _verify_report(returncode: int, output: str, lines: int = 25) -> str:
    tail = "\n".join(output.strip().splitlines()[-lines:])
    return tail if returncode == 0 else f"exit {returncode}\n{tail}"


def workspace_for(cfg: WatcherConfig) -> LocalWorkspace | AgentWorkspace:
    """The agent's contained workspace; the uncontained same-user one only when asked for explicitly."""
    if cfg.agent_user:
        return AgentWorkspace(cfg)
    if cfg.agent_mode != AGENT_MODE_SAME_USER:
        raise WorkspaceError(
            'no agent is configured and agentMode is not "same-user": refusing to run Claude'
        )
    return LocalWorkspace(cfg)
