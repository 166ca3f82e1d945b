"""``describe``: a caption of an image, at most ``max_words`` words.

The model is asked for a caption of at most ``max_words`` words and may
generate a little more than that many tokens; whatever runs past the bound is
cut at the last whole word within it (``Description.truncated``), so the
bound holds whatever the model does.
"""

from __future__ import annotations

import re

from pydantic import Field

from llamatasks.tasks.options import TaskOptions

#: Tokens allowed per requested word (LLaMA 3/4 BPE: about 1.3 tokens a word in English), plus a little.
TOKENS_PER_WORD = 2
_SLACK_TOKENS = 8


class DescribeOptions(TaskOptions):
    """Options of ``describe``."""

    task_name = "describe"

    max_words: int = Field(default=30, ge=1, le=300, strict=True, description=(
        "Longest caption in words; a longer output is cut at the last whole word within the bound."))


def instruction(options: DescribeOptions) -> str:
    """What the model is asked (our text, not the caller's)."""
    return f"Describe this image in one or two sentences, in at most {options.max_words} words."


def token_budget(options: DescribeOptions) -> int:
    return options.max_words * TOKENS_PER_WORD + _SLACK_TOKENS


def bounded(text: str, max_words: int) -> tuple[str, int, bool]:
    """``(caption, words, truncated)``: ``text`` cut after its ``max_words``-th word."""
    words = re.findall(r"\S+", text)
    if len(words) <= max_words:
        return text.strip(), len(words), False
    return " ".join(words[:max_words]), max_words, True
