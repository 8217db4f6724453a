"""The spec checker can fail: it catches bad responses and bad requests, and passes good ones."""

from __future__ import annotations

import copy

import pytest

from sandbox.forgejo.server import RecordedRequest
from tests.spec_check import check_recorded

LABEL = {
    "id": 1,
    "name": "portal",
    "exclusive": False,
    "is_archived": False,
    "color": "ff0000",
    "description": "",
    "url": "http://127.0.0.1:1/api/v1/repos/o/r/labels/1",
}


def recorded(
    method: str = "GET", path: str = "/api/v1/repos/o/r/labels/1", **kwargs: object
) -> RecordedRequest:
    defaults: dict = {
        "query": {},
        "request_json": None,
        "status": 200,
        "response_headers": {},
        "response_json": LABEL,
    }
    defaults.update(kwargs)
    return RecordedRequest(method, path, **defaults)


def test_a_correct_exchange_has_no_problems() -> None:
    assert check_recorded([recorded()]) == []


def test_a_wrong_type_in_the_response_is_caught() -> None:
    bad = copy.deepcopy(LABEL)
    bad["id"] = "1"
    problems = check_recorded([recorded(response_json=bad)])
    assert len(problems) == 1 and "at id" in problems[0]


def test_a_missing_response_field_is_caught() -> None:
    bad = {k: v for k, v in LABEL.items() if k != "exclusive"}
    assert any(
        "'exclusive' is a required property" in p for p in check_recorded([recorded(response_json=bad)])
    )


def test_null_in_a_plain_string_field_is_caught() -> None:
    bad = dict(LABEL, name=None)
    assert check_recorded([recorded(response_json=bad)]) != []


def test_an_undeclared_query_parameter_is_caught() -> None:
    req = recorded(path="/api/v1/repos/o/r/issues", query={"label": "portal"}, response_json=[])
    problems = check_recorded([req])
    assert problems == [
        "GET /repos/{owner}/{repo}/issues (/api/v1/repos/o/r/issues): undeclared query parameter 'label'"
    ]


@pytest.mark.parametrize("query", [{"state": "opened"}, {"limit": "ten"}, {"type": "issue"}])
def test_a_query_value_outside_its_type_or_enum_is_caught(query: dict[str, str]) -> None:
    req = recorded(path="/api/v1/repos/o/r/issues", query=query, response_json=[])
    assert len(check_recorded([req])) == 1


def test_an_unknown_operation_is_caught() -> None:
    problems = check_recorded([recorded(path="/api/v1/repos/o/r/issue/1")])
    assert "no such operation" in problems[0]


def test_an_undocumented_status_is_caught() -> None:
    req = recorded(method="POST", path="/api/v1/repos/o/r/labels", request_json={"name": "a", "color": "#fff000"},
                   status=200)  # fmt: skip
    assert "status 200 is not documented" in check_recorded([req])[0]


def test_an_undeclared_body_field_is_caught() -> None:
    body = {"name": "a", "color": "#ffffff", "colour": "#ffffff"}
    req = recorded(method="POST", path="/api/v1/repos/o/r/labels", request_json=body, status=201)
    assert any("colour" in p for p in check_recorded([req]))


def test_a_wrongly_typed_body_field_is_caught() -> None:
    body = {"head": "b", "base": "main", "title": "t", "labels": ["portal"]}
    req = recorded(method="POST", path="/api/v1/repos/o/r/pulls", request_json=body, status=404,
                   response_json={"message": "x", "url": "u", "errors": []})  # fmt: skip
    assert any("labels/0" in p for p in check_recorded([req]))


def test_injected_faults_are_not_held_against_the_spec() -> None:
    req = recorded(status=503, response_json={"message": "injected"}, injected=True)
    assert check_recorded([req]) == []


def test_git_traffic_is_skipped() -> None:
    req = recorded(path="/o/r.git/info/refs", kind="git", response_json=None)
    assert check_recorded([req]) == []


def test_branch_names_with_slashes_match_the_branch_operation() -> None:
    req = recorded(path="/api/v1/repos/o/r/branches/slipway/issue-1", status=404,
                   response_json={"message": "Branch doesn't exist.", "url": "u", "errors": []})  # fmt: skip
    assert check_recorded([req]) == []
