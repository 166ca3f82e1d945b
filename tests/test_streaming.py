"""Streaming: ``stream=True`` yields text pieces as they are decoded, then the typed result, on both backends."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import llamatasks
from llamatasks.engine.base import (
    Engine,
    GenerateRequest,
    GenerationOutput,
    ScoreRequest,
)
from llamatasks.errors import InvalidInputError
from llamatasks.model import Model
from llamatasks.runtime import Runtime
from llamatasks.streaming import IncrementalDecoder, TextStream
from llamatasks.testing.parity import comparable

TEXT = "The battery died after a day, and support never answered. I returned the phone."



@pytest.fixture(scope="module", params=["torch", "onnx"])
def model(request: pytest.FixtureRequest, tiny_model_on: Callable[..., llamatasks.Model]) -> llamatasks.Model:
    m = tiny_model_on(request.param)
    assert m.backend_name == request.param
    return m


def test_chat_streams_pieces_that_make_up_the_result(model: Model) -> None:
    stream = model.chat("Say hello.", max_new_tokens=24, stream=True)
    assert isinstance(stream, TextStream)
    pieces = list(stream)
    assert len(pieces) > 1  # one piece per decoded token or so, not the whole text at the end
    assert "".join(pieces).strip() == stream.result.text
    assert comparable(stream.result) == comparable(model.chat("Say hello.", max_new_tokens=24))


@pytest.mark.parametrize("call", [
    lambda m, **kw: m.summarize(TEXT, max_words=12, **kw),
    lambda m, **kw: m.summarize(TEXT, max_words=12, num_beams=2, **kw),  # beams: the text arrives at the end
    lambda m, **kw: m.translate(TEXT, target="fr", source="en", **kw),  # two sentences: two rows, in order
], ids=["summarize", "summarize-beams", "translate"])
def test_summarize_and_translate_stream_and_end_with_the_plain_result(model: Model, call: Any) -> None:
    stream = call(model, stream=True)
    pieces = list(stream)
    assert pieces and all(pieces)
    assert comparable(stream.result) == comparable(call(model))


def test_the_public_functions_stream_too(model: Model) -> None:
    stream = llamatasks.chat("Hi", max_new_tokens=8, model=model, stream=True)
    assert "".join(stream).strip() == stream.result.text


def test_async_iteration_gives_the_same_pieces(model: Model) -> None:
    expected = list(model.chat("Say hello.", max_new_tokens=12, stream=True))

    async def read() -> list[str]:
        stream = await model.achat("Say hello.", max_new_tokens=12, stream=True)
        return [piece async for piece in stream]

    assert asyncio.run(read()) == expected


def test_pieces_never_split_a_character(model: Model) -> None:
    text = "naïve café, 東京タワー, Ελληνικά, emoji 🙂🚀 and ﬁ ligatures"
    ids = model.tokenizer.encode(text)
    decoder = IncrementalDecoder(model.tokenizer.decode)
    pieces = [decoder.push(token) for token in ids] + [decoder.flush()]
    assert not any("\ufffd" in piece for piece in pieces)
    assert "".join(pieces) == model.tokenizer.decode(ids)
    assert sum(1 for piece in pieces if piece) > len(text.split())  # it did stream, piece by piece


class _WholeTextEngine(Engine):
    """A third-party engine: generation that never goes through the step loop."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.backend_name = "whole-text"

    def generate(self, request: GenerateRequest) -> list[GenerationOutput]:
        return contextvars.Context().run(self.inner.generate, request)  # no context: nothing sees the tokens

    def score(self, requests: list[ScoreRequest]) -> list[list[float]]:  # type: ignore[override]
        return self.inner.score(requests)


def test_an_engine_that_cannot_stream_gives_the_whole_text_as_one_piece(model: Model) -> None:
    rt = model.runtime
    other = Model(model.source, Runtime(_WholeTextEngine(model.engine), rt.tokenizer, rt.profile, rt.prompt_format),
                  model.registry)
    stream = other.chat("Say hello.", max_new_tokens=16, stream=True)
    pieces = list(stream)
    assert pieces == [stream.result.text]
    assert stream.result.text == model.chat("Say hello.", max_new_tokens=16).text


@pytest.mark.parametrize("call", [
    lambda m: m.run("sentiment", "good", stream=True),
    lambda m: m.chat(["one", "two"], stream=True),
    lambda m: m.chat("hi", max_new_tokens=0, stream=True),
], ids=["not-a-generation-task", "a-list", "bad-option"])
def test_what_cannot_stream_is_refused_before_streaming(model: Model, call: Any) -> None:
    with pytest.raises(InvalidInputError) as info:
        call(model)
    assert info.value.hint or info.value.message


def test_the_cli_prints_the_stream(tiny_checkpoint: Callable[[str], Path], model: Model) -> None:
    if model.backend_name != "torch":
        pytest.skip("the CLI is the same on both backends")
    from typer.testing import CliRunner

    from llamatasks.cli import app

    path = str(tiny_checkpoint("llama3.1-instruct"))
    result = CliRunner().invoke(app, ["chat", "Say hello.", "--max-new-tokens", "8", "--stream", "-m", path,
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == model.chat("Say hello.", max_new_tokens=8).text
