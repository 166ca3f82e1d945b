"""The HTTP service: ``create_app(model)`` builds the FastAPI app that ``llamatasks serve`` runs.

``POST /v1/{task}`` for every registered task (plugin tasks too), each with
its own request model (``serve.schemas``) and its result type as the
response; ``GET /health``, ``GET /v1/models`` and the OpenAPI page at
``/docs``. Concurrent requests of one task and options are gathered into list
calls (``serve.batching``); streamed requests (``"stream": true``) are
answered as server-sent events (``serve.events``). Every error is answered
with its type, message and hint (``ErrorResponse``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from llamatasks.errors import InvalidInputError, LlamaTasksError
from llamatasks.model import Model
from llamatasks.serve.batching import BatchCollector
from llamatasks.serve.events import sse_events
from llamatasks.serve.limits import BodyLimit, api_key_check
from llamatasks.serve.schemas import (
    ErrorResponse,
    ModelInfo,
    ModelList,
    RequestTimeoutError,
    check_body,
    error_body,
    request_model,
    status_of,
)
from llamatasks.streaming import stream_task
from llamatasks.tasks.base import Task


@dataclass(frozen=True)
class ServeSettings:
    """How the service batches and what it accepts.

    Attributes:
        max_batch: Most texts gathered into one list call.
        window_ms: How long a request waits for others to share its call.
        timeout_s: Per-request limit (504 after it).
        max_body_bytes: Largest request body (413 above it).
        max_text_chars: Longest text in a request (413 above it).
        api_key: When set, every ``/v1`` request must carry it (401 without).
        workers: List calls run at once.
    """

    max_batch: int = 32
    window_ms: float = 10.0
    timeout_s: float = 120.0
    max_body_bytes: int = 1 << 20
    max_text_chars: int = 20_000
    api_key: str | None = None
    workers: int = 1


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": what}
    for code, what in ((401, "Missing or wrong API key"), (404, "Unknown task"), (413, "Body or text too large"),
                       (422, "Invalid text or options"), (504, "Timed out"))
}


def create_app(model: Model, settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI app serving ``model``'s registered tasks."""
    settings = settings or ServeSettings()
    collector: BatchCollector | None = None

    def run_batch(task: str, texts: list[str], options: Any) -> Any:
        return model.run(task, texts, **options.model_dump())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal collector
        collector = BatchCollector(run_batch, settings.window_ms / 1000, settings.max_batch, settings.workers)
        app.state.collector = collector
        yield
        await collector.close()  # uvicorn has let in-flight requests finish; nothing new arrives

    app = FastAPI(title="llamatasks", version=_version(), lifespan=lifespan,
                  description=f"Typed NLP tasks on {model.profile.name} ({model.backend_name}).")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    guarded = [Depends(api_key_check(settings.api_key))]
    _add_error_handlers(app, model)

    @app.get("/health", tags=["service"])
    async def health() -> dict[str, Any]:
        """Whether the service is up, and how much batching it has done."""
        calls = collector.calls if collector else 0
        texts = collector.texts if collector else 0
        return {"status": "ok", "model": model.profile.name, "list_calls": calls, "texts": texts}

    @app.get("/v1/models", response_model=ModelList, tags=["service"], dependencies=guarded, responses=_ERRORS)
    async def models() -> ModelList:
        """The model this service runs and its tasks."""
        p = model.profile
        return ModelList(data=[ModelInfo(id=p.name, backend=model.backend_name, device=model.engine.device,
                                         prompt_format=p.prompt_format, context_length=p.context_length,
                                         tasks=sorted(model.registry.tasks.items))])

    async def serve_task(task: Task[Any], body: Any) -> Response:
        checked = check_body(task, body, settings.max_text_chars)
        if checked.stream:
            stream = stream_task(model, task.name, checked.texts[0] if checked.single else checked.texts,
                                 checked.options.model_dump())
            return StreamingResponse(sse_events(stream, settings.timeout_s), media_type="text/event-stream")
        assert collector is not None, "the app runs inside its lifespan"
        try:
            results = await asyncio.wait_for(collector.submit(task.name, checked.texts, checked.options),
                                             settings.timeout_s)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(f"{task.name} did not finish within {settings.timeout_s:g} s") from None
        content = results[0].model_dump_json() if checked.single else \
            "[" + ",".join(r.model_dump_json() for r in results) + "]"
        return Response(content=content, media_type="application/json")

    for task in model.registry.tasks.items.values():
        _add_task_route(app, task, serve_task, guarded)

    @app.post("/v1/{name}", include_in_schema=False, dependencies=guarded)
    async def unknown(name: str) -> Response:
        model.registry.task(name)  # raises UnknownTaskError (404) with the registered names
        raise InvalidInputError(f"{name} cannot be served")  # pragma: no cover - every task has its route

    return app


def _add_task_route(app: FastAPI, task: Task[Any], serve_task: Any, guarded: list[Any]) -> None:
    """``POST /v1/{task.name}``: the request model for the docs, the body checked by ``check_body``."""
    body_model = request_model(task)
    result = task.result_type

    async def endpoint(request: Request, body: BaseModel) -> Response:
        return await serve_task(task, await request.json())  # the raw body: checked the library's way

    # The real annotation (this module's annotations are strings): FastAPI reads the body model from it.
    endpoint.__annotations__ = {"request": Request, "body": body_model, "return": Response}
    endpoint.__doc__ = (task.description or task.name).capitalize() + "."
    app.post(f"/v1/{task.name}", response_model=result | list[result], tags=["tasks"],  # type: ignore[valid-type]
             summary=task.name, dependencies=guarded, responses=_ERRORS, name=f"task_{task.name}")(endpoint)


def _add_error_handlers(app: FastAPI, model: Model) -> None:
    @app.exception_handler(LlamaTasksError)
    async def typed(request: Request, exc: LlamaTasksError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=status_of(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The body failed the request model: checked again the library's way, it fails with the typed
        # error the Python call raises (its message and hint), not pydantic's.
        name = request.url.path.rsplit("/", 1)[-1]
        error: LlamaTasksError
        try:
            first = exc.errors()[0]
            if first["type"] == "json_invalid":
                raise InvalidInputError(f"the body is not valid JSON: {first.get('ctx', {}).get('error', '')}",
                                        hint='send a JSON object such as {"text": "..."}')
            check_body(model.registry.task(name), exc.body, max_text_chars=1 << 62)
            error = InvalidInputError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")
        except LlamaTasksError as typed_error:
            error = typed_error
        return JSONResponse(error_body(error), status_code=status_of(error))


def _version() -> str:
    from llamatasks import __version__

    return __version__
