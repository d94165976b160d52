"""The persisted steps of a run: a model round, tool calls and their outcomes.

Each method writes one fact and emits its event; the executor strings them
together. Nothing here keeps state between calls, so a run resumes from the
database alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from tortoise.transactions import in_transaction

from agent import (
    AssistantMessage,
    RunError,
    RunFinished,
    TextDelta,
    ToolCallRequested,
    ToolOutcome,
    Usage,
)
from core.clock import utcnow
from core.database import Database
from core.settings import Settings
from models import (
    IN_DOUBT_MESSAGE,
    Approval,
    EventType,
    Message,
    Run,
    RunEvent,
    ToolCall,
    ToolCallStatus,
)
from models.locks import lock_in_id_order
from services.agents import AgentRuntimes
from services.events import EventLog
from services.events.payloads import approval_required_data, client_tool_call_data
from services.runs.agent import SessionToolContext, to_turns
from services.runs.answers import answer, recorded_outcome
from services.runs.assistant import AssistantStream, ReadAhead
from services.runs.sanitize import storable_call, storable_error, storable_outcome
from services.sessions import AgentContextManager


@dataclass
class RoundResult:
    """How a model round ended."""

    finished: bool = False
    error: RunError | None = None
    tool_calls: list[ToolCallRequested] = field(default_factory=list)


class RunSteps:
    """The steps a run takes; the executor decides their order."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        events: EventLog,
        agents: AgentRuntimes,
        contexts: AgentContextManager,
        on_usage: Callable[[str, Usage], None] | None = None,
    ) -> None:
        self._database = database
        self._events = events
        self._agents = agents
        self._contexts = contexts
        self._on_usage = on_usage
        self._coalesce = settings.delta_coalesce_ms / 1000
        self._approval_ttl = timedelta(seconds=settings.approval_ttl_seconds)
        self._client_tool_ttl = timedelta(seconds=settings.client_tool_ttl_seconds)

    async def model_round(self, run: Run) -> RoundResult:
        """Ask the model once; persist its text and usage; return its tool calls or how it ended."""
        agent = await self._agents.for_run(run)
        session_id = run.session_id
        window = await Message.history_window(
            self._database, session_id, run.id, agent.history_window
        )
        stream = AssistantStream(self._database, run, self._events, self._coalesce)
        result = RoundResult()
        events = ReadAhead(agent.runner.step(to_turns(window, run.id)))
        try:
            while (event := await stream.next_event(events)) is not None:
                if isinstance(event, TextDelta):
                    await stream.add(event.text)
                elif isinstance(event, Usage):
                    await self._count_usage(run, event)
                elif isinstance(event, AssistantMessage):
                    await stream.finish(event)
                elif isinstance(event, ToolCallRequested):
                    result.tool_calls.append(event)
                elif isinstance(event, RunFinished):
                    result.finished = True
                elif isinstance(event, RunError):
                    await stream.flush()
                    result.error = storable_error(event)
        except asyncio.CancelledError:
            await asyncio.shield(stream.checkpoint())  # keep the partial text
            raise
        finally:
            await events.aclose()
        return result

    async def _count_usage(self, run: Run, usage: Usage) -> None:
        """Add a round's tokens to the run (and to the metrics by agent)."""
        if not (usage.prompt_tokens or usage.completion_tokens):
            return
        await Run.add_usage(self._database, run.id, usage.prompt_tokens, usage.completion_tokens)
        if self._on_usage is not None:
            self._on_usage(run.agent, usage)

    async def first_unanswered_call(self, run: Run) -> ToolCall | None:
        """The run's first tool call whose outcome the model has not been given yet."""
        return await ToolCall.first_unanswered(self._database, run.id)

    async def knows_tool(self, run: Run, name: str) -> bool:
        """Whether the run's agent has a tool of this name (on the server or the client)."""
        return (await self._agents.for_run(run)).runner.registry.knows(name)

    async def unknown_tool(self, run: Run, call: ToolCall) -> str:
        """The error message for a call of a tool that the run's agent does not have."""
        tools = ", ".join((await self._agents.for_run(run)).runner.registry.names())
        return f"Unknown tool {call.tool!r}; the tools are: {tools}."

    async def propose_tool_call(self, run: Run, request: ToolCallRequested) -> None:
        """Record a requested tool call; ask for approval, or the client, when it needs one."""
        registry = (await self._agents.for_run(run)).runner.registry
        request, refused = storable_call(request)
        status, error, expires_at = ToolCallStatus.APPROVED, None, None
        if not registry.knows(request.tool):
            status, error = ToolCallStatus.FAILED, f"Unknown tool: {request.tool!r}"
        elif refused is not None:  # reported to the model like a schema violation
            status, error = ToolCallStatus.FAILED, refused
        else:
            try:
                registry.validate(request.tool, request.arguments)
            except Exception as exc:  # InvalidToolArguments: reported to the model, not run
                status, error = ToolCallStatus.FAILED, getattr(exc, "message", str(exc))
        needs_approval = status is ToolCallStatus.APPROVED and registry.needs_approval(request.tool)
        if needs_approval:
            status = ToolCallStatus.PROPOSED
        if status is ToolCallStatus.APPROVED and registry.runs_on_client(request.tool):
            # The client runs it; `client_tool_call` follows once the run is parked.
            status, expires_at = ToolCallStatus.AWAITING_CLIENT, utcnow() + self._client_tool_ttl
        async with in_transaction():
            call = await ToolCall.create(
                run_id=run.id,
                call_id=request.call_id,
                tool=request.tool,
                arguments=request.arguments,
                status=status,
                error=error,
                expires_at=expires_at,
            )
            if needs_approval:
                await Approval.create(
                    session_id=run.session_id,
                    run_id=run.id,
                    tool_call=call,
                    tool=request.tool,
                    arguments=request.arguments,
                    expires_at=utcnow() + self._approval_ttl,
                )
        # `approval_required` follows once the run is parked (`announce_pending_approval`).
        payload = {"call_id": request.call_id, "tool": request.tool, "arguments": request.arguments}
        await self._events.emit(run.id, EventType.TOOL_CALL, payload)

    async def announce_pending_approval(self, run: Run, call: ToolCall) -> bool:
        """Emit `approval_required` for a parked call, once; False if no decision is pending."""
        approval = await Approval.pending_for_call(call.id)
        if approval is None:
            return False
        announced = await RunEvent.filter(run_id=run.id, type=EventType.APPROVAL_REQUIRED)
        if not any(event.data.get("approval_id") == str(approval.id) for event in announced):
            data = approval_required_data(approval, call.call_id)
            await self._events.emit(run.id, EventType.APPROVAL_REQUIRED, data)
        return True

    async def announce_client_tool_call(self, run: Run, call: ToolCall) -> bool:
        """Emit `client_tool_call` for a parked call, once; False if it no longer waits."""
        current = await ToolCall.get(id=call.id)
        if current.status is not ToolCallStatus.AWAITING_CLIENT:
            return False
        announced = await RunEvent.filter(run_id=run.id, type=EventType.CLIENT_TOOL_CALL)
        if not any(event.data.get("call_id") == call.call_id for event in announced):
            await self._events.emit(run.id, EventType.CLIENT_TOOL_CALL, client_tool_call_data(call))
        return True

    async def settle_tool_call(self, run: Run, call: ToolCall) -> None:
        """Turn a decided tool call into its outcome (running it at most once) and report it.

        The tool message and its `tool_result` event commit together, and only
        if the call is still unanswered: the end of a run (a cancel, say) may
        have answered it meanwhile, and a call has one answer.
        """
        outcome = await self._outcome(run, call)
        async with in_transaction():
            # The run row first, as every writer of a run's events locks it.
            await lock_in_id_order(self._database, Run, [run.id])
            if await Message.answers_call(run.id, call.call_id):
                return
            draft = await answer(self._database, run, call, outcome)
            stored = await self._events.append_in_transaction([draft], runs_locked=True)
        self._events.publish(stored)

    async def _outcome(self, run: Run, call: ToolCall) -> ToolOutcome:
        """Execute an approved call, or read the outcome already recorded."""
        if call.status is ToolCallStatus.APPROVED:
            if await ToolCall.claim(call.id, utcnow()):
                return await self._execute(run, call)
            call = await ToolCall.get(id=call.id)
        if call.status is ToolCallStatus.STARTED:
            # Started by a process that died before recording a result: never run it again.
            await ToolCall.mark_in_doubt(utcnow(), call_id=call.id)
            return ToolOutcome.failure(IN_DOUBT_MESSAGE)
        return recorded_outcome(call)

    async def _execute(self, run: Run, call: ToolCall) -> ToolOutcome:
        context = SessionToolContext(run.session_id, self._contexts)
        runner = (await self._agents.for_run(run)).runner
        outcome = await runner.execute_tool(call.tool, call.arguments, context)
        outcome = storable_outcome(call.tool, outcome)
        await ToolCall.record_outcome(call.id, outcome.ok, outcome.result, outcome.error, utcnow())
        return outcome
