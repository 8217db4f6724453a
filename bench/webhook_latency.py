"""bench/webhook-latency: report -> triage comment through the webhook path (see the shell wrapper)."""

from __future__ import annotations

import argparse
import statistics
import time

from sandbox.watcher_world import TRIAGE_OK, wait_for, watcher_world
from sandbox.webhook import file_report, register_hook, start_receiver

GOAL_SECONDS = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reports", type=int, default=10)
    args = parser.parse_args()
    with watcher_world() as box:
        running = start_receiver(box)
        try:
            # the idle cycle (no open issue), as cron runs it
            box.forgejo.reset_requests()
            idle = box.run_watcher()
            assert idle.rc == 0, idle.output
            idle_requests = len(box.forgejo.api_requests())

            register_hook(running)
            # triage routes each report to a human, so no fix stage runs between reports; each report is
            # filed once the previous run has ended (reports are minutes apart in practice)
            box.script(box.triage_says(TRIAGE_OK.replace("ROUTE: claude-queue", "ROUTE: interactive")))
            latencies = []
            for i in range(args.reports):
                running.runner.wait_idle(300)
                time.sleep(0.5)
                started = time.monotonic()
                number = file_report(box, f"Report {i + 1}: tonnage rounds down", "1234.5 shows as 1,234 t")
                if not wait_for(lambda n=number: box.comments(n), timeout=180, step=0.05):
                    raise SystemExit(f"no triage comment on #{number}:\n{running.log.read_text()[-3000:]}")
                latencies.append(time.monotonic() - started)
                print(f"  #{number}: triage comment after {latencies[-1]:.2f} s", flush=True)
            running.runner.wait_idle(300)
            deliveries = box.forgejo.forge.deliveries
            refused = [d for d in deliveries if d["status"] != 202]
            median, worst = statistics.median(latencies), max(latencies)
            print(
                f"webhook: {len(latencies)} reports, report -> triage comment median {median:.2f} s, "
                f"max {worst:.2f} s (goal <= {GOAL_SECONDS:.0f} s: {'met' if worst <= GOAL_SECONDS else 'NOT met'}); "
                f"{len(deliveries)} deliveries ({len(refused)} not accepted), {running.runner.triggers} triggers -> "
                f"{running.runner.started} watcher runs"
            )
            print(f"idle cycle: Forgejo requests {idle_requests}")
        finally:
            running.stop()


if __name__ == "__main__":
    main()
