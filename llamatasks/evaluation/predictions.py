"""Predictions from the typed llamatasks tasks, in the shapes the metrics take.

The harness needs only a few methods from a model; ``TaskModel`` names them, so a loaded
``llamatasks.Model`` and a test double both fit. Inputs run in batches of ``batch_size`` with a
progress bar that shows on a terminal only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Protocol, TypeVar

from llamatasks.errors import LlamaTasksError
from llamatasks.evaluation.metrics import EntitySpan

from .data import TranslationExample

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class LabelPrediction:
    """A predicted label (``None`` when the answer had none) and its probability, when known."""

    label: str | None
    confidence: float | None = None


@dataclass(frozen=True)
class SpanPrediction:
    """A predicted entity; ``start``/``end`` are -1 when its text was not found in the input."""

    text: str
    label: str
    start: int
    end: int


class SentimentLike(Protocol):
    """What the harness reads from a sentiment result."""

    @property
    def label(self) -> str: ...
    @property
    def score(self) -> float: ...


class EntitiesLike(Protocol):
    """What the harness reads from an NER result."""

    @property
    def entities(self) -> Sequence[EntitySpan]: ...


class TextLike(Protocol):
    """What the harness reads from a summary, translation or chat result."""

    @property
    def text(self) -> str: ...


class ProfileLike(Protocol):
    """What the harness reads from a model profile."""

    @property
    def name(self) -> str: ...


class ChatModel(Protocol):
    """What the naive baseline needs: free-form chat."""

    def chat(self, prompt: str, /, *, system: str | None = None, max_new_tokens: int = ...) -> TextLike: ...


class TaskModel(ChatModel, Protocol):
    """What the harness needs from a loaded model (``llamatasks.Model`` fits).

    Task methods take a list and return a list; the ``X | Sequence[X]`` return types admit
    ``Model``'s one-text-in, one-result-out overloading (the harness always passes a list).
    """

    @property
    def profile(self) -> ProfileLike: ...
    @property
    def backend_name(self) -> str: ...
    def sentiment(
        self, texts: list[str], /, *, labels: list[str] | None = ...
    ) -> SentimentLike | Sequence[SentimentLike]: ...
    def ner(self, texts: list[str], /, *, labels: list[str] | None = ...) -> EntitiesLike | Sequence[EntitiesLike]: ...
    def summarize(
        self, texts: list[str], /, *, max_words: int | None = ..., num_beams: int | None = ...
    ) -> TextLike | Sequence[TextLike]: ...
    def translate(
        self, texts: list[str], /, *, target: str, source: str | None = ..., num_beams: int | None = ...
    ) -> TextLike | Sequence[TextLike]: ...


class Progress(Protocol):
    """The part of a tqdm bar the harness uses."""

    def update(self, n: int = 1) -> object: ...


@contextmanager
def progress_bar(total: int, description: str, show: bool | None = None) -> Iterator[Progress]:
    """A tqdm bar over examples on stderr.

    ``show=None`` shows it only when stderr is a terminal and ``LLAMATASKS_NO_PROGRESS`` is unset,
    as ``Model``'s own bars do.
    """
    from tqdm import tqdm

    if show is None:
        show = sys.stderr.isatty() and not os.environ.get("LLAMATASKS_NO_PROGRESS")
    with tqdm(total=total, desc=description, unit="ex", disable=not show, leave=False) as bar:
        yield bar


def map_in_batches(
    items: Sequence[ItemT],
    run: Callable[[list[ItemT]], ResultT | Sequence[ResultT]],
    batch_size: int,
    progress: Progress,
) -> list[ResultT]:
    """Apply ``run`` to consecutive batches of ``items`` and concatenate the results in order.

    Raises:
        LlamaTasksError: ``run`` did not return one result per input.
    """
    results: list[ResultT] = []
    for start in range(0, len(items), batch_size):
        batch = list(items[start : start + batch_size])
        outputs = run(batch)
        if not isinstance(outputs, (list, tuple)) or len(outputs) != len(batch):
            got = f"{len(outputs)} results" if isinstance(outputs, (list, tuple)) else type(outputs).__name__
            raise LlamaTasksError(
                f"the model returned {got} for a batch of {len(batch)} inputs; expected a list of {len(batch)}",
                hint="this is a bug in the task or backend; please report it",
            )
        results.extend(outputs)
        progress.update(len(batch))
    return results


def predict_sentiment(
    model: TaskModel, texts: Sequence[str], labels: list[str], batch_size: int, progress: Progress
) -> list[LabelPrediction]:
    """Run ``model.sentiment`` over ``labels``; the confidence is the probability of the chosen label."""
    results = map_in_batches(texts, partial(model.sentiment, labels=labels), batch_size, progress)
    return [LabelPrediction(label=result.label, confidence=result.score) for result in results]


def predict_entities(
    model: TaskModel, texts: Sequence[str], labels: list[str] | None, batch_size: int, progress: Progress
) -> list[list[SpanPrediction]]:
    """Run ``model.ner`` with the label set of the data."""
    results = map_in_batches(texts, partial(model.ner, labels=labels), batch_size, progress)
    return [
        [SpanPrediction(text=e.text, label=e.label, start=e.start, end=e.end) for e in result.entities]
        for result in results
    ]


def predict_summaries(
    model: TaskModel, texts: Sequence[str], max_words: int | None, num_beams: int | None, batch_size: int,
    progress: Progress,
) -> list[str]:
    """Run ``model.summarize`` with a word budget and a beam width."""
    run = partial(model.summarize, max_words=max_words, num_beams=num_beams)
    results = map_in_batches(texts, run, batch_size, progress)
    return [result.text for result in results]


def predict_translations(
    model: TaskModel, examples: Sequence[TranslationExample], num_beams: int | None, batch_size: int,
    progress: Progress,
) -> list[str]:
    """Run ``model.translate`` direction by direction, returning outputs in the order of ``examples``."""
    outputs: list[str] = [""] * len(examples)
    for (source, target), indices in group_by_direction(examples).items():
        texts = [examples[i].source for i in indices]
        run = partial(model.translate, target=target, source=source, num_beams=num_beams)
        results = map_in_batches(texts, run, batch_size, progress)
        for index, result in zip(indices, results, strict=True):
            outputs[index] = result.text
    return outputs


def group_by_direction(examples: Sequence[TranslationExample]) -> dict[tuple[str, str], list[int]]:
    """Indices of the examples for each (source language, target language), in first-seen order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index, example in enumerate(examples):
        groups.setdefault((example.src_lang, example.tgt_lang), []).append(index)
    return groups
