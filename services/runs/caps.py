"""Per-user caps on live runs, so one user's runs cannot take every worker slot."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from core.database import Database
from core.errors import ErrorCode, TooManyRequests
from models import Run, User
from models.locks import lock_in_id_order

# Runs end in seconds (or wait for a human): a client at a cap retries this much later.
RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True, slots=True)
class RunCaps:
    """How many runs one user may have in flight (holding their session) and queued."""

    in_flight: int
    queued: int

    async def admit(
        self, database: Database, owner_id: UUID, new_run: Run, *, take_slot: bool
    ) -> None:
        """Refuse the owner's new run at a cap (429): last in the transaction that queues it.

        A new run is in flight if its session's slot is free (it takes or is
        promoted to it), else queued behind the run holding it; with
        `take_slot` and the slot held, the insert is refused as busy anyway.
        """
        # The owner's starts queue on the user row (PostgreSQL; SQLite serialises
        # every writer), so two concurrent starts cannot both pass the count. Taken
        # last, the lock is held only for the count and the commit: each waiter's
        # count then sees every run admitted before it (each statement reads what
        # is committed when it starts), and one user's starts do not queue behind
        # each other's inserts.
        await lock_in_id_order(database, User, [owner_id])
        load = await Run.load_of_owner(database, owner_id, new_run.session_id, excluding=new_run.id)
        if not load.session_held and load.in_flight >= self.in_flight:
            raise TooManyRequests(
                f"You already have {load.in_flight} runs in flight (the limit).",
                code=ErrorCode.TOO_MANY_RUNS_IN_FLIGHT,
                retry_after=RETRY_AFTER_SECONDS,
                data={"limit": self.in_flight},
            )
        if load.session_held and not take_slot and load.queued >= self.queued:
            raise TooManyRequests(
                f"You already have {load.queued} runs queued (the limit).",
                code=ErrorCode.TOO_MANY_QUEUED_RUNS,
                retry_after=RETRY_AFTER_SECONDS,
                data={"limit": self.queued},
            )
