"""Load the project's filter plugins the way Ansible does (from the file), for tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

FILTER_DIR = Path(__file__).resolve().parent.parent / "filter_plugins"


def load_filters() -> dict:
    filters: dict = {}
    for path in sorted(FILTER_DIR.glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"filters_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        filters.update(module.FilterModule().filters())
    return filters
