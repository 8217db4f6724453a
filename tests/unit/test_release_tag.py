"""release-tag, the root-owned wrapper the host runner may sudo to (roles/slipway_forgejo_runner/files).

Imported as a module and driven with real git repositories: the tag must be vX.Y.Z, on the base
branch, (optionally) protected in Forgejo; then release.yml runs as the app user with the token in a
0600 file, never in its argv or environment.
"""

from __future__ import annotations

import http.server
import importlib.machinery
import importlib.util
import json
import os
import pwd
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ansible.module_utils.slipway import gitops

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "roles/slipway_forgejo_runner/files/release-tag"
TOKEN = "job-token-5f1c9a"  # noqa: S105 - a test value


def _load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("release_tag", str(WRAPPER))
    spec = importlib.util.spec_from_loader("release_tag", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


rt = _load()


def git(repo: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture
def portal(tmp_path: Path) -> Path:
    """main: A - B (v1.0.0 on A, v1.1.0 on B); side branch off A: C (v6.6.6, not on main)."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for name in ("A", "B"):
        (work / "f").write_text(name)
        git(work, "add", "f")
        git(work, "commit", "-qm", name)
    git(work, "tag", "-a", "v1.0.0", "-m", "r", "HEAD~1")
    git(work, "tag", "v1.1.0")
    git(work, "checkout", "-q", "-b", "side", "HEAD~1")
    (work / "f").write_text("C")
    git(work, "commit", "-qam", "C")
    git(work, "tag", "-a", "v6.6.6", "-m", "r")
    git(work, "checkout", "-q", "main")
    bare = tmp_path / "portal.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


def settings_for(tmp_path: Path, repo: Path, **extra: Any) -> Path:
    path = tmp_path / "release.json"
    me = pwd.getpwuid(os.getuid()).pw_name
    askpass = tmp_path / "git-askpass"  # as slipway_git_askpass installs it
    askpass.write_text(gitops.ASKPASS_SCRIPT)
    askpass.chmod(0o755)
    path.write_text(
        json.dumps(
            {
                "app_user": me,
                "toolkit_dir": str(tmp_path / "toolkit"),
                "repo_url": str(repo),
                "cache_dir": str(tmp_path / "cache/check.git"),
                "path": "/usr/local/bin:/usr/bin:/bin",  # as on pms1: no sbin
                "askpass": str(askpass),
                **extra,
            }
        )
    )
    return path


@pytest.fixture
def toolkit(tmp_path: Path) -> Path:
    """A toolkit whose ansible-playbook records its argv, its environment and the token file."""
    record = tmp_path / "record.json"
    bin_dir = tmp_path / "toolkit/.venv/bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "ansible-playbook"
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, os, sys\n"
        "f = os.environ.get('SLIPWAY_RELEASE_REPO_TOKEN_FILE')\n"
        "st = os.stat(f) if f else None\n"
        f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ), 'cwd': os.getcwd(),"
        f" 'token': open(f).read() if f else None, 'mode': st.st_mode & 0o777 if st else None,"
        f" 'uid': st.st_uid if st else None}}, open({str(record)!r}, 'w'))\n"
    )
    fake.chmod(0o755)
    return record


# ------------------------------------------------------------------------------------------- tag


@pytest.mark.parametrize("tag", ["v1.2.3", "v0.0.0", "v10.20.30"])
def test_release_tags_are_accepted(tag: str) -> None:
    assert rt.check_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    [
        "v1.2",
        "v1.2.3\n",
        "V1.2.3",
        "v1.2.3;id",
        "",
        "v1.2.3-rc1",
        "1.2.3",
        "v1.2.3 ",
        "v１.2.3",
        "v1..3",
        "-v1.2.3",
    ],
)
def test_anything_else_is_refused_as_a_bad_tag(tag: str, tmp_path: Path) -> None:
    with pytest.raises(rt.Refused) as refused:
        rt.main([tag], b"", tmp_path / "never-read.json")
    assert refused.value.code == rt.EXIT_USAGE
    assert "not a release tag" in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("argv", [[], ["v1.0.0", "v1.0.1"], ["v1.0.0", "--", "x"]])
def test_exactly_one_argument(argv: list[str], tmp_path: Path) -> None:
    with pytest.raises(rt.Refused) as refused:
        rt.main(argv, b"", tmp_path / "never-read.json")
    assert refused.value.code == rt.EXIT_USAGE and "exactly one argument" in str(refused.value)


def test_stdin_carries_the_token_and_the_actor_bounded() -> None:
    assert rt.parse_stdin(b"") == ("", "")
    assert rt.parse_stdin(f"{TOKEN}\n".encode()) == (TOKEN, "")
    assert rt.parse_stdin(f"{TOKEN}\nhardik\n".encode()) == (TOKEN, "hardik")
    for bad in (b"a\nb\nc\n", b"tok en\n", b"x" * (rt.MAX_STDIN + 1), b"t\n$(id)\n", "t\u00e9\n".encode()):
        with pytest.raises(rt.Refused) as refused:
            rt.parse_stdin(bad)
        assert refused.value.code == rt.EXIT_USAGE


# ------------------------------------------------------------------------------------ on main


def test_a_tag_on_a_side_branch_is_refused(portal: Path, tmp_path: Path, toolkit: Path) -> None:
    with pytest.raises(rt.Refused) as refused:
        rt.main(["v6.6.6"], b"", settings_for(tmp_path, portal))
    assert refused.value.code == rt.EXIT_NOT_ON_MAIN
    assert "is not on main" in str(refused.value)
    assert not toolkit.exists(), "release.yml ran for a tag that is not on main"


def test_a_missing_tag_is_refused(portal: Path, tmp_path: Path, toolkit: Path) -> None:
    with pytest.raises(rt.Refused) as refused:
        rt.main(["v9.9.9"], b"", settings_for(tmp_path, portal))
    assert refused.value.code == rt.EXIT_NOT_ON_MAIN and "does not exist" in str(refused.value)
    assert not toolkit.exists()


def test_the_base_branch_comes_from_the_settings(portal: Path, tmp_path: Path, toolkit: Path) -> None:
    rt.main(["v6.6.6"], b"", settings_for(tmp_path, portal, base_branch="side"))
    assert json.loads(toolkit.read_text())["argv"][4] == "tag=v6.6.6"


def test_a_local_repository_of_another_user_is_fetched(portal: Path, tmp_path: Path) -> None:
    """On pms1 the repository may be a local path owned by the app user while the wrapper is root:
    git's ownership check must not refuse it (upload-pack gets none of git's -c settings)."""
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    nobody = pwd.getpwnam("nobody")
    for dirpath, _dirs, files in os.walk(portal):
        os.chown(dirpath, nobody.pw_uid, nobody.pw_gid)
        for name in files:
            os.chown(os.path.join(dirpath, name), nobody.pw_uid, nobody.pw_gid)
    settings = rt.load_settings(settings_for(tmp_path, portal))
    assert rt.commit_on_base(settings, "v1.0.0", "") == git(
        portal, "-c", "safe.directory=*", "rev-parse", "v1.0.0^{commit}"
    )


@pytest.mark.parametrize("tag", ["v1.0.0", "v1.1.0"])
def test_a_tag_on_main_is_released_as_the_app_user_with_the_token_in_a_file(
    tag: str, portal: Path, tmp_path: Path, toolkit: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("runuser needs root")
    commit = git(portal, "rev-parse", f"{tag}^{{commit}}")
    assert rt.main([tag], f"{TOKEN}\nhardik\n".encode(), settings_for(tmp_path, portal)) == 0
    seen = json.loads(toolkit.read_text())
    assert seen["argv"] == [
        "-i",
        "inventories/local/hosts.yml",
        "release.yml",
        "-e",
        f"tag={tag}",
        "-e",
        f"slipway_release_expected_commit={commit}",
    ]
    assert seen["cwd"] == str(tmp_path / "toolkit")
    assert seen["token"] == f"{TOKEN}\n" and seen["mode"] == 0o600 and seen["uid"] == os.getuid()
    assert TOKEN not in json.dumps(seen["env"]), "the token reached the playbook's environment"
    assert seen["env"]["SLIPWAY_RELEASE_ACTOR"] == "deploy workflow (hardik)"
    assert not Path(seen["env"]["SLIPWAY_RELEASE_REPO_TOKEN_FILE"]).exists(), "the token file was left behind"
    assert stat.S_IMODE(os.stat(tmp_path / "cache/check.git").st_mode) == 0o700


def test_a_failed_release_says_so(portal: Path, tmp_path: Path, toolkit: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("runuser needs root")
    (tmp_path / "toolkit/.venv/bin/ansible-playbook").write_text("#!/bin/sh\nexit 3\n")
    with pytest.raises(rt.Refused) as refused:
        rt.main(["v1.0.0"], b"", settings_for(tmp_path, portal))
    assert refused.value.code == rt.EXIT_RELEASE_FAILED
    assert str(refused.value) == "release.yml failed for v1.0.0 (exit 3)"


# ------------------------------------------------------------------------------------ protected


@pytest.fixture
def forgejo_tag_protections() -> Iterator[tuple[str, list, list]]:
    """A tiny HTTP server answering GET /api/v1/repos/o/r/tag_protections with ``answer``."""
    answer: list = []
    seen: list = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            seen.append((self.path, self.headers.get("Authorization")))
            body = json.dumps(answer).encode() if self.path == "/api/v1/repos/o/r/tag_protections" else b"{}"
            self.send_response(200 if self.path.endswith("tag_protections") else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1", answer, seen
    finally:
        server.shutdown()


def test_an_unprotected_tag_is_refused_when_protection_is_required(
    portal: Path, tmp_path: Path, toolkit: Path, forgejo_tag_protections: tuple[str, list, list]
) -> None:
    api, answer, seen = forgejo_tag_protections
    token_file = tmp_path / "api-token"
    token_file.write_text("admin-token\n")
    settings = settings_for(
        tmp_path,
        portal,
        require_protected_tag=True,
        forgejo_api_url=api,
        forgejo_repo="o/r",
        api_token_file=str(token_file),
    )
    answer[:] = [{"id": 1, "name_pattern": "release-*"}]
    with pytest.raises(rt.Refused) as refused:
        rt.main(["v1.0.0"], b"", settings)
    assert refused.value.code == rt.EXIT_UNPROTECTED and "is not protected" in str(refused.value)
    assert seen == [("/api/v1/repos/o/r/tag_protections", "token admin-token")]
    assert not toolkit.exists()
    for pattern in ("v*", "/^v[0-9.]+$/"):
        answer[:] = [{"id": 1, "name_pattern": "release-*"}, {"id": 2, "name_pattern": pattern}]
        assert rt.tag_is_protected(
            json.loads(settings.read_text()) | {"api_token_file": str(token_file)}, "v1.0.0"
        )


def test_protection_is_not_asked_for_unless_required(
    portal: Path, tmp_path: Path, toolkit: Path, forgejo_tag_protections: tuple[str, list, list]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("runuser needs root")
    api, _answer, seen = forgejo_tag_protections
    assert (
        rt.main(["v1.0.0"], b"", settings_for(tmp_path, portal, forgejo_api_url=api, forgejo_repo="o/r")) == 0
    )
    assert seen == []


def test_bad_settings_are_one_line_errors(tmp_path: Path) -> None:
    for content in (
        "not json",
        "[]",
        json.dumps({"repo_url": ""}),
        json.dumps({"repo_url": "x", "base_branch": "../x"}),
    ):
        path = tmp_path / "release.json"
        path.write_text(content)
        with pytest.raises(rt.Refused) as refused:
            rt.main(["v1.0.0"], b"", path)
        assert refused.value.code == rt.EXIT_SETUP and "\n" not in str(refused.value)


def test_the_command_line_prints_one_line_and_exits_with_the_code(tmp_path: Path) -> None:
    done = subprocess.run([str(WRAPPER), "v1.2"], capture_output=True, text=True, input="", check=False)
    assert done.returncode == rt.EXIT_USAGE
    assert done.stderr == "release-tag: not a release tag (want vX.Y.Z): 'v1.2'\n"


# ------------------------------------------------------------------ against the Forgejo double


def test_over_http_with_the_job_token_and_forgejos_tag_protections(portal: Path, tmp_path: Path) -> None:
    """The Forgejo double serves the repository (token required) and tag_protections: the wrapper
    fetches with the token through askpass and asks for the protections with the API token."""
    from sandbox.forgejo_double import ForgejoDouble

    double = ForgejoDouble(tmp_path / "fj").start()
    try:
        double.add_user("o", admin=True)
        double.create_repo("o", "r", files={"README.md": b"x\n"}, private=True)  # anonymous fetch: refused
        token = double.add_token("o", ["write:issue", "write:repository"])
        pushed = double.git_url("o", "r").replace("http://", f"http://o:{token}@")
        subprocess.run(
            ["git", "-C", str(portal), "push", "-q", "--force", pushed, "main", "v1.0.0", "v1.1.0", "v6.6.6"],
            check=True,
            capture_output=True,
        )
        token_file = tmp_path / "api-token"
        token_file.write_text(token + "\n")
        settings = rt.load_settings(
            settings_for(
                tmp_path,
                portal,
                repo_url=double.git_url("o", "r"),
                require_protected_tag=True,
                forgejo_api_url=f"{double.url}/api/v1",
                forgejo_repo="o/r",
                api_token_file=str(token_file),
            )
        )
        with pytest.raises(rt.Refused) as anonymous:
            rt.commit_on_base(settings, "v1.1.0", "")
        assert anonymous.value.code == rt.EXIT_SETUP and "cannot fetch main" in str(anonymous.value)
        assert rt.commit_on_base(settings, "v1.1.0", token) == git(portal, "rev-parse", "v1.1.0^{commit}")
        with pytest.raises(rt.Refused) as side:
            rt.commit_on_base(settings, "v6.6.6", token)
        assert side.value.code == rt.EXIT_NOT_ON_MAIN
        assert token not in (tmp_path / "cache/check.git/config").read_text()

        assert rt.tag_is_protected(settings, "v1.1.0") is False
        created = subprocess.run(
            [
                "curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json", "-H", f"Authorization: token {token}",
                "-d", json.dumps({"name_pattern": "v*", "whitelist_usernames": ["o"]}),
                f"{double.url}/api/v1/repos/o/r/tag_protections",
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert json.loads(created.stdout)["name_pattern"] == "v*"
        assert rt.tag_is_protected(settings, "v1.1.0") is True
        asked = [r for r in double.api_requests() if r.path.endswith("/tag_protections")]
        assert [r.method for r in asked] == ["GET", "POST", "GET"]
    finally:
        double.stop()


def test_the_askpass_program_must_be_one_only_its_owner_can_change(portal: Path, tmp_path: Path) -> None:
    """git runs the askpass program as root with the token: a missing one, or one others may change,
    is refused before anything is fetched."""
    settings = rt.load_settings(settings_for(tmp_path, portal))
    askpass = Path(settings["askpass"])
    askpass.chmod(0o777)
    with pytest.raises(rt.Refused) as loose:
        rt.commit_on_base(settings, "v1.0.0", TOKEN)
    assert loose.value.code == rt.EXIT_SETUP and "may be changed by others" in str(loose.value)
    askpass.unlink()
    with pytest.raises(rt.Refused) as missing:
        rt.commit_on_base(settings, "v1.0.0", TOKEN)
    assert missing.value.code == rt.EXIT_SETUP and "cannot use the askpass program" in str(missing.value)
    assert not (tmp_path / "cache/check.git").exists()
