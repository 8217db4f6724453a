#!/usr/bin/env python3
"""scripts/release-status: the portal's releases on this host: the live release, the previous one
(where a rollback goes), who holds the deploy lock, and the last five results from releases.log.
Read-only; standard library only (it also runs as `python3 - --base DIR` over ssh)."""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import re
import sys
from pathlib import Path

LOCK_LINE = re.compile(
    r"\A(?P<action>.*?)(?: by (?P<who>.*?))?(?:, run (?P<run>\S+))? \(pid (?P<pid>\d+), since (?P<since>[^)]*)\)\Z",
    re.DOTALL,
)
TAG = re.compile(r"\bv[0-9]+\.[0-9]+\.[0-9]+\b")
LOG_FIELDS = ("time", "action", "tag", "release", "result", "actor", "run")


def _link(base: Path, name: str) -> str:
    try:
        return os.path.basename(os.readlink(base / name))
    except OSError:
        return ""


def _release(base: Path, name: str) -> dict[str, object]:
    if not name:
        return {}
    directory = base / "releases" / name
    info: dict[str, object] = {"name": name}
    try:
        info.update(json.loads((directory / ".slipway-built").read_text()))
    except (OSError, ValueError):
        pass
    try:
        info["bad"] = (directory / ".slipway-bad").read_text(errors="replace").strip() or "marked bad"
    except OSError:
        pass
    return info


def lock_state(path: Path) -> dict[str, object]:
    """Whether the deploy lock is held (probed with a non-blocking flock, released at once) and what
    its holder wrote: action, who, tag, run id, pid, since."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {"held": False}
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            held = False
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            held = True
        text = os.pread(fd, 400, 0).decode(errors="replace").strip()
    finally:
        os.close(fd)
    state: dict[str, object] = {"held": held, "text": text}
    match = LOCK_LINE.match(text)
    if match:
        state.update({k: v for k, v in match.groupdict().items() if v is not None})
        tag = TAG.search(match.group("action"))
        if tag:
            state["tag"] = tag.group(0)
    return state


def last_results(log: Path, count: int = 5) -> list[dict[str, str]]:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return []
    return [dict(zip(LOG_FIELDS, line.split("\t"), strict=False)) for line in lines[-count:]]


def status(base: Path) -> dict[str, object]:
    return {
        "base": str(base),
        "live": _release(base, _link(base, "current")),
        "previous": _release(base, _link(base, "previous")),
        "lock": lock_state(base / "deploy.lock"),
        "last": last_results(base / "releases.log"),
    }


def _describe(release: dict[str, object]) -> str:
    if not release:
        return "(none)"
    words = [str(release["name"])]
    if "commit" in release:
        words.append(f"commit {str(release['commit'])[:12]}")
    if "built" in release:
        words.append(f"built {release['built']}")
    if "bad" in release:
        words.append(f"MARKED BAD: {release['bad']}")
    return words[0] + (f" ({', '.join(words[1:])})" if len(words) > 1 else "")


def render(state: dict[str, object]) -> str:
    lock = state["lock"]
    assert isinstance(lock, dict)
    if not lock["held"]:
        lock_text = "free"
    elif "pid" in lock:
        lock_text = (
            f"held by {lock.get('who', '?')} for {lock['action']} "
            f"(tag {lock.get('tag', '-')}, run {lock.get('run', '-')}, pid {lock['pid']}, since {lock['since']})"
        )
    else:
        lock_text = f"held ({lock.get('text') or 'no details'})"
    out = [
        f"releases in {state['base']}",
        f"  live:     {_describe(state['live'])}",  # type: ignore[arg-type]
        f"  previous: {_describe(state['previous'])}  (where rollback.yml goes)",  # type: ignore[arg-type]
        f"  lock:     {lock_text}",
        "  last results (releases.log):",
    ]
    last = state["last"]
    assert isinstance(last, list)
    if not last:
        out.append("    (none)")
    for entry in last:
        out.append(
            "    "
            + "  ".join(entry.get(k, "") for k in ("time", "action", "tag", "release", "result"))
            + (f"  by {entry['actor']}" if entry.get("actor") else "")
            + (f"  run {entry['run']}" if entry.get("run") else "")
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release-status", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base",
        type=Path,
        default=Path(os.environ.get("SLIPWAY_RELEASE_BASE", str(Path.home() / "pms"))),
        help="the release layout (default: ~/pms, or $SLIPWAY_RELEASE_BASE)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if not (args.base / "releases").is_dir():
        print(f"release-status: no release layout in {args.base} (no releases/)", file=sys.stderr)
        return 2
    state = status(args.base)
    print(json.dumps(state, indent=2) if args.json else render(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
