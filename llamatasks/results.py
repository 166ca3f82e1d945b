"""Typed results returned by the tasks.

Every result is a frozen pydantic model that carries the answer and its
provenance (which model, backend and prompt format produced it, how many
tokens, how long it took), and serializes to JSON with ``model_dump_json()``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: What every generated-text result says its ``confidence`` is.
CONFIDENCE = ("The model's own geometric-mean probability of the tokens it generated (None where the backend "
              "reports no log-probabilities). Not calibrated: low values flag outputs the model was unsure of.")


class Provenance(_Frozen):
    """Where a result came from.

    ``seconds`` is the wall time of the whole call divided by the number of
    inputs: inputs in a batch share forward passes.
    """

    model: str
    backend: str
    device: str
    prompt_format: str
    tokens_in: int = Field(ge=0)
    tokens_out: int = Field(ge=0)
    seconds: float = Field(ge=0)
    chunks: int = Field(default=1, ge=1, description="How many pieces a long input was split into.")
    cached: bool = Field(default=False, description="True when the result came from the result cache "
                                                  "(llamatasks.corpus.cache) instead of the model.")


class Sentiment(_Frozen):
    """Sentiment as a probability distribution over labels (they sum to 1)."""

    label: str
    score: float = Field(ge=0, le=1, description="Probability of `label`.")
    scores: dict[str, float]
    provenance: Provenance


class Classification(_Frozen):
    """Zero-shot classification over caller-given labels (scores sum to 1)."""

    label: str
    score: float = Field(ge=0, le=1)
    scores: dict[str, float]
    provenance: Provenance


class Entity(_Frozen):
    """A named entity: always a real span, ``text == source[start:end]``."""

    text: str
    label: str
    start: int = Field(ge=0)
    end: int = Field(gt=0)
    score: float = Field(default=1.0, ge=0, le=1, description="Probability of `label` for this span.")

    @model_validator(mode="after")
    def _span_matches_text(self) -> Entity:
        if self.end - self.start != len(self.text):
            raise ValueError("entity offsets do not match the length of its text")
        return self


class Entities(_Frozen):
    """The entities found in one text, in order of appearance."""

    entities: list[Entity]
    provenance: Provenance


class Summary(_Frozen):
    """A summary of one text."""

    text: str
    words: int = Field(ge=0)
    confidence: float | None = Field(default=None, ge=0.0, le=1.0, description=CONFIDENCE)
    unsupported: list[str] = Field(default_factory=list, description=(
        "Numbers, names and terms in the summary that the text does not contain (each once, in summary order; "
        "llamatasks.tasks.summarize_claims): claims to check before trusting the summary. Empty when all are found."))
    provenance: Provenance


class Translation(_Frozen):
    """A translation of one text; ``source`` was detected when not given."""

    text: str
    source: str
    target: str
    source_detected: bool = False
    copied_source: bool = Field(
        default=False,
        description="True when part of the text is the source handed back untranslated, even after a retry.",
    )
    confidence: float | None = Field(default=None, ge=0.0, le=1.0, description=(
        "How much the source, rather than another sentence, explains the output: the sigmoid of the mean "
        "per-token log-probability ratio of the output given this source against given a built-in other "
        "sentence (the model's own probabilities). 0.5 means the output owes nothing to the source. None "
        "where the backend cannot score."))
    wrong_script: bool = Field(default=False, description=(
        "True when under half of the output's letters are in the target language's script."))
    low_confidence: bool = Field(default=False, description=(
        "True when confidence is below llamatasks.tasks.translate.LOW_CONFIDENCE (docs/quality.md)."))
    provenance: Provenance


class Answer(_Frozen):
    """An extractive answer: ``context[start:end] == text``; ``found`` is False when no span was produced."""

    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    found: bool
    score: float = Field(ge=0.0, le=1.0, description=(
        "The model's mean per-token probability of the quote, scored without the quoting constraint (0 when "
        "nothing was found); the chunks of a long context compete by it. Not calibrated: compare answers of "
        "one model, and do not read it as the chance the answer is right."))
    provenance: Provenance


class Generation(_Frozen):
    """Free-form model output from ``Model.chat``."""

    text: str
    finish_reason: str = Field(description="'stop' (a stop token) or 'length' (the token budget).")
    confidence: float | None = Field(default=None, ge=0.0, le=1.0, description=CONFIDENCE)
    provenance: Provenance


class ItemError(_Frozen):
    """The result ``map`` and ``batch`` give for one input they could not run; the job goes on.

    ``error`` is the llamatasks error class (``InvalidInputError``, ``InputTypeError``...).
    """

    index: int = Field(ge=0, description="Position of the input in the stream (0-based).")
    error: str
    message: str
    hint: str = ""


class Description(_Frozen):
    """A caption of one image (``describe``), at most ``max_words`` words."""

    text: str
    words: int = Field(ge=0)
    truncated: bool = Field(default=False, description=(
        "True when the model ran past max_words and the caption was cut at the last whole word within it."))
    confidence: float | None = Field(default=None, ge=0.0, le=1.0, description=CONFIDENCE)
    provenance: Provenance
