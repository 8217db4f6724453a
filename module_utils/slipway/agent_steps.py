"""The agent's side of each agent-run step, run AS THE AGENT inside its contained unit (stdlib only).

``agent-run`` (root) starts ``python3 -I agent_steps.py STEP ...`` through ``agent_sandbox`` in a
transient systemd unit as the agent user; nothing here runs with more than the agent's rights. The
settings file is the root-owned agent.json (read-only to the agent); data travels on stdin/stdout.

  sync --base B [--branch X]                  stdin: bundle with refs/heads/B; reset the clone
  finish --branch X --message M               commit what Claude left; JSON on stdout
  bundle --branch X --base-commit C           stdout: a git bundle of C..X
  verify --branch X --commit C                stdin: bundle of X; fresh checkout of C, then verify
  claude ARGV...                              run Claude Code (argv checked by agent-run)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import agent_protocol as protocol  # noqa: E402 - installed beside this file, root-owned
import gitops  # noqa: E402 - installed beside this file, root-owned

VERIFY_DIR = ".slipway-verify"


def _git(settings: dict) -> gitops.Git:
    env = {
        "PATH": settings.get("path", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": settings["home"],
        "LANG": "C.UTF-8",
    }
    return gitops.Git(env=env)


def _stdin_to(path: Path, limit: int) -> None:
    data = sys.stdin.buffer.read(limit + 1)
    if len(data) > limit:
        raise SystemExit(f"agent-steps: input larger than {limit} bytes")
    path.write_bytes(data)


def canonical_git_config(clone: Path, origin: str | None) -> None:
    """Reset ``.git/config`` to what the watcher wrote (core settings and origin), drop hooks and any
    attributes or alternates the agent may have planted in ``.git``."""
    git_dir = clone / ".git"
    lines = [
        "[core]",
        "\trepositoryformatversion = 0",
        "\tfilemode = true",
        "\tbare = false",
        "\tlogallrefupdates = true",
    ]
    if origin:
        lines += ['[remote "origin"]', f"\turl = {origin}", "\tfetch = +refs/heads/*:refs/remotes/origin/*"]
    (git_dir / "config").write_text("\n".join(lines) + "\n")
    for planted in ("hooks", "info/attributes", "objects/info/alternates", "objects/info/http-alternates"):
        target = git_dir / planted
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    (git_dir / "hooks").mkdir(exist_ok=True)


def cmd_sync(settings: dict, args: list[str]) -> int:
    opts = protocol.step_options("sync", args)
    clone = Path(settings["clone"])
    canonical_git_config(clone, settings.get("origin"))
    g = _git(settings)
    with tempfile.TemporaryDirectory(prefix="agent-sync-") as tmp:
        bundle = Path(tmp) / "base.bundle"
        _stdin_to(bundle, int(settings.get("maxBundleBytes", 512 * 1024 * 1024)))
        commit = gitops.reset_clone(
            g,
            clone,
            bundle,
            opts["--base"],
            opts.get("--branch"),
            keep=settings.get("syncKeep", gitops.SYNC_KEEP),
        )
    print(commit)
    return 0


def cmd_finish(settings: dict, args: list[str]) -> int:
    opts = protocol.step_options("finish", args)
    g, clone = _git(settings), Path(settings["clone"])
    on_branch = gitops.current_branch(g, clone) == opts["--branch"]
    committed = on_branch and gitops.commit_leftovers(g, clone, opts["--message"][:200])
    print(json.dumps({"on_branch": on_branch, "committed_leftovers": bool(committed)}))
    return 0


def cmd_bundle(settings: dict, args: list[str]) -> int:
    opts = protocol.step_options("bundle", args)
    g = _git(settings)
    with tempfile.TemporaryDirectory(prefix="agent-bundle-") as tmp:
        bundle = Path(tmp) / "branch.bundle"
        g.run(
            [
                "bundle",
                "create",
                "-q",
                str(bundle),
                f"refs/heads/{opts['--branch']}",
                f"^{opts['--base-commit']}",
            ],
            cwd=Path(settings["clone"]),
        )
        sys.stdout.buffer.write(bundle.read_bytes())
    return 0


def cmd_verify(settings: dict, args: list[str]) -> int:
    """Check out exactly ``--commit`` fresh (from the clone's objects plus the watcher's bundle of the
    branch), copy the files verify needs from the clone (its ``.env``), run the setup and the verify
    command there, within the verify timeout. Nothing Claude left in the clone's work tree runs."""
    opts = protocol.step_options("verify", args)
    g, clone = _git(settings), Path(settings["clone"])
    tree = Path(settings["home"]) / VERIFY_DIR
    if tree.exists() or tree.is_symlink():
        shutil.rmtree(tree) if tree.is_dir() and not tree.is_symlink() else tree.unlink()
    with tempfile.TemporaryDirectory(prefix="agent-verify-") as tmp:
        bundle = Path(tmp) / "branch.bundle"
        _stdin_to(bundle, int(settings.get("maxBundleBytes", 512 * 1024 * 1024)))
        g.run(["init", "-q", str(tree)])
        # The clone's objects hold the base; the bundle (from the watcher's mirror) holds the branch.
        g.run(
            ["fetch", "-q", str(clone), "+refs/remotes/origin/*:refs/slipway/base/*"], cwd=tree, check=False
        )
        g.run(["fetch", "-q", str(bundle), f"+refs/heads/{opts['--branch']}:refs/heads/verify"], cwd=tree)
    head = g.out(["rev-parse", "refs/heads/verify"], cwd=tree)
    if head != opts["--commit"]:
        print(f"the bundle's branch is at {head}, not at {opts['--commit']}")
        return 3
    g.run(["checkout", "-q", "-f", "--detach", head], cwd=tree)
    for relative in settings.get("verifyCopy", []):
        source, target = clone / relative, tree / relative
        if source.is_file() and not source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            target.chmod(0o600)
    env = {
        "PATH": settings.get("path", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": settings["home"],
        "LANG": "C.UTF-8",
        "CI": "1",
    }
    timeout = protocol.verify_timeout(settings)
    deadline = time.monotonic() + timeout
    for label, argv in (
        ("setup", settings.get("verifySetup") or []),
        ("verify", protocol.verify_command(settings)),
    ):
        if not argv:
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            print(f"{label}: timed out after {timeout}s")
            return 124
        try:
            proc = subprocess.run(
                argv, cwd=tree, env=env, capture_output=True, text=True, timeout=remaining, check=False
            )
        except subprocess.TimeoutExpired:
            print(f"{label}: timed out after {timeout}s")
            return 124
        except OSError as exc:
            print(f"{label}: could not run: {exc}")
            return 127
        sys.stdout.write(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            if label == "setup":
                print(f"verify setup failed (exit {proc.returncode})")
            return proc.returncode
    return 0


def cmd_claude(settings: dict, args: list[str]) -> int:
    env = {
        "HOME": settings["home"],
        "PATH": settings.get("path", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "USER": settings["user"],
        "LOGNAME": settings["user"],
        **settings.get("claudeEnv", {}),
        **json.loads(os.environ.get("SLIPWAY_AGENT_CLAUDE_ENV", "{}")),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    os.chdir(settings["clone"])
    os.execve(settings["claudeExe"], [settings["claudeExe"], *args], env)  # noqa: S606 - flags checked by agent-run
    return 127


STEPS = {
    "sync": cmd_sync,
    "finish": cmd_finish,
    "bundle": cmd_bundle,
    "verify": cmd_verify,
    "claude": cmd_claude,
}


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[2] not in STEPS:
        sys.stderr.write("usage: agent_steps.py SETTINGS STEP ...\n")
        return 2
    settings = json.loads(Path(argv[1]).read_text())
    try:
        return STEPS[argv[2]](settings, argv[3:])
    except (gitops.GitError, protocol.ProtocolError) as exc:
        sys.stderr.write(f"agent-steps: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
