"""scripts/release-status: live, previous, the lock holder and the last five results, read-only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ansible.module_utils.slipway.lock import acquire_run_lock

from scripts import release_status

ROOT = Path(__file__).resolve().parents[2]


def _layout(base: Path) -> None:
    for name, tag in (("v0.1.0-20260101T000000Z", "v0.1.0"), ("v0.1.1-20260102T000000Z", "v0.1.1")):
        (base / "releases" / name / "App").mkdir(parents=True)
        (base / "releases" / name / ".slipway-built").write_text(
            json.dumps({"tag": tag, "commit": "0123456789abcdef0123", "built": "2026-01-01T00:00:00"})
        )
    os.symlink("releases/v0.1.1-20260102T000000Z", base / "current")
    os.symlink("releases/v0.1.0-20260101T000000Z", base / "previous")
    rows = [
        f"2026-01-0{i}T00:00:00Z\trelease\tv0.1.{i}\tv0.1.{i}-2026010{i}T000000Z\tok\talice\trun-{i}"
        for i in range(1, 8)
    ]
    (base / "releases.log").write_text("\n".join(rows) + "\n")


def test_it_shows_live_previous_a_free_lock_and_the_last_five_results(tmp_path: Path) -> None:
    _layout(tmp_path)
    state = release_status.status(tmp_path)
    assert state["live"]["name"] == "v0.1.1-20260102T000000Z"
    assert state["previous"]["name"] == "v0.1.0-20260101T000000Z"
    assert state["lock"] == {"held": False}
    assert [entry["run"] for entry in state["last"]] == [f"run-{i}" for i in range(3, 8)]
    text = release_status.render(state)
    assert "live:     v0.1.1-20260102T000000Z (commit 0123456789ab" in text
    assert "lock:     free" in text
    assert text.count("\trelease") == 0 and "v0.1.7-20260107T000000Z  ok  by alice  run run-7" in text


def test_it_names_the_lock_holder_with_tag_run_and_time(tmp_path: Path) -> None:
    _layout(tmp_path)
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        taken = acquire_run_lock(tmp_path / "deploy.lock", owner.pid, "release v0.1.2 by bob, run 4711")
        assert taken.acquired
        lock = release_status.status(tmp_path)["lock"]
        assert lock["held"] and lock["who"] == "bob" and lock["tag"] == "v0.1.2" and lock["run"] == "4711"
        assert lock["pid"] == str(owner.pid) and lock["since"].startswith("20")
        done = subprocess.run(
            [str(ROOT / "scripts/release-status"), "--base", str(tmp_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "held by bob for release v0.1.2 (tag v0.1.2, run 4711, pid" in done.stdout
    finally:
        owner.kill()
        owner.wait()
    # the holder goes with its owner: a stale text is not a holder
    for _ in range(100):
        if not release_status.status(tmp_path)["lock"]["held"]:
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert "lock:     free" in release_status.render(release_status.status(tmp_path))


def test_a_release_marked_bad_says_so_and_json_works(tmp_path: Path) -> None:
    _layout(tmp_path)
    (tmp_path / "releases/v0.1.0-20260101T000000Z/.slipway-bad").write_text("health check failed\n")
    done = subprocess.run(
        [sys.executable, "-", "--base", str(tmp_path), "--json"],
        input=(ROOT / "scripts/release_status.py").read_text(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["previous"]["bad"] == "health check failed"


def test_no_layout_is_an_error(tmp_path: Path) -> None:
    assert release_status.main(["--base", str(tmp_path)]) == 2
