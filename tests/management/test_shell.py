"""The async shell: `-c`, piped stdin, and the interactive shells on a real terminal."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import pytest

from models import User
from tests.databases import REPO_ROOT, SqliteTemplate
from tests.management.conftest import last_line, manage
from tests.management.data import orm


def test_c_prints_the_awaited_value_last(database_url: str) -> None:
    proc = manage(database_url, "shell", "-c", "await ChatSession.all().count()")
    assert proc.returncode == 0, proc.stderr
    assert last_line(proc.stdout) == "0"
    unawaited = manage(database_url, "shell", "-c", "x = 20\nUser.all().count()")
    assert last_line(unawaited.stdout) == "0"  # an awaitable value is awaited


def test_piped_statements_write_through_the_services(database_url: str) -> None:
    script = (
        "issued = await users.create_user('carol')\n"
        "async with in_transaction():\n"
        "    await User.filter(username='carol').update(is_admin=True)\n"
        "print('made', issued.prefix[:3])\n"
        "await User.filter(is_admin=True).values_list('username', flat=True)\n"
    )
    proc = manage(database_url, "shell", stdin=script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["made tp_", "['carol']"]
    assert asyncio.run(_admins(database_url)) == ["carol"]


async def _admins(database_url: str) -> list[str]:
    async with orm(database_url):
        # flat=True gives the values themselves; tortoise types every values_list as tuples
        return cast(list[str], await User.filter(is_admin=True).values_list("username", flat=True))


def test_an_error_in_shell_code_shows_its_traceback_and_exits_1(database_url: str) -> None:
    proc = manage(database_url, "shell", "-c", "1/0")
    assert proc.returncode == 1
    assert proc.stderr.startswith("Traceback") and 'File "<shell>"' in proc.stderr
    assert "console.py" not in proc.stderr  # only the operator's frames


@pytest.mark.parametrize("interface", ["ipython", "python"])
def test_interactive_shell_awaits_and_exits_cleanly(
    sqlite_template: SqliteTemplate, tmp_path: Path, interface: str
) -> None:
    """On a real terminal: top-level await works and `exit` ends the process.

    SQLite only: that is where connections closed at exit instead of in
    `finally` hang the process (see the shell command's docstring).
    """
    url = sqlite_template.clone(tmp_path)
    line = b"str(await User.all().count()).join('<>')\r"
    output, code = _drive_tty(url, interface, line, b"<0>", b"exit()\r")
    assert code == 0, output
    assert "models:   User, ApiToken" in output and "services:" in output


def _drive_tty(
    database_url: str, interface: str, line: bytes, expect: bytes, leave: bytes
) -> tuple[str, int | None]:
    master, slave = pty.openpty()
    env = {**os.environ, "DATABASE_URL": database_url, "TERM": "dumb"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "project", "shell", "-i", interface],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO_ROOT,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        prompt = b"In [1]" if interface == "ipython" else b">>> "
        assert _read_until(master, seen, prompt), seen.decode(errors="replace")
        os.write(master, line)
        assert _read_until(master, seen, expect), seen.decode(errors="replace")
        os.write(master, leave)
        code: int | None = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return seen.decode(errors="replace"), code


def _read_until(fd: int, seen: bytearray, pattern: bytes, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return False
        seen += chunk
        if b"\x1b[6n" in chunk:  # prompt_toolkit asks where the cursor is
            os.write(fd, b"\x1b[1;1R")
        if pattern in seen:
            return True
    return False
