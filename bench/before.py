"""llamatasks as it ran before the throughput work (issue 18), for ``bench_core.py`` to measure against.

``before(m)`` makes a loaded model run its tasks as they ran at commit 735dfb5: in
float32 (the caller loads ``m`` with ``dtype="float32"``), every prompt in full
(``TorchEngine.share_prefixes``), scoring batches of twice ``batch_size`` sorted by
ids (``Runtime.prefix_batches``), sentiment's four questions in one batch each and
NER's sentence-first prompt, ``answer`` one text at a time. The prompts of then
are copied here, not kept in the library.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.tasks.answer import AnswerTask
from llamatasks.tasks.base import TaskModel
from llamatasks.tasks.classify import Phrasing, SentimentTask
from llamatasks.tasks.ner import _EXAMPLES, NerTask

SENTIMENT_PHRASINGS = (
    Phrasing("What is the sentiment of this text?", "The sentiment of this text is"),
    Phrasing("What is the sentiment of the text above?", "The sentiment of the text above is", text_first=True),
    Phrasing("How does the writer of this text feel?", "The writer's feeling is"),
    Phrasing("Describe the tone of this review.", "Overall, the tone of the review is"),
)


def ner_prompt(self: NerTask, model: TaskModel, context: str, mention: str) -> Prompt:
    """NER's prompt then: the sentence, the name, then the question."""
    question = "What kind of name is it: a person, an organization, a place or something else?"
    messages = [Message("system", "You recognize names of people, organizations, places and other things.")]
    if not model.prompt_format.chat:
        for sentence, span, kind in _EXAMPLES:
            messages += [Message("user", f'Sentence: {sentence}\nName: "{span}". {question}'),
                         Message("assistant", f'"{span}" is the name of a {kind}.')]
    messages.append(Message("user", ["Sentence: ", User(context), '\nName: "', User(mention), f'". {question}']))
    return model.renderer.render(messages, answer_prefix=['"', User(mention), '" is the name of a'])


@contextlib.contextmanager
def before(m: Any) -> Iterator[Any]:
    """Within the block, ``m`` (a ``llamatasks.Model``, loaded in float32) runs its tasks as before."""
    if m.engine.dtype != "float32":
        raise ValueError(f"the before run is float32; this model is {m.engine.dtype}")
    saved = (SentimentTask.phrasings, SentimentTask.batch_phrasings, NerTask._prompt, AnswerTask.batch_texts)
    m.engine.share_prefixes = m.runtime.prefix_batches = False
    SentimentTask.phrasings, SentimentTask.batch_phrasings = SENTIMENT_PHRASINGS, False
    NerTask._prompt, AnswerTask.batch_texts = ner_prompt, False  # type: ignore[method-assign]
    try:
        yield m
    finally:
        del m.engine.share_prefixes, m.runtime.prefix_batches
        SentimentTask.phrasings, SentimentTask.batch_phrasings, NerTask._prompt, AnswerTask.batch_texts = saved
