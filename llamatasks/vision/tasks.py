"""The image tasks: describe, answer about an image, classify an image, chat with images.

Each renders its messages in the model's own chat template with one image slot
per image (``render_image_prompt``: the caller's text is ``User`` text, so a
typed ``<|image|>`` stays text) and runs them on the model's ``ImageEngine``.
``classify`` scores every label's likelihood after the prompt, like the text
classifier, and calibrates by the label distribution the model gives
content-free images (black, mid-grey and white at the input's size), the image
counterpart of the text classifier's "N/A" prompts (Zhao et al. 2021).
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llamatasks.engine.base import GenerationOptions, GenerationOutput, token_budget
from llamatasks.errors import InvalidInputError, VisionUnsupportedError
from llamatasks.prompts.render import User
from llamatasks.results import Classification, Description, Generation, Provenance
from llamatasks.tasks.chat import ChatOptions, confidence
from llamatasks.tasks.classify import ClassifyOptions
from llamatasks.tasks.describe import DescribeOptions, bounded, instruction
from llamatasks.tasks.describe import token_budget as describe_budget
from llamatasks.tasks.scoring import calibrate
from llamatasks.vision.engine import ImageEngine, no_vision
from llamatasks.vision.images import ImageInput, load_image, load_images
from llamatasks.vision.prompts import (
    IMAGE,
    ImageMessage,
    ImagePart,
    ImagePrompt,
    render_image_prompt,
)

if TYPE_CHECKING:
    from PIL.Image import Image

    from llamatasks.model import Model

#: Longest free-form answer about an image, in tokens.
ANSWER_MAX_TOKENS = 128
#: Content-free images (RGB) that calibrate ``classify``'s label prior.
CONTENT_FREE_COLORS = ((0, 0, 0), (128, 128, 128), (255, 255, 255))

_RUNTIMES: weakref.WeakKeyDictionary[Any, ImageRuntime] = weakref.WeakKeyDictionary()


class ImageRuntime:
    """A loaded model's image side: render, generate and score image prompts, with provenance."""

    def __init__(self, model: Model, engine: ImageEngine) -> None:
        self.model = model
        self.engine = engine

    def render(self, messages: Sequence[ImageMessage], images: Sequence[Image], answer_prefix: str = "") -> ImagePrompt:
        return render_image_prompt(self.model.renderer, messages, images, answer_prefix)

    def generate(self, prompts: Sequence[ImagePrompt], options: GenerationOptions) -> list[GenerationOutput]:
        """Generate for every prompt, ``batch_size`` at a time, capped by the context."""
        size = self.model.runtime.batch_size
        outputs: list[GenerationOutput] = []
        for start in range(0, len(prompts), size):
            batch = prompts[start:start + size]
            longest = max(self.engine.tokens_in(p) for p in batch)
            budget = token_budget(self.model.profile.context_length, longest, options.max_new_tokens)
            outputs += self.engine.generate(batch, options.model_copy(update={"max_new_tokens": budget}))
        return outputs

    def provenance(self, prompt: ImagePrompt, tokens_out: int, seconds: float) -> Provenance:
        return self.model.runtime.provenance(tokens_in=self.engine.tokens_in(prompt), tokens_out=tokens_out,
                                             seconds=seconds)


def image_runtime(model: Model) -> ImageRuntime:
    """The image side of ``model``; ``VisionUnsupportedError`` for a text-only model or backend."""
    if model in _RUNTIMES:
        return _RUNTIMES[model]
    profile = model.profile
    if not profile.vision:
        raise no_vision(profile.name, profile.generation)
    factory = getattr(model.engine, "image_engine", None)
    if factory is None:
        raise VisionUnsupportedError(f"the {model.backend_name} backend cannot send images to {profile.name}",
                                     hint="load the model with backend='torch' (or a server backend that takes images)")
    runtime = ImageRuntime(model, factory())
    _RUNTIMES[model] = runtime
    return runtime


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidInputError(f"{what} is empty")
    return value


def _generated(runtime: ImageRuntime, prompts: list[ImagePrompt], options: GenerationOptions,
               started: float) -> list[tuple[ImagePrompt, GenerationOutput, float]]:
    outputs = runtime.generate(prompts, options)
    seconds = (time.perf_counter() - started) / len(prompts)
    return [(p, o, seconds) for p, o in zip(prompts, outputs)]


def describe(model: Model, images: ImageInput | Sequence[ImageInput], *, max_words: int | None = None,
             ) -> Description | list[Description]:
    """A caption of each image (one image: one ``Description``; a list: a list)."""
    options = DescribeOptions.parse({"max_words": max_words})
    assert isinstance(options, DescribeOptions)
    single = not isinstance(images, (list, tuple))
    items: list[Any] = [images] if single else list(images)  # type: ignore[arg-type]
    loaded = [load_image(i) for i in items]
    if not loaded:
        raise InvalidInputError("no image given", hint="pass one image or a list of images")
    runtime = image_runtime(model)
    started = time.perf_counter()
    prompts = [runtime.render([ImageMessage("user", (IMAGE, instruction(options)))], [image]) for image in loaded]
    generation = GenerationOptions(max_new_tokens=describe_budget(options),
                                   stop_token_ids=model.profile.stop_token_ids)
    results = []
    for prompt, out, seconds in _generated(runtime, prompts, generation, started):
        text, words, truncated = bounded(model.tokenizer.decode(out.token_ids), options.max_words)
        results.append(Description(text=text, words=words, truncated=truncated,
                                   confidence=confidence(out.token_logprobs),
                                   provenance=runtime.provenance(prompt, len(out.token_ids), seconds)))
    return results[0] if single else results


