"""Images on the torch backend: LLaMA 3.2 Vision (Mllama) and Llama 4, over the text engine's step loop.

``TorchEngine.image_engine()`` builds one of these on first use:

* LLaMA 3.2 Vision: the engine already holds ``MllamaForConditionalGeneration``
  (its text tasks skip the cross-attention layers). Images go through
  ``MllamaImageProcessor`` (Pillow backend) into ``pixel_values``,
  ``aspect_ratio_ids``/``aspect_ratio_mask`` and a ``cross_attention_mask``
  that lets every token from an image's ``<|image|>`` on attend to its tiles;
  the mask's last row is fed again with every generated token, as
  ``MllamaForConditionalGeneration._update_model_kwargs_for_generation`` does.
* Llama 4: the engine holds only the language model; the vision tower and
  projector are read from the same safetensors files when the first image
  arrives. Each ``<|image|>`` is expanded into the processor's tile layout of
  ``<|patch|>`` tokens, whose embeddings are replaced by the projected vision
  features before the language model runs (``Llama4ForConditionalGeneration.forward``
  does the same).

Generation reuses ``generate_by_steps`` (stops, sampling, penalties) with an
image-aware prefill; scoring runs one prefill per prompt and steps the
continuations as extra rows of its cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llamatasks.backends.torch_backend import (
    TorchEngine,
    _cache_of,
    _numpy_logits,
    _positions,
    _Rows,
)
from llamatasks.engine.base import GenerateRequest, GenerationOptions, GenerationOutput
from llamatasks.engine.stepping import generate_by_steps
from llamatasks.errors import (
    GenerationError,
    InvalidInputError,
    LlamaTasksError,
    ModelLoadError,
)
from llamatasks.profile import is_llama4
from llamatasks.vision.engine import ImageEngine, no_vision
from llamatasks.vision.llama4_tiles import Llama4Tiling, image_token_ids, tile_image
from llamatasks.vision.prompts import ImagePrompt

if TYPE_CHECKING:
    import torch


def image_engine_for(engine: TorchEngine, path: Path) -> ImageEngine:
    """The image engine of a loaded torch model folder; ``VisionUnsupportedError`` for a text-only one."""
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") == "mllama":
        return MllamaImageEngine(engine, path)
    if is_llama4(config) and config.get("vision_config"):
        return Llama4ImageEngine(engine, path, config)
    kind = "Llama4ForCausalLM (the language model alone)" if is_llama4(config) else \
        ", ".join(config.get("architectures") or [str(config.get("model_type"))])
    raise no_vision(path.name, kind, f"{kind} has no vision tower")


@dataclass
class _Batch:
    """One batch of image prompts as the model takes them: ids (images expanded) and tensors."""

    ids: list[list[int]]
    tensors: dict[str, Any]


class _TorchImageEngine(ImageEngine):
    """Generation and scoring shared by both models; subclasses say how a batch and a prefill look."""

    def __init__(self, engine: TorchEngine) -> None:
        self.engine = engine
        self.torch = engine._torch

    def batch(self, prompts: Sequence[ImagePrompt]) -> _Batch:
        raise NotImplementedError

    def prefill(self, batch: _Batch, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> tuple[Any, Any]:
        """``(state, logits (B, 1, V))`` after running the left-padded batch with its images."""
        raise NotImplementedError

    def tokens_in(self, prompt: ImagePrompt) -> int:
        return len(self.batch([prompt]).ids[0])

    def generate(self, prompts: Sequence[ImagePrompt], options: GenerationOptions) -> list[GenerationOutput]:
        batch = self.batch(prompts)
        request = GenerateRequest.of(batch.ids, options)
        try:
            with self.torch.inference_mode():
                return generate_by_steps(_ImageSteps(self, batch), request)
        except LlamaTasksError:
            raise
        except Exception as exc:
            raise GenerationError(f"image generation failed on the torch backend: {exc}") from exc

    def score(self, prompt: ImagePrompt, continuations: Sequence[Sequence[int]]) -> list[float]:
        conts = [list(c) for c in continuations]
        if not conts or any(not c for c in conts):
            raise InvalidInputError("every continuation needs at least one token")
        batch = self.batch([prompt])
        steps = _ImageSteps(self, batch)
        try:
            with self.torch.inference_mode():
                state, logits = steps.prefill(batch.ids, room=max(map(len, conts)))
                first = _log_softmax(logits[0])
                scores = [float(first[c[0]]) for c in conts]
                state = steps.select_rows(state, np.zeros(len(conts), np.int64))
                for j in range(max(map(len, conts)) - 1):
                    # Rows whose continuation has ended are fed its last token again; their logits are unused.
                    fed = np.array([c[min(j, len(c) - 1)] for c in conts], np.int64)
                    lp = np.apply_along_axis(_log_softmax, 1, steps.step(state, fed))
                    for row, cont in enumerate(conts):
                        if j + 1 < len(cont):
                            scores[row] += float(lp[row, cont[j + 1]])
        except LlamaTasksError:
            raise
        except Exception as exc:
            raise GenerationError(f"image scoring failed on the torch backend: {exc}") from exc
        return scores


def _log_softmax(row: np.ndarray) -> np.ndarray:
    shifted = row - row.max()
    return np.asarray(shifted - np.log(np.exp(shifted).sum()))


class _ImageSteps:
    """The step protocol over one image batch: an image-aware prefill, then the text engine's steps."""

    def __init__(self, owner: _TorchImageEngine, batch: _Batch) -> None:
        self.owner = owner
        self.batch = batch
        self.context_length = owner.engine.context_length

    def prefill(self, prompts: Sequence[Sequence[int]], room: int) -> tuple[Any, np.ndarray]:
        if [list(p) for p in prompts] != self.batch.ids:
            # generate_by_steps adds rows only for contrastive decoding, which image prompts never ask for.
            raise InvalidInputError("image prompts cannot be decoded contrastively")
        ids, mask = self.owner.engine._left_pad(prompts)
        state, logits = self.owner.prefill(self.batch, ids, mask, _positions(mask))
        return state, _numpy_logits(logits)

    def step(self, state: Any, tokens: np.ndarray) -> np.ndarray:
        if isinstance(state, _CrossRows):
            return _mllama_step(self.owner.engine, state, tokens)
        return self.owner.engine.step(state, tokens)

    def select_rows(self, state: Any, rows: np.ndarray) -> Any:
        chosen = self.owner.engine.select_rows(state.rows if isinstance(state, _CrossRows) else state, rows)
        if isinstance(state, _CrossRows):
            index = self.owner.torch.as_tensor(np.asarray(rows, np.int64), device=state.cross.device)
            return _CrossRows(chosen, state.cross[index])
        return chosen


