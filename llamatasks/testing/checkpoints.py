"""Tiny random-weight LLaMA checkpoints with real tokenizers and chat templates.

Each checkpoint is a Hugging Face model folder (``config.json``, safetensors
weights, ``generation_config.json`` and tokenizer files) that builds in about
a second (LLaMA 3.1's tokenizer conversion adds ~3 s; a Llama 4 kind takes
~10 s on 2 cores), yet is laid out like a real model of its family:

* ``llama1``: LLaMA 1 base model. SentencePiece ``tokenizer.model``, no chat template.
* ``llama2-chat``: Llama-2-chat. SentencePiece, ``[INST] <<SYS>>`` template.
* ``llama3-instruct``: Meta-Llama-3-Instruct, as a raw tiktoken ``tokenizer.model``
  with no ``tokenizer.json`` (only llamatasks' tiktoken loader reads it correctly).
* ``llama3.1-instruct``: Llama-3.1-Instruct. Converted ``tokenizer.json`` that, like
  Meta's, adds ``<|begin_of_text|>`` itself; "Cutting Knowledge Date" template.
* ``llama3.2-instruct``: Llama-3.2-1B/3B-Instruct. The 3.1 tokenizer and template, input
  and output embeddings tied (one matrix), rope scaling factor 32.
* ``llama3.3-instruct``: Llama-3.3-70B-Instruct. Laid out exactly like 3.1 (Meta changed only
  the weights), plus the ``LICENSE`` header that names the release.
* ``chatml``: a SmolLM2-style ChatML model on the LLaMA 2 vocabulary plus
  ``<|im_start|>``/``<|im_end|>``, as ``tokenizer.json`` only.
* ``zephyr``: TinyLlama-1.1B-Chat. SentencePiece, ``<|user|>`` template.

Two Llama 4 kinds (:data:`LLAMA4_KINDS`, not LLaMA-architecture, so not in
:data:`TINY_KINDS`) have 4 layers (the last without RoPE), chunked attention
and mixture-of-experts layers, and Llama 4's special tokens at their real ids:

* ``llama4-instruct``: Llama-4-Scout-17B-16E-Instruct's layout,
  ``Llama4ForConditionalGeneration`` (``model_type`` ``llama4``) with a tiny vision tower.
* ``llama4-text-instruct``: the same language model alone, ``Llama4ForCausalLM``
  (``llama4_text``), as text-only fine-tunes ship it. With the same seed both
  kinds hold the same language-model weights.

Tokenizers are never bundled with llamatasks: they come from the shared test
fixtures (see :func:`find_fixture_tokenizers`). torch and transformers are
imported only when a checkpoint is built.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatasks.tokenization.llama3_tiktoken import (
    BEGIN_OF_TEXT,
    END_OF_TURN,
    llama3_special_tokens,
    load_llama3_tiktoken,
)

if TYPE_CHECKING:
    from tokenizers.processors import PostProcessor
    from transformers import LlamaConfig, PreTrainedTokenizerBase

__all__ = [
    "CHATML_CHAT_TEMPLATE",
    "FIXTURE_TOKENIZERS_ENV",
    "LLAMA2_CHAT_TEMPLATE",
    "LLAMA3_CHAT_TEMPLATE",
    "LLAMA4_CHAT_TEMPLATE",
    "LLAMA4_KINDS",
    "LLAMA31_CHAT_TEMPLATE",
    "LLAMA33_LICENSE_HEADER",
    "TINY_KINDS",
    "ZEPHYR_CHAT_TEMPLATE",
    "build_tiny_checkpoint",
    "find_fixture_tokenizers",
    "llama4_special_tokens",
]

TINY_KINDS: tuple[str, ...] = (
    "llama1",
    "llama2-chat",
    "llama3-instruct",
    "llama3.1-instruct",
    "llama3.2-instruct",
    "llama3.3-instruct",
    "chatml",
    "zephyr",
)

#: Tiny Llama 4 checkpoints (``Llama4ForConditionalGeneration`` and ``Llama4ForCausalLM`` folders).
LLAMA4_KINDS: tuple[str, ...] = ("llama4-instruct", "llama4-text-instruct")

#: Environment variable naming the fixture tokenizers folder explicitly.
FIXTURE_TOKENIZERS_ENV = "LLAMATASKS_FIXTURE_TOKENIZERS"

# The fixtures live in `shared/` beside the checkout (`X/../shared`), or inside
# it where a copy of the working tree carries `shared/` along.
_FIXTURE_SUBPATH = Path("shared", "fixtures", "tokenizers")
_SENTENCEPIECE_MODEL = Path("llama-1-2", "tokenizer.model")
_TIKTOKEN_MODEL = Path("llama-3", "tokenizer.model")

# -- chat templates ---------------------------------------------------------
# Copied from each model's tokenizer_config.json (JSON escapes decoded), so
# that prompt code is tested against exactly what real checkpoints ship.

#: meta-llama/Llama-2-7b-chat-hf. Renders ``bos_token`` itself.
LLAMA2_CHAT_TEMPLATE = (
    r"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    r"{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    r"{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    r"{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    r"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    r"{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    r"{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}"
    r"{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    r"{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    r"{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)

#: meta-llama/Meta-Llama-3-8B-Instruct. Renders ``bos_token`` itself.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

#: meta-llama/Llama-3.1-8B-Instruct (tool calling included). Renders
#: ``bos_token`` and a system header with "Cutting Knowledge Date" itself.
LLAMA31_CHAT_TEMPLATE = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

#: HuggingFaceTB/SmolLM2-Instruct. Adds a default system turn, no BOS.
CHATML_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)

#: TinyLlama/TinyLlama-1.1B-Chat-v1.0 (Zephyr format). Every message ends with
#: ``eos_token``; BOS comes from the tokenizer, not the template.
ZEPHYR_CHAT_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)

# -- model shape --------------------------------------------------------------

_HIDDEN_SIZE = 64
_NUM_LAYERS = 2
_NUM_HEADS = 4
_NUM_KV_HEADS = 2  # fewer than the query heads: grouped-query attention, as in LLaMA 2 70B and LLaMA 3
_INTERMEDIATE_SIZE = 128
# Greedy decoding must not depend on float noise (batched and left-padded vs
# one prompt at a time). Measured on these shapes: a wide lm_head (logit
# standard deviation near 8) puts the top token a mean 1.8 logits ahead of the
# runner-up, while the body's moderate init keeps activations, and so the
# batching noise, small (mean 4e-6 logits, 2e-6 of the gap; init 1.0
# everywhere is 4x noisier). The body still mixes context: different
# prefixes give different next tokens.
_INITIALIZER_RANGE = 0.1
_LM_HEAD_STD = 1.0

_CHATML_SPECIAL_TOKENS = ("<|im_start|>", "<|im_end|>")


@dataclass(frozen=True)
class _TokenizerFacts:
    """What the model config needs to know about the tokenizer just written."""

    vocab_size: int
    bos_token_id: int
    eos_token_id: int | list[int]
    generation_eos_token_id: int | list[int]


@dataclass(frozen=True)
class _RopeFamily:
    """Rotary-embedding and norm settings shared by a model generation."""

    rope_theta: float
    rms_norm_eps: float
    llama3_scaling: bool = False
    llama3_factor: float = 8.0  # LLaMA 3.1; 3.2 scales by 32


_LLAMA1_ROPE = _RopeFamily(rope_theta=10_000.0, rms_norm_eps=1e-6)
_LLAMA2_ROPE = _RopeFamily(rope_theta=10_000.0, rms_norm_eps=1e-5)
_LLAMA3_ROPE = _RopeFamily(rope_theta=500_000.0, rms_norm_eps=1e-5)
_LLAMA31_ROPE = _RopeFamily(rope_theta=500_000.0, rms_norm_eps=1e-5, llama3_scaling=True)
_LLAMA32_ROPE = _RopeFamily(rope_theta=500_000.0, rms_norm_eps=1e-5, llama3_scaling=True, llama3_factor=32.0)

#: Kinds whose output projection is the input embedding matrix (only LLaMA 3.2 1B/3B among LLaMAs).
_TIED_EMBEDDINGS = frozenset({"llama3.2-instruct"})


def find_fixture_tokenizers() -> Path | None:
    """Locate the shared folder of real LLaMA tokenizers used by tests.

    ``$LLAMATASKS_FIXTURE_TOKENIZERS`` wins when set. Otherwise every ancestor
    of the working directory and of this file is tried for
    ``shared/fixtures/tokenizers``, which finds ``X/../shared`` for a checkout
    at ``X`` (and a ``shared/`` copied inside the checkout).

    Returns:
        The folder, if it holds both the SentencePiece and the tiktoken
        ``tokenizer.model``; None otherwise.
    """
    override = os.environ.get(FIXTURE_TOKENIZERS_ENV)
    if override:
        # An explicit setting is not second-guessed by searching elsewhere.
        return _complete_fixture_dir(Path(override).expanduser())
    for folder in _search_roots():
        found = _complete_fixture_dir(folder / _FIXTURE_SUBPATH)
        if found is not None:
            return found
    return None


def _search_roots() -> Iterator[Path]:
    """Yield the working directory, this file's folder and all their ancestors."""
    starts = [Path(__file__).resolve().parent]
    with contextlib.suppress(OSError):  # the working directory may have been deleted
        starts.insert(0, Path.cwd())
    for start in starts:
        yield start
        yield from start.parents


