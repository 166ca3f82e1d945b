"""Load LLaMA 3's tiktoken-format ``tokenizer.model`` as a transformers fast tokenizer.

Meta ships LLaMA 3 (and 3.1-3.3) with a ``tokenizer.model`` that is *not* a
SentencePiece model but tiktoken BPE ranks: one ``<base64 token> <rank>`` line per
entry, 128,000 entries, plus 256 special tokens that only exist in Meta's Python
code. Given such a folder without ``tokenizer.json``, transformers 5.x first
fails to parse it as SentencePiece, then falls back to tiktoken and numbers the
special tokens from ``tokenizer_config.json`` (or not at all), so e.g.
``<|eot_id|>`` can silently get the wrong id. This module rebuilds the
tokenizer the way Meta's ``tokenizer.py`` defines it.

transformers is imported inside the functions so that importing llamatasks
stays cheap.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

__all__ = [
    "BEGIN_OF_TEXT",
    "END_OF_TEXT",
    "END_OF_TURN",
    "LLAMA3_PRETOKENIZE_PATTERN",
    "is_tiktoken_ranks_file",
    "llama3_special_tokens",
    "load_llama3_tiktoken",
    "read_tiktoken_ranks",
]

#: Pre-tokenization regex of Meta's LLaMA 3 ``tokenizer.py`` (``pat_str``).
LLAMA3_PRETOKENIZE_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
END_OF_TURN = "<|eot_id|>"

#: Meta reserves this many ids after the BPE ranks for special tokens.
_NUM_SPECIAL_TOKENS = 256

# The named special tokens in id order, exactly as LLaMA 3.1's tokenizer.py lists
# them; the remaining slots are ``<|reserved_special_token_3|>`` onwards.
_NAMED_SPECIAL_TOKENS = (
    BEGIN_OF_TEXT,
    END_OF_TEXT,
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    END_OF_TURN,
    "<|python_tag|>",
)
_FIRST_NUMBERED_RESERVED = 3

# How much of a file `is_tiktoken_ranks_file` looks at: enough for several rank
# lines (the first entries are single bytes), far less than a whole model file.
_SNIFF_BYTES = 512
_RANK_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2} [0-9]+")


def llama3_special_tokens(base_vocab_size: int = 128_000) -> dict[str, int]:
    """Return LLaMA 3's 256 special tokens and their ids.

    Args:
        base_vocab_size: Number of BPE ranks; the special tokens are numbered
            right after them (128,000 for every released LLaMA 3 model).

    Returns:
        Token string to id, from ``<|begin_of_text|>`` (``base_vocab_size``) to
        ``<|reserved_special_token_247|>`` (``base_vocab_size + 255``).
    """
    reserved_count = _NUM_SPECIAL_TOKENS - len(_NAMED_SPECIAL_TOKENS)
    reserved = tuple(f"<|reserved_special_token_{_FIRST_NUMBERED_RESERVED + i}|>" for i in range(reserved_count))
    return {token: base_vocab_size + i for i, token in enumerate(_NAMED_SPECIAL_TOKENS + reserved)}


def is_tiktoken_ranks_file(path: Path) -> bool:
    """Tell a tiktoken ranks file from a SentencePiece model by its first bytes.

    Both formats are called ``tokenizer.model``. A ranks file is text lines of
    ``<base64> <rank>``; a SentencePiece model is a binary protobuf (it starts
    with byte ``0x0a``), so a few lines are enough to decide.

    Args:
        path: The file to inspect. Only the first few hundred bytes are read.

    Returns:
        True if the file starts with well-formed rank lines, False otherwise
        (including when it cannot be read).
    """
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    lines = head.split(b"\n")
    if len(head) == _SNIFF_BYTES:
        # The read may have cut the last line short: judge complete lines only.
        lines = lines[:-1]
    lines = [line.rstrip(b"\r") for line in lines if line.strip()]
    return bool(lines) and all(_RANK_LINE.fullmatch(line) for line in lines)


def read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    """Parse a tiktoken ranks file.

    This reads the file directly instead of through ``tiktoken.load``, whose
    cache keys local files by path alone: a file replaced at the same path would
    be served stale from ``$TMPDIR/data-gym-cache``.

    Args:
        path: A ``<base64 token> <rank>`` per line file.

    Returns:
        Token bytes to rank.

    Raises:
        ValueError: If a line is malformed or the ranks are not exactly
            ``0 .. n-1`` (special token ids are assigned right after them).
    """
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(Path(path).read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        token, rank = _parse_rank_line(line, number, path)
        ranks[token] = rank
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise ValueError(f"{path}: ranks are not the dense range 0..{len(ranks) - 1}")
    return ranks


def _parse_rank_line(line: bytes, number: int, path: Path) -> tuple[bytes, int]:
    """Decode one ``<base64> <rank>`` line; errors name the file and line."""
    try:
        token, rank = line.split()
        return base64.b64decode(token, validate=True), int(rank)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"{path}:{number}: not a tiktoken rank line: {line[:80]!r}") from exc


def load_llama3_tiktoken(
    path: Path,
    *,
    special_tokens: Mapping[str, int] | None = None,
    chat_template: str | None = None,
) -> PreTrainedTokenizerFast:
    """Convert LLaMA 3's tiktoken ranks into a transformers fast tokenizer.

    The returned tokenizer never adds BOS or EOS by itself (no template
    post-processor): ``tok("hi")["input_ids"]`` equals
    ``tok("hi", add_special_tokens=False)["input_ids"]``, because llamatasks'
    prompt code adds BOS exactly once itself. Special-token strings in text are
    matched as special tokens unless ``split_special_tokens=True`` is passed.

    Args:
        path: The tiktoken-format ``tokenizer.model``.
        special_tokens: Special token string to id. Ids must not overlap the BPE
            ranks; gaps are filled with placeholder tokens so that every id keeps
            its place. Defaults to LLaMA 3.1's 256 special tokens.
        chat_template: Jinja chat template to attach. An instruct model (one
            with a template) ends its turns with ``<|eot_id|>``, so that becomes
            the EOS token; otherwise EOS is ``<|end_of_text|>``.

    Returns:
        A ``PreTrainedTokenizerFast`` with BOS ``<|begin_of_text|>``.

    Raises:
        ValueError: If the ranks file is malformed or ``special_tokens`` is
            inconsistent with it.
    """
    from transformers import PreTrainedTokenizerFast

    ranks = read_tiktoken_ranks(path)
    wanted = llama3_special_tokens(len(ranks)) if special_tokens is None else dict(special_tokens)
    backend = _convert(ranks, _special_tokens_in_id_order(wanted, base_vocab_size=len(ranks)))
    _check_special_ids(backend, wanted)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        # A token missing from a custom `special_tokens` must stay unset: naming
        # it here would append it to the vocabulary under a new id.
        bos_token=BEGIN_OF_TEXT if BEGIN_OF_TEXT in wanted else None,
        eos_token=_eos_token(wanted, instruct=chat_template is not None),
        chat_template=chat_template,
        # Cleanup strips spaces before punctuation: destructive for byte-level BPE.
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def _eos_token(special_tokens: Mapping[str, int], *, instruct: bool) -> str | None:
    """Pick EOS: end of turn for instruct models, end of text otherwise."""
    preferred = (END_OF_TURN, END_OF_TEXT) if instruct else (END_OF_TEXT,)
    return next((token for token in preferred if token in special_tokens), None)


def _special_tokens_in_id_order(special_tokens: Mapping[str, int], *, base_vocab_size: int) -> list[str]:
    """List special tokens by id from ``base_vocab_size``, filling gaps.

    The converter gives added tokens consecutive ids after the BPE ranks, in
    list order, so the list position *is* the id.

    Raises:
        ValueError: If an id falls inside the BPE ranks or two tokens share one.
    """
    by_id: dict[int, str] = {}
    for token, token_id in special_tokens.items():
        if token_id < base_vocab_size:
            raise ValueError(f"special token {token!r} has id {token_id}, inside the {base_vocab_size} BPE ranks")
        if token_id in by_id:
            raise ValueError(f"special tokens {by_id[token_id]!r} and {token!r} share id {token_id}")
        by_id[token_id] = token
    end = max(by_id, default=base_vocab_size - 1) + 1
    # Placeholders keep later ids in place, as transformers does for such gaps.
    return [by_id.get(i, f"<|reserved_token_{i}|>") for i in range(base_vocab_size, end)]


def _convert(ranks: dict[bytes, int], ordered_special_tokens: list[str]) -> Tokenizer:
    """Build the ``tokenizers`` backend with transformers' ``TikTokenConverter``."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    class _ParsedRanksConverter(TikTokenConverter):
        """Feeds already-parsed ranks to the converter instead of reading a file."""

        @staticmethod
        def load_tiktoken_bpe(tiktoken_url: str) -> dict[bytes, int]:
            return ranks

    converter = _ParsedRanksConverter(
        vocab_file=None,
        pattern=LLAMA3_PRETOKENIZE_PATTERN,
        extra_special_tokens=ordered_special_tokens,
    )
    backend: Tokenizer = converter.converted()
    return backend


def _check_special_ids(backend: Tokenizer, special_tokens: Mapping[str, int]) -> None:
    """Fail loudly if a special token did not land on its intended id.

    A wrong id (e.g. ``<|eot_id|>`` off by one) would not raise anywhere else:
    generation would just never stop.
    """
    wrong = {
        token: (token_id, backend.token_to_id(token))
        for token, token_id in special_tokens.items()
        if backend.token_to_id(token) != token_id
    }
    if wrong:
        sample = dict(list(wrong.items())[:5])
        raise ValueError(f"special tokens got unexpected ids (token: (wanted, got)): {sample}")
