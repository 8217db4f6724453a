"""Test-only callback: writes every task result as one JSON line to $SLIPWAY_RESULTS."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: slipway_results
type: aggregate
short_description: Record task results as JSON lines for the test suite
description: Writes each task's name, status and result to the file named by SLIPWAY_RESULTS.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "slipway_results"
    CALLBACK_NEEDS_ENABLED = True

    def _record(self, result, status: str) -> None:
        path = os.environ.get("SLIPWAY_RESULTS")
        if not path:
            return
        data = json.loads(json.dumps(result._result, default=str))
        entry = {"task": result._task.get_name(), "status": status, "result": data, "at": time.time()}
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def v2_runner_on_ok(self, result) -> None:
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result) -> None:
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result) -> None:
        self._record(result, "unreachable")