def _complete_fixture_dir(folder: Path) -> Path | None:
    """Return ``folder`` resolved if both fixture tokenizers are in it."""
    required = (folder / _SENTENCEPIECE_MODEL, folder / _TIKTOKEN_MODEL)
    return folder.resolve() if all(path.is_file() for path in required) else None


def build_tiny_checkpoint(
    kind: str,
    out_dir: Path,
    *,
    tokenizers_dir: Path,
    max_position_embeddings: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a tiny random-weight LLaMA checkpoint in Hugging Face format.

    The model has 2 layers (Llama 4: 4), hidden size 64 and grouped-query
    attention; its vocabulary is the tokenizer's full one. The output layer is
    drawn wide so that next-token distributions are peaked and greedy decoding
    is stable under batching and left padding.

    Args:
        kind: One of :data:`TINY_KINDS` or :data:`LLAMA4_KINDS`.
        out_dir: Folder to write; created if missing. Existing files with the
            same names are overwritten.
        tokenizers_dir: The fixture tokenizers folder (see
            :func:`find_fixture_tokenizers`).
        max_position_embeddings: Context length written to ``config.json``;
            by default the real generation's (2048 for LLaMA 1, 4096 for LLaMA 2...),
            which profile detection relies on.
        seed: Seed for the weights; the same seed gives the same weights. The
            caller's torch random state is left untouched.

    Returns:
        ``out_dir``.

    Raises:
        ValueError: If ``kind`` is unknown or ``max_position_embeddings`` < 2.
        FileNotFoundError: If a fixture tokenizer is missing.
    """
    if kind not in _TOKENIZER_WRITERS and kind not in LLAMA4_KINDS:
        raise ValueError(f"unknown tiny checkpoint kind {kind!r}; expected one of {TINY_KINDS + LLAMA4_KINDS}")
    if max_position_embeddings is None:
        max_position_embeddings = _DEFAULT_CONTEXT[kind]
    if max_position_embeddings < 2:
        raise ValueError(f"max_position_embeddings must be at least 2, got {max_position_embeddings}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind in LLAMA4_KINDS:
        facts = _write_llama4_tokenizer(Path(tokenizers_dir), out_dir, max_position_embeddings)
        _write_llama4_model(kind, facts, out_dir, max_position_embeddings, seed=seed)
        return out_dir
    for name, text in _RELEASE_FILES.get(kind, {}).items():
        (out_dir / name).write_text(text, encoding="utf-8")
    writer, rope = _TOKENIZER_WRITERS[kind]
    facts = writer(Path(tokenizers_dir), out_dir, max_position_embeddings)
    config = _model_config(facts, rope, max_position_embeddings)
    if kind == "llama1":  # LLaMA 1 predates grouped-query attention
        config.num_key_value_heads = config.num_attention_heads
    config.tie_word_embeddings = kind in _TIED_EMBEDDINGS
    _write_model(config, facts, out_dir, seed=seed)
    _add_legacy_rope_keys(out_dir / "config.json", rope, max_position_embeddings)
    return out_dir


# -- model and config ---------------------------------------------------------


def _model_config(facts: _TokenizerFacts, rope: _RopeFamily, max_position_embeddings: int) -> LlamaConfig:
    """Build the ``LlamaConfig`` of a tiny model around the tokenizer facts."""
    from transformers import LlamaConfig

    return LlamaConfig(
        architectures=["LlamaForCausalLM"],
        vocab_size=facts.vocab_size,
        hidden_size=_HIDDEN_SIZE,
        num_hidden_layers=_NUM_LAYERS,
        num_attention_heads=_NUM_HEADS,
        num_key_value_heads=_NUM_KV_HEADS,
        intermediate_size=_INTERMEDIATE_SIZE,
        max_position_embeddings=max_position_embeddings,
        rms_norm_eps=rope.rms_norm_eps,
        initializer_range=_INITIALIZER_RANGE,
        bos_token_id=facts.bos_token_id,
        eos_token_id=facts.eos_token_id,
        # Untied, as in every real LLaMA 1-3.1 checkpoint (3.2 1B/3B tie: _TIED_EMBEDDINGS).
        tie_word_embeddings=False,
        rope_parameters=_rope_parameters(rope, max_position_embeddings),
    )


def _rope_parameters(rope: _RopeFamily, max_position_embeddings: int) -> dict[str, Any]:
    """Return transformers 5.x ``rope_parameters``: theta plus any scaling."""
    parameters: dict[str, Any] = {"rope_type": "default", "rope_theta": rope.rope_theta}
    if rope.llama3_scaling:
        parameters.update(_llama3_rope_scaling(max_position_embeddings, rope.llama3_factor))
    return parameters


def _llama3_rope_scaling(max_position_embeddings: int, factor: float) -> dict[str, Any]:
    """LLaMA 3.1/3.2's rope scaling (factor 8 / 32), with the pre-training context shrunk to scale.

    Llama 3.1 was pre-trained on 8,192 positions and extended to 131,072 (a
    sixteenth); a quarter keeps the original length meaningful at 512.
    """
    return {
        "rope_type": "llama3",
        "factor": factor,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": max(1, max_position_embeddings // 4),
    }


def _write_model(config: LlamaConfig, facts: _TokenizerFacts, out_dir: Path, *, seed: int) -> None:
    """Initialise ``LlamaForCausalLM`` from ``seed`` and save it as safetensors."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    # fork_rng restores the global CPU generator afterwards, so building a
    # checkpoint does not shift the random numbers a test draws later.
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
        model.lm_head.weight.normal_(mean=0.0, std=_LM_HEAD_STD)
    # Only the ids: sampling defaults here would make a plain `generate()`
    # non-deterministic in tests.
    model.generation_config = GenerationConfig(
        bos_token_id=facts.bos_token_id,
        eos_token_id=facts.generation_eos_token_id,
    )
    model.save_pretrained(out_dir, safe_serialization=True)


def _add_legacy_rope_keys(config_path: Path, rope: _RopeFamily, max_position_embeddings: int) -> None:
    """Also write ``rope_theta`` (and ``rope_scaling``) as top-level keys.

    transformers 5.x writes only ``rope_parameters``; readers built for 4.x
    (and other tools) look for the old keys, which real checkpoints carry.
    transformers 5.x prefers these keys over ``rope_parameters`` when both are
    present, so they must agree.
    """
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["rope_theta"] = rope.rope_theta
    config["rope_scaling"] = (_llama3_rope_scaling(max_position_embeddings, rope.llama3_factor)
                              if rope.llama3_scaling else None)
    _write_json(config_path, config)


# -- tokenizers ---------------------------------------------------------------


def _write_llama1_tokenizer(tokenizers_dir: Path, out_dir: Path, max_length: int) -> _TokenizerFacts:
    """huggyllama/llama-7b layout: SentencePiece model, no chat template."""
    return _write_sentencepiece_tokenizer(tokenizers_dir, out_dir, max_length, chat_template=None, legacy=True)


def _write_llama2_chat_tokenizer(tokenizers_dir: Path, out_dir: Path, max_length: int) -> _TokenizerFacts:
    """meta-llama/Llama-2-7b-chat-hf layout."""
    return _write_sentencepiece_tokenizer(
        tokenizers_dir, out_dir, max_length, chat_template=LLAMA2_CHAT_TEMPLATE, legacy=False
    )


def _write_zephyr_tokenizer(tokenizers_dir: Path, out_dir: Path, max_length: int) -> _TokenizerFacts:
    """TinyLlama-1.1B-Chat-v1.0 layout: LLaMA 2 vocabulary, pad = eos."""
    return _write_sentencepiece_tokenizer(
        tokenizers_dir, out_dir, max_length, chat_template=ZEPHYR_CHAT_TEMPLATE, legacy=False, pad_token="</s>"
    )


def _write_sentencepiece_tokenizer(
    tokenizers_dir: Path,
    out_dir: Path,
    max_length: int,
    *,
    chat_template: str | None,
    legacy: bool,
    pad_token: str | None = None,
) -> _TokenizerFacts:
    """Copy the LLaMA 1/2 SentencePiece model with a ``LlamaTokenizer`` config.

    ``add_bos_token`` is true as in every LLaMA 1/2 checkpoint: these
    tokenizers prepend ``<s>`` themselves unless told not to.
    """
    _copy_fixture(tokenizers_dir / _SENTENCEPIECE_MODEL, out_dir / "tokenizer.model")
    config: dict[str, Any] = {
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": True,
        "add_eos_token": False,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": pad_token,
        "legacy": legacy,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_length,
    }
    if chat_template is not None:
        config["chat_template"] = chat_template
    _write_json(out_dir / "tokenizer_config.json", config)
    return _TokenizerFacts(vocab_size=32_000, bos_token_id=1, eos_token_id=2, generation_eos_token_id=2)


def _write_chatml_tokenizer(tokenizers_dir: Path, out_dir: Path, max_length: int) -> _TokenizerFacts:
    """SmolLM2-style ChatML tokenizer on the LLaMA 2 vocabulary, as ``tokenizer.json``.

    As in SmolLM2, ``<|im_start|>`` doubles as BOS, ``<|im_end|>`` as EOS and
    pad, and the tokenizer adds no BOS: the template starts every turn itself.
    """
    from tokenizers import AddedToken, processors
    from transformers import AutoTokenizer

    # Let transformers convert the SentencePiece model, from a LLaMA 2 layout
    # written into out_dir, then replace that layout by the fast tokenizer.
    _write_sentencepiece_tokenizer(tokenizers_dir, out_dir, max_length, chat_template=None, legacy=False)
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    tokenizer.add_tokens(
        [AddedToken(token, special=True, normalized=False) for token in _CHATML_SPECIAL_TOKENS],
        special_tokens=True,
    )
    backend = tokenizer.backend_tokenizer
    # No <s> from the post-processor: ChatML turns open with <|im_start|>.
    backend.post_processor = processors.TemplateProcessing(single="$A:0", pair="$A:0 $B:1")
    backend.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer.model").unlink()
    im_start, im_end = (_token_id(tokenizer, token) for token in _CHATML_SPECIAL_TOKENS)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": "<|im_start|>",
        "eos_token": "<|im_end|>",
        "pad_token": "<|im_end|>",
        "unk_token": "<unk>",
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_length,
        "chat_template": CHATML_CHAT_TEMPLATE,
    }
    _write_json(out_dir / "tokenizer_config.json", config)
    return _TokenizerFacts(
        vocab_size=len(tokenizer), bos_token_id=im_start, eos_token_id=im_end, generation_eos_token_id=im_end
    )


