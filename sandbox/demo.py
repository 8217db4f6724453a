"""The whole pipeline in a local sandbox, from "Report Issue" to the fix live (`make demo`).

Stages (each prints one line with its result and time; long ones show progress):
  1. sandbox     the disposable pms1 (PostgreSQL with pelagia + pelagia_test), the Forgejo double holding
                 the portal repository (with a real bug), the scripted model endpoint for Claude Code
  2. provision   ansible-playbook site.yml against the sandbox inventory
  3. release     ansible-playbook release.yml -e tag=v0.1.0: the portal goes live on port 3000;
                 the test database is refreshed from production (the daily mirror job)
  4. before      the bug's request against the live app
  5. report      an issue filed the way the portal's Report Issue button does (label `portal`)
  6. triage      the watcher run Forgejo's webhook delivery started (else cron's command, the
                 reconciler): triage posts the breakdown, queues the issue
  7. fix         the next watcher run (the delivery of the queue label starts it): Claude fixes it,
                 the branch is pushed, a PR opened
  8. merge+tag   a human's part, scripted: merge the PR, bump the version, push tag v0.1.1
  9. deploy      the deploy workflow's step, as the runner's user runs it on pms1: sudo release-tag v0.1.1
                 checks the tag is on main and release.yml takes it live as the app user
 10. after       the same request: the bug is gone

Exits non-zero naming the stage that failed. Tears the sandbox down unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from sandbox.model_double import ModelDouble
from sandbox.playbook import ROOT, run_playbook
from sandbox.pms1 import Pms1Host, port_answers
from sandbox.portal_bug import TONNAGE, fix_tonnage
from sandbox.site import APP_USER, HOST_PLAYBOOK_ENV, OWNER, REPO, SiteWorld

RUNNER_USER = "forgejo-runner"
BUG_PATH = "/api/tonnage?value=1234.5"
ISSUE_TITLE = "Vessel tonnage is shown one tonne too low"
ISSUE_BODY = (
    "On the vessel page the tonnage is one tonne too low. /api/tonnage?value=1234.5 says 1,234 t; "
    "it should be 1,235 t (nearest whole tonne)."
)


class StageFailed(Exception):
    pass


class Demo:
    def __init__(self, workdir: Path, app_port: int, keep: bool) -> None:
        self.workdir = workdir
        self.app_port = app_port
        self.keep = keep
        self.host: Pms1Host | None = None
        self.world: SiteWorld | None = None
        self.model: ModelDouble | None = None
        self.inventory: Path | None = None
        self.stage_no = 0
        self.issue_number = 0
        self.pr_number = 0
        self.results: dict[str, str] = {}

    # -- output ---------------------------------------------------------------------------------------

    @contextmanager
    def stage(self, name: str, what: str) -> Iterator[dict]:
        self.stage_no += 1
        started = time.monotonic()
        note: dict[str, str] = {"result": "ok"}
        done = threading.Event()

        def progress() -> None:
            while not done.wait(15):
                print(f"      ... {name}: {time.monotonic() - started:.0f} s", flush=True)

        ticker = threading.Thread(target=progress, daemon=True)
        print(f"[{self.stage_no:>2}] {name:<10} {what}", flush=True)
        ticker.start()
        try:
            yield note
        except Exception as exc:
            done.set()
            print(f"     FAILED {name} after {time.monotonic() - started:.1f} s: {exc}", flush=True)
            raise StageFailed(name) from exc
        done.set()
        print(f"     {name:<10} {note['result']}  ({time.monotonic() - started:.1f} s)", flush=True)

    # -- helpers -------------------------------------------------------------------------------------------

    def as_app_user(self, command: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """Run a shell command on pms1 as the app user, with a login environment (like cron/the runner)."""
        assert self.host is not None
        return self.host.ssh("runuser", "-l", APP_USER, "-c", command, check=False, timeout=timeout)

    def api(self, method: str, path: str, body: dict | None = None) -> Any:
        assert self.world is not None
        response = httpx.request(
            method,
            f"{self.world.forgejo.url}/api/v1/repos/{OWNER}/{REPO}{path}",
            json=body,
            headers={"Authorization": f"token {self.world.token}"},
            timeout=30,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def labels(self) -> list[str]:
        return sorted(label["name"] for label in self.api("GET", f"/issues/{self.issue_number}")["labels"])

    def get_app(self, path: str) -> str:
        return httpx.get(f"http://127.0.0.1:{self.app_port}{path}", timeout=10).text

    def playbook(self, playbook: str, *args: str, timeout: float = 1800) -> None:
        assert self.inventory is not None
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)
        run = run_playbook(
            logs,
            ROOT / playbook,
            args=["-i", str(self.inventory), *args],
            inventory=False,
            timeout=timeout,
            env=HOST_PLAYBOOK_ENV,
        )
        log = logs / f"{Path(playbook).stem}-{int(time.time())}.log"
        log.write_text(run.output)
        if run.rc != 0:
            failed = [r for r in run.results if r["status"] == "failed"]
            reason = failed[-1]["result"].get("msg", "") if failed else run.output[-400:]
            raise RuntimeError(f"{playbook} failed (log {log}): {str(reason)[:300]}")

    # -- the stages ---------------------------------------------------------------------------------------

    def start_sandbox(self) -> None:
        with self.stage("sandbox", "pms1 (Debian 12 + PostgreSQL), Forgejo double, model endpoint") as note:
            if port_answers(self.app_port):
                raise RuntimeError(f"port {self.app_port} is taken on this machine; pass --app-port")
            self.host = Pms1Host(self.workdir / "pms1")
            self.host.ensure_prepared(app_user=APP_USER)
            self.world = SiteWorld(self.host, self.workdir / "world", agent=True).start()
            self.publish_portal()
            self.production_env()
            self.model = ModelDouble().start()
            self.inventory = self.world.host.write_inventory(
                self.workdir / "inventory.yml", extra_vars=self.sandbox_vars()
            )
            note["result"] = (
                f"Forgejo double {self.world.forgejo.url}, model {self.model.url}, ssh :{self.host.ssh_port}"
            )

    def production_env(self) -> None:
        """What the real pms1 already has before Slipway: the production app's .env (shared by releases)."""
        facts = self.host.facts
        env = (
            f"DATABASE_URL=postgresql://{facts['pg_user']}:{facts['pg_password']}@127.0.0.1:{facts['pg_port']}"
            f"/{facts['prod_db']}\nNEXTAUTH_URL=http://127.0.0.1:{self.app_port}\nEMAIL_TRANSPORT=console\n"
        )
        shared = f"/home/{APP_USER}/pms/shared/App"
        self.host.ssh(
            "install",
            "-d",
            "-o",
            APP_USER,
            "-g",
            APP_USER,
            "-m",
            "0750",
            f"/home/{APP_USER}/pms",
            f"/home/{APP_USER}/pms/shared",
            shared,
        )
        self.host.ssh(
            "sh", "-c", f"umask 077 && cat > {shared}/.env && chown {APP_USER}: {shared}/.env", input=env
        )

    def publish_portal(self) -> None:
        """The portal repository as its maintainers have it: history on main, release tag v0.1.0."""
        source = self.workdir / "portal-v0.1.0"
        subprocess.run(
            [str(ROOT / "scripts" / "make-portal-repo"), str(source)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        url = self.world.forgejo.git_url(OWNER, REPO).replace("://", f"://maintainer:{self.world.token}@", 1)
        subprocess.run(
            ["git", "push", "-q", "--force", url, "main", "v0.1.0"],
            cwd=source,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def sandbox_vars(self) -> dict[str, Any]:
        assert self.world is not None and self.model is not None
        variables = self.world.site_vars()
        variables.update(
            {
                "slipway_release_port": self.app_port,
                "slipway_release_become": True,
                # the test copy of production is scrubbed of personal data after each restore
                "slipway_testdb_mirror_hooks": {
                    "50-scrub-reporters.sql": (
                        "UPDATE issue_reports SET reporter_email = 'reporter' || id || '@example.invalid';\n"
                    ),
                },
                "slipway_watcher_release_settings": {
                    "slipway_release_repo_url": self.world.forgejo.git_url(OWNER, REPO),
                    "slipway_release_app_user": APP_USER,
                    "slipway_release_port": self.app_port,
                },
                "slipway_release_repo_url": self.world.forgejo.git_url(OWNER, REPO),
                "slipway_release_repo_token": self.world.token,
                # Claude runs as the agent user: its endpoint and key go to the agent's settings
                "slipway_agent_claude_env": {
                    "ANTHROPIC_BASE_URL": self.model.url,
                    "CLAUDE_CODE_MAX_RETRIES": "1",
                },
                "slipway_agent_claude_secret_env": {"ANTHROPIC_API_KEY": "sk-ant-sandbox-model-double"},
                "slipway_watcher_config_extra": {"fix": {"timeoutSeconds": 300, "maxTurns": 20, "perRun": 1}},
            }
        )
        return variables

    def provision(self) -> None:
        with self.stage(
            "provision", "ansible-playbook site.yml (node, runner, autofix clone, watcher, mirror)"
        ) as note:
            self.playbook("site.yml")
            config = self.host.ssh("cat", f"/home/{APP_USER}/issue-watcher/watcher.config.json").stdout
            clone = json.loads(config)["autofixDir"]
            self.model.set_scenarios(model_script(clone))
            note["result"] = f"converged; autofix clone {clone}"

    def first_release(self) -> None:
        with self.stage(
            "release", "ansible-playbook release.yml -e tag=v0.1.0; refresh pelagia_test"
        ) as note:
            self.playbook("release.yml", "-e", "tag=v0.1.0")
            health = json.loads(self.get_app("/api/health"))
            # as its daily cron job does: as postgres
            mirror = self.host.ssh(
                "runuser",
                "-u",
                "postgres",
                "--",
                "/usr/local/sbin/slipway-testdb-mirror",
                check=False,
                timeout=300,
            )
            if mirror.returncode != 0:
                raise RuntimeError(f"test-database mirror failed: {mirror.stderr[-300:]}")
            note["result"] = f"live on :{self.app_port}, version {health['version']}; pelagia_test refreshed"

    def before(self) -> None:
        with self.stage("before", f"GET {BUG_PATH} on the live app") as note:
            self.results["before"] = self.get_app(BUG_PATH)
            note["result"] = self.results["before"]

    def report(self) -> None:
        with self.stage("report", "file an issue as the portal's Report Issue button does") as note:
            env = dict(
                os.environ,
                FORGEJO_URL=self.world.forgejo.url,
                FORGEJO_REPO=f"{OWNER}/{REPO}",
                FORGEJO_TOKEN=self.world.token,
            )
            out = subprocess.run(
                [str(ROOT / "scripts" / "report-issue"), ISSUE_TITLE, ISSUE_BODY],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout.strip()
            self.issue_number = int(out.split()[0].lstrip("#"))
            note["result"] = f"issue {out}, labels {self.labels()}"

    def cron_command(self) -> str:
        crontab = self.as_app_user("crontab -l").stdout
        line = next(
            (line for line in crontab.splitlines() if "watcher.yml" in line and not line.startswith("#")),
            None,
        )
        if line is None:
            raise RuntimeError("no watcher line in the app user's crontab")
        return " ".join(line.split()[5:])  # drop the five schedule fields

    def watcher_idle(self) -> bool:
        """No watcher run holds cron's lock (the webhook receiver's runs take the same one)."""
        return self.as_app_user("flock -n ~/issue-watcher/cron.lock true", timeout=30).returncode == 0

    def watcher_run(
        self, name: str, expect: str, what: str, accept: tuple[str, ...] = (), wait_s: float = 300
    ) -> None:
        """Wait for the run the webhook receiver started (Forgejo's delivery of the new issue, then of the
        queue label); if ``expect`` (or a later stage in ``accept``) has not come when the watcher is idle
        after ``wait_s``, run cron's own command, the reconciler, as cron would. A webhook run that set the
        label may still be finishing; the next stage waits for what it needs."""
        with self.stage(name, what) as note:
            wanted = {expect, *accept}
            started, how = time.monotonic(), "the webhook's run"
            while not wanted & set(self.labels()):
                if time.monotonic() - started > wait_s and self.watcher_idle():
                    how = "cron's command"
                    result = self.as_app_user(self.cron_command(), timeout=900)
                    if result.returncode != 0:
                        raise RuntimeError(
                            f"the cron command exited {result.returncode}; "
                            f"see ~{APP_USER}/issue-watcher/logs/cron.log"
                        )
                    break
                time.sleep(0.5)
            labels = self.labels()
            if not wanted & set(labels):
                comments = self.api("GET", f"/issues/{self.issue_number}/comments")
                last = comments[-1]["body"][:300] if comments else "no comment"
                log = self.host.ssh(
                    "sh", "-c", f"tail -n 3 /home/{APP_USER}/issue-watcher/logs/watcher-*.log", check=False
                ).stdout.strip()
                raise RuntimeError(
                    f"expected {expect}, labels are {labels}; last comment: {last}; watcher log: {log}"
                )
            if expect == "claude-pr":
                pulls = self.api("GET", "/pulls?state=open")
                self.pr_number = pulls[0]["number"]
                note["result"] = f"labels {labels} ({how}); PR #{self.pr_number} {pulls[0]['html_url']}"
            else:
                note["result"] = f"labels {labels} ({how}); breakdown posted"

    def merge_and_tag(self) -> None:
        with self.stage("merge+tag", "merge the PR, bump the version to 0.1.1, push tag v0.1.1") as note:
            self.api("POST", f"/pulls/{self.pr_number}/merge", {"Do": "merge"})
            work = self.workdir / "maintainer"
            url = self.world.forgejo.git_url(OWNER, REPO).replace(
                "://", f"://maintainer:{self.world.token}@", 1
            )
            git = ["git", "-c", "user.name=Maintainer", "-c", "user.email=maintainer@example.invalid"]

            def run(*args: str) -> None:
                subprocess.run([*git, *args], cwd=work, check=True, capture_output=True, timeout=120)

            subprocess.run(
                [*git, "clone", "-q", url, str(work)], check=True, capture_output=True, timeout=120
            )
            package = work / "App" / "package.json"
            package.write_text(
                re.sub(r'"version": "[^"]+"', '"version": "0.1.1"', package.read_text(), count=1)
            )
            run("commit", "-qam", "Release 0.1.1")
            run("tag", "-a", "v0.1.1", "-m", "v0.1.1")
            run("push", "-q", "origin", "main", "v0.1.1")
            note["result"] = f"PR #{self.pr_number} merged, v0.1.1 pushed"

    def deploy(self) -> None:
        with self.stage("deploy", "the deploy workflow's step on pms1 (FORGEJO_REF_NAME=v0.1.1)") as note:
            workflow = yaml.safe_load((ROOT / "files" / "forgejo" / "workflows" / "deploy.yml").read_text())
            step = workflow["jobs"]["deploy"]["steps"][-1]
            context = {
                "forgejo.ref_name": "v0.1.1",
                "forgejo.actor": "maintainer",
                "forgejo.token": self.world.token,
            }
            env = {k: _expand(v, context) for k, v in step.get("env", {}).items()}
            env.update(FORGEJO_REF_NAME="v0.1.1", GITHUB_REF_NAME="v0.1.1", FORGEJO_ACTOR="maintainer")
            # As the runner does: as the runner's own user, the environment and the script reach the
            # shell on stdin, never in argv; the step can only sudo to release-tag.
            script = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()) + step["run"]
            result = self.host.ssh(
                "runuser",
                "-u",
                RUNNER_USER,
                "--",
                "bash",
                "-e",
                "-s",
                input=script,
                check=False,
                timeout=1800,
            )
            if result.returncode != 0:
                raise RuntimeError(f"the workflow step failed: {(result.stdout + result.stderr)[-400:]}")
            health = json.loads(self.get_app("/api/health"))
            note["result"] = f"live version {health['version']}"

    def after(self) -> None:
        with self.stage("after", f"GET {BUG_PATH} on the live app") as note:
            self.results["after"] = self.get_app(BUG_PATH)
            if self.results["after"] == self.results["before"]:
                raise RuntimeError(f"the answer did not change: {self.results['after']}")
            note["result"] = (
                f"{self.results['after']}  (before: {self.results['before']}); {self.loop_closed()}"
            )

    def loop_closed(self) -> str:
        """What the release told the issue (release.yml's notifier): its comment and the issue's state."""
        issue = self.api("GET", f"/issues/{self.issue_number}")
        told = [c["body"] for c in self.api("GET", f"/issues/{self.issue_number}/comments")]
        deployed = [body.splitlines()[0] for body in told if body.startswith("Deployed in ")]
        self.results["deployed_comment"] = deployed[-1] if deployed else ""
        said = f'"{deployed[-1]}"' if deployed else "no deployed comment (see the deploy output)"
        return f"issue #{self.issue_number} {issue['state']}: {said}"

    # -- the whole run ------------------------------------------------------------------------------------------

    def run(self) -> int:
        steps: list[Callable[[], None]] = [
            self.start_sandbox,
            self.provision,
            self.first_release,
            self.before,
            self.report,
            lambda: self.watcher_run(
                "triage",
                "claude-queue",
                "the watcher run the webhook started (else cron's): triage",
                accept=("claude-working", "claude-pr"),  # the next run may already be fixing it
                wait_s=120,
            ),
            lambda: self.watcher_run("fix", "claude-pr", "the next watcher run: fix, push, pull request"),
            self.merge_and_tag,
            self.deploy,
            self.after,
        ]
        started = time.monotonic()
        try:
            for step in steps:
                step()
        except StageFailed as failed:
            print(
                f"demo FAILED at stage '{failed}' ({time.monotonic() - started:.0f} s); logs in {self.workdir}"
            )
            self.finish()
            return 1
        except KeyboardInterrupt:
            print("demo interrupted; tearing the sandbox down")
            self.teardown()
            return 130
        print(
            f"demo passed in {time.monotonic() - started:.0f} s: {self.results['before']} -> {self.results['after']}"
        )
        self.finish()
        return 0

    def finish(self) -> None:
        if self.keep and self.host is not None:
            self.show_around()
            try:
                print("The sandbox stays up until you press Ctrl-C.")
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        self.teardown()

    def show_around(self) -> None:
        assert self.host is not None and self.world is not None
        print(
            "\nLook around:\n"
            f"  Forgejo double   {self.world.forgejo.url}/api/v1/repos/{OWNER}/{REPO}/issues?state=all "
            f"(token in {self.workdir / 'forgejo-token'})\n"
            f"  the live portal  http://127.0.0.1:{self.app_port}/api/health\n"
            f"  ssh into pms1    scripts/pms1 ssh --workdir {self.host.workdir}\n"
            f"  watcher logs     on pms1: /home/{APP_USER}/issue-watcher/logs/\n"
            f"  pipeline status  on pms1: cd ~/slipway && scripts/status\n"
            f"  playbook logs    {self.workdir / 'logs'}\n"
        )
        (self.workdir / "forgejo-token").write_text(self.world.token + "\n")
        (self.workdir / "forgejo-token").chmod(0o600)

    def teardown(self) -> None:
        for stop in (
            lambda: self.model and self.model.stop(),
            lambda: self.world and self.world.stop(),
            lambda: self.host and self.host.down(),
        ):
            try:
                stop()
            except Exception as exc:  # noqa: BLE001 - tear down as much as possible
                print(f"teardown: {exc}", file=sys.stderr)


def _expand(value: str, context: dict[str, str]) -> str:
    """The runner's ${{ expr }} substitution for the step's env: values (only what the demo needs)."""
    return re.sub(r"\$\{\{\s*([\w.]+)\s*\}\}", lambda m: context.get(m.group(1), ""), str(value))


def model_script(clone: str) -> list[dict]:
    """What the scripted model answers: a triage that reads the code, and a fix that edits, tests, commits."""
    tonnage = f"{clone}/{TONNAGE}"
    breakdown = (
        "## What is wrong\n\n`formatTonnage()` in `App/lib/tonnage.js` truncates with `Math.floor`, so "
        "1234.5 t shows as 1,234 t.\n\n## What the fix must do\n\n- Round to the nearest whole tonne "
        "(`Math.round`).\n\n## Acceptance\n\n- `/api/tonnage?value=1234.5` answers `1,235 t`.\n"
        "- `pnpm test:integration` passes.\n\nSCHEMA: no\nROUTE: claude-queue\nREASON: a one-line code fix"
    )
    return [
        {
            "match": "You are triaging",
            "replies": [[{"tool": "Read", "input": {"file_path": tonnage}}], [{"text": breakdown}]],
        },
        {
            "match": "You are fixing",
            "replies": [
                *fix_tonnage(clone),
                [
                    {
                        "tool": "Bash",
                        "input": {"command": "cd App && node --test tests/integration/tonnage.test.mjs"},
                    }
                ],
                [
                    {
                        "tool": "Bash",
                        "input": {"command": "git commit -qam 'Round tonnage to the nearest tonne'"},
                    }
                ],
                [{"text": "Rounded tonnage with `Math.round` in `formatTonnage()`; the tonnage tests pass."}],
            ],
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--keep", action="store_true", help="leave the sandbox running and say how to look around"
    )
    parser.add_argument("--app-port", type=int, default=3000, help="the live app's port (the runbook's 3000)")
    parser.add_argument(
        "--workdir", type=Path, help="where the sandbox lives (default: a new dir under /var/tmp)"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("make demo needs root (it boots a systemd-nspawn host)", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="slipway-demo-", dir="/var/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    return Demo(workdir, args.app_port, args.keep).run()


if __name__ == "__main__":
    sys.exit(main())
