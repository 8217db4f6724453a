"""scripts/status: the pipeline's issues by stage, with age, attempts, time in stage, last result and
cost; stuck ones flagged; and which release each fixed issue went out in (or was rolled back from),
from the release notifier's record ``~/pms/deployed.json``. Reads Forgejo (GET only), the ledger and
that record; changes nothing."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import ansible.module_utils

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(ROOT / "module_utils"))

from ansible.module_utils.slipway import lifecycle  # noqa: E402
from ansible.module_utils.slipway.config import ConfigError, WatcherConfig, load_config  # noqa: E402
from ansible.module_utils.slipway.forgejo import (
    ForgejoError,  # noqa: E402
    client_for,  # noqa: E402
)
from ansible.module_utils.slipway.ledger import read_ledger  # noqa: E402

# The stages and labels as lifecycle.py defines them (the issues without a pipeline label are not shown).
STAGE_ORDER = [stage for stage in lifecycle.STAGES if stage != "none"]
WATCHED = [label["name"] for label in lifecycle.LIFECYCLE_LABELS]


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def hours(delta_from: datetime | None, now: datetime) -> float | None:
    return None if delta_from is None else round((now - delta_from).total_seconds() / 3600, 2)


def stuck_reason(stage: str, in_stage_h: float | None, cfg: WatcherConfig, stuck_hours: float) -> str:
    if in_stage_h is None:
        return ""
    if stage == "working" and in_stage_h * 3600 > cfg.fix.timeout_seconds + 1800:
        return "working longer than the fix timeout: its worker probably died (the next run recovers it)"
    if stage in ("triage-pending", "queued") and in_stage_h > stuck_hours:
        return f"waiting over {stuck_hours:g} h: is cron running, Claude signed in, the budget spent?"
    return ""


def collect(
    cfg: WatcherConfig, issues: list[dict], ledger: list[dict], now: datetime, stuck_hours: float
) -> list[dict]:
    rows = []
    for issue in issues:
        number = issue["number"]
        labels = [label["name"] for label in issue.get("labels") or []]
        stage = lifecycle.stage(labels)
        if stage == "none":
            continue
        entries = [e for e in ledger if e.get("issue") == number and e.get("repo", cfg.repo) == cfg.repo]
        last = entries[-1] if entries else None
        # Time in stage: since the pipeline last acted on the issue (the ledger), else since it was filed.
        since = parse_time(last["ts"]) if last else parse_time(issue.get("created_at"))
        in_stage = hours(since, now)
        rows.append(
            {
                "number": number,
                "title": issue.get("title", ""),
                "stage": stage,
                "labels": sorted(labels),
                "age_h": hours(parse_time(issue.get("created_at")), now),
                "in_stage_h": in_stage,
                "attempts": sum(1 for e in entries if e.get("stage") == "fix"),
                "last_result": (f"{last['stage']}: {last.get('result')}" if last else ""),
                "last_reason": last.get("reason", "") if last else "",
                "cost_usd": round(sum(float(e.get("cost_usd") or 0) for e in entries), 4),
                "stuck": stuck_reason(stage, in_stage, cfg, stuck_hours),
                "url": issue.get("html_url"),
            }
        )
    rows.sort(key=lambda r: (STAGE_ORDER.index(r["stage"]), r["number"]))
    return rows


def fetch_issues(cfg: WatcherConfig) -> list[dict]:
    by_number: dict[int, dict] = {}
    with client_for(cfg) as client:
        for label in WATCHED:
            for issue in client.list_issues(labels=[label]):
                by_number[issue["number"]] = issue
    return list(by_number.values())


def render(rows: list[dict]) -> str:
    if not rows:
        return "No pipeline issues are open."
    head = f"{'#':>5}  {'stage':<14} {'age':>7} {'in stage':>8} {'tries':>5} {'cost $':>7}  {'last result':<18} title"
    lines = [head, "-" * len(head)]
    for r in rows:
        fmt_h = lambda h: "-" if h is None else (f"{h:.1f}h" if h < 48 else f"{h / 24:.1f}d")  # noqa: E731
        lines.append(
            f"{r['number']:>5}  {r['stage']:<14} {fmt_h(r['age_h']):>7} {fmt_h(r['in_stage_h']):>8} "
            f"{r['attempts']:>5} {r['cost_usd']:>7.2f}  {r['last_result'][:18]:<18} {r['title'][:50]}"
        )
        if r["stuck"]:
            lines.append(f"{'':>7}STUCK: {r['stuck']}")
    counts = {stage: sum(1 for r in rows if r["stage"] == stage) for stage in STAGE_ORDER}
    lines.append("")
    lines.append("  ".join(f"{stage}: {n}" for stage, n in counts.items()))
    return "\n".join(lines)


def read_deployed(path: str) -> tuple[list[dict], dict | None]:
    """(one row per fixed issue, newest release first; the last release's entry) from deployed.json."""
    try:
        data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], None
    issues = data.get("issues") if isinstance(data, dict) else None
    if not isinstance(issues, dict):
        return [], None
    rows = [
        {
            "number": int(number),
            "title": entry.get("title", ""),
            "tag": entry.get("tag", ""),
            "result": entry.get("result", ""),
            "at": entry.get("at", ""),
            "pulls": entry.get("pulls", []),
            "commented": bool(entry.get("commented")),
        }
        for number, entry in issues.items()
        if str(number).isdigit() and isinstance(entry, dict)
    ]
    rows.sort(key=lambda r: (r["at"], r["number"]), reverse=True)
    releases = data.get("releases") or []
    return rows, (releases[-1] if releases and isinstance(releases[-1], dict) else None)


def render_deployed(rows: list[dict], last: dict | None, limit: int = 20) -> str:
    if not rows and not last:
        return ""
    lines = ["", "Fixed issues by release (from the release notifier's record):"]
    for r in rows[:limit]:
        pulls = ", ".join(f"PR #{n}" for n in r["pulls"])
        told = "" if r["commented"] else "  (issue not told yet)"
        lines.append(
            f"{r['number']:>5}  {r['result']:<11} {r['tag']:<9} {r['at']:<20} {pulls:<10} {r['title'][:40]}{told}"
        )
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} earlier (--json for all)")
    if last and not last.get("notified", True):
        lines.append(
            f"  The last release ({last.get('tag')}, {last.get('result')}) could not tell its issues: "
            f"{last.get('error') or 'see the release output'}; running the release again tells them."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/status", description=__doc__)
    parser.add_argument("--config", default="~/issue-watcher/watcher.config.json", help="watcher.config.json")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--stuck-hours", type=float, default=2.0, help="flag queued/pending issues older than this"
    )
    parser.add_argument(
        "--deployed",
        default="~/pms/deployed.json",
        help="the release notifier's record (next to releases.log)",
    )
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        issues = fetch_issues(cfg)
    except (ConfigError, ForgejoError) as exc:
        print(f"status: {exc}", file=sys.stderr)
        return 2
    rows = collect(cfg, issues, list(read_ledger(str(cfg.ledger))), datetime.now(UTC), args.stuck_hours)
    deployed, last = read_deployed(args.deployed)
    if args.json:
        print(
            json.dumps(
                {"repo": cfg.repo, "issues": rows, "deployed": deployed, "last_release": last}, indent=2
            )
        )
    else:
        print(render(rows) + render_deployed(deployed, last))
    return 0


if __name__ == "__main__":
    sys.exit(main())
