"""The inside of an agent unit (stdlib only): reset the agent's home, then run the step's command in a
network namespace of its own that reaches nothing but the unix sockets it is given.

``agent-run`` (root) starts, in a transient systemd unit as the agent user::

    python3 -I agent_sandbox.py SPEC.json -- ARGV...

1. **Home.** Everything in the agent's home is removed except its credentials
   (``.claude/.credentials.json``), the clone and the package store; ``.gitconfig`` and ``.npmrc``
   are rewritten from the spec. A hook, a ``settings.json``, a ``CLAUDE.md`` or a script the agent
   left in its home in an earlier run is gone before the next one starts.
2. **Network.** ``unshare --user --map-root-user --net`` gives a namespace whose loopback is its
   own (brought up here); each ``forward`` entry listens on ``127.0.0.1:PORT`` in it and relays to a
   unix socket outside (the model gateway, the test database). Forgejo, production's port 3000 and
   the outside world do not exist in there. Then a nested user namespace maps the agent's own uid
   back, without capabilities, and runs ARGV.

Run without a namespace (``"network": "host"``) only when the spec says so (development).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

KEEP_DEFAULT = (".claude/.credentials.json", ".local/share/pnpm")
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def reset_home(home: Path, keep: list[str], files: dict[str, str]) -> list[str]:
    """Remove everything under ``home`` but the ``keep`` paths (relative; their parents are kept as
    directories) and write ``files``. Symlinks are removed, never followed. Returns what was removed."""
    keep_paths = {Path(k) for k in keep}
    parents = {p for k in keep_paths for p in k.parents if str(p) != "."}
    removed: list[str] = []

    def walk(directory: Path, relative: Path) -> None:
        for entry in sorted(os.listdir(directory)):
            path, rel = directory / entry, relative / entry
            if rel in keep_paths:
                continue
            if rel in parents and path.is_dir() and not path.is_symlink():
                walk(path, rel)
                continue
            removed.append(str(rel))
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()

    walk(home, Path())
    for relative, content in files.items():
        target = home / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        target.chmod(0o600)
    return removed


def loopback_up() -> None:
    """``ip link set lo up`` without iproute2 (we are root in our own user namespace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def _relay(a: socket.socket, b: socket.socket) -> None:
    try:
        while chunk := a.recv(65536):
            b.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock, how in ((b, socket.SHUT_WR), (a, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


def _serve(listener: socket.socket, target: str) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(target)
        except OSError:
            client.close()
            upstream.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_relay, args=(a, b), daemon=True).start()


def start_forwarders(forwards: list[dict]) -> int | None:
    """Bind every forward's port now (so the command finds them), serve them in a child process."""
    if not forwards:
        return None
    listeners = []
    for forward in forwards:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", int(forward["port"])))
        listener.listen(64)
        listeners.append((listener, str(forward["socket"])))
    pid = os.fork()
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        for listener, target in listeners:
            threading.Thread(target=_serve, args=(listener, target), daemon=True).start()
        signal.sigwait({signal.SIGTERM})
        os._exit(0)
    for listener, _ in listeners:
        listener.close()
    return pid


def inner(spec: dict, argv: list[str]) -> int:
    """Root of our own user+network namespace: loopback up, forwarders, then ARGV as the agent's uid."""
    loopback_up()
    forwarder = start_forwarders(spec.get("forward", []))
    try:
        command = [
            "unshare",
            "--user",
            f"--map-user={spec['uid']}",
            f"--map-group={spec['gid']}",
            "--",
            *argv,
        ]
        return subprocess.call(command)
    finally:
        if forwarder:
            os.kill(forwarder, signal.SIGTERM)
            os.waitpid(forwarder, 0)


def main(args: list[str]) -> int:
    stage2 = bool(args) and args[0] == "--inner"
    if stage2:
        args = args[1:]
    if len(args) < 3 or args[1] != "--":
        sys.stderr.write("usage: agent_sandbox.py [--inner] SPEC.json -- ARGV...\n")
        return 2
    spec_path, argv = args[0], args[2:]
    spec = json.loads(Path(spec_path).read_text())
    if stage2:
        return inner(spec, argv)
    if spec.get("resetHome", True):
        reset_home(Path(spec["home"]), list(spec.get("keep", KEEP_DEFAULT)), dict(spec.get("files", {})))
    if spec.get("network", "private") == "host":
        os.execvp(argv[0], argv)  # noqa: S606 - the fixed step argv from agent-run
    python = [sys.executable, "-I", str(Path(__file__).resolve())]
    os.execvp(  # noqa: S606 - fixed argv
        "unshare",
        ["unshare", "--user", "--map-root-user", "--net", "--", *python, "--inner", spec_path, "--", *argv],
    )
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
