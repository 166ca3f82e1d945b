"""Fixtures for the whole repository (core tests and first-party plugins' tests).

They come from ``llamatasks.testing.fixtures``, the same pytest plugin that
third-party plugin authors use: tiny random-weight checkpoints of each LLaMA
generation (built once per session around ../shared/fixtures/tokenizers, and
skipped with a clear reason where that folder is absent) and fresh plugin
registries.
"""

pytest_plugins = ["llamatasks.testing.fixtures"]
