"""One live progress comment per fix or revision: posted when the work starts and edited as each
stage completes, ending with the outcome, duration, cost, turns and branch."""

from __future__ import annotations

import time
from collections.abc import Callable

from ansible.module_utils.slipway.forgejo import ForgejoClient, ForgejoError

MARKER = "<!-- slipway-progress -->"


class Progress:
    """The comment on ``number`` (an issue or a PR). Editing it is best effort: a failed edit is logged
    and the work goes on (the final text is posted as a new comment if the first one is gone)."""

    def __init__(
        self,
        client: ForgejoClient,
        number: int,
        title: str,
        branch: str,
        log: Callable[[str], None],
    ) -> None:
        self.client, self.number, self.title, self.branch, self.log = client, number, title, branch, log
        self.stages: list[str] = []
        self.comment_id: int | None = None
        self.started = time.monotonic()
        self.edits = 0

    def _body(self, status: str, footer: str = "") -> str:
        lines = [f"**{self.title}**: {status}", ""]
        lines += [f"- {stage}" for stage in self.stages]
        if footer:
            lines += ["", footer]
        lines += ["", MARKER]
        return "\n".join(lines)

    def start(self, note: str) -> None:
        self.stages.append(note)
        try:
            posted = self.client.add_comment(self.number, self._body("running…"))
            self.comment_id = int(posted["id"])
        except ForgejoError as exc:
            self.log(f"could not post the progress comment: {exc}")

    def stage(self, text: str) -> None:
        self.stages.append(text)
        self._show(self._body("running…"))

    def finish(self, status: str, cost_usd: float, turns: int, detail: str = "") -> None:
        took = time.monotonic() - self.started
        footer = f"Duration {took:.1f} s · cost ${cost_usd:.4f} · {turns} turns · branch `{self.branch}`"
        if detail:
            footer = detail + "\n\n" + footer
        self._show(self._body(status, footer), final=True)

    def _show(self, body: str, final: bool = False) -> None:
        try:
            if self.comment_id is not None:
                self.client.edit_comment(self.comment_id, body)
                self.edits += 1
                return
        except ForgejoError as exc:
            self.log(f"could not edit the progress comment: {exc}")
        if final:
            # The first post or the edit failed: the outcome must still reach the issue.
            posted = self.client.add_comment(self.number, body)
            self.comment_id = int(posted["id"])
