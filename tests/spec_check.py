"""Check recorded Forgejo API traffic against Forgejo's own Swagger 2.0 description.

For every request: the method and path must be an operation of the spec, every query
parameter must be declared and of the declared type/enum, and the JSON body must
validate against the operation's body schema (undeclared body fields are rejected).
For every response that the double produced (not an injected fault): the status must
be one the operation documents, and the JSON body must validate against its schema.

Response schemas are made strict, because Forgejo (Go) always serialises every field of
its structs: all properties are required except the few Forgejo marks `omitempty`
(OMITTABLE below). Only Go pointer-like fields may be null: objects (`$ref`), arrays and
maps (nil slices/maps), date-times (`*time.Time`) and fields marked `x-nullable`.

    problems = check_recorded(double.requests)   # [] when all is well
"""

from __future__ import annotations

import functools
import json
import re
import urllib.parse
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema

SPEC_PATH = Path(__file__).resolve().parents[1] / "spec" / "forgejo" / "swagger.v1.json"

# Response fields Forgejo leaves out (`json:",omitempty"` in forgejo.org/modules/structs).
OMITTABLE: dict[str, set[str]] = {
    "Repository": {
        "parent",
        "permissions",
        "internal_tracker",
        "external_tracker",
        "external_wiki",
        "repo_transfer",
    },
    "Tag": {"archive_download_count"},
    "PayloadCommit": {"added", "removed", "modified", "verification"},
    "APINotFound": {"errors"},
    "Hook": {"metadata", "content_type"},
}
# Go pointer fields of scalar type (null until set), e.g. `MergedCommitID *string`.
NULLABLE_SCALARS: dict[str, set[str]] = {"PullRequest": {"merge_commit_sha"}}
GLOBAL_QUERY = {"sudo": {"type": "string"}}  # SudoParam security definition
# Answers real Forgejo gives that its spec does not document (see routers/api/v1 in Forgejo's
# source); they carry an APIError body. (method, path template, status).
KNOWN_UNDOCUMENTED = {
    ("POST", "/repos/{owner}/{repo}/issues/{index}/labels", 400),  # ids and names mixed
    ("PUT", "/repos/{owner}/{repo}/issues/{index}/labels", 400),
    ("POST", "/repos/{owner}/{repo}/hooks", 422),  # checkCreateHookOption
    ("POST", "/repos/{owner}/{repo}/pulls/{index}/merge", 405),  # documented empty, sent with a message
}
# Answers the spec documents as empty that Forgejo sends with an APIContext.NotFound() JSON body.
NOT_FOUND_WITH_BODY = {
    ("GET", "/repos/{owner}/{repo}/pulls/{index}/merge", 404),  # IsPullRequestMerged: ctx.NotFound()
}
# Errors Forgejo's middleware (token check, repo lookup, body binding) returns for any operation.
MIDDLEWARE_ERRORS = {401: "unauthorized", 403: "forbidden", 404: "notFound", 422: "validationError"}
DROP_KEYS = {"description", "example", "title", "x-go-name", "x-go-package", "x-go-enum-desc", "default"}


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


FORMATS = jsonschema.FormatChecker(formats=())
FORMATS.checks("date-time")(_date_time)


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _may_be_null(raw: dict) -> bool:
    return bool(
        raw.get("x-nullable")
        or "$ref" in raw
        or raw.get("type") == "array"
        or (raw.get("type") == "object" and "additionalProperties" in raw)
        or raw.get("format") == "date-time"
        or not raw.get("type")
    )


