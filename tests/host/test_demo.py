"""`make demo`'s pipeline run end to end, so CI keeps it working: the sandbox, site.yml, the first
release, the portal's Report Issue call, two watcher runs as cron runs them, merge + tag, the deploy
workflow's step, and the bug's request before and after."""

from __future__ import annotations

import os
import subprocess
import sys

from sandbox.playbook import ROOT
from sandbox.pms1 import free_port

STAGES = [
    "sandbox",
    "provision",
    "release",
    "before",
    "report",
    "triage",
    "fix",
    "merge+tag",
    "deploy",
    "after",
]


def test_the_demo_takes_a_reported_bug_to_a_live_fix(tmp_path):
    port = free_port()
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox.demo", "--app-port", str(port), "--workdir", str(tmp_path / "demo")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2400,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]
    for number, stage in enumerate(STAGES, start=1):
        assert f"[{number:>2}] {stage}" in out
    assert '"formatted":"1,234 t"' in out and '"formatted":"1,235 t"' in out
    assert "demo passed" in out
    # torn down: nothing listens on the app port any more
    assert subprocess.run(["fuser", "-n", "tcp", str(port)], capture_output=True, check=False).returncode != 0
