"""The built-in PyTorch backend (transformers' LlamaForCausalLM, and Llama4ForCausalLM for Llama 4).

Weights load from safetensors only: pickle checkpoints are refused and
``trust_remote_code`` is never set, because a model folder is untrusted input.
torch and transformers are imported when a model loads, not on import.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llamatasks.engine.base import (
    ALL_CAPABILITIES,
    Engine,
    GenerateRequest,
    GenerationOutput,
    LoadRequest,
    ScoreRequest,
    check_token_ids,
)
from llamatasks.backends.torch_packing import packing, run_packed
from llamatasks.engine.prefixes import PrefixPass, plan_prefixes
from llamatasks.engine.stepping import generate_by_steps
from llamatasks.errors import (
    BackendUnavailableError,
    GenerationError,
    InputTypeError,
    InvalidInputError,
    LlamaTasksError,
    ModelLoadError,
)
from llamatasks.profile import is_llama4, language_config

if TYPE_CHECKING:
    import torch

_DTYPES = ("float32", "bfloat16", "float16")
#: The dtype used when ``load`` is given none (e.g. ``float32`` to compare against a float32 reference).
DTYPE_ENV = "LLAMATASKS_DTYPE"


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the torch backend needs torch and transformers ({exc.name} is missing)",
            hint='pip install "llamatasks[torch]"  (CPU machines: torch==2.13.0 is the CPU wheel)',
        ) from exc
    return torch


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is present, else ``cpu``; a missing CUDA is an error."""
    if not isinstance(device, str):
        raise InputTypeError(f"device must be a string, got {type(device).__name__}", hint="use 'auto', 'cpu' or 'cuda[:N]'")
    torch = _import_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "mps", "cuda") or (index and (kind != "cuda" or not index.isdigit())):
        raise InvalidInputError(f"unknown device {device!r}", hint="use 'auto', 'cpu', 'mps' or 'cuda[:N]'")
    if kind == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"device {device!r} was asked for but CUDA is not available",
            hint="use device='cpu' or 'auto', or install a CUDA build of torch on a GPU machine",
        )
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise BackendUnavailableError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)",
                                      hint="use cuda:0 .. cuda:N-1, or 'auto'")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise BackendUnavailableError("device 'mps' was asked for but this torch has no usable MPS (Apple GPU)",
                                      hint="use device='cpu' or 'auto'")
    return device


