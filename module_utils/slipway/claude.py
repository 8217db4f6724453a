"""Run the Claude Code CLI headless and read what it did (stdlib only).

Used by the watcher's Ansible modules. The contract with the CLI (pinned
2.1.197) is described in the runbook's reference ``claude-code-cli.md``:

* the prompt goes on **stdin** (issue text never reaches the process list);
* ``--output-format stream-json --verbose`` prints one JSON object a line, the
  last being ``{"type": "result", ...}``, parsed here by key name;
* success is exit 0 **and** ``subtype == "success"`` **and** ``is_error`` false;
* the process runs in its own session; a wall-clock timeout kills everything in
  that session (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import fnmatch
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from ansible.module_utils.slipway.proc import KILL_GRACE_S, descendants, kill_session

# Environment variables a Claude run may see; nothing else is passed through.
# Entries ending in "*" are prefixes (e.g. "LC_*").
DEFAULT_ENV_ALLOW: tuple[str, ...] = (
    "HOME",
    "PATH",
    "LANG",
    "LC_*",
    "TZ",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_MODEL",
    "CLAUDE_CODE_MAX_RETRIES",
    "API_TIMEOUT_MS",
    "NODE_EXTRA_CA_CERTS",
)
# Always set: no telemetry, no update checks, no DNS beyond the Messages API.
FORCED_ENV: Mapping[str, str] = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}

REASON_MAX_CHARS = 300
STDERR_MARK = "[stderr] "
RUNNER_MARK = "[slipway] "


@dataclass
class ClaudeResult:
    """What one CLI run came to. ``reason`` is one line: "" when ok."""

    ok: bool
    reason: str
    text: str
    exit_code: int | None
    subtype: str | None
    is_error: bool | None
    cost_usd: float
    num_turns: int
    duration_ms: int
    timed_out: bool
    permission_denials: list[Any] = field(default_factory=list)
    session_id: str | None = None
    log_path: str = ""
    cost_source: str = "cli"  # "gateway": measured by the model gateway, not taken from the CLI's output
    cli_cost_usd: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- environment and argv ---------------------------------------------------------
def _allowed(name: str, allow: Iterable[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(name, pattern) if pattern.endswith("*") else name == pattern for pattern in allow
    )


def build_env(
    base: Mapping[str, str], allow: Iterable[str] = DEFAULT_ENV_ALLOW, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """An explicit environment: ``base`` filtered by ``allow``, then ``extra``, then the forced switches."""
    allow = tuple(allow)
    env = {name: value for name, value in base.items() if _allowed(name, allow)}
    env.update(extra or {})
    env.update(FORCED_ENV)
    return env


def build_argv(
    exe: str,
    *,
    max_turns: int,
    allowed_tools: list[str] | None = None,
    skip_permissions: bool = False,
    model: str | None = None,
    run_as: list[str] | None = None,
    tools: list[str] | None = None,
    extra_args: list[str] | None = None,
) -> list[str]:
    """The command line for a headless run. The prompt is NOT in it: it is fed on stdin."""
    if max_turns < 1:
        raise ValueError(f"max_turns must be at least 1, got {max_turns}")
    argv = [*(run_as or []), exe, "-p", "--output-format", "stream-json", "--verbose"]
    argv += ["--max-turns", str(max_turns)]
    if allowed_tools:
        # One comma-separated value: the option is variadic, so a following positional would be eaten.
        argv += ["--allowedTools", ",".join(allowed_tools)]
    if tools is not None:
        # The only tools that exist for the run (the allow-list above only skips their prompts).
        argv += ["--tools", ",".join(tools)]
    if skip_permissions:
        argv.append("--dangerously-skip-permissions")
    if model:
        argv += ["--model", model]
    return argv + list(extra_args or [])


# -- reading the result -------------------------------------------------------------
def parse_result_line(line: str) -> dict[str, Any] | None:
    """The result object if ``line`` is a stream-json ``{"type": "result"}`` line, else None."""
    line = line.strip()
    if not line.startswith("{") or '"result"' not in line:
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if isinstance(obj, dict) and obj.get("type") == "result":
        return obj
    return None


def find_result(lines: Iterable[str]) -> dict[str, Any] | None:
    """The last result object among stream-json lines."""
    found = None
    for line in lines:
        obj = parse_result_line(line)
        if obj is not None:
            found = obj
    return found


def one_line(text: str, limit: int = REASON_MAX_CHARS) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _api_error_reason(obj: Mapping[str, Any]) -> str:
    message = str(obj.get("result") or "; ".join(map(str, obj.get("errors") or [])) or "unknown error")
    status = obj.get("api_error_status")
    for prefix in (f"API Error: {status} ", "API Error: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    return f"API error {status}: {message}" if status else f"API error: {message}"


def failure_reason(
    obj: Mapping[str, Any] | None,
    exit_code: int | None,
    *,
    timed_out: bool,
    timeout_s: float,
    max_turns: int,
    stderr_tail: str = "",
) -> str:
    """One line saying why a run failed ("" when it succeeded)."""
    if timed_out:
        return f"timed out after {timeout_s:g}s"
    if obj is None:
        last = stderr_tail.strip().splitlines()[-1:] if stderr_tail.strip() else []
        suffix = f": {last[0]}" if last else ""
        return one_line(f"exited {exit_code} without a result{suffix}")
    subtype = obj.get("subtype")
    if subtype == "error_max_turns":
        return f"max turns ({max_turns}) reached"
    if subtype == "success" and obj.get("is_error") is False and exit_code == 0:
        return ""
    if subtype == "success" and obj.get("is_error"):
        text = str(obj.get("result") or "")
        if obj.get("api_error_status") or text.startswith("API Error"):
            return one_line(_api_error_reason(obj))
        return one_line(f"error: {text or 'is_error without a message'}")
    if subtype != "success":
        errors = "; ".join(map(str, obj.get("errors") or [])) or str(obj.get("result") or "")
        return one_line(f"{subtype}: {errors}" if errors else str(subtype))
    return f"exited {exit_code}"


def result_from(
    obj: Mapping[str, Any] | None,
    exit_code: int | None,
    *,
    timed_out: bool = False,
    timeout_s: float = 0,
    max_turns: int = 0,
    stderr_tail: str = "",
    wall_ms: int = 0,
    log_path: str = "",
) -> ClaudeResult:
    """Build a ClaudeResult from the parsed result object (or None) and how the process ended."""
    reason = failure_reason(
        obj, exit_code, timed_out=timed_out, timeout_s=timeout_s, max_turns=max_turns, stderr_tail=stderr_tail
    )
    obj = obj or {}
    is_error = obj.get("is_error")
    return ClaudeResult(
        ok=reason == "",
        reason=reason,
        text=str(obj.get("result") or ""),
        exit_code=exit_code,
        subtype=obj.get("subtype"),
        is_error=bool(is_error) if is_error is not None else None,
        cost_usd=float(obj.get("total_cost_usd") or 0.0),
        num_turns=int(obj.get("num_turns") or 0),
        duration_ms=int(obj.get("duration_ms") or wall_ms),
        timed_out=timed_out,
        permission_denials=list(obj.get("permission_denials") or []),
        session_id=obj.get("session_id"),
        log_path=log_path,
    )


# -- process handling ---------------------------------------------------------------
# A tiny supervisor run as ``python -c _REAPER_SOURCE GRACE -- ARGV...``. It makes itself a
# child subreaper (prctl PR_SET_CHILD_SUBREAPER), so every process the CLI starts stays in its
# subtree even after a double fork or setsid (the CLI's Bash tool detaches its shells into new
# sessions, out of reach of a process-group kill). When the CLI exits, or the supervisor gets
# SIGTERM, it terminates the whole subtree (SIGTERM, grace, SIGKILL), reaps it and exits with
# the CLI's status (128+N for a signal).
_REAPER_SOURCE = """
import ctypes, os, signal, subprocess, sys, time
grace = float(sys.argv[1]); argv = sys.argv[3:]
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
def tree():
    kids = {}
    for e in os.listdir('/proc'):
        if e.isdigit():
            try:
                f = open('/proc/%s/stat' % e).read().rsplit(')', 1)[1].split()
            except (OSError, IndexError):
                continue
            if f[0] != 'Z':
                kids.setdefault(int(f[1]), []).append(int(e))
    out, todo = [], [os.getpid()]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k); todo.append(k)
    return out