def _write_llama3_instruct_tokenizer(tokenizers_dir: Path, out_dir: Path, max_length: int) -> _TokenizerFacts:
    """Meta-Llama-3-8B-Instruct with only the raw tiktoken ``tokenizer.model``.

    ``tokenizer_config.json`` deliberately has no ``added_tokens_decoder``:
    then only a loader that knows LLaMA 3's special tokens gets their ids
    right (``AutoTokenizer`` numbers them 128000, 128001, ... in the order it
    meets them, putting ``<|eot_id|>`` at 128001).
    """
    _copy_fixture(tokenizers_dir / _TIKTOKEN_MODEL, out_dir / "tokenizer.model")
    config = _llama3_tokenizer_config(LLAMA3_CHAT_TEMPLATE, max_length)
    _write_json(out_dir / "tokenizer_config.json", config)
    specials = llama3_special_tokens()
    return _TokenizerFacts(
        vocab_size=max(specials.values()) + 1,
        bos_token_id=specials[BEGIN_OF_TEXT],
        eos_token_id=specials[END_OF_TURN],
        generation_eos_token_id=[specials["<|end_of_text|>"], specials[END_OF_TURN]],
    )


def _write_llama31_instruct_tokenizer(tokenizers_dir: Path, out_dir: Path, max_length: int) -> _TokenizerFacts:
    """Llama-3.1-8B-Instruct: converted ``tokenizer.json`` that adds BOS like Meta's."""
    tokenizer = load_llama3_tiktoken(tokenizers_dir / _TIKTOKEN_MODEL, chat_template=LLAMA31_CHAT_TEMPLATE)
    bos_id = _token_id(tokenizer, BEGIN_OF_TEXT)
    backend = tokenizer.backend_tokenizer
    backend.post_processor = _meta_llama3_post_processor(bos_id)
    backend.save(str(out_dir / "tokenizer.json"))
    config = _llama3_tokenizer_config(LLAMA31_CHAT_TEMPLATE, max_length)
    config["added_tokens_decoder"] = _added_tokens_decoder(llama3_special_tokens())
    _write_json(out_dir / "tokenizer_config.json", config)
    specials = llama3_special_tokens()
    eos_ids = [specials["<|end_of_text|>"], specials["<|eom_id|>"], specials[END_OF_TURN]]
    return _TokenizerFacts(
        vocab_size=len(tokenizer), bos_token_id=bos_id, eos_token_id=eos_ids, generation_eos_token_id=eos_ids
    )


