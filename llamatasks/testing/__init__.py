"""Helpers for testing code that runs LLaMA-family models, without real weights.

:mod:`llamatasks.testing.checkpoints` writes tiny random-weight checkpoints that
pair real LLaMA tokenizers with the chat templates of real model families.
"""
