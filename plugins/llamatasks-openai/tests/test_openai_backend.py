"""The openai backend against an in-process OpenAI-compatible server on 127.0.0.1 that runs a tiny model.

The fake server serves the tiny checkpoint through the torch engine, so over HTTP the backend must give
exactly what the model gives locally: the conformance suite checks the engine contract against a plain
transformers reference, and whole tasks are compared with the same model loaded locally.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llamatasks_openai
import pytest
from llamatasks_openai import (
    CONFIG_FILE,
    CapabilityError,
    ServerConfig,
    ServerRejectedError,
)
from llamatasks_openai.engine import OpenAIEngine
from llamatasks_openai.testing import _OPENAI_FIELDS, FakeCompletionsServer

import llamatasks
from llamatasks.backends.torch_backend import TorchEngine
from llamatasks.engine.base import (
    Capability,
    Engine,
    GenerateRequest,
    GenerationOptions,
    LoadRequest,
    ScoreRequest,
)
from llamatasks.errors import (
    BackendUnavailableError,
    GenerationError,
    InvalidInputError,
)
from llamatasks.testing.conformance import BackendConformance, generate
from llamatasks.tokenizer import Tokenizer


class TestOpenAIBackendConformance(BackendConformance):
    """The engine contract, over HTTP, with a vLLM-like server (token ids, stop_token_ids, echo)."""

    kind = "chatml"

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls, checkpoint: Path) -> Iterator[Engine]:
        tokenizer = Tokenizer.from_dir(checkpoint)
        with FakeCompletionsServer(TorchEngine.load(LoadRequest(path=checkpoint, device="cpu")), tokenizer) as server:
            engine = OpenAIEngine.connect(ServerConfig(base_url=server.base_url), tokenizer)
            assert engine.capabilities == {Capability.SCORE}
            yield engine


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint: Callable[[str], Path]) -> Path:
    return tiny_checkpoint("chatml")


@pytest.fixture(scope="module")
def local(checkpoint: Path) -> llamatasks.Model:
    return llamatasks.load(checkpoint, device="cpu")


@pytest.fixture(scope="module")
def serve(local: llamatasks.Model) -> Iterator[Callable[..., FakeCompletionsServer]]:
    """``serve(**switches)``: a running fake server for the tiny model (stopped after the module)."""
    servers: list[FakeCompletionsServer] = []

    def start(**switches: Any) -> FakeCompletionsServer:
        server = FakeCompletionsServer(local.engine, local.tokenizer, **switches).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def server_folder(checkpoint: Path, folder: Path, **config: Any) -> Path:
    """A model folder without weights (config and tokenizer only) pointing at a server."""
    folder.mkdir()
    for file in checkpoint.iterdir():
        if file.suffix != ".safetensors":
            shutil.copy(file, folder / file.name)
    (folder / CONFIG_FILE).write_text(ServerConfig(**config).model_dump_json(exclude_defaults=True))
    return folder


@pytest.fixture
def registry(make_registry: Callable[..., Any]) -> Any:
    return make_registry(llamatasks_openai)


def test_tasks_give_the_same_answers_through_the_server(checkpoint: Path, tmp_path: Path, local: llamatasks.Model,
                                                        serve: Callable[..., FakeCompletionsServer],
                                                        registry: Any) -> None:
    server = serve()
    folder = server_folder(checkpoint, tmp_path / "served", base_url=server.base_url)
    remote = llamatasks.load(folder, registry=registry)  # the backend claims the folder by its config file
    assert remote.backend_name == "openai" and remote.engine.device == server.base_url
    texts = ["great phone, I love it", "the battery died after a day"]
    for mine, theirs in zip(local.sentiment(texts), remote.sentiment(texts)):
        assert theirs.scores == pytest.approx(mine.scores, abs=1e-4)
        assert theirs.provenance.backend == "openai"
    theirs, mine = remote.chat("Say hello.", max_new_tokens=6), local.chat("Say hello.", max_new_tokens=6)
    assert theirs.text == mine.text
    assert theirs.confidence == pytest.approx(mine.confidence, abs=1e-4)  # from the server's token log-probabilities
    assert remote.classify("the striker scored", labels=["sports", "politics"]).label == \
        local.classify("the striker scored", labels=["sports", "politics"]).label


def test_a_server_that_cannot_echo_says_which_tasks_cannot_run(checkpoint: Path, tmp_path: Path,
                                                               local: llamatasks.Model, registry: Any,
                                                               serve: Callable[..., FakeCompletionsServer]) -> None:
    server = serve(echo=False)  # like llama.cpp's llama-server: "Only no echo is supported"
    remote = llamatasks.load(server_folder(checkpoint, tmp_path / "served", base_url=server.base_url),
                             registry=registry)
    assert Capability.SCORE not in remote.engine.capabilities
    with pytest.raises(CapabilityError, match="log-probabilities") as caught:
        remote.sentiment("great phone")
    assert "vLLM" in caught.value.hint
    with pytest.raises(CapabilityError, match="constrain"):
        remote.answer("Who?", "Alice met Bob.")
    assert remote.chat("Say hello.", max_new_tokens=4).text == local.chat("Say hello.", max_new_tokens=4).text


def test_a_strict_openai_server_gets_only_openai_fields(checkpoint: Path, local: llamatasks.Model,
                                                        serve: Callable[..., FakeCompletionsServer]) -> None:
    server = serve(extensions=False)
    engine = OpenAIEngine.connect(ServerConfig(base_url=server.base_url, extensions=False), local.tokenizer)
    prompt = local.tokenizer.encode("The weather today is")
    stop = local.tokenizer.eos_id
    (out,) = generate(engine, [prompt], GenerationOptions(max_new_tokens=5, stop_token_ids=(stop,)))
    (want,) = generate(local.engine, [prompt], GenerationOptions(max_new_tokens=5, stop_token_ids=(stop,)))
    # The server sent text only: the ids are our tokenizer's reading of it, and decode to the same text.
    assert local.tokenizer.decode(out.token_ids) == local.tokenizer.decode(want.token_ids)
    sent = server.requests[-1]
    assert set(sent) <= _OPENAI_FIELDS and sent["stop"] == [local.tokenizer.decode([stop], skip_special=False)]


def test_text_prompts_and_one_prompt_per_request(local: llamatasks.Model,
                                                 serve: Callable[..., FakeCompletionsServer]) -> None:
    """llama-cpp-python's server takes one text prompt per request; scores then come from text offsets."""
    server = serve()
    by_ids = OpenAIEngine.connect(ServerConfig(base_url=server.base_url), local.tokenizer)
    by_text = OpenAIEngine.connect(ServerConfig(base_url=server.base_url, token_ids=False, batch_size=1),
                                   local.tokenizer)
    requests = [ScoreRequest(prompt=tuple(local.tokenizer.encode(p)), continuations=(
        tuple(local.tokenizer.encode_inner(" good")), tuple(local.tokenizer.encode_inner(" bad"))))
        for p in ("The movie was", "My day was very")]
    before = len(server.requests)
    for text_row, ids_row in zip(by_text.score(requests), by_ids.score(requests)):
        assert text_row == pytest.approx(ids_row, abs=1e-4)
    assert len(server.requests) - before == 4 + 1  # one request per sequence by text, one for all by ids
    assert all(isinstance(r["prompt"], str) for r in server.requests[before:before + 4])


