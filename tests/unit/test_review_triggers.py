"""Which reviews and comments ask for a revision, and what the ledger remembers as handled."""

from __future__ import annotations

import json
from types import SimpleNamespace

from ansible.module_utils.slipway.review import (
    _starts_with,
    attempts,
    handled_marks,
    pending_triggers,
    revise_all,
)


def _cfg(tmp_path, entries=()):
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return SimpleNamespace(ledger=ledger, review_trigger="/claude")


class FakeClient:
    def __init__(self, reviews, comments, review_comments=None):
        self.reviews, self.comments, self.rc = reviews, comments, review_comments or {}

    def list_reviews(self, pr):
        return self.reviews

    def review_comments(self, pr, rid):
        return self.rc.get(rid, [])

    def list_comments(self, pr):
        return self.comments


def _user(name):
    return {"login": name}


def test_the_trigger_word_must_start_the_text_as_a_word():
    assert _starts_with("/claude fix it", "/claude") and _starts_with("  /claude", "/claude")
    assert not _starts_with("/claudette fix it", "/claude") and not _starts_with("hi /claude", "/claude")


def test_request_changes_and_trigger_comments_trigger_once(tmp_path):
    reviews = [
        {"id": 1, "state": "APPROVED", "body": "lgtm", "user": _user("a")},
        {"id": 2, "state": "REQUEST_CHANGES", "body": "no", "user": _user("a"), "comments_count": 1},
        {"id": 3, "state": "COMMENT", "body": "", "user": _user("b"), "comments_count": 1},
        {"id": 4, "state": "REQUEST_CHANGES", "body": "x", "user": _user("c"), "dismissed": True},
    ]
    comments = [
        {"id": 10, "body": "/claude rename it", "user": _user("a")},
        {"id": 11, "body": "thanks", "user": _user("a")},
    ]
    review_comments = {
        2: [{"body": "here", "path": "a.js"}],
        3: [{"body": "/claude here too", "path": "b.js"}],
    }
    client = FakeClient(reviews, comments, review_comments)
    found = pending_triggers(_cfg(tmp_path), client, 5)
    assert [(t.kind, t.id, t.user) for t in found] == [
        ("review", 2, "a"),
        ("review", 3, "b"),
        ("comment", 10, "a"),
    ]
    assert found[0].feedback == [("REVIEW", "no"), ("REVIEW COMMENT", "(on a.js)\nhere")]
    handled = {"stage": "revise", "pr": 5, "handled_review": 3, "handled_comment": 10, "result": "pushed"}
    cfg = _cfg(tmp_path, [handled, {"stage": "revise", "pr": 6, "handled_review": 99, "result": "pushed"}])
    assert handled_marks(cfg, 5) == (3, 10) and attempts(cfg, 5) == 1
    assert pending_triggers(cfg, client, 5) == []


def test_the_runs_one_listing_gives_label_names_and_is_read_as_such(tmp_path):
    """The watcher passes forgejo_issue_info's issues (labels as names, not label objects)."""

    class Client(FakeClient):
        def open_pull_for(self, base, head):
            return {"number": 5} if head == "claude/issue-3" else None

        def permission_of(self, user):
            return "admin"

    client = Client([{"id": 2, "state": "REQUEST_CHANGES", "body": "no", "user": _user("a")}], [])
    cfg = SimpleNamespace(
        ledger=tmp_path / "ledger.jsonl",
        review_trigger="/claude",
        base_branch="main",
        log_dir=tmp_path,
        revision=SimpleNamespace(per_run=1),
        daily_spend_cap_usd=20.0,
        revision_max_per_pr=3,
    )
    cfg.ledger.write_text("")
    listing = [{"number": 3, "title": "t", "labels": ["claude-pr", "portal"]}]
    assert revise_all(cfg, client, True, listing) == [{"number": 3, "pr": 5, "result": "would-revise"}]
    busy = [{"number": 3, "title": "t", "labels": ["claude-pr", "claude-working"]}]
    assert revise_all(cfg, client, True, busy) == []
