"""The agent protocol: the one definition of what the watcher may ask of ``agent-run`` (stdlib only).

The watcher (``workspace.AgentWorkspace``) builds every request with :func:`request`; ``agent-run``
(root, through one sudo rule) reads it back with :func:`parse` and the Claude flags with
:func:`claude_flags`; the contained steps (``agent_steps.py``) read their options with
:func:`step_options`. The agent's settings (``/etc/slipway/agent.json``, root-owned, no secrets) are
read with :func:`load_settings` by agent-run and by the watcher alike: in agent mode they are the one
source of the verify command, its timeout and the dev-server port.

Installed root-owned beside agent-run (``/usr/local/lib/slipway``) and imported there as a plain
module; the watcher imports it as ``ansible.module_utils.slipway.agent_protocol``.

  check-credentials                      exit 0 when the agent's Claude can sign in
  sync --base B [--branch X]             stdin: bundle with refs/heads/B; resets the clone
  claude --run-id ID -p ...              stdin: the prompt; runs Claude Code (flags allow-listed)
  usage --run-id ID                      stdout: the gateway's measured usage of that run
  finish --branch X --message M          commits what Claude left uncommitted; JSON on stdout
  bundle --branch X --base-commit C      stdout: a git bundle of C..X
  verify --branch X --commit C           stdin: bundle of X; verify a fresh checkout of C
  free-port                              stops every agent unit still running
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

SETTINGS_PATH = "/etc/slipway/agent.json"
RUNNER_PATH = "/usr/local/libexec/slipway/agent-run"

BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,100}$")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
RUN_ID = re.compile(r"^[0-9a-f]{16,32}$")
TOOL_LIST = re.compile(r"^[A-Za-z0-9_(),:* .-]{1,500}$")
MODEL = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
MESSAGE_MAX = 200
# Tools that cannot run or write anything (no Bash at all: ``git grep -O``, ``git log --output=`` ...).
# A Claude run without --dangerously-skip-permissions (triage) gets only these, with the clone read-only.
READ_ONLY_TOOLS = ("Read", "Grep", "Glob", "LS")
SKIP_PERMISSIONS = "--dangerously-skip-permissions"


class ProtocolError(ValueError):
    """A request the protocol does not allow (bad command, option or value)."""


def _matches(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda value: bool(pattern.match(value))


def _message(value: str) -> bool:
    return 0 < len(value) <= MESSAGE_MAX and "\0" not in value


# command -> {option: (required, check)}; options are always ``--name value`` pairs.
COMMANDS: dict[str, dict[str, tuple[bool, Callable[[str], bool]]]] = {
    "check-credentials": {},
    "sync": {"--base": (True, _matches(BRANCH)), "--branch": (False, _matches(BRANCH))},
    "usage": {"--run-id": (True, _matches(RUN_ID))},
    "finish": {"--branch": (True, _matches(BRANCH)), "--message": (True, _message)},
    "bundle": {"--branch": (True, _matches(BRANCH)), "--base-commit": (True, _matches(COMMIT))},
    "verify": {"--branch": (True, _matches(BRANCH)), "--commit": (True, _matches(COMMIT))},
    "free-port": {},
}
# The contained steps agent_steps.py runs, with the options agent-run passes on (the same as above).
STEPS = ("sync", "finish", "bundle", "verify", "claude")

# Claude Code flags a caller may pass (``claude``): switches, and flags with a checked value.
CLAUDE_SWITCHES = ("-p", "--verbose", SKIP_PERMISSIONS)
CLAUDE_VALUES: dict[str, Callable[[str], bool]] = {
    "--output-format": lambda v: v == "stream-json",
    "--max-turns": lambda v: v.isdigit() and 0 < int(v) <= 500,
    "--allowedTools": _matches(TOOL_LIST),
    "--tools": _matches(TOOL_LIST),
    "--model": _matches(MODEL),
    "--run-id": _matches(RUN_ID),
}


def _check(command: str, options: dict[str, str]) -> dict[str, str]:
    spec = COMMANDS.get(command)
    if spec is None:
        raise ProtocolError(f"unknown command {command!r}")
    for name, value in options.items():
        if name not in spec:
            raise ProtocolError(f"{command}: unexpected option {name}")
        if not isinstance(value, str) or not spec[name][1](value):
            raise ProtocolError(f"{command}: bad value for {name}: {value!r}")
    missing = [name for name, (required, _check) in spec.items() if required and name not in options]
    if missing:
        raise ProtocolError(f"{command}: missing {', '.join(missing)}")
    return options


def request(command: str, **options: str | None) -> list[str]:
    """The arguments for ``agent-run COMMAND``: options by name (``base_commit`` -> ``--base-commit``);
    None leaves an optional one out. Raises ProtocolError for anything agent-run would refuse."""
    given = {"--" + name.replace("_", "-"): value for name, value in options.items() if value is not None}
    _check(command, given)
    return [command, *(part for pair in given.items() for part in pair)]


def parse(argv: list[str]) -> tuple[str, dict[str, str]]:
    """``(command, {option: value})`` from agent-run's arguments (not ``claude``: see claude_flags)."""
    if not argv:
        raise ProtocolError("no command")
    return argv[0], step_options(argv[0], argv[1:])


