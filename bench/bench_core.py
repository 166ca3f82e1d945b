#!/usr/bin/env python
"""Core speed benchmark for llamatasks on the embedded default model (SmolLM2-135M-Instruct).

Measures, in one process and as ratios against a baseline measured alongside:

1. sentiment docs/s   llamatasks label scoring (``m.sentiment(list)``, batched; four phrasings
                      averaged, and ``phrasings=1``) vs. naive generate-and-parse
                      (``m.chat(question + text)`` per text) on the same model, and vs. the
                      ensemble as it ran before the throughput work (``before.py``)
   before/after       ner (100 dev sentences), classify (4 labels), answer, summarize and
                      translate docs/s vs. the same calls as they ran before (``before.py``:
                      float32, no prefix reuse, the old batches and prompts), on a second
                      copy of the model loaded in float32
2. decode tok/s       the torch backend's ``engine.generate`` (batch 1, greedy)
                      vs. plain transformers ``AutoModelForCausalLM.generate`` on the same folder;
                      plus the backend's batch-8 total throughput
3. load time          cold ``llamatasks.load()`` (GGUF -> safetensors conversion into an empty
                      cache) vs. cached load, each timed inside its own subprocess
4. beam search cost   ``translate`` and ``summarize`` with 4 beams vs. ``num_beams=1`` (greedy;
                      for ``translate`` greedy with source-contrastive decoding, its default,
                      which runs a second prompt per sentence): what each decoding costs in time

Candidate and baseline repetitions are interleaved (A B B A ...) and medians are
compared, so slow drift from other jobs on the machine hits both sides alike.
Absolute figures are only meaningful relative to each other within one run.

    python bench/bench_core.py            # default run (more repetitions and tokens)
    python bench/bench_core.py --quick    # short run (~20 min on 2 cores)
    python bench/bench_core.py --json /tmp/bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from before import before  # bench/before.py: the tasks as they ran before (python bench/bench_core.py)

# ~32 short review-like texts written for this benchmark, with their expected label.
TEXTS: list[tuple[str, str]] = [
    ("The battery lasts two full days and the screen is gorgeous.", "positive"),
    ("Stopped working after a week and the seller ignored my emails.", "negative"),
    ("Best pizza I've had in years, the crust was perfect.", "positive"),
    ("The hotel room smelled of smoke and the sheets were stained.", "negative"),
    ("Setup took five minutes and it has worked flawlessly since.", "positive"),
    ("Way too loud, and the fan rattles constantly. Returning it.", "negative"),
    ("Our guide was funny, patient and knew every corner of the old town.", "positive"),
    ("The shoes fell apart after two short walks.", "negative"),
    ("I love how light this jacket is, yet it keeps me warm.", "positive"),
    ("Cold food, rude waiter, and we waited an hour for the bill.", "negative"),
    ("A gripping novel; I read it in one sitting.", "positive"),
    ("The app crashes every time I try to upload a photo.", "negative"),
    ("Great value for the price, would happily buy again.", "positive"),
    ("The movie dragged on forever and the ending made no sense.", "negative"),
    ("Delivery was early and the packaging was neat and sturdy.", "positive"),
    ("Customer service hung up on me twice. Never again.", "negative"),
    ("This blender crushes ice like a dream and is easy to clean.", "positive"),
    ("The paint started peeling within a month.", "negative"),
    ("Comfortable seats, friendly crew and the flight landed early.", "positive"),
    ("The headphones hurt my ears and the sound is muddy.", "negative"),
    ("My kids adore this board game; we play it every weekend.", "positive"),
    ("Overpriced and underwhelming, the photos were misleading.", "negative"),
    ("The coffee is rich and smooth, exactly what I wanted.", "positive"),
    ("The charger overheated and now it doesn't charge at all.", "negative"),
    ("Wonderful concert, the band sounded even better live.", "positive"),
    ("The instructions were useless and two screws were missing.", "negative"),
    ("Clean rooms, quiet street and a lovely breakfast.", "positive"),
    ("The vacuum loses suction after a few minutes. Disappointing.", "negative"),
    ("Sharp knife, well balanced, and it still looks brand new.", "positive"),
    ("The course was boring and the teacher never answered questions.", "negative"),
    ("Fast, reliable laptop that handles everything I throw at it.", "positive"),
    ("Tasteless soup and a bill twice what the menu said.", "negative"),
]

QUESTION = "Is the sentiment of this text positive or negative? Answer with one word.\n\n"

# A neutral passage; decode prompts are 60-token windows of its ids.
PASSAGE = (
    "The river town grew up around a stone bridge built by merchants who carried wool, salt and timber "
    "between the hills and the coast. Over the centuries the market square filled with workshops, inns "
    "and a small library, and every autumn farmers from the surrounding valleys came to trade apples, "
    "cheese and cattle. When the railway arrived, the old warehouses by the water were turned into homes, "
    "and the bridge, repaired many times, still carries people across the river each morning."
)
PROMPT_TOKENS = 60

# Runs in a fresh interpreter: heavy libraries are imported first so that only
# llamatasks.load() is timed, and cold and cached runs pay the same import costs.
LOAD_CHILD = r"""
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401  (import cost outside the timer)
import llamatasks
t0 = time.perf_counter()
m = llamatasks.load()
seconds = time.perf_counter() - t0
print("BENCH_RESULT " + json.dumps({"seconds": seconds, "path": str(m.source.path)}))
"""


# -- helpers -------------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def interleaved(fns: dict[str, Callable[[], Any]], reps: int) -> dict[str, list[float]]:
    """Time each function ``reps`` times, alternating the order every repetition (A B, B A, ...)."""
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        for name in (names if rep % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def pair_ratios(fast: list[float], slow: list[float]) -> list[float]:
    """Per-repetition ratios slow/fast (how many times faster ``fast`` was in each pair)."""
    return [s / f for f, s in zip(fast, slow)]


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "-"


def parse_answer(answer: str) -> str | None:
    text = answer.lower()
    pos, neg = "positive" in text, "negative" in text
    if pos != neg:
        return "positive" if pos else "negative"
    return None


def log(msg: str) -> None:
    print(f"  .. {msg}", file=sys.stderr, flush=True)


# -- benchmarks ----------------------------------------------------------------------------------


def review_texts(n: int) -> list[tuple[str, str]]:
    """``n`` short labelled reviews: the dev sentiment file's (Amazon/IMDB/Yelp sentences) where
    ``../shared/eval`` is there, else the benchmark's own ``TEXTS`` repeated."""
    path = Path(__file__).resolve().parents[2] / "shared" / "eval" / "sentiment.jsonl"
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if len(rows) >= n:
            return [(r["text"], r["label"]) for r in rows[:n]]
    return [TEXTS[i % len(TEXTS)] for i in range(n)]


