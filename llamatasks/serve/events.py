"""Server-sent events of a streaming request.

The events, in order: ``piece`` (``{"text": "..."}``) for every text piece as
it is decoded, then one ``result`` (the task's typed result as JSON), or one
``error`` (``{"error": {"type", "message", "hint"}}``) where the task failed or
the request ran past its timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from llamatasks.errors import GenerationError, LlamaTasksError
from llamatasks.serve.schemas import RequestTimeoutError, error_body
from llamatasks.streaming import TextStream


def event(name: str, data: str) -> str:
    """One server-sent event (``data`` is one line of JSON)."""
    return f"event: {name}\ndata: {data}\n\n"


async def sse_events(stream: TextStream[Any], timeout_s: float) -> AsyncIterator[str]:
    """The events of ``stream``, ending after ``timeout_s`` seconds at the latest."""
    deadline = time.monotonic() + timeout_s
    pieces = stream.__aiter__()
    try:
        while True:
            try:
                piece = await asyncio.wait_for(pieces.__anext__(), max(0.0, deadline - time.monotonic()))
            except StopAsyncIteration:
                break
            yield event("piece", json.dumps({"text": piece}, ensure_ascii=False))
        yield event("result", stream.result.model_dump_json())
    except asyncio.TimeoutError:
        yield event("error", json.dumps(error_body(RequestTimeoutError(f"the stream did not finish within "
                                                                       f"{timeout_s:g} s"))))
    except LlamaTasksError as exc:
        yield event("error", json.dumps(error_body(exc)))
    except Exception as exc:  # noqa: BLE001 - the backend failed mid-stream: the status line has gone, so it is an event
        yield event("error", json.dumps(error_body(GenerationError(f"generation failed: {exc}"))))