def convert(raw: Any, mode: str, definition: str | None = None) -> Any:
    """Swagger 2.0 schema -> JSON Schema (draft 4) with the strictness rules of `mode`."""
    if not isinstance(raw, dict):
        return raw
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in DROP_KEYS or key.startswith("x-"):
            continue
        if key == "properties":
            props = {}
            for name, sub in value.items():
                converted = convert(sub, mode)
                nullable = _may_be_null(sub) or name in NULLABLE_SCALARS.get(definition or "", set())
                props[name] = _nullable(converted) if mode == "response" and nullable else converted
            out["properties"] = props
        elif key == "items":
            out["items"] = convert(value, mode)
        elif key == "additionalProperties" and isinstance(value, dict):
            out["additionalProperties"] = convert(value, mode)
        else:
            out[key] = value
    if "properties" in out:
        if mode == "response" and definition is not None:
            omit = OMITTABLE.get(definition, set())
            out["required"] = sorted(set(out["properties"]) - omit)
        if mode == "request" and "additionalProperties" not in out:
            out["additionalProperties"] = False
    return out


class SpecChecker:
    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.base_path = spec.get("basePath", "")
        self.defs = {
            mode: {name: convert(d, mode, name) for name, d in spec["definitions"].items()}
            for mode in ("request", "response")
        }
        self.operations = []
        for template, item in spec["paths"].items():
            segments = template.strip("/").split("/")
            literals = sum(1 for s in segments if not s.startswith("{"))
            for method, op in item.items():
                if method == "parameters":
                    continue
                self.operations.append((method.upper(), template, segments, literals, op))
        self.operations.sort(key=lambda o: -o[3])

    # ------------------------------------------------------------ matching

    def find(self, method: str, path: str) -> tuple[str, dict, dict[str, str]] | None:
        raw_segments = path.strip("/").split("/") if path.strip("/") else []
        for op_method, template, segments, _, op in self.operations:
            if op_method != method:
                continue
            params = self._match(segments, raw_segments)
            if params is not None:
                return template, op, params
        return None

    @staticmethod
    def _match(segments: list[str], raw: list[str]) -> dict[str, str] | None:
        if len(raw) < len(segments):
            return None
        if len(raw) > len(segments):
            # Only a trailing branch/tag/head parameter may swallow literal slashes.
            if not segments or segments[-1] not in ("{branch}", "{tag}", "{head}", "{filepath}"):
                return None
            raw = raw[: len(segments) - 1] + ["/".join(raw[len(segments) - 1 :])]
        params = {}
        for seg, value in zip(segments, raw, strict=True):
            if seg.startswith("{"):
                if value == "":
                    return None
                params[seg[1:-1]] = urllib.parse.unquote(value)
            elif seg != value:
                return None
        return params

    # ------------------------------------------------------------ checking

    def check(self, req: Any) -> list[str]:
        where = f"{req.method} {req.path}"
        if not req.path.startswith(self.base_path + "/"):
            return [f"{where}: not under the API base path {self.base_path}"]
        found = self.find(req.method, req.path[len(self.base_path) :].rstrip("/"))  # Forgejo strips slashes
        if found is None:
            return [f"{where}: no such operation in the Forgejo spec"]
        template, op, path_params = found
        where = f"{req.method} {template} ({req.path})"
        query = getattr(req, "query_multi", None) or {k: [v] for k, v in (req.query or {}).items()}
        problems = self._check_params(where, op, path_params, query, req.request_json)
        if req.status is not None and not req.injected:
            problems += self._check_response(where, op, req.status, req.response_json, req.response_text)
        return problems

    def _check_params(
        self, where: str, op: dict, path_params: dict, query: dict[str, list[str]], body: Any
    ) -> list[str]:
        problems = []
        declared = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        for name, value in path_params.items():
            spec = next(
                (p for p in op.get("parameters", []) if p["in"] == "path" and p["name"] == name), None
            )
            if spec and not _scalar_ok(spec, value):
                problems.append(f"{where}: path parameter {name}={value!r} is not a valid {spec.get('type')}")
        for name, values in query.items():
            spec = declared.get(name) or GLOBAL_QUERY.get(name)
            if spec is None:
                problems.append(f"{where}: undeclared query parameter {name!r}")
                continue
            if len(values) > 1 and spec.get("collectionFormat") != "multi":
                problems.append(
                    f"{where}: query parameter {name} repeated but it is not collectionFormat multi"
                )
            for value in values:
                if not _query_ok(spec, value):
                    problems.append(
                        f"{where}: query parameter {name}={value!r} does not match {_describe(spec)}"
                    )
        for name, spec in declared.items():
            if spec.get("required") and name not in query:
                problems.append(f"{where}: required query parameter {name!r} missing")
        body_param = next((p for p in op.get("parameters", []) if p["in"] == "body"), None)
        if body_param is None:
            if body is not None:
                problems.append(f"{where}: request has a JSON body but the operation takes none")
        elif body is None:
            if body_param.get("required"):
                problems.append(f"{where}: required request body missing")
        else:
            problems += self._validate(where, "request body", body_param["schema"], body, "request")
        return problems

    def _response_spec(self, op: dict, status: int, key: tuple[str, str, int]) -> dict | None:
        if key in KNOWN_UNDOCUMENTED:
            return {"schema": {"$ref": "#/definitions/APIError"}}
        if key in NOT_FOUND_WITH_BODY:
            return {"schema": {"$ref": "#/definitions/APINotFound"}}
        responses = op.get("responses", {})
        spec = responses.get(str(status)) or responses.get("default")
        if spec is None and status in MIDDLEWARE_ERRORS:
            spec = {"$ref": "#/responses/" + MIDDLEWARE_ERRORS[status]}
        if spec and "$ref" in spec:
            spec = self.spec["responses"][spec["$ref"].rsplit("/", 1)[1]]
        return spec

    def _check_response(self, where: str, op: dict, status: int, body: Any, text: str) -> list[str]:
        method, template = where.split(" ")[:2]
        spec = self._response_spec(op, status, (method, template, status))
        if spec is None:
            documented = ", ".join(sorted(op.get("responses", {})))
            return [f"{where}: response status {status} is not documented (documented: {documented})"]
        if "schema" in spec:
            if body is None:
                return [f"{where}: response {status} must have a JSON body, got {text[:80]!r}"]
            return self._validate(where, f"response {status}", spec["schema"], body, "response")
        if body is not None and "headers" not in spec:
            return [f"{where}: response {status} is documented empty but has a body {text[:80]!r}"]
        return []

    def _validate(self, where: str, what: str, schema: dict, instance: Any, mode: str) -> list[str]:
        root = {"definitions": self.defs[mode], **convert(schema, mode)}
        validator = jsonschema.Draft4Validator(root, format_checker=FORMATS)
        problems = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))[:5]:
            location = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{where}: {what} at {location}: {error.message[:200]}")
        return problems


