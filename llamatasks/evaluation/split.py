"""A fixed split of every labelled file into a ``tune`` part and a ``check`` part.

Every choice of prompt, lead, threshold or decoding setting is made on the ``tune``
part; the ``check`` part is only scored, and its figures are the ones reported
(next to the tune part's). See docs/quality.md, "Validation discipline".

A record's part depends on that record alone: the SHA-256 of a fixed salt and the
record's key (its ``id`` when it has one, else its input text), even or odd. So
adding or removing records never moves another record to the other part, the split
is the same on every machine and Python version (no ``hash()`` randomisation), and
about half of any file lands in each part.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal, TypeVar, get_args

from llamatasks.errors import InvalidInputError

from .data import NerExample, SentimentExample, SummarizationExample, TranslationExample

Split = Literal["tune", "check", "all"]
"""Which part of a file to evaluate: ``tune``, ``check`` or ``all`` (both)."""

SPLIT_SALT = "llamatasks-eval-split-v8"
"""Mixed into every hash; changing it would draw a new split (and void every figure reported).

The eighth of the salts ``-v1`` to ``-v19``: the one whose parts are closest to half of every dev file
(48-52%), chosen from the part sizes alone before any model output was scored on a part."""

Keyed = SentimentExample | NerExample | SummarizationExample | TranslationExample
KeyedT = TypeVar("KeyedT", SentimentExample, NerExample, SummarizationExample, TranslationExample)


def record_key(record: Keyed) -> str:
    """The text that decides a record's part: its ``id`` when it has one, else its input text.

    Translation records without an id are keyed by direction and source, so the same
    sentence asked in two directions may land in different parts independently.
    """
    if isinstance(record, SentimentExample | NerExample):
        return record.text
    if isinstance(record, SummarizationExample):
        return f"id:{record.id}" if record.id else record.document
    if record.id:
        return f"id:{record.id}"
    return f"{record.src_lang}-{record.tgt_lang}:{record.source}"


def part_of(key: str) -> Literal["tune", "check"]:
    """``tune`` or ``check`` for a record key: the parity of its salted SHA-256."""
    digest = hashlib.sha256(f"{SPLIT_SALT}\x00{key}".encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "check"


def check_split(split: str) -> Split:
    """``split`` as a ``Split``, lower-cased.

    Raises:
        InvalidInputError: It is not ``tune``, ``check`` or ``all``.
    """
    name = split.strip().lower()
    choices = get_args(Split)
    if name not in choices:
        raise InvalidInputError(f"unknown split {split!r}", hint=f"choose one of: {', '.join(choices)}")
    return name  # type: ignore[return-value]  # checked against the Literal's values above


def select_split(records: Sequence[KeyedT], split: Split) -> list[KeyedT]:
    """The records of one part, in file order (``all``: every record).

    Raises:
        InvalidInputError: The part holds none of the records (a file too small to split).
    """
    if split == "all":
        return list(records)
    chosen = [record for record in records if part_of(record_key(record)) == split]
    if not chosen:
        raise InvalidInputError(
            f"the {split} part of this file holds none of its {len(records)} examples",
            hint="add examples, or pass --split all",
        )
    return chosen