# -- LLaMA 3.2 Vision ---------------------------------------------------------------


@dataclass
class _CrossRows:
    """Mllama's step state: the text state and each row's last cross-attention mask row ``(B, 1, images, tiles)``."""

    rows: _Rows
    cross: torch.Tensor


class MllamaImageEngine(_TorchImageEngine):
    """``MllamaForConditionalGeneration`` with images."""

    def __init__(self, engine: TorchEngine, path: Path) -> None:
        super().__init__(engine)
        self.processor = _mllama_image_processor(path)
        self.image_token_id = int(engine.model.config.image_token_id)
        self.max_tiles = int(self.processor.max_image_tiles)

    def batch(self, prompts: Sequence[ImagePrompt]) -> _Batch:
        from transformers.models.mllama.processing_mllama import (
            convert_sparse_cross_attention_mask_to_dense,
            get_cross_attention_token_mask,
        )

        ids = [list(p.ids) for p in prompts]
        pixels = self.processor(images=[list(p.images) for p in prompts], return_tensors="pt")
        width = max(map(len, ids))
        dense = convert_sparse_cross_attention_mask_to_dense(
            [get_cross_attention_token_mask(row, self.image_token_id) for row in ids],
            num_tiles=pixels["num_tiles"], max_num_tiles=self.max_tiles, length=width)
        cross = np.zeros_like(dense)
        for r, row in enumerate(ids):  # the processor pads on the right; the engine pads on the left
            cross[r, width - len(row):] = dense[r, :len(row)]
        dtype = self.engine.model.dtype
        tensors = {"pixel_values": pixels["pixel_values"].to(dtype), "aspect_ratio_ids": pixels["aspect_ratio_ids"],
                   "aspect_ratio_mask": pixels["aspect_ratio_mask"], "cross_attention_mask": self.torch.from_numpy(cross)}
        return _Batch(ids=ids, tensors={k: v.to(self.engine.device) for k, v in tensors.items()})

    def prefill(self, batch: _Batch, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> tuple[Any, Any]:
        out = self.engine.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                                logits_to_keep=1, **batch.tensors)
        cross = batch.tensors["cross_attention_mask"][:, -1:]
        return _CrossRows(_Rows(_cache_of(out), mask, positions[:, -1:]), cross), out.logits


