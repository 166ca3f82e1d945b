"""``off_loop``: the async twin of a blocking call, run in a worker thread (see ``llamatasks.aio``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def off_loop(func: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """An async twin of ``func`` (same parameters, same result) that runs it in a worker thread.

    ``asyncio.to_thread`` copies the awaiting task's context into the thread, so
    context variables (a streaming call's sink) reach the call.
    """
    @functools.wraps(func)
    async def call(*args: P.args, **kwargs: P.kwargs) -> R:
        import asyncio  # here, not at the top: ``import llamatasks`` stays cheap

        return await asyncio.to_thread(func, *args, **kwargs)

    call.__name__ = call.__qualname__ = f"a{func.__name__}"
    call.__doc__ = f"Async ``{func.__name__}``: awaits it in a worker thread, never blocking the event loop.\n\n" + (
        func.__doc__ or "")
    return call
