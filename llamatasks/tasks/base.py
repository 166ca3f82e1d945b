"""The task contract and what a task may use of a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel

from llamatasks.engine.base import (
    Capability,
    Constraint,
    GenerationOptions,
    GenerationOutput,
    ScoreRequest,
)
from llamatasks.profile import ModelProfile
from llamatasks.prompts.formats import PromptFormat
from llamatasks.prompts.render import Prompt, PromptRenderer
from llamatasks.results import Provenance
from llamatasks.tasks.options import TaskOptions
from llamatasks.tokenizer import Tokenizer

OptionsT = TypeVar("OptionsT", bound=TaskOptions)


class TaskModel(Protocol):
    """What a task needs from a loaded model; ``llamatasks.Model`` implements it."""

    profile: ModelProfile
    tokenizer: Tokenizer
    renderer: PromptRenderer
    prompt_format: PromptFormat

    def generate(
        self, prompts: Sequence[Prompt], options: GenerationOptions,
        constraints: Sequence[Constraint | None] | None = None,
        contrasts: Sequence[Prompt | None] | None = None,
    ) -> list[GenerationOutput]:
        """Generate for many prompts (batched, with a progress bar on a terminal)."""
        ...

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Score continuations for many prompts (batched)."""
        ...

    def provenance(self, *, tokens_in: int, tokens_out: int, seconds: float, chunks: int = 1) -> Provenance:
        """Provenance record for one result."""
        ...

    def supports(self, capability: Capability) -> bool:
        """Whether the engine declares ``capability`` (a task may drop an optional refinement without it)."""
        ...


class Task(ABC, Generic[OptionsT]):
    """A typed NLP task. Register instances through the ``register_tasks`` hook.

    ``Options`` declares the task's settings (a ``TaskOptions`` model); ``run``
    gets a validated instance and a list of validated, non-empty texts and
    returns one result per text; ``prompts`` returns the prompt(s) ``run``
    would send for one text, so users can see exactly what the model is asked.
    """

    name: ClassVar[str]
    result_type: ClassVar[type[BaseModel]]
    description: ClassVar[str] = ""
    Options: ClassVar[type[TaskOptions]] = TaskOptions

    @abstractmethod
    def run(self, model: TaskModel, texts: list[str], options: OptionsT) -> Sequence[BaseModel]:
        """One result per text."""

    @abstractmethod
    def prompts(self, model: TaskModel, text: str, options: OptionsT) -> list[Prompt]:
        """The prompts sent for ``text`` (the first ones, for long inputs)."""
