"""The front door for plugin authors: everything a backend, task, prompt format or command plugin uses.

A plugin imports from here only::

    from llamatasks.plugins import hookimpl, Task, TaskModel, TaskOptions, label_distributions

and is found through the ``llamatasks`` entry-point group (``docs/hooks.md``
lists the hooks, ``docs/writing-a-plugin.md`` walks through one). What is
named here is the supported surface; the modules behind it may move.
The machinery that loads plugins is ``llamatasks.plugins.manager``.
"""

from __future__ import annotations

from llamatasks.engine.base import (
    BackendSpec,
    Capability,
    Constraint,
    Engine,
    GenerateRequest,
    GenerationOptions,
    GenerationOutput,
    LoadRequest,
    ScoreRequest,
    require,
    trim_at_stop,
)
from llamatasks.engine.stepping import StepEngine, generate_by_steps
from llamatasks.errors import CapabilityError, InvalidInputError, LlamaTasksError
from llamatasks.plugins.hookspecs import hookimpl
from llamatasks.plugins.manager import Registry, default_registry
from llamatasks.prompts.formats import PromptFormat
from llamatasks.prompts.render import Message, Prompt, User
from llamatasks.results import (
    Answer,
    Classification,
    Entities,
    Entity,
    Generation,
    Provenance,
    Sentiment,
    Summary,
    Translation,
)
from llamatasks.tasks.base import Task, TaskModel
from llamatasks.tasks.inputs import as_text_list, read_text
from llamatasks.tasks.ner import NerOptions, NerTask
from llamatasks.tasks.options import Flag, OptionText, TaskOptions
from llamatasks.tasks.scoring import label_distributions

__all__ = [
    "Answer",
    "BackendSpec",
    "Capability",
    "CapabilityError",
    "Classification",
    "Constraint",
    "Engine",
    "Entities",
    "Entity",
    "Flag",
    "GenerateRequest",
    "Generation",
    "GenerationOptions",
    "GenerationOutput",
    "InvalidInputError",
    "LlamaTasksError",
    "LoadRequest",
    "Message",
    "NerOptions",
    "NerTask",
    "OptionText",
    "Prompt",
    "PromptFormat",
    "Provenance",
    "Registry",
    "ScoreRequest",
    "Sentiment",
    "StepEngine",
    "Summary",
    "Task",
    "TaskModel",
    "TaskOptions",
    "Translation",
    "User",
    "as_text_list",
    "default_registry",
    "generate_by_steps",
    "hookimpl",
    "label_distributions",
    "read_text",
    "require",
    "trim_at_stop",
]
