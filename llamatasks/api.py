"""The one-call functions: ``summarize(text)``, ``ner(text)``...

Each loads the model on first use (``model=None``: ``LLAMATASKS_MODEL`` or
the embedded default) and keeps it for later calls in the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Union

from llamatasks.loading import load
from llamatasks.model import Model
from llamatasks.plugins.manager import default_registry
from llamatasks.results import (
    Answer,
    Classification,
    Entities,
    Generation,
    Sentiment,
    Summary,
    Translation,
)
from llamatasks.sources import resolve
from llamatasks.tasks.answer import AnswerOptions
from llamatasks.tasks.chat import ChatOptions
from llamatasks.tasks.classify import ClassifyOptions, SentimentOptions
from llamatasks.tasks.inputs import as_text_list
from llamatasks.tasks.ner import NerOptions
from llamatasks.tasks.options import described
from llamatasks.tasks.summarize import SummarizeOptions
from llamatasks.tasks.translate import TranslateOptions

ModelLike = Union[Model, str, "os.PathLike[str]", None]

_loaded: dict[tuple[str | None, str | None, str], Model] = {}
_lock = threading.Lock()


def get_model(model: ModelLike = None, backend: str | None = None, device: str = "auto") -> Model:
    """A loaded ``Model``: ``model`` itself, or a cached load of the path/default."""
    if isinstance(model, Model):
        return model
    if model is not None and (not isinstance(model, (str, os.PathLike)) or isinstance(model, bytes)):
        resolve(model)  # raises the typed error for anything that is not a path
    key = (None if model is None else os.fspath(model), backend, device)
    with _lock:
        if key not in _loaded:
            _loaded[key] = load(model, backend=backend, device=device)
        return _loaded[key]


@described(SummarizeOptions)
def summarize(text: str | Sequence[str], *, max_words: int | None = None, num_beams: int | None = None,
              model: ModelLike = None, backend: str | None = None) -> Summary | list[Summary]:
    """Summarize one text or a list (see ``Model.summarize``)."""
    return get_model(model, backend).summarize(text, max_words=max_words, num_beams=num_beams)


@described(TranslateOptions)
def translate(text: str | Sequence[str], *, target: str, source: str | None = None, num_beams: int | None = None,
              model: ModelLike = None, backend: str | None = None) -> Translation | list[Translation]:
    """Translate into ``target`` (see ``Model.translate``)."""
    return get_model(model, backend).translate(text, target=target, source=source, num_beams=num_beams)


@described(NerOptions)
def ner(text: str | Sequence[str], *, labels: Sequence[str] | dict[str, str] | None = None,
        model: ModelLike = None, backend: str | None = None) -> Entities | list[Entities]:
    """Named entities as exact character spans of the input."""
    return get_model(model, backend).ner(text, labels=labels)


@described(SentimentOptions)
def sentiment(text: str | Sequence[str], *, labels: Sequence[str] | None = None, phrasings: int | None = None,
              model: ModelLike = None, backend: str | None = None) -> Sentiment | list[Sentiment]:
    """Sentiment as label probabilities from the model's likelihoods (see ``Model.sentiment``)."""
    return get_model(model, backend).sentiment(text, labels=labels, phrasings=phrasings)


@described(ClassifyOptions)
def classify(text: str | Sequence[str], *, labels: Sequence[str], model: ModelLike = None,
             backend: str | None = None) -> Classification | list[Classification]:
    """Zero-shot classification into ``labels``."""
    return get_model(model, backend).classify(text, labels=labels)


@described(AnswerOptions)
def answer(question: str, context: str | Sequence[str], *, model: ModelLike = None,
           backend: str | None = None) -> Answer | list[Answer]:
    """Extractive answer: a span of ``context`` (with offsets) that answers ``question``."""
    return get_model(model, backend).answer(question, context)


@described(ChatOptions)
def chat(prompt: str | Sequence[str], *, system: str | None = None, max_new_tokens: int | None = None,
         temperature: float | None = None, seed: int | None = None, model: ModelLike = None,
         backend: str | None = None) -> Generation | list[Generation]:
    """Free-form answer in the model's own chat format (greedy unless temperature > 0)."""
    return get_model(model, backend).chat(prompt, system=system, max_new_tokens=max_new_tokens,
                                          temperature=temperature, seed=seed)


def run(task: str, text: str | Sequence[str], *, model: ModelLike = None, backend: str | None = None,
        **options: Any) -> Any:
    """Run any registered task (plugins' tasks included) by name.

    The text and options are checked before a model is loaded, so a bad call fails fast.
    """
    if not isinstance(model, Model):
        as_text_list(text)
        default_registry().task(task).Options.parse(options)
    return get_model(model, backend).run(task, text, **options)
