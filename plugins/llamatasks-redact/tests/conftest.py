"""Fixtures come from ``llamatasks.testing.fixtures``, loaded by the repository's root conftest.

Outside this repository, put ``pytest_plugins = ["llamatasks.testing.fixtures"]`` in your
top-level conftest.py (pytest refuses ``pytest_plugins`` in nested conftest files).
"""
