"""Shared benchmark plumbing: scratch databases, server processes, the load generator.

The harness itself is plain synchronous code: it starts processes, waits for
them and collects their output, and none of it runs inside the servers it
measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
CONCURRENCY = 64


def free_port() -> int:
    """Return a TCP port that is free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_database(url: str, name: str, *, port: int | None = None) -> str:
    """Return `url` pointing at database `name` (and optionally another port)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if port is not None:
        netloc = f"{netloc.rsplit(':', 1)[0]}:{port}"
    return urlunsplit((parts.scheme, netloc, f"/{name}", parts.query, parts.fragment))


def asyncpg_dsn(url: str) -> str:
    """Return a DSN asyncpg accepts for a Tortoise-style URL."""
    return url.replace("postgres://", "postgresql://", 1)


def _admin(sql: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(PG_ADMIN_URL))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def pg_available() -> str | None:
    """None if the benchmark PostgreSQL answers, else why not."""
    try:
        _admin("SELECT 1")
    except Exception as exc:  # any failure means "skip the PostgreSQL cells"
        return f"{type(exc).__name__}: {exc}"
    return None


@contextlib.contextmanager
def scratch_database(dialect: str) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop or delete it afterwards."""
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory(prefix="terrapin-bench-") as folder:
            yield f"sqlite://{folder}/bench.db"
        return
    name = f"terrapin_bench_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(PG_ADMIN_URL, name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(args: list[str], env: dict[str, str]) -> str:
    """Run `python -m project ARGS` and return its stdout (raise on failure)."""
    proc = subprocess.run(
        [sys.executable, "-m", "project", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"`project {' '.join(args)}` failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@dataclass
class Server:
    """A server process listening on 127.0.0.1:port."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/healthz", timeout: float = 60) -> None:
        """Poll `path` until it answers 200, or fail with the server's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.base_url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log_path.read_text()}")

    def stop(self) -> int | None:
        """SIGTERM the process and wait for it (SIGKILL after 30 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_process(name: str, argv: list[str], env: dict[str, str], port: int) -> Server:
    """Start `argv` in the repo root with its output going to a log file."""
    log = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(name, port, process, log)


# The one bench user stands for many users: the per-user limits would measure themselves.
NO_PER_USER_LIMITS: dict[str, Any] = {
    "rate_limit_per_minute": 0,
    "max_runs_in_flight_per_user": 10_000,
    "max_queued_runs_per_user": 10_000,
}


def terrapin_env(database_url: str, **settings: Any) -> dict[str, str]:
    """Environment for a Terrapin process: the database plus TERRAPIN_* settings."""
    env = {"DATABASE_URL": database_url, "TERRAPIN_LOG_LEVEL": "WARNING"}
    for key, value in {**NO_PER_USER_LIMITS, **settings}.items():
        env[f"TERRAPIN_{key.upper()}"] = str(value)
    return env


@contextlib.contextmanager
def terrapin_server(database_url: str, **settings: Any) -> Iterator[Server]:
    """Migrate, create a user, and serve Terrapin the way a user does."""
    env = terrapin_env(database_url, **settings)
    manage(["migrate"], env)
    token = manage(["createuser", "bench"], env).strip().splitlines()[-1]
    port = free_port()
    argv = [sys.executable, "-m", "project", "runserver", "--port", str(port)]
    server = start_process("terrapin", argv, env, port)
    server.headers = {"Authorization": f"Bearer {token}"}
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def create_sessions(server: Server, count: int) -> list[str]:
    """Create `count` sessions over HTTP and return their ids."""
    ids = []
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=30) as http:
        for number in range(count):
            response = http.post("/api/v1/sessions", json={"title": f"bench {number}"})
            response.raise_for_status()
            ids.append(response.json()["id"])
    return ids


def run_load(
    server: Server,
    requests: list[dict[str, Any]],
    *,
    warmup: float,
    duration: float,
    concurrency: int = CONCURRENCY,
) -> dict[str, Any]:
    """Run the load generator process against `server`; return its summary."""
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "concurrency": concurrency,
        "warmup": warmup,
        "duration": duration,
        "requests": requests,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.loadgen", handle.name],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=warmup + duration + 120,
            check=True,
        )
    finally:
        os.unlink(handle.name)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def json_request(
    method: str, path: str, headers: dict[str, str], body: Any = None
) -> dict[str, Any]:
    """A load-generator request spec with a JSON body."""
    all_headers = {**headers, "Content-Type": "application/json"}
    return {
        "method": method,
        "path": path,
        "headers": all_headers,
        "body": None if body is None else json.dumps(body),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write `payload` as benchmarks/results/NAME-<timestamp>.json."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


def machine() -> str:
    """One line describing the machine the figures come from."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"
