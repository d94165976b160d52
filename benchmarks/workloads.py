"""The requests of each side-by-side workload, shared by `make bench` and the in-process run."""

from __future__ import annotations

from typing import Any

from benchmarks import common

BODY = {"role": "user", "content": "The quick brown fox jumps over the lazy dog."}


def requests_for(workload: str, sessions: list[str], headers: dict[str, str]) -> list[Any]:
    """The load generator's request list for one workload (one session per connection)."""
    base = "/api/v1/sessions/{}"
    if workload == "get_session":
        return [common.json_request("GET", base.format(s), headers) for s in sessions]
    if workload == "list_messages":
        path = base + "/messages?limit=50"
        return [common.json_request("GET", path.format(s), headers) for s in sessions]
    if workload == "append":
        path = base + "/messages"
        return [common.json_request("POST", path.format(s), headers, BODY) for s in sessions]
    turn = {"message": "hello bench", "on_busy": "enqueue"}
    sse = {**headers, "Accept": "text/event-stream"}
    return [
        common.json_request("POST", "/api/v1/agent/message/stream", sse, {**turn, "session_id": s})
        for s in sessions
    ]
