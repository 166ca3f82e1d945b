"""llamatasks-openai: run llamatasks tasks on a model served by an OpenAI-compatible server.

This module is the plugin (entry point ``openai`` in the ``llamatasks``
group): it registers the ``openai`` backend. Point a model folder (its
config.json and tokenizer; no weights needed) at a server with a
``llamatasks-openai.json`` file or ``LLAMATASKS_OPENAI_BASE_URL``, then
``llamatasks.load(folder)`` picks this backend by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from llamatasks.plugins import BackendSpec, Engine, LoadRequest, hookimpl
from llamatasks_openai.config import CONFIG_FILE, ServerConfig
from llamatasks_openai.errors import (
    CapabilityError,
    ServerFailedError,
    ServerRejectedError,
)

__version__ = "0.1.0"

__all__ = [
    "CONFIG_FILE",
    "CapabilityError",
    "ServerConfig",
    "ServerFailedError",
    "ServerRejectedError",
    "__version__",
    "register_backends",
]


def _load(request: LoadRequest) -> Engine:
    from llamatasks_openai.engine import OpenAIEngine

    return OpenAIEngine.load(request)


def _claims(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file()


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register the ``openai`` backend."""
    register(BackendSpec(name="openai", load=_load, claims=_claims,
                         description="a model served by an OpenAI-compatible server (vLLM, llama.cpp, TGI, Ollama)"))
