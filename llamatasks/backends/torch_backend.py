"""The built-in PyTorch backend (transformers' LlamaForCausalLM).

Weights load from safetensors only: pickle checkpoints are refused and
``trust_remote_code`` is never set, because a model folder is untrusted input.
torch and transformers are imported when a model loads, not on import.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from llamatasks.engine.base import (
    BackendSpec,
    Constraint,
    Engine,
    GenerationOptions,
    GenerationOutput,
    LoadRequest,
    ScoreRequest,
    check_token_ids,
    trim_at_stop,
)
from llamatasks.errors import (
    BackendUnavailableError,
    GenerationError,
    InvalidInputError,
    ModelLoadError,
)
from llamatasks.hookspecs import hookimpl

if TYPE_CHECKING:
    import torch

_DTYPES = ("float32", "bfloat16", "float16")


@hookimpl(trylast=True)
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register the PyTorch backend."""
    register(BackendSpec(name="torch", load=TorchEngine.load, description="PyTorch + transformers, CPU or CUDA"))


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
    torch = _import_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailableError(
            f"device {device!r} was asked for but CUDA is not available",
            hint="use device='cpu' or 'auto', or install a CUDA build of torch on a GPU machine",
        )
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise InvalidInputError(f"unknown device {device!r}", hint="use 'auto', 'cpu' or 'cuda[:N]'")
    return device


def resolve_dtype(dtype: str | None, device: str) -> str:
    """Default: float32 on CPU, bfloat16 on a GPU that supports it, else float16."""
    if dtype is None or dtype == "auto":
        if not device.startswith("cuda"):
            return "float32"
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