def _scalar_ok(spec: dict, value: str) -> bool:
    kind = spec.get("type")
    if kind == "integer":
        return re.fullmatch(r"-?\d+", value) is not None
    if kind == "number":
        try:
            float(value)
        except ValueError:
            return False
        return True
    if kind == "boolean":
        return value in ("true", "false", "1", "0")
    if "enum" in spec:
        return value in spec["enum"]
    return True


def _query_ok(spec: dict, value: str) -> bool:
    if spec.get("type") == "array":
        item = spec.get("items", {})
        if spec.get("collectionFormat") == "multi":  # one item per occurrence: no comma lists
            return value == "" or _scalar_ok(item, value)
        return all(_scalar_ok(item, v) for v in value.split(",") if v)
    return _scalar_ok(spec, value)


def _describe(spec: dict) -> str:
    return f"enum {spec['enum']}" if "enum" in spec else f"type {spec.get('type')}"


@functools.lru_cache(maxsize=4)
def load_checker(spec_path: str = str(SPEC_PATH)) -> SpecChecker:
    return SpecChecker(json.loads(Path(spec_path).read_text()))


def check_recorded(requests: Iterable[Any], spec_path: Path | None = None) -> list[str]:
    """Problems found in recorded API requests (git smart-HTTP and control-plane calls are skipped)."""
    checker = load_checker(str(spec_path or SPEC_PATH))
    problems: list[str] = []
    for req in requests:
        if getattr(req, "kind", "api") != "api" or req.path.startswith("/_double/"):
            continue
        problems.extend(checker.check(req))
    return problems
