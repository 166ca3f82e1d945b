"""``Model``: a loaded model (profile + tokenizer + engine) that runs tasks."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from llamatasks.engine.base import (
    Constraint,
    Engine,
    GenerationOptions,
    GenerationOutput,
    LoadRequest,
    ScoreRequest,
)
from llamatasks.plugins import Registry, default_registry
from llamatasks.profile import ModelProfile, build_profile, read_config
from llamatasks.prompts.formats import PromptFormat
from llamatasks.prompts.render import Message, Prompt, PromptRenderer, User
from llamatasks.results import (
    Answer,
    Classification,
    Entities,
    Generation,
    Provenance,
    Sentiment,
    Summary,
    Translation,
)
from llamatasks.sources import ModelSource, resolve
from llamatasks.tasks.inputs import as_text_list, positive_int, valid_unicode
from llamatasks.tokenizer import Tokenizer


class Model:
    """A model ready to run tasks. Create it with ``llamatasks.load``."""

    def __init__(self, source: ModelSource, engine: Engine, tokenizer: Tokenizer, profile: ModelProfile,
                 prompt_format: PromptFormat, registry: Registry, batch_size: int = 8) -> None:
        self.source = source
        self.engine = engine
        self.tokenizer = tokenizer
        self.profile = profile
        self.prompt_format = prompt_format
        self.registry = registry
        self.batch_size = batch_size
        self.renderer = PromptRenderer(tokenizer, prompt_format, profile.add_bos)

    def __repr__(self) -> str:
        p = self.profile
        return (f"<llamatasks.Model {p.name!r} {p.generation} format={p.prompt_format} "
                f"backend={self.backend_name} device={self.engine.device}>")

    @property
    def backend_name(self) -> str:
        return self.engine.backend_name

    # -- tasks --------------------------------------------------------------

    def run(self, task: str, text: str | Sequence[str], **options: Any) -> Any:
        """Run a registered task on one text (one result) or a list (a list of results)."""
        texts, single = as_text_list(text)
        results = self.registry.task(task).run(self, texts, **options)
        return results[0] if single else results

    def summarize(self, text: str | Sequence[str], *, max_words: int | None = None,
                  num_beams: int | None = None) -> Summary | list[Summary]:
        """Summarize; ``max_words`` (default 40) bounds the summary's length.

        ``num_beams`` (default 1, greedy) is the beam search width; 4 beams take about twice as long
        and scored no better on the dev set.
        """
        return self.run("summarize", text, max_words=max_words, num_beams=num_beams)

    def translate(self, text: str | Sequence[str], *, target: str, source: str | None = None,
                  num_beams: int | None = None) -> Translation | list[Translation]:
        """Translate into ``target``; ``source`` is detected per text when omitted.

        ``num_beams`` (default 1) is the beam search width: 1 decodes greedily with source-contrastive
        decoding (each token weighed against the same prompt with another source sentence), more
        searches beams without the contrast.
        """
        return self.run("translate", text, target=target, source=source, num_beams=num_beams)

    def ner(self, text: str | Sequence[str], *, labels: Sequence[str] | dict[str, str] | None = None,
            ) -> Entities | list[Entities]:
        """Named entities as exact spans; ``labels`` defaults to PER/ORG/LOC/MISC."""
        return self.run("ner", text, labels=labels)

    def sentiment(self, text: str | Sequence[str], *, labels: Sequence[str] | None = None,
                  phrasings: int | None = None) -> Sentiment | list[Sentiment]:
        """Sentiment probabilities (positive/negative, optionally neutral).

        ``phrasings`` (1-4, default 4): how many phrasings of the question are scored and averaged;
        1 is about four times faster and was 2 points less accurate on the dev set.
        """
        return self.run("sentiment", text, labels=labels, phrasings=phrasings)

    def classify(self, text: str | Sequence[str], *, labels: Sequence[str]) -> Classification | list[Classification]:
        """Zero-shot classification into ``labels``."""
        return self.run("classify", text, labels=labels)

    def answer(self, question: str, context: str | Sequence[str]) -> Answer | list[Answer]:
        """Extractive answer to ``question``: a span of ``context`` with offsets, never invented text."""
        return self.run("answer", context, question=question)

    def chat(self, prompt: str, *, system: str | None = None, max_new_tokens: int = 256,
             temperature: float = 0.0, seed: int | None = None) -> Generation:
        """Free-form answer to one message in the model's own chat format (greedy by default)."""
        (text,), _ = as_text_list(prompt)
        positive_int("max_new_tokens", max_new_tokens)
        system_line = [Message("system", valid_unicode(system, "system"))] if system else []
        messages = system_line + [Message("user", User(text))]
        rendered = self.renderer.render(messages)
        started = time.perf_counter()
        options = GenerationOptions(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                                    stop_token_ids=self.profile.stop_token_ids)
        (out,) = self.generate([rendered], options)
        prov = self.provenance(tokens_in=len(rendered.ids), tokens_out=len(out.token_ids),
                               seconds=time.perf_counter() - started)
        return Generation(text=self.tokenizer.decode(out.token_ids).strip(), finish_reason=out.finish_reason,
                          provenance=prov)

    def prompt_for(self, task: str, text: str, **options: Any) -> list[Prompt]:
        """The exact prompt(s) ``task`` sends for ``text``: ids, tokens and readable text."""
        (checked,), _ = as_text_list(text)
        return self.registry.task(task).prompts(self, checked, **options)

    # -- what tasks use -------------------------------------------------------

    def provenance(self, *, tokens_in: int, tokens_out: int, seconds: float, chunks: int = 1) -> Provenance:
        return Provenance(model=self.profile.name, backend=self.backend_name, device=self.engine.device,
                          prompt_format=self.profile.prompt_format, tokens_in=tokens_in, tokens_out=tokens_out,
                          seconds=seconds, chunks=chunks)

    def generate(self, prompts: Sequence[Prompt], options: GenerationOptions,
                 constraints: Sequence[Constraint | None] | None = None,
                 contrasts: Sequence[Prompt | None] | None = None) -> list[GenerationOutput]:
        """Generate for all prompts in length-sorted batches (a progress bar on a terminal).

        ``contrasts`` (one contrast prompt or None per prompt) are used when
        ``options.contrast_weight > 0`` and the engine ``supports_contrast``;
        other engines decode those rows plainly.
        """
        use_contrast = bool(contrasts) and options.contrast_weight > 0 and self.engine.supports_contrast

        def run_batch(idx: list[int]) -> list[GenerationOutput]:
            rows = [prompts[i].ids for i in idx]
            cons = [constraints[i] for i in idx] if constraints else None
            if use_contrast and contrasts:
                against = [None if c is None else c.ids for c in (contrasts[i] for i in idx)]
                return self.engine.generate(rows, options, cons, contrasts=against)  # type: ignore[call-arg]
            return self.engine.generate(rows, options, cons)

        return self._batched([len(p.ids) for p in prompts], run_batch, "generating")

    def score(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """Score all requests in length-sorted batches."""
        return self._batched([len(r.prompt) for r in requests],
                             lambda idx: self.engine.score([requests[i] for i in idx]), "scoring", factor=2)

    def _batched(self, lengths: list[int], run: Any, desc: str, factor: int = 1) -> list[Any]:
        from tqdm.auto import tqdm

        size = self.batch_size * factor
        order = sorted(range(len(lengths)), key=lengths.__getitem__)  # similar lengths pad least
        results: list[Any] = [None] * len(lengths)
        show = sys.stderr.isatty() and len(lengths) > size and not os.environ.get("LLAMATASKS_NO_PROGRESS")
        with tqdm(total=len(lengths), desc=desc, disable=not show, leave=False) as bar:
            for start in range(0, len(order), size):
                idx = order[start:start + size]
                for i, result in zip(idx, run(idx)):
                    results[i] = result
                bar.update(len(idx))
        return results


def load(model: str | os.PathLike[str] | None = None, *, backend: str | None = None, device: str = "auto",
         dtype: str | None = None, prompt_format: str | None = None, max_context: int | None = None,
         batch_size: int = 8, registry: Registry | None = None) -> Model:
    """Load a model for running tasks.

    Args:
        model: A Hugging Face-format folder, a ``.gguf`` file, or None for
            ``LLAMATASKS_MODEL`` or the embedded SmolLM2-135M-Instruct.
        backend: A registered backend name (``torch``...); None picks the one
            that claims the folder, else ``torch``.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        dtype: ``float32``, ``bfloat16`` or ``float16``; None: float32 on CPU,
            bfloat16/float16 on GPU.
        prompt_format: Override the detected prompt format.
        max_context: Use at most this many tokens of context (chunk sooner).
        batch_size: Texts per forward pass.
        registry: Plugin registry (tests pass a fresh one).
    """
    positive_int("batch_size", batch_size)
    if max_context is not None:
        positive_int("max_context", max_context)
    registry = registry or default_registry()
    source = resolve(model)
    read_config(source.path)  # fail on a non-LLaMA or broken folder before loading anything
    tokenizer = Tokenizer.from_dir(source.path)
    fmt = registry.prompt_format(prompt_format) if prompt_format else None
    profile = build_profile(source.path, source.name, tokenizer, registry.formats_in_order(),
                            prompt_format=fmt, max_context=max_context)
    spec = registry.backend(backend) if backend else _claiming_backend(registry, source.path)
    engine = spec.load(LoadRequest(path=source.path, device=device, dtype=dtype))
    return Model(source, engine, tokenizer, profile, registry.prompt_format(profile.prompt_format), registry,
                 batch_size)


def _claiming_backend(registry: Registry, path: Path) -> Any:
    for spec in registry.backends.items.values():
        if spec.claims(path):
            return spec
    return registry.backend("torch")


def results_as_json(results: BaseModel | list[BaseModel]) -> str:
    """JSON for one result or a list of results."""
    if isinstance(results, list):
        return "[" + ",".join(r.model_dump_json() for r in results) + "]"
    return results.model_dump_json()

