"""Shells and scripts write while a real server writes, on one SQLite file: no lock errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.databases import REPO_ROOT
from tests.management.conftest import last_line, manage

WRITER = """
from project.scripting import services

async def main(argv):
    for i in range(int(argv[0])):
        await services().users.create_user(f"script-{i}")
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_scripts_and_server_share_a_sqlite_file(sqlite_template_url: str, tmp_path: Path) -> None:
    url = sqlite_template_url
    token = last_line(manage(url, "createuser", "web").stdout)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "TERRAPIN_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "project", "runserver", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            _wait_ready(http)
            runner = subprocess.Popen(
                [sys.executable, "-m", "project", "run", str(script), "150"],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            statuses: list[int] = []
            while runner.poll() is None or len(statuses) < 20:
                made = http.post("/api/v1/sessions", json={"title": "t"})
                statuses.append(made.status_code)
                if made.status_code == 201:
                    sid = made.json()["id"]
                    sent = http.post(
                        f"/api/v1/sessions/{sid}/messages", json={"role": "user", "content": "x"}
                    )
                    statuses.append(sent.status_code)
            _, script_err = runner.communicate(timeout=60)
        assert runner.returncode == 0, script_err
        assert set(statuses) == {201}, statuses
        counted = manage(url, "shell", "-c", "await User.all().count()")
        assert last_line(counted.stdout) == "151"
    finally:
        server.terminate()
        _, server_err = server.communicate(timeout=30)
    assert server.returncode == 0, server_err
    assert "locked" not in server_err + script_err


def _wait_ready(http: httpx.Client) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if http.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("the server did not start")
