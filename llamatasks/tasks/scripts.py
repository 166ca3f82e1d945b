"""Language-appropriate output: restrict generation to the target language's script.

A small model asked to translate Chinese into English often keeps writing
Chinese. For targets written in an alphabet (Latin, Cyrillic, Greek...), the
vocabulary is filtered once to the tokens whose letters are Latin or the
target's own script, and generation may use only those; punctuation, digits
and spaces are always allowed. Targets written in CJK scripts are not
restricted (Latin names and numbers are common in them).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from llamatasks.tokenizer import Tokenizer

# ISO 15924 script -> the first word of unicodedata names of its letters.
_SCRIPT_NAMES = {"Latn": "LATIN", "Cyrl": "CYRILLIC", "Grek": "GREEK", "Arab": "ARABIC", "Hebr": "HEBREW",
                 "Deva": "DEVANAGARI", "Thai": "THAI", "Armn": "ARMENIAN", "Geor": "GEORGIAN", "Beng": "BENGALI"}
_UNRESTRICTED = {"Hans", "Hant", "Jpan", "Kore", "Hani"}


def target_script(language_code: str) -> str:
    """ISO 15924 script a language is usually written in ("fr" -> "Latn")."""
    import langcodes

    return str(langcodes.Language.get(language_code).maximize().script or "Latn")


def _letters_allowed(text: str, names: frozenset[str]) -> bool:
    if "\ufffd" in text:  # a partial UTF-8 sequence: could become any script
        return False
    for char in text:
        if char.isalpha() and unicodedata.name(char, "").split(" ")[0] not in names:
            return False
    return True


@lru_cache(maxsize=16)
def _allowed_for(tokenizer: Tokenizer, names: frozenset[str]) -> tuple[int, ...]:
    pieces = tokenizer.hf.batch_decode([[i] for i in range(tokenizer.vocab_size)])
    return tuple(i for i, piece in enumerate(pieces) if _letters_allowed(piece, names))


class ScriptConstraint:
    """Allows the tokens of the target script (and the stop tokens), at every step."""

    def __init__(self, allowed: Sequence[int], stop_ids: Sequence[int]) -> None:
        self.allowed = sorted(set(allowed) | set(stop_ids))

    def allowed_tokens(self, generated: Sequence[int]) -> Sequence[int] | None:
        return self.allowed


def script_constraint(tokenizer: Tokenizer, language_code: str, stop_ids: Sequence[int]) -> ScriptConstraint | None:
    """A constraint keeping output in the script of ``language_code``, or None when unrestricted."""
    script = target_script(language_code)
    if script in _UNRESTRICTED or script not in _SCRIPT_NAMES:
        return None
    names = frozenset({"LATIN", _SCRIPT_NAMES[script]})
    return ScriptConstraint(_allowed_for(tokenizer, names), stop_ids)


# Script -> the first words of unicodedata names of its letters (CJK scripts included).
_LETTER_NAMES = {**{k: (v,) for k, v in _SCRIPT_NAMES.items()}, "Hans": ("CJK",), "Hant": ("CJK",), "Hani": ("CJK",),
                 "Jpan": ("CJK", "HIRAGANA", "KATAKANA"), "Kore": ("HANGUL", "CJK")}


def script_share(text: str, language_code: str) -> float | None:
    """The share of ``text``'s letters written in ``language_code``'s script; None when unknown or no letters.

    Latin letters count for every alphabetic target (names and loanwords), not for CJK ones.
    """
    script = target_script(language_code)
    names = _LETTER_NAMES.get(script)
    if names is None:
        return None
    if script not in _UNRESTRICTED:
        names = (*names, "LATIN")
    letters = [unicodedata.name(c, "").split(" ")[0] for c in text if c.isalpha()]
    return sum(n in names for n in letters) / len(letters) if letters else None