def _meta_llama3_post_processor(bos_id: int) -> PostProcessor:
    """Return the post-processor of Meta's LLaMA 3.x ``tokenizer.json``: prepend BOS.

    llamatasks' own loader leaves it out (prompt code adds BOS once), but real
    Llama 3.1 folders have it, and tests must see that double-BOS hazard.
    """
    from tokenizers import processors

    return processors.Sequence(
        [
            processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
            processors.TemplateProcessing(
                single=f"{BEGIN_OF_TEXT} $A",
                pair=f"{BEGIN_OF_TEXT} $A {BEGIN_OF_TEXT}:1 $B:1",
                special_tokens=[(BEGIN_OF_TEXT, bos_id)],
            ),
        ]
    )


def _llama3_tokenizer_config(chat_template: str, max_length: int) -> dict[str, Any]:
    """``tokenizer_config.json`` of Meta's LLaMA 3.x instruct repositories."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BEGIN_OF_TEXT,
        "eos_token": END_OF_TURN,
        # Meta ships true; transformers 5.x ignores it for BPE (with a warning).
        "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": max_length,
        "chat_template": chat_template,
    }


def _token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    """Id of one vocabulary entry (transformers types the result as maybe a list)."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(token_id, int):
        raise TypeError(f"no single id for {token!r}: {token_id!r}")
    return token_id


