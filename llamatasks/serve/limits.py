"""What the service accepts: the body size limit and the optional API key."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request

from llamatasks.serve.schemas import PayloadTooLargeError, UnauthorizedError, error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` is answered 413 before anything parses it.

    The declared ``Content-Length`` is checked first; a body sent without one
    (chunked) is counted as it arrives, then replayed to the app.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, int(declared))
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(send, size)
                return
            if not message.get("more_body"):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}],
                                      receive), send)

    async def _refuse(self, send: Send, size: int) -> None:
        error = PayloadTooLargeError(f"the body has {size} bytes; this service takes at most {self.max_bytes}",
                                     hint="send fewer or shorter texts, or start the service with a larger "
                                          "--max-body-bytes")
        body = json.dumps(error_body(error)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that returns ``messages``, then defers to ``then`` (a disconnect, for streaming)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


def api_key_check(key: str | None) -> Callable[[Request], None]:
    """A FastAPI dependency that refuses requests without ``key`` (none: every request passes).

    The key may come as ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; it is
    compared in constant time (``hmac.compare_digest``), so timing cannot reveal it.
    """
    expected = None if key is None else key.encode()

    def check(request: Request) -> None:
        if expected is None:
            return
        given = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if given is None and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if given is None:
            raise UnauthorizedError("this service needs an API key")
        if not hmac.compare_digest(given.encode(), expected):
            raise UnauthorizedError("wrong API key")

    return check
