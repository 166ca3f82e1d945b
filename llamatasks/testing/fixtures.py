"""pytest fixtures for llamatasks plugin authors.

Enable them in your top-level ``conftest.py``::

    pytest_plugins = ["llamatasks.testing.fixtures"]

or, in a ``conftest.py`` below the top level (where pytest refuses
``pytest_plugins``), import the ones you use::

    from llamatasks.testing.fixtures import make_registry, tiny_checkpoint  # noqa: F401

The tiny checkpoints need the ``torch`` extra and the shared tokenizer
fixtures (``$LLAMATASKS_FIXTURE_TOKENIZERS``, or ``shared/fixtures/tokenizers``
beside or inside the checkout); tests that ask for them are skipped where
either is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from llamatasks.plugins.manager import PluginManager, Registry
from llamatasks.testing.checkpoints import (
    TINY_KINDS,
    build_tiny_checkpoint,
    find_fixture_tokenizers,
)
from llamatasks.testing.plugins import fresh_plugin_manager, registry_with
from llamatasks.testing.vision_checkpoints import VISION_KINDS, build_vision_checkpoint

if TYPE_CHECKING:
    from llamatasks.model import Model

__all__ = [
    "fixture_tokenizers",
    "make_registry",
    "plugin_manager",
    "tiny_checkpoint",
    "tiny_checkpoints",
    "tiny_model",
]

FIXTURES_MISSING = (
    "LLaMA tokenizer fixtures not found: set LLAMATASKS_FIXTURE_TOKENIZERS, or put shared/fixtures/tokenizers "
    "beside the checkout"
)


@pytest.fixture
def plugin_manager() -> PluginManager:
    """A fresh plugin manager with the built-in plugins only (installed plugins are not loaded)."""
    return fresh_plugin_manager()


@pytest.fixture
def make_registry() -> Callable[..., Registry]:
    """``make_registry(*plugins) -> Registry``: the built-ins plus your plugins, registered without installing."""
    return registry_with


@pytest.fixture(scope="session")
def fixture_tokenizers() -> Path:
    """The folder of real LLaMA tokenizers; skips the test where it is absent."""
    found = find_fixture_tokenizers()
    if found is None:
        pytest.skip(FIXTURES_MISSING)
    return found


@pytest.fixture(scope="session")
def tiny_checkpoint(fixture_tokenizers: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``get(kind) -> Path`` of a tiny random-weight checkpoint, built once per session (read-only).

    Kinds: ``llama1``, ``llama2-chat``, ``llama3-instruct``, ``llama3.1-instruct``,
    ``chatml`` (SmolLM2-style) and ``zephyr`` (TinyLlama-style); see
    :mod:`llamatasks.testing.checkpoints`. The vision kinds (LLaMA 3.2 Vision, Llama 4 with
    images) come from :mod:`llamatasks.testing.vision_checkpoints`.
    """
    pytest.importorskip("torch", reason="tiny checkpoints need the torch extra")
    pytest.importorskip("transformers", reason="tiny checkpoints need the torch extra")
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            build = build_vision_checkpoint if kind in VISION_KINDS else build_tiny_checkpoint
            built[kind] = build(kind, root / kind, tokenizers_dir=fixture_tokenizers)
        return built[kind]

    return get


@pytest.fixture(scope="session")
def tiny_checkpoints(tiny_checkpoint: Callable[[str], Path]) -> dict[str, Path]:
    """All tiny checkpoints by kind (one per LLaMA generation and prompt format); read-only."""
    return {kind: tiny_checkpoint(kind) for kind in TINY_KINDS}


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Callable[[str], Path]) -> Iterator[Callable[..., Model]]:
    """``get(kind="chatml", registry=None, **load_options) -> Model`` on the CPU.

    Models loaded with the default registry and no options are shared by the
    whole session; pass ``registry=make_registry(MyPlugin())`` to run your
    plugin's tasks on a tiny model without installing it.
    """
    from llamatasks.loading import load

    shared: dict[str, Model] = {}

    def get(kind: str = "chatml", registry: Registry | None = None, **options: Any) -> Model:
        if registry is not None or options:
            return load(tiny_checkpoint(kind), registry=registry, device=options.pop("device", "cpu"), **options)
        if kind not in shared:
            shared[kind] = load(tiny_checkpoint(kind), device="cpu")
        return shared[kind]

    yield get
    for model in shared.values():
        model.engine.close()
