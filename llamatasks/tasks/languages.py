"""Language names and codes (langcodes) and source detection (py3langid)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from llamatasks.errors import UnknownLanguageError

# py3langid reports some Chinese text as Cantonese or Wu; translation treats
# them as Chinese.
_DETECTED_ALIASES = {"yue": "zh", "wuu": "zh", "nb": "no", "nn": "no"}


@dataclass(frozen=True)
class Language:
    """A resolved language: BCP-47 tag and English name."""

    code: str
    name: str


@lru_cache(maxsize=256)
def resolve_language(value: str) -> Language:
    """``"fr"``, ``"fr-CA"``, ``"French"`` or ``"français"`` -> Language; unknown -> error."""
    import langcodes

    if not isinstance(value, str) or not value.strip():
        raise UnknownLanguageError(f"language must be a non-empty string, got {value!r}")
    text = value.strip()
    if len(text) > 100 or any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text):
        raise UnknownLanguageError(f"unknown language {value[:100]!r}: a language name has no control or "
                                   "invisible characters")
    lang = None
    if langcodes.tag_is_valid(text):
        candidate = langcodes.Language.get(text)
        if candidate.is_valid() and candidate.language and candidate.has_name_data():
            lang = candidate
    if lang is None:
        try:
            lang = langcodes.find(text)
        except LookupError:
            raise UnknownLanguageError(f"unknown language {value!r}") from None
    # An individual language inside a macrolanguage ("cmn", Mandarin; "arb",
    # Standard Arabic) is named by its macrolanguage ("zh", "ar"): the code the
    # rest of llamatasks (examples, scripts, same_language) knows it by.
    lang = lang.prefer_macrolanguage()
    return Language(code=lang.to_tag(), name=lang.display_name())


def detect_language(text: str) -> Language:
    """The most likely language of ``text`` that langcodes can name.

    py3langid knows a few codes langcodes has no data for (``ext``, Extremaduran);
    the next language in py3langid's ranking is taken instead of failing.
    """
    import py3langid

    ranking = py3langid.rank(text)
    for code, _ in ranking:
        try:
            return resolve_language(_DETECTED_ALIASES.get(code, code))
        except UnknownLanguageError:
            continue
    raise UnknownLanguageError(f"could not identify the language of {text[:40]!r}",
                               hint="pass the language explicitly (source=...)")


def same_language(a: Language, b: Language) -> bool:
    """True when two tags name the same base language ("en" and "en-GB")."""
    return a.code.split("-")[0] == b.code.split("-")[0]
