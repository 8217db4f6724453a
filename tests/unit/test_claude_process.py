"""Process handling of run_claude, with a stand-in executable instead of the real CLI (fast)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

from ansible.module_utils.slipway.claude import STDERR_MARK, run_claude
from ansible.module_utils.slipway.proc import descendants, session_members

FAKE_CLI = textwrap.dedent(
    """\
    #!{python}
    # Stands in for `claude -p --output-format stream-json`: echoes argv and stdin, then
    # behaves as told by the FAKE_MODE variable.
    import json, os, subprocess, sys, time
    prompt = sys.stdin.read()
    mode = os.environ.get("FAKE_MODE", "ok")
    print(json.dumps({{"type": "system", "subtype": "init", "argv": sys.argv[1:]}}), flush=True)
    print("warming up", file=sys.stderr, flush=True)
    if mode == "ok":
        print(json.dumps({{"type": "result", "subtype": "success", "is_error": False, "num_turns": 1,
                          "result": "echo: " + prompt, "total_cost_usd": 0.01, "session_id": "s1"}}))
    elif mode == "spawn-and-hang":
        # a detached grandchild in its own session, like the CLI's Bash tool does
        child = subprocess.Popen(["sleep", "311"], start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        open(os.environ["FAKE_PIDFILE"], "w").write(str(child.pid))
        time.sleep(300)
    elif mode == "ignore-term":
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open(os.environ["FAKE_PIDFILE"], "w").write(str(os.getpid()))
        time.sleep(300)
    elif mode == "crash":
        print("fatal: something broke", file=sys.stderr)
        sys.exit(3)
    """
)


def make_fake(tmp_path: Path) -> str:
    exe = tmp_path / "fake-claude"
    exe.write_text(FAKE_CLI.format(python=sys.executable))
    exe.chmod(0o755)
    return str(exe)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def env_for(tmp_path: Path, mode: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "FAKE_MODE": mode,
        "FAKE_PIDFILE": str(tmp_path / "pid"),
    }


def test_the_prompt_is_fed_on_stdin_and_the_result_parsed(tmp_path):
    log = tmp_path / "logs" / "run.log"
    result = run_claude(
        make_fake(tmp_path), "fix issue #7", str(tmp_path), str(log),
        max_turns=4, timeout_s=30, env=env_for(tmp_path, "ok"),
    )  # fmt: skip

    assert result.ok, result.reason
    assert result.text == "echo: fix issue #7"
    assert result.cost_usd == 0.01
    lines = log.read_text().splitlines()
    init = json.loads(next(line for line in lines if line.startswith('{"type": "system"')))
    assert "fix issue #7" not in " ".join(init["argv"])
    assert init["argv"][-2:] == ["--max-turns", "4"]


def test_stderr_is_logged_with_a_mark(tmp_path):
    log = tmp_path / "run.log"
    run_claude(make_fake(tmp_path), "x", str(tmp_path), str(log), max_turns=1, timeout_s=30,
               env=env_for(tmp_path, "ok"))  # fmt: skip

    assert f"{STDERR_MARK}warming up" in log.read_text().splitlines()


def test_a_crash_without_a_result_reports_the_exit_and_stderr(tmp_path):
    result = run_claude(make_fake(tmp_path), "x", str(tmp_path), str(tmp_path / "run.log"),
                        max_turns=1, timeout_s=30, env=env_for(tmp_path, "crash"))  # fmt: skip

    assert not result.ok
    assert result.exit_code == 3
    assert result.reason == "exited 3 without a result: fatal: something broke"


def test_the_log_is_appended_to_not_truncated(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("earlier run\n")
    run_claude(make_fake(tmp_path), "x", str(tmp_path), str(log), max_turns=1, timeout_s=30,
               env=env_for(tmp_path, "ok"))  # fmt: skip

    assert log.read_text().startswith("earlier run\n")


def test_a_missing_executable_is_a_failed_result_not_an_exception(tmp_path):
    result = run_claude(str(tmp_path / "nope"), "x", str(tmp_path), str(tmp_path / "run.log"),
                        max_turns=1, timeout_s=10, env={"PATH": "/usr/bin:/bin"})  # fmt: skip

    assert not result.ok
    assert result.exit_code == 127
    assert (
        result.reason
        == f"exited 127 without a result: cannot run {tmp_path / 'nope'}: No such file or directory"
    )


def test_the_timeout_ends_a_detached_grandchild_too(tmp_path):
    started = time.monotonic()
    result = run_claude(make_fake(tmp_path), "x", str(tmp_path), str(tmp_path / "run.log"),
                        max_turns=1, timeout_s=2, env=env_for(tmp_path, "spawn-and-hang"),
                        kill_grace_s=1)  # fmt: skip
    elapsed = time.monotonic() - started

    assert result.timed_out
    assert result.reason == "timed out after 2s"
    assert result.exit_code == 143
    grandchild = int((tmp_path / "pid").read_text())
    assert not alive(grandchild)
    assert elapsed < 6
    assert "timeout after 2s" in (tmp_path / "run.log").read_text()


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(tmp_path):
    started = time.monotonic()
    result = run_claude(make_fake(tmp_path), "x", str(tmp_path), str(tmp_path / "run.log"),
                        max_turns=1, timeout_s=1, env=env_for(tmp_path, "ignore-term"),
                        kill_grace_s=1)  # fmt: skip
    elapsed = time.monotonic() - started

    assert result.timed_out
    assert not alive(int((tmp_path / "pid").read_text()))
    assert elapsed < 6


def test_descendants_and_session_members_see_this_process():
    assert os.getpid() in session_members(os.getsid(0))
    assert os.getpid() in descendants(os.getppid())
    assert descendants(os.getpid()) == [] or all(isinstance(pid, int) for pid in descendants(os.getpid()))
