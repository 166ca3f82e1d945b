"""The ONNX Runtime backend keeps the engine contract, and says clearly what is wrong with a bad folder."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytest.importorskip("onnxruntime_genai", reason="needs the onnx extra")

from llamatasks_export import MANIFEST_NAME
from llamatasks_export.testing import export_once

import llamatasks
from llamatasks.backends.onnx.errors import (
    CorruptExportError,
    IncompatibleExportError,
    NotAnExportError,
)
from llamatasks.engine.base import GenerationOptions, GenerationOutput, ScoreRequest
from llamatasks.engine.prefixes import plan_prefixes
from llamatasks.errors import (
    BackendUnavailableError,
    InvalidInputError,
    LlamaTasksError,
)
from llamatasks.tasks.answer import SubstringConstraint
from llamatasks.testing.conformance import generate

PROMPTS = ["Hello there", "A much longer prompt that needs padding in the batch, longer than the others", "Short"]


@pytest.fixture(scope="module")
def pair(tiny_checkpoint: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory,
         ) -> Callable[[str], tuple[llamatasks.Model, llamatasks.Model]]:
    """``get(kind) -> (torch model, onnx model)`` of the same tiny checkpoint."""
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.getbasetemp() / "onnx-exports"
    loaded: dict[str, tuple[llamatasks.Model, llamatasks.Model]] = {}

    def get(kind: str) -> tuple[llamatasks.Model, llamatasks.Model]:
        if kind not in loaded:
            source = tiny_checkpoint(kind)
            loaded[kind] = (llamatasks.load(source), llamatasks.load(export_once(source, root)))
        return loaded[kind]

    return get


def _batched_equals_single_and_torch(torch_model: llamatasks.Model, onnx_model: llamatasks.Model,
                                     options: GenerationOptions) -> list[GenerationOutput]:
    """The ONNX engine's batched output for ``PROMPTS``, checked against one-by-one and torch generation."""
    ids = _ids(onnx_model)
    batched = generate(onnx_model.engine, ids, options)
    assert batched == [generate(onnx_model.engine, [p], options)[0] for p in ids]
    assert batched == generate(torch_model.engine, ids, options)
    return batched


def _ids(model: llamatasks.Model) -> list[list[int]]:
    bos = [model.profile.bos_token_id] if model.profile.add_bos and model.profile.bos_token_id is not None else []
    return [bos + model.tokenizer.encode(p) for p in PROMPTS]


def test_an_export_folder_loads_on_the_onnx_backend(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]],
                                                    ) -> None:
    _, onnx_model = pair("chatml")
    assert onnx_model.backend_name == "onnx" and onnx_model.engine.device == "cpu"
    again = llamatasks.load(onnx_model.source.path, backend="onnx")
    assert again.engine.dtype == "float32"


@pytest.mark.parametrize("kind", ["llama2-chat", "llama3.1-instruct"])
def test_batched_generation_equals_one_by_one_and_torch(
    kind: str, pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]],
) -> None:
    torch_model, onnx_model = pair(kind)
    options = GenerationOptions(max_new_tokens=12, stop_token_ids=onnx_model.profile.stop_token_ids)
    _batched_equals_single_and_torch(torch_model, onnx_model, options)


def test_penalties_match_torch(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]]) -> None:
    torch_model, onnx_model = pair("chatml")
    ids = _ids(onnx_model)
    for options in (GenerationOptions(max_new_tokens=16, no_repeat_ngram_size=2),
                    GenerationOptions(max_new_tokens=16, no_repeat_ngram_size=2, no_repeat_ngram_in_prompt=False),
                    GenerationOptions(max_new_tokens=16, repetition_penalty=1.5, no_repeat_ngram_size=3)):
        assert generate(onnx_model.engine, ids, options) == generate(torch_model.engine, ids, options)


def test_stop_tokens_end_a_row_and_are_not_returned(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]],
                                                    ) -> None:
    _, onnx_model = pair("chatml")
    ids = _ids(onnx_model)
    free = generate(onnx_model.engine, ids, GenerationOptions(max_new_tokens=6))
    assert all(out.finish_reason == "length" and len(out.token_ids) == 6 for out in free)
    stop = free[1].token_ids[3]
    stopped = generate(onnx_model.engine, ids, GenerationOptions(max_new_tokens=6, stop_token_ids=(stop,)))
    assert stopped[1].finish_reason == "stop" and stopped[1].token_ids == free[1].token_ids[:3]


