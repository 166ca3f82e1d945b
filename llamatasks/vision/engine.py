"""What an engine that reads images implements, beside the text ``Engine`` contract.

A backend offers images by giving its engine an ``image_engine()`` method
that returns an ``ImageEngine`` (or raises ``VisionUnsupportedError``). The
built-in torch backend does so for LLaMA 3.2 Vision and Llama 4 folders; the
llamatasks-openai plugin for servers configured to take images.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from llamatasks.engine.base import GenerationOptions, GenerationOutput
from llamatasks.errors import VisionUnsupportedError
from llamatasks.vision.prompts import ImagePrompt

#: The generations whose models read images, for error messages and docs.
VISION_GENERATIONS = ("llama3.2-vision (MllamaForConditionalGeneration)", "llama4 (Llama4ForConditionalGeneration)")


class ImageEngine(ABC):
    """Generation and scoring for prompts with images (``ImagePrompt``)."""

    #: Whether ``score`` works (a chat-completions server cannot score).
    can_score: bool = True
    #: The most images one prompt may carry on this model.
    max_images: int = 8

    @abstractmethod
    def generate(self, prompts: Sequence[ImagePrompt], options: GenerationOptions) -> list[GenerationOutput]:
        """One output per prompt (a batch); greedy when ``options.temperature == 0``, stopping at its stop ids."""

    @abstractmethod
    def score(self, prompt: ImagePrompt, continuations: Sequence[Sequence[int]]) -> list[float]:
        """Summed log-probability of each continuation (token ids) after ``prompt``."""

    def tokens_in(self, prompt: ImagePrompt) -> int:
        """Tokens the prompt takes on this engine (Llama 4 adds patch tokens per tile)."""
        return len(prompt.ids)


def no_vision(model: str, generation: str, why: str = "") -> VisionUnsupportedError:
    """The error for an image task on a model that cannot read images."""
    reason = why or f"it is a text-only {generation} model"
    return VisionUnsupportedError(
        f"{model} cannot read images: {reason}",
        hint=f"image tasks need a model of a generation that reads images: {', '.join(VISION_GENERATIONS)}",
    )
