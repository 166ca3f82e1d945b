"""Fixtures for the whole repository (core tests and first-party plugins' tests).

They come from ``llamatasks.testing.fixtures``, the same pytest plugin that
third-party plugin authors use: tiny random-weight checkpoints of each LLaMA
generation (built once per session around ../shared/fixtures/tokenizers, and
skipped with a clear reason where that folder is absent) and fresh plugin
registries.
"""

pytest_plugins = ["llamatasks.testing.fixtures"]

import os

# The suite compares engines with a float32 transformers reference and with each other: it runs in
# float32 even where dtype="auto" picks bfloat16 (CPUs with AMX or AVX512-BF16). Tests of the choice
# itself pass dtype explicitly.
os.environ.setdefault("LLAMATASKS_DTYPE", "float32")
