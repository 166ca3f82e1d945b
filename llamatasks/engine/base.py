"""The engine contract every backend implements.

An engine works on token ids only: tasks build prompts (ids) with the model's
tokenizer and prompt format, and engines run them. The contract:

* ``generate``: batched generation with a KV cache. Prompts of different
  lengths are left-padded; results must equal one-by-one generation. Greedy
  when ``temperature == 0``; seeded when sampling. Generation of a row stops at
  any of ``stop_token_ids`` (not included in the output) or after
  ``max_new_tokens``. An optional per-row ``Constraint`` restricts which tokens
  may come next. ``num_beams > 1`` asks for beam search as transformers defines
  it (log-probabilities summed over a hypothesis, divided by its length;
  ``length_penalty`` 1, ``early_stopping`` False); a backend that cannot search
  beams decodes greedily and says so in its documentation. Engines with
  ``supports_contrast`` also take a contrast prompt per row (``contrasts``):
  with ``contrast_weight`` w > 0 (greedy only) the row's next token is the
  argmax of ``(1 + w) * log p(t | prompt) - w * log p(t | contrast)`` (after the
  row's penalties, bans and constraint), the contrast prompt being fed the
  same generated tokens; the others ignore contrasts and decode plainly.
* ``score``: the summed log-probability of each continuation after a prompt,
  in one forward pass over the prompt per request.

Third-party backends subclass ``Engine`` and register a ``BackendSpec``
through the ``register_backends`` hook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_BEAMS = 16


class GenerationOptions(BaseModel):
    """How to generate; crosses the plugin boundary, so it is a frozen pydantic model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_new_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0, description="0 means greedy decoding.")
    top_p: float = Field(default=1.0, gt=0, le=1)
    seed: int | None = Field(default=None, description="Seed for sampling; ignored when greedy.")
    stop_token_ids: tuple[int, ...] = ()
    repetition_penalty: float = Field(default=1.0, ge=1.0)
    no_repeat_ngram_size: int = Field(default=0, ge=0, description="n-grams of this size may occur only once; 0 is off.")
    no_repeat_ngram_in_prompt: bool = Field(default=True, description=(
        "Whether the prompt's n-grams count for no_repeat_ngram_size, as in transformers (True), or only the "
        "output's own (False): then the output cannot repeat itself but may quote its input."))
    num_beams: int = Field(default=1, ge=1, le=MAX_BEAMS, description="Beam search width; 1 is greedy or sampling.")
    contrast_weight: float = Field(default=0.0, ge=0, description=(
        "Weight w of contrastive decoding (greedy only) for rows given a contrast prompt: the next token is "
        "argmax (1 + w) * log p(token | prompt) - w * log p(token | contrast prompt). 0 turns it off."))

    @model_validator(mode="after")
    def _beams_are_greedy(self) -> GenerationOptions:
        if self.num_beams > 1 and self.temperature > 0:
            raise ValueError("beam search (num_beams > 1) cannot be combined with sampling (temperature > 0)")
        if self.contrast_weight > 0 and (self.num_beams > 1 or self.temperature > 0):
            raise ValueError("contrastive decoding (contrast_weight > 0) is greedy only: num_beams=1, temperature=0")
        return self


class Constraint(Protocol):
    """Restricts generation: which token ids may follow the tokens generated so far."""

    def allowed_tokens(self, generated: Sequence[int]) -> Sequence[int] | None:
        """Ids allowed next, or None for no restriction; include stop ids where the output may end."""
        ...


@dataclass(frozen=True)
class GenerationOutput:
    """One generated row: new token ids (stop token excluded) and why it ended."""

    token_ids: list[int]
    finish_reason: Literal["stop", "length"]


class ScoreRequest(BaseModel):
    """Continuations to score after one prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: tuple[int, ...] = Field(min_length=1)
    continuations: tuple[tuple[int, ...], ...] = Field(min_length=1)


class Engine(ABC):
    """A model loaded on a backend. Subclasses implement ``generate`` and ``score``."""

    backend_name: str = "base"
    device: str = "cpu"
    dtype: str = "float32"
    supports_contrast: bool = False  # generate() takes contrasts= (contrastive decoding)

    @abstractmethod
    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        options: GenerationOptions,
        constraints: Sequence[Constraint | None] | None = None,
    ) -> list[GenerationOutput]:
        """Generate a continuation for every prompt (one batch).

        An engine with ``supports_contrast`` also accepts ``contrasts``: per row, a
        contrast prompt's ids or None (see the module docstring).
        """

    @abstractmethod
    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Summed log-probability of every continuation of every request."""

    def close(self) -> None:
        """Release memory held by the engine (optional)."""


def trim_at_stop(row: Sequence[int], stop_token_ids: Sequence[int]) -> GenerationOutput:
    """A generated row cut at its first stop token (excluded), as the contract asks of ``generate``."""
    stops = set(stop_token_ids)
    for i, token in enumerate(row):
        if token in stops:
            return GenerationOutput(token_ids=list(row[:i]), finish_reason="stop")
    return GenerationOutput(token_ids=list(row), finish_reason="length")


def check_token_ids(ids: Sequence[int], vocab_size: int) -> None:
    """Raise on ids outside ``[0, vocab_size)``: runtimes index with them and wrap -1 round to the last row."""
    from llamatasks.errors import InvalidInputError

    bad = [t for t in ids if not 0 <= t < vocab_size]
    if bad:
        raise InvalidInputError(f"token ids {bad[:5]} are outside the vocabulary (0..{vocab_size - 1})",
                                hint="encode text with this model's own tokenizer")


@dataclass(frozen=True)
class LoadRequest:
    """What a backend needs to load a model: a Hugging Face-format folder and placement."""

    path: Path
    device: str = "auto"
    dtype: str | None = None


@dataclass(frozen=True)
class BackendSpec:
    """A backend as registered by a plugin.

    Attributes:
        name: What users pass as ``backend=``.
        load: Builds an ``Engine`` for a model folder.
        claims: Returns True when a folder is meant for this backend (e.g. an ONNX
            export); used to pick a backend when the user names none.
        description: One line for ``llamatasks plugins``.
    """

    name: str
    load: Callable[[LoadRequest], Engine]
    claims: Callable[[Path], bool] = lambda path: False
    description: str = ""
