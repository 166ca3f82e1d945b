"""The hooks a llamatasks plugin can implement.

Plugins are found through the ``llamatasks`` entry-point group. Every hook is
collect-style: it receives a ``register`` callable and calls it once per thing
it contributes. The built-in backends, tasks and prompt formats are registered
through these same hooks, marked ``trylast`` so an installed plugin comes first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from llamatasks.engine.base import BackendSpec
    from llamatasks.prompts.formats import PromptFormat
    from llamatasks.tasks.base import Task

PROJECT_NAME = "llamatasks"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    """Register inference backends: call ``register(BackendSpec(...))`` once per backend."""


@hookspec
def register_tasks(register: Callable[[Task], None]) -> None:
    """Register tasks: call ``register(task)`` once per ``Task`` instance."""


@hookspec
def register_prompt_formats(register: Callable[[PromptFormat], None]) -> None:
    """Register prompt formats: call ``register(fmt)`` once per ``PromptFormat`` instance."""
