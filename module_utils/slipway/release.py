"""Release directories of a zero-downtime deploy: naming, ordering and pruning.

A release directory is ``<tag>-<YYYYmmddTHHMMSSZ>`` under ``releases/``; a finished build holds the
marker file :data:`BUILT_MARKER`. Directories without it are half-made (a killed run) unless live.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

BUILT_MARKER = ".slipway-built"
TAG_PATTERN = re.compile(r"v[0-9]+\.[0-9]+\.[0-9]+")
STAMP_PATTERN = re.compile(r"-([0-9]{8}T[0-9]{6}Z)\Z")


def valid_tag(tag: object) -> bool:
    """``vX.Y.Z`` with ASCII digits and nothing else (no newline, no path, no shell)."""
    return isinstance(tag, str) and TAG_PATTERN.fullmatch(tag) is not None


def release_stamp(name: str) -> str:
    """The UTC stamp a release name ends with; "" for names without one (sorts oldest)."""
    match = STAMP_PATTERN.search(name)
    return match.group(1) if match else ""


@dataclass
class PrunePlan:
    remove_stale: list[str] = field(default_factory=list)  # half-made, never finished
    remove_old: list[str] = field(default_factory=list)  # finished, beyond the newest N
    kept: list[str] = field(default_factory=list)


def plan_prune(releases_dir: Path, keep: int, protect: set[str]) -> PrunePlan:
    """Which release directories to remove: half-made ones, and finished ones beyond the ``keep``
    newest. Directories named in ``protect`` (the live and the previous release) always stay and
    count towards ``keep``."""
    plan = PrunePlan()
    if not releases_dir.is_dir():
        return plan
    entries = sorted(
        (p for p in releases_dir.iterdir() if p.is_dir() and not p.is_symlink()),
        key=lambda p: (release_stamp(p.name), p.name),
        reverse=True,
    )
    present = {path.name for path in entries}
    slots = keep - len(protect & present)  # the live and previous releases count towards keep
    for path in entries:
        if path.name in protect:
            plan.kept.append(path.name)
        elif not (path / BUILT_MARKER).exists():
            plan.remove_stale.append(path.name)
        elif slots > 0:
            slots -= 1
            plan.kept.append(path.name)
        else:
            plan.remove_old.append(path.name)
    return plan


def remove_releases(releases_dir: Path, names: list[str]) -> None:
    for name in names:
        if "/" in name or name in ("", ".", ".."):
            raise ValueError(f"not a release name: {name!r}")
        shutil.rmtree(releases_dir / name)


BAD_MARKER = ".slipway-bad"


def _order(name: str) -> tuple[str, str]:
    return (release_stamp(name), name)


def finished_releases(releases_dir: Path) -> list[str]:
    """Names of the finished release directories (with :data:`BUILT_MARKER`), oldest first."""
    if not releases_dir.is_dir():
        return []
    return sorted(
        (
            p.name
            for p in releases_dir.iterdir()
            if p.is_dir() and not p.is_symlink() and (p / BUILT_MARKER).exists()
        ),
        key=_order,
    )


def bad_reason(releases_dir: Path, name: str) -> str | None:
    """Why the release is marked bad (its :data:`BAD_MARKER`), or None when it is not."""
    marker = releases_dir / name / BAD_MARKER
    try:
        return marker.read_text(errors="replace").strip() or "marked bad"
    except FileNotFoundError:
        return None


def rollback_target(releases_dir: Path, live: str) -> tuple[str, list[str]]:
    """The release a rollback from ``live`` goes to: the newest finished release older than ``live``
    (by its UTC stamp) that is not marked bad; and the bad ones skipped on the way. ("", [...]) when
    there is none. Going back twice therefore goes further back, never forward again."""
    skipped: list[str] = []
    for name in reversed(finished_releases(releases_dir)):
        if name == live or (live and _order(name) > _order(live)):
            continue
        if bad_reason(releases_dir, name) is not None:
            skipped.append(name)
            continue
        return name, skipped
    return "", skipped


def migrations(app: Path) -> list[str]:
    """The migrations a release carries: Prisma's ``prisma/migrations/<name>/`` directories and the
    plain ``migrations/<file>`` layout, each named by its path under the app directory."""
    found: list[str] = []
    prisma = app / "prisma" / "migrations"
    if prisma.is_dir():
        found += [f"prisma/migrations/{p.name}" for p in prisma.iterdir() if p.is_dir()]
    plain = app / "migrations"
    if plain.is_dir():
        found += [f"migrations/{p.name}" for p in plain.iterdir() if not p.name.startswith(".")]
    return sorted(found)
