"""The built-in tasks, registered through the same hook third parties use."""

from __future__ import annotations

from collections.abc import Callable

from llamatasks.plugins.hookspecs import hookimpl
from llamatasks.tasks.answer import AnswerTask
from llamatasks.tasks.base import Task
from llamatasks.tasks.chat import ChatTask
from llamatasks.tasks.classify import ClassifyTask, SentimentTask
from llamatasks.tasks.ner import NerTask
from llamatasks.tasks.summarize import SummarizeTask
from llamatasks.tasks.translate import TranslateTask


@hookimpl
def register_tasks(register: Callable[[Task], None]) -> None:
    """Register summarize, translate, ner, sentiment, classify, answer and chat."""
    for task in (SummarizeTask(), TranslateTask(), NerTask(), SentimentTask(), ClassifyTask(), AnswerTask(),
                 ChatTask()):
        register(task)
