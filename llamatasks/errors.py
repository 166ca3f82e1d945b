"""One error tree for everything llamatasks raises.

Every error carries a ``hint`` saying what to do about it. Subclasses also
inherit the matching builtin (``ValueError``, ``KeyError``, ``ImportError``...)
so code that already catches those keeps working. Foreign exceptions (torch,
transformers, tokenizers) are translated at the boundary where they happen
with ``raise ... from exc``.
"""

from __future__ import annotations


class LlamaTasksError(Exception):
    """Base class of every error llamatasks raises.

    Args:
        message: What went wrong, in one line.
        hint: What the user can do about it, in one line.
    """

    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class InvalidInputError(LlamaTasksError, ValueError):
    """Text or options passed to a task are unusable (empty text, wrong type...)."""


class InputTypeError(InvalidInputError, TypeError):
    """A task got an argument of the wrong type (e.g. bytes or a number instead of text)."""


class UnknownLanguageError(InvalidInputError):
    """A language name or code that llamatasks cannot resolve."""

    default_hint = "use an ISO 639-1 / BCP-47 code such as 'en', 'fr', 'pt-BR' or an English name such as 'German'"


class UnknownTaskError(LlamaTasksError, KeyError):
    """No task is registered under the requested name."""

    default_hint = "run `llamatasks plugins` to list the registered tasks"

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return LlamaTasksError.__str__(self)


class UnknownBackendError(LlamaTasksError, KeyError):
    """No backend is registered under the requested name."""

    default_hint = "run `llamatasks plugins` to list the registered backends"

    def __str__(self) -> str:
        return LlamaTasksError.__str__(self)


class BackendUnavailableError(LlamaTasksError, ImportError):
    """A backend or device exists but cannot run here (missing package, no GPU)."""


class ModelNotFoundError(LlamaTasksError, FileNotFoundError):
    """The model path does not exist or no default model is installed."""


class ModelLoadError(LlamaTasksError, OSError):
    """The model files exist but cannot be read (corrupt, truncated, unreadable GGUF)."""


class UnsupportedModelError(LlamaTasksError, ValueError):
    """The model is not a LLaMA-architecture causal language model."""

    default_hint = ("llamatasks runs LLaMA-architecture causal LMs: LLaMA 1/2/3.x, LLaMA 3.2 Vision, Llama 4, "
                    "SmolLM2, TinyLlama, OpenLLaMA")


class PromptFormatError(LlamaTasksError, ValueError):
    """A chat template or prompt format cannot be used for this model."""


class PluginError(LlamaTasksError, RuntimeError):
    """A plugin registered something unusable."""


class CapabilityError(LlamaTasksError, NotImplementedError):
    """The backend cannot do what a task needs (scoring, constrained generation, images...)."""


class GenerationError(LlamaTasksError, RuntimeError):
    """The backend failed while generating or scoring."""


class ImageError(InvalidInputError):
    """An image given to a vision task cannot be used (see the subclasses)."""


class CorruptImageError(ImageError):
    """The image's bytes do not decode (truncated, damaged, or not an image at all)."""

    default_hint = "check that the file is a complete JPEG, PNG, WebP, GIF, BMP or TIFF image"


class UnsupportedImageError(ImageError):
    """The image decodes but its format or mode cannot be used (e.g. a URL, an SVG, an animated frame set)."""

    default_hint = "convert the image to PNG or JPEG; URLs are never fetched: download the image and pass its bytes"


class ImageTooLargeError(ImageError):
    """The image has more pixels than ``llamatasks.vision.MAX_IMAGE_PIXELS`` (a decompression-bomb guard)."""

    default_hint = "downscale the image first (vision models resize to a few tiles of 336-560 pixels anyway)"


class VisionUnsupportedError(CapabilityError):
    """An image task was given to a model (or backend) that cannot read images."""
