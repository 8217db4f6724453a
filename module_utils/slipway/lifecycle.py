"""The pipeline's label lifecycle, as pure functions: the one definition of which issue is at which
stage and which issues each step of a watcher run picks. The playbook (through the filters in
filter_plugins/slipway_lifecycle.py), the modules, the pipeline and ``scripts/status`` all use it.

portal --(triage)--> claude-queue -> claude-working -> claude-pr | claude-failed
              \\---> interactive  (stops here: a human takes it)
"""

from __future__ import annotations

from collections.abc import Iterable

PORTAL = "portal"
QUEUE = "claude-queue"
WORKING = "claude-working"
PR = "claude-pr"
FAILED = "claude-failed"
INTERACTIVE = "interactive"

# Any of these means triage already happened (or a human decided): triage skips the issue.
DECISION_LABELS = (INTERACTIVE, QUEUE, WORKING, PR, FAILED)

# Stage names, in precedence order when labels conflict: interactive always wins.
STAGE_PRECEDENCE = (
    (INTERACTIVE, "interactive"),
    (WORKING, "working"),
    (QUEUE, "queued"),
    (FAILED, "failed"),
    (PR, "pr-open"),
)
STAGES = ("triage-pending", "queued", "working", "pr-open", "failed", "interactive", "none")

LIFECYCLE_LABELS = (
    {"name": PORTAL, "color": "#1d76db", "description": "Reported from the portal's Report Issue button"},
    {
        "name": QUEUE,
        "color": "#0e8a16",
        "description": "Triaged as auto-fixable: queued for the Claude fixer",
    },
    {"name": WORKING, "color": "#fbca04", "description": "The Claude fixer is working on it now"},
    {"name": PR, "color": "#5319e7", "description": "The Claude fixer opened a pull request"},
    {"name": FAILED, "color": "#b60205", "description": "The Claude fixer failed: see the comment"},
    {"name": INTERACTIVE, "color": "#d93f0b", "description": "Needs a human: not for the unattended fixer"},
)


def label_names(labels: Iterable[object]) -> set[str]:
    """Label names from names or from Forgejo label objects."""
    names = set()
    for label in labels or ():
        names.add(label["name"] if isinstance(label, dict) else str(label))
    return names


def stage(labels: Iterable[object]) -> str:
    """Where an issue is in the pipeline, from its labels."""
    names = label_names(labels)
    for label, name in STAGE_PRECEDENCE:
        if label in names:
            return name
    return "triage-pending" if PORTAL in names else "none"


def decision(labels: Iterable[object]) -> str | None:
    """The routing decision carried by the labels: 'interactive' wins over 'claude-queue'."""
    names = label_names(labels)
    if INTERACTIVE in names:
        return INTERACTIVE
    if names & {QUEUE, WORKING, PR, FAILED}:
        return QUEUE
    return None


def needs_triage(labels: Iterable[object]) -> bool:
    names = label_names(labels)
    return PORTAL in names and not names & set(DECISION_LABELS)


def is_fixable(labels: Iterable[object]) -> bool:
    """Queued for the fixer, not reserved for a human and not being fixed already."""
    names = label_names(labels)
    return QUEUE in names and not names & {INTERACTIVE, WORKING}


def is_stale(labels: Iterable[object]) -> bool:
    """In ``claude-working`` while this run holds the lock: its worker died."""
    return WORKING in label_names(labels)


def awaits_review(labels: Iterable[object]) -> bool:
    """The fixer opened a pull request, and neither a human nor a running fix holds the issue: review
    feedback on the PR may start a revision."""
    names = label_names(labels)
    return PR in names and not names & {INTERACTIVE, WORKING}


# What each step of a watcher run picks from the run's one listing, in order: recover, triage, fix,
# revise. The listing is taken before triage, so an issue queued by this run's triage is not fixable in
# it: it waits for the next run (one cron interval in which a human who reads the breakdown can still
# add `interactive`).
STEP_PICKS = {"recover": is_stale, "triage": needs_triage, "fix": is_fixable, "revise": awaits_review}


def branch_name(number: int | str) -> str:
    value = int(number)
    if value < 1:
        raise ValueError(f"issue number must be positive, got {number!r}")
    return f"claude/issue-{value}"


def pick(issues: Iterable[dict], step: str, limit: int | None = None) -> list[dict]:
    """The issues ``step`` (recover, triage, fix or revise) takes from a listing, in the listing's
    order (oldest first), at most ``limit`` of them."""
    try:
        wanted = STEP_PICKS[step]
    except KeyError:
        raise ValueError(f"unknown watcher step {step!r}: one of {', '.join(STEP_PICKS)}") from None
    chosen = [issue for issue in issues or () if wanted(issue.get("labels") or ())]
    return chosen if limit is None else chosen[: max(int(limit), 0)]
