"""Fixtures from llamatasks.testing (imported: pytest refuses `pytest_plugins` below the top-level conftest)."""

from llamatasks.testing.fixtures import (  # noqa: F401
    fixture_tokenizers,
    make_registry,
    tiny_checkpoint,
    tiny_model,
)