def test_constraints_are_applied_like_torch(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]]) -> None:
    torch_model, onnx_model = pair("llama3-instruct")
    ids = _ids(onnx_model)
    source = onnx_model.tokenizer.encode(" the quick brown fox jumps over the lazy dog")
    stops = onnx_model.profile.stop_token_ids
    constraints = [SubstringConstraint(source, stops), None, SubstringConstraint(source[2:], stops)]
    options = GenerationOptions(max_new_tokens=8, stop_token_ids=stops)
    got = generate(onnx_model.engine, ids, options, constraints)
    assert got == generate(torch_model.engine, ids, options, constraints)
    text = " ".join(map(str, source))
    assert " ".join(map(str, got[0].token_ids)) in text and got[0].token_ids


@pytest.mark.parametrize("kind", ["llama2-chat", "llama3.1-instruct"])
def test_beam_search_matches_torch_and_one_by_one(
    kind: str, pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]],
) -> None:
    torch_model, onnx_model = pair(kind)
    ids = _ids(onnx_model)
    options = GenerationOptions(max_new_tokens=10, num_beams=3, no_repeat_ngram_size=3, repetition_penalty=1.2)
    batched = _batched_equals_single_and_torch(torch_model, onnx_model, options)
    # A stop token the beams reach: finished hypotheses compete with running ones.
    stop = batched[1].token_ids[4]
    stopping = options.model_copy(update={"stop_token_ids": (stop,)})
    got = generate(onnx_model.engine, ids, stopping)
    assert got == generate(torch_model.engine, ids, stopping)
    assert all(stop not in out.token_ids for out in got)
    output_only = options.model_copy(update={"no_repeat_ngram_size": 2, "no_repeat_ngram_in_prompt": False})
    assert generate(onnx_model.engine, ids, output_only) == generate(torch_model.engine, ids, output_only)


def test_beam_search_keeps_each_prompts_constraint(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]],
                                                   ) -> None:
    torch_model, onnx_model = pair("llama3-instruct")
    ids = _ids(onnx_model)
    source = onnx_model.tokenizer.encode(" the quick brown fox jumps over the lazy dog")
    stops = onnx_model.profile.stop_token_ids
    constraints = [None, SubstringConstraint(source, stops), SubstringConstraint(source[2:], stops)]
    options = GenerationOptions(max_new_tokens=8, num_beams=4, stop_token_ids=stops)
    got = generate(onnx_model.engine, ids, options, constraints)
    assert got == generate(torch_model.engine, ids, options, constraints)
    text = " ".join(map(str, source))
    for out in got[1:]:
        assert out.token_ids and " ".join(map(str, out.token_ids)) in text


def test_beam_search_cannot_sample() -> None:
    with pytest.raises(ValueError, match="beam search"):
        GenerationOptions(num_beams=2, temperature=0.7)


def test_sampling_is_seeded(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]]) -> None:
    _, onnx_model = pair("chatml")
    ids = _ids(onnx_model)
    options = GenerationOptions(max_new_tokens=10, temperature=1.2, top_p=0.9, seed=3)
    first = generate(onnx_model.engine, ids, options)
    assert first == generate(onnx_model.engine, ids, options)
    assert first != generate(onnx_model.engine, ids, options.model_copy(update={"seed": 4}))


def test_scores_match_torch_single_and_multi_token(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]],
                                                   ) -> None:
    torch_model, onnx_model = pair("llama3.1-instruct")
    tok = onnx_model.tokenizer
    requests = [
        ScoreRequest(prompt=tuple(ids), continuations=(tuple(tok.encode(" Paris, of course")), tuple(tok.encode(" Lyon")),
                                                       (5,)))
        for ids in _ids(onnx_model)
    ]
    got = _flat(onnx_model.engine.score(requests))
    assert got == pytest.approx(_flat(torch_model.engine.score(requests)), abs=1e-4)
    assert _flat([onnx_model.engine.score([r])[0] for r in requests]) == pytest.approx(got, abs=1e-5)
    single = [ScoreRequest(prompt=r.prompt, continuations=((5,), (7,))) for r in requests]
    assert _flat(onnx_model.engine.score(single)) == pytest.approx(_flat(torch_model.engine.score(single)), abs=1e-4)


def _flat(scores: list[list[float]]) -> list[float]:
    return [s for row in scores for s in row]


