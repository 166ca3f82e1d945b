"""The built-in plugins: the only built-in modules that implement hooks.

They register llamatasks' own backends, prompt formats, tasks and commands
through the same hooks a third-party plugin uses, and are collected before any
installed plugin (``llamatasks.plugins.manager.DEFAULT_PLUGINS``).
"""
