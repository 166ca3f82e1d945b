"""Fixtures from llamatasks.testing, and the opt-in `server` marker."""

from __future__ import annotations

import os

import pytest

from llamatasks.testing.fixtures import (  # noqa: F401
    fixture_tokenizers,
    make_registry,
    tiny_checkpoint,
)

SERVER_OPT_IN = "LLAMATASKS_TEST_SERVER"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"server: starts a real OpenAI-compatible server (llama-cpp-python[server] on the default GGUF); "
        f"opt-in with -m server or {SERVER_OPT_IN}=1",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "server" in (config.option.markexpr or "") or os.environ.get(SERVER_OPT_IN) == "1":
        return
    skip = pytest.mark.skip(reason=f"real-server test: opt in with `pytest -m server` or {SERVER_OPT_IN}=1")
    for item in items:
        if "server" in item.keywords:
            item.add_marker(skip)
