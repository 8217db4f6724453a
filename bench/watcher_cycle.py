"""bench/watcher-cycle: measure the watcher as cron runs it (see the shell wrapper)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sandbox.forgejo_double import ForgejoDouble
from sandbox.model_double import ModelDouble
from sandbox.playbook import ROOT
from sandbox.users import TEST_USER, TEST_USER_HOME, UnprivilegedUser, ensure_system_user
from sandbox.watcher_world import WatcherSandbox


def claude_exe() -> str:

    out = subprocess.run(
        [str(ROOT / "scripts" / "install-claude-cli")], check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def sandbox(
    base: Path, model: ModelDouble, exe: str, user: UnprivilegedUser
) -> tuple[WatcherSandbox, ForgejoDouble]:
    forgejo = ForgejoDouble(base / "forgejo").start()
    forgejo.add_user("shad0w", admin=True)
    forgejo.create_repo("shad0w", "pelagia-portal", files={"README.md": b"# portal\n"})
    forgejo.owner, forgejo.repo = "shad0w", "pelagia-portal"
    forgejo.token = forgejo.add_token("shad0w", ["write:issue", "write:repository"])
    work = base / "watcher"
    work.mkdir()
    work.chmod(0o755)
    return WatcherSandbox(forgejo, model, exe, user, work), forgejo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    entry = ensure_system_user(TEST_USER, TEST_USER_HOME)
    user = UnprivilegedUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
    exe = claude_exe()
    base = Path(tempfile.mkdtemp(prefix="slipway-bench-", dir="/var/tmp"))
    base.chmod(0o755)
    model = ModelDouble().start()
    box, forgejo = sandbox(base, model, exe, user)
    try:
        idle_walls, idle_requests = [], []
        for _ in range(args.runs):
            forgejo.reset_requests()
            started = time.monotonic()
            run = box.run_watcher()
            idle_walls.append(time.monotonic() - started)
            assert run.rc == 0, run.output
            idle_requests.append(len(forgejo.api_requests()))
        print(
            f"idle cycle: wall {statistics.median(idle_walls):.2f} s median of {args.runs} "
            f"(min {min(idle_walls):.2f}, max {max(idle_walls):.2f}); Forgejo requests {idle_requests[0]}"
        )

        overheads, stages, claudes = [], [], []
        for _ in range(args.runs):
            number = box.issue("Tonnage rounds down", "1234.5 shows as 1,234 t", labels=("claude-queue",))
            box.script(box.fix_does(*box.fixing_the_bug(), number=number))
            run = box.run_watcher()
            assert run.rc == 0, run.output
            entry = [e for e in box.ledger() if e["issue"] == number and e["stage"] == "fix"][-1]
            assert entry["result"] == "pr", entry
            stages.append(entry["stage_ms"] / 1000)
            claudes.append(entry["claude_wall_ms"] / 1000)
            overheads.append((entry["stage_ms"] - entry["claude_wall_ms"]) / 1000)
        print(
            f"fix stage: {statistics.median(stages):.2f} s median, of which Claude CLI {statistics.median(claudes):.2f} s; "
            f"overhead without the model {statistics.median(overheads):.2f} s "
            f"(min {min(overheads):.2f}, max {max(overheads):.2f}) "
            "[clone sync, branch, verify (node --test), push, PR, labels, comments]"
        )
    finally:
        box.cleanup()
        forgejo.stop()
        model.stop()


if __name__ == "__main__":
    main()