class TorchEngine(Engine):
    """``LlamaForCausalLM`` on CPU or CUDA."""

    backend_name = "torch"
    supports_contrast = True

    def __init__(self, model: Any, device: str, dtype: str) -> None:
        self.model = model
        self.device = device
        self.dtype = dtype
        self._torch = _import_torch()
        # transformers 5.x renamed forward's past_key_values to cache (the old name
        # is deprecated, to be removed in 5.40).
        params = inspect.signature(model.forward).parameters
        self._cache_kwarg = "cache" if "cache" in params else "past_key_values"

    @classmethod
    def load(cls, request: LoadRequest) -> TorchEngine:
        """Load a Hugging Face-format folder (safetensors weights)."""
        torch = _import_torch()
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a library call should not draw bars of its own
        device = resolve_device(request.device)
        dtype = resolve_dtype(request.dtype, device)
        _check_weights(request.path)
        try:
            model = AutoModelForCausalLM.from_pretrained(
                request.path, dtype=getattr(torch, dtype), use_safetensors=True, trust_remote_code=False
            )
        except Exception as exc:
            raise ModelLoadError(
                f"could not load the weights in {request.path}: {exc}",
                hint="the safetensors file may be truncated or not match config.json; re-download or re-convert it",
            ) from exc
        model.to(device).eval()
        return cls(model, device, dtype)

    # -- generation -------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[Sequence[int]],
        options: GenerationOptions,
        constraints: Sequence[Constraint | None] | None = None,
        contrasts: Sequence[Sequence[int] | None] | None = None,
    ) -> list[GenerationOutput]:
        """Left-padded batched generation through transformers' ``generate``."""
        torch = self._torch
        self._check_ids(prompts)
        input_ids, attention_mask = self._left_pad(prompts)
        kwargs = self._generate_kwargs(options, constraints, input_ids.shape[1])
        if contrasts and options.contrast_weight > 0 and any(contrasts):
            from llamatasks.backends.torch_constraints import ContrastLogitsProcessor

            self._check_ids([c for c in contrasts if c])
            # A row without a contrast prompt gets a one-token stand-in and weight 0.
            against_ids, against_mask = self._left_pad([c or [self._pad_id(options)] for c in contrasts])
            weights = [options.contrast_weight if c else 0.0 for c in contrasts]
            # Before the masks (the output-only n-gram ban, the constraint): the ONNX loop combines
            # after masking, and a mask commutes with the combination.
            kwargs["logits_processor"].insert(0, ContrastLogitsProcessor(
                self.model, against_ids, against_mask, weights, self._cache_kwarg))
        if options.temperature > 0 and options.seed is not None:
            torch.manual_seed(options.seed)
        try:
            with torch.inference_mode():
                out = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        except Exception as exc:
            raise GenerationError(f"generation failed on the torch backend: {exc}") from exc
        new_tokens = out[:, input_ids.shape[1]:].tolist()
        return [trim_at_stop(row, options.stop_token_ids) for row in new_tokens]

    def _generate_kwargs(
        self, options: GenerationOptions, constraints: Sequence[Constraint | None] | None, prompt_len: int
    ) -> dict[str, Any]:
        from transformers import GenerationConfig, LogitsProcessorList

        sample = options.temperature > 0
        config = GenerationConfig(
            max_new_tokens=options.max_new_tokens,
            do_sample=sample,
            temperature=options.temperature if sample else None,
            top_p=options.top_p if sample else None,
            top_k=None,
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size if options.no_repeat_ngram_in_prompt else 0,
            num_beams=options.num_beams,
            length_penalty=1.0,  # the engine contract's beam search: what the onnx loop implements
            early_stopping=False,
            # An empty list, not None: None lets transformers fall back to the
            # model's own eos, which would stop rows the caller asked to run on.
            eos_token_id=list(options.stop_token_ids),
            pad_token_id=self._pad_id(options),
        )
        if options.num_beams > 1 and not options.stop_token_ids and config.pad_token_id == 0:
            # transformers' beam search computes its fill value as `pad or eos[0]`,
            # which fails for pad id 0 with no eos. Any id will do: padding is
            # masked, and hypotheses without stop ids all run to full length.
            config.pad_token_id = 1
        processors = LogitsProcessorList()
        if options.no_repeat_ngram_size and not options.no_repeat_ngram_in_prompt:
            from llamatasks.backends.torch_constraints import (
                OutputNoRepeatNGramLogitsProcessor,
            )

            processors.append(OutputNoRepeatNGramLogitsProcessor(options.no_repeat_ngram_size, prompt_len))
        if constraints and any(c is not None for c in constraints):
            from llamatasks.backends.torch_constraints import ConstraintLogitsProcessor

            processors.append(ConstraintLogitsProcessor(list(constraints), prompt_len, options.num_beams))
        return {"generation_config": config, "logits_processor": processors}

    def _check_ids(self, rows: Sequence[Sequence[int]]) -> None:
        check_token_ids([t for row in rows for t in row], int(self.model.config.vocab_size))

    def _pad_id(self, options: GenerationOptions) -> int:
        config = self.model.config
        pad = config.pad_token_id
        if pad is None:
            pad = options.stop_token_ids[0] if options.stop_token_ids else 0
        return int(pad)

    def _left_pad(self, prompts: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        torch = self._torch
        if not prompts or any(len(p) == 0 for p in prompts):
            raise InvalidInputError("every prompt needs at least one token")
        width = max(len(p) for p in prompts)
        pad = self._pad_id(GenerationOptions())
        ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt):] = 1
        return ids.to(self.device), mask.to(self.device)

    # -- scoring ----------------------------------------------------------

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Log-probability sums; one forward pass over the prompts.

        When every continuation is a single token (the common case for label
        scoring) all prompts run as one left-padded batch and the answer is read
        off the last position. Otherwise each prompt runs once with a KV cache
        that is then shared by all of its continuations.
        """
        torch = self._torch
        self._check_ids([r.prompt for r in requests] + [c for r in requests for c in r.continuations])
        try:
            with torch.inference_mode():
                if all(len(c) == 1 for r in requests for c in r.continuations):
                    return self._score_single_tokens(requests)
                return [self._score_with_cache(r) for r in requests]
        except Exception as exc:
            raise GenerationError(f"scoring failed on the torch backend: {exc}") from exc

    def _score_single_tokens(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        input_ids, attention_mask = self._left_pad([r.prompt for r in requests])
        # logits_to_keep=1: only the last position is read, so skip the
        # vocabulary projection everywhere else (a fifth of the FLOPs on SmolLM2).
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=_positions(attention_mask),
                            logits_to_keep=1).logits[:, -1, :]
        logprobs = logits.float().log_softmax(-1)
        return [[float(logprobs[i, c[0]]) for c in r.continuations] for i, r in enumerate(requests)]

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
        cache = out.past_key_values
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

    def close(self) -> None:
        self.model = None


def _positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that start at 0 at each row's first real token (left padding)."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)