def _added_tokens_decoder(special_tokens: dict[str, int]) -> dict[str, dict[str, Any]]:
    """``added_tokens_decoder`` entries as transformers writes them."""
    return {
        str(token_id): {
            "content": token,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for token, token_id in special_tokens.items()
    }


_TokenizerWriter = Callable[[Path, Path, int], _TokenizerFacts]

_TOKENIZER_WRITERS: dict[str, tuple[_TokenizerWriter, _RopeFamily]] = {
    "llama1": (_write_llama1_tokenizer, _LLAMA1_ROPE),
    "llama2-chat": (_write_llama2_chat_tokenizer, _LLAMA2_ROPE),
    "llama3-instruct": (_write_llama3_instruct_tokenizer, _LLAMA3_ROPE),
    "llama3.1-instruct": (_write_llama31_instruct_tokenizer, _LLAMA31_ROPE),
    "llama3.2-instruct": (_write_llama31_instruct_tokenizer, _LLAMA32_ROPE),
    "llama3.3-instruct": (_write_llama31_instruct_tokenizer, _LLAMA31_ROPE),
    "chatml": (_write_chatml_tokenizer, _LLAMA2_ROPE),
    "zephyr": (_write_zephyr_tokenizer, _LLAMA2_ROPE),
}
assert tuple(_TOKENIZER_WRITERS) == TINY_KINDS, "every kind needs a writer"

# Context lengths of the real generations; RoPE needs no table, so they cost nothing.
_DEFAULT_CONTEXT: dict[str, int] = {
    "llama1": 2048, "llama2-chat": 4096, "llama3-instruct": 8192, "llama3.1-instruct": 131072,
    "llama3.2-instruct": 131072, "llama3.3-instruct": 131072, "chatml": 8192, "zephyr": 2048,
    # Llama-4-Scout-17B-16E-Instruct; Maverick's is 1,048,576.
    "llama4-instruct": 10_485_760, "llama4-text-instruct": 10_485_760,
}

#: The first lines of Meta's LICENSE for Llama 3.3, the one file of a Llama-3.3-70B-Instruct
#: folder that says which release it is (config, generation config and template equal 3.1's).
LLAMA33_LICENSE_HEADER = (
    "LLAMA 3.3 COMMUNITY LICENSE AGREEMENT\n"
    "Llama 3.3 Version Release Date: December 6, 2024\n"
)

#: Files besides the model and tokenizer that a kind's real folders carry.
_RELEASE_FILES: dict[str, dict[str, str]] = {"llama3.3-instruct": {"LICENSE": LLAMA33_LICENSE_HEADER}}


# -- Llama 4 ------------------------------------------------------------------
# Llama 4's vocabulary is 200,000 BPE ranks (an o200k-style pattern) and 2,048
# ids for special tokens (config vocab_size 202,048). Those ranks are not
# available offline, so LLaMA 3's 128,000 stand in for them and ids 128,000-
# 199,999 are filler entries that no text encodes to: every special token
# sits at its real id, and text simply never uses the filler.

#: meta-llama/Llama-4-Scout-17B-16E-Instruct (transformers' Llama4Processor ships the same
#: text). Renders ``bos_token`` itself; no default system turn; user text is not trimmed.
LLAMA4_CHAT_TEMPLATE = (
    "{{- bos_token }}\n"
    "{%- if custom_tools is defined %}\n"
    "    {%- set tools = custom_tools %}\n"
    "{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n"
    "    {%- set tools_in_user_message = true %}\n"
    "{%- endif %}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
    "    {%- else %}\n"
    "        {%- set date_string = \"26 Jul 2024\" %}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
    "{%- if messages[0]['role'] == 'system' %}    \n"
    "    {%- if messages[0]['content'] is string %}\n"
    "        {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- else %}\n"
    "        {#- FIXME: The processor requires an array, always. #}\n"
    "        {%- set system_message = messages[0]['content'][0]['text']|trim %}\n"
    "    {%- endif %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "    {%- set user_supplied_system_message = true %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "    {%- set user_supplied_system_message = false %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- System message if the user supplied one #}\n"
    "{%- if user_supplied_system_message %}\n"
    "    {{- \"<|header_start|>system<|header_end|>\n"
    "\n"
    "\" }}\n"
    "    {%- if tools is not none %}\n"
    "        {{- \"Environment: ipython\n"
    "\" }}\n"
    "    {%- endif %}\n"
    "    {%- if tools is not none and not tools_in_user_message %}\n"
    "        {{- \"You have access to the following functions. To call a function, please respond with JSON for a function call.\" }}\n"
    "        {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n"
    "        {{- \"Do not use variables.\n"
    "\n"
    "\" }}\n"
    "        {%- for t in tools %}\n"
    "            {{- t | tojson(indent=4) }}\n"
    "            {{- \"\n"
    "\n"
    "\" }}\n"
    "        {%- endfor %}\n"
    "    {%- endif %}\n"
    "    {{- system_message }}\n"
    "    {{- \"<|eot|>\" }}\n"
    "{%- endif %}\n"
    "\n"
    "{#- Custom tools are passed in a user message with some extra guidance #}\n"
    "{%- if tools_in_user_message and not tools is none %}\n"
    "    {#- Extract the first user message so we can plug it in here #}\n"
    "    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    "        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") }}\n"
    "{%- endif %}\n"
    "    {{- '<|header_start|>user<|header_end|>\n"
    "\n"
    "' -}}\n"
    "    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n"
    "    {{- \"with its proper arguments that best answers the given prompt.\n"
    "\n"
    "\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n"
    "    {{- \"Do not use variables.\n"
    "\n"
    "\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\n"
    "\n"
    "\" }}\n"
    "    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot|>\"}}\n"
    "{%- endif %}\n"
    "\n"
    "{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "    {{- '<|header_start|>' + message['role'] + '<|header_end|>\n"
    "\n"
    "' }}\n"
    "        {%- if message['content'] is string %}\n"
    "            {{- message['content'] }}\n"
    "        {%- else %}\n"
    "            {%- for content in message['content'] %}\n"
    "                {%- if content['type'] == 'image' %}\n"
    "                    {{- '<|image|>' }}\n"
    "                {%- elif content['type'] == 'text' %}\n"
    "                    {{- content['text'] }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "        {{- \"<|eot|>\" }}\n"
    "    {%- elif 'tool_calls' in message and message.tool_calls|length > 0 %}\n"
    "       {{- '<|header_start|>assistant<|header_end|>\n"
    "\n"
    "' -}}\n"
    "       {{- '<|python_start|>' }}\n"
    "        {%- if message['content'] is string %}\n"
    "            {{- message['content'] }}\n"
    "        {%- else %}\n"
    "            {%- for content in message['content'] %}\n"
    "                {%- if content['type'] == 'image' %}\n"
    "                    {{- '<|image|>' }}\n"
    "                {%- elif content['type'] == 'text' %}\n"
    "                    {{- content['text'] }}\n"
    "                {%- endif %}\n"
    "            {%- endfor %}\n"
    "        {%- endif %}\n"
    "       {{- '<|python_end|>' }}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "           {{- '{\"name\": \"' + tool_call.function.name + '\", ' }}\n"
    "           {{- '\"parameters\": ' }}\n"
    "           {{- tool_call.function.arguments | tojson }}\n"
    "           {{- \"}\" }}\n"
    "        {%- endfor %}\n"
    "       {{- \"<|eot|>\" }}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
    "        {{- \"<|header_start|>ipython<|header_end|>\n"
    "\n"
    "\" }}\n"
    "        {%- if message.content is mapping or message.content is iterable %}\n"
    "            {{- message.content | tojson }}\n"
    "        {%- else %}\n"
    "            {{- message.content }}\n"
    "        {%- endif %}\n"
    "        {{- \"<|eot|>\" }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|header_start|>assistant<|header_end|>\n"
    "\n"
    "' }}\n"
    "{%- endif %}\n"
)

_LLAMA3_BASE_VOCAB = 128_000
_LLAMA4_BASE_VOCAB = 200_000
_LLAMA4_VOCAB_SIZE = 202_048
_LLAMA4_LAYERS = 4  # every 4th layer has no RoPE (attends to everything): the last one here
_LLAMA4_CHUNK = 16  # real models: 8192; small here so that tests cross chunk boundaries
_LLAMA4_STOPS = ("<|end_of_text|>", "<|eom|>", "<|eot|>")


def _reserved(name: str, count: int, start: int) -> list[str]:
    return [f"<|{name}_reserved_special_token_{i}|>" for i in range(start, start + count)]


def llama4_special_tokens() -> dict[str, int]:
    """Llama 4's special tokens and their ids (200,000-201,133).

    The list and order of transformers' ``convert_llama4_weights_to_hf.py``,
    which wrote the published ``tokenizer.json`` files: ``<|begin_of_text|>``
    200000, ``<|end_of_text|>`` 200001, ``<|header_start|>`` 200005,
    ``<|header_end|>`` 200006, ``<|eom|>`` 200007, ``<|eot|>`` 200008,
    ``<|python_start|>`` 200016, ``<|finetune_right_pad|>`` 200018 (pad),
    ``<|image_start|>`` 200080, ``<|image|>`` 200090, ``<|patch|>`` 200092 ...
    """
    basic = ["<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"]
    text = ["<|header_start|>", "<|header_end|>", "<|eom|>", "<|eot|>", "<|step|>",
            *_reserved("text_post_train", 6, 0), "<|python_start|>", "<|python_end|>", "<|finetune_right_pad|>",
            *_reserved("text_post_train", 61, 6)]
    vision = ["<|image_start|>", "<|image_end|>", *_reserved("vision", 2, 0), "<|tile_x_separator|>",
              "<|tile_y_separator|>", *_reserved("vision", 4, 2), "<|image|>", *_reserved("vision", 1, 6),
              "<|patch|>", *_reserved("vision", 1041, 7)]
    return {token: _LLAMA4_BASE_VOCAB + i for i, token in enumerate(basic + text + vision)}


def _write_llama4_tokenizer(tokenizers_dir: Path, out_dir: Path, max_length: int) -> _TokenizerFacts:
    """Llama-4-Scout-17B-16E-Instruct's layout: ``tokenizer.json`` that adds BOS, like 3.1's."""
    from tokenizers import Tokenizer

    base = load_llama3_tiktoken(tokenizers_dir / _TIKTOKEN_MODEL, special_tokens={})
    data = json.loads(base.backend_tokenizer.to_str())
    vocab: dict[str, int] = data["model"]["vocab"]
    # "<|" ... "|>" around letters and digits: the pre-tokenizer always splits such a string,
    # so no text becomes a filler id (and BPE has no merge that builds one).
    vocab.update({f"<|llama4_filler_{i}|>": i for i in range(len(vocab), _LLAMA4_BASE_VOCAB)})
    specials = llama4_special_tokens()
    data["added_tokens"] = [
        {"id": token_id, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for token, token_id in specials.items()
    ]
    backend = Tokenizer.from_str(json.dumps(data))
    backend.post_processor = _meta_llama3_post_processor(specials[BEGIN_OF_TEXT])
    backend.save(str(out_dir / "tokenizer.json"))
    config = _llama3_tokenizer_config(LLAMA4_CHAT_TEMPLATE, max_length)
    config.update(eos_token="<|eot|>", pad_token="<|finetune_right_pad|>",
                  added_tokens_decoder=_added_tokens_decoder(specials))
    _write_json(out_dir / "tokenizer_config.json", config)
    eos_ids = [specials[token] for token in _LLAMA4_STOPS]
    return _TokenizerFacts(vocab_size=_LLAMA4_VOCAB_SIZE, bos_token_id=specials[BEGIN_OF_TEXT],
                           eos_token_id=eos_ids, generation_eos_token_id=eos_ids)


def _llama4_text_config(facts: _TokenizerFacts, max_position_embeddings: int) -> dict[str, Any]:
    """A tiny Llama-4-Scout text config: MoE every other layer (Maverick's interleave), qk-norm, chunked attention."""
    return {
        "vocab_size": facts.vocab_size, "hidden_size": _HIDDEN_SIZE, "num_hidden_layers": _LLAMA4_LAYERS,
        "num_attention_heads": _NUM_HEADS, "num_key_value_heads": _NUM_KV_HEADS, "head_dim": _HIDDEN_SIZE // _NUM_HEADS,
        "intermediate_size": _INTERMEDIATE_SIZE // 2, "intermediate_size_mlp": _INTERMEDIATE_SIZE,
        "num_local_experts": 4, "num_experts_per_tok": 1, "interleave_moe_layer_step": 2,
        "no_rope_layer_interval": 4, "attention_chunk_size": _LLAMA4_CHUNK, "use_qk_norm": True,
        "attn_temperature_tuning": True, "floor_scale": 8192, "attn_scale": 0.1,
        "max_position_embeddings": max_position_embeddings, "rms_norm_eps": 1e-5,
        "initializer_range": _INITIALIZER_RANGE, "bos_token_id": facts.bos_token_id,
        "eos_token_id": facts.eos_token_id, "pad_token_id": llama4_special_tokens()["<|finetune_right_pad|>"],
        "tie_word_embeddings": False,
        "rope_parameters": {"rope_theta": 500_000.0, **_LLAMA4_ROPE_SCALING},
    }


# Llama-4-Scout-17B-16E's rope scaling: LLaMA 3.1's rule, factor 8 from 8,192 positions.
_LLAMA4_ROPE_SCALING: dict[str, Any] = {
    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}

# From transformers' own Llama 4 tests: the smallest vision tower its forward accepts.
_LLAMA4_VISION_CONFIG: dict[str, Any] = {
    "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 64,
    "vision_output_dim": 32, "image_size": 8, "patch_size": 2, "pixel_shuffle_ratio": 0.5,
    "projector_input_dim": 32, "projector_output_dim": 32, "initializer_range": 0.02,
}


def _write_llama4_model(kind: str, facts: _TokenizerFacts, out_dir: Path, max_position_embeddings: int,
                        *, seed: int) -> None:
    """Initialise the language model from ``seed``; ``llama4-instruct`` wraps it with a vision tower."""
    import torch
    from transformers import (
        GenerationConfig,
        Llama4Config,
        Llama4ForCausalLM,
        Llama4ForConditionalGeneration,
        Llama4TextConfig,
    )

    text_config = _llama4_text_config(facts, max_position_embeddings)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model: Any = Llama4ForCausalLM(Llama4TextConfig(architectures=["Llama4ForCausalLM"], **text_config))
        model.lm_head.weight.normal_(mean=0.0, std=_LM_HEAD_STD)
        # Logit 0 for ids no text has (the filler, and the padding of the embedding past the
        # tokenizer), far below the top tokens': a trained model never emits them either.
        model.lm_head.weight[_LLAMA3_BASE_VOCAB:_LLAMA4_BASE_VOCAB].zero_()
        model.lm_head.weight[_LLAMA4_BASE_VOCAB + len(llama4_special_tokens()):].zero_()
        if kind == "llama4-instruct":
            language_model = model
            special = llama4_special_tokens()
            model = Llama4ForConditionalGeneration(Llama4Config(
                architectures=["Llama4ForConditionalGeneration"], text_config=text_config,
                vision_config=_LLAMA4_VISION_CONFIG, boi_token_index=special["<|image_start|>"],
                eoi_token_index=special["<|image_end|>"], image_token_index=special["<|patch|>"],
                tie_word_embeddings=False))
            model.language_model.load_state_dict(language_model.state_dict())
    model.generation_config = GenerationConfig(bos_token_id=facts.bos_token_id,
                                               eos_token_id=facts.generation_eos_token_id,
                                               pad_token_id=text_config["pad_token_id"])
    model.save_pretrained(out_dir, safe_serialization=True)
    _add_llama4_legacy_keys(out_dir / "config.json")


def _add_llama4_legacy_keys(config_path: Path) -> None:
    """Also write ``rope_theta`` and ``rope_scaling``, as the published (transformers 4.51) configs do."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    text = config.get("text_config", config)
    text["rope_theta"] = 500_000.0
    text["rope_scaling"] = dict(_LLAMA4_ROPE_SCALING)
    _write_json(config_path, config)


# -- files ----------------------------------------------------------------------


def _copy_fixture(source: Path, target: Path) -> None:
    """Copy a fixture file, without its read-only mode bits.

    The fixtures are read-only; a read-only copy would make the checkpoint
    folder hard to overwrite or clean up.
    """
    if not source.is_file():
        raise FileNotFoundError(f"fixture tokenizer not found: {source}")
    shutil.copyfile(source, target)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON the way transformers does (indented, UTF-8, trailing newline)."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