def ner_texts(n: int) -> list[str]:
    """The first ``n`` dev NER sentences (``../shared/eval/ner.jsonl``), else the review texts."""
    path = Path(__file__).resolve().parents[2] / "shared" / "eval" / "ner.jsonl"
    if path.is_file():
        return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()][:n]
    return [t for t, _ in review_texts(n)]


def bench_sentiment(m: Any, old: Any, reps: int, n: int = 256) -> dict[str, Any]:
    """The shipped ensemble and ``phrasings=1`` against naive generate-and-parse on the same model (``m``),
    and against the ensemble as it ran before (``old``, float32, in ``before.before``)."""
    labelled = review_texts(n)
    texts = [t for t, _ in labelled]
    gold = [g for _, g in labelled]
    naive_n = n // 4  # one generation per text, in a loop: docs/s does not depend on how many
    outputs: dict[str, list[str | None]] = {}

    def scoring() -> None:
        outputs["scoring"] = [r.label for r in m.sentiment(texts)]

    def one_phrasing() -> None:
        outputs["one_phrasing"] = [r.label for r in m.sentiment(texts, phrasings=1)]

    def naive() -> None:
        outputs["naive"] = [parse_answer(m.chat(QUESTION + t, max_new_tokens=8).text) for t in texts[:naive_n]]

    def separate() -> None:  # before: float32, one engine batch per phrasing, every prompt run in full
        with before(old):
            outputs["separate"] = [r.label for r in old.sentiment(texts)]

    # Warm-up (first calls pay lazy imports and allocator growth).
    m.sentiment(texts[:4])
    with before(old):
        old.sentiment(texts[:4])
    for t in texts[:2]:
        m.chat(QUESTION + t, max_new_tokens=8)
    log(f"sentiment: {reps} interleaved reps x {len(texts)} texts (naive: {naive_n})")
    times = interleaved({"scoring": scoring, "separate": separate, "one_phrasing": one_phrasing, "naive": naive}, reps)
    times["naive"] = [t * n / naive_n for t in times["naive"]]  # as if over all n texts
    med_s, med_n = statistics.median(times["scoring"]), statistics.median(times["naive"])
    med_1 = statistics.median(times["one_phrasing"])
    med_sep = statistics.median(times["separate"])
    acc = {k: sum(p == g for p, g in zip(v, gold)) / len(v) for k, v in outputs.items()}
    unparsed = sum(p is None for p in outputs["naive"])
    return {
        "texts": n, "reps": reps,
        "scoring_docs_per_s": n / med_s, "naive_docs_per_s": n / med_n, "one_phrasing_docs_per_s": n / med_1,
        "speedup": med_n / med_s, "pair_speedups": pair_ratios(times["scoring"], times["naive"]),
        "one_phrasing_speedup": med_n / med_1,
        "separate_docs_per_s": n / med_sep, "batched_vs_separate": med_sep / med_s,
        "batched_vs_separate_pairs": pair_ratios(times["scoring"], times["separate"]),
        "one_phrasing_pair_speedups": pair_ratios(times["one_phrasing"], times["naive"]),
        "accuracy_scoring": acc["scoring"], "accuracy_naive": acc["naive"], "accuracy_before": acc["separate"],
        "accuracy_one_phrasing": acc["one_phrasing"], "naive_unparsed": unparsed,
        "times_s": times,
    }


