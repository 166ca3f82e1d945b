"""Plugin loading and the typed registry built from the hooks.

This is the only module that calls hooks: type checkers cannot see through
pluggy's hook relay, so everything else goes through ``Registry``. Each plugin
is called on its own, through pluggy's own caller for the hook with every
other plugin left out (``subset_hook_caller``), so pluggy matches arguments to
what an implementation declares and its tracing sees every call. Entry points
load through pluggy (``load_setuptools_entrypoints``), one name at a time.

The built-ins (``default_plugins``) are registered and collected first: a
name they hold cannot be taken by a plugin. A plugin that fails to import,
raises anything inside a hook (``SystemExit`` included; only
``KeyboardInterrupt`` goes through), registers a name that is already taken,
returns the wrong type or implements a hook that does not exist is reported
with a warning naming it and skipped; the rest keeps working.
"""

from __future__ import annotations

import importlib
import os
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pluggy

from llamatasks.errors import PluginError, UnknownBackendError, UnknownTaskError
from llamatasks.plugins import hookspecs

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    import typer

#: The built-in plugins, registered (and collected) before any other.
DEFAULT_PLUGINS: tuple[str, ...] = tuple(
    f"llamatasks.plugins.default_plugins.{name}" for name in ("backends", "prompt_formats", "tasks", "commands"))

#: Comma-separated entry-point names: only these installed plugins load.
PLUGINS_ENV = "LLAMATASKS_PLUGINS"

T = TypeVar("T")


@dataclass
class PluginProblem:
    """Something a plugin did wrong, kept for ``llamatasks plugins``."""

    plugin: str
    problem: str


@dataclass(frozen=True)
class Distribution:
    """The installed distribution an entry-point plugin came from."""

    name: str
    version: str


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as ``llamatasks plugins`` shows it.

    Attributes:
        name: The plugin's name (its entry-point name, or the built-in module's dotted path).
        version: Its distribution's version; llamatasks' own for built-ins; None when unknown.
        distribution: The distribution that installed it; None for built-ins and in-process plugins.
        hooks: The hooks it implements.
        registered: What it registered, as ``"task redact"``, ``"backend openai"``...
        loaded: False when it failed to load (then ``hooks`` and ``registered`` are empty).
        problems: What went wrong with it.
    """

    name: str
    version: str | None
    distribution: str | None
    hooks: tuple[str, ...]
    registered: tuple[str, ...]
    loaded: bool = True
    problems: tuple[str, ...] = ()


class PluginManager(pluggy.PluginManager):
    """pluggy's manager for the ``llamatasks`` hooks, plus what entry-point loading found."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        #: Entry points that failed to load or register, with their problem.
        self.load_problems: list[PluginProblem] = []
        #: Plugin name -> the distribution it came from (None: unknown), for every entry point tried.
        self.distributions: dict[str, Distribution | None] = {}


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
    value = os.environ.get(PLUGINS_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def make_plugin_manager(load_entrypoints: bool = True) -> PluginManager:
    """Create a plugin manager with the built-in plugins and, optionally, installed ones."""
    pm = PluginManager()
    for dotted in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(dotted), name=dotted)
    if load_entrypoints:
        _load_entrypoints(pm)
    return pm


def _load_entrypoints(pm: PluginManager) -> None:
    from importlib.metadata import entry_points

    allowed = _plugin_names_allowed()
    for ep in entry_points(group=hookspecs.PROJECT_NAME):
        if allowed is not None and ep.name not in allowed:
            continue
        pm.distributions[ep.name] = _distribution_of(ep)
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT_NAME, name=ep.name)
        except pluggy.PluginValidationError as exc:  # pluggy refused its hooks, or a name registered twice
            _load_failed(pm, ep.name, f"could not be registered: {exc}")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a broken plugin (even one calling sys.exit) must not break llamatasks
            _load_failed(pm, ep.name, f"failed to load: {exc!r}")


