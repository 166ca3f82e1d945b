"""Decode and prefill speed: ONNX Runtime exports vs transformers ``generate``, in one run.

Usage::

    python bench/bench_onnx.py                         # SmolLM2-135M default model, fp32 + int8
    python bench/bench_onnx.py --threads 1 --json out.json
    python bench/bench_onnx.py --model path/to/llama --precisions fp32 int8 int4

Measures, each the median of ``--repeats`` runs after a warm-up:

* decode tok/s: batch 1, greedy, ``--new-tokens`` tokens after a 32-token prompt;
* prefill tok/s: one forward pass over a ``--prompt-tokens`` prompt;
* batch-8 throughput: new tokens/s generating ``--new-tokens`` for 8 prompts of
  different lengths (left-padded for transformers, right-padded for ONNX);
* the memory-bound ceiling of each export: batch-1 decode reads every weight
  once per token, so it cannot beat (bytes the graph reads per token) / (the
  rate this machine reads that many bytes). The rate is measured here, in the
  same run, by a float32 matrix-vector product over a matrix of that size with
  the same threads: the speed of light for any engine on this machine;
* scoring docs/s of each export: ``sentiment`` over the first ``--score-texts`` dev reviews
  and ``ner`` over the first ``--score-texts // 4`` dev sentences (``../shared/eval``, else
  built-in sentences), as shipped (shared prefixes on), one timed call each;
* the kernel bound of each export: its weight products alone (every ``MatMul`` /
  ``MatMulNBits`` of the graph, on the export's own weights, one after another,
  nothing else), the rate ONNX Runtime's kernels allow before attention, norms
  and the decoding loop are counted.

The baseline is plain transformers ``generate`` in float32 with the same number
of threads. llama-cpp-python runs too when installed (on the default model's
GGUF, or ``--gguf``). Exports are cached (``--exports``, default ~/.cache/llamatasks/onnx-bench) and reused.
Absolute numbers drift with the machine and its load; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DECODE_PROMPT = 32
BATCH_LENGTHS = (24, 40, 56, 72, 88, 104, 120, 136)
SCORING_FALLBACK = (
    "The battery died after two days and support never answered.",
    "Ada Lovelace wrote the first program for Charles Babbage's engine in London.",
    "Great screen, fast shipping, and the price was right.",
    "The Tokyo office of Sony opened in 1946.",
)


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of ``fn`` over ``repeats`` runs, after one warm-up run."""
    fn()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def prompt(length: int, vocab: int, seed: int = 0) -> list[int]:
    """Deterministic token ids away from the special tokens at both ends of the vocabulary."""
    import numpy as np

    return np.random.default_rng(seed).integers(100, min(vocab, 30000) - 100, length).tolist()


# -- engines ------------------------------------------------------------------------


def bench_transformers(source: Path, args: argparse.Namespace, vocab: int) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).eval()
    n = args.new_tokens

    def generate(ids: torch.Tensor, mask: torch.Tensor) -> None:
        with torch.inference_mode():
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                           pad_token_id=0)

    def forward(ids: torch.Tensor) -> None:
        with torch.inference_mode():
            model(input_ids=ids, logits_to_keep=1)

    short = torch.tensor([prompt(DECODE_PROMPT, vocab)])
    long = torch.tensor([prompt(args.prompt_tokens, vocab)])
    width = max(BATCH_LENGTHS)
    batch = torch.zeros((len(BATCH_LENGTHS), width), dtype=torch.long)
    mask = torch.zeros_like(batch)
    for row, length in enumerate(BATCH_LENGTHS):
        batch[row, width - length:] = torch.tensor(prompt(length, vocab, seed=row))
        mask[row, width - length:] = 1
    prefill_short = timed(lambda: forward(short), args.repeats)
    decode = timed(lambda: generate(short, torch.ones_like(short)), args.repeats) - prefill_short
    prefill = timed(lambda: forward(long), args.repeats)
    batched = timed(lambda: generate(batch, mask), args.repeats)
    return {"decode_tok_s": n / decode, "prefill_tok_s": args.prompt_tokens / prefill,
            "batch8_tok_s": n * len(BATCH_LENGTHS) / batched}


