"""The engine contract every backend implements.

An engine works on token ids only: tasks build prompts (ids) with the model's
tokenizer and prompt format, and engines run them. The contract:

* ``generate(GenerateRequest)``: batched generation. Results must equal
  one-by-one generation. Greedy when ``temperature == 0``; seeded when
  sampling. A row stops at any of ``stop_token_ids`` (not included in the
  output), after ``max_new_tokens``, or where the context is full. An optional
  per-row ``Constraint`` restricts which tokens may come next.
  ``num_beams > 1`` asks for beam search as transformers defines it
  (log-probabilities summed over a hypothesis, divided by its length;
  ``length_penalty`` 1, ``early_stopping`` False). A contrast prompt per row
  (``contrasts``) with ``contrast_weight`` w > 0 (greedy only) makes the row's
  next token the argmax of ``(1 + w) * log p(t | prompt) - w * log p(t | contrast)``
  (after the row's penalties, bans and constraint), the contrast prompt being fed
  the same generated tokens. Each output also carries the log-probability of
  every generated token under the model's own distribution (before any rule),
  where the backend knows it.
* ``score``: the summed log-probability of each continuation after a prompt.

An engine declares what it can do in ``capabilities``. The runtime checks every
request against them in one place (``supported``, ``require``): what a request cannot be
served without (constraints, scoring) is refused with ``CapabilityError``;
decoding refinements (contrast, beams, n-gram bans) are dropped and the row is
decoded plainly. An engine is never handed a request it did not declare.

Backends that can prefill and step a KV cache implement
``llamatasks.engine.stepping.StepEngine`` and inherit generation from it.
Third-party backends subclass ``Engine`` and register a ``BackendSpec``
through the ``register_backends`` hook.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llamatasks.errors import CapabilityError, InvalidInputError

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


class Capability(str, Enum):
    """Something an engine can do beyond plain generation."""

    SCORE = "score"  #: ``score`` works (log-probabilities of continuations)
    CONSTRAINTS = "constraints"  #: per-row ``Constraint`` objects are honoured
    CONTRAST = "contrast"  #: contrastive decoding with ``contrasts``
    BEAMS = "beams"  #: beam search (``num_beams > 1``)
    NO_REPEAT_NGRAM = "no_repeat_ngram"  #: ``no_repeat_ngram_size``, counting the prompt or not


#: What the built-in backends can do.
ALL_CAPABILITIES = frozenset(Capability)
#: Refused when missing: a task cannot be answered without them.
REQUIRED = frozenset({Capability.SCORE, Capability.CONSTRAINTS})


@dataclass(frozen=True)
class GenerationOutput:
    """One generated row: new token ids (stop token excluded), why it ended, and each token's log-probability.

    ``token_logprobs`` is empty where the backend cannot tell (a server that returns no log-probabilities).
    """

    token_ids: list[int]
    finish_reason: Literal["stop", "length"]
    token_logprobs: list[float] = field(default_factory=list, compare=False)  # floats differ across backends


class GenerateRequest(BaseModel):
    """One batch to generate: prompts, how to decode them, and each row's constraint and contrast prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    prompts: tuple[tuple[int, ...], ...] = Field(min_length=1)
    options: GenerationOptions = GenerationOptions()
    constraints: tuple[Any, ...] | None = Field(default=None, description=(
        "One Constraint or None per prompt; None: no row is constrained."))
    contrasts: tuple[tuple[int, ...] | None, ...] | None = Field(default=None, description=(
        "One contrast prompt (ids) or None per prompt, used when options.contrast_weight > 0."))

    @model_validator(mode="after")
    def _rows_line_up(self) -> GenerateRequest:
        if any(len(p) == 0 for p in self.prompts):
            raise ValueError("every prompt needs at least one token")
        for name in ("constraints", "contrasts"):
            rows = getattr(self, name)
            if rows is not None and len(rows) != len(self.prompts):
                raise ValueError(f"{name} has {len(rows)} rows for {len(self.prompts)} prompts")
        return self

    @classmethod
    def of(cls, prompts: Sequence[Sequence[int]], options: GenerationOptions | None = None,
           constraints: Sequence[Constraint | None] | None = None,
           contrasts: Sequence[Sequence[int] | None] | None = None) -> GenerateRequest:
        """A request from plain sequences; what does not line up raises ``InvalidInputError``."""
        try:
            return cls(prompts=prompts, options=options or GenerationOptions(), constraints=constraints,
                       contrasts=contrasts)
        except ValidationError as exc:
            raise InvalidInputError(f"not a valid generation request: {_first_error(exc)}") from exc

    @property
    def constrained(self) -> bool:
        return self.constraints is not None and any(c is not None for c in self.constraints)

    @property
    def contrastive(self) -> bool:
        return self.options.contrast_weight > 0 and self.contrasts is not None and any(self.contrasts)

    def needs(self) -> set[Capability]:
        """The capabilities this request uses."""
        needed = set()
        if self.constrained:
            needed.add(Capability.CONSTRAINTS)
        if self.contrastive:
            needed.add(Capability.CONTRAST)
        if self.options.num_beams > 1:
            needed.add(Capability.BEAMS)
        if self.options.no_repeat_ngram_size:
            needed.add(Capability.NO_REPEAT_NGRAM)
        return needed


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
    #: What this engine can do (an instance may narrow it, e.g. after probing a server).
    capabilities: frozenset[Capability] = frozenset()
    #: Why a capability is missing and what to do instead, for the ``CapabilityError`` hint.
    capability_hints: ClassVar[dict[Capability, str]] = {}

    @abstractmethod
    def generate(self, request: GenerateRequest) -> list[GenerationOutput]:
        """Generate a continuation for every prompt of ``request`` (one batch)."""

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


