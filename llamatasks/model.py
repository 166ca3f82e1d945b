"""``Model``: the typed face of a loaded model. Create it with ``llamatasks.load``.

Each task method is a thin, typed call into the task registry: its keywords
are the task's ``Options`` fields (a test checks they match), None meaning the
field's default, and its option docs are generated from the fields. The work
happens in the task, on the model's ``Runtime``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel

from llamatasks.engine.base import Engine
from llamatasks.errors import InvalidInputError
from llamatasks.offload import off_loop
from llamatasks.plugins.manager import Registry
from llamatasks.profile import ModelProfile
from llamatasks.prompts.formats import PromptFormat
from llamatasks.prompts.render import Prompt, PromptRenderer
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
from llamatasks.runtime import Runtime
from llamatasks.sources import ModelSource
from llamatasks.streaming import TextStream, stream_task
from llamatasks.tasks.answer import AnswerOptions
from llamatasks.tasks.chat import ChatOptions
from llamatasks.tasks.classify import ClassifyOptions, SentimentOptions
from llamatasks.tasks.describe import DescribeOptions
from llamatasks.tasks.inputs import as_text_list
from llamatasks.tasks.ner import NerOptions
from llamatasks.tasks.options import described
from llamatasks.tasks.summarize import SummarizeOptions
from llamatasks.tasks.translate import TranslateOptions
from llamatasks.tokenizer import Tokenizer
from llamatasks.vision.images import ImageInput, is_image


class Model:
    """A model ready to run tasks. Create it with ``llamatasks.load``."""

    def __init__(self, source: ModelSource, runtime: Runtime, registry: Registry) -> None:
        self.source = source
        self.runtime = runtime
        self.registry = registry

    def __repr__(self) -> str:
        p = self.profile
        return (f"<llamatasks.Model {p.name!r} {p.generation} format={p.prompt_format} "
                f"backend={self.backend_name} device={self.engine.device}>")

    # -- what the model is ------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    @property
    def tokenizer(self) -> Tokenizer:
        return self.runtime.tokenizer

    @property
    def profile(self) -> ModelProfile:
        return self.runtime.profile

    @property
    def prompt_format(self) -> PromptFormat:
        return self.runtime.prompt_format

    @property
    def renderer(self) -> PromptRenderer:
        return self.runtime.renderer

    @property
    def backend_name(self) -> str:
        return self.engine.backend_name

    # -- tasks --------------------------------------------------------------------

    def run(self, task: str, text: str | Sequence[str], *, stream: bool = False, **options: Any) -> Any:
        """Run a registered task on one text (one result) or a list (a list of results).

        ``options`` are the task's ``Options`` fields; None means the default. ``stream=True``
        (chat, summarize, translate; one text) returns a ``TextStream`` of text pieces as they are
        decoded, whose ``result`` is the typed result (``llamatasks.streaming``).
        """
        if stream:
            return stream_task(self, task, text, options)
        texts, single = as_text_list(text)
        chosen = self.registry.task(task)
        results = chosen.run(self.runtime, texts, chosen.Options.parse(options))
        return results[0] if single else results

    def map(self, task: str, items: Iterable[Any], *, batch_size: int = 64, cache: bool = False,
            **options: Any) -> Iterator[Any]:
        """Run ``task`` over any iterable of texts (a generator too), yielding results in input order.

        Items are read ``batch_size`` at a time, so memory stays flat however long
        the stream. A bad item (None, empty, not a string...) yields an
        ``ItemError`` in its place and the job goes on. ``cache=True`` reuses and
        stores results in the result cache (``llamatasks cache info``).
        """
        from llamatasks.corpus.mapping import TaskJob, map_texts

        return map_texts(TaskJob(self, task, options, cache=cache), items, batch_size=batch_size)

    def prompt_for(self, task: str, text: str, **options: Any) -> list[Prompt]:
        """The exact prompt(s) ``task`` sends for ``text``: ids, tokens and readable text."""
        (checked,), _ = as_text_list(text)
        chosen = self.registry.task(task)
        return chosen.prompts(self.runtime, checked, chosen.Options.parse(options))

    @described(SummarizeOptions)
    def summarize(self, text: str | Sequence[str], *, max_words: int | None = None, num_beams: int | None = None,
                  candidates: int | None = None,
                  stream: bool = False) -> Summary | list[Summary] | TextStream[Summary]:
        """Summarize one text or a list (long documents by map-reduce); ``stream=True``: a ``TextStream``."""
        return self.run("summarize", text, stream=stream, max_words=max_words, num_beams=num_beams,
                        candidates=candidates)

    @described(TranslateOptions)
    def translate(self, text: str | Sequence[str], *, target: str, source: str | None = None,
                  num_beams: int | None = None,
                  stream: bool = False) -> Translation | list[Translation] | TextStream[Translation]:
        """Translate into ``target``; ``stream=True``: a ``TextStream``."""
        return self.run("translate", text, stream=stream, target=target, source=source, num_beams=num_beams)

    @described(NerOptions)
    def ner(self, text: str | Sequence[str], *, labels: Sequence[str] | dict[str, str] | None = None,
            ) -> Entities | list[Entities]:
        """Named entities as exact character spans of the input."""
        return self.run("ner", text, labels=labels)

    @described(SentimentOptions)
    def sentiment(self, text: str | Sequence[str], *, labels: Sequence[str] | None = None,
                  phrasings: int | None = None) -> Sentiment | list[Sentiment]:
        """Sentiment as calibrated label probabilities."""
        return self.run("sentiment", text, labels=labels, phrasings=phrasings)

    @described(ClassifyOptions)
    def classify(self, text: str | Sequence[str] | ImageInput | None = None, *, labels: Sequence[str],
                 image: ImageInput | None = None) -> Classification | list[Classification]:
        """Zero-shot classification into ``labels``; of an image with ``image=`` (or an image as ``text``:
        bytes, a path object or a PIL image), scored by label likelihood on a vision model."""
        if image is not None or is_image(text):
            from llamatasks.vision.tasks import classify_image

            if image is not None and text is not None:
                raise InvalidInputError("classify takes a text or an image, not both")
            chosen: Any = image if image is not None else text
            return classify_image(self, chosen, labels)
        if text is None:
            raise InvalidInputError("classify needs a text or image=", hint="classify(text, labels=[...])")
        texts: Any = text
        return self.run("classify", texts, labels=labels)

    @described(AnswerOptions)
    def answer(self, question: str, context: str | Sequence[str] | None = None, *,
               image: ImageInput | Sequence[ImageInput] | None = None) -> Answer | list[Answer] | Generation:
        """Extractive answer to ``question``: a span of ``context`` with offsets, never invented text.

        With ``image=`` (a vision model), a free-form ``Generation`` answering about the image instead.
        """
        if image is not None:
            from llamatasks.vision.tasks import answer_about

            if context is not None:
                raise InvalidInputError("answer takes a context or an image, not both",
                                        hint="ask about the image alone, or put the text in the question")
            return answer_about(self, question, image)
        if context is None:
            raise InvalidInputError("answer needs a context (text) or image=", hint="answer(question, context)")
        return self.run("answer", context, question=question)

    @described(DescribeOptions)
    def describe(self, image: ImageInput | Sequence[ImageInput], *,
                 max_words: int | None = None) -> Description | list[Description]:
        """A caption of an image (a list: one caption each), at most ``max_words`` words; vision models only."""
        from llamatasks.vision.tasks import describe

        return describe(self, image, max_words=max_words)

    @described(ChatOptions)
    def chat(self, prompt: str | Sequence[str], *, system: str | None = None, max_new_tokens: int | None = None,
             temperature: float | None = None, seed: int | None = None,
             stream: bool = False, images: Sequence[ImageInput] | None = None,
             ) -> Generation | list[Generation] | TextStream[Generation]:
        """Free-form answer to a message in the model's own chat format; ``stream=True``: a ``TextStream``.

        ``images``: images the message is about (vision models), placed in the user turn before it.
        """
        if images is not None:
            from llamatasks.vision.tasks import chat_with_images

            if not isinstance(prompt, str) or stream:
                raise InvalidInputError("chat with images takes one message and does not stream")
            return chat_with_images(self, prompt, images, system=system, max_new_tokens=max_new_tokens,
                                    temperature=temperature, seed=seed)
        return self.run("chat", prompt, stream=stream, system=system, max_new_tokens=max_new_tokens,
                        temperature=temperature, seed=seed)

    # -- the async twins (llamatasks.aio): same arguments and results, run off the event loop ----
    arun = off_loop(run)
    asummarize = off_loop(summarize)
    atranslate = off_loop(translate)
    aner = off_loop(ner)
    asentiment = off_loop(sentiment)
    aclassify = off_loop(classify)
    aanswer = off_loop(answer)
    adescribe = off_loop(describe)
    achat = off_loop(chat)


def results_as_json(results: BaseModel | list[BaseModel]) -> str:
    """JSON for one result or a list of results."""
    if isinstance(results, list):
        return "[" + ",".join(r.model_dump_json() for r in results) + "]"
    return results.model_dump_json()

