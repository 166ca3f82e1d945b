"""ModelProfile: which LLaMA generation a folder holds and how to prompt it.

Derived from config.json, the tokenizer, the chat template and
generation_config.json. The prompt format comes from the template text;
the generation from the vocabulary, rope scaling and context length.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llamatasks.errors import ModelLoadError, UnsupportedModelError
from llamatasks.prompts.formats import PromptFormat
from llamatasks.tokenizer import Tokenizer

Generation = Literal["llama1", "llama2", "llama3", "llama3.1", "llama3.2", "community"]

_LLAMA3_BOS = "<|begin_of_text|>"


class ModelProfile(BaseModel):
    """Everything the task code needs to know about a model, independent of backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    path: str
    generation: Generation
    prompt_format: str
    chat: bool = Field(description="False for base models, which get completion (few-shot) prompts.")
    stop_token_ids: tuple[int, ...]
    bos_token_id: int | None
    add_bos: bool = Field(description="Whether llamatasks prepends BOS (never twice).")
    context_length: int
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    rope_theta: float | None
    rope_scaling: dict[str, Any] | None

    @property
    def gqa(self) -> bool:
        """Grouped-query attention (fewer key/value heads than query heads)."""
        return self.num_key_value_heads < self.num_attention_heads


def read_config(path: Path) -> dict[str, Any]:
    """config.json of a model folder, checked to be a LLaMA-architecture causal LM."""
    file = path / "config.json"
    if not file.exists():
        raise ModelLoadError(f"{path} has no config.json",
                             hint="point at a Hugging Face-format folder (config.json + safetensors + tokenizer) or a .gguf file")
    try:
        config = dict(json.loads(file.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{file} is not valid JSON: {exc}", hint="re-download or re-convert the model") from exc
    architectures = config.get("architectures") or []
    if config.get("model_type") != "llama" and "LlamaForCausalLM" not in architectures:
        kind = config.get("model_type") or ", ".join(architectures) or "unknown"
        raise UnsupportedModelError(f"{path} holds a {kind!r} model, not a LLaMA-architecture model")
    return config


def _rope(config: dict[str, Any]) -> tuple[float | None, dict[str, Any] | None]:
    params = config.get("rope_parameters") or {}
    scaling = config.get("rope_scaling") or None
    if scaling is None and params.get("rope_type", "default") != "default":
        scaling = {k: v for k, v in params.items() if k != "rope_theta"}
    theta = config.get("rope_theta", params.get("rope_theta"))
    return (float(theta) if theta is not None else None), scaling


def _is_llama_sp_vocab(tokenizer: Tokenizer) -> bool:
    # The LLaMA 1/2 SentencePiece vocabulary (also used by TinyLlama).
    return tokenizer.vocab_size in (32000, 32001, 32002) and tokenizer.token_id("<0x0A>") == 13 \
        and tokenizer.token_id("▁the") == 278


def detect_generation(config: dict[str, Any], tokenizer: Tokenizer) -> Generation:
    """LLaMA generation from vocabulary, rope scaling and context length."""
    _, scaling = _rope(config)
    ctx = int(config.get("max_position_embeddings", 2048))
    heads = int(config.get("num_attention_heads", 1))
    kv_heads = int(config.get("num_key_value_heads", heads))
    if tokenizer.token_id(_LLAMA3_BOS) == 128000:
        if scaling and scaling.get("rope_type") == "llama3":
            small = int(config.get("hidden_size", 0)) <= 3072 and bool(config.get("tie_word_embeddings"))
            return "llama3.2" if small else "llama3.1"
        return "llama3"
    if _is_llama_sp_vocab(tokenizer):
        if ctx == 4096:
            return "llama2"
        if ctx == 2048 and kv_heads == heads:
            return "llama1"
    return "community"


def detect_format(tokenizer: Tokenizer, formats: list[PromptFormat]) -> PromptFormat:
    """The first format (by priority) whose detector accepts the chat template."""
    for fmt in formats:
        if fmt.detect(tokenizer.chat_template):
            return fmt
    raise UnsupportedModelError("no prompt format matches this model's chat template",
                                hint="pass prompt_format= naming a registered format")


def _generation_eos(path: Path) -> list[int]:
    file = path / "generation_config.json"
    if not file.exists():
        return []
    try:
        eos = json.loads(file.read_text(encoding="utf-8")).get("eos_token_id")
    except (OSError, ValueError):
        return []
    if eos is None:
        return []
    return [int(e) for e in (eos if isinstance(eos, list) else [eos])]


def stop_tokens(path: Path, config: dict[str, Any], tokenizer: Tokenizer, fmt: PromptFormat) -> tuple[int, ...]:
    """The full stop set: generation_config eos, tokenizer eos and the format's end tokens."""
    ids = _generation_eos(path)
    config_eos = config.get("eos_token_id")
    ids += config_eos if isinstance(config_eos, list) else ([config_eos] if config_eos is not None else [])
    if tokenizer.eos_id is not None:
        ids.append(tokenizer.eos_id)
    ids += [i for i in (tokenizer.token_id(t) for t in fmt.stop_tokens) if i is not None]
    return tuple(dict.fromkeys(int(i) for i in ids))


def decide_bos(tokenizer: Tokenizer, fmt: PromptFormat, generation: Generation) -> bool:
    """Whether prompts start with BOS.

    A template that writes ``bos_token`` decides for itself; a published chat
    template that does not (ChatML) means the model takes none. For our own
    templates (completion prompts), LLaMA generations get BOS, and other
    models get it when their tokenizer would add it by default.
    """
    model_template = tokenizer.chat_template if fmt.use_model_template else None
    template = model_template or fmt.template or ""
    if "bos_token" in template or (tokenizer.bos_token and tokenizer.bos_token in template):
        return True
    if model_template:
        return False
    if generation != "community":
        return True
    probe = tokenizer.hf("a", add_special_tokens=True)["input_ids"]
    return bool(probe) and probe[0] == tokenizer.bos_id


def build_profile(
    path: Path, name: str, tokenizer: Tokenizer, formats: list[PromptFormat], *,
    prompt_format: PromptFormat | None = None, max_context: int | None = None,
) -> ModelProfile:
    """Derive the profile of a Hugging Face-format folder."""
    config = read_config(path)
    fmt = prompt_format or detect_format(tokenizer, formats)
    generation = detect_generation(config, tokenizer)
    theta, scaling = _rope(config)
    ctx = int(config.get("max_position_embeddings", 2048))
    heads = int(config.get("num_attention_heads", 1))
    return ModelProfile(
        name=name, path=str(path), generation=generation, prompt_format=fmt.name, chat=fmt.chat,
        stop_token_ids=stop_tokens(path, config, tokenizer, fmt), bos_token_id=tokenizer.bos_id,
        add_bos=decide_bos(tokenizer, fmt, generation),
        context_length=min(ctx, max_context) if max_context else ctx,
        vocab_size=int(config.get("vocab_size", tokenizer.vocab_size)),
        hidden_size=int(config.get("hidden_size", 0)), num_layers=int(config.get("num_hidden_layers", 0)),
        num_attention_heads=heads, num_key_value_heads=int(config.get("num_key_value_heads", heads)),
        rope_theta=theta, rope_scaling=scaling,
    )