def cpu_bf16() -> str | None:
    """The CPU's native bfloat16 matrix kernels ("amx_bf16", "avx512_bf16"), read at run time; None without."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").split())
    except OSError:  # not Linux: no way to ask cheaply, so no bf16 by default
        return None
    return next((flag for flag in ("amx_bf16", "avx512_bf16") if flag in flags), None)


def resolve_dtype(dtype: str | None, device: str) -> str:
    """Default (None: ``LLAMATASKS_DTYPE``, else "auto"): bfloat16 on a GPU that supports it, else float16; on a CPU, bfloat16 where
    it has native bf16 kernels (AMX or AVX512-BF16), else float32.

    On CPU, bf16 was chosen by measurement (``bench/dtype_quality.py``, docs/quality.md): every task's
    dev-split quality within 0.5 points of float32, label scoring about 2.8x faster on AMX.
    Logits are soft-maxed in float32 either way.
    """
    if dtype is None:
        dtype = os.environ.get(DTYPE_ENV) or "auto"
    if dtype == "auto":
        if not device.startswith("cuda"):
            return "bfloat16" if device == "cpu" and cpu_bf16() else "float32"
        torch = _import_torch()
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    aliases = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
    dtype = aliases.get(dtype, dtype)
    if dtype not in _DTYPES:
        raise InvalidInputError(f"unknown dtype {dtype!r}", hint="use float32, bfloat16 or float16")
    return dtype


def _check_weights(path: Path) -> None:
    if any(path.glob("*.safetensors")):
        return
    if any(path.glob("*.bin")) or any(path.glob("*.pt")) or any(path.glob("*.pth")):
        raise ModelLoadError(
            f"{path} holds only pickle weights (.bin/.pt/.pth), which llamatasks refuses to load",
            hint="convert the checkpoint to safetensors (transformers: save_pretrained(safe_serialization=True))",
        )
    raise ModelLoadError(f"{path} has no *.safetensors weights", hint="point at a folder with model.safetensors")


def _from_pretrained(path: Path, dtype: Any) -> Any:
    """``LlamaForCausalLM`` (any LLaMA-architecture folder), or the language model of a Llama 4 folder."""
    from transformers import AutoModelForCausalLM

    options = {"dtype": dtype, "use_safetensors": True, "trust_remote_code": False}
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") == "mllama":  # LLaMA 3.2 Vision: its text tasks skip the cross-attention layers
        from transformers import MllamaForConditionalGeneration

        return MllamaForConditionalGeneration.from_pretrained(path, **options)
    if not is_llama4(config):
        return AutoModelForCausalLM.from_pretrained(path, **options)
    model, info = _llama4_language_model().from_pretrained(
        path, config=_llama4_text_config(language_config(config)), output_loading_info=True, **options)
    if info["missing_keys"]:
        # transformers would start these from random values: a model that loads but only babbles.
        missing = sorted(info["missing_keys"])
        raise ModelLoadError(
            f"{path} lacks {len(missing)} weights of the Llama 4 language model (e.g. {missing[0]!r})",
            hint="the language model's weights are expected as language_model.model.* (images + text) or "
                 "model.* (Llama4ForCausalLM); re-download the safetensors files",
        )
    return model


def _llama4_text_config(text: dict[str, Any]) -> Any:
    """``Llama4TextConfig`` of a Llama 4 language model, from config.json's (text) part."""
    from transformers import Llama4TextConfig

    text = dict(text)
    tuning = text.get("attn_temperature_tuning")
    if isinstance(tuning, int) and not isinstance(tuning, bool):
        # Meta's first Llama 4 configs say 4 (used as a flag); transformers 5.x types the
        # field bool and refuses the int (StrictDataclassFieldValidationError).
        text["attn_temperature_tuning"] = bool(tuning)
    return Llama4TextConfig.from_dict(text)


@functools.cache
def _llama4_language_model() -> Any:
    """``Llama4ForCausalLM``, quiet about a vision tower's weights beside its own.

    Loaded from a Llama4ForConditionalGeneration folder, it takes the
    ``language_model.`` weights (transformers strips that prefix: the class's
    ``base_model_prefix``) and would list every ``vision_model.`` and
    ``multi_modal_projector.`` weight in a warning; those are not loaded.
    """
    from transformers import Llama4ForCausalLM

    class Llama4LanguageModel(Llama4ForCausalLM):
        _keys_to_ignore_on_load_unexpected = [r"^vision_model\.", r"^multi_modal_projector\."]  # noqa: RUF012

    return Llama4LanguageModel


@dataclass
class _Rows:
    """The step loop's state on this backend: the KV cache, the attention mask and each row's last position."""

    cache: Any
    mask: torch.Tensor
    positions: torch.Tensor


