"""The label lifecycle: stages, decisions, precedence, branch names, and the Jinja filters."""

from __future__ import annotations

import pytest
from ansible.module_utils.slipway import lifecycle
from jinja2 import Environment

from tests.filters import load_filters


@pytest.mark.parametrize(
    ("labels", "stage"),
    [
        (["portal"], "triage-pending"),
        (["portal", "claude-queue"], "queued"),
        (["claude-queue"], "queued"),
        (["portal", "claude-working"], "working"),
        (["portal", "claude-pr"], "pr-open"),
        (["portal", "claude-failed"], "failed"),
        (["portal", "interactive"], "interactive"),
        (["bug"], "none"),
        ([], "none"),
    ],
)
def test_stage_of_each_lifecycle_state(labels, stage):
    assert lifecycle.stage(labels) == stage


def test_interactive_wins_over_every_other_label():
    assert lifecycle.stage(["portal", "claude-queue", "interactive", "claude-working"]) == "interactive"
    assert lifecycle.decision(["claude-queue", "interactive"]) == "interactive"
    assert not lifecycle.is_fixable(["claude-queue", "interactive"])


def test_requeued_failed_issue_counts_as_queued():
    assert lifecycle.stage(["claude-failed", "claude-queue"]) == "queued"
    assert lifecycle.is_fixable(["claude-failed", "claude-queue"])


def test_working_outranks_queue_while_a_worker_runs():
    assert lifecycle.stage(["claude-queue", "claude-working"]) == "working"


def test_only_undecided_portal_issues_need_triage():
    assert lifecycle.needs_triage(["portal"])
    assert not lifecycle.needs_triage(["portal", "claude-pr"])
    assert not lifecycle.needs_triage(["claude-queue"])
    assert not lifecycle.needs_triage(["bug"])


def test_decision_of_an_undecided_issue_is_none():
    assert lifecycle.decision(["portal"]) is None
    assert lifecycle.decision(["portal", "claude-failed"]) == "claude-queue"


def test_labels_may_be_forgejo_label_objects():
    assert lifecycle.stage([{"id": 1, "name": "portal"}, {"id": 2, "name": "claude-pr"}]) == "pr-open"


def test_branch_name_and_bad_numbers():
    assert lifecycle.branch_name(42) == "claude/issue-42"
    assert lifecycle.branch_name("7") == "claude/issue-7"
    for bad in (0, -1, "x", "1;rm"):
        with pytest.raises(ValueError):
            lifecycle.branch_name(bad)


def test_lifecycle_label_set_is_the_runbooks():
    names = {label["name"] for label in lifecycle.LIFECYCLE_LABELS}
    assert names == {"portal", "claude-queue", "claude-working", "claude-pr", "claude-failed", "interactive"}


def test_filters_render_in_jinja():
    env = Environment(autoescape=False)  # noqa: S701 - plain text, not HTML
    env.filters.update(load_filters())
    out = env.from_string(
        "{{ labels | slipway_stage }} {{ labels | slipway_decision }} {{ 5 | slipway_branch }} "
        "{{ labels | slipway_needs_triage }} {{ labels | slipway_fixable }}"
    ).render(labels=["portal", "claude-queue", "interactive"])
    assert out == "interactive interactive claude/issue-5 False False"


def test_each_step_picks_its_issues_from_one_listing():
    issues = [
        {"number": 1, "labels": ["portal"]},
        {"number": 2, "labels": ["portal", "claude-queue"]},
        {"number": 3, "labels": [{"name": "claude-queue"}]},  # queued by hand, Forgejo label objects
        {"number": 4, "labels": ["claude-queue", "interactive"]},
        {"number": 5, "labels": ["portal", "claude-working", "claude-queue"]},
        {"number": 6, "labels": []},
        {"number": 7, "labels": ["portal", "claude-pr"]},
        {"number": 8, "labels": ["claude-pr", "interactive"]},
        {"number": 9, "labels": ["portal", "claude-failed"]},
        {"number": 10, "labels": ["portal"]},
    ]
    pick = load_filters()["slipway_pick"]
    assert [i["number"] for i in pick(issues, "triage")] == [1, 10]
    assert [i["number"] for i in pick(issues, "triage", 1)] == [1]
    assert [i["number"] for i in pick(issues, "fix")] == [2, 3]  # never interactive, never claude-working
    assert [i["number"] for i in pick(issues, "recover")] == [5]
    assert [i["number"] for i in pick(issues, "revise")] == [7]
    assert pick(issues, "fix", 0) == []
    assert lifecycle.pick([], "triage") == []
    with pytest.raises(ValueError, match="unknown watcher step"):
        lifecycle.pick(issues, "deploy")


def test_the_pipeline_rechecks_with_the_same_rule_the_playbook_picks_with():
    """The fixer's own check on the issue it is given is the pick's rule: an issue both queued and in
    claude-working (a fix running) is neither picked nor fixed."""
    labels = ["claude-queue", "claude-working"]
    assert not lifecycle.is_fixable(labels)
    assert lifecycle.pick([{"number": 1, "labels": labels}], "fix") == []
