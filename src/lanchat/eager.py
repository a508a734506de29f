"""Starting a coroutine eagerly: its first step runs at once, and a task is made only if it
has to wait (what Python 3.12's eager tasks do, for 3.11)."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any


def start_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Future[None] | None:
    """Run ``coro`` now, up to the first time it waits for something.

    Returns None when it finished without waiting (an exception it raised propagates from
    here), else a task that carries it on from where it stopped: awaiting the task, or
    cancelling it, works as for ``asyncio.ensure_future(coro)``. Saves a task and a trip
    through the event loop for work that seldom waits, such as a guest's registration.
    """
    try:
        waiting_for = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_carry_on(coro, waiting_for))


async def _carry_on(coro: Coroutine[Any, Any, None], waiting_for: Any) -> None:
    await _resume(coro, waiting_for)


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], waiting_for: Any) -> Generator[Any, Any, None]:
    """Hand what ``coro`` waits for to the task driving us, and what the task sends or
    throws back to ``coro``, until it returns (as ``yield from`` would, had ``coro`` not
    taken its first step elsewhere)."""
    while True:
        try:
            sent = yield waiting_for
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # thrown in by the task: cancellation
            try:
                waiting_for = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting_for = coro.send(sent)
        except StopIteration:
            return
