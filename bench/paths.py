"""bench/paths: the number of repository files each of three paths passes through, at a git revision.

Files are read with ``git ls-tree``/``git cat-file`` at the revision (default HEAD), so any revision can be
measured without checking it out (``bench/paths 7d53663`` before the reorganisation, ``bench/paths main``
after). Every figure is computed mechanically by the same method at every revision; it is an
approximation of "the files a reader must open to follow the path", not a trace of a run.

issue -- an issue number from the listing to the PR:
  playbooks/watcher.yml; the custom modules its tasks call (a task key naming library/<key>.py) restricted
  to forgejo_issue_info (the listing), claude_triage and claude_fix; the filter_plugins/ file defining each
  ``slipway_*`` Jinja filter the playbook uses (a string dict key in the file); the module_utils closure of
  those files. When module_utils/slipway/workspace.py is in the closure the agent side is on the path too:
  roles/slipway_agent/files/agent-run, the module_utils files it imports flat (``import gitops``,
  ``import agent_protocol as protocol``, imports inside functions too) and the ones it executes by path (a
  string constant ending in ``<name>.py`` naming module_utils/slipway/<name>.py), with their own closure
  (flat imports resolved as well).

tag -- the release tag:
  roles/slipway_forgejo_runner/files/release-tag (it runs ansible-playbook on release.yml), release.yml and
  the playbooks it imports (import_playbook); the roles the plays use (``roles:``, include_role,
  import_role, meta dependencies); per role the task files reached from tasks/main.yml through
  include_tasks/import_tasks (a templated name such as ``"{{ x }}.yml"`` includes every task file of the
  role, and a note says so), defaults/main.yml, vars/main.yml and handlers/main.yml when present, and the
  files/ and templates/ named by an untemplated ``src:`` or a file/template lookup; the custom modules and
  ``slipway_*`` filters those YAML files use, and their module_utils closure.

token -- the Forgejo token: the files that handle its value.
  inventories/ files (not *.md) containing ``slipway_forgejo_token``; the set of variables derived from it
  (a top-level key of a role's defaults/ or vars/ whose value mentions a variable of the set, to a fixed
  point); the role files (defaults, vars, tasks, handlers, templates; not meta/, not files/) and playbooks
  that mention a variable of the set outside full-line comments; the module_utils file defining
  ``load_config`` (the watcher configuration reader); every file in module_utils/, library/,
  filter_plugins/, scripts/ and roles/*/files/ whose code (comments and docstrings removed) matches one of
  TOKEN_CODE_PATTERNS (printed with the figures):
    config_token_attr   ``\\.token\\b``                       .token of a config (or client) object
    token_key           ``\\[\\s*["']token["']\\s*\\]`` or ``get("token"``  the token key of watcher.config.json
    forgejo_token_opt   ``["']forgejo_token["']``              the forgejo_token module option
    askpass             ``askpass`` (any case)                 a git credential helper script
    git_askpass_env     ``GIT_ASKPASS``
    git_password_env    ``SLIPWAY_GIT_PASSWORD``

module_utils closure (all paths): ``from ansible.module_utils.slipway.X import ...``,
``from ansible.module_utils.slipway import X, Y``, ``import ansible.module_utils.slipway.X``, relative
imports inside module_utils/slipway, anywhere in the file (inside functions too), resolved to
module_utils/slipway/X.py when that file exists. A file that calls ``spec_from_file_location`` or
``run_path`` also loads every module_utils/slipway/X.py named by a string constant ending in ``X.py``
(approximate: the constant is not evaluated). The empty package marker __init__.py is not counted.

Also printed per revision: the number of files in module_utils/slipway, and the module_utils closure of
library/slipway_lock.py (the lock release.yml takes).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import subprocess
import sys
import tokenize
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import yaml

MU = "module_utils/slipway"
ISSUE_START = "playbooks/watcher.yml"
ISSUE_MODULES = ("forgejo_issue_info", "claude_triage", "claude_fix")
AGENT_RUN = "roles/slipway_agent/files/agent-run"
TAG_START = ("roles/slipway_forgejo_runner/files/release-tag", "release.yml")
TOKEN_VAR = "slipway_forgejo_token"  # noqa: S105 - a variable name, not a secret
LOCK_MODULE = "library/slipway_lock.py"

TOKEN_CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    "config_token_attr": re.compile(r"\.token\b"),
    "token_key": re.compile(r"""\[\s*["']token["']\s*\]|\.get\(\s*["']token["']"""),
    "forgejo_token_opt": re.compile(r"""["']forgejo_token["']"""),
    "askpass": re.compile(r"askpass", re.IGNORECASE),
    "git_askpass_env": re.compile(r"GIT_ASKPASS"),
    "git_password_env": re.compile(r"SLIPWAY_GIT_PASSWORD"),
}
TOKEN_CODE_DIRS = ("module_utils/", "library/", "filter_plugins/", "scripts/")
ROLE_VAR_DIRS = ("defaults", "vars", "tasks", "handlers", "templates")

