"""Labelled evaluation samples: the JSON Lines format per task, loaded into typed records.

One example a line, a JSON object. Fields a task does not use (``tokens``, ``tags_iob2``,
``title``, ``doc``...) are ignored, so the files in the eval set can be passed as they are.

| task | required fields | optional |
|---|---|---|
| sentiment | ``text``, ``label`` | ``source`` |
| ner | ``text``, ``entities`` [{``text``, ``label``, ``start``, ``end``}] | |
| summarize | ``document``, ``references`` (list) or ``summary`` | ``id`` |
| translate | ``source``, ``target``, ``src_lang``, ``tgt_lang`` | ``id`` |
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from llamatasks.errors import InvalidInputError

EvalTask = Literal["sentiment", "ner", "summarize", "translate"]
"""The tasks the harness can score."""

TASK_ALIASES: dict[str, EvalTask] = {
    "sentiment": "sentiment",
    "ner": "ner",
    "summarize": "summarize",
    "summarization": "summarize",
    "translate": "translate",
    "translation": "translate",
}

NonEmptyStr = Annotated[str, Field(min_length=1)]


class _Record(BaseModel):
    # strict: a label of 1 or an offset of "3" is a mistake in the file, not something to coerce.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    fields_hint: ClassVar[str] = ""


class SentimentExample(_Record):
    """A text with its gold sentiment label."""

    fields_hint: ClassVar[str] = "'text' and 'label' (strings), optionally 'source'"

    text: NonEmptyStr
    label: NonEmptyStr
    source: str | None = None


class GoldEntity(_Record):
    """A gold entity span; ``text`` equals the example text at ``[start:end]``."""

    text: NonEmptyStr
    label: NonEmptyStr
    start: int = Field(ge=0)
    end: int = Field(gt=0)


class NerExample(_Record):
    """A text with its gold entity spans (character offsets)."""

    fields_hint: ClassVar[str] = (
        "'text' and 'entities', a list of {'text', 'label', 'start', 'end'} with text[start:end] == entity text"
    )

    text: NonEmptyStr
    entities: tuple[GoldEntity, ...]

    @model_validator(mode="after")
    def _entities_are_spans_of_text(self) -> NerExample:
        for index, entity in enumerate(self.entities):
            found = self.text[entity.start : entity.end]
            if found != entity.text:
                raise ValueError(
                    f"entities[{index}] is {entity.text!r} but text[{entity.start}:{entity.end}] is {found!r}"
                )
        return self


class SummarizationExample(_Record):
    """A document with one or more reference summaries.

    ``references`` is used when present; a file with only ``summary`` has that one reference.
    """

    fields_hint: ClassVar[str] = "'document' and 'references' (a list of strings) or 'summary'"

    document: NonEmptyStr
    references: tuple[NonEmptyStr, ...] | None = None
    summary: NonEmptyStr | None = None
    id: str | None = None

    @model_validator(mode="after")
    def _has_a_reference(self) -> SummarizationExample:
        if not self.references and self.summary is None:
            raise ValueError("needs 'references' (a non-empty list) or 'summary'")
        return self

    @property
    def reference_texts(self) -> tuple[str, ...]:
        """The reference summaries to score against."""
        if self.references:
            return self.references
        assert self.summary is not None  # guaranteed by _has_a_reference
        return (self.summary,)


class TranslationExample(_Record):
    """A source sentence with its reference translation."""

    fields_hint: ClassVar[str] = "'source', 'target', 'src_lang' and 'tgt_lang' (strings)"

    source: NonEmptyStr
    target: NonEmptyStr
    src_lang: NonEmptyStr
    tgt_lang: NonEmptyStr
    id: str | None = None


RecordT = TypeVar("RecordT", SentimentExample, NerExample, SummarizationExample, TranslationExample)


def resolve_task(name: str) -> EvalTask:
    """Map a task name or alias (``"summarization"``, ``"translation"``) to its canonical name.

    Raises:
        InvalidInputError: The harness cannot score that task.
    """
    task = TASK_ALIASES.get(name.strip().lower())
    if task is None:
        raise InvalidInputError(
            f"no evaluation for task {name!r}",
            hint=f"choose one of: {', '.join(get_args(EvalTask))}",
        )
    return task


def load_examples(path: Path, record_type: type[RecordT], *, limit: int | None = None) -> list[RecordT]:
    """Read and validate a JSON Lines file of labelled examples.

    Blank lines are skipped (line numbers in errors still count them).

    Args:
        path: The ``.jsonl`` file.
        record_type: The record each line must validate as, e.g. ``NerExample``.
        limit: Read at most this many examples, from the top of the file.

    Returns:
        The examples in file order.

    Raises:
        InvalidInputError: The file is missing, empty, not UTF-8, or a line is malformed
            (the message names the line and the field).
    """
    if limit is not None and limit < 1:
        raise InvalidInputError(f"limit must be at least 1, got {limit}", hint="leave it out to use every example")
    examples: list[RecordT] = []
    for line_number, line in _numbered_lines(path):
        if limit is not None and len(examples) >= limit:
            break
        try:
            examples.append(record_type.model_validate_json(line))
        except ValidationError as exc:
            raise InvalidInputError(
                f"{path}, line {line_number}: {_describe(exc)}", hint=_format_hint(record_type)
            ) from exc
    if not examples:
        raise InvalidInputError(f"{path} holds no examples", hint=_format_hint(record_type))
    return examples


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line) for the non-blank lines of a UTF-8 file."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            for line_number, line in enumerate(handle, start=1):
                if line.strip():
                    yield line_number, line
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}", hint="pass an existing .jsonl file") from exc
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{path} is not UTF-8 text", hint="save the file as UTF-8 JSON Lines") from exc


def _describe(exc: ValidationError) -> str:
    """Say in one line what is wrong with a record, naming the fields."""
    problems = [_describe_error(error) for error in exc.errors(include_url=False)]
    shown = "; ".join(problems[:3])
    return shown if len(problems) <= 3 else f"{shown}; and {len(problems) - 3} more"


def _describe_error(error: ErrorDetails) -> str:
    """Render one pydantic error as ``field 'entities[0].start': <message>``."""
    if error["type"] == "json_invalid":
        return f"not valid JSON ({error['ctx']['error']})" if "ctx" in error else "not valid JSON"
    if error["type"] == "model_type" and not error["loc"]:
        return "the line is not a JSON object"
    location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    if error["type"] == "missing":
        return f"field {location!r} is missing"
    message = error["msg"].removeprefix("Value error, ")
    return f"field {location!r}: {message}" if location else message


def _format_hint(record_type: type[_Record]) -> str:
    """Name the fields a line needs, for error hints."""
    return f"each line must be a JSON object with {record_type.fields_hint}"