def step_options(command: str, args: list[str]) -> dict[str, str]:
    """The checked ``--name value`` options of one command."""
    options: dict[str, str] = {}
    if len(args) % 2:
        raise ProtocolError(f"{command}: options come in --name value pairs")
    for name, value in zip(args[::2], args[1::2], strict=True):
        if name in options:
            raise ProtocolError(f"{command}: {name} given twice")
        options[name] = value
    return _check(command, options)


def claude_flags(argv: list[str]) -> tuple[list[str], str, list[str] | None, bool]:
    """Check Claude's flags against the allow-list: ``(flags, run id, tools or None, read-only)``.

    Without --dangerously-skip-permissions the run is a triage: only READ_ONLY_TOOLS exist (and are
    the allowed tools), whatever the caller asked for."""
    flags: list[str] = []
    run_id, tools, allowed, i = None, None, None, 0
    skip_permissions = False  # from the switch itself, never from a value that looks like it
    while i < len(argv):
        flag = argv[i]
        if flag in CLAUDE_SWITCHES:
            skip_permissions = skip_permissions or flag == SKIP_PERMISSIONS
            flags.append(flag)
            i += 1
            continue
        value = argv[i + 1] if i + 1 < len(argv) else ""
        check = CLAUDE_VALUES.get(flag)
        if check is None or not check(value) or value.startswith("-"):
            raise ProtocolError(f"flag not allowed: {flag} {value!r}")
        if flag == "--run-id":
            run_id = value
        elif flag == "--tools":
            tools = [t.strip() for t in value.split(",") if t.strip()]
        elif flag == "--allowedTools":
            allowed = value
        else:
            flags += [flag, value]
        i += 2
    if run_id is None:
        raise ProtocolError("--run-id is required")
    read_only = not skip_permissions
    if read_only:
        asked = tools if tools is not None else list(READ_ONLY_TOOLS)
        if not asked or any(t not in READ_ONLY_TOOLS for t in asked):
            raise ProtocolError(
                "a run without --dangerously-skip-permissions may only have the tools "
                + ", ".join(READ_ONLY_TOOLS)
            )
        flags += ["--tools", ",".join(asked), "--allowedTools", ",".join(asked)]
    else:
        if allowed is not None:
            flags += ["--allowedTools", allowed]
        if tools is not None:
            flags += ["--tools", ",".join(tools)]
    return flags, run_id, tools, read_only


# -- the agent's settings --------------------------------------------------------------------------

DEFAULT_VERIFY_TIMEOUT = 900
DEFAULT_DEV_PORT = 3100


def load_settings(path: str | Path = SETTINGS_PATH) -> dict[str, Any]:
    """agent.json, checked: raises ProtocolError naming the file when it is missing or malformed."""
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProtocolError(f"cannot read the agent settings {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ProtocolError(f"the agent settings {path} are not valid JSON") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("user"), str):
        raise ProtocolError(f"the agent settings {path} must be a JSON object with a 'user'")
    verify = settings.get("verifyCommand")
    if not isinstance(verify, list) or not verify or not all(isinstance(part, str) for part in verify):
        raise ProtocolError(f"the agent settings {path}: 'verifyCommand' must be a non-empty argument list")
    return settings


def verify_command(settings: dict[str, Any]) -> list[str]:
    """The verify command (``verifySetup``, when set, runs before it)."""
    return list(settings["verifyCommand"])


def verify_timeout(settings: dict[str, Any]) -> int:
    return int(settings.get("verifyTimeoutSeconds", DEFAULT_VERIFY_TIMEOUT))


def dev_port(settings: dict[str, Any]) -> int:
    return int(settings.get("devPort", DEFAULT_DEV_PORT))
