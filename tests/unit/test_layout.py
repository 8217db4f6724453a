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
