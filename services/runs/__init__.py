"""Agent runs: starting them, driving them, and their lifecycle.

Follow one agent turn here: `manager` queues the run with the user's message,
`executor` drives it under a lease, `steps` takes each persisted step (a
model round streamed by `assistant`, tool calls and their outcomes),
`lifecycle` owns every state transition, and `sweeper` repairs what dead
processes leave behind. Events go to the log in `services/events`.
"""

from services.runs.executor import RunExecutor
from services.runs.history import RunHistory, UsageLine, UsageReport
from services.runs.lifecycle import RunLifecycle
from services.runs.manager import OnBusy, RunManager, RunTurn
from services.runs.steps import RunSteps
from services.runs.sweeper import Sweeper

__all__ = [
    "OnBusy",
    "RunExecutor",
    "RunHistory",
    "RunLifecycle",
    "RunManager",
    "RunSteps",
    "RunTurn",
    "Sweeper",
    "UsageLine",
    "UsageReport",
]
