"""Plugin managers and registries for tests: register plugins without installing them."""

from __future__ import annotations

import types

from llamatasks.plugins.manager import PluginManager, Registry, make_plugin_manager

__all__ = ["fresh_plugin_manager", "plugin_name", "registry_with"]


def fresh_plugin_manager(*, load_entrypoints: bool = False) -> PluginManager:
    """A new plugin manager with the built-in plugins (and installed ones if asked)."""
    return make_plugin_manager(load_entrypoints=load_entrypoints)


def plugin_name(plugin: object) -> str:
    """The name a plugin is registered under: a module's dotted name, else its class name."""
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    return type(plugin).__name__


def registry_with(*plugins: object, load_entrypoints: bool = False) -> Registry:
    """A registry of the built-ins plus ``plugins`` (modules or objects with ``@hookimpl`` methods).

    Problems the plugins cause are in ``registry.problems`` (and warned), as in real use.
    """
    pm = fresh_plugin_manager(load_entrypoints=load_entrypoints)
    for plugin in plugins:
        pm.register(plugin, name=plugin_name(plugin))
    return Registry(pm)
