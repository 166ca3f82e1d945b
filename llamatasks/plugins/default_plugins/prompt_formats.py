"""The built-in prompt formats (``llamatasks.prompts.builtin``), registered through the hook."""

from __future__ import annotations

from collections.abc import Callable

from llamatasks.plugins.hookspecs import hookimpl
from llamatasks.prompts.builtin import BUILTIN_FORMATS
from llamatasks.prompts.formats import PromptFormat


@hookimpl
def register_prompt_formats(register: Callable[[PromptFormat], None]) -> None:
    """Register the built-in prompt formats."""
    for fmt in BUILTIN_FORMATS:
        register(fmt)