def bench_onnx(export: Path, args: argparse.Namespace, vocab: int) -> dict[str, float]:
    import numpy as np

    from llamatasks.backends.onnx.engine import OnnxEngine
    from llamatasks.engine.base import GenerateRequest, GenerationOptions, LoadRequest

    os.environ["LLAMATASKS_ONNX_THREADS"] = str(args.threads)
    engine = OnnxEngine.load(LoadRequest(path=export, device="cpu"))
    options = GenerationOptions(max_new_tokens=args.new_tokens)  # no stop tokens: always the full length
    short, long = prompt(DECODE_PROMPT, vocab), prompt(args.prompt_tokens, vocab)
    batch = [prompt(length, vocab, seed=row) for row, length in enumerate(BATCH_LENGTHS)]

    def forward(ids: list[int]) -> None:
        cache = engine.decoder.new_cache(1, len(ids))
        engine.decoder.forward(np.array([ids]), np.array([len(ids)]), cache, np.array([[len(ids) - 1]]))

    prefill_short = timed(lambda: forward(short), args.repeats)
    decode = timed(lambda: engine.generate(GenerateRequest.of([short], options)), args.repeats) - prefill_short
    prefill = timed(lambda: forward(long), args.repeats)
    batched = timed(lambda: engine.generate(GenerateRequest.of(batch, options)), args.repeats)
    engine.close()
    return {"decode_tok_s": args.new_tokens / decode, "prefill_tok_s": args.prompt_tokens / prefill,
            "batch8_tok_s": args.new_tokens * len(BATCH_LENGTHS) / batched}


