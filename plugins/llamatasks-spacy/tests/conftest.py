"""Fixtures: a tiny checkpoint's path for component configs, and stand-in models for components to load.

``tiny_checkpoint`` comes from ``llamatasks.testing.fixtures``, loaded by the repository's root conftest.
Outside this repository, put ``pytest_plugins = ["llamatasks.testing.fixtures"]`` in your top-level
conftest.py (pytest refuses ``pytest_plugins`` in nested conftest files).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import llamatasks
from llamatasks.plugins import Entities, Entity, Provenance

PROVENANCE = Provenance(model="fake", backend="fake", device="cpu", prompt_format="chatml",
                        tokens_in=1, tokens_out=0, seconds=0.0)


@pytest.fixture(scope="session")
def tiny_model_path(tiny_checkpoint: Callable[[str], Path]) -> str:
    """A tiny random-weight SmolLM2-style checkpoint, as a component's ``model`` config value."""
    return str(tiny_checkpoint("chatml"))


class CountingModel:
    """Wraps a model; records each load of it and each task call as ``(task, number of texts)``."""

    def __init__(self, model: Any) -> None:
        self.wrapped = model
        self.loads: list[tuple[Any, ...]] = []
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, task: str) -> Callable[..., Any]:
        method = getattr(self.wrapped, task)

        def counted(texts: Sequence[str], **options: Any) -> Any:
            self.calls.append((task, len(texts)))
            return method(texts, **options)

        return counted


class FixedEntities:
    """A model whose ``ner`` finds the given ``(start, end, label)`` spans in every text."""

    def __init__(self, spans: Sequence[tuple[int, int, str]]) -> None:
        self.spans = spans

    def ner(self, texts: Sequence[str], labels: Any = None) -> list[Entities]:
        return [Entities(entities=[Entity(text=text[s:e], label=label, start=s, end=e, score=0.5)
                                   for s, e, label in self.spans], provenance=PROVENANCE)
                for text in texts]


@pytest.fixture
def serve_model(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], CountingModel]:
    """``serve_model(model) -> counter``: components load ``model``; the counter records loads and calls."""

    def serve(model: Any) -> CountingModel:
        counter = CountingModel(model)

        def load(*args: Any, **kwargs: Any) -> CountingModel:
            counter.loads.append((*args, *kwargs.values()))
            return counter

        monkeypatch.setattr(llamatasks, "get_model", load)
        monkeypatch.setattr(llamatasks, "load", load)
        return counter

    return serve


@pytest.fixture
def serve_entities(serve_model: Callable[[Any], CountingModel]) -> Callable[[list[tuple[int, int, str]]], None]:
    """``serve_entities([(start, end, label), ...])``: components load a model that finds those spans."""
    return lambda spans: serve_model(FixedEntities(spans))
