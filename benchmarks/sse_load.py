"""Many concurrent agent runs over SSE, run in its own process.

`python -m benchmarks.sse_load SPEC.json` reads {"host", "port", "headers",
"sessions": [...], "timeout"}, opens one connection per session, and POSTs
`/api/v1/agent/message/stream` on all of them at once (released together by
one event after every connection is open). Each client reads the stream to
the terminal `done` event and checks it: event ids 1..n contiguous, `done`
last, and for every assistant message the concatenated `delta` texts equal
the final `message` event's content. It prints one JSON summary.

Timings (milliseconds, per event, all runs pooled):
- gap: time since the previous event of the same run arrived (for the first
  event, since the request was written). This is the "event latency" that
  the target (p95 < 100 ms) is checked against.
- since_start: time since the request was written.

The client is raw asyncio streams (uvloop when installed), not httpx, so
that 1,000 streams cost the load process as little CPU as possible.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections import Counter
from typing import Any

from benchmarks import eventloop
from benchmarks.loadgen import encode_request, percentile

TERMINAL = {"done", "error"}  # services.events.TERMINAL_EVENTS


class RunResult:
    """What one client saw."""

    def __init__(self) -> None:
        self.events: list[tuple[int | None, str, dict[str, Any]]] = []
        self.gaps: list[float] = []
        self.since_start: list[float] = []
        self.error: str | None = None
        self.status = 0
        self.duration = 0.0


def parse_event(block: str) -> tuple[int | None, str, dict[str, Any]]:
    """Parse one SSE event block into (id, event name, JSON data)."""
    ident, name, data = None, "message", []
    for line in block.split("\n"):
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "id":
            ident = int(value)
        elif field == "event":
            name = value
        elif field == "data":
            data.append(value)
    payload = json.loads("\n".join(data)) if data else {}
    return ident, name, payload


async def read_stream(reader: asyncio.StreamReader, result: RunResult, started: float) -> bool:
    """Read chunked SSE events into `result` until `done` or the end; True if `done` came."""
    buffer, last = "", started
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return False
        now = time.perf_counter()
        buffer += chunk[:-2].decode()
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            if not block.strip() or block.startswith(":"):
                continue  # keep-alive comment
            event = parse_event(block)
            result.events.append(event)
            result.gaps.append(now - last)
            result.since_start.append(now - started)
            last = now
            if event[1] in TERMINAL:
                return True


async def resume(
    host: str, port: int, headers: dict[str, str], first: RunResult, limit_s: float
) -> RunResult:
    """Reconnect to a run that ended without `done`: GET /runs/{id}/events after its last id."""
    result = RunResult()
    run_id = first.events[0][2].get("run_id")
    last_id = first.events[-1][0]
    request = {
        "method": "GET",
        "path": f"/api/v1/runs/{run_id}/events",
        "headers": {**headers, "Last-Event-ID": str(last_id)},
        "body": None,
    }
    writer = None
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(encode_request(host, port, request))
        async with asyncio.timeout(limit_s):
            head = await reader.readuntil(b"\r\n\r\n")
            result.status = int(head.split(b" ", 2)[1])
            if result.status == 200:
                await read_stream(reader, result, time.perf_counter())
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        result.error = type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
    return result


async def one_run(
    host: str, port: int, payload: bytes, go: asyncio.Event, limit_s: float
) -> RunResult:
    """Open a connection, wait for `go`, send the request, read to `done`."""
    result = RunResult()
    writer = None
    try:
        reader, writer = await asyncio.open_connection(host, port)
        await go.wait()
        started = time.perf_counter()
        writer.write(payload)
        async with asyncio.timeout(limit_s):
            head = await reader.readuntil(b"\r\n\r\n")
            result.status = int(head.split(b" ", 2)[1])
            if result.status != 200:
                result.error = f"http_{result.status}"
                return result
            done = await read_stream(reader, result, started)
            result.duration = time.perf_counter() - started
            if not done:
                result.error = "stream_ended_without_terminal_event"
    except TimeoutError:
        result.error = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        result.error = type(exc).__name__
    finally:
        if writer is not None:
            writer.close()
    return result


def check(result: RunResult) -> str | None:
    """None if the run's events are complete and consistent, else what is wrong."""
    ids = [ident for ident, _, _ in result.events]
    if ids != list(range(1, len(ids) + 1)):
        return "ids_not_contiguous"
    if not result.events or result.events[-1][1] not in TERMINAL:
        return "terminal_not_last"
    if result.events[-1][1] == "error":
        return "run_error_event"
    if result.events[-1][2].get("status") != "completed":  # done, but not completed
        return f"done_status_{result.events[-1][2].get('status')}"
    deltas: dict[str, str] = {}
    finals: dict[str, str] = {}
    for _, name, data in result.events:
        if name == "delta":
            deltas[data["message_id"]] = deltas.get(data["message_id"], "") + data["text"]
        elif name == "message" and data.get("role") == "assistant":
            finals[data["id"]] = data["content"]
    if not finals:
        return "no_assistant_message"
    for message_id, content in finals.items():
        if deltas.get(message_id, "") != content:
            return "deltas_differ_from_message"
    return None


def ms_summary(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    ms = sorted(value * 1000 for value in values)
    return {
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(ms[-1], 1) if ms else 0.0,
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run every session's turn at once and summarise."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = len(spec["sessions"]) + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    host, port = spec["host"], int(spec["port"])
    headers = {**spec["headers"], "Accept": "text/event-stream", "Connection": "close"}
    headers["Content-Type"] = "application/json"
    go = asyncio.Event()
    tasks = []
    for session_id in spec["sessions"]:
        body = json.dumps({"message": "hello bench", "session_id": session_id})
        request = {"method": "POST", "path": "/api/v1/agent/message/stream"}
        payload = encode_request(host, port, {**request, "headers": headers, "body": body})
        tasks.append(asyncio.create_task(one_run(host, port, payload, go, float(spec["timeout"]))))
    await asyncio.sleep(0.5)  # let the connections open before the burst
    started = time.perf_counter()
    go.set()
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    problems: Counter[str] = Counter()
    complete = 0
    for result in results:
        problem = result.error or check(result)
        if problem is None:
            complete += 1
        else:
            problems[problem] += 1
    # Runs whose stream ended without a terminal event: is `done` in the log (a reconnect gets it)?
    broken = [r for r in results if r.error == "stream_ended_without_terminal_event" and r.events]
    resumed = await asyncio.gather(*(resume(host, port, headers, r, 30.0) for r in broken))
    recovered = sum(1 for r in resumed if r.events and r.events[-1][1] in TERMINAL)
    gaps = [gap for result in results for gap in result.gaps]
    since = [value for result in results for value in result.since_start]
    firsts = [result.since_start[0] for result in results if result.since_start]
    return {
        "runs": len(results),
        "complete": complete,
        "problems": dict(problems),
        "no_terminal_runs_whose_terminal_a_reconnect_got": recovered,
        "no_terminal_event_counts": dict(Counter(len(r.events) for r in broken)),
        "events": sum(len(result.events) for result in results),
        "wall_s": round(wall, 2),
        "gap": ms_summary(gaps),
        "since_start": ms_summary(since),
        "first_event": ms_summary(firsts),
        "run_duration": ms_summary([r.duration for r in results if r.duration]),
    }


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    print(json.dumps(eventloop.run(run(spec))))


if __name__ == "__main__":
    main()