def test_server_errors_are_typed(local: llamatasks.Model, serve: Callable[..., FakeCompletionsServer],
                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve()
    engine = OpenAIEngine.connect(ServerConfig(base_url=server.base_url), local.tokenizer)
    wrong_model = OpenAIEngine(engine.client, engine.config, local.tokenizer, "no-such-model", engine.capabilities)
    with pytest.raises(ServerRejectedError, match="does not exist"):
        wrong_model.generate(GenerateRequest.of([[5, 6]], GenerationOptions(max_new_tokens=2)))
    dead = FakeCompletionsServer(local.engine, local.tokenizer)
    url = dead.base_url
    dead.__exit__(None, None, None)  # never started, now closed: nothing listens there
    with pytest.raises(BackendUnavailableError, match="cannot reach"):
        OpenAIEngine.connect(ServerConfig(base_url=url), local.tokenizer)
    with pytest.raises(BackendUnavailableError, match="no server configured") as caught:
        ServerConfig.for_folder(tmp_path)
    assert "LLAMATASKS_OPENAI_BASE_URL" in caught.value.hint
    monkeypatch.setenv("LLAMATASKS_OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("LLAMATASKS_OPENAI_MODEL", "tiny")
    assert ServerConfig.for_folder(tmp_path) == ServerConfig(base_url=server.base_url, model="tiny")
    (tmp_path / CONFIG_FILE).write_text('{"base_url": "http://127.0.0.1:1/v1", "timeout": -1}')
    with pytest.raises(InvalidInputError, match="bad server configuration"):
        ServerConfig.for_folder(tmp_path)


def test_a_server_failure_is_a_generation_error(local: llamatasks.Model,
                                                serve: Callable[..., FakeCompletionsServer]) -> None:
    server = serve()
    engine = OpenAIEngine.connect(ServerConfig(base_url=server.base_url), local.tokenizer)

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory")

    server.engine = type("Broken", (), {"generate": explode, "score": explode})()
    with pytest.raises(GenerationError, match="CUDA out of memory"):
        engine.generate(GenerateRequest.of([[5, 6]], GenerationOptions(max_new_tokens=2)))
    server.engine = local.engine


def test_the_entry_point_is_installed() -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="llamatasks")}
    if "openai" not in eps:
        pytest.skip("llamatasks-openai is not installed (pip install -e plugins/llamatasks-openai)")
    from llamatasks.testing.plugins import registry_with

    registry = registry_with(load_entrypoints=True)
    info = next(p for p in registry.plugins() if p.name == "openai")
    assert (info.distribution, info.version, info.registered) == (
        "llamatasks-openai", llamatasks_openai.__version__, ("backend openai",))


def test_echoed_scores_are_read_from_the_end_when_the_server_drops_special_tokens() -> None:
    """llama-cpp-python 0.3.36's server echoes no entry for a chat template's special tokens and counts
    text_offset without them (this reply's shape is the real server's, trimmed): offsets into the sent
    text would point past the continuation, so its tokens are found by their strings from the end."""
    from llamatasks_openai.engine import _tail_logprobs

    sent = "<|im_start|>user\nI love it.<|im_end|>\n<|im_start|>assistant\nThe sentiment is positive"
    tokens = ["user", "\n", "I", " love", " it", ".", "\n", "assistant", "\n", "The", " sentiment", " is",
              " positive", " and"]
    values = [None, -1.0, -2.0, -3.0, -0.5, -0.25, -0.1, -0.2, -0.3, -1.5, -2.5, -0.7, -0.9, -1.2]
    logprobs = {"tokens": tokens, "token_logprobs": values, "text_offset": list(range(len(tokens)))}
    assert _tail_logprobs(logprobs, sent + " and", sent, " positive") == [-0.9]
    assert _tail_logprobs(logprobs, sent + " and", sent, " is positive") == [-0.7, -0.9]
    # Strings that do not spell the continuation, or an echo of some other text: None, never a guess.
    assert _tail_logprobs(logprobs, sent + " and", sent, " negative") is None
    assert _tail_logprobs(logprobs, "something else", sent, " positive") is None
