"""Run the real ansible-playbook from the repository root and read back each task's result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    results: list[dict] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def task(self, name: str) -> dict:
        """The result of the (last) task with this name."""
        matches = [r for r in self.results if r["task"] == name]
        assert matches, f"no result for task {name!r}; tasks: {[r['task'] for r in self.results]}"
        return matches[-1]


def playbook_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_CALLBACKS_ENABLED": "slipway_results",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
        "ANSIBLE_NOCOLOR": "1",
        "SLIPWAY_RESULTS": str(tmp_path / f"results-{uuid.uuid4().hex}.jsonl"),
    }
    env.update(extra or {})
    return env


def run_playbook(
    tmp_path: Path,
    plays: list[dict] | Path,
    *,
    args: list[str] = (),
    extra_vars: dict | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    run_as: list[str] = (),
    inventory: bool = True,
) -> PlaybookRun:
    """Run plays (a list, written to a temp file) or a playbook file against localhost."""
    if isinstance(plays, Path):
        playbook = plays
    else:
        playbook = tmp_path / "play.yml"
        playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    run_env = playbook_env(tmp_path, env)
    results_file = Path(run_env["SLIPWAY_RESULTS"])
    argv = [*run_as, str(VENV_BIN / "ansible-playbook"), str(playbook), *args]
    if inventory and "-i" not in args:
        argv += ["-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    if extra_vars:
        vars_file = tmp_path / "extra-vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        argv += ["-e", f"@{vars_file}"]
    proc = subprocess.run(argv, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=timeout)
    results = []
    if results_file.exists():
        results = [json.loads(line) for line in results_file.read_text().splitlines() if line.strip()]
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)
