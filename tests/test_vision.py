"""Images as input: LLaMA 3.2 Vision (Mllama) and Llama 4 on tiny random checkpoints.

The vision path is proven wired, not just accepted: the image moves the
next-token logits, two images move them differently, a batch equals one prompt
at a time, and the ids llamatasks renders equal the processor's. Then every
image task, the CLI, and the limits (text-only models, bad images, typed
``<|image|>``) with their typed errors. Random weights say nothing about
caption quality, and nothing here claims it.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("PIL", reason="image input needs the vision extra")
pytest.importorskip("transformers", reason="vision checkpoints need the torch extra")

from PIL import Image

import llamatasks
from llamatasks.errors import (
    CorruptImageError,
    ImageTooLargeError,
    InputTypeError,
    InvalidInputError,
    UnsupportedImageError,
    VisionUnsupportedError,
)
from llamatasks.model import Model
from llamatasks.prompts.render import User
from llamatasks.results import Classification, Description, Generation
from llamatasks.testing.vision_checkpoints import VISION_KINDS
from llamatasks.vision import load_image
from llamatasks.vision.prompts import IMAGE, ImageMessage, render_image_prompt

MLLAMA, LLAMA4 = VISION_KINDS


@pytest.fixture(scope="module")
def vision_model(tiny_checkpoint: Callable[[str], Path]) -> Iterator[Callable[[str], Model]]:
    loaded: dict[str, Model] = {}

    def get(kind: str) -> Model:
        if kind not in loaded:
            loaded[kind] = llamatasks.load(tiny_checkpoint(kind), device="cpu")
        return loaded[kind]

    yield get
    for model in loaded.values():
        model.engine.close()


def _noise(seed: int, height: int = 20, width: int = 30) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def _prompt(model: Model, image: Image.Image, text: str = "What is in this picture?") -> Any:
    return render_image_prompt(model.renderer, [ImageMessage("user", (IMAGE, User(text)))], [image])


def _logits_with_images(model: Model, prompts: list[Any]) -> np.ndarray:
    from llamatasks.backends.torch_vision import _ImageSteps

    engine = model.engine.image_engine()
    batch = engine.batch(prompts)
    with engine.torch.inference_mode():
        _, logits = _ImageSteps(engine, batch).prefill(batch.ids, room=1)
    return logits


# -- the image path is wired ------------------------------------------------------------


@pytest.mark.parametrize("kind", VISION_KINDS)
def test_the_image_changes_the_next_token_logits(vision_model: Callable[[str], Model], kind: str) -> None:
    model = vision_model(kind)
    prompt = _prompt(model, _noise(0))
    ids = model.engine.image_engine().batch([prompt]).ids
    with_image = _logits_with_images(model, [prompt])[0]
    # The same ids on the text path: Mllama skips its cross-attention layers, Llama 4 keeps the
    # <|patch|> embeddings instead of the image's features.
    with model.engine._torch.inference_mode():
        _, text_only = model.engine._run_prompts(ids)
    assert np.abs(with_image - text_only[0, -1].float().numpy()).max() > 1e-2


@pytest.mark.parametrize("kind", VISION_KINDS)
def test_two_images_give_different_logits(vision_model: Callable[[str], Model], kind: str) -> None:
    model = vision_model(kind)
    first, second = (_logits_with_images(model, [_prompt(model, _noise(seed))])[0] for seed in (1, 2))
    assert np.abs(first - second).max() > 1e-2


@pytest.mark.parametrize("kind", VISION_KINDS)
def test_a_batch_of_image_prompts_equals_one_by_one(vision_model: Callable[[str], Model], kind: str) -> None:
    from llamatasks.engine.base import GenerationOptions

    model = vision_model(kind)
    # Different sizes (Llama 4: different tile grids, so different lengths) and texts: rows are left-padded.
    prompts = [_prompt(model, _noise(3, 20, 30)), _prompt(model, _noise(4, 30, 9), "Describe it in detail, please."),
               _prompt(model, _noise(5, 8, 8), "Colours?")]
    batched = _logits_with_images(model, prompts)
    alone = np.concatenate([_logits_with_images(model, [p]) for p in prompts])
    np.testing.assert_allclose(batched, alone, atol=2e-4, rtol=0)
    engine = model.engine.image_engine()
    options = GenerationOptions(max_new_tokens=5, stop_token_ids=model.profile.stop_token_ids)
    assert engine.generate(prompts, options) == [engine.generate([p], options)[0] for p in prompts]


def test_mllama_ids_and_cross_attention_mask_equal_the_processor(vision_model: Callable[[str], Model],
                                                                  tiny_checkpoint: Callable[[str], Path]) -> None:
    from transformers import MllamaProcessor

    model = vision_model(MLLAMA)
    processor = MllamaProcessor.from_pretrained(tiny_checkpoint(MLLAMA))
    image = _noise(6)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in this picture?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    expected = processor(images=[[image]], text=[text], add_special_tokens=False, return_tensors="np")
    prompt = _prompt(model, image)
    assert prompt.ids == expected["input_ids"][0].tolist()
    batch = model.engine.image_engine().batch([prompt])
    np.testing.assert_array_equal(batch.tensors["cross_attention_mask"].cpu().numpy(), expected["cross_attention_mask"])
    np.testing.assert_array_equal(batch.tensors["aspect_ratio_ids"].cpu().numpy(), expected["aspect_ratio_ids"])


def test_llama4_ids_equal_the_processor_layout(vision_model: Callable[[str], Model],
                                               tiny_checkpoint: Callable[[str], Path]) -> None:
    from transformers import AutoTokenizer, Llama4Processor

    model = vision_model(LLAMA4)
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint(LLAMA4))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in this picture?"}]}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    engine = model.engine.image_engine()
    # The grids transformers' get_best_fit picks for 4 tiles of 8x8 (worked by hand): the canvas that
    # downscales least, the smallest area among equals.
    for size, grid in (((8, 8), (1, 1)), ((20, 30), (2, 2)), ((30, 9), (4, 1))):
        image = _noise(7, *size)
        # Llama4Processor's own tile string (its method uses nothing of the instance), 4 patches a tile.
        tiles = Llama4Processor._prompt_split_image(None, grid, engine.tiling.patches_per_tile)
        expected = tokenizer(text.replace("<|image|>", tiles), add_special_tokens=False)["input_ids"]
        assert engine.batch([_prompt(model, image)]).ids[0] == expected, size


@pytest.mark.parametrize("kind", VISION_KINDS)
def test_typed_image_tokens_in_user_text_stay_text(vision_model: Callable[[str], Model], kind: str) -> None:
    model = vision_model(kind)
    specials = ("<|image|>", "<|patch|>", "<|image_start|>", "<|python_tag|>")
    prompt = _prompt(model, _noise(8), " ".join(specials))
    special_ids = {model.tokenizer.token_id(s) for s in specials} - {None}
    image_id = model.tokenizer.token_id("<|image|>")
    assert [t for t in prompt.ids if t in special_ids] == [image_id]  # the template's one slot, nothing typed
    result = model.chat(" ".join(specials), images=[_noise(8)], max_new_tokens=2)
    assert isinstance(result, Generation)


# -- the tasks ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", VISION_KINDS)
def test_every_image_task_runs(vision_model: Callable[[str], Model], kind: str, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    from llamatasks.vision import tasks

    monkeypatch.setattr(tasks, "ANSWER_MAX_TOKENS", 4)  # random weights rarely stop: keep the answer short
    model = vision_model(kind)
    path = tmp_path / "photo.png"
    _noise(9).save(path)
    caption = model.describe(path, max_words=4)
    assert isinstance(caption, Description) and caption.words <= 4 and len(caption.text.split()) <= 4
    assert caption.provenance.model == kind and caption.provenance.tokens_in > 0
    several = llamatasks.describe([path.read_bytes(), _noise(10)], max_words=1, model=model)
    assert isinstance(several, list) and len(several) == 2
    answer = model.answer("What colour is it?", image=path)
    assert isinstance(answer, Generation) and 0 < answer.provenance.tokens_out <= 4
    label = model.classify(image=path, labels=["cat", "dog", "a red car"])
    assert isinstance(label, Classification) and set(label.scores) == {"cat", "dog", "a red car"}
    assert abs(sum(label.scores.values()) - 1) < 1e-6 and label.label == max(label.scores, key=label.scores.get)
    assert model.classify(Image.open(path), labels=["cat", "dog", "a red car"]).scores == pytest.approx(label.scores)
    chat = llamatasks.chat("Compare them.", images=[path, _noise(11)], max_new_tokens=3, model=model)
    assert isinstance(chat, Generation) and chat.provenance.tokens_out <= 3


def test_the_text_path_of_a_tiny_checkpoint_keeps_its_extractive_answers(vision_model: Callable[[str], Model]) -> None:
    model = vision_model(MLLAMA)
    assert model.profile.generation == "llama3.2-vision" and model.profile.vision
    context = "The cat sat on the mat."
    answer = model.answer("Where did the cat sit?", context)
    assert answer.text == context[answer.start:answer.end]


def test_cli_describe_and_image_flags(tiny_checkpoint: Callable[[str], Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from llamatasks.cli import app

    path = tmp_path / "photo.png"
    _noise(12).save(path)
    folder = str(tiny_checkpoint(MLLAMA))
    runner = CliRunner()
    described = runner.invoke(app, ["describe", str(path), "-m", folder, "--max-words", "3", "--json"])
    assert described.exit_code == 0, described.output
    assert '"words"' in described.output
    for command in ("answer", "classify", "chat"):
        assert "--image" in runner.invoke(app, [command, "--help"]).output, command


# -- limits and typed errors ------------------------------------------------------------------


def test_a_text_only_model_names_the_generations_that_read_images(tiny_model: Callable[..., Model]) -> None:
    model = tiny_model("chatml")
    with pytest.raises(VisionUnsupportedError) as caught:
        model.describe(_noise(13))
    assert "chatml" in caught.value.message and "llama3.2-vision" in caught.value.hint
    assert "llama4" in caught.value.hint and isinstance(caught.value, NotImplementedError)
    with pytest.raises(VisionUnsupportedError):
        model.classify(image=_noise(13), labels=["a", "b"])


def _bmp_header(width: int, height: int) -> bytes:
    """A BMP file header claiming ``width`` x ``height`` pixels, with no pixel data after it."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def test_bad_images_give_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(CorruptImageError):
        load_image(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(CorruptImageError):
        load_image(b"")
    with pytest.raises(ImageTooLargeError, match="MAX_IMAGE_PIXELS"):
        load_image(_bmp_header(10_000, 5_000))  # refused from the header: nothing is decoded
    with pytest.raises(ImageTooLargeError):
        load_image(_noise(14), max_pixels=100)
    buffer = io.BytesIO()
    _noise(15).save(buffer, "PPM")
    with pytest.raises(UnsupportedImageError, match="PPM"):
        load_image(buffer.getvalue())
    with pytest.raises(UnsupportedImageError, match="URL"):
        load_image("https://example.com/cat.jpg")
    with pytest.raises(InvalidInputError, match="not found"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InputTypeError):
        load_image(42)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    _noise(16).convert("L").save(buffer, "PNG")
    assert load_image(buffer.getvalue()).mode == "RGB"


def test_bad_calls_give_typed_errors(vision_model: Callable[[str], Model]) -> None:
    model = vision_model(MLLAMA)
    with pytest.raises(InvalidInputError, match="not both"):
        model.classify("a text", labels=["a", "b"], image=_noise(17))
    with pytest.raises(InvalidInputError, match="not both"):
        model.answer("Why?", "a context", image=_noise(17))
    with pytest.raises(InvalidInputError):
        model.describe(_noise(17), max_words=0)
    with pytest.raises(InvalidInputError, match="at most"):
        model.chat("Hi", images=[_noise(17)] * 9)
    with pytest.raises(InvalidInputError):
        model.answer("   ", image=_noise(17))
