"""``Model``: the typed face of a loaded model. Create it with ``llamatasks.load``.

Each task method is a thin, typed call into the task registry: its keywords
are the task's ``Options`` fields (a test checks they match), None meaning the
field's default, and its option docs are generated from the fields. The work
happens in the task, on the model's ``Runtime``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from llamatasks.engine.base import Engine
from llamatasks.plugins.manager import Registry
from llamatasks.profile import ModelProfile
from llamatasks.prompts.formats import PromptFormat
from llamatasks.prompts.render import Prompt, PromptRenderer
from llamatasks.results import (
    Answer,
    Classification,
    Entities,
    Generation,
    Sentiment,
    Summary,
    Translation,
)
from llamatasks.runtime import Runtime
from llamatasks.sources import ModelSource
from llamatasks.tasks.answer import AnswerOptions
from llamatasks.tasks.chat import ChatOptions
from llamatasks.tasks.classify import ClassifyOptions, SentimentOptions
from llamatasks.tasks.inputs import as_text_list
from llamatasks.tasks.ner import NerOptions
from llamatasks.tasks.options import described
from llamatasks.tasks.summarize import SummarizeOptions
from llamatasks.tasks.translate import TranslateOptions
from llamatasks.tokenizer import Tokenizer


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

    def run(self, task: str, text: str | Sequence[str], **options: Any) -> Any:
        """Run a registered task on one text (one result) or a list (a list of results).

        ``options`` are the task's ``Options`` fields; None means the default.
        """
        texts, single = as_text_list(text)
        chosen = self.registry.task(task)
        results = chosen.run(self.runtime, texts, chosen.Options.parse(options))
        return results[0] if single else results

    def prompt_for(self, task: str, text: str, **options: Any) -> list[Prompt]:
        """The exact prompt(s) ``task`` sends for ``text``: ids, tokens and readable text."""
        (checked,), _ = as_text_list(text)
        chosen = self.registry.task(task)
        return chosen.prompts(self.runtime, checked, chosen.Options.parse(options))

    @described(SummarizeOptions)
    def summarize(self, text: str | Sequence[str], *, max_words: int | None = None,
                  num_beams: int | None = None) -> Summary | list[Summary]:
        """Summarize one text or a list (long documents by map-reduce)."""
        return self.run("summarize", text, max_words=max_words, num_beams=num_beams)

    @described(TranslateOptions)
    def translate(self, text: str | Sequence[str], *, target: str, source: str | None = None,
                  num_beams: int | None = None) -> Translation | list[Translation]:
        """Translate into ``target``."""
        return self.run("translate", text, target=target, source=source, num_beams=num_beams)

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
    def classify(self, text: str | Sequence[str], *, labels: Sequence[str]) -> Classification | list[Classification]:
        """Zero-shot classification into ``labels``."""
        return self.run("classify", text, labels=labels)

    @described(AnswerOptions)
    def answer(self, question: str, context: str | Sequence[str]) -> Answer | list[Answer]:
        """Extractive answer to ``question``: a span of ``context`` with offsets, never invented text."""
        return self.run("answer", context, question=question)

    @described(ChatOptions)
    def chat(self, prompt: str | Sequence[str], *, system: str | None = None, max_new_tokens: int | None = None,
             temperature: float | None = None, seed: int | None = None) -> Generation | list[Generation]:
        """Free-form answer to a message in the model's own chat format."""
        return self.run("chat", prompt, system=system, max_new_tokens=max_new_tokens, temperature=temperature,
                        seed=seed)


def results_as_json(results: BaseModel | list[BaseModel]) -> str:
    """JSON for one result or a list of results."""
    if isinstance(results, list):
        return "[" + ",".join(r.model_dump_json() for r in results) + "]"
    return results.model_dump_json()

