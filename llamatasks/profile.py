"""ModelProfile: which LLaMA generation a folder holds and how to prompt it.

Derived from config.json, the tokenizer, the chat template and
generation_config.json. The prompt format comes from the template text;
the generation from the architecture (Llama 4), then the vocabulary, rope
scaling and context length. Llama 4 folders are read for their language
model: a ``Llama4ForConditionalGeneration`` folder's ``text_config``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llamatasks.errors import LlamaTasksError, ModelLoadError, UnsupportedModelError
from llamatasks.prompts.formats import PromptFormat
from llamatasks.tokenizer import Tokenizer

Generation = Literal["llama1", "llama2", "llama3", "llama3.1", "llama3.2", "llama3.2-vision", "llama3.3", "llama4",
                     "community"]

_LLAMA3_BOS = "<|begin_of_text|>"

_LLAMA_ARCHITECTURES = frozenset({"LlamaForCausalLM", "Llama4ForCausalLM", "Llama4ForConditionalGeneration",
                                  "MllamaForConditionalGeneration"})
#: ``llama4``: Llama4ForConditionalGeneration (images + text; its language model runs),
#: ``llama4_text``: Llama4ForCausalLM.
_LLAMA4_TYPES = frozenset({"llama4", "llama4_text"})

# LLaMA-family models llamatasks cannot run, by model_type: (what the folder holds,
# what to do). A typed error saying so beats "not a LLaMA-architecture model".
_NOT_SUPPORTED: dict[str, tuple[str, str]] = {
    "llama4_vision_model": (
        "a Llama 4 vision tower alone, with no language model",
        "point at the whole Llama 4 folder (model_type llama4)",
    ),
}


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
    attention_chunk_size: int | None = Field(
        None, description="Llama 4: the chunked_attention_layers attend only within chunks of this many tokens.")
    chunked_attention_layers: tuple[int, ...] = ()
    nope_layers: tuple[int, ...] = Field(
        (), description="Layers without rotary position embeddings (Llama 4: every 4th; they attend to everything).")
    num_experts: int | None = Field(None, description="Routed experts per mixture-of-experts layer (Llama 4).")
    experts_per_token: int | None = None
    moe_layers: tuple[int, ...] = Field((), description="Layers whose feed-forward is a mixture of experts.")
    vision: bool = Field(False, description=(
        "Whether the folder holds a vision tower (LLaMA 3.2 Vision, Llama 4): image tasks can run on it."))

    @property
    def gqa(self) -> bool:
        """Grouped-query attention (fewer key/value heads than query heads)."""
        return self.num_key_value_heads < self.num_attention_heads


def read_config(path: Path) -> dict[str, Any]:
    """config.json of a model folder, checked to be a LLaMA-architecture or Llama 4 model.

    Raises:
        ModelLoadError: config.json is missing or not a JSON object (or a Llama 4
            folder's ``text_config`` is not one).
        UnsupportedModelError: another architecture; a LLaMA-family model that
            cannot run (a Llama 4 vision tower alone) says why.
    """
    file = path / "config.json"
    if not file.exists():
        raise ModelLoadError(f"{path} has no config.json",
                             hint="point at a Hugging Face-format folder (config.json + safetensors + tokenizer) or a .gguf file")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{file} is not valid JSON: {exc}", hint="re-download or re-convert the model") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{file} holds a JSON {type(config).__name__}, not an object",
                             hint="config.json must be the model's configuration object; re-download the model")
    model_type = config.get("model_type")
    if model_type in _NOT_SUPPORTED:
        what, hint = _NOT_SUPPORTED[model_type]
        raise UnsupportedModelError(f"{path} holds {what}", hint=hint)
    architectures = _architectures(config)
    if model_type not in {"llama", "mllama", *_LLAMA4_TYPES} and not _LLAMA_ARCHITECTURES & architectures:
        kind = model_type or ", ".join(sorted(architectures)) or "unknown"
        raise UnsupportedModelError(f"{path} holds a {kind!r} model, not a LLaMA-architecture model",
                                    hint="llamatasks runs LlamaForCausalLM models (LLaMA 1-3.3, SmolLM2, TinyLlama, "
                                         "OpenLLaMA) and Llama 4's language model")
    if not isinstance(language_config(config), dict):
        raise ModelLoadError(f"{file}: a Llama 4 or LLaMA 3.2 Vision config.json needs a text_config object",
                             hint="re-download config.json")
    return config


def language_config(config: dict[str, Any]) -> dict[str, Any]:
    """The language model's part of a config.json: ``text_config`` for Llama 4 with images, else all of it."""
    if config.get("model_type") in ("llama4", "mllama") or \
            _architectures(config) & {"Llama4ForConditionalGeneration", "MllamaForConditionalGeneration"}:
        return config.get("text_config")  # type: ignore[return-value]  # checked by read_config
    return config


def is_llama4(config: dict[str, Any]) -> bool:
    """Whether config.json is a Llama 4 model (with or without its vision tower)."""
    return config.get("model_type") in _LLAMA4_TYPES or bool(
        _architectures(config) & {"Llama4ForCausalLM", "Llama4ForConditionalGeneration"})


def is_mllama(config: dict[str, Any]) -> bool:
    """Whether config.json is LLaMA 3.2 Vision (``MllamaForConditionalGeneration``)."""
    return config.get("model_type") == "mllama" or "MllamaForConditionalGeneration" in _architectures(config)


def reads_images(config: dict[str, Any]) -> bool:
    """Whether the folder's model has a vision tower (LLaMA 3.2 Vision; Llama 4 with ``vision_config``)."""
    return is_mllama(config) or (is_llama4(config) and isinstance(config.get("vision_config"), dict))


def _architectures(config: dict[str, Any]) -> set[str]:
    names = config.get("architectures")
    return {name for name in names if isinstance(name, str)} if isinstance(names, list) else set()


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


def detect_generation(config: dict[str, Any], tokenizer: Tokenizer, path: Path | None = None) -> Generation:
    """LLaMA generation from the architecture, then vocabulary, rope scaling and context length.

    Llama 3.3 is laid out exactly like 3.1 (same config, generation config,
    template and stop ids; only the weights differ), so ``path`` is read for
    the one thing that tells them apart: a LICENSE or model card naming 3.3.
    Without it a 3.3 folder is ``llama3.1``, which prompts it identically.
    """
    if is_llama4(config):
        return "llama4"
    if is_mllama(config):
        return "llama3.2-vision"
    config = language_config(config)
    _, scaling = _rope(config)
    ctx = int(config.get("max_position_embeddings", 2048))
    heads = int(config.get("num_attention_heads", 1))
    kv_heads = int(config.get("num_key_value_heads", heads))
    if tokenizer.token_id(_LLAMA3_BOS) == 128000:
        if scaling and scaling.get("rope_type") == "llama3":
            small = int(config.get("hidden_size", 0)) <= 3072 and bool(config.get("tie_word_embeddings"))
            if small:
                return "llama3.2"
            return "llama3.3" if path is not None and released_as_llama33(path) else "llama3.1"
        return "llama3"
    if _is_llama_sp_vocab(tokenizer):
        if ctx == 4096:
            return "llama2"
        if ctx == 2048 and kv_heads == heads:
            return "llama1"
    return "community"


# Meta's LICENSE opens "LLAMA 3.3 COMMUNITY LICENSE AGREEMENT"; a model card's YAML front
# matter says "license: llama3.3" (Meta's) or names a meta-llama/Llama-3.3-* base model.
_LLAMA33_LICENSE = re.compile(r"\bllama\s*3\.3\s+community\s+license", re.IGNORECASE)
_LLAMA33_CARD = re.compile(r"^license:\s*llama3\.3\s*$|meta-llama/llama-3\.3-", re.IGNORECASE | re.MULTILINE)
_LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md")


def released_as_llama33(path: Path) -> bool:
    """Whether the folder's LICENSE header or model card metadata names Llama 3.3."""
    if any(_LLAMA33_LICENSE.search(_head(path / name, 512)) for name in _LICENSE_FILES):
        return True
    card = _head(path / "README.md", 8192)
    # Only the metadata between the leading "---" lines: prose may compare with 3.3.
    front = card.split("---", 2)[1] if card.startswith("---") and card.count("---") >= 2 else ""
    return bool(_LLAMA33_CARD.search(front))


def _head(file: Path, size: int) -> str:
    try:
        with file.open("rb") as handle:
            return handle.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _llama4_layout(config: dict[str, Any]) -> dict[str, Any]:
    """Chunked attention, NoPE layers and experts of a Llama 4 text config (transformers' defaults when absent)."""
    layers = int(config.get("num_hidden_layers", 48))
    interval = int(config.get("no_rope_layer_interval", 4))
    # Despite its name, no_rope_layers holds 1 for a layer that *uses* RoPE.
    uses_rope = config.get("no_rope_layers") or [int((i + 1) % interval != 0) for i in range(layers)]
    chunk = config.get("attention_chunk_size", 8192)
    types = config.get("layer_types") or ["chunked_attention" if rope and chunk is not None else "full_attention"
                                          for rope in uses_rope]
    step = int(config.get("interleave_moe_layer_step", 1))
    moe = config.get("moe_layers")
    chunked = tuple(i for i, kind in enumerate(types[:layers]) if kind == "chunked_attention")
    return {
        "attention_chunk_size": int(chunk) if chunked and chunk is not None else None,
        "chunked_attention_layers": chunked,
        "nope_layers": tuple(i for i, rope in enumerate(uses_rope[:layers]) if not rope),
        "num_experts": int(config.get("num_local_experts", 16)),
        "experts_per_token": int(config.get("num_experts_per_tok", 1)),
        "moe_layers": tuple(int(i) for i in moe) if moe is not None else tuple(range(step - 1, layers, step)),
    }


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
    prompt_format: PromptFormat | None = None, max_context: int | None = None, config: dict[str, Any] | None = None,
) -> ModelProfile:
    """Derive the profile of a Hugging Face-format folder (``config``: its config.json, if already read)."""
    config = read_config(path) if config is None else config
    fmt = prompt_format or detect_format(tokenizer, formats)
    try:
        return _profile(path, name, tokenizer, fmt, config, max_context)
    except LlamaTasksError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:  # a field of the wrong type: a broken config, not a bug
        raise ModelLoadError(f"{path / 'config.json'} has a field of the wrong type: {exc}",
                             hint="re-download or re-convert the model") from exc


def _profile(path: Path, name: str, tokenizer: Tokenizer, fmt: PromptFormat, config: dict[str, Any],
             max_context: int | None) -> ModelProfile:
    generation = detect_generation(config, tokenizer, path)
    vision = reads_images(config)
    layout = _llama4_layout(language_config(config)) if generation == "llama4" else {}
    config = language_config(config)
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
        rope_theta=theta, rope_scaling=scaling, vision=vision, **layout,
    )
