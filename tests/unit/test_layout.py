"""The layout rule: ``sandbox/`` owns every helper the demo, the benches and the tests share; the tests
import the sandbox, never the other way, and nothing outside tests/ imports ``tests``."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRUNE = {"node_modules", "__pycache__"}  # and hidden directories (.git, .venv)


def python_files(root: Path) -> list[Path]:
    """Every Python file outside tests/: ``*.py`` and the extensionless scripts with a python shebang."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".") and d not in PRUNE and not (here == root and d == "tests")
        )
        for name in sorted(filenames):
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            if name.endswith(".py"):
                found.append(path)
            elif "." not in name:
                with path.open("rb") as handle:
                    first = handle.readline(200)
                if first.startswith(b"#!") and b"python" in first:
                    found.append(path)
    return found


def imports_of_tests(source: str, filename: str = "<source>") -> list[str]:
    """``line: statement`` for each import of the ``tests`` package (at any depth in the module)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name == "tests" or name.startswith("tests."):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize(
    "source",
    [
        "import tests\n",
        "import tests.playbook as p\n",
        "from tests import pg_fixture\n",
        "from tests.host.site_helpers import SiteWorld\n",
        "def f():\n    from tests.playbook import ROOT\n",
    ],
)
def test_the_check_sees_an_import_of_tests(source: str) -> None:
    assert imports_of_tests(source)


@pytest.mark.parametrize(
    "source", ["import testsuite\n", "from sandbox.playbook import ROOT\n", "from . import tests\n"]
)
def test_the_check_lets_other_imports_be(source: str) -> None:
    assert not imports_of_tests(source)


def test_the_walk_reads_the_sandbox_the_benches_and_the_scripts() -> None:
    files = {path.relative_to(ROOT).as_posix() for path in python_files(ROOT)}
    for expected in (
        "sandbox/demo.py",
        "bench/watcher_cycle.py",
        "bench/provision",
        "scripts/report_issue.py",
    ):
        assert expected in files
    assert not any(name.startswith("tests/") for name in files)


def test_nothing_outside_tests_imports_tests() -> None:
    offenders = []
    for path in python_files(ROOT):
        for hit in imports_of_tests(path.read_text(encoding="utf-8"), str(path)):
            offenders.append(f"{path.relative_to(ROOT)}:{hit}")
    assert not offenders, "these import tests/ (move what they need into sandbox/):\n  " + "\n  ".join(
        offenders
    )


# The core's layers, bottom up (README "Layout"): a file may import only files before it in this list.
CORE_ORDER = (
    "proc",
    "lock",
    "ledger",
    "runlog",
    "sanitize",
    "gitops",
    "config",
    "forgejo",
    "lifecycle",
    "claude",
    "agent_protocol",
    "agent_steps",
    "agent_sandbox",
    "model_gateway",
    "workspace",
    "prompts",
    "progress",
    "pipeline",
    "review",
    "release",
    "release_notify",
    "ansible_side",
)
CORE = ROOT / "module_utils" / "slipway"


def core_imports(source: str) -> set[str]:
    """The core files a source imports: ``ansible.module_utils.slipway.X`` in any form, and the agent
    side's plain ``import X`` of a file installed beside it."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "ansible.module_utils.slipway":
                names.update(alias.name for alias in node.names)
            elif node.module.startswith("ansible.module_utils.slipway."):
                names.add(node.module.rsplit(".", 1)[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ansible.module_utils.slipway."):
                    names.add(alias.name.rsplit(".", 1)[1])
                elif alias.name in CORE_ORDER:
                    names.add(alias.name)
    return names


def layer_violations(order: tuple[str, ...], imports: dict[str, set[str]]) -> list[str]:
    rank = {name: i for i, name in enumerate(order)}
    return [
        f"{name} imports {other}"
        for name, used in sorted(imports.items())
        for other in sorted(used)
        if other not in rank or rank[other] >= rank[name]
    ]


def test_every_core_file_has_a_layer():
    files = {path.stem for path in CORE.glob("*.py") if path.stem != "__init__"}
    assert files == set(CORE_ORDER)


def test_the_core_imports_only_downward():
    imports = {name: core_imports((CORE / f"{name}.py").read_text()) for name in CORE_ORDER}
    assert layer_violations(CORE_ORDER, imports) == []


def test_the_layer_check_catches_an_upward_import():
    imports = {"lock": core_imports("from ansible.module_utils.slipway.claude import run_claude\n")}
    assert layer_violations(("proc", "lock", "claude"), imports) == ["lock imports claude"]
    assert core_imports("from ansible.module_utils.slipway import gitops, ledger\nimport gitops\n") == {
        "gitops",
        "ledger",
    }


def test_release_lock_loads_neither_the_claude_runner_nor_git():
    """What release.yml's lock (library/slipway_lock.py) loads: the lock and /proc only."""
    seen, todo = set(), set(core_imports((ROOT / "library" / "slipway_lock.py").read_text()))
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= core_imports((CORE / f"{name}.py").read_text()) - seen
    assert seen == {"lock", "proc"}
