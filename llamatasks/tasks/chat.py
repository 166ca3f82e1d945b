"""``chat``: a free-form answer to one message, in the model's own chat format."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, Field

from llamatasks.engine.base import GenerationOptions
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import Generation
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.options import Flag, OptionText, TaskOptions


class ChatOptions(TaskOptions):
    """Options of ``chat``."""

    task_name = "chat"

    system: Annotated[OptionText | None, Flag("--system")] = Field(default=None, description=(
        "A system message before yours (caller text: it cannot add special tokens)."))
    max_new_tokens: int = Field(default=256, ge=1, le=1_000_000, strict=True, description=(
        "Longest answer in tokens; capped by what is left of the model's context."))
    temperature: float = Field(default=0.0, ge=0.0, le=10.0, allow_inf_nan=False, strict=True, description=(
        "0 decodes greedily (the same answer every time); above 0 samples."))
    seed: int | None = Field(default=None, ge=0, strict=True, description=(
        "Seed for sampling (temperature > 0), for a reproducible answer."))


class ChatTask(Task[ChatOptions]):
    """The model's own answer, greedy by default; its confidence is the mean token probability."""

    name = "chat"
    result_type = Generation
    description = "free-form answer in the model's own chat format"
    Options = ChatOptions

    def prompts(self, model: TaskModel, text: str, options: ChatOptions) -> list[Prompt]:
        system = [Message("system", User(options.system))] if options.system else []
        return [model.renderer.render([*system, Message("user", User(text))])]

    def run(self, model: TaskModel, texts: list[str], options: ChatOptions) -> Sequence[BaseModel]:
        started = time.perf_counter()
        prompts = [self.prompts(model, text, options)[0] for text in texts]
        generation = GenerationOptions(max_new_tokens=options.max_new_tokens, temperature=options.temperature,
                                       seed=options.seed, stop_token_ids=model.profile.stop_token_ids)
        outputs = model.generate(prompts, generation)
        seconds = (time.perf_counter() - started) / len(texts)
        return [Generation(text=model.tokenizer.decode(out.token_ids).strip(), finish_reason=out.finish_reason,
                           confidence=confidence(out.token_logprobs),
                           provenance=model.provenance(tokens_in=len(prompt.ids), tokens_out=len(out.token_ids),
                                                       seconds=seconds))
                for prompt, out in zip(prompts, outputs)]


def confidence(token_logprobs: Sequence[float]) -> float | None:
    """The geometric mean of the generated tokens' probabilities; None where the backend reports none."""
    if not token_logprobs:
        return None
    return math.exp(sum(token_logprobs) / len(token_logprobs))
