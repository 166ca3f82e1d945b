"""The hooks a llamatasks plugin can implement.

Plugins are found through the ``llamatasks`` entry-point group. Every hook is
collect-style: the ``register_*`` hooks receive a ``register`` callable and call
it once per thing they contribute; ``register_commands`` receives the CLI's
typer app. No hook is ``firstresult``. The built-in backends, tasks, prompt
formats and commands are registered through these same hooks, by the modules
in ``llamatasks.plugins.default_plugins``; they are collected before any
installed plugin, so a plugin cannot replace a built-in name. An
implementation may declare fewer arguments than its spec (pluggy passes only
those it names). ``docs/hooks.md`` documents each hook (a test checks that it
does). Plugin authors import ``hookimpl`` from ``llamatasks.plugins``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

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


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add CLI subcommands: decorate functions with ``@app.command()`` (or ``app.add_typer(sub, name=...)``)."""