def supported(request: GenerateRequest, engine: Engine) -> GenerateRequest:
    """``request`` as ``engine`` can serve it: the one place capabilities are enforced.

    A missing required capability (constraints) raises ``CapabilityError``;
    refinements the engine lacks (contrast, beams, n-gram bans) are dropped, so
    the row decodes plainly.
    """
    missing = request.needs() - set(engine.capabilities)
    refused = missing & REQUIRED
    if refused:
        raise _refusal(engine, min(refused))
    if not missing:
        return request
    options: dict[str, Any] = {}
    update: dict[str, Any] = {}
    if Capability.CONTRAST in missing:
        options["contrast_weight"] = 0.0
        update["contrasts"] = None
    if Capability.BEAMS in missing:
        options["num_beams"] = 1
    if Capability.NO_REPEAT_NGRAM in missing:
        options["no_repeat_ngram_size"] = 0
    return request.model_copy(update={**update, "options": request.options.model_copy(update=options)})


def require(engine: Engine, capability: Capability) -> None:
    """Raise ``CapabilityError`` unless ``engine`` declares ``capability`` (scoring, for the runtime)."""
    if capability not in engine.capabilities:
        raise _refusal(engine, capability)


def _refusal(engine: Engine, capability: Capability) -> CapabilityError:
    hint = engine.capability_hints.get(capability, "this task needs a backend that can: torch or onnx")
    return CapabilityError(f"the {engine.backend_name} backend cannot {_WHAT[capability]}", hint=hint)


_WHAT = {
    Capability.SCORE: "score continuations (sentiment, classify, ner and answer score label likelihoods)",
    Capability.CONSTRAINTS: "constrain generation token by token (answer quotes its context through a constraint)",
    Capability.CONTRAST: "decode contrastively",
    Capability.BEAMS: "search beams",
    Capability.NO_REPEAT_NGRAM: "ban repeated n-grams",
}


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def token_budget(context_length: int, longest: int, max_new_tokens: int) -> int:
    """``max_new_tokens`` capped so that a row of ``longest`` tokens still fits ``context_length``.

    The one rule for how far generation may run: the step loop applies it with the
    engine's context, the runtime with the profile's (``load(max_context=...)``).
    """
    room = context_length - longest
    if room < 1:
        raise InvalidInputError(
            f"a prompt of {longest} tokens leaves no room to generate in the context of {context_length}",
            hint="shorten the text (tasks split long inputs by the context), or load with a larger max_context",
        )
    return min(max_new_tokens, room)


def check_token_ids(ids: Sequence[int], vocab_size: int) -> None:
    """Raise on ids outside ``[0, vocab_size)``: runtimes index with them and wrap -1 round to the last row."""
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
