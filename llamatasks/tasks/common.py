"""Helpers shared by the built-in tasks: token budgets and chunking."""

from __future__ import annotations

from collections.abc import Callable

from llamatasks.errors import InvalidInputError
from llamatasks.prompts.render import Prompt
from llamatasks.tasks.base import TaskModel
from llamatasks.tasks.chunking import Chunk, chunk_text


def text_budget(model: TaskModel, build: Callable[[str], Prompt], reserve: int) -> int:
    """Tokens left for user text in a prompt built by ``build``, keeping ``reserve`` for the answer."""
    overhead = len(build("x").ids) - 1
    budget = model.profile.context_length - overhead - reserve
    if budget < 8:
        raise InvalidInputError(
            f"the model's context ({model.profile.context_length} tokens) leaves no room for text in this task",
            hint="use a model with a longer context, or ask for a shorter output",
        )
    return budget


def split_for(model: TaskModel, text: str, build: Callable[[str], Prompt], reserve: int) -> list[Chunk]:
    """``text`` as one chunk when it fits the context, else sentence-aligned chunks."""
    budget = text_budget(model, build, reserve)
    if model.tokenizer.count(text) <= budget:
        return [Chunk(0, len(text), text)]
    return chunk_text(text, model.tokenizer.count, budget)
