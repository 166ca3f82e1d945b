"""User text is spliced into prompts as plain text, whatever it contains.

The renderer stands in for ``User`` pieces with placeholders while the chat
template renders. These tests check that no text a caller passes, trusted or
not, can collide with those placeholders (the old fixed sentinel
``\\ue000<n>\\ue001`` crashed or swapped in user text), and that on every
built-in prompt format and real LLaMA tokenizer, user text in any turn adds
no special token and comes back intact.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamatasks.errors import InputTypeError, InvalidInputError, PromptFormatError
from llamatasks.plugins import default_registry
from llamatasks.profile import build_profile
from llamatasks.prompts.builtin import BUILTIN_FORMATS
from llamatasks.prompts.formats import PromptFormat
from llamatasks.prompts.render import Content, Message, Prompt, PromptRenderer, User
from llamatasks.tokenization.llama3_tiktoken import llama3_special_tokens
from llamatasks.tokenizer import Tokenizer

CHAT_KINDS = ["llama2-chat", "llama3-instruct", "llama3.1-instruct", "llama4-text-instruct", "chatml", "zephyr"]

# The placeholder of the old renderer, and the characters the new one draws
# its placeholders from first (the start of the private-use area).
OLD_SENTINELS = ["\ue0000\ue001", "\ue0007\ue001", "\ue00012\ue001"]
INTERNALS = [*OLD_SENTINELS, "\ue000", "\ue001", "\ue002", "\ue003", "\ue0010\ue002", "\ue001\ue000"]


@functools.cache
def _loaded(path: Path) -> tuple[Tokenizer, str, bool]:
    """A model's tokenizer, its detected prompt format and whether it adds BOS (loading is the slow part)."""
    tokenizer = Tokenizer.from_dir(path)
    profile = build_profile(path, path.name, tokenizer, default_registry().formats_in_order())
    return tokenizer, profile.prompt_format, profile.add_bos


@functools.cache
def _renderer(path: Path, fmt_name: str | None = None, *, builtin_template: bool = False) -> PromptRenderer:
    """The renderer a model at ``path`` gets, optionally forced to another format or its built-in template."""
    tokenizer, detected, add_bos = _loaded(path)
    fmt = default_registry().prompt_format(fmt_name or detected)
    if builtin_template:
        fmt = dataclasses.replace(fmt, use_model_template=False)
    return PromptRenderer(tokenizer, fmt, add_bos)


def _reference_ids(renderer: PromptRenderer, messages: list[dict[str, str]], prefix: str = "") -> list[int]:
    """What transformers renders for the same conversation, encoded with special tokens parsed."""
    tokenizer = renderer.tokenizer
    text = tokenizer.hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                            chat_template=tokenizer.chat_template)
    if prefix:
        text += renderer.format.answer_lead + prefix
    return tokenizer.encode_trusted(text)


@functools.cache
def _special_id_set(tokenizer: Tokenizer) -> frozenset[int | None]:
    return frozenset(tokenizer.token_id(s) for s in tokenizer.special_strings) - {None}


def _special_ids(renderer: PromptRenderer, ids: list[int]) -> Counter[int]:
    """How often each special token occurs in ``ids``."""
    specials = _special_id_set(renderer.tokenizer)
    return Counter(i for i in ids if i in specials)


# -- (a) the old placeholder, and lookalikes, in any text ----------------------


@pytest.mark.parametrize("sentinel", OLD_SENTINELS)
@pytest.mark.parametrize("kind", CHAT_KINDS)
def test_old_placeholder_in_trusted_text_is_plain_text(
    kind: str, sentinel: str, tiny_checkpoint: Callable[[str], Path]
) -> None:
    """A label or system text holding the old sentinel renders as written: no IndexError, no swap."""
    renderer = _renderer(tiny_checkpoint(kind))
    system = f"Labels: positive, {sentinel}."
    prompt = renderer.render([Message("system", system), Message("user", ["Review: ", User("secret"), "."])])
    assert prompt.ids == _reference_ids(
        renderer, [{"role": "system", "content": system}, {"role": "user", "content": "Review: secret."}]
    )
    assert system in prompt.text


@pytest.mark.parametrize("kind", CHAT_KINDS)
def test_old_placeholder_in_user_text_is_plain_text(kind: str, tiny_checkpoint: Callable[[str], Path]) -> None:
    renderer = _renderer(tiny_checkpoint(kind))
    text = "".join(OLD_SENTINELS)
    prompt = renderer.render([Message("system", "Labels: a, b."), Message("user", ["Review: ", User(text), "."])])
    assert prompt.ids == _reference_ids(
        renderer, [{"role": "system", "content": "Labels: a, b."}, {"role": "user", "content": f"Review: {text}."}]
    )


_PRIVATE_USE_NEAR_START = st.characters(min_codepoint=0xE000, max_codepoint=0xE00F)
_LOOKALIKE = st.builds(lambda a, n, b: f"{a}{n}{b}", _PRIVATE_USE_NEAR_START, st.integers(0, 20),
                       _PRIVATE_USE_NEAR_START)