class TorchEngine(Engine):
    """``LlamaForCausalLM`` on CPU or CUDA; generation runs the shared step loop (``StepEngine``)."""

    backend_name = "torch"
    capabilities = ALL_CAPABILITIES
    _images: Any = None  # the ImageEngine, built by image_engine() on first use
    #: Run a prefix shared by a whole batch once (False: every row in full, for bench/bench_core.py's "before").
    share_prefixes: bool = True

    def __init__(self, model: Any, device: str, dtype: str) -> None:
        self.model = model
        self.device = device
        self.dtype = dtype
        # A vision model's language settings are its text_config (LLaMA 3.2 Vision).
        self.text_config = getattr(model.config, "text_config", None) or model.config
        self.context_length = int(getattr(self.text_config, "max_position_embeddings", 2048))
        self.path: Path | None = None
        self._torch = _import_torch()
        # transformers 5.x renamed forward's past_key_values to cache (the old name
        # is deprecated, to be removed in 5.40).
        params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"
        # Packed scoring passes (torch_packing) need a model that takes a custom 4D attention mask as given:
        # LlamaForCausalLM with SDPA or eager attention (not Llama 4's chunked layers, not Mllama's).
        self._packs = (model.config.model_type == "llama"
                       and getattr(model.config, "_attn_implementation", None) in ("sdpa", "eager"))

    @classmethod
    def load(cls, request: LoadRequest) -> TorchEngine:
        """Load a Hugging Face-format folder (safetensors weights); of a Llama 4 folder, its language model."""
        torch = _import_torch()
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a library call should not draw bars of its own
        device = resolve_device(request.device)
        dtype = resolve_dtype(request.dtype, device)
        _check_weights(request.path)
        try:
            model = _from_pretrained(request.path, getattr(torch, dtype))
        except LlamaTasksError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"could not load the weights in {request.path}: {exc}",
                hint="the safetensors file may be truncated or not match config.json; re-download or re-convert it",
            ) from exc
        model.to(device).eval()
        engine = cls(model, device, dtype)
        engine.path = request.path
        if "chunked_attention" in (getattr(model.config, "layer_types", None) or ()):
            # transformers starts each row's attention chunks after its *left* padding
            # (masking_utils.chunked_overlay); a shared prefix puts the padding after the
            # prefix instead, which would shift the chunk boundaries of the shorter rows.
            engine.share_prefixes = False
        return engine

    # -- generation: the step protocol --------------------------------------------

    def generate(self, request: GenerateRequest) -> list[GenerationOutput]:
        """Left-padded batched generation by the shared step loop (``llamatasks.engine.stepping``)."""
        try:
            return generate_by_steps(self, request)
        except LlamaTasksError:
            raise
        except Exception as exc:
            raise GenerationError(f"generation failed on the torch backend: {exc}") from exc

    def prefill(self, prompts: Sequence[Sequence[int]], room: int) -> tuple[_Rows, np.ndarray]:
        """Run the prompts into a new KV cache; logits at each row's last token."""
        self._check_ids(prompts)
        with self._torch.inference_mode():
            rows, logits = self._run_prompts(prompts)
        return rows, _numpy_logits(logits)

    def _run_prompts(self, prompts: Sequence[Sequence[int]]) -> tuple[_Rows, torch.Tensor]:
        """The prompts' KV cache and each row's last-position logits ``(B, 1, V)``."""
        cache, mask, ends, logits = self._run_passes(self._passes(prompts))
        return _Rows(cache, mask, (ends - 1)[:, None]), logits

    def _passes(self, rows: Sequence[Sequence[int]], own: Sequence[int] | None = None) -> tuple[PrefixPass, ...]:
        """The forward passes that run ``rows``: their shared prefixes once (``plan_prefixes``), or each in full."""
        if self.share_prefixes:
            return plan_prefixes(rows, own).passes
        return (PrefixPass(tuple(tuple(r) for r in rows)),)

    def _run_passes(self, passes: Sequence[PrefixPass], keep: int = 1) -> tuple[Any, torch.Tensor, torch.Tensor,
                                                                                torch.Tensor]:
        """Run ``passes``; the cache, 2D attention mask and lengths of the last pass's rows, and the logits
        of their last ``keep`` positions ``(B, keep, V)``.

        Each pass continues the cache of the pass before it, its rows repeating
        the row they continue, left-padded, so the padding sits between a prefix
        and what follows it, where the attention mask hides it and the position
        ids skip it.
        """
        torch = self._torch
        cache = mask = ends = None
        for n, step in enumerate(passes):
            ids, step_mask = self._left_pad(step.segments, allow_empty=step.parents is not None)
            if step.parents is not None:
                index = torch.tensor(step.parents, device=self.device)
                cache.reorder_cache(index)  # row i continues row parents[i] of the pass before (rows repeat)
                mask, ends = torch.cat([mask[index], step_mask], 1), ends[index]
            else:
                mask, ends = step_mask, torch.zeros(len(step.segments), dtype=torch.long, device=self.device)
            positions = ends[:, None] + _positions(step_mask)
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                             logits_to_keep=keep if n == len(passes) - 1 else 1,
                             **({self._cache_kwarg: cache} if cache is not None else {}))
            cache, ends = _cache_of(out), ends + step_mask.sum(-1)
        return cache, mask, ends, out.logits

    def step(self, state: _Rows, tokens: np.ndarray) -> np.ndarray:
        """Feed one token per row after its cache."""
        torch = self._torch
        ids = torch.as_tensor(np.asarray(tokens, np.int64), device=self.device)[:, None]
        state.mask = torch.cat([state.mask, torch.ones_like(ids)], dim=1)
        state.positions = state.positions + 1
        with torch.inference_mode():
            out = self.model(input_ids=ids, attention_mask=state.mask, position_ids=state.positions,
                             use_cache=True, logits_to_keep=1, **{self._cache_kwarg: state.cache})
        state.cache = _cache_of(out)
        return _numpy_logits(out.logits)

    def select_rows(self, state: _Rows, rows: np.ndarray) -> _Rows:
        """Row ``i`` continues row ``rows[i]`` (the cache is reordered in place)."""
        index = self._torch.as_tensor(np.asarray(rows, np.int64), device=self.device)
        state.cache.reorder_cache(index)
        return _Rows(state.cache, state.mask[index], state.positions[index])

    def _check_ids(self, rows: Sequence[Sequence[int]]) -> None:
        check_token_ids([t for row in rows for t in row], int(self.text_config.vocab_size))

    def _pad_id(self) -> int:
        """Any in-vocabulary id: left padding is masked out."""
        pad = self.text_config.pad_token_id
        return 0 if pad is None else int(pad)

    def _left_pad(self, prompts: Sequence[Sequence[int]], allow_empty: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Ids and attention mask ``(B, longest)``; an empty row (``allow_empty``: a pass after a prefix) is all padding."""
        torch = self._torch
        if not prompts or (not allow_empty and any(len(p) == 0 for p in prompts)):
            raise InvalidInputError("every prompt needs at least one token")
        width = max(len(p) for p in prompts)
        pad = self._pad_id()
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt):] = 1
        return ids.to(self.device), mask.to(self.device)

    # -- scoring ----------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Log-probability sums of each request's continuations, in one batch.

        Each request's prompt is a row, and each continuation of more than one
        token a row of its own (the prompt, then all of it but its last token);
        the rows of one request share the prompt, which runs once
        (``_read_logits``), and every score is read off the last positions of
        its row. Where those positions' logits would take too much memory (long
        continuations), or prefixes are not shared (the rows would repeat each
        prompt), each request runs alone with its prompt's cache shared by its
        continuations.
        """
        torch = self._torch
        self._check_ids([r.prompt for r in requests] + [c for r in requests for c in r.continuations])
        rows: list[tuple[int, ...]] = []
        own: list[int] = []  # the positions of each row whose logits are read
        cells: list[tuple[int, int, int, int]] = []  # per token scored: (row, position from the row's end, token, sum)
        count = 0
        for r in requests:
            prompt_row = len(rows)
            rows.append(tuple(r.prompt))
            own.append(1)
            for c in r.continuations:
                row = prompt_row
                if len(c) > 1:
                    row = len(rows)
                    rows.append(tuple(r.prompt) + tuple(c[:-1]))
                    own.append(len(c))
                cells += [(row, len(c) - k, token, count) for k, token in enumerate(c)]
                count += 1
        try:
            with torch.inference_mode():
                if max(own) > 1 and (not self.share_prefixes or
                                     len(rows) * max(own) * int(self.text_config.vocab_size) > _MAX_SCORED_LOGITS):
                    return [self._score_with_cache(r) for r in requests]
                logits, first = self._read_logits(rows, own)
                logprobs = logits.float().log_softmax(-1)
                row, back, token, owner = (torch.tensor(column, device=logprobs.device) for column in zip(*cells))
                at = torch.tensor(first, device=logprobs.device)[row] + torch.tensor(own, device=logprobs.device)[row]
                sums = torch.zeros(count, dtype=torch.float64, device=logprobs.device)
                sums.index_add_(0, owner, logprobs[at - back, token].double())
        except Exception as exc:
            raise GenerationError(f"scoring failed on the torch backend: {exc}") from exc
        flat = iter(sums.tolist())
        return [[next(flat) for _ in r.continuations] for r in requests]

    def _read_logits(self, rows: Sequence[Sequence[int]], own: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
        """Logits ``(N, V)`` at the last ``own[i]`` positions of each row ``i``, and where each row's start:
        row ``i``'s ``k``-th position from its end is at ``first[i] + own[i] - k``.

        Where prefixes are shared, the rests of each prefix run packed side by
        side (``torch_packing``) on models whose attention takes a 4D mask.
        """
        passes = self._passes(rows, own)
        packed = packing(passes[-1]) if len(passes) > 1 and self._packs else None
        if packed is not None:
            cache, mask, ends, _ = self._run_passes(passes[:-1])
            return run_packed(self, passes[-1], packed, own, cache, mask, ends)
        keep = max(own)
        *_, logits = self._run_passes(passes, keep)
        return logits.reshape(-1, logits.shape[-1]), [i * keep + keep - k for i, k in enumerate(own)]

    def _score_with_cache(self, request: ScoreRequest) -> list[float]:
        torch = self._torch
        prompt = torch.tensor([list(request.prompt)], device=self.device)
        out = self.model(input_ids=prompt, use_cache=True, logits_to_keep=1)
        first = out.logits[0, -1].float().log_softmax(-1)
        conts = [list(c) for c in request.continuations]
        n, width = len(conts), max(len(c) for c in conts)
        scores = [float(first[c[0]]) for c in conts]
        if width == 1:
            return scores
        cache = _cache_of(out)
        cache.batch_repeat_interleave(n)
        # Right-pad: padded positions come after every real token, so they never
        # influence the log-probs we read.
        ids = torch.zeros((n, width - 1), dtype=torch.long, device=self.device)
        for row, cont in enumerate(conts):
            ids[row, : len(cont) - 1] = torch.tensor(cont[:-1])
        mask = torch.ones((n, len(request.prompt) + width - 1), dtype=torch.long, device=self.device)
        positions = torch.arange(len(request.prompt), len(request.prompt) + width - 1, device=self.device)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions.expand(n, -1),
                            **{self._cache_kwarg: cache}).logits.float().log_softmax(-1)
        for row, cont in enumerate(conts):
            scores[row] += sum(float(logits[row, j, tok]) for j, tok in enumerate(cont[1:]))
        return scores

    def image_engine(self) -> Any:
        """The ``ImageEngine`` for this folder (LLaMA 3.2 Vision, Llama 4), built on first use."""
        if self._images is None:
            from llamatasks.backends.torch_vision import image_engine_for

            if self.path is None:
                raise InvalidInputError("this engine was not loaded from a folder, so it has no vision tower")
            self._images = image_engine_for(self, self.path)
        return self._images

    def close(self) -> None:
        self.model = None
        self._images = None


#: Logits read at once by ``score`` (rows x positions kept x vocabulary); beyond it, one request at a time.
_MAX_SCORED_LOGITS = 16 * 2**20


def _cache_of(out: Any) -> Any:
    """The KV cache of a forward pass: ``cache`` in transformers 5.x (``past_key_values`` warns), else the old name."""
    return out.cache if "cache" in out else out.past_key_values


def _numpy_logits(logits: torch.Tensor) -> np.ndarray:
    """The last position's logits as float32 numpy (the decoding rules work in numpy; softmax in fp32)."""
    return logits[:, -1, :].float().cpu().numpy()


def _positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 at each row's first real token (left padding)."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)
