"""Closed-loop HTTP/1.1 load generator, run in its own process.

`python -m benchmarks.loadgen SPEC.json` reads a spec, opens `concurrency`
keep-alive connections, and has each one send its requests back to back:
first for `warmup` seconds (not recorded), then for `duration` seconds. It
prints one JSON object: requests, errors (by kind), rps and latency
percentiles in milliseconds.

The client is a few lines on asyncio streams (uvloop when installed) rather
than httpx, so that the load generator costs as little CPU as possible on a
machine it shares with the server and the database.

Spec: {"host", "port", "concurrency", "warmup", "duration",
       "requests": [{"method", "path", "headers": {..}, "body": str|null}, ...]}
Connection k sends `requests[k % len(requests)]` every time, so a list of one
request per session spreads clients over sessions.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

from benchmarks import eventloop


def encode_request(host: str, port: int, spec: dict[str, Any]) -> bytes:
    """Serialise one request (keep-alive) to bytes."""
    body = (spec.get("body") or "").encode()
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1", f"Host: {host}:{port}"]
    for name, value in (spec.get("headers") or {}).items():
        lines.append(f"{name}: {value}")
    if body or spec["method"] in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, keep_alive = 0, False, True
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            keep_alive = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep_alive


class Recorder:
    """Latencies and errors of the measured window."""

    def __init__(self) -> None:
        self.recording = False
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()

    def record(self, seconds: float, error: str | None) -> None:
        if not self.recording:
            return
        if error is None:
            self.latencies.append(seconds)
        else:
            self.errors[error] += 1


async def client(host: str, port: int, payload: bytes, rec: Recorder, stop: asyncio.Event) -> None:
    """Send `payload` back to back on one connection until `stop` is set."""
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while not stop.is_set():
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            writer.write(payload)
            status, keep_alive = await read_response(reader)
            rec.record(time.perf_counter() - started, None if status < 400 else f"http_{status}")
            if not keep_alive:
                writer.close()
                writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            rec.record(time.perf_counter() - started, type(exc).__name__)
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the spec and return the summary."""
    host, port = spec["host"], int(spec["port"])
    payloads = [encode_request(host, port, r) for r in spec["requests"]]
    rec, stop = Recorder(), asyncio.Event()
    tasks = [
        asyncio.create_task(client(host, port, payloads[k % len(payloads)], rec, stop))
        for k in range(int(spec["concurrency"]))
    ]
    await asyncio.sleep(float(spec["warmup"]))
    rec.recording = True
    started = time.perf_counter()
    await asyncio.sleep(float(spec["duration"]))
    rec.recording = False
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.wait(tasks, timeout=30)
    lat = sorted(rec.latencies)
    ms = [value * 1000 for value in lat]
    return {
        "requests": len(lat),
        "errors": sum(rec.errors.values()),
        "error_kinds": dict(rec.errors),
        "seconds": round(elapsed, 3),
        "rps": round(len(lat) / elapsed, 1),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "max_ms": round(ms[-1], 2) if ms else 0.0,
    }


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    print(json.dumps(eventloop.run(run(spec))))


if __name__ == "__main__":
    main()