def _grouped(vocab: int) -> list[list[int]]:
    """A common head, two groups sharing 24 tokens after it, rests of 1 to 9 tokens: a three-pass plan."""
    rng = random.Random(7)

    def ids(n: int) -> list[int]:
        return [rng.randrange(100, vocab) for _ in range(n)]

    head, first, second = ids(12), ids(24), ids(24)
    return [head + part + ids(k) for part in (first, second) for k in (1, 3, 9)] + [head + ids(6)]


@pytest.mark.parametrize("merged,steps", [(1, (0, 0)), (1, (24, 0)), (1, (24, 1)), (1, (24, 3)), (1, (24, 9)),
                                          (2, (0,)), (2, (3,)), (3, ())])
def test_every_prefix_schedule_scores_and_generates_as_unshared(
        pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]], monkeypatch: pytest.MonkeyPatch,
        merged: int, steps: tuple[int, ...]) -> None:
    # The cost rule picks one schedule per call; each one it can pick must give the unshared results:
    # later passes as one-row chunks (steps 0), as one-token steps of all rows, or split between the two.
    from llamatasks.backends.onnx import engine as onnx_engine

    _, onnx_model = pair("llama3.1-instruct")
    engine = onnx_model.engine
    prompts = _grouped(min(engine.decoder.vocab_size, 30_000))
    assert len(plan_prefixes(prompts).passes) == 3
    requests = [ScoreRequest(prompt=tuple(p), continuations=((500,), (700, 701, 702))) for p in prompts]
    options = GenerationOptions(max_new_tokens=4)
    monkeypatch.setattr(engine, "share_prefixes", False)
    want_scores, want_tokens = engine.score(requests), generate(engine, prompts, options)
    monkeypatch.setattr(engine, "share_prefixes", True)
    monkeypatch.setattr(onnx_engine, "_schedule", lambda *_, **__: onnx_engine._Schedule(merged, steps))
    assert _flat(engine.score(requests)) == pytest.approx(_flat(want_scores), abs=1e-4)
    assert generate(engine, prompts, options) == want_tokens


def test_cuda_without_the_cuda_provider_is_an_error(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]],
                                                    ) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    _, onnx_model = pair("chatml")
    with pytest.raises(BackendUnavailableError, match="CUDA") as info:
        llamatasks.load(onnx_model.source.path, device="cuda")
    assert "llamatasks[gpu]" in info.value.hint


def test_dtype_cannot_change_an_exports_precision(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]],
                                                  ) -> None:
    _, onnx_model = pair("chatml")
    with pytest.raises(InvalidInputError, match="fp32"):
        llamatasks.load(onnx_model.source.path, dtype="bfloat16")


# -- bad folders -----------------------------------------------------------------------


@pytest.fixture
def damaged(pair: Callable[..., tuple[llamatasks.Model, llamatasks.Model]], tmp_path: Path) -> Path:
    """A private copy of a good export, to damage."""
    _, onnx_model = pair("chatml")
    return Path(shutil.copytree(onnx_model.source.path, tmp_path / "export"))


def test_a_model_folder_is_not_an_export(tiny_checkpoint: Callable[[str], Path]) -> None:
    with pytest.raises(NotAnExportError) as info:
        llamatasks.load(tiny_checkpoint("chatml"), backend="onnx")
    assert "llamatasks export onnx" in info.value.hint


def test_a_manifest_of_another_version_is_refused(damaged: Path) -> None:
    manifest = json.loads((damaged / MANIFEST_NAME).read_text())
    manifest["format_version"] = 99
    (damaged / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(IncompatibleExportError, match="version 99") as info:
        llamatasks.load(damaged)
    assert "upgrade" in info.value.hint


def test_a_truncated_weights_file_is_caught(damaged: Path) -> None:
    data = damaged / "model.onnx.data"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(CorruptExportError, match="truncated") as info:
        llamatasks.load(damaged)
    assert "re-export" in info.value.hint


def test_a_corrupt_graph_is_caught(damaged: Path) -> None:
    graph = damaged / "model.onnx"
    graph.write_bytes(graph.read_bytes()[:100] + b"\0" * (graph.stat().st_size - 100))  # same size, garbage
    with pytest.raises(CorruptExportError, match="onnxruntime cannot load"):
        llamatasks.load(damaged)


def test_a_broken_manifest_is_a_llamatasks_error(damaged: Path) -> None:
    (damaged / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(LlamaTasksError, match="not readable JSON"):
        llamatasks.load(damaged)