TASK_LISTS = ("tasks", "pre_tasks", "post_tasks", "handlers", "block", "rescue", "always")
PREFIXES = ("ansible.builtin.", "ansible.legacy.")
FILTER_RE = re.compile(r"\|\s*(slipway_\w+)")
LOOKUP_RE = re.compile(r"""lookup\(\s*['"](file|template)['"]\s*,\s*['"]([^'"{}]+)['"]""")
BY_PATH_MARKERS = ("spec_from_file_location", "run_path")
PY_NAME_RE = re.compile(r"(?:.*/)?(\w+)\.py")


# ---------------------------------------------------------------- reading a revision


class Tree:
    """The files of one revision: paths and text (None for a missing or binary file)."""

    def __init__(self, files: dict[str, str | None] | None = None) -> None:
        self._files = dict(files or {})

    @property
    def paths(self) -> list[str]:
        return sorted(self._files)

    def exists(self, path: str) -> bool:
        return path in self._files

    def read(self, path: str) -> str | None:
        return self._files.get(path)

    def under(self, prefix: str) -> list[str]:
        return [p for p in self.paths if p.startswith(prefix)]


class GitTree(Tree):
    """A revision of the repository, read through one ``git cat-file --batch``."""

    def __init__(self, rev: str, repo: str = ".") -> None:
        listing = subprocess.run(
            ["git", "-C", repo, "ls-tree", "-r", "-z", "--full-tree", rev],
            check=True,
            capture_output=True,
        ).stdout.decode()
        blobs = {}
        for entry in filter(None, listing.split("\0")):
            meta, path = entry.split("\t", 1)
            _mode, kind, sha = meta.split()
            if kind == "blob":
                blobs[path] = sha
        batch = subprocess.run(
            ["git", "-C", repo, "cat-file", "--batch"],
            input="".join(f"{sha}\n" for sha in blobs.values()).encode(),
            check=True,
            capture_output=True,
        ).stdout
        contents: dict[str, bytes] = {}
        pos = 0
        for path in blobs:
            header_end = batch.index(b"\n", pos)
            size = int(batch[pos:header_end].split()[2])
            contents[path] = batch[header_end + 1 : header_end + 1 + size]
            pos = header_end + 1 + size + 1
        files: dict[str, str | None] = {}
        for path, data in contents.items():
            try:
                files[path] = None if b"\0" in data else data.decode()
            except UnicodeDecodeError:
                files[path] = None
        super().__init__(files)
        self.rev = rev
        self.commit = subprocess.run(
            ["git", "-C", repo, "rev-parse", "--verify", f"{rev}^{{commit}}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()


# ---------------------------------------------------------------- Python: imports and code text


def _parse(source: str | None) -> ast.Module | None:
    if source is None:
        return None
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _string_constants(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def imported_names(path: str, source: str | None, flat: bool = False) -> set[str]:
    """Module names X that the file imports as module_utils/slipway/X (unresolved; see closure)."""
    tree = _parse(source)
    if tree is None:
        return set()
    names: set[str] = set()
    package = "ansible.module_utils.slipway"
    in_package = path.startswith(MU + "/")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                if in_package and node.level == 1:
                    names.update([module.split(".")[0]] if module else [a.name for a in node.names])
            elif module == package:
                names.update(a.name for a in node.names)
            elif module.startswith(package + "."):
                names.add(module[len(package) + 1 :].split(".")[0])
            elif flat and "." not in module:
                names.add(module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(package + "."):
                    names.add(alias.name[len(package) + 1 :].split(".")[0])
                elif flat and "." not in alias.name:
                    names.add(alias.name)
    return names


def by_path_names(source: str | None, force: bool = False) -> set[str]:
    """Module names X loaded by path: string constants ending in X.py, in a file that loads files by path
    (spec_from_file_location, run_path) or is known to execute them (force)."""
    if source is None or not (force or any(m in source for m in BY_PATH_MARKERS)):
        return set()
    tree = _parse(source)
    if tree is None:
        return set()
    return {m.group(1) for s in _string_constants(tree) if (m := PY_NAME_RE.fullmatch(s))}


def _resolve(tree: Tree, names: Iterable[str]) -> set[str]:
    return {f"{MU}/{n}.py" for n in names if n != "__init__" and tree.exists(f"{MU}/{n}.py")}


def closure(
    tree: Tree, roots: Iterable[str], flat: bool = False, by_path_force: Iterable[str] = ()
) -> set[str]:
    """The module_utils/slipway files the roots load, transitively (the roots are not included unless
    they are loaded by another file). flat: resolve ``import X`` too (the agent side)."""
    forced = set(by_path_force)
    seen: set[str] = set()
    todo = list(roots)
    visited: set[str] = set()
    while todo:
        path = todo.pop()
        if path in visited:
            continue
        visited.add(path)
        source = tree.read(path)
        found = _resolve(tree, imported_names(path, source, flat=flat))
        found |= _resolve(tree, by_path_names(source, force=path in forced))
        for dep in found - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def code_text(path: str, source: str) -> str:
    """The source without comments and docstrings (Python), or without full-line # comments (other)."""
    tree = (
        _parse(source)
        if path.endswith(".py") or source.startswith("#!") and "python" in source[:80]
        else None
    )
    if tree is None:
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                drop.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    kept = "".join("\n" if i + 1 in drop else line for i, line in enumerate(lines))
    try:
        tokens = [
            t for t in tokenize.generate_tokens(io.StringIO(kept).readline) if t.type != tokenize.COMMENT
        ]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return kept


# ---------------------------------------------------------------- YAML: playbooks, roles, tasks


class _Loader(yaml.SafeLoader):
    """SafeLoader that accepts Ansible's tags (!vault, !unsafe) as plain values."""


_Loader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None,
)


def load_yaml(source: str | None) -> object:
    if source is None:
        return None
    try:
        return yaml.load(source, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return None


def walk_tasks(node: object) -> Iterator[dict]:
    """Every task (and play) mapping in a playbook or task file, blocks and task lists included."""
    if isinstance(node, list):
        for item in node:
            yield from walk_tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in TASK_LISTS:
            if key in node:
                yield from walk_tasks(node[key])


def _action(task: dict, names: Iterable[str]) -> object:
    for name in names:
        for key in (name, *(p + name for p in PREFIXES)):
            if key in task:
                return task[key]
    return None


def task_modules(tree: Tree, tasks: Iterable[dict]) -> set[str]:
    """library/<key>.py for every task key naming a custom module (plain or ansible.builtin-less)."""
    found = set()
    for task in tasks:
        for key in task:
            name = str(key)
            for prefix in PREFIXES:
                name = name.removeprefix(prefix)
            if tree.exists(f"library/{name}.py"):
                found.add(f"library/{name}.py")
    return found


def _file_arg(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("file")
    return value if isinstance(value, str) else None


def filter_files(tree: Tree, texts: Iterable[str]) -> tuple[set[str], set[str]]:
    """(filter_plugins files defining the slipway_* filters the texts use, filter names not found)."""
    wanted = {m for text in texts for m in FILTER_RE.findall(text)}
    defined: dict[str, str] = {}
    for path in tree.under("filter_plugins/"):
        parsed = _parse(tree.read(path)) if path.endswith(".py") else None
        for node in ast.walk(parsed) if parsed else ():
            if isinstance(node, ast.Dict):
                for key in node.keys:
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        defined.setdefault(key.value, path)
    return {defined[n] for n in wanted if n in defined}, {n for n in wanted if n not in defined}


@dataclass
class Walk:
    files: set[str] = field(default_factory=set)
    yaml_files: set[str] = field(default_factory=set)
    roles: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _role_files(tree: Tree, role: str, walk: Walk) -> None:
    base = f"roles/{role}"
    if role in walk.roles:
        return
    walk.roles.append(role)
    if not any(tree.exists(f"{base}/{d}/main.yml") for d in ("tasks", "defaults", "meta")):
        walk.notes.append(f"role {role} not found")
        return
    for extra in ("defaults/main.yml", "vars/main.yml", "handlers/main.yml"):
        if tree.exists(f"{base}/{extra}"):
            walk.files.add(f"{base}/{extra}")
            walk.yaml_files.add(f"{base}/{extra}")
    meta = load_yaml(tree.read(f"{base}/meta/main.yml"))
    for dep in (meta or {}).get("dependencies") or [] if isinstance(meta, dict) else []:
        name = dep.get("role") or dep.get("name") if isinstance(dep, dict) else dep
        if isinstance(name, str):
            _role_files(tree, name, walk)
    todo = [f"{base}/tasks/main.yml"] if tree.exists(f"{base}/tasks/main.yml") else []
    if tree.exists(f"{base}/handlers/main.yml"):
        todo.append(f"{base}/handlers/main.yml")
    while todo:
        path = todo.pop()
        if path in walk.yaml_files and path.startswith(f"{base}/tasks/"):
            continue
        if not tree.exists(path):
            walk.notes.append(f"{path} (included) does not exist")
            continue
        walk.files.add(path)
        walk.yaml_files.add(path)
        data = load_yaml(tree.read(path))
        tasks = list(walk_tasks(data))
        for task in tasks:
            target = _file_arg(_action(task, ("include_tasks", "import_tasks")))
            if target is not None:
                if "{{" in target or "{%" in target:
                    every = [p for p in tree.under(f"{base}/tasks/") if p.endswith((".yml", ".yaml"))]
                    walk.notes.append(f"{path}: templated include {target!r} -> every task file of {role}")
                    todo.extend(p for p in every if p not in walk.yaml_files)
                else:
                    todo.append(f"{base}/tasks/{target}")
            _task_roles(tree, task, walk)
            _task_sources(tree, base, task, path, walk)


def _task_roles(tree: Tree, task: dict, walk: Walk) -> None:
    target = _action(task, ("include_role", "import_role"))
    if isinstance(target, dict) and isinstance(target.get("name"), str):
        _role_files(tree, target["name"], walk)


def _task_sources(tree: Tree, base: str, task: dict, path: str, walk: Walk) -> None:
    sources = []
    for value in task.values():
        if isinstance(value, dict) and isinstance(value.get("src"), str):
            sources.append(value["src"])
    sources.extend(m[1] for m in LOOKUP_RE.findall(json.dumps(task)))
    for src in sources:
        if "{{" in src or src.startswith("/"):
            continue
        for sub in ("files", "templates"):
            if tree.exists(f"{base}/{sub}/{src}"):
                walk.files.add(f"{base}/{sub}/{src}")
                break


def walk_playbook(tree: Tree, path: str, walk: Walk | None = None) -> Walk:
    """A playbook, the playbooks it imports and the roles and task files its plays reach."""
    walk = walk or Walk()
    if path in walk.yaml_files:
        return walk
    if not tree.exists(path):
        walk.notes.append(f"{path} does not exist at this revision")
        return walk
    walk.files.add(path)
    walk.yaml_files.add(path)
    plays = load_yaml(tree.read(path))
    here = PurePosixPath(path).parent
    for task in walk_tasks(plays):
        imported = _action(task, ("import_playbook",))
        if isinstance(imported, str) and "{{" not in imported:
            walk_playbook(tree, str(here / imported), walk)
        for role in task.get("roles") or [] if "hosts" in task else []:
            name = role.get("role") or role.get("name") if isinstance(role, dict) else role
            if isinstance(name, str):
                _role_files(tree, name, walk)
        _task_roles(tree, task, walk)
        target = _file_arg(_action(task, ("include_tasks", "import_tasks")))
        if target and "{{" not in target and tree.exists(str(here / target)):
            walk.files.add(str(here / target))
            walk.yaml_files.add(str(here / target))
    return walk


# ---------------------------------------------------------------- the three paths


@dataclass
class PathFigure:
    name: str
    files: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.files)


def _yaml_tasks(tree: Tree, paths: Iterable[str]) -> list[dict]:
    return [t for p in paths for t in walk_tasks(load_yaml(tree.read(p)))]


def issue_path(tree: Tree) -> PathFigure:
    notes = []
    walk = walk_playbook(tree, ISSUE_START)
    files = set(walk.files)
    for name in ISSUE_MODULES:
        if not tree.exists(f"library/{name}.py"):
            notes.append(f"library/{name}.py does not exist at this revision")
    called = task_modules(tree, _yaml_tasks(tree, walk.yaml_files))
    modules = {m for m in called if PurePosixPath(m).stem in ISSUE_MODULES}
    for name in ISSUE_MODULES:
        if f"library/{name}.py" not in called and tree.exists(f"library/{name}.py"):
            notes.append(f"{ISSUE_START} calls no {name}")
    filters, missing = filter_files(tree, (tree.read(p) or "" for p in walk.yaml_files))
    notes.extend(f"filter {n} defined in no filter_plugins file" for n in sorted(missing))
    files |= modules | filters
    core = closure(tree, modules | filters)
    files |= core
    if f"{MU}/workspace.py" in core:
        notes.append(f"{MU}/workspace.py is on the path: the agent side ({AGENT_RUN}) is added")
        if tree.exists(AGENT_RUN):
            files.add(AGENT_RUN)
            files |= closure(tree, [AGENT_RUN], flat=True, by_path_force=[AGENT_RUN])
        else:
            notes.append(f"{AGENT_RUN} does not exist at this revision")
    notes.extend(walk.notes)
    return PathFigure("issue", sorted(files), notes)


def tag_path(tree: Tree) -> PathFigure:
    files: set[str] = set()
    walk = Walk()
    for start in TAG_START:
        if not tree.exists(start):
            walk.notes.append(f"{start} does not exist at this revision")
        elif start.endswith(".yml"):
            walk_playbook(tree, start, walk)
        else:
            files.add(start)
    files |= walk.files
    modules = task_modules(tree, _yaml_tasks(tree, walk.yaml_files))
    filters, _missing = filter_files(tree, (tree.read(p) or "" for p in walk.yaml_files))
    files |= modules | filters | closure(tree, modules | filters)
    notes = [f"roles: {', '.join(walk.roles)}", *walk.notes]
    return PathFigure("tag", sorted(files), notes)


def token_variables(tree: Tree, start: str = TOKEN_VAR) -> set[str]:
    """The start variable and every role default/var defined from one of the set, to a fixed point."""
    found = {start}
    definitions: dict[str, str] = {}
    for path in tree.under("roles/"):
        parts = path.split("/")
        if len(parts) >= 4 and parts[2] in ("defaults", "vars") and path.endswith((".yml", ".yaml")):
            data = load_yaml(tree.read(path))
            if isinstance(data, dict):
                for key, value in data.items():
                    definitions[str(key)] = json.dumps(value, default=str)
    changed = True
    while changed:
        changed = False
        for key, value in definitions.items():
            if key not in found and any(re.search(rf"\b{re.escape(v)}\b", value) for v in found):
                found.add(key)
                changed = True
    return found


def _yaml_code(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))


def token_path(tree: Tree) -> PathFigure:
    files: set[str] = set()
    notes: list[str] = []
    for path in tree.under("inventories/"):
        text = tree.read(path)
        if text and not path.endswith(".md") and TOKEN_VAR in _yaml_code(text):
            files.add(path)
    variables = token_variables(tree)
    notes.append(f"variables: {', '.join(sorted(variables))}")
    var_re = re.compile(r"\b(" + "|".join(map(re.escape, sorted(variables))) + r")\b")
    candidates = [
        p for p in tree.under("roles/") if len(p.split("/")) >= 4 and p.split("/")[2] in ROLE_VAR_DIRS
    ]
    candidates += [
        p for p in tree.paths if p.endswith(".yml") and (p.startswith("playbooks/") or "/" not in p)
    ]
    for path in candidates:
        text = tree.read(path)
        if text and var_re.search(_yaml_code(text)):
            files.add(path)
    for path in tree.under(MU + "/"):
        parsed = _parse(tree.read(path)) if path.endswith(".py") else None
        if parsed and any(
            isinstance(n, ast.FunctionDef) and n.name == "load_config" for n in ast.walk(parsed)
        ):
            files.add(path)
            notes.append(f"load_config: {path}")
    hits: dict[str, list[str]] = {}
    for path in tree.paths:
        in_role_files = (
            path.startswith("roles/") and len(path.split("/")) >= 4 and path.split("/")[2] == "files"
        )
        if not (path.startswith(TOKEN_CODE_DIRS) or in_role_files):
            continue
        text = tree.read(path)
        if not text:
            continue
        code = code_text(path, text)
        matched = [name for name, pattern in TOKEN_CODE_PATTERNS.items() if pattern.search(code)]
        if matched:
            files.add(path)
            hits[path] = matched
    notes.extend(f"{p}: {', '.join(m)}" for p, m in sorted(hits.items()))
    return PathFigure("token", sorted(files), notes)


def figures(tree: Tree) -> dict:
    paths = [issue_path(tree), tag_path(tree), token_path(tree)]
    lock = sorted(closure(tree, [LOCK_MODULE])) if tree.exists(LOCK_MODULE) else []
    return {
        "paths": {p.name: {"count": p.count, "files": p.files, "notes": p.notes} for p in paths},
        "module_utils_slipway_files": len(tree.under(MU + "/")),
        "slipway_lock_closure": {"count": len(lock), "files": lock},
        "token_patterns": {name: pattern.pattern for name, pattern in TOKEN_CODE_PATTERNS.items()},
    }


def render(result: dict, header: str, out: Callable[[str], object] = print) -> None:
    out(header)
    for name, path in result["paths"].items():
        out(f"{name}: {path['count']} files")
        for file in path["files"]:
            out(f"    {file}")
        for note in path["notes"]:
            out(f"  note: {note}")
        if name == "token":
            for pname, pattern in result["token_patterns"].items():
                out(f"  pattern {pname}: {pattern}")
    out(f"module_utils/slipway: {result['module_utils_slipway_files']} files")
    lock = result["slipway_lock_closure"]
    out(f"{LOCK_MODULE} module_utils closure: {lock['count']} files")
    for file in lock["files"]:
        out(f"    {file}")
    out("summary:")
    for name, path in result["paths"].items():
        out(f"  {name}: {path['count']} files")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/paths", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rev", nargs="?", default="HEAD", help="git revision (default HEAD)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    tree = GitTree(args.rev)
    result = figures(tree)
    if args.json:
        json.dump({"rev": args.rev, "commit": tree.commit, **result}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        render(result, f"revision {args.rev} ({tree.commit[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
