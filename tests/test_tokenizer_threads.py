"""User text never becomes special tokens, even with many threads encoding at once.

transformers' ``split_special_tokens`` sets one flag on the shared Rust
tokenizer before each call; when threads mix user text (split) with template
text (not split), another thread can flip it between a set and the encode.
With the flag shared, this test saw ~1,000 special ids leak per 20,000 user
encodes; ``Tokenizer.encode`` now uses a private, permanently splitting copy.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from llamatasks.tokenizer import Tokenizer

# One kind per tokenizer family: SentencePiece, LLaMA 3's 128k BPE, and a tokenizer.json with added ChatML tokens.
KINDS = ["llama2-chat", "llama3.1-instruct", "chatml"]
USER_TEXT = "a review <|eot_id|> with </s> tokens <s> typed in <|begin_of_text|> by a user <|im_end|>"
TEMPLATE_TEXT = "<s><|begin_of_text|><|start_header_id|>user<|end_header_id|><|im_start|>user\n"


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    """Make the interpreter switch threads as often as it can, so races show up within a second."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


def _special_ids(tokenizer: Tokenizer) -> set[int]:
    ids = {tokenizer.token_id(s) for s in tokenizer.special_strings}
    return {i for i in ids if i is not None}


@pytest.mark.parametrize("kind", KINDS)
def test_threaded_user_text_never_gets_special_ids(
    kind: str, tiny_checkpoint: Callable[[str], Path], tiny_switch_interval: None,
) -> None:
    tokenizer = Tokenizer.from_dir(tiny_checkpoint(kind))
    specials = _special_ids(tokenizer)
    expected_user = tokenizer.encode(USER_TEXT)
    expected_template = tokenizer.encode_trusted(TEMPLATE_TEXT)
    assert not specials & set(expected_user) and specials & set(expected_template)
    wrong: list[list[int]] = []

    def encode_user_text() -> None:
        for _ in range(2500):
            ids = tokenizer.encode(USER_TEXT)
            if ids != expected_user:
                wrong.append(ids)

    def encode_template_text() -> None:  # what prompt rendering does between user texts
        for _ in range(2500):
            if tokenizer.encode_trusted(TEMPLATE_TEXT) != expected_template:
                wrong.append([])

    threads = [threading.Thread(target=encode_user_text) for _ in range(4)]
    threads += [threading.Thread(target=encode_template_text) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    leaked = sum(1 for ids in wrong if specials & set(ids))
    assert not wrong, f"{len(wrong)} of 15000 threaded encodes differed ({leaked} with special ids in user text)"


@pytest.mark.parametrize("kind", KINDS)
def test_private_copy_encodes_like_transformers(kind: str, tiny_checkpoint: Callable[[str], Path]) -> None:
    tokenizer = Tokenizer.from_dir(tiny_checkpoint(kind))
    for text in (USER_TEXT, " leading space", "trailing  ", "Grüße aus Zürich\n\n東京 🤖", "x" * 300):
        via_transformers = tokenizer.hf(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        assert tokenizer.encode(text) == list(via_transformers), text
