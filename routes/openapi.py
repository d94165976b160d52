"""The OpenAPI document: shared components, and what the event streams carry.

FastAPI builds the document from the routes. Two things it cannot say by
itself are added here, once, when the document is first asked for: the
problem schema every error response refers to, and the events of the
`text/event-stream` answers (FastAPI only knows they are SSE frames).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from routes.event_schemas import EVENT_DATA
from routes.problems import PROBLEM_COMPONENTS, SCHEMA_REF

EVENT_STREAM = "text/event-stream"
STREAM_DESCRIPTION = (
    "Server-Sent Events, one per run event, until the run ends: "
    + ", ".join(f"`{event_type}`" for event_type in EVENT_DATA)
    + ". Each frame's `data` is one line of JSON; the item schema gives it per event type."
)


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the completed document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(build())  # FastAPI keeps the document it built in app.openapi_schema
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook


def complete(document: dict[str, Any]) -> None:
    """Add the shared components and describe every event stream's items."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(PROBLEM_COMPONENTS)
    for name, schema in event_components().items():
        schemas.setdefault(name, schema)  # FastAPI's own definition of a shared model wins
    for path in document.get("paths", {}).values():
        for operation in path.values():
            ok = operation.get("responses", {}).get("200", {})
            if EVENT_STREAM in ok.get("content", {}):
                ok["content"][EVENT_STREAM] = {"itemSchema": event_item_schema()}
                # Viewers of OpenAPI 3.1 (Swagger UI) ignore `itemSchema`: name the events here.
                ok["description"] = STREAM_DESCRIPTION


def event_components() -> dict[str, Any]:
    """The JSON schemas of the event payloads, as OpenAPI components."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "serialization") for model in EVENT_DATA.values()
    ]
    _, top = models_json_schema(models, ref_template=SCHEMA_REF + "{model}")
    components: dict[str, Any] = top.get("$defs", {})
    return components


def event_item_schema() -> dict[str, Any]:
    """One SSE frame of a run's stream: one variant per event type."""
    return {
        "description": (
            "One run event. `data` is one line of JSON whose schema depends on `event`; "
            "`id` is the event's number in the run's log (send it back as Last-Event-ID). "
            "Comment lines (`: ping`) keep an idle connection open."
        ),
        "oneOf": [
            {
                "title": f"{event_type} event",
                "type": "object",
                "required": ["event", "id", "data"],
                "properties": {
                    "event": {"const": str(event_type)},
                    "id": {"type": "string", "pattern": "^[0-9]+$"},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"$ref": SCHEMA_REF + model.__name__},
                    },
                },
            }
            for event_type, model in EVENT_DATA.items()
        ],
    }
