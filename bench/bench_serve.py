#!/usr/bin/env python
"""Serving benchmark: does ``llamatasks serve`` gather concurrent requests into shared list calls?

One process, one server (uvicorn in a thread, on 127.0.0.1) over the default
model (SmolLM2-135M-Instruct unless ``--model``). Each round sends the same 16
requests of one short text each, twice:

* **concurrent**: 16 clients at once (``httpx.AsyncClient``, one request each);
* **one at a time**: the same requests in sequence, each sent when the previous one answered.

Reported: requests/s of each and their ratio (the batching gain), p50/p95
latency of each, and how many list calls the concurrent requests became.
Rounds alternate the order (A B, B A, ...) and medians are compared, so drift
from other jobs on the machine hits both sides alike.

    python bench/bench_serve.py                      # sentiment and chat, 5 rounds
    python bench/bench_serve.py --tasks sentiment --rounds 3
    python bench/bench_serve.py --json bench/results/bench-serve.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

import llamatasks
from llamatasks.serve.app import ServeSettings, create_app

TEXTS = [
    "The battery died after a day.", "Lovely staff and a spotless room.", "The update broke everything.",
    "Fast delivery, works as described.", "I want my money back.", "Best coffee in town!",
    "The screen cracked within a week.", "Setup took two minutes.", "Support never answered my emails.",
    "Great value for the price.", "The app keeps crashing.", "Comfortable and quiet.",
    "Arrived late and damaged.", "Exactly what I needed.", "The manual is useless.", "I would buy it again.",
]
BODIES: dict[str, dict[str, Any]] = {"sentiment": {}, "chat": {"max_new_tokens": 16}, "ner": {}}


@contextmanager
def serving(model: llamatasks.Model, settings: ServeSettings) -> Iterator[str]:
    """The base URL of a server on a free port, stopped (in-flight requests finished) at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(model, settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


async def _timed(client: httpx.AsyncClient, task: str, text: str) -> float:
    started = time.perf_counter()
    response = await client.post(f"/v1/{task}", json={"text": text, **BODIES[task]})
    response.raise_for_status()
    return time.perf_counter() - started


async def concurrent(url: str, task: str) -> tuple[float, list[float]]:
    """Wall seconds and per-request latencies of all requests at once."""
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        latencies = await asyncio.gather(*(_timed(client, task, t) for t in TEXTS))
        return time.perf_counter() - started, list(latencies)


async def one_at_a_time(url: str, task: str) -> tuple[float, list[float]]:
    """Wall seconds and per-request latencies of the requests in sequence."""
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        started = time.perf_counter()
        latencies = [await _timed(client, task, t) for t in TEXTS]
        return time.perf_counter() - started, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_task(url: str, task: str, rounds: int) -> dict[str, Any]:
    wall, _ = asyncio.run(concurrent(url, task))  # warm-up: caches, allocator, first-call costs
    print(f"  {task} warm-up: {wall:.2f} s", flush=True)
    walls: dict[str, list[float]] = {"concurrent": [], "sequential": []}
    latencies: dict[str, list[float]] = {"concurrent": [], "sequential": []}
    for r in range(rounds):
        order = ["concurrent", "sequential"] if r % 2 == 0 else ["sequential", "concurrent"]
        for mode in order:
            wall, lat = asyncio.run(concurrent(url, task) if mode == "concurrent" else one_at_a_time(url, task))
            walls[mode].append(wall)
            latencies[mode] += lat
            print(f"  {task} round {r + 1} {mode}: {wall:.2f} s", flush=True)
    out: dict[str, Any] = {"task": task, "requests": len(TEXTS), "rounds": rounds}
    for mode, mode_walls in walls.items():
        out[mode] = {"requests_per_s": len(TEXTS) / statistics.median(mode_walls),
                     "p50_ms": 1000 * percentile(latencies[mode], 0.50),
                     "p95_ms": 1000 * percentile(latencies[mode], 0.95)}
    out["ratio"] = out["concurrent"]["requests_per_s"] / out["sequential"]["requests_per_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder (default: the default model)")
    parser.add_argument("--tasks", default="sentiment,chat", help="comma-separated: sentiment, chat, ner")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("LLAMATASKS_NO_PROGRESS", "1")
    model = llamatasks.load(args.model)
    settings = ServeSettings(max_batch=32, window_ms=10, timeout_s=600)
    results = []
    with serving(model, settings) as url:
        for task in args.tasks.split(","):
            before = httpx.get(f"{url}/health").json()
            results.append(bench_task(url, task.strip(), args.rounds))
            after = httpx.get(f"{url}/health").json()
            results[-1]["list_calls"] = after["list_calls"] - before["list_calls"]
            results[-1]["texts"] = after["texts"] - before["texts"]
    print(f"model {model.profile.name} on {model.backend_name} ({model.engine.device}), "
          f"{os.cpu_count()} CPUs, 16 requests of one short text each, medians of {args.rounds} rounds")
    print(f"{'task':<10} {'mode':<13} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8}")
    for r in results:
        for mode in ("concurrent", "sequential"):
            m = r[mode]
            print(f"{r['task']:<10} {mode:<13} {m['requests_per_s']:7.2f} {m['p50_ms']:8.0f} {m['p95_ms']:8.0f}")
        print(f"{r['task']:<10} ratio (concurrent / one at a time): {r['ratio']:.2f}x; "
              f"{r['texts']} texts in {r['list_calls']} list calls")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": model.profile.name, "backend": model.backend_name, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
