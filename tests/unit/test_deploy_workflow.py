"""The deploy workflow the toolkit ships for the portal repository (files/forgejo/workflows/deploy.yml).

It must be valid for forgejo-runner (its workflow-v1.0 schema, interpreted below) and for SchemaStore's
GitHub workflow JSON Schema (jsonschema), run on the host runner for v* tags, and hand the tag to the
release-tag wrapper through env: only (no ${{ }} expression may appear inside a run: script), with
the job token on stdin: the job itself can do nothing but `sudo -n release-tag "$TAG"`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "files/forgejo/workflows/deploy.yml"
RUNNER_SCHEMA = ROOT / "spec/workflows/forgejo-runner-workflow.schema.json"
GITHUB_SCHEMA = ROOT / "spec/workflows/github-workflow.schema.json"
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


def load_workflow(text: str) -> dict:
    """The workflow as its parser reads it: YAML 1.1 turns the key ``on`` into True; put it back."""
    data = yaml.safe_load(text)
    if True in data:
        data["on"] = data.pop(True)
    return data


# ----------------------------------------------------------------- forgejo-runner's schema format


class RunnerSchema:
    """A validator for the actions workflow-parser schema format (workflow-v1.0) forgejo-runner uses."""

    BUILTIN: dict[str, dict] = {
        "string": {"string": {}},
        "boolean": {"boolean": {}},
        "number": {"number": {}},
        "null": {"null": {}},
        "any": {"one-of": ["string", "boolean", "number", "null", "any-sequence", "any-mapping"]},
        "any-sequence": {"sequence": {"item-type": "any"}},
        "any-mapping": {"mapping": {"loose-key-type": "string", "loose-value-type": "any"}},
        "sequence": {"sequence": {"item-type": "any"}},
        "mapping": {"mapping": {"loose-key-type": "string", "loose-value-type": "any"}},
    }

    def __init__(self, definitions: dict[str, Any]) -> None:
        self.defs = definitions

    def errors(self, value: Any, type_name: str = "workflow-root-strict", path: str = "$") -> list[str]:
        definition = self.defs.get(type_name) or self.BUILTIN.get(type_name)
        if definition is None:
            return [f"{path}: unknown schema type {type_name!r}"]
        if "one-of" in definition:
            attempts = [self.errors(value, option, path) for option in definition["one-of"]]
            if any(not found for found in attempts):
                return []
            return [f"{path}: matches none of {definition['one-of']}: {min(attempts, key=len)}"]
        if "mapping" in definition:
            return self._mapping(value, definition["mapping"], path)
        if "sequence" in definition:
            if not isinstance(value, list):
                return [f"{path}: expected a sequence ({type_name})"]
            return [
                e
                for i, item in enumerate(value)
                for e in self.errors(item, definition["sequence"]["item-type"], f"{path}[{i}]")
            ]
        if "string" in definition:
            return self._string(value, definition["string"], path, type_name)
        if "allowed-values" in definition:
            return (
                []
                if value in definition["allowed-values"]
                else [f"{path}: {value!r} not in {definition['allowed-values']}"]
            )
        if "boolean" in definition:
            return (
                [] if isinstance(value, bool) or self._expression(value) else [f"{path}: expected a boolean"]
            )
        if "number" in definition:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return [] if ok or self._expression(value) else [f"{path}: expected a number"]
        if "null" in definition:
            return [] if value is None else [f"{path}: expected null"]
        return [f"{path}: schema type {type_name!r} has no rule this validator knows"]

    @staticmethod
    def _expression(value: Any) -> bool:
        return isinstance(value, str) and EXPRESSION.fullmatch(value.strip()) is not None

    def _string(self, value: Any, rule: dict, path: str, type_name: str) -> list[str]:
        if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
            return [f"{path}: expected a string ({type_name})"]
        text = str(value)
        if "constant" in rule and text != rule["constant"]:
            return [f"{path}: expected {rule['constant']!r}"]
        if rule.get("require-non-empty") and not text:
            return [f"{path}: must not be empty"]
        return []

    def _mapping(self, value: Any, rule: dict, path: str) -> list[str]:
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        found: list[str] = []
        properties = rule.get("properties", {})
        for name, spec in properties.items():
            if isinstance(spec, dict) and spec.get("required") and name not in value:
                found.append(f"{path}: missing required key {name!r}")
        for key, item in value.items():
            if key in properties:
                spec = properties[key]
                found += self.errors(item, spec if isinstance(spec, str) else spec["type"], f"{path}.{key}")
            elif "loose-value-type" in rule:
                found += self.errors(
                    key, rule.get("loose-key-type", "non-empty-string"), f"{path}.<key {key}>"
                )
                found += self.errors(item, rule["loose-value-type"], f"{path}.{key}")
            else:
                found.append(f"{path}: unexpected key {key!r}")
        return found


@pytest.fixture(scope="module")
def workflow() -> dict:
    return load_workflow(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def runner_schema() -> RunnerSchema:
    return RunnerSchema(json.loads(RUNNER_SCHEMA.read_text())["definitions"])


def test_the_workflow_is_valid_for_forgejo_runners_schema(
    workflow: dict, runner_schema: RunnerSchema
) -> None:
    assert runner_schema.errors(workflow) == []


def test_the_runner_schema_validator_rejects_what_the_runner_would(runner_schema: RunnerSchema) -> None:
    missing_runs_on = {"on": {"push": {"tags": ["v*"]}}, "jobs": {"deploy": {"steps": [{"run": "true"}]}}}
    unknown_key = {"on": "push", "jobs": {"deploy": {"runs-on": "host", "stepz": []}}}
    no_on = {"jobs": {"deploy": {"runs-on": "host", "steps": [{"run": "true"}]}}}
    assert any("runs-on" in e for e in runner_schema.errors(missing_runs_on))
    assert runner_schema.errors(unknown_key)
    assert any("'on'" in e for e in runner_schema.errors(no_on))


def test_the_workflow_is_valid_for_the_github_json_schema(workflow: dict) -> None:
    schema = json.loads(GITHUB_SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(workflow)


def test_a_release_tag_push_triggers_it(workflow: dict) -> None:
    assert set(workflow["on"]) == {"push"}
    assert workflow["on"]["push"] == {"tags": ["v*"]}


def test_every_job_runs_on_the_host_runner(workflow: dict) -> None:
    assert workflow["jobs"], "no jobs"
    for job in workflow["jobs"].values():
        assert job["runs-on"] == "host"


def _run_steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]


def test_no_expression_is_interpolated_inside_a_run_script(workflow: dict) -> None:
    for step in _run_steps(workflow):
        assert not EXPRESSION.search(step["run"]), f"${{{{ }}}} inside run: of {step.get('name')!r}"
        assert "${{" not in step["run"]


def test_the_no_interpolation_check_catches_an_interpolated_tag() -> None:
    bad = load_workflow(
        WORKFLOW.read_text().replace('release-tag "$TAG"', "release-tag ${{ forgejo.ref_name }}")
    )
    assert any(EXPRESSION.search(step["run"]) for step in _run_steps(bad))


def _release_step(workflow: dict) -> dict:
    (step,) = [s for s in _run_steps(workflow) if "release-tag" in s["run"]]
    return step


def test_the_tag_reaches_the_release_wrapper_through_env_only(workflow: dict) -> None:
    step = _release_step(workflow)
    assert step["env"]["TAG"] in (
        "${{ forgejo.ref_name }}",
        "${{ github.ref_name }}",
        "${{ gitea.ref_name }}",
    )
    # the repository is read with the job's token, passed through env: as well
    assert step["env"]["SLIPWAY_RELEASE_REPO_TOKEN"] == "${{ forgejo.token }}"  # noqa: S105 - an expression


def _commands(script: str) -> list[str]:
    """The script's commands, continuation lines joined, comments and the tag checks left out."""
    joined = re.sub(r"\s*\\\n\s*", " ", script)
    lines = [line.strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_job_can_only_hand_the_tag_to_release_tag_with_the_token_on_stdin(workflow: dict) -> None:
    commands = _commands(_release_step(workflow)["run"])
    release = [c for c in commands if "release-tag" in c]
    assert release == [
        'printf \'%s\\n%s\\n\' "$SLIPWAY_RELEASE_REPO_TOKEN" "$SLIPWAY_RELEASE_ACTOR" '
        '| sudo -n /usr/local/libexec/slipway/release-tag "$TAG"'
    ]
    # no playbook, toolkit directory or other privileged command is run by the job itself
    for command in commands:
        assert "ansible-playbook" not in command and "SLIPWAY_DIR" not in command
        assert "sudo" not in command or command == release[0]
    # the token is only ever expanded as printf's argument (a shell builtin: no argv of its own)
    assert [c for c in commands if "SLIPWAY_RELEASE_REPO_TOKEN" in c] == release
