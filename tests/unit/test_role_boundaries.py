"""Each role stands alone: it reads only its own ``slipway_<role>_*`` variables (and the site-wide inventory
variables), unless the other role is one of its meta dependencies.

Every string in a role's defaults, vars, tasks and handlers is parsed as Jinja (conditionals such as
``when`` and ``that`` as bare expressions), and so is every template; the variables an expression reads
(names, and constant names such as ``vars['slipway_x_y']``) that belong to another role are refused
unless that role is among the role's meta dependencies (transitively). What one role needs from another
is passed in by playbooks/site.yml as the role's own variable instead. The roles' argument specs are
also held to their defaults: every default is documented, and nothing is documented that is not a default
or a required option (such as the agent choice, which has no default).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from jinja2 import nodes

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"
# Keys whose string values Ansible evaluates as bare Jinja expressions.
CONDITIONALS = {"when", "failed_when", "changed_when", "until", "that"}
VARIABLE = re.compile(r"slipway_[a-z0-9_]+")
_JINJA = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"])  # noqa: S701 - parsed only


def role_names(roles_dir: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in roles_dir.glob("*/meta/main.yml"))


def owner(variable: str, roles: list[str]) -> str | None:
    """The role a variable belongs to by its prefix (the longest role name that matches)."""
    matches = [role for role in roles if variable.startswith(role + "_")]
    return max(matches, key=len) if matches else None


def dependencies(roles_dir: Path, role: str) -> set[str]:
    """The role's meta dependencies, transitively."""
    found: set[str] = set()
    todo = [role]
    while todo:
        meta = yaml.safe_load((roles_dir / todo.pop() / "meta/main.yml").read_text()) or {}
        for dep in meta.get("dependencies") or []:
            name = dep if isinstance(dep, str) else dep.get("role") or dep.get("name")
            if name not in found:
                found.add(name)
                todo.append(name)
    return found


def _names(source: str) -> set[str]:
    """The variables a Jinja source reads: names, and constants that name a variable."""
    with warnings.catch_warnings():  # regex escapes in string literals ('\\[') are Ansible's business
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = _JINJA.parse(source)
    read = {node.name for node in tree.find_all(nodes.Name) if node.ctx == "load"}
    read |= {
        node.value
        for node in tree.find_all(nodes.Const)
        if isinstance(node.value, str) and VARIABLE.fullmatch(node.value)
    }
    return {name for name in read if name.startswith("slipway_")}


def _strings(data: Any, key: str | None = None) -> Iterator[str]:
    """Jinja sources in a parsed YAML document (conditionals wrapped as expressions)."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _strings(v, k if isinstance(k, str) else None)
    elif isinstance(data, list):
        for item in data:
            yield from _strings(item, key)
    elif isinstance(data, str):
        yield "{{ " + data + " }}" if key in CONDITIONALS else data


def role_files(roles_dir: Path, role: str) -> Iterator[Path]:
    base = roles_dir / role
    for part in ("defaults", "vars", "tasks", "handlers"):
        yield from sorted((base / part).rglob("*.yml"))
    yield from sorted(p for p in (base / "templates").rglob("*") if p.is_file())


def references(roles_dir: Path, role: str) -> dict[str, set[str]]:
    """{variable: files} for every slipway_* variable the role reads."""
    found: dict[str, set[str]] = {}
    for path in role_files(roles_dir, role):
        if path.parent.name == "templates" or "templates" in path.parts:
            sources: list[str] = [path.read_text()]
        else:
            sources = list(_strings(yaml.safe_load(path.read_text())))
        for source in sources:
            for name in _names(source):
                found.setdefault(name, set()).add(str(path.relative_to(roles_dir)))
    return found


def foreign_references(roles_dir: Path) -> list[str]:
    roles = role_names(roles_dir)
    problems = []
    for role in roles:
        allowed = dependencies(roles_dir, role) | {role}
        for variable, files in sorted(references(roles_dir, role).items()):
            other = owner(variable, roles)
            if other is not None and other not in allowed:
                problems.append(
                    f"{role} reads {variable} of {other} ({', '.join(sorted(files))}) without {other} in its "
                    "meta dependencies: take it as a variable of its own that playbooks/site.yml passes in"
                )
    return problems


def test_every_role_reads_only_its_own_variables_or_its_dependencies() -> None:
    assert role_names(ROLES), "no roles found"
    problems = foreign_references(ROLES)
    assert problems == [], "\n".join(problems)


def _role(
    roles_dir: Path, name: str, defaults: str, deps: list[str] | None = None, files: dict | None = None
) -> None:
    base = roles_dir / name
    (base / "meta").mkdir(parents=True)
    (base / "meta/main.yml").write_text(yaml.safe_dump({"dependencies": [{"role": d} for d in deps or []]}))
    (base / "defaults").mkdir()
    (base / "defaults/main.yml").write_text(defaults)
    for rel, text in (files or {}).items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_reference_to_another_roles_variable_is_reported(tmp_path: Path) -> None:
    _role(tmp_path, "slipway_one", "slipway_one_port: 3100\n")
    _role(tmp_path, "slipway_one_more", "slipway_one_more_x: 1\n")  # a longer name owns its own prefix
    _role(
        tmp_path,
        "slipway_two",
        'slipway_two_port: "{{ slipway_one_port | default(1) }}"\nslipway_two_url: "{{ slipway_forgejo_url }}"\n',
        files={
            "tasks/main.yml": "- name: X.\n  ansible.builtin.debug:\n    msg: hi\n  when: slipway_one_more_x > 0\n",
            "templates/a.j2": "{{ vars['slipway_one_port'] }}\n",
        },
    )
    _role(tmp_path, "slipway_three", 'slipway_three_port: "{{ slipway_two_port }}"\n', deps=["slipway_two"])
    problems = "\n".join(foreign_references(tmp_path))
    assert "slipway_two reads slipway_one_port of slipway_one" in problems, problems
    assert "defaults/main.yml" in problems and "templates/a.j2" in problems
    assert "slipway_two reads slipway_one_more_x of slipway_one_more (slipway_two/tasks/main.yml)" in problems
    assert "slipway_forgejo_url" not in problems  # a site-wide inventory variable
    assert "slipway_three" not in problems  # its dependency


# ------------------------------------------------------------------ argument specs in step with defaults


@pytest.mark.parametrize("role", role_names(ROLES))
def test_the_argument_spec_documents_every_default(role: str) -> None:
    base = ROLES / role
    defaults: dict[str, Any] = {}
    for path in sorted((base / "defaults").glob("*.yml")):
        defaults.update(yaml.safe_load(path.read_text()) or {})
    specs = yaml.safe_load((base / "meta/argument_specs.yml").read_text())["argument_specs"]
    options = specs["main"].get("options") or {}
    missing = sorted(set(defaults) - set(options))
    assert missing == [], f"{role}: defaults not in meta/argument_specs.yml: {missing}"
    stray = sorted(
        name for name, spec in options.items() if name not in defaults and not spec.get("required")
    )
    assert stray == [], f"{role}: meta/argument_specs.yml options neither defaulted nor required: {stray}"
