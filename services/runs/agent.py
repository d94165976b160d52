"""Connect the agent runtime to persisted state: the tool context and the turns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from agent import ChatTurn, ToolFailed, ToolOutcome
from agent.tools.registry import DEFAULT_TOOL_NAMES
from core.errors import PayloadTooLarge, UnprocessableEntity
from core.settings import Settings, SettingsError, env_name
from services.sessions import AgentContextManager


def check_agent_settings(settings: Settings) -> None:
    """Raise SettingsError, naming the variable and the tools, for a tool that does not exist."""
    unknown = sorted(settings.tools_requiring_approval - set(DEFAULT_TOOL_NAMES))
    if unknown:
        raise SettingsError(
            f"invalid setting {env_name('tools_requiring_approval')}: "
            f"unknown tool {', '.join(unknown)}; the tools are {', '.join(DEFAULT_TOOL_NAMES)}"
        )


class SessionToolContext:
    """A session's agent context as tools see it (writes go through the manager)."""

    def __init__(self, session_id: UUID, contexts: AgentContextManager) -> None:
        self._session_id = session_id
        self._contexts = contexts

    async def get_context(self) -> dict[str, Any]:
        """Return the session's context data."""
        return dict((await self._contexts.get(self._session_id)).data)

    async def set_context_key(self, key: str, value: Any) -> None:
        """Set one key, bumping the context version; a refused write fails the tool call."""
        try:
            await self._contexts.set_key(self._session_id, key, value)
        except (UnprocessableEntity, PayloadTooLarge) as exc:
            raise ToolFailed(exc.detail) from None


# What the model reads for a call whose result was never stored (data from before
# every run's end answered its calls).
NO_RESULT_MESSAGE = "No result was recorded for this tool call."


def to_turns(messages: Sequence[dict[str, Any]], run_id: UUID) -> list[ChatTurn]:
    """Convert the history window of run `run_id` to the turns its model round is sent.

    The model reads the conversation in the order it happened, and every
    tool call answered right after it (as Chat Completions requires):
    - a queued run's input is read after the replies of the runs before it
      (`_in_start_order`);
    - each call's result follows its call, messages stored in between come
      after the results, and a call with no result gets a synthetic error
      (`_paired`).
    """
    ordered = _in_start_order(list(messages), run_id)
    turns = [
        ChatTurn(
            role=str(message["role"]),
            content=message["content"],
            tool_calls=message["tool_calls"],
            tool_call_id=message["tool_call_id"],
        )
        for message in ordered
    ]
    return _paired(turns)


def _in_start_order(messages: list[dict[str, Any]], run_id: UUID) -> list[dict[str, Any]]:
    """Move each queued run's input after what earlier runs wrote before the run started.

    A run's input is stored when it is sent, but with `on_busy=enqueue` the
    run starts only once the session's active run has ended: the model must
    read that run's replies before the input, which then closes the window
    (the current run) or precedes the run's own first reply.
    """
    ordered = list(messages)
    for message in messages:
        owner = message["run_id"]
        if owner is None or message["role"] != "user" or not _starts_run(ordered, message):
            continue  # not a run's input (or its input fell outside the window)
        start = ordered.index(message)
        end = _next_of_run(ordered, owner, start)
        if end is None and owner != run_id:
            continue  # a run that never replied (cancelled while queued) is left where it was
        stop = len(ordered) if end is None else end
        earlier = [i for i in range(start + 1, stop) if _written_by_another_run(ordered[i], owner)]
        if earlier:
            ordered.insert(earlier[-1] + 1, message)
            del ordered[start]
    return ordered


def _starts_run(messages: list[dict[str, Any]], message: dict[str, Any]) -> bool:
    """Whether `message` is the first its run wrote in the window."""
    first = next(other for other in messages if other["run_id"] == message["run_id"])
    return first is message


def _next_of_run(messages: list[dict[str, Any]], run_id: UUID, after: int) -> int | None:
    """The position of the run's next message after position `after`, if any."""
    return next(
        (i for i in range(after + 1, len(messages)) if messages[i]["run_id"] == run_id), None
    )


def _written_by_another_run(message: dict[str, Any], run_id: UUID) -> bool:
    """A reply or tool result of another run (a queued run's input is not: it moves itself)."""
    return message["run_id"] not in (None, run_id) and message["role"] != "user"


def _paired(turns: list[ChatTurn]) -> list[ChatTurn]:
    """Put each tool call's result right after its assistant turn.

    A tool turn answers the latest call with its id that is still open; a
    tool turn answering nothing open (its call fell outside the window, or
    it repeats an answer) is left out, and a call left open gets an error
    result saying none was recorded.
    """
    blocks: list[tuple[ChatTurn, list[ChatTurn | None]]] = []
    open_calls: dict[str, tuple[list[ChatTurn | None], int]] = {}
    for turn in turns:
        if turn.role == "tool":
            slot = open_calls.pop(turn.tool_call_id or "", None)
            if slot is not None:
                answers, index = slot
                answers[index] = turn
            continue
        results: list[ChatTurn | None] = []
        for call in turn.tool_calls or []:
            open_calls[str(call.get("id"))] = (results, len(results))
            results.append(None)
        blocks.append((turn, results))
    paired: list[ChatTurn] = []
    for turn, results in blocks:
        paired.append(turn)
        for call, result in zip(turn.tool_calls or [], results, strict=True):
            paired.append(result or _no_result(call))
    return paired


def _no_result(call: dict[str, Any]) -> ChatTurn:
    """The synthetic result of a call that has none."""
    failure = ToolOutcome.failure(NO_RESULT_MESSAGE)
    return failure.to_turn(str(call.get("id")), str(call.get("name", "tool")))
