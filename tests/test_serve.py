"""``llamatasks serve`` over real HTTP on 127.0.0.1: results, errors, batching under load, SSE streaming, shutdown.

One uvicorn server runs in a thread for the whole module, on a free port, over a
tiny LLaMA 3.1 checkpoint whose registry adds a plugin task (``pause``): plugin
tasks are served like built-in ones, and a slow one shows the timeout.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import uvicorn
from pydantic import BaseModel, Field

from llamatasks.errors import InvalidInputError
from llamatasks.model import Model
from llamatasks.plugins.hookspecs import hookimpl
from llamatasks.serve.app import ServeSettings, create_app
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.options import TaskOptions
from llamatasks.testing.parity import comparable
from llamatasks.testing.plugins import registry_with

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
TEXT = "Tim Cook visited Paris on Monday. The battery died after a day."
TIMEOUT_S = 5.0  # generous: a shared CI machine may be slow; only the pause task runs past it


class PauseOptions(TaskOptions):
    """Options of the test plugin's ``pause`` task."""

    task_name = "pause"
    seconds: float = Field(default=0.0, ge=0, le=10, description="How long the task takes.")


class Paused(BaseModel):
    text: str


class PauseTask(Task[PauseOptions]):
    """A plugin task that takes as long as it is told to, then echoes its text."""

    name = "pause"
    result_type = Paused
    description = "echo the text after a pause"
    Options = PauseOptions

    def run(self, model: TaskModel, texts: list[str], options: PauseOptions) -> Sequence[BaseModel]:
        time.sleep(options.seconds)
        return [Paused(text=t) for t in texts]

    def prompts(self, model: TaskModel, text: str, options: PauseOptions) -> list[Any]:
        return []


class PausePlugin:
    @hookimpl
    def register_tasks(self, register: Callable[[Task[Any]], None]) -> None:
        register(PauseTask())


