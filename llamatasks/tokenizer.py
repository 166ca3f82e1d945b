"""The model's tokenizer, loaded from any LLaMA-generation folder.

Three layouts are supported: ``tokenizer.json`` (fast tokenizer), a
SentencePiece ``tokenizer.model`` (LLaMA 1/2, TinyLlama, OpenLLaMA) and LLaMA
3's tiktoken-format ``tokenizer.model``. User text is always encoded with
special tokens *split*: the text ``<|eot_id|>`` in a review stays plain text
instead of becoming the end-of-turn token.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

from llamatasks.errors import BackendUnavailableError, ModelLoadError


class Tokenizer:
    """Thin wrapper over a transformers tokenizer with llamatasks' encoding policy.

    Safe to use from several threads: user text never goes through the shared
    ``hf`` tokenizer's per-call special-token switch (see ``_splitting_copy``).
    """

    def __init__(self, hf: Any, chat_template: str | None) -> None:
        self.hf = hf
        self.chat_template = chat_template
        self._user_backend = _splitting_copy(hf)

    @classmethod
    def from_dir(cls, path: Path) -> Tokenizer:
        """Load the tokenizer of a model folder."""
        try:
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise BackendUnavailableError(
                "loading a tokenizer needs transformers (its tokenizers only; torch is not needed)",
                hint='pip install "llamatasks[onnx]" for ONNX exports, or "llamatasks[torch]"',
            ) from exc
        config = _read_json(path / "tokenizer_config.json")
        template = _chat_template(path, config)
        sp_model = path / "tokenizer.model"
        try:
            if not (path / "tokenizer.json").exists() and sp_model.exists() and _is_tiktoken(sp_model):
                from llamatasks.tokenization.llama3_tiktoken import load_llama3_tiktoken

                hf = load_llama3_tiktoken(sp_model, special_tokens=_special_tokens(config), chat_template=template)
            else:
                hf = _auto_tokenizer(AutoTokenizer, path, config)
        except Exception as exc:
            raise ModelLoadError(
                f"could not load the tokenizer in {path}: {exc}",
                hint="the folder needs tokenizer.json or tokenizer.model (SentencePiece or LLaMA 3 tiktoken ranks)",
            ) from exc
        return cls(hf, template or getattr(hf, "chat_template", None))

    # -- encoding policy --------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Plain-text ids: no BOS/EOS added, special-token strings split into text."""
        if not text:
            return []
        if self._user_backend is not None:
            return list(self._user_backend.encode(text, add_special_tokens=False).ids)
        # Slow (pure Python) tokenizers take split_special_tokens per call, with no shared state.
        return list(self.hf(text, add_special_tokens=False, split_special_tokens=True)["input_ids"])

    def encode_inner(self, text: str) -> list[int]:
        """Like ``encode``, for text that continues a string (no SentencePiece dummy space).

        Encodes after a newline anchor and drops the anchor's ids; a newline is
        its own token in every LLaMA vocabulary, so nothing merges across it.
        """
        if not text:
            return []
        anchor = self.encode("\n")
        joined = self.encode("\n" + text)
        if joined[: len(anchor)] == anchor:
            return joined[len(anchor):]
        return self.encode(text)

    @cached_property
    def space_after_special(self) -> bool:
        """Whether text right after a special token gets a dummy-prefix space (legacy SentencePiece)."""
        special = self.eos_token or self.bos_token
        if not special:
            return False
        after = list(self.hf(special + "a", add_special_tokens=False)["input_ids"])[1:]
        return after == self.encode("a") and after != self.encode_inner("a")

    def encode_trusted(self, text: str) -> list[int]:
        """Ids of template text we wrote ourselves (special-token strings are not split)."""
        if not text:
            return []
        return list(self.hf(text, add_special_tokens=False, split_special_tokens=False)["input_ids"])

    def decode(self, ids: list[int], *, skip_special: bool = True) -> str:
        """Text of ``ids``."""
        return str(self.hf.decode(ids, skip_special_tokens=skip_special))

    def tokens(self, ids: list[int]) -> list[str]:
        """The vocabulary pieces of ``ids`` (for showing a prompt)."""
        return [str(t) for t in self.hf.convert_ids_to_tokens(ids)]

    def count(self, text: str) -> int:
        """How many tokens ``text`` takes as user text."""
        return len(self.encode(text))

    # -- vocabulary facts -------------------------------------------------

    def token_id(self, token: str) -> int | None:
        """Id of a single vocabulary entry (e.g. ``<|eot_id|>``), or None if absent."""
        tid = self.hf.convert_tokens_to_ids(token)
        if tid is None or tid == self.hf.unk_token_id and token != self.hf.unk_token:
            return None
        return int(tid)

    @cached_property
    def special_strings(self) -> list[str]:
        """Strings the tokenizer maps to special tokens, longest first."""
        specials = {str(t) for t in self.hf.all_special_tokens}
        decoder = getattr(self.hf, "added_tokens_decoder", {}) or {}
        specials |= {str(tok.content) for tok in decoder.values() if getattr(tok, "special", False)}
        return sorted((s for s in specials if s), key=len, reverse=True)

    @property
    def bos_id(self) -> int | None:
        return None if self.hf.bos_token_id is None else int(self.hf.bos_token_id)

    @property
    def eos_id(self) -> int | None:
        return None if self.hf.eos_token_id is None else int(self.hf.eos_token_id)

    @property
    def bos_token(self) -> str:
        return str(self.hf.bos_token or "")

    @property
    def eos_token(self) -> str:
        return str(self.hf.eos_token or "")

    @cached_property
    def vocab_size(self) -> int:
        return len(self.hf)

    @cached_property
    def newline_ids(self) -> tuple[int, ...]:
        """Ids whose text contains a line break (used to stop one-line answers)."""
        pieces = self.hf.convert_ids_to_tokens(list(range(self.vocab_size)))
        markers = ("\n", "Ċ", "<0x0A>")
        return tuple(i for i, p in enumerate(pieces) if p and any(m in p for m in markers))


