"""Tokenizer loaders for formats that transformers does not read correctly on its own.

The only one so far is LLaMA 3's tiktoken-format ``tokenizer.model`` (see
:mod:`llamatasks.tokenization.llama3_tiktoken`). Submodules import transformers
lazily, so importing this package stays cheap.
"""
