"""Plugin tools: the example package, installed by pip, is run; a broken one stops startup."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from project.app import create_app
from services import Services
from tests.databases import REPO_ROOT
from tests.factories import make_session, make_user
from tests.runs_support import API, get_json, stream_message

EXAMPLE = REPO_ROOT / "examples" / "terrapin-text-tools"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, installed by pip into a directory of its own."""
    root = tmp_path_factory.mktemp("plugin")
    # A copy: building the package writes into its source tree.
    source = shutil.copytree(EXAMPLE, root / "source")
    target = root / "site-packages"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    command += ["--no-build-isolation", "--target", str(target), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return target


@pytest.fixture
def app(settings: Settings, installed_example: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    """The app, started where the example plugin is installed."""
    monkeypatch.syspath_prepend(str(installed_example))
    return create_app(settings)


async def test_the_example_plugin_is_discovered_listed_and_run(
    client: httpx.AsyncClient, services: Services
) -> None:
    headers = await make_user(services)
    tools = (await get_json(client, "/tools", headers))["items"]
    assert [tool["name"] for tool in tools] == [
        "calculator",
        "clock",
        "remember",
        "recall",
        "word_count",
    ]
    word_count = tools[-1]
    assert word_count["plugin"] == "terrapin-text-tools"
    assert word_count["side_effects"] is False
    assert word_count["parameters"]["required"] == ["text"]
    assert tools[0]["plugin"] is None

    created = await client.post(
        f"{API}/agents",
        headers=headers,
        json={"name": "counter", "provider": "scripted", "tools": ["word_count"]},
    )
    assert created.status_code == 201, created.text
    session = await make_session(client, headers, agent="counter")
    events = await stream_message(
        client,
        headers,
        session_id=session["id"],
        message='/tool word_count {"text": "one two  three"}',
    )
    result = next(e for e in events if e.type == "tool_result").data
    assert result["result"] == {"words": 3, "characters": 14}
    assert events[-1].data["status"] == "completed"

    # Arguments are checked against the plugin's schema before it runs.
    events = await stream_message(
        client, headers, session_id=session["id"], message='/tool word_count {"text": 5}'
    )
    error = next(e for e in events if e.type == "tool_result").data["error"]
    assert error == "Invalid arguments for word_count: text: 5 is not of type 'string'"

    # The built-in agent offers only the built-in tools.
    plain = await make_session(client, headers)
    events = await stream_message(
        client, headers, session_id=plain["id"], message='/tool word_count {"text": "a"}'
    )
    assert events[-1].type == "error" and events[-1].data["code"] == "unknown_tool"


def broken_plugin(root: Path) -> Path:
    """A directory holding an installed distribution whose plugin tool cannot be imported."""
    dist_info = root / "broken_plugin-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text("[terrapin.tools]\nbroken = no_such_module:tool\n")
    return root


def test_a_broken_plugin_stops_startup_with_one_line(tmp_path: Path) -> None:
    site = broken_plugin(tmp_path / "site")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)]),
        "DATABASE_URL": f"sqlite://{tmp_path / 'terrapin.db'}",
    }
    started = subprocess.run(
        [sys.executable, "-m", "project", "runserver", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode == 1
    assert started.stdout == ""
    assert started.stderr.splitlines() == [
        "terrapin: plugin tool 'broken' (no_such_module:tool) is broken: it cannot be imported: "
        "ModuleNotFoundError: No module named 'no_such_module'"
    ]


def test_create_app_refuses_a_broken_plugin(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(broken_plugin(tmp_path / "site")))
    with pytest.raises(
        SystemExit, match=r"^terrapin: plugin tool 'broken' \(no_such_module:tool\)"
    ):
        create_app(settings)