_OLD_SENTINEL = st.builds(lambda n: f"\ue000{n}\ue001", st.integers(0, 20))
_LOOKALIKES = st.lists(
    st.one_of(_OLD_SENTINEL, _LOOKALIKE, _PRIVATE_USE_NEAR_START, st.sampled_from([" ", "a", "0"])), max_size=6,
).map("".join)


@pytest.mark.parametrize("kind", ["llama3-instruct", "llama2-chat", "chatml"])
@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(label=_LOOKALIKES, example=_LOOKALIKES, review=_LOOKALIKES, prefix=_LOOKALIKES)
def test_placeholder_lookalikes_anywhere_render_as_written(
    kind: str, label: str, example: str, review: str, prefix: str, tiny_checkpoint: Callable[[str], Path]
) -> None:
    """Random placeholder lookalikes, trusted or not, in every turn: exactly transformers' ids."""
    renderer = _renderer(tiny_checkpoint(kind))
    messages = [
        Message("system", ["Labels: ", label, ", ", User(label), "."]),
        Message("user", ["Review: ", User(example), "."]),
        Message("assistant", ["Example ", User(example), " is ", example, "."]),
        Message("user", ["Review: ", review, User(review), "."]),
    ]
    prompt = renderer.render(messages, answer_prefix=["Answer ", prefix, User(prefix), ":"])
    plain = [
        {"role": "system", "content": f"Labels: {label}, {label}."},
        {"role": "user", "content": f"Review: {example}."},
        {"role": "assistant", "content": f"Example {example} is {example}."},
        {"role": "user", "content": f"Review: {review}{review}."},
    ]
    assert prompt.ids == _reference_ids(renderer, plain, f"Answer {prefix}{prefix}:")


def test_every_private_use_character_at_once(tiny_checkpoint: Callable[[str], Path]) -> None:
    """Text using up every candidate placeholder character is refused with a typed error, not a crash."""
    renderer = _renderer(tiny_checkpoint("llama3-instruct"))
    planes = [range(0xE000, 0xF900), range(0xF0000, 0xFFFFE), range(0x100000, 0x10FFFE)]
    every = "".join(chr(c) for plane in planes for c in plane)
    with pytest.raises(InvalidInputError, match="private-use"):
        renderer.render([Message("system", every[::2]), Message("user", User(every[1::2]))])


def test_template_that_cuts_its_content_is_refused(tiny_checkpoint: Callable[[str], Path]) -> None:
    """A template that slices message content cannot pass half a placeholder off as trusted text."""
    base = _renderer(tiny_checkpoint("chatml"))
    slicing = PromptFormat(name="slicing", detect=lambda _: False, use_model_template=False,
                           template="{% for m in messages %}{{ m['content'][1:] }}{% endfor %}")
    renderer = PromptRenderer(base.tokenizer, slicing, add_bos=False)
    with pytest.raises(PromptFormatError, match="altered"):
        renderer.render([Message("user", User("abc"))])


@pytest.mark.parametrize(
    "parts",
    [["<|eot", User("_id|>")], [User("<|eot"), "_id|>"], ["<|eot_id", User(""), "|>"],
     [User("<|eot"), User("_id|>")], [User("<|eot_"), "", User("id|>")]],
    ids=["trusted+user", "user+trusted", "around-empty-user", "user+user", "user+empty+user"],
)
def test_special_token_cannot_be_completed_across_user_text(
    parts: list[str | User], tiny_checkpoint: Callable[[str], Path]
) -> None:
    """A special-token string formed across a user piece stays text, as if the user had typed "x"."""
    renderer = _renderer(tiny_checkpoint("llama3-instruct"))
    with_x = [User("x") if isinstance(p, User) else p for p in parts]
    hostile = renderer.render([Message("user", parts)]).ids
    benign = renderer.render([Message("user", with_x)]).ids
    assert _special_ids(renderer, hostile) == _special_ids(renderer, benign)
    assert "<|eot_id|>" in renderer.tokenizer.decode(hostile)  # as text: decode drops special tokens


@pytest.mark.parametrize("content", [3, None, ["Review: ", b"bytes"], [User(b"bytes")]])  # type: ignore[list-item, arg-type]
def test_content_of_the_wrong_type_is_a_typed_error(content: Content, tiny_checkpoint: Callable[[str], Path]) -> None:
    renderer = _renderer(tiny_checkpoint("chatml"))
    with pytest.raises(InputTypeError, match="str or User"):
        renderer.render([Message("system", content), Message("user", "hi")])


# -- (b) any text, any turn, any built-in format ---------------------------------