def _mllama_step(engine: TorchEngine, state: _CrossRows, tokens: np.ndarray) -> np.ndarray:
    """``TorchEngine.step`` plus the cross-attention mask of the new token (its row's last one again)."""
    torch = engine._torch
    rows = state.rows
    ids = torch.as_tensor(np.asarray(tokens, np.int64), device=engine.device)[:, None]
    rows.mask = torch.cat([rows.mask, torch.ones_like(ids)], dim=1)
    rows.positions = rows.positions + 1
    out = engine.model(input_ids=ids, attention_mask=rows.mask, position_ids=rows.positions, use_cache=True,
                       logits_to_keep=1, cross_attention_mask=state.cross, **{engine._cache_kwarg: rows.cache})
    rows.cache = _cache_of(out)
    return _numpy_logits(out.logits)


_MLLAMA_PROCESSOR_KEYS = ("size", "max_image_tiles", "image_mean", "image_std", "do_convert_rgb", "do_normalize",
                          "do_pad", "do_rescale", "do_resize", "rescale_factor", "resample")


def _mllama_image_processor(path: Path) -> Any:
    """``MllamaImageProcessorPil`` from processor_config.json (transformers 5) or preprocessor_config.json."""
    from transformers.models.mllama.image_processing_pil_mllama import (
        MllamaImageProcessorPil,
    )

    settings = _processor_settings(path)
    return MllamaImageProcessorPil(**{k: v for k, v in settings.items() if k in _MLLAMA_PROCESSOR_KEYS})


def _processor_settings(path: Path) -> dict[str, Any]:
    """The image processor's settings of a folder, from either file layout."""
    for name, key in (("preprocessor_config.json", None), ("processor_config.json", "image_processor")):
        file = path / name
        if file.is_file():
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise ModelLoadError(f"{file} is not valid JSON: {exc}", hint="re-download the processor files") from exc
            data = data.get(key, {}) if key else data
            if isinstance(data, dict) and data:
                return data
    raise ModelLoadError(f"{path} has no image processor settings (preprocessor_config.json)",
                         hint="copy preprocessor_config.json from the model's repository into the folder")


# -- Llama 4 -------------------------------------------------------------------------


