"""GroupCommitter with max_batch=1: one handler call per item, run concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.common.group_commit import GroupCommitter


class SlowHandler:
    """Records each call and how many ran at once."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.running = 0
        self.peak = 0
        self.done: list[int] = []

    async def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.calls.append(list(items))
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.02)
        self.running -= 1
        self.done.extend(items)
        return [ValueError("bad") if item < 0 else item * 10 for item in items]


async def test_each_item_is_its_own_concurrent_call() -> None:
    handler = SlowHandler()
    writer: GroupCommitter[int, int] = GroupCommitter(handler, max_batch=1, max_wait_seconds=0.01)
    await writer.start()
    results = await asyncio.gather(*(writer.submit(n) for n in range(8)))
    await writer.stop()
    assert results == [n * 10 for n in range(8)]
    assert sorted(map(tuple, handler.calls)) == [(n,) for n in range(8)]
    assert handler.peak == 8
    assert (writer.batches, writer.items) == (8, 8)


async def test_a_bad_item_fails_alone() -> None:
    writer: GroupCommitter[int, int] = GroupCommitter(
        SlowHandler(), max_batch=1, max_wait_seconds=0.01
    )
    await writer.start()
    outcomes = await asyncio.gather(writer.submit(-1), writer.submit(2), return_exceptions=True)
    await writer.stop()
    assert isinstance(outcomes[0], ValueError)
    assert outcomes[1] == 20


async def test_a_cancelled_caller_still_writes_and_stop_waits() -> None:
    handler = SlowHandler()
    writer: GroupCommitter[int, int] = GroupCommitter(handler, max_batch=1, max_wait_seconds=0.01)
    await writer.start()
    caller = asyncio.create_task(writer.submit(7))
    await asyncio.sleep(0.005)
    caller.cancel()
    await writer.stop()
    assert handler.done == [7]
