"""Ceiling: the same paths answered with constants, i.e. what FastAPI + uvicorn cost here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, status

NOW = datetime.now(UTC).isoformat()
SESSION: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "title": "bench",
    "agent": "default",
    "status": "active",
    "metadata": {},
    "message_count": 60,
    "created_at": NOW,
    "updated_at": NOW,
    "last_message_at": NOW,
}


def message(seq: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "session_id": SESSION["id"],
        "seq": seq,
        "role": "user",
        "content": "The quick brown fox jumps over the lazy dog.",
        "status": "complete",
        "tool_calls": None,
        "tool_call_id": None,
        "run_id": None,
        "client_message_id": None,
        "metadata": {},
        "created_at": NOW,
        "updated_at": NOW,
    }


MESSAGES = [message(seq) for seq in range(1, 51)]
PAGE: dict[str, Any] = {"items": MESSAGES, "next_cursor": None}


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/sessions/{session_id}")
    async def read_session(session_id: uuid.UUID) -> dict[str, Any]:
        return SESSION

    @app.get("/api/v1/sessions/{session_id}/messages")
    async def list_messages(session_id: uuid.UUID, limit: int = 50) -> dict[str, Any]:
        return PAGE

    @app.post("/api/v1/sessions/{session_id}/messages", status_code=status.HTTP_201_CREATED)
    async def append(session_id: uuid.UUID, request: Request) -> dict[str, Any]:
        await request.body()
        return MESSAGES[0]

    return app