class Llama4ImageEngine(_TorchImageEngine):
    """The language model of ``TorchEngine`` plus Llama 4's vision tower and projector, loaded here."""

    def __init__(self, engine: TorchEngine, path: Path, config: dict[str, Any]) -> None:
        super().__init__(engine)
        self.vision, self.projector = _load_llama4_vision(path, config, engine)
        self.tiling = _llama4_tiling(path, config["vision_config"])
        self.specials = _added_tokens(path)
        self.patch_id = int(config.get("image_token_index", self.specials["<|patch|>"]))

    def batch(self, prompts: Sequence[ImagePrompt]) -> _Batch:
        image_id = self.specials["<|image|>"]
        rows, tiles = [], []
        for prompt in prompts:
            pending = iter(prompt.images)
            row: list[int] = []
            for token in prompt.ids:
                if token != image_id:
                    row.append(token)
                    continue
                pixels, grid = tile_image(next(pending), self.tiling)
                tiles.append(pixels)
                row += image_token_ids(grid, self.tiling, self.specials)
            rows.append(row)
        pixel_values = self.torch.cat(tiles).to(self.engine.device, self.engine.model.dtype)
        return _Batch(ids=rows, tensors={"pixel_values": pixel_values})

    def prefill(self, batch: _Batch, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> tuple[Any, Any]:
        model = self.engine.model
        embeds = model.get_input_embeddings()(ids)
        features = self.vision(batch.tensors["pixel_values"]).last_hidden_state
        projected = self.projector(features.reshape(-1, features.shape[-1])).to(embeds.dtype)
        slots = ids == self.patch_id
        if int(slots.sum()) != projected.shape[0]:
            raise GenerationError(f"{int(slots.sum())} patch tokens for {projected.shape[0]} image features",
                                  hint="the processor settings do not match the vision tower (patch_size, tile size)")
        embeds = embeds.masked_scatter(slots[..., None], projected)
        out = model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        return _Rows(_cache_of(out), mask, positions[:, -1:]), out.logits


def _load_llama4_vision(path: Path, config: dict[str, Any], engine: TorchEngine) -> tuple[Any, Any]:
    """``Llama4VisionModel`` and ``Llama4MultiModalProjector`` with the folder's ``vision_model.*`` and
    ``multi_modal_projector.*`` weights (the text engine skipped them)."""
    from safetensors import safe_open
    from transformers import Llama4Config
    from transformers.models.llama4.modeling_llama4 import (
        Llama4MultiModalProjector,
        Llama4VisionModel,
    )

    from llamatasks.backends.torch_backend import _llama4_text_config

    settings = dict(config)
    settings["text_config"] = _llama4_text_config(config["text_config"]).to_dict()  # Meta's int flags fixed
    full = Llama4Config.from_dict(settings)
    vision = Llama4VisionModel(full.vision_config)  # type: ignore[arg-type]  # from_dict built the sub-config
    projector = Llama4MultiModalProjector(full)
    weights: dict[str, dict[str, Any]] = {"vision_model.": {}, "multi_modal_projector.": {}}
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118  # safe_open is not a mapping
                for prefix, found in weights.items():
                    if key.startswith(prefix):
                        found[key[len(prefix):]] = handle.get_tensor(key)
    for module, prefix in ((vision, "vision_model."), (projector, "multi_modal_projector.")):
        missing, _ = module.load_state_dict(weights[prefix], strict=False)
        if missing:
            raise ModelLoadError(f"{path} lacks {len(missing)} weights of the Llama 4 {prefix[:-1]} "
                                 f"(e.g. {prefix}{missing[0]})", hint="re-download the safetensors files")
    return _placed(vision, engine), _placed(projector, engine)


def _placed(module: Any, engine: TorchEngine) -> Any:
    """``module`` on the engine's device, its floating-point weights in the engine's dtype.

    ``module.to(dtype)`` would also cast the vision tower's complex rotary table to real numbers.
    """
    module.to(engine.device)
    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.is_floating_point():
            tensor.data = tensor.data.to(engine.model.dtype)
    return module.eval()


def _llama4_tiling(path: Path, vision_config: dict[str, Any]) -> Llama4Tiling:
    """The tiling of preprocessor_config.json and processor_config.json, else the vision tower's own sizes."""
    try:
        images = _processor_settings(path)
    except ModelLoadError:
        images = {}
    processor_file = path / "processor_config.json"
    processor = json.loads(processor_file.read_text(encoding="utf-8")) if processor_file.is_file() else {}
    tile = int((images.get("size") or {}).get("height", vision_config.get("image_size", 336)))
    return Llama4Tiling(
        tile_size=tile, max_patches=int(images.get("max_patches", 16)),
        mean=tuple(images.get("image_mean", (0.5, 0.5, 0.5))), std=tuple(images.get("image_std", (0.5, 0.5, 0.5))),
        patch_size=int(processor.get("patch_size", vision_config.get("patch_size", 14))),
        pixel_shuffle_ratio=float(processor.get("pixel_shuffle_ratio", vision_config.get("pixel_shuffle_ratio", 0.5))))


def _added_tokens(path: Path) -> dict[str, int]:
    """Special token ids from tokenizer.json (Llama 4's image specials)."""
    data = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))
    return {t["content"]: int(t["id"]) for t in data.get("added_tokens", [])}
