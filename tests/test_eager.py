"""start_eagerly: a coroutine's first step at once, a task only when it waits."""

from __future__ import annotations

import asyncio

import pytest

from lanchat.eager import start_eagerly


async def test_a_coroutine_that_never_waits_runs_to_the_end_at_once() -> None:
    done: list[str] = []

    async def work() -> None:
        done.append("all of it")

    assert start_eagerly(work()) is None
    assert done == ["all of it"]


async def test_an_error_before_any_wait_is_raised_by_the_call() -> None:
    async def work() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        start_eagerly(work())


async def test_a_coroutine_that_waits_goes_on_in_a_task_with_what_it_waited_for() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def work() -> None:
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield to the loop, then a timer
        await asyncio.sleep(0.01)
        steps.append("after")

    task = start_eagerly(work())
    assert task is not None
    assert steps == ["before"]  # the first step ran in the call
    await asyncio.sleep(0.01)
    assert not task.done()
    gate.set_result("the value")
    await asyncio.wait_for(task, 5)
    assert steps == ["before", "the value", "after"]


async def test_an_error_after_a_wait_ends_the_task_with_it() -> None:
    async def work() -> None:
        await asyncio.sleep(0)
        raise ValueError("later")

    task = start_eagerly(work())
    assert task is not None
    with pytest.raises(ValueError, match="later"):
        await asyncio.wait_for(task, 5)


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    cleaned: list[str] = []
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def work() -> None:
        try:
            await gate
        finally:
            cleaned.append("finally ran")

    task = start_eagerly(work())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally ran"]
    assert gate.cancelled()


async def test_a_coroutine_may_catch_the_cancellation_and_finish() -> None:
    async def work() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # and keeps running a little after it

    task = start_eagerly(work())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait_for(task, 5)
    assert task.done()
    assert not task.cancelled()
