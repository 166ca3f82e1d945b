"""Corpora at scale: ``batch`` against a Python loop, Ray against local, cached against fresh, peak RSS.

All figures are ratios of runs in this one process (or its children), on this machine:

1. sentiment over ``--texts`` texts (default 2,000) through ``llamatasks batch`` (in-process, the
   default model, cache on) against a plain loop of ``llamatasks.sentiment(text)`` one text at a time
   over the first ``--loop-texts`` of them (docs/s: the loop's rate does not depend on how many);
2. the same job again into a new output: every result a cache hit;
3. ``--engine ray`` with 2 actors against ``--engine local`` on the first ``--ray-texts`` texts
   (no cache; actors' model loads included, as a user waits for them);
4. peak RSS of ``Model.map`` over a generator of 10k and 100k short texts, each in a fresh child process,
   on a tiny random-weight checkpoint with ``phrasings=1`` (flat memory, not model speed, is the point).

Run: ``python bench/bench_batch.py [--texts 2000] [--loop-texts 400] [--ray-texts 500] [--threads 1]``.
Writes ``bench/results/bench_batch.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ADJECTIVES = ["wonderful", "dreadful", "decent", "awful", "brilliant", "boring", "lovely", "terrible", "fine", "odd"]
NOUNS = ["film", "hotel", "meal", "phone", "concert", "book", "service", "flight", "course", "game"]
ENDINGS = ["I would go again.", "Never again.", "Worth the money.", "A waste of time.", "It was okay.",
           "Five stars from me.", "The staff were rude.", "My kids loved it."]


def corpus(n: int) -> list[str]:
    """``n`` short review-like texts, all different."""
    return [f"Review {i}: a {ADJECTIVES[i % 10]} {NOUNS[(i // 10) % 10]}. {ENDINGS[(i // 100) % 8]}"
            for i in range(n)]


def write_txt(folder: Path, name: str, texts: list[str]) -> Path:
    path = folder / name
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return path


def run_batch(source: Path, output: Path, *, engine: str = "local", cache: bool = True,
              model: str | None = None) -> float:
    """Seconds for one ``llamatasks batch sentiment`` job, in this process."""
    from llamatasks.corpus.cli import run_batch_command

    start = time.perf_counter()
    run_batch_command("sentiment", {}, input=source, output=output, text_field="text", id_field=None, model=model,
                      backend=None, device="cpu", resume=False, overwrite=True, no_cache=not cache, batch_size=64,
                      shard_size=256, engine=engine, address=None, concurrency=2, num_gpus=0.0)
    return time.perf_counter() - start


_RSS_CHILD = """
import os, resource, sys
os.environ["LLAMATASKS_NO_PROGRESS"] = "1"
import torch
import llamatasks
torch.set_num_threads(1)

def rss_mib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024

m = llamatasks.load(sys.argv[1], device="cpu")
list(m.map("sentiment", ["warm up"] * 300, batch_size=256, phrasings=1))
loaded = rss_mib()
n = int(sys.argv[2])
texts = (f"review {i}: a {'good' if i % 3 else 'bad'} product, would {'not ' if i % 2 else ''}buy again"
         for i in range(n))
highest = loaded
for count, _ in enumerate(m.map("sentiment", texts, batch_size=256, phrasings=1), 1):
    if count % 1000 == 0:
        highest = max(highest, rss_mib())
assert count == n
print(loaded, highest, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_rss(checkpoint: Path, n: int) -> dict[str, float]:
    """RSS (MiB) of a fresh process once the model is loaded and warm, its highest while mapping ``n`` texts
    (sampled every 1,000 results), and the process's peak (``ru_maxrss``, which includes the load)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(checkpoint), str(n)], capture_output=True,
                          text=True, check=True)
    loaded, highest, peak = map(float, done.stdout.split()[-3:])
    return {"texts": n, "rss_loaded_mib": round(loaded, 1), "rss_highest_while_mapping_mib": round(highest, 1),
            "ru_maxrss_mib": round(peak, 1), "seconds": round(time.perf_counter() - start, 1)}


def tiny_checkpoint(folder: Path) -> Path:
    from llamatasks.testing.checkpoints import (
        build_tiny_checkpoint,
        find_fixture_tokenizers,
    )

    tokenizers = find_fixture_tokenizers()
    if tokenizers is None:
        raise SystemExit("the RSS runs need the tokenizer fixtures (shared/fixtures/tokenizers)")
    return build_tiny_checkpoint("chatml", folder / "chatml", tokenizers_dir=tokenizers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--loop-texts", type=int, default=2000)
    parser.add_argument("--ray-texts", type=int, default=2000)
    parser.add_argument("--rss", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the local runs (Ray gives each actor one: its OMP_NUM_THREADS)")
    args = parser.parse_args()
    os.environ["LLAMATASKS_NO_PROGRESS"] = "1"
    import torch

    import llamatasks

    torch.set_num_threads(args.threads)  # the same for both sides: on a shared 2-core machine, less contention

    model = llamatasks.get_model(device="cpu")  # the default model, resolved with the user's cache folder
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    os.environ["LLAMATASKS_CACHE"] = str(work / "cache")  # a fresh result cache; the model is loaded already
    texts = corpus(args.texts)
    llamatasks.sentiment(texts[:64], model=model)  # warm-up: first-call costs belong to neither side
    source = write_txt(work, "in.txt", texts)
    report: dict[str, object] = {"model": model.profile.name, "texts": args.texts, "cpus": os.cpu_count(),
                                 "torch_threads": args.threads}

    first = run_batch(source, work / "first.jsonl")
    second = run_batch(source, work / "second.jsonl")
    loop_texts = texts[:args.loop_texts]
    start = time.perf_counter()
    for text in loop_texts:
        llamatasks.sentiment(text, model=model)
    loop = time.perf_counter() - start
    report["batch_vs_loop"] = {"batch_docs_per_s": round(args.texts / first, 2),
                               "loop_docs_per_s": round(len(loop_texts) / loop, 2), "loop_texts": len(loop_texts),
                               "speedup": round((args.texts / first) / (len(loop_texts) / loop), 2)}
    report["cache"] = {"first_s": round(first, 1), "second_s": round(second, 2), "speedup": round(first / second, 1)}
    print(json.dumps(report, indent=1), flush=True)

    if not args.skip_ray:
        import ray

        ray_source = write_txt(work, "ray.txt", texts[:args.ray_texts])
        folder = str(model.source.path)  # workers load the converted folder: no GGUF conversion in each
        local = run_batch(ray_source, work / "local.jsonl", cache=False, model=folder)
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"LLAMATASKS_DTYPE": os.environ.get("LLAMATASKS_DTYPE", "float32")}})
        on_ray = run_batch(ray_source, work / "ray.jsonl", engine="ray", cache=False, model=folder)
        ray.shutdown()
        report["ray_2_actors_vs_local"] = {"texts": args.ray_texts, "local_s": round(local, 1),
                                           "ray_s": round(on_ray, 1), "speedup": round(local / on_ray, 2)}
        print(json.dumps(report["ray_2_actors_vs_local"]), flush=True)

    checkpoint = tiny_checkpoint(work / "tiny")
    report["peak_rss"] = [peak_rss(checkpoint, n) for n in args.rss]
    print(json.dumps(report, indent=1))
    out = Path(__file__).parent / "results" / "bench_batch.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