def _load_failed(pm: PluginManager, name: str, problem: str) -> None:
    if pm.has_plugin(name):  # registered, then refused: leave nothing half-registered
        pm.unregister(name=name)
    pm.load_problems.append(PluginProblem(name, f"{problem}; skipped"))
    warnings.warn(f"llamatasks plugin {name} {problem}; skipped", stacklevel=3)


def _distribution_of(ep: EntryPoint) -> Distribution | None:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None
    return Distribution(name=dist.metadata["Name"] or ep.name, version=dist.version)


class Registry:
    """Backends, tasks, prompt formats and CLI commands collected from every plugin."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        from llamatasks.engine.base import BackendSpec
        from llamatasks.prompts.formats import PromptFormat
        from llamatasks.tasks.base import Task

        self.pm = pm
        self.problems: list[PluginProblem] = list(getattr(pm, "load_problems", []))
        self.backends: _Named[BackendSpec] = _Named("backend")
        self.tasks: _Named[Task] = _Named("task")
        self.prompt_formats: _Named[PromptFormat] = _Named("prompt format")
        self.commands: _Named[Any] = _Named("command")
        self._command_apps: list[typer.Typer] = []
        self._check_hook_names()
        self._collect("register_backends", self.backends, BackendSpec)
        self._collect("register_tasks", self.tasks, Task)
        self._collect("register_prompt_formats", self.prompt_formats, PromptFormat)

    def _implementers(self, hook_name: str) -> list[tuple[str, object]]:
        """``(name, plugin)`` of each plugin implementing ``hook_name``, in registration order (built-ins first)."""
        having = {id(impl.plugin) for impl in getattr(self.pm.hook, hook_name).get_hookimpls()}
        return [(name, plugin) for name, plugin in self.pm.list_name_plugin()
                if plugin is not None and id(plugin) in having]

    def _check_hook_names(self) -> None:
        """Report implementations of hooks that do not exist (a typo never silently does nothing).

        pluggy's ``check_pending`` raises at the first such hook; this reports every one, per plugin.
        """
        for name, plugin in self.pm.list_name_plugin():
            for caller in self.pm.get_hookcallers(plugin) or []:
                if not caller.has_spec() and not any(i.optionalhook for i in caller.get_hookimpls()):
                    self._report(name, f"implements {caller.name}, which is not a llamatasks hook; ignored")

    def _collect(self, hook_name: str, table: _Named[Any], expected: type[Any]) -> None:
        # Each plugin is called on its own, and its registrations are kept
        # only if it returns normally, so that one raising plugin is reported
        # and skipped instead of aborting the whole hook call.
        for owner, plugin in self._implementers(hook_name):
            staged: list[Any] = []
            if not self._call(hook_name, owner, plugin, register=staged.append):
                continue
            for item in staged:
                if not isinstance(item, expected):
                    self._report(owner, f"registered {item!r}, not a {expected.__name__}; ignored")
                    continue
                table.add(item.name, item, owner, self.problems)

    def _call(self, hook_name: str, owner: str, plugin: object, **kwargs: Any) -> bool:
        """Call one plugin's implementation of ``hook_name`` through pluggy; False if it raised."""
        others = [p for _, p in self.pm.list_name_plugin() if p is not None and p is not plugin]
        caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            results = caller(**kwargs)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a plugin must not end the program
            self._report(owner, f"{hook_name} raised {exc!r}; its registrations were skipped")
            return False
        for result in results:
            if result is not None:
                self._report(owner, f"{hook_name} returned {result!r}; hooks register, they return nothing")
        return True

    def _report(self, owner: str, problem: str) -> None:
        self.problems.append(PluginProblem(owner, problem))
        warnings.warn(f"llamatasks plugin {owner}: {problem}", stacklevel=3)

    # -- CLI commands ----------------------------------------------------------

    def add_commands(self, app: typer.Typer) -> None:
        """Let every plugin add subcommands to ``app`` (once per app).

        Each plugin writes into a typer app of its own; its commands are then
        moved into ``app``, except those whose name is already taken.
        """
        if any(seen is app for seen in self._command_apps):
            return
        self._command_apps.append(app)
        import typer

        builtin = {name for name, _, _ in commands_of(app)}
        for owner, plugin in self._implementers("register_commands"):
            staging = typer.Typer()
            if not self._call("register_commands", owner, plugin, app=staging):
                continue
            for name, info, is_group in commands_of(staging):
                if name is None:
                    self._report(owner, "added a command group without a name; ignored")
                elif name in builtin:
                    self._report(owner, f"command {name!r} is a built-in llamatasks command; ignored")
                elif name not in self.commands.items:
                    (app.registered_groups if is_group else app.registered_commands).append(info)
                    self.commands.add(name, info, owner, self.problems)
                else:
                    self.commands.add(name, info, owner, self.problems)  # reports the clash

    # -- lookups -----------------------------------------------------------------

    def _tables(self) -> dict[str, _Named[Any]]:
        return {"backend": self.backends, "task": self.tasks, "prompt format": self.prompt_formats,
                "command": self.commands}

    def owners_of(self, kind: str, name: str) -> str:
        """Which plugin registered ``name`` (kind: backend, task, prompt format or command)."""
        return self._tables()[kind].owners[name]

    def plugins(self) -> list[PluginInfo]:
        """Every plugin: loaded ones in registration order, then those that failed to load."""
        registered: dict[str, list[str]] = {}
        for kind, table in self._tables().items():
            for name, owner in table.owners.items():
                registered.setdefault(owner, []).append(f"{kind} {name}")
        problems: dict[str, list[str]] = {}
        for p in self.problems:
            problems.setdefault(p.plugin, []).append(p.problem)
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            dist = self._distribution(name)
            hooks = tuple(c.name for c in self.pm.get_hookcallers(plugin) or [])
            infos.append(PluginInfo(name=name, version=dist.version if dist else _version_of(name, plugin),
                                    distribution=dist.name if dist else None, hooks=hooks,
                                    registered=tuple(registered.get(name, ())),
                                    problems=tuple(problems.get(name, ()))))
        loaded = {info.name for info in infos}
        for p in getattr(self.pm, "load_problems", []):
            if p.plugin not in loaded:
                dist = self._distribution(p.plugin)
                infos.append(PluginInfo(name=p.plugin, version=dist.version if dist else None,
                                        distribution=dist.name if dist else None, hooks=(), registered=(),
                                        loaded=False, problems=tuple(problems.get(p.plugin, ()))))
                loaded.add(p.plugin)
        return infos

    def _distribution(self, name: str) -> Distribution | None:
        return getattr(self.pm, "distributions", {}).get(name)

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


def commands_of(app: typer.Typer) -> list[tuple[str | None, Any, bool]]:
    """``(name, info, is_group)`` for each command and command group added to a typer app."""
    from typer.main import get_command_name

    commands: list[tuple[str | None, Any, bool]] = []
    for info in app.registered_commands:
        name = info.name or (get_command_name(info.callback.__name__) if info.callback else None)
        commands.append((name, info, False))
    for group in app.registered_groups:
        # typer resolves a group's name from add_typer(name=...) or the sub-app's own Typer(name=...).
        name = next((n for n in (group.name, group.typer_instance and group.typer_instance.info.name)
                     if isinstance(n, str)), None)
        commands.append((name, group, True))
    return commands


def _version_of(name: str, plugin: object) -> str | None:
    """llamatasks' version for built-ins; a plugin module's ``__version__`` where it has one."""
    if name in DEFAULT_PLUGINS:
        from llamatasks import __version__

        return __version__
    version = getattr(plugin, "__version__", None)
    return version if isinstance(version, str) else None


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry (built on first use)."""
    return Registry(make_plugin_manager())