#: Tasks timed against their run before the throughput work (``before.before``).
BEFORE_AFTER = ("ner", "classify", "answer", "summarize", "translate")
CLASSIFY_LABELS = ["electronics", "food and drink", "travel", "books and films"]
ANSWER_QUESTION = "What does the writer praise or complain about?"
SUMMARIZED = [PASSAGE, " ".join(t for t, _ in TEXTS[:8]), " ".join(t for t, _ in TEXTS[8:16]),
              PASSAGE[: len(PASSAGE) // 2]]


def task_call(task: str) -> tuple[list[str], Callable[[Any], list[Any]]]:
    """The inputs of a before/after comparison, and the call that runs them on a model."""
    if task == "ner":
        sentences = ner_texts(100)
        return sentences, lambda m: [[(e.start, e.end, e.label) for e in r.entities] for r in m.ner(sentences)]
    texts = [t for t, _ in TEXTS]
    if task == "classify":
        return texts, lambda m: [r.label for r in m.classify(texts, labels=CLASSIFY_LABELS)]
    if task == "answer":
        return texts, lambda m: [(r.start, r.end) for r in m.answer(ANSWER_QUESTION, texts)]
    if task == "summarize":
        return SUMMARIZED, lambda m: [r.text for r in m.summarize(SUMMARIZED, max_words=20)]
    return texts[:8], lambda m: [r.text for r in m.translate(texts[:8], target="fr", source="en")]


def bench_before_after(m: Any, old: Any, reps: int, task: str) -> dict[str, Any]:
    """docs/s of a list call on ``m`` against the same call as it ran before (``old``, float32, in
    ``before.before``), interleaved; and the share of inputs on which both give the same result."""
    texts, call = task_call(task)
    outputs: dict[str, Any] = {}

    def now() -> None:
        outputs["now"] = call(m)

    def was() -> None:
        with before(old):
            outputs["before"] = call(old)

    now()  # warm-up
    was()
    log(f"{task}: {reps} interleaved reps x {len(texts)} texts")
    times = interleaved({"now": now, "before": was}, reps)
    med_now, med_before = statistics.median(times["now"]), statistics.median(times["before"])
    same = sum(a == b for a, b in zip(outputs["now"], outputs["before"])) / len(texts)
    return {"texts": len(texts), "reps": reps, "docs_per_s": len(texts) / med_now,
            "before_docs_per_s": len(texts) / med_before, "speedup": med_before / med_now,
            "pair_speedups": pair_ratios(times["now"], times["before"]), "same_results": same, "times_s": times}


def bench_beams(m: Any, reps: int) -> dict[str, Any]:
    """Seconds for 8 translations (en->fr) and 4 summaries, 4 beams vs num_beams=1, interleaved."""
    texts = [t for t, _ in TEXTS[:8]]
    story = " ".join(texts)

    def work(beams: int) -> Callable[[], None]:
        def run() -> None:
            m.translate(texts, target="fr", source="en", num_beams=beams)
            m.summarize([story, story[: len(story) // 2], " ".join(texts[4:]), " ".join(texts[:4])],
                        max_words=20, num_beams=beams)
        return run

    m.translate(texts[:2], target="fr", source="en", num_beams=1)  # warm-up
    log(f"beams: {reps} interleaved reps x (8 translations + 4 summaries)")
    times = interleaved({"beams": work(4), "greedy": work(1)}, reps)
    med_b, med_g = statistics.median(times["beams"]), statistics.median(times["greedy"])
    return {"reps": reps, "beams_s": med_b, "greedy_s": med_g, "slowdown": med_b / med_g,
            "pair_slowdowns": pair_ratios(times["greedy"], times["beams"]), "times_s": times}


def bench_decode(m: Any, n_new: int, reps: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM

    from llamatasks.engine.base import GenerateRequest, GenerationOptions

    ids = m.tokenizer.encode(PASSAGE)
    if len(ids) < PROMPT_TOKENS + 7 * 4:
        raise SystemExit(f"passage too short: {len(ids)} tokens")
    prompt = ids[:PROMPT_TOKENS]
    batch = [ids[4 * i: 4 * i + PROMPT_TOKENS] for i in range(8)]  # 8 distinct, equal-length prompts
    opts = GenerationOptions(max_new_tokens=n_new, stop_token_ids=())

    hf = AutoModelForCausalLM.from_pretrained(m.source.path, dtype=getattr(torch, m.engine.dtype)).eval()  # same dtype
    input_ids = torch.tensor([prompt])
    attention_mask = torch.ones_like(input_ids)
    outputs: dict[str, Any] = {}

    def engine_b1() -> None:
        outputs["engine_b1"] = m.engine.generate(GenerateRequest.of([prompt], opts))

    def hf_b1() -> None:
        with torch.inference_mode():
            out = hf.generate(input_ids, attention_mask=attention_mask, max_new_tokens=n_new,
                              do_sample=False, min_new_tokens=n_new)
        outputs["hf_b1"] = out[0, input_ids.shape[1]:].tolist()

    def engine_b8() -> None:
        outputs["engine_b8"] = m.engine.generate(GenerateRequest.of(batch, opts))

    # Warm-up with a few tokens each.
    m.engine.generate(GenerateRequest.of([prompt], GenerationOptions(max_new_tokens=4, stop_token_ids=())))
    with torch.inference_mode():
        hf.generate(input_ids, attention_mask=attention_mask, max_new_tokens=4, do_sample=False, min_new_tokens=4)
    m.engine.generate(GenerateRequest.of(batch, GenerationOptions(max_new_tokens=4, stop_token_ids=())))

    log(f"decode: {reps} interleaved reps, {n_new} new tokens, prompt {len(prompt)} tokens")
    times = interleaved({"engine_b1": engine_b1, "hf_b1": hf_b1, "engine_b8": engine_b8}, reps)

    got_b1 = len(outputs["engine_b1"][0].token_ids)
    got_b8 = sum(len(o.token_ids) for o in outputs["engine_b8"])
    problems = []
    if got_b1 != n_new:
        problems.append(f"engine batch-1 produced {got_b1}/{n_new} tokens")
    if got_b8 != 8 * n_new:
        problems.append(f"engine batch-8 produced {got_b8}/{8 * n_new} tokens")
    same = outputs["engine_b1"][0].token_ids == outputs["hf_b1"]
    if not same:
        problems.append("engine and transformers greedy outputs differ")
    med = {k: statistics.median(v) for k, v in times.items()}
    del hf
    return {
        "new_tokens": n_new, "prompt_tokens": len(prompt), "reps": reps,
        "engine_b1_tok_per_s": got_b1 / med["engine_b1"],
        "hf_b1_tok_per_s": len(outputs["hf_b1"]) / med["hf_b1"],
        "engine_vs_hf": (got_b1 / med["engine_b1"]) / (len(outputs["hf_b1"]) / med["hf_b1"]),
        "pair_ratios_engine_vs_hf": pair_ratios(times["engine_b1"], times["hf_b1"]),
        "engine_b8_total_tok_per_s": got_b8 / med["engine_b8"],
        "b8_vs_b1": (got_b8 / med["engine_b8"]) / (got_b1 / med["engine_b1"]),
        "outputs_identical": same, "problems": problems, "times_s": times,
    }


def _load_once(cache: Path, threads: int) -> float:
    env = dict(os.environ, LLAMATASKS_CACHE=str(cache), LLAMATASKS_NO_PROGRESS="1",
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.pop("LLAMATASKS_MODEL", None)  # always the embedded default
    proc = subprocess.run([sys.executable, "-c", LOAD_CHILD, str(threads)], env=env,
                          capture_output=True, text=True, timeout=600)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT "):])
            if not Path(result["path"]).resolve().is_relative_to(cache.resolve()):
                raise RuntimeError(f"load() used {result['path']}, not the benchmark cache {cache}")
            return float(result["seconds"])
    raise RuntimeError(f"load subprocess failed (rc={proc.returncode}):\n{proc.stderr[-2000:]}")


def bench_load(reps: int, threads: int) -> dict[str, Any]:
    cold: list[float] = []
    cached: list[float] = []
    log(f"load: {reps} x (cold, cached) subprocess pairs")
    for _ in range(reps):
        cache = Path(tempfile.mkdtemp(prefix="llamatasks-bench-cache-"))
        try:
            cold.append(_load_once(cache, threads))    # empty cache: converts the GGUF
            cached.append(_load_once(cache, threads))  # same cache: reads the safetensors folder
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    med_cold, med_cached = statistics.median(cold), statistics.median(cached)
    return {"reps": reps, "cold_s": med_cold, "cached_s": med_cached, "cold_over_cached": med_cold / med_cached,
            "pair_ratios": pair_ratios(cached, cold), "times_s": {"cold": cold, "cached": cached}}


# -- report --------------------------------------------------------------------------------------


def table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(env: dict[str, Any], res: dict[str, Any]) -> str:
    out = [
        f"llamatasks core benchmark  ({env['mode']} mode, {env['model']})",
        f"torch {env['torch']}  transformers {env['transformers']}  python {env['python']}",
        f"threads {env['threads']} (torch default {env['torch_default_threads']})  cpus {env['cpus']}  "
        f"cpu: {env['cpu']}",
        f"dtype {env.get('dtype', '-')} (CPU bf16 kernels: {env.get('bf16_kernels', '-')})",
        f"load average at start {env['loadavg_start']}  at end {env.get('loadavg_end', '?')}",
        "",
    ]
    rows: list[tuple[str, ...]] = [("metric", "llamatasks", "baseline", "ratio", "per-rep ratios")]
    if "sentiment" in res:
        s = res["sentiment"]
        rows.append((f"sentiment docs/s ({s['texts']} texts, x{s['reps']})", f"{s['scoring_docs_per_s']:.2f}",
                     f"{s['naive_docs_per_s']:.2f}", f"{s['speedup']:.2f}x", spread(s["pair_speedups"])))
        rows.append((f"sentiment docs/s, phrasings=1 ({s['texts']} texts, x{s['reps']})",
                     f"{s['one_phrasing_docs_per_s']:.2f}", f"{s['naive_docs_per_s']:.2f}",
                     f"{s['one_phrasing_speedup']:.2f}x", spread(s["one_phrasing_pair_speedups"])))
        rows.append(("sentiment docs/s, shipped ensemble vs before", f"{s['scoring_docs_per_s']:.2f}",
                     f"{s['separate_docs_per_s']:.2f}", f"{s['batched_vs_separate']:.2f}x",
                     spread(s["batched_vs_separate_pairs"])))
    for task in BEFORE_AFTER:
        if task in res:
            t = res[task]
            rows.append((f"{task} docs/s ({t['texts']} texts, x{t['reps']}) vs before", f"{t['docs_per_s']:.2f}",
                         f"{t['before_docs_per_s']:.2f}", f"{t['speedup']:.2f}x", spread(t["pair_speedups"])))
    if "decode" in res:
        d = res["decode"]
        rows.append((f"decode tok/s batch 1 (N={d['new_tokens']}, x{d['reps']})", f"{d['engine_b1_tok_per_s']:.1f}",
                     f"{d['hf_b1_tok_per_s']:.1f}", f"{d['engine_vs_hf']:.2f}x",
                     spread(d["pair_ratios_engine_vs_hf"])))
        rows.append(("decode tok/s batch 8, total (vs own batch 1)", f"{d['engine_b8_total_tok_per_s']:.1f}",
                     f"{d['engine_b1_tok_per_s']:.1f}", f"{d['b8_vs_b1']:.2f}x", "-"))
    if "beams" in res:
        b = res["beams"]
        rows.append((f"seconds: 8 translations + 4 summaries, 4 beams vs greedy (x{b['reps']})", f"{b['beams_s']:.1f}",
                     f"{b['greedy_s']:.1f}", f"{b['slowdown']:.2f}x slower", spread(b["pair_slowdowns"])))
    if "load" in res:
        ld = res["load"]
        rows.append((f"load seconds: cached vs cold (x{ld['reps']})", f"{ld['cached_s']:.2f}",
                     f"{ld['cold_s']:.2f}", f"{ld['cold_over_cached']:.2f}x", spread(ld["pair_ratios"])))
    out.append(table(rows))
    out += ["", "baselines: sentiment = m.chat(question + text, max_new_tokens=8) per text, parsed;",
            "           decode = transformers AutoModelForCausalLM.generate on m.source.path (the engine's dtype);",
            "           load = cold llamatasks.load() into an empty LLAMATASKS_CACHE (GGUF conversion).",
            "           beams = the same translate/summarize calls with num_beams=1 (greedy); that row is a cost.",
            "           before = the same call as before the throughput work (bench/before.py): float32, no",
            "                    prefix reuse, the old batches and prompts; sentiment's 'before' row likewise.",
            "ratio > 1 means llamatasks (first column) is faster; medians of interleaved repetitions."]
    if "sentiment" in res:
        s = res["sentiment"]
        out.append(f"sentiment accuracy on the benchmark texts: scoring {s['accuracy_scoring']:.2f} "
                   f"(phrasings=1: {s['accuracy_one_phrasing']:.2f}, before: {s['accuracy_before']:.2f}), "
                   f"naive {s['accuracy_naive']:.2f} ({s['naive_unparsed']} naive answers were neither positive nor negative)")
    if "decode" in res:
        d = res["decode"]
        out.append(f"decode: greedy outputs identical to transformers: {'yes' if d['outputs_identical'] else 'NO'}")
        for p in d["problems"]:
            out.append(f"WARNING: {p}")
    for task in BEFORE_AFTER:
        if task in res:
            out.append(f"{task}: the same result as before on {res[task]['same_results']:.0%} of inputs "
                       f"({env.get('dtype', 'float32')} and the new prompts vs float32 and the old)")
    out.append(f"wall time {env['wall_s']:.0f} s")
    return "\n".join(out)


PARTS = ("sentiment", *BEFORE_AFTER, "decode", "beams", "load")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short run (fewer repetitions, 32 new tokens)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (default 0: torch's own default, what a user's process gets; use 1 "
                         "on a machine busy with other jobs, where OpenMP threads that share cores spin)")
    ap.add_argument("--dtype", default="auto", choices=("auto", "float32", "bfloat16"),
                    help="the torch backend's dtype (auto: bfloat16 where the CPU has native bf16 kernels)")
    ap.add_argument("--only", choices=PARTS, action="append",
                    help="run only these parts (repeatable)")
    args = ap.parse_args(argv)
    parts = args.only or list(PARTS)
    quick = args.quick
    started = time.perf_counter()

    os.environ.setdefault("LLAMATASKS_NO_PROGRESS", "1")
    import torch
    import transformers

    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads or default_threads)
    import llamatasks

    env: dict[str, Any] = {
        "mode": "quick" if quick else "default", "torch": torch.__version__, "transformers": transformers.__version__,
        "python": platform.python_version(), "threads": torch.get_num_threads(),
        "torch_default_threads": default_threads, "cpus": os.cpu_count(), "cpu": cpu_model(),
        "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()), "llamatasks": llamatasks.__version__,
    }
    results: dict[str, Any] = {}
    m = None
    if set(parts) - {"load"}:
        t0 = time.perf_counter()
        m = llamatasks.load(dtype=args.dtype)
        from llamatasks.backends.torch_backend import cpu_bf16

        env["dtype"], env["bf16_kernels"] = m.engine.dtype, cpu_bf16() or "none"
        env["model"] = m.profile.name
        env["model_path"] = str(m.source.path)
        log(f"loaded {m!r} in {time.perf_counter() - t0:.1f} s")
    else:
        env["model"] = "SmolLM2-135M-Instruct"
    old = llamatasks.load(dtype="float32") if set(parts) & {"sentiment", *BEFORE_AFTER} else None
    if "sentiment" in parts:
        results["sentiment"] = bench_sentiment(m, old, reps=2 if quick else 3)
    for task in BEFORE_AFTER:
        if task in parts:
            results[task] = bench_before_after(m, old, reps=2 if quick else 3, task=task)
    if "decode" in parts:
        results["decode"] = bench_decode(m, n_new=32 if quick else 64, reps=2 if quick else 4)
    if "beams" in parts:
        results["beams"] = bench_beams(m, reps=2 if quick else 3)
    if "load" in parts:
        results["load"] = bench_load(reps=1 if quick else 2, threads=torch.get_num_threads())

    env["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    env["wall_s"] = time.perf_counter() - started
    print(report(env, results))
    if args.json:
        Path(args.json).write_text(json.dumps({"env": env, "results": results}, indent=2) + "\n")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
