"""Errors of the OpenAI-compatible backend, in llamatasks' error tree."""

from __future__ import annotations

from llamatasks.errors import CapabilityError, GenerationError, InvalidInputError

__all__ = ["CapabilityError", "ServerFailedError", "ServerRejectedError"]  # CapabilityError: the core's


class ServerRejectedError(InvalidInputError):
    """The server refused a request (HTTP 4xx): bad token ids, a context too long, an unknown model."""


class ServerFailedError(GenerationError):
    """The server failed (HTTP 5xx) or answered something that is not a completions response."""