@dataclass
class Running:
    url: str
    model: Model
    server: uvicorn.Server
    thread: threading.Thread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def service(tiny_model: Callable[..., Model]) -> Iterator[Running]:
    model = tiny_model("llama3.1-instruct", registry=registry_with(PausePlugin()))
    model.translate("Warm up.", target="fr", source="en")  # builds the script mask once, before any timeout runs
    settings = ServeSettings(api_key=KEY, max_text_chars=2_000, max_body_bytes=50_000, timeout_s=TIMEOUT_S,
                             max_batch=16, window_ms=20)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(model, settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield Running(f"http://127.0.0.1:{port}", model, server, thread)
    server.should_exit = True
    thread.join(30)
    model.engine.close()


@pytest.fixture(scope="module")
def client(service: Running) -> Iterator[Any]:
    with httpx.Client(base_url=service.url, headers=AUTH, timeout=60) as c:
        yield c



@pytest.mark.parametrize(("task", "body", "call"), [
    ("sentiment", {"text": TEXT}, lambda m: m.sentiment(TEXT)),
    ("classify", {"text": [TEXT, "A sunny day."], "labels": ["travel", "weather"]},
     lambda m: m.classify([TEXT, "A sunny day."], labels=["travel", "weather"])),
    ("ner", {"text": TEXT}, lambda m: m.ner(TEXT)),
    ("summarize", {"text": TEXT, "max_words": 8}, lambda m: m.summarize(TEXT, max_words=8)),
    ("translate", {"text": "The battery died.", "target": "fr", "source": "en"},
     lambda m: m.translate("The battery died.", target="fr", source="en")),
    ("answer", {"text": TEXT, "question": "Who visited Paris?"}, lambda m: m.answer("Who visited Paris?", TEXT)),
    ("chat", {"text": "Say hello.", "max_new_tokens": 6}, lambda m: m.chat("Say hello.", max_new_tokens=6)),
    ("pause", {"text": ["a", "b"]}, lambda m: m.run("pause", ["a", "b"])),
])
def test_results_equal_the_python_api(service: Running, client: Any, task: str, body: dict[str, Any],
                                      call: Callable[[Model], Any]) -> None:
    response = client.post(f"/v1/{task}", json=body)
    assert response.status_code == 200, response.text
    assert comparable(response.json()) == comparable(call(service.model))


def test_health_models_and_docs(service: Running, client: Any) -> None:
    assert client.get("/health").json()["status"] == "ok"
    models = client.get("/v1/models").json()["data"]
    assert models[0]["id"] == service.model.profile.name
    assert {"chat", "sentiment", "pause"} <= set(models[0]["tasks"])
    schema = client.get("/openapi.json").json()
    assert {"/v1/sentiment", "/v1/pause", "/v1/translate", "/health", "/v1/models"} <= set(schema["paths"])
    refs = json.dumps(schema["paths"]["/v1/translate"]["post"]["requestBody"])
    assert "TranslateRequest" in refs and "target" in json.dumps(schema["components"]["schemas"]["TranslateRequest"])
    assert client.get("/docs").status_code == 200


def _error(response: Any, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind and error["message"]
    return error


def test_unknown_task_is_404(client: Any) -> None:
    error = _error(client.post("/v1/nope", json={"text": "hi"}), 404, "UnknownTaskError")
    assert "sentiment" in error["message"] and error["hint"]


@pytest.mark.parametrize(("body", "says", "kind"), [
    ({"text": "   "}, "empty or only whitespace", "InvalidInputError"),
    ({"text": []}, "empty list", "InvalidInputError"),
    ({"text": 3}, "expected a string", "InputTypeError"),
    ({}, "no 'text'", "InvalidInputError"),
    ({"text": "hi", "phrasings": 0}, "phrasings", "InvalidInputError"),
    ({"text": "hi", "colour": "red"}, "no option 'colour'", "InvalidInputError"),
    ({"text": "hi", "stream": True}, "cannot stream", "InvalidInputError"),
    ({"text": "hi", "stream": "yes"}, "stream", "InvalidInputError"),
    ("just a string", "JSON object", "InvalidInputError"),
])
def test_invalid_input_is_422_with_the_typed_message_and_hint(service: Running, client: Any, body: Any,
                                                              says: str, kind: str) -> None:
    error = _error(client.post("/v1/sentiment", json=body), 422, kind)
    assert says in error["message"]
    if says == "phrasings":  # the very error (and hint) the Python API raises
        with pytest.raises(InvalidInputError) as raised:
            service.model.sentiment("hi", phrasings=0)
        assert error["message"] == raised.value.message and error["hint"] == raised.value.hint


def test_broken_json_is_422(client: Any) -> None:
    response = client.post("/v1/sentiment", content=b"{not json", headers={"content-type": "application/json"})
    assert "JSON" in _error(response, 422, "InvalidInputError")["message"]


def test_too_large_body_and_text_are_413(client: Any) -> None:
    _error(client.post("/v1/sentiment", json={"text": "word " * 20_000}), 413, "PayloadTooLargeError")
    error = _error(client.post("/v1/sentiment", json={"text": ["ok", "x" * 3_000]}), 413, "PayloadTooLargeError")
    assert "text 1" in error["message"] and "--max-text-chars" in error["hint"]


def test_a_chunked_body_over_the_limit_is_413(client: Any) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(60):
            yield b"x" * 1_000
        yield b'"}'

    response = client.post("/v1/sentiment", content=chunks(), headers={"content-type": "application/json"})
    _error(response, 413, "PayloadTooLargeError")


def test_the_api_key_is_required(service: Running) -> None:
    with httpx.Client(base_url=service.url, timeout=30) as bare:
        assert _error(bare.post("/v1/sentiment", json={"text": "hi"}), 401, "UnauthorizedError")["hint"]
        _error(bare.get("/v1/models"), 401, "UnauthorizedError")
        _error(bare.post("/v1/sentiment", json={"text": "hi"}, headers={"X-API-Key": "wrong"}), 401,
               "UnauthorizedError")
        assert bare.post("/v1/sentiment", json={"text": "hi"}, headers={"X-API-Key": KEY}).status_code == 200
        assert bare.get("/health").status_code == 200  # probes need no key


def test_a_request_past_the_timeout_is_504(client: Any) -> None:
    error = _error(client.post("/v1/pause", json={"text": "slow", "seconds": TIMEOUT_S + 0.3}), 504,
                   "RequestTimeoutError")
    assert error["hint"]


def test_no_request_is_lost_under_64_concurrent_clients(service: Running, client: Any) -> None:
    texts = [f"Review {i}: the {'battery' if i % 2 else 'screen'} was {'great' if i % 3 else 'awful'}."
             for i in range(64)]
    before = client.get("/health").json()

    async def send_all() -> list[Any]:
        async with httpx.AsyncClient(base_url=service.url, headers=AUTH, timeout=120) as ac:
            return list(await asyncio.gather(*(ac.post("/v1/sentiment", json={"text": t}) for t in texts)))

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * 64
    expected = service.model.sentiment(texts)
    assert [comparable(r.json()) for r in responses] == comparable(list(expected))
    after = client.get("/health").json()
    assert after["texts"] - before["texts"] >= 64  # (a timed-out pause may finish meanwhile)
    assert after["list_calls"] - before["list_calls"] < 64  # requests were gathered into shared list calls


def _events(response: Any) -> list[tuple[str, Any]]:
    events = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_streaming_as_server_sent_events(service: Running, client: Any) -> None:
    response = client.post("/v1/chat", json={"text": "Say hello.", "max_new_tokens": 16, "stream": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = _events(response)
    pieces = [data["text"] for name, data in events if name == "piece"]
    assert len(pieces) > 1 and events[-1][0] == "result" and [name for name, _ in events].count("result") == 1
    assert "".join(pieces).strip() == events[-1][1]["text"]
    assert comparable(events[-1][1]) == comparable(service.model.chat("Say hello.", max_new_tokens=16))


def test_shutdown_finishes_in_flight_requests(service: Running) -> None:
    """Last: it stops the module's server."""
    result: dict[str, Any] = {}

    def slow() -> None:
        with httpx.Client(base_url=service.url, headers=AUTH, timeout=30) as c:
            result["response"] = c.post("/v1/pause", json={"text": "in flight", "seconds": 1.0})

    sender = threading.Thread(target=slow)
    sender.start()
    time.sleep(0.4)  # the request is running
    service.server.should_exit = True
    sender.join(30)
    service.thread.join(30)
    assert result["response"].status_code == 200 and result["response"].json() == {"text": "in flight"}
    assert not service.thread.is_alive()


def test_serve_is_a_command_where_the_extra_is_installed() -> None:
    import typer
    from typer.testing import CliRunner

    from llamatasks.plugins.default_plugins.commands import register_commands

    app = typer.Typer()
    register_commands(app)
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--api-key" in result.output and "127.0.0.1" in result.output
