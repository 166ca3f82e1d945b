"""The ``redact`` task: PII spans from validated detectors and from the core ``ner`` task, replaced by placeholders."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

import llamatasks
from llamatasks.plugins import (
    Entities,
    InvalidInputError,
    NerOptions,
    NerTask,
    Prompt,
    Provenance,
    Task,
    TaskModel,
    TaskOptions,
    as_text_list,
)
from llamatasks_redact.detectors import (
    DEFAULT_PHONE_REGIONS,
    DETECTORS,
    Detection,
    find_phone_numbers,
)

#: Entity labels of the core ``ner`` task that are redacted by default: names of people and places.
DEFAULT_ENTITIES: tuple[str, ...] = ("PER", "LOC")
DEFAULT_PLACEHOLDER = "[{label}]"


class RedactedSpan(BaseModel):
    """One piece of the original text that was replaced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: int = Field(ge=0, description="Offset in the original text.")
    end: int = Field(gt=0)
    label: str = Field(description="EMAIL, PHONE, IBAN, CARD, or an entity label of the ner task (PER, LOC...).")
    text: str = Field(description="The original text, `original[start:end]`.")
    replacement: str = Field(description="What replaced it in `Redaction.text`.")
    source: Literal["detector", "ner"] = Field(description="A validating detector, or the model's ner task.")
    score: float = Field(default=1.0, ge=0, le=1, description="ner's probability of the label; 1 for detectors.")

    @model_validator(mode="after")
    def _span_matches_text(self) -> RedactedSpan:
        if self.end - self.start != len(self.text):
            raise ValueError("span offsets do not match the length of its text")
        return self


