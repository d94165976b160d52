"""Real server processes for end-to-end tests: `python -m project runserver`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.databases import REPO_ROOT


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a child process on `database_url`."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TERRAPIN_TOKEN_DELAY_MS": "0",
        "TERRAPIN_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def manage(database_url: str, *args: str) -> str:
    """Run `python -m project ARGS` to completion; return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-m", "project", *args],
        cwd=REPO_ROOT,
        env=server_env(database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def create_token(database_url: str, name: str, *, admin: bool = False) -> str:
    """Create a user with the real `createuser` command; return its token."""
    out = manage(database_url, "createuser", name, *(["--admin"] if admin else []))
    return out.strip().splitlines()[-1]


@dataclass
class Server:
    """A running `runserver` process."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log.read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        """Send SIGTERM and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def start_server(database_url: str, log: Path, **env: str) -> Server:
    """Start `python -m project runserver` on a free port (not yet ready)."""
    port = free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "project", "runserver", "--port", str(port)],
            cwd=REPO_ROOT,
            env=server_env(database_url, **env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Server(proc, f"http://127.0.0.1:{port}", log)


def is_ready(server: Server) -> bool:
    """Probe /readyz once; fail loudly if the process died."""
    if server.proc.poll() is not None:
        raise AssertionError(f"server exited {server.proc.returncode}:\n{server.output()}")
    try:
        return httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_ready_blocking(server: Server, timeout: float = 30) -> float:
    """Poll /readyz (for sync tests); return the seconds it took."""
    started = time.monotonic()
    while not is_ready(server):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"server not ready in {timeout}s:\n{server.output()}")
        time.sleep(0.02)
    return time.monotonic() - started


@contextmanager
def running_server(database_url: str, log: Path, **env: str) -> Iterator[Server]:
    """A ready server, stopped (SIGTERM, then SIGKILL) on exit."""
    server = start_server(database_url, log, **env)
    try:
        wait_ready_blocking(server)
        yield server
    finally:
        try:
            server.terminate(timeout=30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()
