"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from llamatasks.testing.checkpoints import (
    TINY_KINDS,
    build_tiny_checkpoint,
    find_fixture_tokenizers,
)

FIXTURES_MISSING = (
    "LLaMA tokenizer fixtures not found: expected ../shared/fixtures/tokenizers beside the checkout "
    "(set LLAMATASKS_FIXTURE_TOKENIZERS)"
)


@pytest.fixture(scope="session")
def fixture_tokenizers() -> Path:
    """The folder of real LLaMA tokenizers; skips the test where it is absent."""
    found = find_fixture_tokenizers()
    if found is None:
        pytest.skip(FIXTURES_MISSING)
    return found


@pytest.fixture(scope="session")
def tiny_checkpoint(fixture_tokenizers: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Return ``get(kind) -> Path``, building each tiny checkpoint once per session.

    The folders are shared by every test: treat them as read-only.
    """
    pytest.importorskip("torch", reason="tiny checkpoints need the torch extra")
    pytest.importorskip("transformers", reason="tiny checkpoints need the torch extra")
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    built: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in built:
            built[kind] = build_tiny_checkpoint(kind, root / kind, tokenizers_dir=fixture_tokenizers)
        return built[kind]

    return get


@pytest.fixture(scope="session")
def tiny_checkpoints(tiny_checkpoint: Callable[[str], Path]) -> dict[str, Path]:
    """All tiny checkpoints by kind (see ``TINY_KINDS``); read-only."""
    return {kind: tiny_checkpoint(kind) for kind in TINY_KINDS}
