"""Plugin loading and the typed registry built from the hooks.

This is the only module that calls ``pm.hook.*``: type checkers cannot see
through pluggy's hook relay, so everything else goes through ``Registry``.
A plugin that fails to import, raises inside a hook or registers a name that
is already taken is reported with a warning naming it and skipped; the rest
keeps working.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Generic, TypeVar

import pluggy

from llamatasks import hookspecs
from llamatasks.errors import PluginError, UnknownBackendError, UnknownTaskError

DEFAULT_PLUGINS: tuple[str, ...] = (
    "llamatasks.backends.torch_backend",
    "llamatasks.prompts.builtin",
    "llamatasks.tasks.builtin",
)

T = TypeVar("T")


@dataclass
class PluginProblem:
    """Something a plugin did wrong, kept for ``llamatasks plugins``."""

    plugin: str
    problem: str


@dataclass
class _Named(Generic[T]):
    """Name -> item table that refuses a second registration of a name."""

    kind: str
    items: dict[str, T] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, item: T, owner: str, problems: list[PluginProblem]) -> None:
        if name in self.items:
            problem = f"{self.kind} {name!r} is already registered by {self.owners[name]}; ignored"
            problems.append(PluginProblem(owner, problem))
            warnings.warn(f"llamatasks plugin {owner}: {problem}", stacklevel=2)
            return
        self.items[name] = item
        self.owners[name] = owner


def _plugin_names_allowed() -> set[str] | None:
    """Names from ``LLAMATASKS_PLUGINS`` (comma-separated), or None for all."""
    value = os.environ.get("LLAMATASKS_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def make_plugin_manager(load_entrypoints: bool = True) -> pluggy.PluginManager:
    """Create a plugin manager with the built-in plugins and, optionally, installed ones."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for dotted in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(dotted), name=dotted)
    if load_entrypoints:
        _load_entrypoints(pm)
    return pm


def _load_entrypoints(pm: pluggy.PluginManager) -> None:
    from importlib.metadata import entry_points

    allowed = _plugin_names_allowed()
    for ep in entry_points(group=hookspecs.PROJECT_NAME):
        if allowed is not None and ep.name not in allowed:
            continue
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not break llamatasks
            _FAILED_IMPORTS.append(PluginProblem(ep.name, f"failed to load: {exc!r}"))
            warnings.warn(f"llamatasks plugin {ep.name} failed to load and was skipped: {exc!r}", stacklevel=2)


_FAILED_IMPORTS: list[PluginProblem] = []


class Registry:
    """Backends, tasks and prompt formats collected from every plugin."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        from llamatasks.engine.base import BackendSpec
        from llamatasks.prompts.formats import PromptFormat
        from llamatasks.tasks.base import Task

        self.pm = pm
        self.problems: list[PluginProblem] = list(_FAILED_IMPORTS)
        self.backends: _Named[BackendSpec] = _Named("backend")
        self.tasks: _Named[Task] = _Named("task")
        self.prompt_formats: _Named[PromptFormat] = _Named("prompt format")
        self._collect("register_backends", self.backends, BackendSpec)
        self._collect("register_tasks", self.tasks, Task)
        self._collect("register_prompt_formats", self.prompt_formats, PromptFormat)

    def _collect(self, hook_name: str, table: _Named[Any], expected: type) -> None:
        # Each implementation is called on its own so that one raising plugin
        # is reported and skipped instead of aborting the whole hook call.
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls()[::-1]:
            owner = impl.plugin_name
            register = self._register_into(table, expected, owner)
            try:
                impl.function(register)
            except Exception as exc:
                self._report(owner, f"{hook_name} raised {exc!r}; its registrations were skipped")

    def _register_into(self, table: _Named[Any], expected: type, owner: str) -> Callable[[Any], None]:
        def register(item: Any) -> None:
            if not isinstance(item, expected):
                self._report(owner, f"registered {item!r}, not a {expected.__name__}; ignored")
                return
            table.add(item.name, item, owner, self.problems)

        return register

    def _report(self, owner: str, problem: str) -> None:
        self.problems.append(PluginProblem(owner, problem))
        warnings.warn(f"llamatasks plugin {owner}: {problem}", stacklevel=3)

    def owners_of(self, kind: str, name: str) -> str:
        """Which plugin registered ``name`` (kind: backend, task or prompt format)."""
        tables: dict[str, _Named[Any]] = {"backend": self.backends, "task": self.tasks,
                                          "prompt format": self.prompt_formats}
        table = tables[kind]
        return table.owners[name]

    def backend(self, name: str) -> Any:
        """The ``BackendSpec`` registered as ``name``."""
        try:
            return self.backends.items[name]
        except KeyError:
            known = ", ".join(sorted(self.backends.items))
            raise UnknownBackendError(f"unknown backend {name!r} (registered: {known})") from None

    def task(self, name: str) -> Any:
        """The ``Task`` registered as ``name``."""
        try:
            return self.tasks.items[name]
        except KeyError:
            known = ", ".join(sorted(self.tasks.items))
            raise UnknownTaskError(f"unknown task {name!r} (registered: {known})") from None

    def formats_in_order(self) -> list[Any]:
        """Prompt formats, highest detection priority first."""
        return sorted(self.prompt_formats.items.values(), key=lambda f: -f.priority)

    def prompt_format(self, name: str) -> Any:
        try:
            return self.prompt_formats.items[name]
        except KeyError:
            known = ", ".join(sorted(self.prompt_formats.items))
            raise PluginError(f"unknown prompt format {name!r} (registered: {known})",
                              hint="run `llamatasks plugins` to list the prompt formats") from None


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry (built on first use)."""
    return Registry(make_plugin_manager())
