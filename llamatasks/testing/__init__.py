"""Helpers for testing llamatasks plugins and code that runs LLaMA-family models, without real weights.

- :mod:`llamatasks.testing.fixtures`: pytest fixtures (``pytest_plugins = ["llamatasks.testing.fixtures"]``):
  fresh plugin managers and registries, tiny models of each LLaMA generation.
- :mod:`llamatasks.testing.plugins`: register plugins on a fresh registry without installing them.
- :mod:`llamatasks.testing.conformance`: ``BackendConformance``, the suite every backend passes.
- :mod:`llamatasks.testing.parity`: ``assert_same_answers``, every task answered alike by two models.
- :mod:`llamatasks.testing.checkpoints`: tiny random-weight checkpoints that pair real LLaMA
  tokenizers with the chat templates of real model families.

Importing this package imports nothing heavy: pytest, torch and transformers load with the
submodule that needs them.
"""