def scoring_texts(n: int) -> tuple[list[str], list[str]]:
    """``n`` reviews and ``n // 4`` NER sentences from ``../shared/eval``, else built-in sentences."""
    eval_dir = Path(__file__).resolve().parents[2] / "shared" / "eval"

    def first(name: str, k: int) -> list[str]:
        path = eval_dir / name
        rows = [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
        return rows[:k] if len(rows) >= k else [SCORING_FALLBACK[i % len(SCORING_FALLBACK)] for i in range(k)]

    return first("sentiment.jsonl", n), first("ner.jsonl", max(1, n // 4))


def bench_scoring(export: Path, args: argparse.Namespace) -> dict[str, float]:
    """docs/s of the two scoring tasks on ``export``, one call each over the texts after a warm-up."""
    import llamatasks

    os.environ["LLAMATASKS_ONNX_THREADS"] = str(args.threads)
    model = llamatasks.load(export)
    reviews, sentences = scoring_texts(args.score_texts)
    llamatasks.sentiment(reviews[:8], model=model)
    sentiment = timed(lambda: llamatasks.sentiment(reviews, model=model), 1)
    ner = timed(lambda: llamatasks.ner(sentences, model=model), 1)
    model.engine.close()
    return {"sentiment_docs_s": len(reviews) / sentiment, "ner_docs_s": len(sentences) / ner}


def weight_bytes_per_token(export: Path) -> int:
    """Bytes of the initializers a decode step reads: all of them but lookup tables (``Gather``)."""
    import numpy as np
    import onnx
    from onnx import helper

    from llamatasks.backends.onnx.manifest import read_manifest

    model = onnx.load(str(export / read_manifest(export).graph.filename), load_external_data=False)
    sizes = {t.name: int(np.prod(t.dims)) * helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
             for t in model.graph.initializer}
    read = {name for node in model.graph.node if node.op_type != "Gather" for name in node.input if name in sizes}
    return sum(sizes[name] for name in read)


def bench_ceiling(nbytes: int, args: argparse.Namespace) -> dict[str, float]:
    """Decode tok/s if a step took only the time to read ``nbytes`` of weights once.

    The read rate is that of a float32 matrix-vector product over a matrix of
    ``nbytes`` (torch, ``--threads`` threads): it depends on the working set
    (caches), so it is measured at the model's own size.
    """
    import torch

    torch.set_num_threads(args.threads)
    columns = 4096
    matrix = torch.rand(max(1, nbytes // 4 // columns), columns)
    vector = torch.rand(columns)
    seconds = timed(lambda: torch.mv(matrix, vector), max(args.repeats, 10))
    return {"decode_tok_s": 1 / seconds, "read_gb_s": matrix.numel() * 4 / seconds / 1e9,
            "weight_mb_per_token": nbytes / 1e6}


def bench_kernels(export: Path, args: argparse.Namespace) -> dict[str, float]:
    """Decode tok/s if a step ran only the graph's weight products, one row each, on its own weights."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    from llamatasks.backends.onnx.manifest import read_manifest
    from llamatasks.backends.onnx.session import import_onnxruntime

    ort = import_onnxruntime()
    model = onnx.load(str(export / read_manifest(export).graph.filename))
    weights = {t.name: t for t in model.graph.initializer}
    inputs: dict[str, int] = {}  # one activation per inner width, shared by the products that take it
    outputs: dict[str, int] = {}
    nodes = []
    for i, node in enumerate(n for n in model.graph.node
                             if n.op_type in ("MatMul", "MatMulNBits") and n.input[1] in weights):
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        inner = int(attributes["K"] if node.op_type == "MatMulNBits" else weights[node.input[1]].dims[0])
        outer = int(attributes["N"] if node.op_type == "MatMulNBits" else weights[node.input[1]].dims[1])
        name = f"x{inner}"
        inputs[name] = inner
        product = onnx.NodeProto()
        product.CopyFrom(node)
        product.input[0] = name
        del product.output[:]
        product.output.append(f"y{i}")
        nodes.append(product)
        outputs[f"y{i}"] = outer
    used = {name for node in nodes for name in node.input}
    values = lambda widths: [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, w])
                             for n, w in widths.items()]
    graph = helper.make_graph(nodes, "weight-products", values(inputs), values(outputs),
                              [t for t in model.graph.initializer if t.name in used])
    products = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(products.SerializeToString(), options, providers=["CPUExecutionProvider"])
    binding = session.io_binding()
    keep = []  # the arrays behind the bound values must outlive the runs
    for name, width in inputs.items():
        keep.append(np.random.default_rng(0).standard_normal((1, 1, width), dtype=np.float32))
        binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(keep[-1]))
    for name, width in outputs.items():
        keep.append(np.empty((1, 1, width), np.float32))
        binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(keep[-1]))
    seconds = timed(lambda: session.run_with_iobinding(binding), max(args.repeats, 10) * 10)
    return {"decode_tok_s": 1 / seconds, "products": len(nodes)}


def bench_llama_cpp(gguf: Path, args: argparse.Namespace) -> dict[str, float]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_threads=args.threads, n_threads_batch=args.threads,
                n_ctx=max(1024, args.prompt_tokens + args.new_tokens + 64), n_batch=512, verbose=False)
    vocab = llm.n_vocab()

    def run(ids: list[int], new: int) -> None:
        llm.reset()
        if new == 0:
            llm.eval(ids)
            return
        for i, _ in enumerate(llm.generate(ids, temp=0.0, reset=True)):  # greedy; never stops on its own
            if i + 1 >= new:
                break

    short, long = prompt(DECODE_PROMPT, vocab), prompt(args.prompt_tokens, vocab)
    prefill_short = timed(lambda: run(short, 0), args.repeats)
    decode = timed(lambda: run(short, args.new_tokens), args.repeats) - prefill_short
    prefill = timed(lambda: run(long, 0), args.repeats)
    return {"decode_tok_s": args.new_tokens / decode, "prefill_tok_s": args.prompt_tokens / prefill}


# -- driver -------------------------------------------------------------------------


def ensure_export(model: str | None, root: Path, precision: str, force: bool) -> Path:
    from llamatasks_export import MANIFEST_NAME, export_onnx

    out = root / precision
    if not (out / MANIFEST_NAME).is_file():
        started = time.perf_counter()
        manifest = export_onnx(model, out, precision, force=force, overwrite=True)  # type: ignore[arg-type]
        v = manifest.validation
        print(f"exported {precision} in {time.perf_counter() - started:.0f} s: top-1 {v.top1_agreement:.1%}, "
              f"greedy {v.greedy_agreement:.1%}, max |diff| {v.max_abs_logit_diff:.2e}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Model folder or .gguf (default: the embedded SmolLM2).")
    parser.add_argument("--exports", type=Path, default=None,
                        help="Where exports are cached (default: the llamatasks cache, onnx-bench/).")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "int8"], choices=["fp32", "fp16", "int8", "int4"])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--score-texts", type=int, default=128, help="Reviews for scoring docs/s (0: skip).")
    parser.add_argument("--gguf", type=Path, nargs="*", default=None,
                        help="GGUF files for llama-cpp-python (default: the default model's).")
    parser.add_argument("--force", action="store_true", help="Keep exports that fail validation (e.g. int4).")
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="Existing export folders to run too.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the results here.")
    args = parser.parse_args(argv)

    from llamatasks.profile import read_config
    from llamatasks.sources import resolve

    source = resolve(args.model)
    vocab = int(read_config(source.path)["vocab_size"])
    from llamatasks.sources import cache_dir

    root = (args.exports or cache_dir() / "onnx-bench") / source.path.name
    exports = {p: ensure_export(args.model, root, p, args.force) for p in args.precisions}
    results: dict[str, dict[str, float]] = {}
    results["transformers fp32"] = bench_transformers(source.path, args, vocab)
    for precision, path in exports.items():
        results[f"onnx {precision}"] = bench_onnx(path, args, vocab)
    for precision, path in exports.items() if args.score_texts else ():
        results[f"scoring {precision}"] = bench_scoring(path, args)
    for precision, path in exports.items():
        results[f"ceiling {precision}"] = bench_ceiling(weight_bytes_per_token(path), args)
        results[f"kernels {precision}"] = bench_kernels(path, args)
    for path in args.also:
        results[f"onnx {path.name}"] = bench_onnx(path, args, vocab)
    ggufs = args.gguf if args.gguf is not None else [g for g in [_default_gguf(args.model)] if g is not None]
    for gguf in ggufs if _has("llama_cpp") else []:
        try:
            results[f"llama.cpp {gguf.name}"] = bench_llama_cpp(gguf, args)
        except Exception as exc:  # noqa: BLE001 - an optional comparison must not sink the run
            print(f"llama-cpp-python failed on {gguf}: {exc!r}", file=sys.stderr)
    report = {"model": source.name, "threads": args.threads, "new_tokens": args.new_tokens,
              "prompt_tokens": args.prompt_tokens, "results": results}
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def print_table(report: dict[str, Any]) -> None:
    base = report["results"]["transformers fp32"]["decode_tok_s"]
    print(f"\n{report['model']}, {report['threads']} threads, decode {report['new_tokens']} tokens, "
          f"prefill {report['prompt_tokens']} tokens\n")
    print("| engine | decode tok/s | x baseline | prefill tok/s | batch-8 tok/s |")
    print("|---|---|---|---|---|")
    for name, r in report["results"].items():
        if name.startswith(("ceiling ", "kernels ", "scoring ")):
            continue
        batch = f"{r['batch8_tok_s']:.1f}" if "batch8_tok_s" in r else "-"
        print(f"| {name} | {r['decode_tok_s']:.1f} | {r['decode_tok_s'] / base:.2f} | {r['prefill_tok_s']:.0f} | {batch} |")
    scoring = {name.removeprefix("scoring "): r for name, r in report["results"].items() if name.startswith("scoring ")}
    if scoring:
        print("\nScoring tasks as shipped (shared prefixes), docs/s:\n")
        print("| export | sentiment docs/s | ner docs/s |")
        print("|---|---|---|")
        for precision, r in scoring.items():
            print(f"| {precision} | {r['sentiment_docs_s']:.2f} | {r['ner_docs_s']:.2f} |")
    ceilings = {name.removeprefix("ceiling "): r for name, r in report["results"].items() if name.startswith("ceiling ")}
    if ceilings:
        print("\nBounds of batch-1 decode: the memory ceiling (weights read once per token at this machine's read "
              "rate) and the kernel bound (the graph's weight products alone):\n")
        print("| export | MB read per token | read GB/s | ceiling tok/s | ceiling x baseline | kernel bound tok/s "
              "| onnx share of ceiling |")
        print("|---|---|---|---|---|---|---|")
        for precision, c in ceilings.items():
            onnx = report["results"].get(f"onnx {precision}")
            kernels = report["results"].get(f"kernels {precision}")
            share = f"{onnx['decode_tok_s'] / c['decode_tok_s']:.0%}" if onnx else "-"
            bound = f"{kernels['decode_tok_s']:.1f}" if kernels else "-"
            print(f"| {precision} | {c['weight_mb_per_token']:.0f} | {c['read_gb_s']:.1f} | {c['decode_tok_s']:.1f} | "
                  f"{c['decode_tok_s'] / base:.2f} | {bound} | {share} |")


def _default_gguf(model: str | None) -> Path | None:
    if model is not None:
        return Path(model) if str(model).endswith(".gguf") else None
    from llamatasks.errors import ModelNotFoundError
    from llamatasks.sources import default_gguf

    try:
        return default_gguf()
    except ModelNotFoundError:
        return None


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