class Redaction(BaseModel):
    """A text with its PII replaced, and the spans that were replaced (in order, never overlapping)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    spans: list[RedactedSpan]
    provenance: Provenance | None = Field(default=None, description="The model's, when ner ran; None otherwise.")


class RedactOptions(TaskOptions):
    """Options of ``redact``."""

    task_name = "redact"

    entities: tuple[str, ...] = Field(default=DEFAULT_ENTITIES, description=(
        "ner labels to redact (default PER and LOC); empty for the detectors only."))
    detectors: tuple[str, ...] = Field(default=tuple(DETECTORS), description=(
        f"Which detectors run: any of {', '.join(DETECTORS)} (default all)."))
    phone_regions: tuple[str, ...] = Field(default=DEFAULT_PHONE_REGIONS, description=(
        "Regions whose national phone formats are recognised; international numbers (+44 ...) always are."))
    placeholder: str = Field(default=DEFAULT_PLACEHOLDER, strict=True, description=(
        "Replacement text; {label} is filled in."))

    _entities = field_validator("entities")(classmethod(lambda cls, value: _entities(value)))
    _detectors = field_validator("detectors")(classmethod(lambda cls, value: _detector_names(value)))
    _placeholder = field_validator("placeholder")(classmethod(lambda cls, value: _placeholder(value)))


class RedactTask(Task[RedactOptions]):
    """Redact e-mails, phone numbers, IBANs, card numbers and (through ``ner``) names."""

    name = "redact"
    result_type = Redaction
    description = "replace e-mails, phone numbers, IBANs, card numbers and names by placeholders"
    Options = RedactOptions

    def prompts(self, model: TaskModel, text: str, options: RedactOptions) -> list[Prompt]:
        entities = options.entities
        return NerTask().prompts(model, text, NerOptions(labels=entities)) if entities else []

    def run(self, model: TaskModel | None, texts: list[str], options: RedactOptions) -> list[Redaction]:
        entities, placeholder = options.entities, options.placeholder
        regions, names = options.phone_regions, options.detectors
        started = time.perf_counter()
        found = [detect(text, names, regions) for text in texts]
        provenances: list[Provenance | None] = [None] * len(texts)
        if entities:
            if model is None:
                raise InvalidInputError("redacting entities needs a model",
                                        hint="pass a model, or entities=() for the detectors only")
            for i, found_entities in enumerate(NerTask().run(model, texts, NerOptions(labels=entities))):
                result = cast(Entities, found_entities)
                found[i] += [_Candidate(e.start, e.end, e.label, "ner", e.score) for e in result.entities]
                provenances[i] = result.provenance
        seconds = (time.perf_counter() - started) / len(texts)
        return [_redact(text, spans, placeholder, _with_seconds(prov, seconds))
                for text, spans, prov in zip(texts, found, provenances)]


class _Candidate:
    """A span proposed by a detector or by ner, before overlaps are resolved."""

    __slots__ = ("end", "label", "score", "source", "start")

    def __init__(self, start: int, end: int, label: str, source: Literal["detector", "ner"], score: float = 1.0):
        self.start, self.end, self.label, self.source, self.score = start, end, label, source, score


def detect(text: str, detectors: Sequence[str] = tuple(DETECTORS),
           phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> list[_Candidate]:
    """Spans the named detectors validate, strongest claim first."""
    found: list[_Candidate] = []
    for name in detectors:
        hits: list[Detection] = (find_phone_numbers(text, phone_regions) if name == "phone"
                                 else DETECTORS[name](text))
        found += [_Candidate(d.start, d.end, d.label, "detector") for d in hits]
    return found


def _redact(text: str, candidates: list[_Candidate], placeholder: str, provenance: Provenance | None) -> Redaction:
    # Earlier candidates win overlaps: detectors before ner (a validated IBAN beats a
    # capitalised word inside it), and among detectors the order of DETECTORS.
    kept: list[_Candidate] = []
    for cand in candidates:
        if all(cand.end <= k.start or cand.start >= k.end for k in kept):
            kept.append(cand)
    kept.sort(key=lambda c: c.start)
    pieces, spans, last = [], [], 0
    for c in kept:
        replacement = placeholder.format(label=c.label)
        pieces += [text[last:c.start], replacement]
        spans.append(RedactedSpan(start=c.start, end=c.end, label=c.label, text=text[c.start:c.end],
                                  replacement=replacement, source=c.source, score=c.score))
        last = c.end
    pieces.append(text[last:])
    return Redaction(text="".join(pieces), spans=spans, provenance=provenance)


def _with_seconds(provenance: Provenance | None, seconds: float) -> Provenance | None:
    return None if provenance is None else provenance.model_copy(update={"seconds": seconds})


def _entities(value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_ENTITIES
    if isinstance(value, str) or not all(isinstance(x, str) and x.strip() for x in value):
        raise InvalidInputError(f"entities must be a list of ner labels, got {value!r}",
                                hint='e.g. entities=["PER", "LOC", "ORG"], or entities=() for detectors only')
    return tuple(value)


def _detector_names(value: Any) -> tuple[str, ...]:
    if value is None:
        return tuple(DETECTORS)
    unknown = [name for name in value if name not in DETECTORS] if not isinstance(value, str) else [value]
    if unknown:
        raise InvalidInputError(f"unknown detectors {unknown!r}", hint=f"choose from {', '.join(DETECTORS)}")
    return tuple(name for name in DETECTORS if name in value)  # always in order of precedence


def _placeholder(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"placeholder must be a string, got {value!r}", hint='e.g. "[{label}]" or "***"')
    try:
        value.format(label="X")
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidInputError(f"placeholder {value!r} is not a format string with only {{label}}: {exc}",
                                hint='e.g. "[{label}]", "<{label}>" or "***"') from exc
    return value


def redact(text: str | Sequence[str], *, model: Any = None, backend: str | None = None,
           entities: Sequence[str] | None = DEFAULT_ENTITIES, detectors: Sequence[str] | None = None,
           phone_regions: Sequence[str] | None = None,
           placeholder: str = DEFAULT_PLACEHOLDER) -> Redaction | list[Redaction]:
    """Replace PII in one text (one ``Redaction``) or a list of texts (a list).

    Args:
        text: The text, or a list of texts.
        model: A ``llamatasks.Model``, a model path, or None for the default model;
            not loaded at all when ``entities`` is empty.
        backend: Backend to load ``model`` on.
        entities: ner labels to redact (default PER and LOC); ``()`` for the detectors only.
        detectors: Which of iban, card, email and phone run (default all).
        phone_regions: Regions whose national phone formats are recognised
            (default US, GB, DE, FR); international numbers (+44 ...) are always found.
        placeholder: Replacement text; ``{label}`` is filled in.
    """
    texts, single = as_text_list(text)
    options = RedactOptions.parse({"entities": entities, "detectors": detectors, "phone_regions": phone_regions,
                                   "placeholder": placeholder})
    loaded = llamatasks.get_model(model, backend).runtime if options.entities else None
    results = RedactTask().run(loaded, texts, options)
    return results[0] if single else results
