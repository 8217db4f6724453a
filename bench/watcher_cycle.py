"""bench/watcher-cycle: measure the watcher as cron runs it (see the shell wrapper)."""

from __future__ import annotations

import argparse
import statistics
import time

from sandbox.watcher_world import watcher_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with watcher_world() as box:
        idle_walls, idle_requests = [], []
        for _ in range(args.runs):
            box.forgejo.reset_requests()
            started = time.monotonic()
            run = box.run_watcher()
            idle_walls.append(time.monotonic() - started)
            assert run.rc == 0, run.output
            idle_requests.append(len(box.forgejo.api_requests()))
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


if __name__ == "__main__":
    main()
