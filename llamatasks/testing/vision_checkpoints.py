"""Tiny random-weight vision checkpoints: LLaMA 3.2 Vision (Mllama) and Llama 4 with its processor.

Two kinds (:data:`VISION_KINDS`), built offline in a few seconds:

* ``llama3.2-vision-instruct``: Llama-3.2-11B-Vision-Instruct's layout,
  ``MllamaForConditionalGeneration`` (``model_type`` ``mllama``): the LLaMA 3.1
  tokenizer plus ``<|image|>`` at 128256, Meta's vision chat template, a
  2-layer language model whose layer 1 is a cross-attention layer (so the
  image path runs), a 2-layer vision encoder on 16x16 tiles (up to 4 tiles),
  and ``MllamaProcessor``'s files.
* ``llama4-vision-instruct``: the ``llama4-instruct`` checkpoint of
  :mod:`llamatasks.testing.checkpoints` (``Llama4ForConditionalGeneration``)
  plus ``Llama4Processor``'s files sized to its tiny vision tower (8x8 tiles,
  4 patch tokens a tile).

Tokenizers come from the shared test fixtures, as for the text kinds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llamatasks.testing.checkpoints import (
    _INITIALIZER_RANGE,
    _LM_HEAD_STD,
    _added_tokens_decoder,
    _llama3_tokenizer_config,
    _meta_llama3_post_processor,
    _write_json,
    build_tiny_checkpoint,
)
from llamatasks.tokenization.llama3_tiktoken import (
    BEGIN_OF_TEXT,
    llama3_special_tokens,
    load_llama3_tiktoken,
)

__all__ = ["LLAMA32_VISION_CHAT_TEMPLATE", "MLLAMA_IMAGE_TOKEN_ID", "VISION_KINDS", "build_vision_checkpoint"]

#: Tiny checkpoints that read images.
VISION_KINDS: tuple[str, ...] = ("llama3.2-vision-instruct", "llama4-vision-instruct")

#: ``<|image|>`` in LLaMA 3.2 Vision: the first id after LLaMA 3's 256 specials.
MLLAMA_IMAGE_TOKEN_ID = 128256

_TIKTOKEN_MODEL = Path("llama-3", "tokenizer.model")

#: meta-llama/Llama-3.2-11B-Vision-Instruct (tool calling included). No system turn when
#: the messages hold an image, and an error for an image together with a system message.
LLAMA32_VISION_CHAT_TEMPLATE = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
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

{#- Find out if there are any images #}
{% set image_ns = namespace(has_images=false) %}      
{%- for message in messages %}
    {%- for content in message['content'] %}
        {%- if content['type'] == 'image' %}
            {%- set image_ns.has_images = true %}
        {%- endif %}
    {%- endfor %}
{%- endfor %}

{#- Error out if there are images and system message #}
{%- if image_ns.has_images and not system_message == "" %}
    {{- raise_exception("Prompting with images is incompatible with system messages.") }}
{%- endif %}

{#- System message if there are no images #}
{%- if not image_ns.has_images %}
    {{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
    {%- if tools is not none %}
        {{- "Environment: ipython\n" }}
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
{%- endif %}

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
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}
        {%- if message['content'] is string %}
            {{- message['content'] }}
        {%- else %}
            {%- for content in message['content'] %}
                {%- if content['type'] == 'image' %}
                    {{- '<|image|>' }}
                {%- elif content['type'] == 'text' %}
                    {{- content['text'] }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
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

# Tiny shapes. The vision tower sees 16x16 tiles in 4x4 patches (17 vision tokens a tile with the class
# token); layer 1 of the language model is its cross-attention layer, as layers 3, 8, 13... are in 11B.
_MLLAMA_TILE = 16
_MLLAMA_MAX_TILES = 4
_MLLAMA_VISION: dict[str, Any] = {
    "hidden_size": 16, "num_hidden_layers": 2, "num_global_layers": 1, "attention_heads": 4,
    "intermediate_size": 32, "vision_output_dim": 32, "image_size": _MLLAMA_TILE, "patch_size": 4,
    "max_num_tiles": _MLLAMA_MAX_TILES, "intermediate_layers_indices": [0], "initializer_range": 0.02,
}
_LLAMA4_TILE = 8  # checkpoints._LLAMA4_VISION_CONFIG's image_size
_LLAMA4_PATCH = 2
_LLAMA4_PIXEL_SHUFFLE = 0.5


def build_vision_checkpoint(kind: str, out_dir: Path, *, tokenizers_dir: Path, seed: int = 0) -> Path:
    """Write a tiny random-weight vision checkpoint with its processor files.

    Args:
        kind: One of :data:`VISION_KINDS`.
        out_dir: Folder to write; created if missing.
        tokenizers_dir: The fixture tokenizers folder (``find_fixture_tokenizers``).
        seed: Seed for the weights; the caller's torch random state is left untouched.

    Returns:
        ``out_dir``.

    Raises:
        ValueError: If ``kind`` is unknown.
    """
    out_dir = Path(out_dir)
    if kind == "llama4-vision-instruct":
        build_tiny_checkpoint("llama4-instruct", out_dir, tokenizers_dir=tokenizers_dir, seed=seed)
        _widen_llama4_adapter(out_dir, seed=seed)
        _write_llama4_processor(out_dir)
        return out_dir
    if kind != "llama3.2-vision-instruct":
        raise ValueError(f"unknown vision checkpoint kind {kind!r}; expected one of {VISION_KINDS}")
    out_dir.mkdir(parents=True, exist_ok=True)
    specials = _write_mllama_tokenizer(Path(tokenizers_dir), out_dir)
    _write_mllama_model(specials, out_dir, seed=seed)
    _write_mllama_processor(out_dir)
    return out_dir


def _write_mllama_tokenizer(tokenizers_dir: Path, out_dir: Path) -> dict[str, int]:
    """LLaMA 3.1's tokenizer plus ``<|image|>`` (128256), with Meta's BOS post-processor."""
    specials = {**llama3_special_tokens(), "<|image|>": MLLAMA_IMAGE_TOKEN_ID}
    tokenizer = load_llama3_tiktoken(tokenizers_dir / _TIKTOKEN_MODEL, special_tokens=specials,
                                     chat_template=LLAMA32_VISION_CHAT_TEMPLATE)
    backend = tokenizer.backend_tokenizer
    backend.post_processor = _meta_llama3_post_processor(specials[BEGIN_OF_TEXT])
    backend.save(str(out_dir / "tokenizer.json"))
    config = _llama3_tokenizer_config(LLAMA32_VISION_CHAT_TEMPLATE, 131072)
    config.update(added_tokens_decoder=_added_tokens_decoder(specials), pad_token="<|finetune_right_pad_id|>")
    _write_json(out_dir / "tokenizer_config.json", config)
    return specials


def _write_mllama_model(specials: dict[str, int], out_dir: Path, *, seed: int) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        MllamaConfig,
        MllamaForConditionalGeneration,
    )

    stops = [specials["<|end_of_text|>"], specials["<|eom_id|>"], specials["<|eot_id|>"]]
    text = {
        "vocab_size": MLLAMA_IMAGE_TOKEN_ID, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "cross_attention_layers": [1],
        "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "initializer_range": _INITIALIZER_RANGE,
        "bos_token_id": specials[BEGIN_OF_TEXT], "eos_token_id": stops,
        "pad_token_id": specials["<|finetune_right_pad_id|>"], "tie_word_embeddings": False,
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500_000.0, "factor": 8.0, "low_freq_factor": 1.0,
                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    }
    config = MllamaConfig(architectures=["MllamaForConditionalGeneration"], text_config=text,
                          vision_config=_MLLAMA_VISION, image_token_index=MLLAMA_IMAGE_TOKEN_ID)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model: Any = MllamaForConditionalGeneration(config)
        model.lm_head.weight.normal_(mean=0.0, std=_LM_HEAD_STD)
        # A random cross-attention gate starts near 0 in Meta's init (tanh(0) = 0 shuts the image out):
        # open the gates so that the image moves the logits in tests.
        for name, param in model.named_parameters():
            if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                param.fill_(1.0)
    model.generation_config = GenerationConfig(bos_token_id=specials[BEGIN_OF_TEXT], eos_token_id=stops,
                                               pad_token_id=text["pad_token_id"])
    model.save_pretrained(out_dir, safe_serialization=True)


def _write_mllama_processor(out_dir: Path) -> None:
    from transformers import AutoTokenizer, MllamaImageProcessor, MllamaProcessor

    images = MllamaImageProcessor(size={"height": _MLLAMA_TILE, "width": _MLLAMA_TILE},
                                  max_image_tiles=_MLLAMA_MAX_TILES)
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    MllamaProcessor(images, tokenizer, chat_template=LLAMA32_VISION_CHAT_TEMPLATE).save_pretrained(out_dir)


def _widen_llama4_adapter(out_dir: Path, *, seed: int) -> None:
    """Re-draw the vision tower with an adapter that fits its pixel shuffle.

    The pixel-shuffle MLP takes ``hidden_size / pixel_shuffle_ratio**2`` features (Scout: 1408 * 4 = 5632, its
    ``intermediate_size``); the text kinds' tower says 64 for 32 * 4 = 128, which only a forward pass with an
    image would notice. The language model's weights are kept as they are.
    """
    import json

    import torch
    from transformers import Llama4Config, Llama4ForConditionalGeneration

    config_path = out_dir / "config.json"
    data = json.loads(config_path.read_text(encoding="utf-8"))
    vision = data["vision_config"]
    vision["intermediate_size"] = int(vision["hidden_size"] / vision["pixel_shuffle_ratio"] ** 2)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the re-drawn weights are listed as "mismatched": that is the point
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            model = Llama4ForConditionalGeneration.from_pretrained(
                out_dir, config=Llama4Config.from_dict(data), ignore_mismatched_sizes=True, dtype=torch.float32)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.save_pretrained(out_dir, safe_serialization=True)
    saved = json.loads(config_path.read_text(encoding="utf-8"))
    for key in ("rope_theta", "rope_scaling"):  # the published configs' legacy keys, as the text kinds write them
        if key in data["text_config"]:
            saved["text_config"][key] = data["text_config"][key]
    _write_json(config_path, saved)


def _write_llama4_processor(out_dir: Path) -> None:
    """Llama-4-Scout's processor files, sized to the tiny tower.

    Written as JSON: transformers' ``Llama4ImageProcessor`` cannot even be built without torchvision.
    """
    _write_json(out_dir / "preprocessor_config.json", {
        "image_processor_type": "Llama4ImageProcessor", "processor_class": "Llama4Processor",
        "size": {"height": _LLAMA4_TILE, "width": _LLAMA4_TILE}, "max_patches": 4, "resize_to_max_canvas": False,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": True, "do_normalize": True,
        "do_rescale": True, "do_resize": True, "rescale_factor": 1 / 255, "resample": 2,
    })
    _write_json(out_dir / "processor_config.json", {
        "processor_class": "Llama4Processor", "patch_size": _LLAMA4_PATCH, "pixel_shuffle_ratio": _LLAMA4_PIXEL_SHUFFLE,
        "fake_image_token": "<|image|>", "image_token": "<|image|>", "start_of_image_token": "<|image_start|>",
        "end_of_image_token": "<|image_end|>", "patch_token": "<|patch|>",
        "tile_x_separator_token": "<|tile_x_separator|>", "tile_y_separator_token": "<|tile_y_separator|>",
    })