def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return
def end_all():
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        pids = tree()
        for p in pids:
            try: os.kill(p, sig)
            except OSError: pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            reap(); pids = tree(); time.sleep(0.05)
        if not pids: break
    reap()
def on_term(signum, frame):
    end_all(); os._exit(128 + signum)
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)
try:
    child = subprocess.Popen(argv)
except OSError as exc:
    sys.stderr.write('cannot run %s: %s' % (argv[0], exc.strerror or exc) + chr(10)); sys.exit(127)
code = child.wait()
end_all()
sys.exit(code if code >= 0 else 128 - code)
"""


def supervised(argv: list[str], grace_s: float) -> list[str]:
    """``argv`` wrapped in the subreaper supervisor (same Python as this process)."""
    return [sys.executable, "-c", _REAPER_SOURCE, f"{grace_s:g}", "--", *argv]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _end_supervised(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the supervisor (it ends its subtree); if it does not exit in time, SIGKILL everything."""
    snapshot = descendants(proc.pid)
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=grace_s + 3.0)
        return
    except subprocess.TimeoutExpired:
        pass
    for pid in [proc.pid, *snapshot, *descendants(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    proc.wait()


class _LogSink:
    """Thread-safe line appender for the run log; keeps the stdout result and a stderr tail."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self._lock = threading.Lock()
        self.result: dict[str, Any] | None = None
        self.stderr_tail: deque[str] = deque(maxlen=20)

    def write(self, line: str) -> None:
        with self._lock:
            self._handle.write(line if line.endswith("\n") else line + "\n")
            self._handle.flush()

    def pump(self, stream: IO[bytes], is_stderr: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            if is_stderr:
                self.stderr_tail.append(line.rstrip("\n"))
                self.write(STDERR_MARK + line)
                continue
            obj = parse_result_line(line)
            if obj is not None:
                self.result = obj
            self.write(line)
        stream.close()


def _feed_stdin(stream: IO[bytes], prompt: str) -> None:
    try:
        stream.write(prompt.encode("utf-8"))
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            stream.close()
        except OSError:
            pass


def run_claude(
    exe: str,
    prompt: str,
    cwd: str,
    log_path: str,
    *,
    max_turns: int,
    timeout_s: float,
    env: Mapping[str, str],
    allowed_tools: list[str] | None = None,
    skip_permissions: bool = False,
    model: str | None = None,
    run_as: list[str] | None = None,
    tools: list[str] | None = None,
    extra_args: list[str] | None = None,
    kill_grace_s: float = KILL_GRACE_S,
) -> ClaudeResult:
    """Run the CLI once on ``prompt`` (stdin) in ``cwd``; stream its output into ``log_path``.

    ``env`` is used as given (build it with :func:`build_env`). The run gets its own
    session; on timeout, and after it exits, nothing started by it is left running.
    """
    argv = build_argv(
        exe,
        max_turns=max_turns,
        allowed_tools=allowed_tools,
        skip_permissions=skip_permissions,
        model=model,
        run_as=run_as,
        tools=tools,
        extra_args=extra_args,
    )
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    started = time.monotonic()
    with open(log_path, "a", encoding="utf-8") as handle:
        sink = _LogSink(handle)
        sink.write(f"{RUNNER_MARK}start {_now_iso()} cwd={cwd} argv={json.dumps(argv)}")
        exit_code, timed_out = _run_process(argv, prompt, cwd, dict(env), sink, timeout_s, kill_grace_s)
        wall_ms = int((time.monotonic() - started) * 1000)
        sink.write(f"{RUNNER_MARK}end {_now_iso()} exit={exit_code} timed_out={timed_out} wall_ms={wall_ms}")
    return result_from(
        sink.result,
        exit_code,
        timed_out=timed_out,
        timeout_s=timeout_s,
        max_turns=max_turns,
        stderr_tail="\n".join(sink.stderr_tail),
        wall_ms=wall_ms,
        log_path=log_path,
    )


def _run_process(
    argv: list[str],
    prompt: str,
    cwd: str,
    env: dict[str, str],
    sink: _LogSink,
    timeout_s: float,
    kill_grace_s: float,
) -> tuple[int | None, bool]:
    """Start, feed, pump and wait; returns (exit code, timed out)."""
    try:
        proc = subprocess.Popen(
            supervised(argv, kill_grace_s),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        sink.stderr_tail.append(f"cannot start {argv[0]}: {exc}")
        sink.write(f"{RUNNER_MARK}cannot start {argv[0]}: {exc}")
        return None, False
    assert proc.stdin and proc.stdout and proc.stderr
    threads = [
        threading.Thread(target=_feed_stdin, args=(proc.stdin, prompt), daemon=True),
        threading.Thread(target=sink.pump, args=(proc.stdout, False), daemon=True),
        threading.Thread(target=sink.pump, args=(proc.stderr, True), daemon=True),
    ]
    for thread in threads:
        thread.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        sink.write(f"{RUNNER_MARK}timeout after {timeout_s:g}s: ending run {proc.pid} and all it started")
        _end_supervised(proc, kill_grace_s)
    # Belt and braces: nothing may be left in the run's session either.
    kill_session(proc.pid, grace_s=1.0)
    for thread in threads:
        thread.join(timeout=5.0)
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode, timed_out
