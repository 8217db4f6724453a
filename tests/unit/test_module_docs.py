"""Every module's DOCUMENTATION matches its argument spec, as ``ansible-test sanity`` (validate-modules) checks.

For each ``library/*.py`` the DOCUMENTATION is parsed with its doc fragments (``doc_fragments/``) merged,
and the module is run with a stand-in AnsibleModule that records the argument spec it is built with and
stops. Both sides are compared option by option (suboptions too): names, type, required, default,
choices, elements, aliases and no_log (a secret must be marked no_log in the spec; the documentation
only has to agree where it says so).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import ansible.module_utils.basic
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "library"
FRAGMENTS = ROOT / "doc_fragments"
MODULES = sorted(p for p in LIBRARY.glob("*.py") if not p.name.startswith("_"))

# What AnsibleModule assumes when a key is left out of a spec entry.
SPEC_DEFAULTS = {"type": "str", "required": False, "default": None, "choices": None, "elements": None}


class _Captured(Exception):
    def __init__(self, kwargs: dict[str, Any]) -> None:
        super().__init__("argument spec captured")
        self.kwargs = kwargs


class _CapturingModule:
    """Stands in for AnsibleModule: records its keyword arguments and stops the module."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            kwargs["argument_spec"] = args[0]
        raise _Captured(kwargs)


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented_options(path: Path) -> dict[str, Any]:
    """The module's DOCUMENTATION options with its doc fragments merged in (the module's own win)."""
    doc = yaml.safe_load(_load(path, f"_slipway_doc_{path.stem}").DOCUMENTATION)
    options: dict[str, Any] = {}
    for fragment in doc.get("extends_documentation_fragment") or []:
        name, _, variant = fragment.partition(".")
        cls = _load(FRAGMENTS / f"{name}.py", f"_slipway_fragment_{name}").ModuleDocFragment
        text = getattr(cls, (variant or "documentation").upper())
        options.update(yaml.safe_load(text).get("options") or {})
    options.update(doc.get("options") or {})
    return options


def module_spec(path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The argument spec the module builds, captured from its AnsibleModule(...) call."""
    monkeypatch.setattr(ansible.module_utils.basic, "AnsibleModule", _CapturingModule)
    # Shared code imported earlier holds its own reference to AnsibleModule.
    for name, loaded in list(sys.modules.items()):
        if name.startswith("ansible.module_utils.slipway") and hasattr(loaded, "AnsibleModule"):
            monkeypatch.setattr(loaded, "AnsibleModule", _CapturingModule)
    module = _load(path, f"_slipway_module_{path.stem}")
    # The module file imported AnsibleModule (and maybe shared code) while being loaded above.
    for name, loaded in list(sys.modules.items()):
        if name.startswith("ansible.module_utils.slipway") and hasattr(loaded, "AnsibleModule"):
            monkeypatch.setattr(loaded, "AnsibleModule", _CapturingModule)
    if hasattr(module, "AnsibleModule"):
        monkeypatch.setattr(module, "AnsibleModule", _CapturingModule)
    with pytest.raises(_Captured) as captured:
        module.main()
    return captured.value.kwargs["argument_spec"]


def _norm(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_norm(v) for v in value]
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def compare(spec: dict[str, Any], docs: dict[str, Any], where: str = "") -> list[str]:
    """Mismatches between an argument spec and documented options, one line each."""
    problems: list[str] = []
    for name in sorted(set(spec) - set(docs)):
        problems.append(f"{where}{name}: in the argument spec but not documented")
    for name in sorted(set(docs) - set(spec)):
        problems.append(f"{where}{name}: documented but not in the argument spec")
    for name in sorted(set(spec) & set(docs)):
        arg, doc = spec[name] or {}, docs[name] or {}
        here = f"{where}{name}"
        for key, implied in SPEC_DEFAULTS.items():
            if key == "required":
                want, got = bool(arg.get(key, implied)), bool(doc.get(key, implied))
            elif key == "type":
                want, got = arg.get(key, implied), doc.get(key, implied)
            else:
                want, got = _norm(arg.get(key, implied)), _norm(doc.get(key, implied))
            if key == "default" and want is None and got is None:
                continue
            if want != got:
                problems.append(
                    f"{here}: {key} is {want!r} in the argument spec, {got!r} in the documentation"
                )
        if sorted(arg.get("aliases") or []) != sorted(doc.get("aliases") or []):
            problems.append(
                f"{here}: aliases {arg.get('aliases')!r} in the spec, {doc.get('aliases')!r} documented"
            )
        if "no_log" in doc and bool(doc["no_log"]) != bool(arg.get("no_log", False)):
            problems.append(
                f"{here}: no_log is {arg.get('no_log', False)!r} in the spec, {doc['no_log']!r} documented"
            )
        if arg.get("required") and "default" in arg and arg["default"] is not None:
            problems.append(f"{here}: required with a default in the argument spec")
        sub_spec, sub_docs = arg.get("options"), doc.get("suboptions")
        if sub_spec or sub_docs:
            problems.extend(compare(sub_spec or {}, sub_docs or {}, f"{here}."))
    return problems


def test_every_module_is_checked() -> None:
    assert len(MODULES) >= 10, MODULES


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_the_documentation_matches_the_argument_spec(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problems = compare(module_spec(path, monkeypatch), documented_options(path))
    assert problems == [], f"{path.name}:\n" + "\n".join(problems)


def test_a_mismatch_is_reported() -> None:
    spec = {
        "name": {"type": "str", "required": True},
        "mode": {"type": "str", "choices": ["a", "b"], "default": "a"},
        "items": {"type": "list", "elements": "dict", "options": {"x": {"type": "int"}}},
        "secret": {"type": "str", "no_log": True},
        "extra": {"type": "bool"},
    }
    docs = {
        "name": {"type": "str"},
        "mode": {"type": "str", "choices": ["a"], "default": "b"},
        "items": {"type": "list", "elements": "str", "suboptions": {"x": {"type": "str"}}},
        "secret": {"type": "str", "no_log": False},
        "gone": {"type": "str"},
    }
    problems = "\n".join(compare(spec, docs))
    for needle in (
        "extra: in the argument spec but not documented",
        "gone: documented but not in the argument spec",
        "name: required is True",
        "mode: choices",
        "mode: default",
        "items: elements",
        "items.x: type",
        "secret: no_log",
    ):
        assert needle in problems, problems
