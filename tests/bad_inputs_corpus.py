"""Data and machinery for ``test_bad_inputs.py``: the bad-input corpus, bad model folders, a bounded runner.

What every case must end in:

* **API**: an exception that is a ``LlamaTasksError``; or, where the input is odd
  but legal (emoji, right-to-left text, a huge label...), a valid result whose
  invariants hold (``check_result``). Inputs that are plainly unusable (empty,
  None, bytes, a lone surrogate...) must raise.
* **CLI**: exit status 2, exactly one ``error:`` line on stderr, no traceback
  anywhere (``check_cli``).
* **Never a hang**: each API call runs in a worker process (``Worker``) and each
  CLI command in a subprocess, under a per-case time bound. A worker that does
  not answer in time is killed (a thread could not be), so a runaway case cannot
  slow down or deadlock the cases after it. The bound guards hangs only: it is
  not a performance assertion.

Sizes of the large inputs, on the tiny random-weight model (2 layers, 8192-token
context), and why (times measured on 2 busy cores):

* ``ner``: 1 MB of mixed-script text (~5 s: linear, its cost is the sentences it labels).
* the single 200,000-character token (``"a" * 200_000``): ner, classify, sentiment,
  summarize, chat and answer (answer is the slowest, ~11 s: its substring constraint
  walks 50,000 identical tokens).
* ``classify``, ``sentiment`` (with ``phrasings=1``: each phrasing rescores every
  chunk, 4 phrasings of 1 MB take minutes) and ``chat``: 200 kB of sentences;
  ``summarize`` and ``answer``: 50 kB (both generate per chunk, map-reduce: 200 kB
  took 13 s and 8 s).
* ``translate``: 600 characters of sentences and a 300-character token. A
  random-weight model never emits a stop token, so translate generates its full
  budget (2 x piece + 16 tokens) for every piece: the cost is output the tiny
  model cannot stop, not input handling (20 kB took 73 s; ``"a" * 200_000`` ran
  for more than 8 minutes before it was stopped).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# -- the corpus ------------------------------------------------------------------

#: Inputs no task can use: each must raise a LlamaTasksError.
BAD_TEXTS: dict[str, Any] = {
    "empty": "",
    "whitespace": " \t\n\r\u3000\u00a0 ",
    "none": None,
    "bytes": b"Alice went to Paris.",
    "bytearray": bytearray(b"Alice went to Paris."),
    "int": 42,
    "float-nan": float("nan"),
    "bool": True,
    "list-of-int": [1, 2, 3],
    "dict": {"text": "Alice went to Paris."},
    "set": {"Alice went to Paris."},
    "iterator": iter(["Alice went to Paris."]),
    "empty-list": [],
    "list-with-empty": ["Alice went to Paris.", ""],
    "list-with-none": ["Alice went to Paris.", None],
    "list-with-bytes": ["Alice went to Paris.", b"bytes"],
    "nul-only": "\x00",
    "nuls-and-spaces": "\x00 \x00\t\x00",
    "zero-width-only": "\u200b\u200c\u200d\u2060\ufeff",
    "lone-high-surrogate": "Alice \ud800 went to Paris.",
    "lone-low-surrogate": "caf\udce9 au lait",  # what errors="surrogateescape" makes of invalid UTF-8
    "list-with-surrogate": ["Alice went to Paris.", "bad \udfff"],
}

#: Odd but legal text: a valid result (invariants checked) or a LlamaTasksError.
ODD_TEXTS: dict[str, str] = {
    "emoji": "I love 🍕 and 👩🏽‍💻 coding in Paris 🇫🇷 with Alice 😀!",
    "emoji-only": "😀😃😄🎉",
    "rtl-arabic-hebrew": "ذهب محمد إلى القاهرة. דוד גר בירושלים.",
    "bidi-controls": "Alice paid \u202e0001$\u202c to Bob \u2067Smith\u2069 in Paris.",
    "zero-width-in-words": "Ba\u200brack Oba\u200dma visited Pa\u00adris and Ber\u2060lin.",
    "combining-marks": "Zoe\u0301 Saldan\u0303a met Rene\u0301e in Montre\u0301al.",
    "zalgo": "A\u0338\u0322\u031bl\u0337\u032ai\u0336c\u0335e\u0334 went to P\u0335a\u0336r\u0337i\u0338s\u0334.",
    "mixed-scripts": "Tokyo 東京, Москва, Αθήνα, القاهرة and Mumbai मुंबई are cities.",
    "cjk": "李明在北京大学学习。他喜欢东京。",
    "nul-inside": "Alice\x00 Smith went to Paris.\x00",
    "control-chars": "\x1b[31mAlice\x1b[0m went to \x07Paris\x08.\r\n",
    "special-token-strings": "Alice <|eot_id|> went <|im_end|> to </s> Paris <s> [INST] <|begin_of_text|>",
    "crlf-tabs": "Alice\tSmith\r\nwent to\r\nParis.",
    "single-char": "A",
    "punctuation-only": "?!.,;:",
    "surrounding-newlines": "\n\n\nAlice went to Paris.\n\n\n",
    "variation-selectors": "☺︎ ☺️ Alice ✈️ Paris",
    "bom-prefix": "\ufeffAlice went to Paris.",
}

#: The odd texts the slower generating tasks get (every odd text goes to ner and classify).
ODD_SUBSET = ("emoji", "rtl-arabic-hebrew", "zero-width-in-words", "combining-marks", "mixed-scripts",
              "nul-inside", "special-token-strings")
#: translate and summarize generate their whole budget on the tiny model: fewer odd texts still.
ODD_TRANSLATE = ("emoji", "rtl-arabic-hebrew", "zero-width-in-words", "special-token-strings")

CONTROL_STRINGS = ("<|eot_id|>", "</s>", "<s>", "<|im_end|>")
HUGE_LABEL = "x" * 10_000
SENTENCE = "Alice Smith met Bob Jones in Paris on Monday. "
MIXED_UNIT = " ".join(ODD_TEXTS[k] for k in ODD_SUBSET) + "\n"


def repeat_to(unit: str, size: int) -> str:
    """``unit`` repeated and cut to exactly ``size`` characters."""
    return (unit * (size // len(unit) + 1))[:size]


#: Invalid UTF-8: a stray continuation byte, 0xff, a truncated sequence, an encoded surrogate, an overlong slash.
INVALID_UTF8 = b"Alice went to Par\xff\xfeis. caf\xe9 \xc3\x28 \xed\xa0\x80 \xc0\xaf\n"


# -- calls and references (resolved at run time: paths come from fixtures) ------------


@dataclass(frozen=True)
class Tiny:
    """A tiny checkpoint, loaded once per worker on the CPU (``load_options`` such as max_context)."""

    kind: str = "chatml"
    load_options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class TinyPath:
    """The path (a string) of a tiny checkpoint, for calls that take a path."""

    kind: str = "chatml"


@dataclass(frozen=True)
class Bad:
    """The path (a string) of one of the bad model folders/files built by ``build_bad_models``."""

    name: str


@dataclass(frozen=True)
class Call:
    """One public call: ``llamatasks.<func>(*args, **kwargs)`` (``run_redact``: the redact plugin's function)."""

    func: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """A call and what must come of it: ``error`` (a LlamaTasksError) or ``either`` (that, or a valid result)."""

    id: str
    call: Call
    expect: str = "error"
    timeout: float = 60.0


def resolve_refs(value: Any, paths: Mapping[str, str]) -> Any:
    """``value`` with ``TinyPath``/``Bad`` references replaced by path strings (``Tiny`` stays for the worker)."""
    if isinstance(value, TinyPath):
        return paths[f"tiny:{value.kind}"]
    if isinstance(value, Bad):
        return paths[f"bad:{value.name}"]
    if isinstance(value, tuple):
        return tuple(resolve_refs(v, paths) for v in value)
    if isinstance(value, list):
        return [resolve_refs(v, paths) for v in value]
    if isinstance(value, dict):
        return {k: resolve_refs(v, paths) for k, v in value.items()}
    return value


# -- the worker process ---------------------------------------------------------------


def serve(conn: Any, paths: dict[str, str]) -> None:
    """Worker loop: receive a ``Call``, run it, send back what happened (see ``_outcome``)."""
    os.environ["LLAMATASKS_NO_PROGRESS"] = "1"
    import warnings

    warnings.simplefilter("ignore")
    import llamatasks

    models: dict[Tiny, Any] = {}

    def model_of(ref: Tiny) -> Any:
        if ref not in models:
            models[ref] = llamatasks.load(paths[f"tiny:{ref.kind}"], device="cpu", **dict(ref.load_options))
        return models[ref]

    model_of(Tiny())  # warm up (torch import, first load) outside any case's time bound
    conn.send("ready")
    while True:
        call = conn.recv()
        if call is None:
            return
        started = time.perf_counter()
        outcome = _outcome(call, model_of)
        outcome["seconds"] = time.perf_counter() - started
        try:
            conn.send(outcome)
        except Exception as exc:  # a result that does not pickle: say so rather than die
            conn.send({"status": "unpicklable", "repr": f"{type(exc).__name__}: {exc}",
                       "seconds": outcome["seconds"]})


def _with_models(value: Any, model_of: Callable[[Tiny], Any]) -> Any:
    if isinstance(value, Tiny):
        return model_of(value)
    if isinstance(value, dict):
        return {k: _with_models(v, model_of) for k, v in value.items()}
    return value


def _outcome(call: Call, model_of: Callable[[Tiny], Any]) -> dict[str, Any]:
    import llamatasks
    from llamatasks.errors import LlamaTasksError

    kwargs = _with_models(dict(call.kwargs), model_of)
    try:
        if call.func == "run_redact":
            from llamatasks_redact.task import redact

            value = redact(*call.args, **kwargs)
        else:
            value = getattr(llamatasks, call.func)(*call.args, **kwargs)
        if isinstance(value, llamatasks.Model):  # a loaded model: describe it, free it
            described = repr(value)
            value.engine.close()
            return {"status": "ok", "result": described}
        return {"status": "ok", "result": value}
    except BaseException as exc:  # noqa: BLE001 - SystemExit or KeyboardInterrupt from a task is a finding too
        return {"status": "raised", "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "llamatasks": isinstance(exc, LlamaTasksError), "message": str(exc),
                "hint": getattr(exc, "hint", None),
                "traceback": "".join(traceback.format_exception(exc))}


class Worker:
    """A worker process that runs calls one at a time under a time bound, restarted after a hang or a crash."""

    def __init__(self, paths: dict[str, str], startup_timeout: float = 240.0) -> None:
        self.paths = paths
        self.startup_timeout = startup_timeout
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=serve, args=(child, self.paths), daemon=True)
        self._process.start()
        child.close()
        self._conn = parent
        try:
            ready = parent.recv() if parent.poll(self.startup_timeout) else None
        except (EOFError, OSError):
            ready = None
        if ready != "ready":
            code = self._process.exitcode
            self.stop()
            raise RuntimeError(f"the worker did not start in {self.startup_timeout:.0f} s (exit code {code})")

    def call(self, call: Call, timeout: float) -> dict[str, Any]:
        """What ``call`` did: ``status`` ok/raised/unpicklable, or ``hang`` or ``died``; ``seconds`` it took."""
        if self._process is None or not self._process.is_alive():
            self._start()
        started = time.perf_counter()
        self._conn.send(call)
        try:
            answered = self._conn.poll(timeout)
            reply = self._conn.recv() if answered else None
        except (EOFError, OSError):
            code = self._process.exitcode
            self.stop()
            return {"status": "died", "exitcode": code, "seconds": time.perf_counter() - started}
        if reply is None:
            self.stop()
            return {"status": "hang", "seconds": time.perf_counter() - started}
        return reply

    def stop(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                try:
                    self._conn.send(None)
                except OSError:
                    pass
                self._process.join(2)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(5)
        self._process = self._conn = None


# -- what a valid result must satisfy ------------------------------------------------------


def _texts_of(call: Call) -> tuple[list[Any], bool]:
    """The input texts of a task call and whether one text (not a list) was passed."""
    if call.func == "answer":
        given = call.args[1] if len(call.args) > 1 else call.kwargs.get("context")
    elif call.func == "run":
        given = call.args[1]
    else:
        given = call.args[0] if call.args else None
    if isinstance(given, str):
        return [given], True
    return list(given) if isinstance(given, (list, tuple)) else [given], False


def _task_of(call: Call) -> str:
    if call.func == "run":
        return str(call.args[0])
    return "redact" if call.func == "run_redact" else call.func


def check_result(call: Call, result: Any) -> list[str]:
    """Broken invariants of a successful call's result (empty: all hold)."""
    task = _task_of(call)
    if call.func in ("load", "get_model"):
        return [] if isinstance(result, str) and result.startswith("<llamatasks.Model") else [f"got {result!r:.200}"]
    texts, single = _texts_of(call)
    results = [result] if single else result
    if not isinstance(results, list) or len(results) != len(texts):
        return [f"expected {'one result' if single else f'a list of {len(texts)} results'}, got {result!r:.300}"]
    checker = _CHECKERS.get(task)
    if checker is None:
        return []
    problems = []
    for i, (text, one) in enumerate(zip(texts, results)):
        problems += [f"[{i}] {p}" if not single else p for p in checker(text, one, call.kwargs)]
    return problems


def _check_entities(text: str, result: Any, options: Mapping[str, Any]) -> list[str]:
    from llamatasks.tasks.ner import DEFAULT_LABELS

    labels = options.get("labels")
    allowed = set(DEFAULT_LABELS if labels is None else labels)
    problems, last = [], -1
    for e in result.entities:
        where = f"entity {e.text!r:.60} [{e.start}:{e.end}]"
        if not 0 <= e.start < e.end <= len(text):
            problems.append(f"{where} lies outside the text (length {len(text)})")
        elif text[e.start:e.end] != e.text:
            problems.append(f"{where}: text[start:end] is {text[e.start:e.end]!r:.60}, not the entity text")
        if e.label not in allowed:
            problems.append(f"{where} has label {e.label!r:.60}, not one requested ({sorted(allowed)!r:.200})")
        if not 0.0 <= e.score <= 1.0:
            problems.append(f"{where} has score {e.score}")
        if e.start < last:
            problems.append(f"{where} is out of order")
        last = e.start
    return problems[:5]


def _check_distribution(labels: Sequence[str]) -> Callable[[str, Any, Mapping[str, Any]], list[str]]:
    def check(text: str, result: Any, options: Mapping[str, Any]) -> list[str]:
        wanted = list(options.get("labels") or labels)
        scores = result.scores
        problems = []
        if sorted(scores) != sorted(wanted):
            problems.append(f"scores are for {sorted(scores)!r:.200}, not the labels {sorted(wanted)!r:.200}")
        values = list(scores.values())
        if not all(isinstance(v, float) and math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
            problems.append(f"a score is not a probability: {scores!r:.300}")
        elif abs(sum(values) - 1.0) > 1e-6:
            problems.append(f"scores sum to {sum(values)!r}, not 1")
        if scores and result.label != max(scores, key=scores.__getitem__):
            problems.append(f"label {result.label!r:.60} is not the most probable of {scores!r:.300}")
        if result.label in scores and abs(result.score - scores[result.label]) > 1e-9:
            problems.append(f"score {result.score} is not scores[label] {scores[result.label]}")
        return problems

    return check


def _check_summary(text: str, result: Any, options: Mapping[str, Any]) -> list[str]:
    from llamatasks.tasks.summarize import SummarizeOptions, word_count

    budget = options.get("max_words") or SummarizeOptions().max_words
    problems = []
    if result.words > budget:
        problems.append(f"words={result.words} > max_words={budget}")
    if word_count(result.text) > budget:
        problems.append(f"the summary has {word_count(result.text)} words > max_words={budget}: {result.text!r:.200}")
    return problems + _valid_unicode(result.text)


def _check_answer(context: str, result: Any, options: Mapping[str, Any]) -> list[str]:
    if not result.found:
        return []
    if not 0 <= result.start <= result.end <= len(context):
        return [f"answer [{result.start}:{result.end}] lies outside the context (length {len(context)})"]
    if context[result.start:result.end] != result.text:
        return [f"context[{result.start}:{result.end}] is {context[result.start:result.end]!r:.60}, "
                f"not the answer {result.text!r:.60}"]
    return []


def _check_generation(text: str, result: Any, options: Mapping[str, Any]) -> list[str]:
    problems = _valid_unicode(result.text)
    if result.finish_reason not in ("stop", "length"):
        problems.append(f"finish_reason {result.finish_reason!r}")
    budget = options.get("max_new_tokens")
    if budget is not None and result.provenance.tokens_out > budget:
        problems.append(f"tokens_out={result.provenance.tokens_out} > max_new_tokens={budget}")
    return problems


def _check_translation(text: str, result: Any, options: Mapping[str, Any]) -> list[str]:
    return _valid_unicode(result.text)


def _check_redaction(text: str, result: Any, options: Mapping[str, Any]) -> list[str]:
    return _valid_unicode(result.text)


def _valid_unicode(text: str) -> list[str]:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return [f"the output is not valid Unicode: {exc}"]
    return []


_CHECKERS: dict[str, Callable[[str, Any, Mapping[str, Any]], list[str]]] = {
    "ner": _check_entities,
    "sentiment": _check_distribution(("positive", "negative")),
    "classify": _check_distribution(()),
    "summarize": _check_summary,
    "answer": _check_answer,
    "chat": _check_generation,
    "translate": _check_translation,
    "redact": _check_redaction,
}


def describe_failure(case: Case, outcome: Mapping[str, Any]) -> str | None:
    """Why ``outcome`` breaks ``case``'s contract, in a line or two; None when it keeps it."""
    status = outcome["status"]
    took = f"{outcome.get('seconds', 0.0):.1f} s"
    if status == "hang":
        return f"no answer within {case.timeout:.0f} s (hang, or far too slow); the worker was killed"
    if status == "died":
        return f"the worker process died (exit code {outcome.get('exitcode')}) after {took}"
    if status == "unpicklable":
        return f"returned a result that cannot be pickled: {outcome['repr']}"
    if status == "raised":
        if outcome["llamatasks"]:
            return None if outcome["message"] else f"{outcome['type']} with an empty message"
        last = outcome["traceback"].strip().splitlines()[-1]
        frames = [line.strip() for line in outcome["traceback"].splitlines() if line.strip().startswith("File ")]
        return f"raised {outcome['type']} (not a LlamaTasksError) after {took}: {last}\n  at {frames[-1] if frames else '?'}"
    if case.expect == "error":
        return f"returned a result instead of raising a LlamaTasksError: {outcome['result']!r:.300}"
    problems = check_result(case.call, outcome["result"])
    return "; ".join(problems) if problems else None


# -- the command line --------------------------------------------------------------


@dataclass(frozen=True)
class CliCase:
    """``llamatasks <args>``: ``{name}`` placeholders in args are paths; ``stdin`` bytes; extra ``env``.

    ``expect``: ``error`` (exit 2 with one ``error:`` line), or ``either`` (that, or exit 0);
    ``json_text``: with ``either`` and ``--json``, the text whose ner offsets the output must match.
    """

    id: str
    args: tuple[str, ...]
    stdin: bytes = b""
    env: tuple[tuple[str, str], ...] = ()
    expect: str = "error"
    json_text: str | None = None
    timeout: float = 120.0


def check_cli(case: CliCase, returncode: int, stdout: str, stderr: str) -> str | None:
    """Why a finished command breaks the CLI contract; None when it keeps it."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    tail = (stderr.strip().splitlines() or [""])[-1]
    if "Traceback" in stdout or "Traceback" in stderr:
        return f"printed a traceback (exit {returncode}); its last line: {tail}"
    if case.expect == "either" and returncode == 0:
        return _check_cli_json(case, stdout)
    if returncode != 2:
        return f"exit status {returncode}, not 2; stderr ends: {tail[:300]}"
    if len(errors) != 1:
        shown = " | ".join(line.strip() for line in stderr.strip().splitlines()[-6:])
        return f"exit 2 but {len(errors)} 'error:' lines on stderr; stderr: {shown[:500]}"
    return None


def _check_cli_json(case: CliCase, stdout: str) -> str | None:
    if case.json_text is None:
        return None
    try:
        entities = json.loads(stdout)["entities"]
    except (ValueError, KeyError, TypeError) as exc:
        return f"exit 0 but stdout is not the ner JSON ({exc}): {stdout[:200]!r}"
    text = case.json_text
    bad = [e for e in entities if not (0 <= e["start"] < e["end"] <= len(text) and text[e["start"]:e["end"]] == e["text"])]
    return f"entities whose offsets do not match the text: {bad[:3]}" if bad else None


# -- bad model folders and files ------------------------------------------------------


def build_bad_models(good: Path, root: Path) -> dict[str, Path]:
    """Broken copies of the tiny checkpoint ``good`` (and files posing as models) under ``root``, by name."""
    root.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {"missing": root / "does-not-exist"}
    config = json.loads((good / "config.json").read_text(encoding="utf-8"))

    def copy(name: str, *, without: Sequence[str] = (), files: Mapping[str, bytes | str] = {}) -> None:
        folder = root / name
        folder.mkdir()
        for item in good.iterdir():
            if item.name not in without and item.name not in files:
                (folder / item.name).symlink_to(item)  # the weights are read, never written
        for file_name, content in files.items():
            data = content.encode("utf-8") if isinstance(content, str) else content
            (folder / file_name).write_bytes(data)
        made[name] = folder

    def configured(**changes: Any) -> str:
        return json.dumps({**config, **changes})

    (root / "model.txt").write_text("not a model\n", encoding="utf-8")
    made["file-not-folder"] = root / "model.txt"
    copy("empty-folder", without=[item.name for item in good.iterdir()])
    copy("config-missing", without=["config.json"])
    copy("config-invalid-json", files={"config.json": '{"model_type": "llama", "hidden_size": 64,'})
    copy("config-json-list", files={"config.json": "[1, 2, 3]"})
    copy("config-json-string", files={"config.json": '"llama"'})
    copy("config-invalid-utf8", files={"config.json": b'{"model_type": "llama\xff"}'})
    copy("config-wrong-types", files={"config.json": configured(
        hidden_size="sixty-four", num_hidden_layers="two", max_position_embeddings="long")})
    copy("config-nulls", files={"config.json": configured(
        max_position_embeddings=None, vocab_size=None, num_attention_heads=None, eos_token_id="end")})
    copy("config-bad-values", files={"config.json": configured(
        num_attention_heads=0, max_position_embeddings=-1, rope_scaling="yes")})
    copy("config-model-type-int", files={"config.json": configured(model_type=42, architectures="LlamaForCausalLM")})
    copy("not-llama", files={"config.json": configured(model_type="gpt2", architectures=["GPT2LMHeadModel"])})
    copy("no-weights", without=["model.safetensors"])
    copy("pickle-only-weights", without=["model.safetensors"], files={"pytorch_model.bin": _pickled_weights(good)})
    size = (good / "model.safetensors").stat().st_size
    with (good / "model.safetensors").open("rb") as fh:
        head = fh.read(size // 3)
    copy("truncated-safetensors", files={"model.safetensors": head})
    copy("garbage-safetensors", files={"model.safetensors": b"this is not a safetensors file\n" * 4})
    copy("tokenizer-missing", without=["tokenizer.json", "tokenizer_config.json"])
    copy("tokenizer-invalid-json", files={"tokenizer.json": "{broken"})
    copy("config-is-folder", without=["config.json"])
    (made["config-is-folder"] / "config.json").mkdir()
    for name, data in (("gguf-not-gguf", b"this is not a GGUF file\n" * 10), ("gguf-empty", b""),
                       ("gguf-truncated-header", b"GGUF\x03\x00\x00\x00\xff\xff\xff\xff")):
        (root / f"{name}.gguf").write_bytes(data)
        made[name] = root / f"{name}.gguf"
    return made


def _pickled_weights(good: Path) -> bytes:
    """The tiny checkpoint's real weights as a pickle (``torch.save``): loadable, but refused by policy."""
    import io

    import torch
    from safetensors.torch import load_file

    buffer = io.BytesIO()
    torch.save(load_file(str(good / "model.safetensors")), buffer)
    return buffer.getvalue()


def write_files(root: Path) -> dict[str, Path]:
    """The text and JSONL files the CLI cases read, by name."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        "invalid-utf8.txt": INVALID_UTF8,
        "eval-bad-json.jsonl": b'{"text": "Great movie!", "label": "positive"}\n{not json\n',
        "eval-invalid-utf8.jsonl": b'{"text": "caf\xe9", "label": "positive"}\n',
        "eval-ok.jsonl": b'{"text": "Great movie!", "label": "positive"}\n{"text": "Awful.", "label": "negative"}\n',
        "eval-wrong-fields.jsonl": b'{"text": 42, "label": ["positive"]}\n',
    }
    made = {}
    for name, data in files.items():
        (root / name).write_bytes(data)
        made[name] = root / name
    made["missing.txt"] = root / "missing.txt"
    made["folder"] = root
    return made


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
