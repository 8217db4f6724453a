"""The pipeline's label lifecycle, as pure functions (used by modules, filters and scripts).

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
    """Queued for the fixer and not reserved for a human."""
    names = label_names(labels)
    return QUEUE in names and INTERACTIVE not in names


def branch_name(number: int | str) -> str:
    value = int(number)
    if value < 1:
        raise ValueError(f"issue number must be positive, got {number!r}")
    return f"claude/issue-{value}"


def select_issues(
    issues: Iterable[dict], labels: Iterable[str] = (), exclude_labels: Iterable[str] = ()
) -> list[dict]:
    """The issues carrying ALL of ``labels`` and NONE of ``exclude_labels``, in the given order: what
    Forgejo's label filter plus forgejo_issue_info's exclusion return, done locally on one listing."""
    wanted, excluded = set(labels), set(exclude_labels)
    chosen = []
    for issue in issues or ():
        names = label_names(issue.get("labels") or ())
        if wanted <= names and not excluded & names:
            chosen.append(issue)
    return chosen
