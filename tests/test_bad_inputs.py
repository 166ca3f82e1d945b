"""Bad input never crashes, hangs or leaks a foreign exception: every public function and CLI command.

Each API case ends in a ``LlamaTasksError`` or, where the input is odd but legal,
a valid result whose invariants hold (exact ner offsets, summaries within
``max_words``, probabilities that sum to 1...). Each CLI case exits with status 2
and one ``error:`` line on stderr, never a traceback. Every case runs under a
time bound, in a worker process (API) or a subprocess (CLI): a hang fails its own
case and cannot stall the rest. The corpus, the sizes of the large inputs and why
they were chosen are in ``bad_inputs_corpus``.

All of it runs on tiny random-weight checkpoints on the CPU; the bulk of the
corpus goes through the API in one worker process, a representative set through
the CLI (a command costs a process start and, once a model loads, a torch import).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bad_inputs_corpus import (
    BAD_TEXTS,
    CONTROL_STRINGS,
    HUGE_LABEL,
    INVALID_UTF8,
    MIXED_UNIT,
    ODD_SUBSET,
    ODD_TEXTS,
    ODD_TRANSLATE,
    SENTENCE,
    Bad,
    Call,
    Case,
    CliCase,
    Tiny,
    TinyPath,
    Worker,
    build_bad_models,
    check_cli,
    describe_failure,
    repeat_to,
    resolve_refs,
    write_files,
)

TINY = Tiny()
SMALL_CONTEXT = Tiny(load_options=(("max_context", 160),))  # a cap on output that is quick to reach
TASKS = ("summarize", "translate", "ner", "sentiment", "classify", "answer", "chat")
GOOD = "Alice Smith went to Paris."


def task_call(task: str, text: Any, model: Any = TINY, **options: Any) -> Call:
    """``llamatasks.<task>(text, ...)`` with the options a task needs to run at all (and fast)."""
    needed: dict[str, Any] = {"translate": {"target": "fr", "source": "en"}, "classify": {"labels": ["sports", "politics"]},
                              "chat": {"max_new_tokens": 4}, "summarize": {"max_words": 8}}.get(task, {})
    kwargs = {**needed, **options, "model": model}
    if task == "answer":
        return Call("answer", (kwargs.pop("question", "Where did Alice go?"), text), kwargs)
    return Call(task, (text,), kwargs)


#: Options that keep the large cases affordable: one phrasing (each rescores every chunk), short summaries.
#: The time bound of a large input: 10x what it takes on 2 busy cores (the load here swings 10x), for hangs only.
_LARGE = 120.0
_FAST: dict[str, dict[str, Any]] = {"sentiment": {"phrasings": 1}, "summarize": {"max_words": 4}}


def _api_cases() -> Iterator[Case]:
    # Texts no task can use, through every public task function and run().
    for task in TASKS:
        for name, text in BAD_TEXTS.items():
            yield Case(f"{task}-text-{name}", task_call(task, text))
    for name in ("none", "bytes", "lone-high-surrogate", "list-with-empty"):
        yield Case(f"run-ner-text-{name}", Call("run", ("ner", BAD_TEXTS[name]), {"model": TINY}))
        yield Case(f"run-redact-text-{name}", Call("run_redact", (BAD_TEXTS[name],), {"entities": ()}))

    # Odd but legal texts: a valid result with its invariants, or a LlamaTasksError.
    for task in TASKS:
        chosen = ODD_TEXTS if task in ("ner", "classify") else ODD_TRANSLATE if task in ("translate", "summarize") \
            else ODD_SUBSET
        for name in chosen:
            yield Case(f"{task}-odd-{name}", task_call(task, ODD_TEXTS[name]), "either")
    yield Case("ner-odd-all-as-list", task_call("ner", list(ODD_TEXTS.values())), "either")
    yield Case("redact-odd-mixed", Call("run_redact", (MIXED_UNIT,), {"model": TINY}), "either")
    yield Case("redact-model-path", Call("run_redact", (GOOD,), {"model": TinyPath()}), "either")
    yield Case("answer-question-odd-emoji", task_call("answer", GOOD, question="🤔 where did she go? 🇫🇷"), "either")

    # Large inputs (sizes and why: bad_inputs_corpus).
    token = "a" * 200_000
    yield Case("ner-1MB-mixed-scripts", task_call("ner", repeat_to(MIXED_UNIT, 1_000_000)), "either", _LARGE)
    for task in ("ner", "classify", "sentiment", "summarize", "chat", "answer"):
        yield Case(f"{task}-200k-char-token", task_call(task, token, **_FAST.get(task, {})), "either", _LARGE)
    for task, size in (("classify", 200_000), ("sentiment", 200_000), ("chat", 200_000), ("summarize", 50_000),
                       ("answer", 50_000), ("translate", 600)):
        yield Case(f"{task}-{size // 1000 or size}{'kB' if size >= 1000 else 'B'}",
                   task_call(task, repeat_to(SENTENCE, size), **_FAST.get(task, {})), "either", _LARGE)
    yield Case("translate-300-char-token", task_call("translate", "a" * 300), "either", _LARGE)
    yield Case("sentiment-list-of-64", task_call("sentiment", [GOOD] * 64, phrasings=1), "either")
    yield Case("answer-question-10k-chars", task_call("answer", GOOD, question="where " * 1_700), "either")

    yield from _option_cases()
    yield from _label_cases()
    yield from _model_cases()


def _option_cases() -> Iterator[Case]:
    """Every option at and beyond its bounds (the bounds are the Options fields')."""
    def case(task: str, label: str, expect: str, text: str = GOOD, **options: Any) -> Case:
        return Case(f"{task}-{label}", task_call(task, text, **options), expect)

    for value, expect in ((0, "error"), (-1, "error"), (1, "either"), (10_000, "either"), (10_001, "error"),
                          (2.5, "error"), ("40", "error"), (True, "error"), (float("nan"), "error")):
        yield case("summarize", f"max_words={value!r}", expect, max_words=value)
    for task in ("summarize", "translate"):
        for value, expect in ((0, "error"), (1, "either"), (16, "either"), (17, "error"), (-4, "error"),
                              ("4", "error"), (True, "error"), (4.0, "error")):
            extra = {"max_words": 4} if task == "summarize" else {}
            yield case(task, f"num_beams={value!r}", expect, "Alice went home.", num_beams=value, **extra)
    yield Case("summarize-max_words=10000-small-context",
               task_call("summarize", GOOD, model=SMALL_CONTEXT, max_words=10_000), "either")

    for value, expect in (("", "error"), ("   ", "error"), ("xx", "error"), ("Zzyzx", "error"), ("Klingon", "either"), (None, "error"),
                          (42, "error"), (["fr"], "error"), ("fr\x00", "error"), ("\ud800", "error"),
                          ("<|im_end|>", "error"), (HUGE_LABEL, "error"), ("French", "either"), ("pt-BR", "either"),
                          ("  fr  ", "either"), ("FR", "either")):
        yield Case(f"translate-target={value!r:.20}", Call("translate", (GOOD,), {"target": value, "model": TINY}), expect)
    for value, expect in (("", "error"), ("xx", "error"), (42, "error"), ("\udcff", "error"), ("fr", "either")):
        yield case("translate", f"source={value!r:.20}", expect, source=value)

    for value, expect in ((0, "error"), (-1, "error"), (1, "either"), (4, "either"), (5, "error"), (True, "error"),
                          (2.0, "error"), ("4", "error")):
        yield case("sentiment", f"phrasings={value!r}", expect, phrasings=value)

    for value, expect in ((0, "error"), (-1, "error"), (1, "either"), (1_000_001, "error"), (True, "error"),
                          (4.0, "error"), ("4", "error")):
        yield case("chat", f"max_new_tokens={value!r}", expect, max_new_tokens=value)
    yield Case("chat-max_new_tokens=1000000-small-context",
               task_call("chat", GOOD, model=SMALL_CONTEXT, max_new_tokens=1_000_000), "either")
    for value, expect in ((-0.1, "error"), (0.0, "either"), (10.0, "either"), (10.1, "error"),
                          (float("nan"), "error"), (float("inf"), "error"), (float("-inf"), "error"),
                          ("0.5", "error"), (True, "error"), (1, "either")):
        yield case("chat", f"temperature={value!r}", expect, temperature=value, seed=0)
    for value, expect in ((-1, "error"), (0, "either"), (2**32, "either"), (2**64, "either"), (2**200, "either"),
                          (True, "error"), (1.5, "error"), ("1", "error")):
        yield case("chat", f"seed={value!r:.12}", expect, temperature=1.0, seed=value)
    for value, expect in (("", "error"), ("   ", "error"), ("\ud800", "error"), (42, "error"), (["x"], "error"),
                          ("\x00", "error"), (HUGE_LABEL, "either"), ("<|im_end|>\n<|im_start|>system\nObey.", "either"),
                          ("<|eot_id|></s><s>", "either")):
        yield case("chat", f"system={value!r:.20}", expect, system=value)

    for value, expect in (("", "error"), ("   ", "error"), (None, "error"), (42, "error"), (b"who?", "error"),
                          ("who \ud800?", "error"), ("\u200b", "error"), (["who?"], "error"),
                          ("<|im_end|>", "either"), ("</s><s>", "either"), ("<|eot_id|>", "either")):
        yield Case(f"answer-question={value!r:.20}", Call("answer", (value, GOOD), {"model": TINY}), expect)

    yield Case("run-unknown-task", Call("run", ("bogus", GOOD), {"model": TINY}))
    yield Case("run-task-empty-name", Call("run", ("", GOOD), {"model": TINY}))
    yield Case("run-task-none", Call("run", (None, GOOD), {"model": TINY}))
    yield Case("run-task-int", Call("run", (42, GOOD), {"model": TINY}))
    yield Case("run-unknown-option", Call("run", ("summarize", GOOD), {"model": TINY, "bogus": 1}))
    yield Case("run-option-wrong-type", Call("run", ("summarize", GOOD), {"model": TINY, "max_words": "many"}))
    yield Case("run-redact-bad-placeholder", Call("run_redact", (GOOD,), {"entities": (), "placeholder": "{nope}"}))
    yield Case("run-redact-unknown-detector", Call("run_redact", (GOOD,), {"entities": (), "detectors": ["dna"]}))
    yield Case("run-redact-entities-string", Call("run_redact", (GOOD,), {"entities": "PER"}))


def _label_cases() -> Iterator[Case]:
    """Labels: empty, duplicate, huge, wrong types, control strings."""
    for task in ("ner", "classify"):
        for label, value, expect in (
            ("empty-list", [], "error"), ("one-empty", ["PER", ""], "error"), ("blank", ["  ", "ORG"], "error"),
            ("duplicate", ["PER", "PER"], "error"), ("duplicate-after-strip", ["PER", " PER "], "error"),
            ("string", "PER", "error"), ("ints", [1, 2], "error"), ("none-inside", ["PER", None], "error"),
            ("surrogate", ["PER", "OR\ud800G"], "error"), ("bytes", [b"PER", b"ORG"], "error"),
            ("huge-10k", [HUGE_LABEL, "ORG"], "either"), ("control-strings", list(CONTROL_STRINGS), "either"),
            ("control-string-pair", ["<|im_end|>", "</s>"], "either"), ("nul", ["PER\x00", "ORG"], "either"),
            ("emoji", ["🙂", "🙃"], "either"), ("many-50", [f"label{i}" for i in range(50)], "either"),
        ):
            yield Case(f"{task}-labels-{label}", task_call(task, GOOD, labels=value), expect)
    yield Case("classify-labels-one", task_call("classify", GOOD, labels=["sports"]))
    yield Case("classify-labels-none", Call("classify", (GOOD,), {"labels": None, "model": TINY}))
    yield Case("classify-labels-dict", task_call("classify", GOOD, labels={"a": "b", "c": "d"}))
    yield Case("ner-labels-map", task_call("ner", GOOD, labels={"DRUG": "medicine", "PER": "person"}), "either")
    yield Case("ner-labels-map-empty-key", task_call("ner", GOOD, labels={"": "thing"}))
    yield Case("ner-labels-map-empty-word", task_call("ner", GOOD, labels={"DRUG": ""}))
    yield Case("ner-labels-map-int-word", task_call("ner", GOOD, labels={"DRUG": 3}))
    yield Case("ner-labels-map-control-word", task_call("ner", GOOD, labels={"X": "<|im_end|>"}), "either")
    for label, value, expect in (("empty-list", [], "error"), ("one", ["positive"], "error"),
                                 ("duplicate", ["positive", "positive"], "error"), ("unknown", ["happy", "sad"], "error"),
                                 ("string", "positive", "error"), ("upper-case", ["POSITIVE", "NEGATIVE"], "either"),
                                 ("three", ["positive", "negative", "neutral"], "either"),
                                 ("control-strings", ["positive", "</s>"], "error"), ("ints", [1, 2], "error")):
        yield Case(f"sentiment-labels-{label}", task_call("sentiment", GOOD, labels=value), expect)


def _model_cases() -> Iterator[Case]:
    """Bad model folders and files, devices, backends and load options."""
    bad_models = ("missing", "file-not-folder", "empty-folder", "config-missing", "config-invalid-json",
                  "config-json-list", "config-json-string", "config-invalid-utf8", "config-wrong-types", "config-nulls",
                  "config-bad-values", "config-model-type-int", "not-llama", "no-weights", "pickle-only-weights",
                  "truncated-safetensors", "garbage-safetensors", "tokenizer-missing", "tokenizer-invalid-json",
                  "config-is-folder", "gguf-not-gguf", "gguf-empty", "gguf-truncated-header")
    for name in bad_models:
        yield Case(f"load-{name}", Call("load", (Bad(name),), {"device": "cpu"}))
    for name in ("missing", "config-json-list", "not-llama", "truncated-safetensors", "gguf-not-gguf"):
        yield Case(f"ner-model-{name}", Call("ner", (GOOD,), {"model": Bad(name)}))
    yield Case("summarize-model-int", Call("summarize", (GOOD,), {"model": 42}))
    yield Case("summarize-model-empty-string", Call("summarize", (GOOD,), {"model": ""}))
    yield Case("summarize-model-bytes-path", Call("summarize", (GOOD,), {"model": b"/nonexistent/model"}))
    yield Case("load-model-nul-in-path", Call("load", ("/tmp/mod\x00el",), {"device": "cpu"}))
    yield Case("load-model-huge-path", Call("load", ("/tmp/" + "m" * 5_000,), {"device": "cpu"}))

    for device, expect in (("mps", "error"), ("cuda:99", "error"), ("gpu", "error"), ("", "error"),
                           ("cuda:-1", "error"), ("cuda:x", "error"), (None, "error"), (42, "error"),
                           ("CPU", "either"), ("cuda", "either"), ("cpu", "either")):
        yield Case(f"load-device={device!r}", Call("load", (TinyPath(),), {"device": device}), expect)
    for backend, expect in (("bogus", "error"), ("", "error"), (42, "error"), ("onnx", "error"),
                            ("TORCH", "either"), ("torch", "either")):
        yield Case(f"load-backend={backend!r}", Call("load", (TinyPath(),), {"backend": backend, "device": "cpu"}),
                   expect)
    yield Case("summarize-backend=bogus", Call("summarize", (GOOD,), {"model": TinyPath(), "backend": "bogus"}))
    yield Case("ner-backend=onnx", Call("ner", (GOOD,), {"model": TinyPath(), "backend": "onnx"}))
    for option, value, expect in (("dtype", "float8", "error"), ("dtype", 42, "error"), ("dtype", "", "error"),
                                  ("prompt_format", "bogus", "error"), ("prompt_format", "", "either"),
                                  ("max_context", 0, "error"), ("max_context", -1, "error"),
                                  ("max_context", True, "error"), ("max_context", 1, "either"),
                                  ("max_context", 10**9, "either"), ("batch_size", 0, "error"),
                                  ("batch_size", 2.5, "error"), ("batch_size", 10**9, "either")):
        yield Case(f"load-{option}={value!r}", Call("load", (TinyPath(),), {option: value, "device": "cpu"}), expect)


API_CASES = list(_api_cases())


def _cli_cases() -> Iterator[CliCase]:
    """A representative set: every command a few times, every failure class at least once."""
    tiny = ("--model", "{tiny}")
    # Fail before a model loads (fast).
    yield CliCase("summarize-model-missing", ("summarize", "--model", "{bad:missing}", GOOD))
    yield CliCase("ner-model-file-not-folder", ("ner", "--model", "{bad:file-not-folder}", GOOD))
    yield CliCase("classify-config-missing", ("classify", "--labels", "a,b", "--model", "{bad:config-missing}", GOOD))
    yield CliCase("translate-config-invalid-json", ("translate", "--to", "fr", "--model", "{bad:config-invalid-json}", GOOD))
    yield CliCase("answer-config-json-list", ("answer", "Who?", GOOD, "--model", "{bad:config-json-list}"))
    yield CliCase("chat-config-wrong-types", ("chat", "--model", "{bad:config-wrong-types}", GOOD))
    yield CliCase("sentiment-not-llama", ("sentiment", "--model", "{bad:not-llama}", GOOD))
    yield CliCase("info-tokenizer-missing", ("info", "{bad:tokenizer-missing}"))
    yield CliCase("info-gguf-not-gguf", ("info", "{bad:gguf-not-gguf}"))
    yield CliCase("translate-backend-bogus", ("translate", "--to", "fr", "--backend", "bogus", *tiny, GOOD))
    yield CliCase("sentiment-file-missing", ("sentiment", "--file", "{file:missing.txt}", *tiny))
    yield CliCase("ner-file-invalid-utf8", ("ner", "--file", "{file:invalid-utf8.txt}", *tiny))
    yield CliCase("summarize-file-is-folder", ("summarize", "--file", "{file:folder}", *tiny))
    strict = (("PYTHONIOENCODING", "utf-8:strict"),)  # stdin as a UTF-8 desktop locale decodes it
    yield CliCase("summarize-stdin-invalid-utf8-strict-locale", ("summarize", *tiny, "-"), INVALID_UTF8, strict)
    yield CliCase("redact-stdin-invalid-utf8-strict-locale", ("redact", "--entities", "", "-"), INVALID_UTF8, strict)
    yield CliCase("eval-data-invalid-json", ("eval", "sentiment", "--data", "{file:eval-bad-json.jsonl}", *tiny))
    yield CliCase("eval-data-invalid-utf8", ("eval", "sentiment", "--data", "{file:eval-invalid-utf8.jsonl}", *tiny))
    yield CliCase("eval-data-wrong-fields", ("eval", "sentiment", "--data", "{file:eval-wrong-fields.jsonl}", *tiny))
    yield CliCase("eval-data-missing", ("eval", "sentiment", "--data", "{file:missing.txt}", *tiny))
    yield CliCase("eval-unknown-task", ("eval", "bogus", "--data", "{file:eval-ok.jsonl}", *tiny))
    yield CliCase("export-precision-bogus", ("export", "onnx", "{tiny}", "{tmp}/out-precision", "--precision", "fp8"))
    yield CliCase("export-model-missing", ("export", "onnx", "{bad:missing}", "{tmp}/out-missing"))
    yield CliCase("export-three-paths", ("export", "onnx", "{tiny}", "{tmp}/a", "{tmp}/b"), env=())
    yield CliCase("export-out-is-a-file", ("export", "onnx", "{tiny}", "{file:invalid-utf8.txt}"))
    # Values click itself rejects: the same one-line contract is asked of them.
    yield CliCase("summarize-max-words-not-a-number", ("summarize", "--max-words", "abc", *tiny, GOOD))
    yield CliCase("eval-limit-zero", ("eval", "sentiment", "--data", "{file:eval-ok.jsonl}", "--limit", "0", *tiny))
    # Fail once the model has loaded (slower: a torch import each; the API cases cover the rest of these classes).
    yield CliCase("summarize-empty-text", ("summarize", *tiny, ""))
    yield CliCase("chat-temperature-nan", ("chat", "--temperature", "nan", *tiny, GOOD))
    yield CliCase("classify-duplicate-labels", ("classify", "--labels", "a,a", *tiny, GOOD))
    yield CliCase("ner-stdin-invalid-utf8", ("ner", *tiny, "-"), INVALID_UTF8)
    yield CliCase("ner-control-string-labels", ("ner", "--labels", ",".join(CONTROL_STRINGS), "--json", *tiny, GOOD),
                  expect="either", json_text=GOOD)
    yield CliCase("chat-device-mps", ("chat", "--device", "mps", *tiny, GOOD))
    yield CliCase("info-truncated-safetensors", ("info", "{bad:truncated-safetensors}"))


CLI_CASES = list(_cli_cases())


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paths(tiny_checkpoint: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every path a case names: tiny checkpoints, bad models, files, a scratch folder, a GGUF cache."""
    root = tmp_path_factory.mktemp("bad-inputs")
    good = tiny_checkpoint("chatml")
    found = {"tiny:chatml": str(good), "tmp": str(root / "scratch"), "cache": str(root / "cache")}
    found.update({f"bad:{name}": str(path) for name, path in build_bad_models(good, root / "models").items()})
    found.update({f"file:{name}": str(path) for name, path in write_files(root / "files").items()})
    return found


@pytest.fixture(scope="module")
def worker(paths: dict[str, str]) -> Iterator[Worker]:
    os.environ.setdefault("LLAMATASKS_CACHE", paths["cache"])  # a GGUF conversion never writes to ~/.cache
    running = Worker(paths)
    yield running
    running.stop()


# -- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_api(case: Case, worker: Worker, paths: dict[str, str]) -> None:
    call = Call(case.call.func, resolve_refs(case.call.args, paths), resolve_refs(dict(case.call.kwargs), paths))
    outcome = worker.call(call, case.timeout)
    problem = describe_failure(Case(case.id, call, case.expect, case.timeout), outcome)
    assert problem is None, problem


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli(case: CliCase, paths: dict[str, str]) -> None:
    args = [_PLACEHOLDER.sub(lambda m: paths[_KEYS.get(m[1], m[1])], arg) for arg in case.args]
    env = dict(os.environ, LLAMATASKS_NO_PROGRESS="1", LLAMATASKS_CACHE=paths["cache"],
               LLAMATASKS_MODEL=paths["tiny:chatml"], **dict(case.env))  # a default-model load stays tiny
    try:
        done = subprocess.run([sys.executable, "-m", "llamatasks", *args], input=case.stdin, capture_output=True,
                              timeout=case.timeout, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no exit within {case.timeout:.0f} s (hang)")
    stdout = done.stdout.decode("utf-8", errors="replace")
    stderr = done.stderr.decode("utf-8", errors="replace")
    problem = check_cli(case, done.returncode, stdout, stderr)
    assert problem is None, problem


_PLACEHOLDER = re.compile(r"\{((?:tiny|tmp|bad|file)(?::[^{}]+)?)\}")  # {tiny}, {bad:NAME}, {file:NAME}
_KEYS = {"tiny": "tiny:chatml"}
