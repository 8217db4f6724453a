"""The double as a standalone process: CLI readiness line, control plane, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def double_process(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ready = tmp_path / "ready"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.forgejo_double", "--data", str(tmp_path / "data"),
         "--root-url", "https://forge.example.org/", "--ready-file", str(ready)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("FORGEJO_DOUBLE_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        assert ready.read_text().strip() == url
        yield url, tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_control_plane_seeds_and_inspects_the_double(double_process: tuple[str, Path]) -> None:
    url, _ = double_process
    control = httpx.Client(base_url=f"{url}/_double")
    assert control.post("/users", json={"name": "shad0w", "admin": True}).status_code == 201
    token = control.post("/tokens", json={"user": "shad0w", "scopes": ["write:issue"]}).json()["token"]
    control.post("/repos", json={"owner": "shad0w", "name": "pelagia-portal"})
    control.post("/labels", json={"owner": "shad0w", "repo": "pelagia-portal", "name": "portal"})
    issue = control.post("/issues", json={"owner": "shad0w", "repo": "pelagia-portal", "title": "t",
                                          "labels": ["portal"]}).json()  # fmt: skip
    assert issue["html_url"] == "https://forge.example.org/shad0w/pelagia-portal/issues/1"
    control.post("/comments", json={"owner": "shad0w", "repo": "pelagia-portal", "index": 1, "body": "hi"})
    api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"token {token}"})
    assert api.get("/repos/shad0w/pelagia-portal/issues").json()[0]["labels"][0]["name"] == "portal"
    assert control.get("/issues/shad0w/pelagia-portal/1/comments").json()[0]["body"] == "hi"
    control.post("/faults", json={"status": 502, "count": 1})
    assert api.get("/repos/shad0w/pelagia-portal/issues").status_code == 502
    log = control.get("/requests").json()
    assert [r["status"] for r in log] == [200, 502]
    assert all(not r["path"].startswith("/_double") for r in log)
    control.delete("/requests")
    assert control.get("/requests").json() == []
    assert control.post("/tokens", json={"user": "ghost", "scopes": []}).status_code == 400
