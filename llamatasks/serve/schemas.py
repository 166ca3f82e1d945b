"""Request models of the service, built from each task's own ``Options``, and the typed errors it answers.

A task's request is its ``Options`` plus ``text`` (one text or a list) and
``stream``: the OpenAPI page shows the same fields, bounds and descriptions as
the Python API. Bodies are checked the library's way (``as_text_list``,
``Options.parse``), so a bad one is answered with the same typed message and
hint that the Python call raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from llamatasks.errors import (
    CapabilityError,
    InvalidInputError,
    LlamaTasksError,
    UnknownTaskError,
)
from llamatasks.tasks.base import Task
from llamatasks.tasks.inputs import as_text_list
from llamatasks.tasks.options import TaskOptions

#: Body fields that are not the task's options.
REQUEST_FIELDS = ("text", "stream")


class UnauthorizedError(LlamaTasksError, PermissionError):
    """The request carries no API key, or the wrong one."""

    default_hint = "send the key as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"


class PayloadTooLargeError(InvalidInputError):
    """The body or one of its texts is larger than the service accepts."""


class RequestTimeoutError(LlamaTasksError, TimeoutError):
    """The request did not finish within the service's per-request timeout."""

    default_hint = "send shorter texts or fewer at once, or start the service with a longer --timeout"


#: HTTP status of each error type (the first match in this order wins).
STATUS: tuple[tuple[type[LlamaTasksError], int], ...] = (
    (UnauthorizedError, 401),
    (PayloadTooLargeError, 413),
    (UnknownTaskError, 404),
    (InvalidInputError, 422),
    (CapabilityError, 422),
    (RequestTimeoutError, 504),
)


def status_of(error: LlamaTasksError) -> int:
    """The HTTP status for ``error`` (500: the model or backend failed)."""
    return next((code for kind, code in STATUS if isinstance(error, kind)), 500)


def error_body(error: LlamaTasksError) -> dict[str, Any]:
    """The JSON every error response carries: the error's type, message and hint."""
    return {"error": {"type": type(error).__name__, "message": error.message, "hint": error.hint}}


class ErrorDetail(BaseModel):
    """What went wrong and what to do about it."""

    type: str = Field(description="The llamatasks error class, e.g. InvalidInputError.")
    message: str
    hint: str


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def request_model(task: Task[Any]) -> type[BaseModel]:
    """``<Task>Request``: the task's options, ``text`` and ``stream``, for the OpenAPI page and parsing."""
    name = "".join(part.capitalize() for part in task.name.replace("-", "_").split("_")) + "Request"
    return create_model(
        name,
        __base__=task.Options,
        text=(str | list[str], Field(description="One text (one result) or a list of texts (a list of results).")),
        stream=(bool, Field(default=False, description=(
            "Stream the generated text as server-sent events (chat, summarize, translate; one text)."))),
    )


@dataclass(frozen=True)
class Checked:
    """A request body as the task takes it."""

    texts: list[str]
    single: bool
    options: TaskOptions
    stream: bool


def check_body(task: Task[Any], body: Any, max_text_chars: int) -> Checked:
    """``body`` (parsed JSON) checked as the Python API checks a call; raises the typed error."""
    if not isinstance(body, dict):
        raise InvalidInputError(f"the body must be a JSON object, got {type(body).__name__}",
                                hint='send {"text": "..."} with the task\'s options as further fields')
    if "text" not in body:
        raise InvalidInputError("the body has no 'text'", hint='send {"text": "..."} or {"text": ["...", "..."]}')
    texts, single = as_text_list(body["text"])
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidInputError(f"stream must be true or false, got {stream!r}")
    options = task.Options.parse({k: v for k, v in body.items() if k not in REQUEST_FIELDS})
    for i, text in enumerate(texts):
        if len(text) > max_text_chars:
            where = "the text" if single else f"text {i}"
            raise PayloadTooLargeError(f"{where} has {len(text)} characters; this service takes at most "
                                       f"{max_text_chars}", hint="split it, or start the service with a larger "
                                       "--max-text-chars")
    return Checked(texts, single, options, stream)


class ModelInfo(BaseModel):
    """The model a service runs."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="The model's name.")
    backend: str
    device: str
    prompt_format: str
    context_length: int
    tasks: list[str] = Field(description="The tasks it serves at POST /v1/{task}.")


class ModelList(BaseModel):
    """``GET /v1/models``."""

    object: str = "list"
    data: list[ModelInfo]
