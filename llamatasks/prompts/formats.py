"""Prompt formats: how a model family wants its conversation laid out.

A format is detected from the chat template *text* (never from
``model_type``): the same LlamaForCausalLM architecture ships with LLaMA 2's
``[INST]``, LLaMA 3's header tokens, ChatML or Zephyr. Models without a chat
template (LLaMA 1, base models) get the completion format and few-shot
prompts. Third parties register more formats through ``register_prompt_formats``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PromptFormat:
    """A prompt format.

    Attributes:
        name: Registry name (``llama3``, ``chatml``...).
        detect: True when a chat template (None: the model has none) is in this format.
        template: Jinja template used when the model ships none, or always when
            ``use_model_template`` is False.
        use_model_template: Render with the model's own template when it has one,
            so details like a default system prompt stay exactly as published.
        stop_tokens: Special tokens that end an answer in this format.
        plain_markers: Control markers that are plain text in this format (LLaMA
            2's ``[INST]``); occurrences inside user text are tokenized apart so
            they never produce the template's ids.
        answer_lead: Text between the end of the prompt and the answer (LLaMA 2
            answers after ``[/INST]`` with a space).
        chat: False for base-model completion prompts.
        priority: Detection order, highest first.
    """

    name: str
    detect: Callable[[str | None], bool]
    template: str | None = None
    use_model_template: bool = True
    stop_tokens: tuple[str, ...] = ()
    plain_markers: tuple[str, ...] = ()
    answer_lead: str = ""
    chat: bool = True
    priority: int = 0
    description: str = field(default="", compare=False)
