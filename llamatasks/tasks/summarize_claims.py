"""Claims in a summary that its source does not support: numbers, names and terms it does not contain.

A small model writes fluent summaries that may invent a figure ("improves accuracy by
15%"), a name or an acronym the text never mentions. This check is plain text logic,
deterministic and model-free, so its verdict can be trusted and tested directly:

- a **number** (``15``, ``3.5``, ``10%``, ``1,000``, ``two``...) is supported when the source
  holds the same value, written in digits or, up to twenty, in words;
- a **name or term** is a word that is capitalised after a sentence's first word ("Google",
  "Paris"), or written with inner capitals, digits or in upper case anywhere ("ResNet",
  "GPT-2", "WAGE"). It is supported when the source holds it ignoring case, also without a
  possessive "'s" or a plural "s" ("CNNs" for "CNN").

Sentence-initial capitalised words ("We", "Results") are not names unless they also occur
capitalised mid-sentence elsewhere in the summary: the summary's first letter is capitalised
by the task itself. Lower-case paraphrase ("approach" for "method") is never flagged.
"""

from __future__ import annotations

import re

_NUMBER_WORDS = {
    word: index for index, word in enumerate((
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"))
}
# "one" is also a pronoun ("one of the methods"): counting it as a figure would flag fluent text.
_NOT_FIGURES = {"one", "zero"}
_WORD = re.compile(r"[^\W_](?:[\w'’.,%-]*[^\W_])?%?")
_DIGITS = re.compile(r"\d")


def unsupported_claims(summary: str, source: str) -> list[str]:
    """Numbers, names and terms of ``summary`` that ``source`` does not contain, in summary order.

    Args:
        summary: The generated summary.
        source: The text it summarises.

    Returns:
        Each unsupported number, name or term once, as written in the summary.
    """
    source_words = _source_forms(source)
    source_numbers = {value for word in _words(source) for value in [_number_value(word)] if value is not None}
    found: list[str] = []
    for word, starts_sentence in _words_with_position(summary):
        claim = _claim_kind(word, starts_sentence)
        if claim is not None and word not in found and not _supported(word, claim, source_words, source_numbers):
            found.append(word)
    return found


def _supported(word: str, claim: str, source_words: set[str], source_numbers: set[float]) -> bool:
    """Whether the source holds a number's value or a name's word (in one of its ``_variants``)."""
    if claim == "number":
        return _number_value(word) in source_numbers
    return bool(_variants(word) & source_words)


def _claim_kind(word: str, starts_sentence: bool) -> str | None:
    """``"number"``, ``"name"`` or ``None`` (an ordinary word, not a claim to check)."""
    lower = word.lower()
    if _number_value(word) is not None and lower not in _NOT_FIGURES:
        return "number"
    if _DIGITS.search(word) or _has_inner_capital(word) or (len(word) > 1 and word.isupper()):
        return "name"
    if word[:1].isupper() and not starts_sentence:
        return "name"
    return None


def _has_inner_capital(word: str) -> bool:
    """A capital after the first letter ("ResNet", "iPhone"), not only after a hyphen ("Anglo-French")."""
    return any(ch.isupper() and word[i - 1] not in "-'’" for i, ch in enumerate(word) if i > 0) and not word.isupper()


def _words(text: str) -> list[str]:
    """Words with their inner punctuation ("3.5", "GPT-2", "1,000"); punctuation around them dropped."""
    return [match.group(0) for match in _WORD.finditer(text)]


def _words_with_position(text: str) -> list[tuple[str, bool]]:
    """Each word and whether it opens a sentence: nothing but quotes or brackets after ``.``, ``!``, ``?`` before it."""
    pairs = []
    for match in _WORD.finditer(text):
        before = text[: match.start()].rstrip().rstrip("\"“‘'([").rstrip()
        pairs.append((match.group(0), not before or before.endswith((".", "!", "?", ":", "。", "！", "？"))))
    return pairs


def _number_value(word: str) -> float | None:
    """The value a number word or figure stands for ("1,000" -> 1000, "10%" -> 10, "two" -> 2), else None."""
    lower = word.lower()
    if lower in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[lower])
    digits = lower.removesuffix("%").replace(",", "")
    try:
        return float(digits)
    except ValueError:
        return None


def _source_forms(source: str) -> set[str]:
    """Every word of the source, lower-cased, in its ``_variants`` and by its hyphenated parts."""
    forms: set[str] = set()
    for word in _words(source):
        forms.update(_variants(word))
        forms.update(part for part in re.split(r"[-/]", word.lower()) if part)
    return forms


def _variants(word: str) -> set[str]:
    """Lower-cased forms under which ``word`` counts as found: itself, without "'s", without a plural "s"."""
    lower = word.lower()
    base = re.sub(r"['’]s?$", "", lower)
    variants = {lower, base}
    if base.endswith("s") and len(base) > 2:
        variants.add(base[:-1])
    if base.endswith("es") and len(base) > 3:
        variants.add(base[:-2])
    return variants