def _splitting_copy(hf: Any) -> Any | None:
    """A private copy of ``hf``'s Rust backend that always splits special-token strings; None for slow tokenizers.

    transformers implements ``split_special_tokens`` by setting the backend's one
    ``encode_special_tokens`` flag before each call, so a thread encoding trusted
    text between another thread's set and encode turns ``<|eot_id|>`` in user
    text into the real token. The copy is configured once and never toggled
    (costs 0.2-0.7 s and ~45 MB at load for 32k-128k vocabularies).
    """
    backend = getattr(hf, "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer as Backend

    copy = Backend.from_str(backend.to_str())
    copy.encode_special_tokens = True
    copy.no_truncation()  # as transformers does for a call without truncation= or padding=
    copy.no_padding()
    return copy


def _auto_tokenizer(auto: Any, path: Path, tokenizer_config: dict[str, Any]) -> Any:
    """``AutoTokenizer.from_pretrained``, past a config.json that transformers' strict config classes refuse.

    transformers 5.x parses config.json only to pick the tokenizer class, and
    rejects a field typed otherwise than its config class declares (Llama 4's
    published ``"attn_temperature_tuning": 4``). When tokenizer_config.json
    names the class, the model config is not needed: load with a blank one.
    """
    try:
        return auto.from_pretrained(path, trust_remote_code=False)
    except Exception:
        if not tokenizer_config.get("tokenizer_class"):
            raise
        from transformers import PreTrainedConfig

        return auto.from_pretrained(path, trust_remote_code=False, config=PreTrainedConfig())


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}", hint="re-download the model files") from exc


def _chat_template(path: Path, config: dict[str, Any]) -> str | None:
    jinja = path / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text(encoding="utf-8")
    template = config.get("chat_template")
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template}
        template = named.get("default")
    return template if isinstance(template, str) else None


def _special_tokens(config: dict[str, Any]) -> dict[str, int] | None:
    decoder = config.get("added_tokens_decoder") or {}
    tokens = {str(v["content"]): int(k) for k, v in decoder.items() if isinstance(v, dict) and "content" in v}
    return tokens or None


def _is_tiktoken(path: Path) -> bool:
    from llamatasks.tokenization.llama3_tiktoken import is_tiktoken_ranks_file

    return is_tiktoken_ranks_file(path)
