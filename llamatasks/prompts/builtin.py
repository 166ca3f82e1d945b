"""The built-in prompt formats (registered by ``llamatasks.plugins.default_plugins.prompt_formats``)."""

from __future__ import annotations

from collections.abc import Callable

from llamatasks.prompts.formats import PromptFormat

# Base models (LLaMA 1, base LLaMA 2/3, OpenLLaMA) continue text rather than
# follow turns: a system line, then "input / Answer: output" blocks.
COMPLETION_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\n\n' }}"
    "{% elif message['role'] == 'user' %}{{ message['content'] + '\nAnswer:' }}"
    "{% else %}{{ ' ' + message['content'] + '\n\n' }}{% endif %}"
    "{% endfor %}"
)

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

# Llama 4 instruct: LLaMA 3's layout with renamed header and end-of-turn tokens,
# no default system turn, and the content as given (Meta's template trims only
# the system message).
LLAMA4_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|header_start|>' + message['role'] + '<|header_end|>\n\n' + message['content'] + '<|eot|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|header_start|>assistant<|header_end|>\n\n' }}{% endif %}"
)

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

ZEPHYR_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def _contains(*needles: str) -> Callable[[str | None], bool]:
    return lambda template: template is not None and all(n in template for n in needles)


BUILTIN_FORMATS: tuple[PromptFormat, ...] = (
    PromptFormat(
        name="llama4",
        # As llama.cpp detects it: LLaMA 3's header tokens renamed.
        detect=_contains("<|header_start|>", "<|header_end|>"),
        template=LLAMA4_TEMPLATE,
        stop_tokens=("<|eot|>", "<|end_of_text|>", "<|eom|>"),
        priority=45,
        description="Llama 4 instruct: <|header_start|>role<|header_end|> ... <|eot|>",
    ),
    PromptFormat(
        name="llama3",
        detect=_contains("<|start_header_id|>", "<|end_header_id|>"),
        template=LLAMA3_TEMPLATE,
        stop_tokens=("<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"),
        priority=40,
        description="LLaMA 3/3.1/3.2 instruct: header tokens, <|eot_id|>",
    ),
    PromptFormat(
        name="chatml",
        detect=_contains("<|im_start|>"),
        template=CHATML_TEMPLATE,
        stop_tokens=("<|im_end|>", "<|endoftext|>"),
        priority=30,
        description="ChatML (SmolLM2 and others): <|im_start|>role ... <|im_end|>",
    ),
    PromptFormat(
        name="llama2-chat",
        detect=_contains("[INST]"),
        template=LLAMA2_TEMPLATE,
        stop_tokens=("</s>",),
        plain_markers=("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"),
        answer_lead=" ",
        priority=20,
        description="LLaMA 2 chat: <s>[INST] <<SYS>> ... <</SYS>> ... [/INST]",
    ),
    PromptFormat(
        name="zephyr",
        detect=_contains("<|user|>", "<|assistant|>"),
        template=ZEPHYR_TEMPLATE,
        stop_tokens=("</s>",),
        plain_markers=("<|user|>", "<|assistant|>", "<|system|>"),
        priority=10,
        description="Zephyr (TinyLlama chat): <|user|> ... </s> <|assistant|>",
    ),
    PromptFormat(
        name="template",
        detect=lambda template: template is not None,
        stop_tokens=(),
        priority=-50,
        description="any other chat template, rendered as published; stops on eos",
    ),
    PromptFormat(
        name="completion",
        detect=lambda template: template is None,
        template=COMPLETION_TEMPLATE,
        use_model_template=False,
        answer_lead=" ",
        chat=False,
        priority=-100,
        description="base models: few-shot completion prompts, no chat turns",
    ),
)
