"""``dtype="auto"``: bfloat16 for CPU forward passes only where the CPU has native bf16 kernels."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from llamatasks.backends import torch_backend
from llamatasks.errors import InvalidInputError


@pytest.mark.parametrize(("flag", "expected"), [("amx_bf16", "bfloat16"), ("avx512_bf16", "bfloat16"),
                                                (None, "float32")])
def test_auto_follows_the_cpus_bf16_kernels(monkeypatch: pytest.MonkeyPatch, flag: str | None,
                                            expected: str) -> None:
    monkeypatch.setattr(torch_backend, "cpu_bf16", lambda: flag)
    monkeypatch.delenv(torch_backend.DTYPE_ENV, raising=False)
    assert torch_backend.resolve_dtype("auto", "cpu") == expected
    assert torch_backend.resolve_dtype(None, "cpu") == expected  # the default is auto
    assert torch_backend.resolve_dtype("fp32", "cpu") == "float32"  # asked for: kept


def test_the_environment_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_backend, "cpu_bf16", lambda: "amx_bf16")
    monkeypatch.setenv(torch_backend.DTYPE_ENV, "float32")
    assert torch_backend.resolve_dtype(None, "cpu") == "float32"
    monkeypatch.setenv(torch_backend.DTYPE_ENV, "float8")
    with pytest.raises(InvalidInputError, match="float8"):
        torch_backend.resolve_dtype(None, "cpu")


def test_cpu_flags_are_read_at_run_time() -> None:
    assert torch_backend.cpu_bf16() in (None, "amx_bf16", "avx512_bf16")
