"""Compare an exported graph with PyTorch on a fixed prompt set.

Three measures, all recorded in the manifest:

* max |logit difference| over every teacher-forced position of every prompt;
* top-1 agreement: the share of those positions whose most likely token matches;
* greedy agreement: the share of greedy tokens equal before the first divergence.

fp32 must stay within ``FP32_MAX_ABS_DIFF``. Quantized and fp16 graphs differ
by design; they are refused below ``MIN_TOP1_AGREEMENT`` (top-1 is a fairer
bar than raw logits for them: measured on SmolLM2-135M, weight-only int8 keeps
95.5% while dynamic activation quantization falls to 51-61%).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llamatasks.backends.onnx.manifest import GraphInfo, ValidationReport
from llamatasks.engine.base import GenerateRequest, GenerationOptions
from llamatasks_export.errors import ExportValidationError

if TYPE_CHECKING:  # numpy and the engine load with the first export, not on import
    import numpy as np

    from llamatasks.backends.onnx.engine import OnnxEngine

#: Absolute logit tolerance for fp32 (measured: ~3e-5 on tiny models, ~1e-4 on SmolLM2-135M).
FP32_MAX_ABS_DIFF = 5e-3
#: Lowest top-1 agreement accepted for fp16/int8/int4 without ``force``.
MIN_TOP1_AGREEMENT = 0.95
GREEDY_TOKENS = 24

#: Fixed validation texts: prose, a list, code, a question, facts and a dialogue, so that
#: positions cover several kinds of next-token distributions.
VALIDATION_TEXTS: tuple[str, ...] = (
    ("The city council met on Tuesday evening to discuss the new budget. After a long debate, the members "
     "agreed to fund two new bus lines and to repair the old bridge over the river before winter."),
    ("Shopping list for the weekend: eggs, milk, two loaves of bread, tomatoes, olive oil, coffee beans and "
     "something sweet for Sunday afternoon."),
    "def mean(values):\n    total = sum(values)\n    return total / len(values)\n\nprint(mean([1, 2, 3, 4]))",
    "Question: Why is the sky blue during the day but red at sunset? Answer:",
    ("Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891, studied physics and mathematics at "
     "the Sorbonne, and in 1903 shared the Nobel Prize in Physics with Pierre Curie and Henri Becquerel."),
    ("- Can you help me move the sofa on Saturday?\n- Sure, what time?\n- Around ten, before it gets too hot.\n"
     "- Fine. I will bring my brother, he has a van."),
)


def prompt_ids(encode: Callable[[str], list[int]], texts: tuple[str, ...], bos_id: int | None) -> list[list[int]]:
    """Token ids of the validation texts, with BOS where the model takes it."""
    ids = [list(encode(t)) for t in texts]
    return [([bos_id] if bos_id is not None else []) + row for row in ids]


def validate_export(source: Path, graph: Path, layout: GraphInfo, precision: str, prompts: list[list[int]],
                    force: bool) -> ValidationReport:
    """Run ``prompts`` through PyTorch (the torch backend) and ONNX Runtime; raise when they disagree."""
    import numpy as np

    from llamatasks.backends.onnx.engine import open_graph
    from llamatasks.backends.torch_backend import TorchEngine
    from llamatasks.engine.base import LoadRequest

    started = time.perf_counter()
    reference = TorchEngine.load(LoadRequest(path=source, device="cpu", dtype="float32"))
    exported = open_graph(graph, layout, "cpu")
    try:
        diffs, agree, positions = [], 0, 0
        for ids in prompts:
            want, got = _torch_logits(reference, ids), _onnx_logits(exported, ids)
            diffs.append(float(np.abs(want - got).max()))
            agree += int((want.argmax(-1) == got.argmax(-1)).sum())
            positions += len(ids)
        greedy = _greedy_agreement(reference, exported, prompts)
    finally:
        reference.close()
        exported.close()
    report = _report(len(prompts), positions, max(diffs), agree / positions, greedy, precision, force,
                     time.perf_counter() - started)
    if not report.passed and not force:
        raise ExportValidationError(f"the {precision} export disagrees with PyTorch: {_summary(report)}")
    return report


def _report(n: int, positions: int, max_diff: float, top1: float, greedy: float, precision: str, force: bool,
            seconds: float) -> ValidationReport:
    limit = FP32_MAX_ABS_DIFF if precision == "fp32" else None
    min_top1 = None if precision == "fp32" else MIN_TOP1_AGREEMENT
    passed = (max_diff <= limit) if limit is not None else (top1 >= MIN_TOP1_AGREEMENT)
    return ValidationReport(prompts=n, positions=positions, max_abs_logit_diff=max_diff, top1_agreement=top1,
                            greedy_tokens=GREEDY_TOKENS, greedy_agreement=greedy, max_abs_logit_diff_limit=limit,
                            min_top1_agreement=min_top1, passed=passed, forced=force and not passed,
                            seconds=round(seconds, 2))


def _summary(report: ValidationReport) -> str:
    parts = [f"max |logit diff| {report.max_abs_logit_diff:.2e}"
             + (f" (limit {report.max_abs_logit_diff_limit:.0e})" if report.max_abs_logit_diff_limit else ""),
             f"top-1 agreement {report.top1_agreement:.1%}"
             + (f" (minimum {report.min_top1_agreement:.0%})" if report.min_top1_agreement else ""),
             f"greedy agreement {report.greedy_agreement:.1%}"]
    return ", ".join(parts)


def _torch_logits(engine: Any, ids: list[int]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        out = engine.model(input_ids=torch.tensor([ids]))
    return out.logits[0].float().numpy()


def _onnx_logits(engine: OnnxEngine, ids: list[int]) -> np.ndarray:
    import numpy as np

    decoder = engine.decoder
    cache = decoder.new_cache(1, len(ids))
    positions = np.arange(len(ids), dtype=np.int64)[None, :]
    return decoder.forward(np.array([ids]), np.array([len(ids)]), cache, positions)[0]


def _greedy_agreement(reference: Any, exported: OnnxEngine, prompts: list[list[int]]) -> float:
    options = GenerationOptions(max_new_tokens=GREEDY_TOKENS)  # no stop tokens: always the full length
    request = GenerateRequest.of(prompts, options)
    want = reference.generate(request)
    got = exported.generate(request)
    shares = []
    for w, g in zip(want, got):
        same = next((i for i, (a, b) in enumerate(zip(w.token_ids, g.token_ids)) if a != b),
                    min(len(w.token_ids), len(g.token_ids)))
        shares.append(same / GREEDY_TOKENS)
    return sum(shares) / len(shares)
