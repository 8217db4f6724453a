"""The bug planted in the portal fixture: App/lib/tonnage.js truncates tonnage (``Math.floor``) where it
should round. ``fix_tonnage`` is the model's fix of it, which the demo, the watcher sandbox and the
agent-isolation tests script the model double to make."""

from __future__ import annotations

from pathlib import Path

TONNAGE = "App/lib/tonnage.js"


def fix_tonnage(clone: str | Path) -> list[list[dict]]:
    """Two model turns in the clone at ``clone``: read App/lib/tonnage.js, then round where it truncated."""
    tonnage = f"{clone}/{TONNAGE}"
    return [
        [{"tool": "Read", "input": {"file_path": tonnage}}],
        [
            {
                "tool": "Edit",
                "input": {
                    "file_path": tonnage,
                    "old_string": "  const tonnes = Math.floor(value);",
                    "new_string": "  const tonnes = Math.round(value);",
                },
            }
        ],
    ]
