"""The pinned Claude Code CLI the sandbox runs (scripts/install-claude-cli installs it once)."""

from __future__ import annotations

import os
import subprocess

from sandbox.playbook import ROOT

DEFAULT_PREFIX = "/opt/slipway/claude-cli"


def install_claude_cli() -> str:
    """The CLI's path, installed if need be into $SLIPWAY_CLAUDE_PREFIX (default /opt/slipway/claude-cli)."""
    prefix = os.environ.get("SLIPWAY_CLAUDE_PREFIX", DEFAULT_PREFIX)
    proc = subprocess.run(
        [str(ROOT / "scripts" / "install-claude-cli"), prefix],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"install-claude-cli failed ({proc.returncode}): {proc.stderr[-2000:]}")
    exe = proc.stdout.strip().splitlines()[-1]
    if not os.access(exe, os.X_OK):
        raise RuntimeError(f"install-claude-cli printed {exe!r}, which is not an executable")
    return exe
