"""Images through the openai backend: ``image_url`` data URLs to a server that takes them.

The in-process fake server decodes every image it is sent and answers from the
messages' text on a tiny LLaMA 3.2 Vision folder's text path, so the test sees
exactly what went over the wire: the images, in order, as PNG data URLs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import llamatasks_openai
import numpy as np
import pytest
from llamatasks_openai import CONFIG_FILE, ServerRejectedError
from llamatasks_openai.testing import FakeCompletionsServer

import llamatasks
from llamatasks.backends.torch_backend import TorchEngine
from llamatasks.engine.base import LoadRequest
from llamatasks.errors import VisionUnsupportedError
from llamatasks.results import Description, Generation
from llamatasks.testing.plugins import registry_with
from llamatasks.tokenizer import Tokenizer

Image = pytest.importorskip("PIL.Image", reason="image input needs the vision extra")

_FOLDER_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "chat_template.jinja", "processor_config.json")


@pytest.fixture(scope="module")
def vision_checkpoint(fixture_tokenizers: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from llamatasks.testing.vision_checkpoints import build_vision_checkpoint

    return build_vision_checkpoint("llama3.2-vision-instruct", tmp_path_factory.mktemp("mllama"),
                                   tokenizers_dir=fixture_tokenizers)


@pytest.fixture(scope="module")
def server(vision_checkpoint: Path) -> Iterator[FakeCompletionsServer]:
    engine = TorchEngine.load(LoadRequest(path=vision_checkpoint, device="cpu"))
    with FakeCompletionsServer(engine, Tokenizer.from_dir(vision_checkpoint)) as running:
        yield running


@pytest.fixture(scope="module")
def served(vision_checkpoint: Path, server: FakeCompletionsServer,
           tmp_path_factory: pytest.TempPathFactory) -> Callable[..., llamatasks.Model]:
    """``served(server, images=True) -> Model``: the folder (no weights) pointed at a fake server; one per config."""
    loaded: dict[str, llamatasks.Model] = {}

    def load(at: FakeCompletionsServer = server, **config: Any) -> llamatasks.Model:
        settings = json.dumps({"base_url": at.base_url, "score": False, **config})
        if settings not in loaded:
            folder = tmp_path_factory.mktemp("served")
            for name in _FOLDER_FILES:
                shutil.copyfile(vision_checkpoint / name, folder / name)
            (folder / CONFIG_FILE).write_text(settings)
            loaded[settings] = llamatasks.load(folder, registry=registry_with(llamatasks_openai))
        return loaded[settings]

    return load


def _noise(seed: int, size: tuple[int, int] = (30, 20)) -> Any:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def test_images_go_as_png_data_urls_in_order(served: Callable[..., llamatasks.Model],
                                             server: FakeCompletionsServer) -> None:
    model = served(images=True)
    assert model.backend_name == "openai" and model.profile.vision
    first, second = _noise(1, (30, 20)), _noise(2, (12, 40))
    before = len(server.images)
    reply = model.chat("Compare <|image|> them.", images=[first, second], max_new_tokens=4)
    assert isinstance(reply, Generation) and reply.provenance.backend == "openai"
    sent = server.images[before:]
    assert [image.size for image in sent] == [(30, 20), (12, 40)]
    assert np.array_equal(np.asarray(sent[0].convert("RGB")), np.asarray(first))  # PNG: lossless
    body = server.requests[-1]
    parts = body["messages"][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "image_url", "text"]
    assert parts[2]["text"] == "Compare <|image|> them." and body["max_tokens"] == 4
    assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in parts[:2])


def test_describe_and_answer_run_but_image_scoring_is_refused(served: Callable[..., llamatasks.Model],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from llamatasks.vision import tasks

    monkeypatch.setattr(tasks, "ANSWER_MAX_TOKENS", 4)
    model = served(images=True)
    caption = model.describe(_noise(3), max_words=3)
    assert isinstance(caption, Description) and caption.words <= 3
    assert isinstance(model.answer("What is it?", image=_noise(3)), Generation)
    with pytest.raises(VisionUnsupportedError, match="cannot score"):
        model.classify(image=_noise(3), labels=["cat", "dog"])


def test_a_server_not_declared_to_take_images_is_refused_before_any_request(
        served: Callable[..., llamatasks.Model], server: FakeCompletionsServer) -> None:
    model = served()
    before = len(server.requests)
    with pytest.raises(VisionUnsupportedError, match="not configured to take images") as caught:
        model.describe(_noise(4))
    assert '"images": true' in caught.value.hint and len(server.requests) == before


def test_a_server_that_refuses_images_gives_a_typed_error(served: Callable[..., llamatasks.Model],
                                                           server: FakeCompletionsServer) -> None:
    with FakeCompletionsServer(server.engine, server.tokenizer, images=False) as text_only:
        model = served(text_only, images=True)
        with pytest.raises(ServerRejectedError, match="does not support image input"):
            model.describe(_noise(5))
