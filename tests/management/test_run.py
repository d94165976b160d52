"""`run SCRIPT`: main(argv) with services, exit codes, and failures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from models import User
from tests.management.conftest import assert_one_line_error, manage
from tests.management.data import orm

WRITER = """
import argparse
from project.scripting import services

async def main(argv):
    parser = argparse.ArgumentParser(prog="writer.py")
    parser.add_argument("names", nargs="+")
    parser.add_argument("--admin", action="store_true")
    options = parser.parse_args(argv)
    for name in options.names:
        issued = await services().users.create_user(name, is_admin=options.admin)
        print("created", issued.user.username)
    return len(options.names)
"""

FAILING = """
async def main(argv):
    if argv == ["exit"]:
        raise SystemExit(4)
    raise RuntimeError("boom in the script")
"""


def test_a_script_writes_through_the_services_and_returns_its_code(
    database_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = manage(database_url, "run", str(script), "ann", "ben", "--admin")
    assert proc.returncode == 2, proc.stderr  # main returned len(names)
    assert proc.stdout.splitlines() == ["created ann", "created ben"]
    assert asyncio.run(_admins(database_url)) == ["ann", "ben"]


async def _admins(database_url: str) -> list[str]:
    async with orm(database_url):
        rows = await User.filter(is_admin=True).order_by("username").values_list("username")
        return [name for (name,) in rows]


def test_failing_scripts_propagate_their_exit_codes(database_url: str, tmp_path: Path) -> None:
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    assert manage(database_url, "run", str(script), "exit").returncode == 4
    crashed = manage(database_url, "run", str(script))
    assert crashed.returncode == 1
    assert "RuntimeError: boom in the script" in crashed.stderr
    assert "failing.py" in crashed.stderr and "run.py" not in crashed.stderr


def test_bad_scripts_are_one_line_errors(sqlite_template_url: str, tmp_path: Path) -> None:
    assert_one_line_error(manage(sqlite_template_url, "run", "nope.py"), "no such script")
    (tmp_path / "sync.py").write_text("def main(argv):\n    return 0\n")
    assert_one_line_error(
        manage(sqlite_template_url, "run", str(tmp_path / "sync.py")), "async def main"
    )
