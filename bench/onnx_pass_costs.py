"""The ONNX backend's pass costs (``llamatasks/backends/onnx/engine.py``, ``_COSTS``), measured on one export.

Usage::

    python bench/onnx_pass_costs.py ~/.cache/llamatasks/onnx-bench/fp32
    python bench/onnx_pass_costs.py ~/.cache/llamatasks/onnx-bench/int8

Every figure is in units of one token of a large batched pass from an empty
cache (32 rows x 48 tokens), measured in this run, so they hold as ratios
across machines: ``call`` is the fixed part of any forward call (a one-token
pass of one row), ``step_row`` what each further row of a one-token step adds,
``chunk_token`` what each token of a one-row chunk after a 40-token past adds.
The backend's cost rule uses them to choose between running shared prefixes
once (more, smaller calls) and every prompt in full (one large call).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

import llamatasks
from bench_onnx import timed  # bench/bench_onnx.py: median seconds after a warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", help="an export folder (python -m llamatasks_export ...)")
    args = parser.parse_args()
    decoder = llamatasks.load(args.export, backend="onnx").engine.decoder
    rng = np.random.default_rng(0)

    def ids(rows: int, width: int) -> np.ndarray:
        return rng.integers(100, 30_000, size=(rows, width))

    def no_logits(rows: int) -> np.ndarray:
        return np.zeros((rows, 0), np.int64)

    def big() -> None:
        decoder.forward(ids(32, 48), np.full(32, 48), decoder.new_cache(32, 64), no_logits(32))

    def one() -> None:
        decoder.forward(ids(1, 1), np.full(1, 1), decoder.new_cache(1, 64), no_logits(1))

    past = decoder.new_cache(32, 128)
    decoder.forward(ids(32, 40), np.full(32, 40), past, no_logits(32))

    def step(rows: int) -> Callable[[], None]:
        cache = past if rows == 32 else decoder.row_view(past, 0)
        return lambda: decoder.forward(ids(rows, 1), np.full(rows, 41), cache, no_logits(rows))

    def chunk(width: int) -> Callable[[], None]:
        return lambda: decoder.forward(ids(1, width), np.full(1, 40 + width), decoder.row_view(past, 0), no_logits(1))

    token = timed(big, 7) / (32 * 48)
    step_row = (timed(step(32), 7) - timed(step(1), 7)) / 31 / token
    chunk_token = (timed(chunk(24), 7) - timed(chunk(1), 7)) / 23 / token
    print(f"one token of a batched pass: {token * 1e3:.3f} ms")
    print(f"PassCosts(call={timed(one, 7) / token:.1f}, chunk_token={chunk_token:.2f}, step_row={step_row:.2f})")


if __name__ == "__main__":
    main()