# Every special-token string and plain marker a built-in format knows, template
# syntax, and the renderer's internals. LLaMA 3's 250 reserved tokens are
# represented by two, so that each tokenizer's own control strings (drawn
# separately in the test) are not drowned out.
_LLAMA3_SPECIALS = [t for t in llama3_special_tokens() if "reserved" not in t]
_ATOMS = sorted({
    *_LLAMA3_SPECIALS, "<|reserved_special_token_0|>", "<|reserved_special_token_10|>",
    "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    *(token for fmt in BUILTIN_FORMATS for token in (*fmt.stop_tokens, *fmt.plain_markers)),
    "{{", "}}", "{%", "%}", "{#", "#}", "{{ bos_token }}", "{% endfor %}", "raise_exception('x')",
    *INTERNALS,
})


def _fragments(strings: list[str]) -> list[str]:
    """Every proper prefix and suffix of ``strings``: halves that could meet template text."""
    cuts = [(s, cut) for s in strings for cut in range(1, len(s))]
    return sorted({s[:cut] for s, cut in cuts} | {s[cut:] for s, cut in cuts})


@functools.cache
def _untrusted_text(renderer: PromptRenderer) -> st.SearchStrategy[str]:
    """Arbitrary text mixed with control strings, this tokenizer's and format's first."""
    own = sorted({s for s in renderer.tokenizer.special_strings if "reserved" not in s}
                 | set(renderer.format.plain_markers))
    piece = st.one_of(
        st.sampled_from(own), st.sampled_from(_fragments(own)), st.sampled_from(_ATOMS),
        st.sampled_from(_fragments(_ATOMS)), st.text(max_size=6),
        st.sampled_from([" ", "  ", "\n", "\n\n", "\t", "\r\n", "\x00", "\u2581", "\ufeff", "e\u0301"]),
    )
    return st.lists(piece, max_size=8).map("".join)


# (tiny checkpoint kind, prompt format, render with the format's built-in template
# instead of the model's): every format in BUILTIN_FORMATS, both templates where a
# format has one.
FORMAT_CASES = [
    ("llama4-text-instruct", "llama4", False), ("llama4-text-instruct", "llama4", True),
    ("llama3-instruct", "llama3", False), ("llama3-instruct", "llama3", True),
    ("llama3.1-instruct", "llama3", False), ("llama3.1-instruct", "template", False),
    ("chatml", "chatml", False), ("chatml", "chatml", True),
    ("llama2-chat", "llama2-chat", False), ("llama2-chat", "llama2-chat", True),
    ("llama2-chat", "template", False),
    ("zephyr", "zephyr", False), ("zephyr", "zephyr", True),
    ("llama1", "completion", False), ("llama3-instruct", "completion", False),
]
_UNCOVERED = {fmt.name for fmt in BUILTIN_FORMATS} - {name for _, name, _ in FORMAT_CASES}
assert not _UNCOVERED, f"add a FORMAT_CASES entry for the built-in formats {sorted(_UNCOVERED)}"


def _conversation(system: str, question: str, example: str, prefix: str) -> tuple[list[Message], Content]:
    """User text in a system turn, two user turns, a few-shot assistant turn and the answer prefix."""
    messages = [
        Message("system", ["Classify. Labels: ", User(system), "."]),
        Message("user", ["Review: ", User(question)]),
        Message("assistant", User(example)),
        Message("user", ["Review: ", User(question), "\nAgain."]),
    ]
    return messages, ["Answer (", User(prefix), "):"]


@functools.cache
def _render(renderer: PromptRenderer, *texts: str) -> Prompt:
    messages, prefix = _conversation(*texts)
    return renderer.render(messages, answer_prefix=prefix)


def _as_decoded(renderer: PromptRenderer, text: str) -> str:
    """``text`` as the tokenizer can give it back at best.

    SentencePiece tokenizers store spaces as U+2581 and decode every U+2581
    back to a space, so that character never round-trips, in any position.
    """
    if renderer.tokenizer.hf.convert_ids_to_tokens(renderer.tokenizer.encode(" a"))[0].startswith("\u2581"):
        return text.replace("\u2581", " ")
    return text


@pytest.mark.parametrize(("kind", "fmt_name", "builtin_template"), FORMAT_CASES)
@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(data=st.data())
def test_user_text_adds_no_special_token_and_comes_back_intact(
    kind: str, fmt_name: str, builtin_template: bool, data: st.DataObject, tiny_checkpoint: Callable[[str], Path]
) -> None:
    """User text in every turn: the special ids of the prompt with "x" there instead, and the text intact."""
    if fmt_name not in {fmt.name for fmt in BUILTIN_FORMATS}:
        pytest.skip(f"{fmt_name!r} is no longer a built-in prompt format")
    renderer = _renderer(tiny_checkpoint(kind), fmt_name, builtin_template=builtin_template)
    texts = [data.draw(_untrusted_text(renderer), label=where) for where in ("system", "question", "example", "prefix")]
    hostile = _render(renderer, *texts)
    benign = _render(renderer, "x", "x", "x", "x")
    assert _special_ids(renderer, hostile.ids) == _special_ids(renderer, benign.ids)
    decoded = _as_decoded(renderer, hostile.text)
    for text in texts:
        assert _as_decoded(renderer, text) in decoded
