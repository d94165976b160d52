"""Status and role enums shared by the models, services and API schemas."""

from __future__ import annotations

from enum import StrEnum


class SessionStatus(StrEnum):
    """Lifecycle of a chat session."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class MessageRole(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class MessageStatus(StrEnum):
    """Whether a message's content is final."""

    COMPLETE = "complete"
    STREAMING = "streaming"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    """The run state machine; the last four are terminal."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING_APPROVAL = "waiting_approval"
    WAITING_FOR_CLIENT = "waiting_for_client"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def is_terminal(self) -> bool:
        """Whether no further transition can happen."""
        return self in TERMINAL_RUN_STATUSES


TERMINAL_RUN_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED}
)


class ToolCallStatus(StrEnum):
    """Progress of one tool call; `in_doubt` means it may have run and is never retried.

    A call of a client-executed tool waits `awaiting_client`, then is `succeeded`
    (the client answered), `failed` (the wait expired) or `rejected` (cancelled).
    """

    PROPOSED = "proposed"
    AWAITING_CLIENT = "awaiting_client"
    APPROVED = "approved"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REJECTED = "rejected"
    IN_DOUBT = "in_doubt"


class ApprovalStatus(StrEnum):
    """State of a human-in-the-loop approval request."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class EventType(StrEnum):
    """The type of a run event: the `event:` field of its SSE frame."""

    RUN = "run"
    MESSAGE = "message"
    DELTA = "delta"
    TOOL_CALL = "tool_call"
    APPROVAL_REQUIRED = "approval_required"
    APPROVAL_DECIDED = "approval_decided"
    CLIENT_TOOL_CALL = "client_tool_call"
    TOOL_RESULT = "tool_result"
    DONE = "done"
    ERROR = "error"

    @property
    def is_terminal(self) -> bool:
        """Whether this event ends the run's log."""
        return self in TERMINAL_EVENT_TYPES


TERMINAL_EVENT_TYPES = frozenset({EventType.DONE, EventType.ERROR})
ACTIVE_RUN_STATUSES = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.WAITING_APPROVAL,
    RunStatus.WAITING_FOR_CLIENT,
)
# Messages the model may read: finished ones, and the partial text of stopped ones.
READABLE_MESSAGE_STATUSES = frozenset(
    {MessageStatus.COMPLETE, MessageStatus.INTERRUPTED, MessageStatus.CANCELLED}
)