def answer_about(model: Model, question: str, images: ImageInput | Sequence[ImageInput]) -> Generation:
    """A free-form answer to ``question`` about the image(s), in the model's own words."""
    question = _text(question, "the question")
    runtime = image_runtime(model)
    loaded = load_images(images, limit=runtime.engine.max_images)
    started = time.perf_counter()
    parts: list[ImagePart] = [IMAGE] * len(loaded)
    prompt = runtime.render([ImageMessage("user", (*parts, User(question)))], loaded)
    generation = GenerationOptions(max_new_tokens=ANSWER_MAX_TOKENS, stop_token_ids=model.profile.stop_token_ids)
    ((_, out, seconds),) = _generated(runtime, [prompt], generation, started)
    return _generation(model, runtime, prompt, out, seconds)


def chat_with_images(model: Model, message: str, images: ImageInput | Sequence[ImageInput], *,
                     system: str | None = None, max_new_tokens: int | None = None, temperature: float | None = None,
                     seed: int | None = None) -> Generation:
    """``chat`` with images in the user turn (before the message, as the models were trained)."""
    options = ChatOptions.parse({"system": system, "max_new_tokens": max_new_tokens, "temperature": temperature,
                                 "seed": seed})
    assert isinstance(options, ChatOptions)
    message = _text(message, "the message")
    runtime = image_runtime(model)
    loaded = load_images(images, limit=runtime.engine.max_images)
    started = time.perf_counter()
    turns = [ImageMessage("system", (User(options.system),))] if options.system else []
    parts: list[ImagePart] = [IMAGE] * len(loaded)
    prompt = runtime.render([*turns, ImageMessage("user", (*parts, User(message)))], loaded)
    generation = GenerationOptions(max_new_tokens=options.max_new_tokens, temperature=options.temperature,
                                   seed=options.seed, stop_token_ids=model.profile.stop_token_ids)
    ((_, out, seconds),) = _generated(runtime, [prompt], generation, started)
    return _generation(model, runtime, prompt, out, seconds)


def _generation(model: Model, runtime: ImageRuntime, prompt: ImagePrompt, out: GenerationOutput,
                seconds: float) -> Generation:
    return Generation(text=model.tokenizer.decode(out.token_ids).strip(), finish_reason=out.finish_reason,
                      confidence=confidence(out.token_logprobs),
                      provenance=runtime.provenance(prompt, len(out.token_ids), seconds))


def classify_image(model: Model, image: ImageInput, labels: Sequence[str]) -> Classification:
    """Zero-shot classification of one image by label likelihood, calibrated on content-free images."""
    options = ClassifyOptions.parse({"labels": tuple(labels) if isinstance(labels, (list, tuple)) else labels})
    assert isinstance(options, ClassifyOptions)
    runtime = image_runtime(model)
    if not runtime.engine.can_score:
        raise VisionUnsupportedError(f"the {model.backend_name} backend cannot score labels after an image",
                                     hint="classify images on the torch backend; describe and answer work here")
    loaded = load_image(image)
    started = time.perf_counter()
    label_list = list(options.labels)
    dist = _label_distribution(runtime, loaded, label_list)
    priors = [_label_distribution(runtime, _blank(loaded.size, color), label_list) for color in CONTENT_FREE_COLORS]
    prior = {label: sum(p[label] for p in priors) / len(priors) for label in label_list}
    scores = calibrate(dist, prior)
    label = max(scores, key=scores.__getitem__)
    prompt = _classify_prompt(runtime, loaded, label_list)
    prov = runtime.provenance(prompt, 0, time.perf_counter() - started)
    return Classification(label=label, score=scores[label], scores=scores, provenance=prov)


def _classify_prompt(runtime: ImageRuntime, image: Image, labels: list[str]) -> ImagePrompt:
    # The labels are the caller's text: User text, never special tokens.
    question = ("Which category does this image belong to: ", User(", ".join(labels)), "?")
    return runtime.render([ImageMessage("user", (IMAGE, *question))], [image],
                          answer_prefix="The category of this image is")


def _label_distribution(runtime: ImageRuntime, image: Image, labels: list[str]) -> dict[str, float]:
    """``{label: probability}``: each label's whole-word likelihood after the prompt, normalized."""
    prompt = _classify_prompt(runtime, image, labels)
    conts = [runtime.model.renderer.continuation_ids(prompt.prompt, " " + label) for label in labels]
    logprobs = runtime.engine.score(prompt, conts)
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    return {label: w / sum(weights) for label, w in zip(labels, weights)}


def _blank(size: tuple[int, int], color: tuple[int, int, int]) -> Image:
    from PIL import Image as PILImage

    return PILImage.new("RGB", size, color)
