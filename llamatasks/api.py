"""The one-call functions: ``summarize(text)``, ``ner(text)``...

Each loads the model on first use (``model=None``: ``LLAMATASKS_MODEL`` or
the embedded default) and keeps it for later calls in the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

from llamatasks.loading import load
from llamatasks.model import Model
from llamatasks.plugins.manager import default_registry
from llamatasks.results import (
    Answer,
    Classification,
    Description,
    Entities,
    Generation,
    Sentiment,
    Summary,
    Translation,
)
from llamatasks.sources import resolve
from llamatasks.streaming import TextStream
from llamatasks.tasks.answer import AnswerOptions
from llamatasks.tasks.chat import ChatOptions
from llamatasks.tasks.classify import ClassifyOptions, SentimentOptions
from llamatasks.tasks.describe import DescribeOptions
from llamatasks.tasks.inputs import as_text_list
from llamatasks.tasks.ner import NerOptions
from llamatasks.tasks.options import described
from llamatasks.tasks.summarize import SummarizeOptions
from llamatasks.tasks.translate import TranslateOptions
from llamatasks.vision.images import ImageInput

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
              candidates: int | None = None, model: ModelLike = None, backend: str | None = None,
              stream: bool = False) -> Summary | list[Summary] | TextStream[Summary]:
    """Summarize one text or a list (see ``Model.summarize``)."""
    return get_model(model, backend).summarize(text, max_words=max_words, num_beams=num_beams,
                                               candidates=candidates, stream=stream)


@described(TranslateOptions)
def translate(text: str | Sequence[str], *, target: str, source: str | None = None, num_beams: int | None = None,
              model: ModelLike = None, backend: str | None = None,
              stream: bool = False) -> Translation | list[Translation] | TextStream[Translation]:
    """Translate into ``target`` (see ``Model.translate``)."""
    return get_model(model, backend).translate(text, target=target, source=source, num_beams=num_beams,
                                               stream=stream)


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
def classify(text: str | Sequence[str] | ImageInput | None = None, *, labels: Sequence[str],
             image: ImageInput | None = None, model: ModelLike = None,
             backend: str | None = None) -> Classification | list[Classification]:
    """Zero-shot classification into ``labels``; of an image with ``image=`` (see ``Model.classify``)."""
    return get_model(model, backend).classify(text, labels=labels, image=image)


@described(AnswerOptions)
def answer(question: str, context: str | Sequence[str] | None = None, *,
           image: ImageInput | Sequence[ImageInput] | None = None, model: ModelLike = None,
           backend: str | None = None) -> Answer | list[Answer] | Generation:
    """Extractive answer: a span of ``context`` (with offsets) that answers ``question``; with ``image=``, a
    free-form answer about the image (see ``Model.answer``)."""
    return get_model(model, backend).answer(question, context, image=image)


@described(DescribeOptions)
def describe(image: ImageInput | Sequence[ImageInput], *, max_words: int | None = None, model: ModelLike = None,
             backend: str | None = None) -> Description | list[Description]:
    """A caption of an image (a list: one each) on a vision model (see ``Model.describe``)."""
    return get_model(model, backend).describe(image, max_words=max_words)


@described(ChatOptions)
def chat(prompt: str | Sequence[str], *, system: str | None = None, max_new_tokens: int | None = None,
         temperature: float | None = None, seed: int | None = None, model: ModelLike = None,
         backend: str | None = None, stream: bool = False,
         images: Sequence[ImageInput] | None = None) -> Generation | list[Generation] | TextStream[Generation]:
    """Free-form answer in the model's own chat format (greedy unless temperature > 0; see ``Model.chat``)."""
    return get_model(model, backend).chat(prompt, system=system, max_new_tokens=max_new_tokens,
                                          temperature=temperature, seed=seed, stream=stream, images=images)


def run(task: str, text: str | Sequence[str], *, model: ModelLike = None, backend: str | None = None,
        **options: Any) -> Any:
    """Run any registered task (plugins' tasks included) by name.

    The text and options are checked before a model is loaded, so a bad call fails fast.
    """
    if not isinstance(model, Model):
        as_text_list(text)
        default_registry().task(task).Options.parse(options)
    return get_model(model, backend).run(task, text, **options)


def map(task: str, items: Iterable[Any], *, model: ModelLike = None, backend: str | None = None,
        batch_size: int = 64, cache: bool = False, **options: Any) -> Iterator[Any]:
    """Run a task over any iterable of texts, yielding results in input order (see ``Model.map``).

    Bad items yield an ``ItemError`` and the job goes on; ``cache=True`` uses the
    result cache. The options are checked before a model is loaded.
    """
    if not isinstance(model, Model):
        default_registry().task(task).Options.parse(options)
    return get_model(model, backend).map(task, items, batch_size=batch_size, cache=cache, **options)
