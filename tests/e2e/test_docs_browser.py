"""/docs in a real browser, against a real server, with every other host unreachable."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests import databases
from tests.e2e.server import running_server

pytestmark = pytest.mark.slow

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(BROWSER is None, reason="no Chromium here (Debian: apt-get install chromium)")
def test_swagger_ui_renders_every_operation_offline(
    sqlite_template: databases.SqliteTemplate, tmp_path: Path
) -> None:
    assert BROWSER is not None
    database_url = sqlite_template.clone(tmp_path)
    with running_server(database_url, tmp_path / "server.log") as server:
        paths = set(httpx.get(f"{server.base_url}/openapi.json").json()["paths"])
        dom = subprocess.run(
            [
                BROWSER,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                # Offline: only the server itself resolves (Swagger UI came from a CDN).
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=10000",
                "--dump-dom",
                f"{server.base_url}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert "/api/v1/runs/{run_id}/events" in rendered, dom[:2000]
    assert rendered == paths
    assert "Failed to load API definition" not in dom
