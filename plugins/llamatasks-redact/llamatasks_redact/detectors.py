"""Detectors for structured PII: e-mail addresses, phone numbers, IBANs and payment card numbers.

Each detector proposes candidates with a regular expression and keeps only
those a well-kept library validates: ``phonenumbers`` (Google's
libphonenumber) for phone numbers, ``python-stdnum`` for IBAN check digits
(ISO 13616, mod 97) and the Luhn checksum of card numbers. A number that
looks right but fails its check is not redacted as that kind of number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "DEFAULT_PHONE_REGIONS",
    "DETECTORS",
    "Detection",
    "find_card_numbers",
    "find_emails",
    "find_ibans",
    "find_phone_numbers",
]

#: Regions whose national formats are recognised when none are given; a number
#: written with its international prefix (+44 ...) is found whatever the regions.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR")


@dataclass(frozen=True)
class Detection:
    """A validated span of the text: ``text[start:end]`` is a ``label`` (EMAIL, PHONE, IBAN, CARD)."""

    start: int
    end: int
    label: str


# A pragmatic address pattern (RFC 5322 allows more, nobody writes it); the
# domain must end in a letter-only top-level label, so a full stop after the
# address stays outside it.
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)

# Country code, check digits, then 10-30 letters or digits, optionally in groups of four.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,30}\b", re.IGNORECASE)

# 12-19 digits, optionally grouped by single spaces or hyphens.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){11,18}(?![\d-])")

# Issuer prefixes and lengths of the major card networks (ISO/IEC 7812 IIN ranges
# as the networks publish them). The Luhn checksum alone would accept one in ten
# random 16-digit numbers; requiring a real issuer prefix rules out most of those.
_CARD_NETWORKS: tuple[tuple[tuple[range, ...], tuple[int, ...]], ...] = (
    ((range(4, 5),), (13, 16, 19)),                                       # Visa
    ((range(51, 56), range(2221, 2721)), (16,)),                          # Mastercard
    ((range(34, 35), range(37, 38)), (15,)),                              # American Express
    ((range(6011, 6012), range(644, 650), range(65, 66)), (16, 19)),      # Discover
    ((range(3528, 3590),), (16, 19)),                                     # JCB
    ((range(300, 306), range(36, 37), range(38, 40)), (14, 16, 19)),      # Diners Club
    ((range(62, 63),), (16, 17, 18, 19)),                                 # UnionPay
    ((range(50, 51), range(56, 59), range(639, 640), range(67, 68)), tuple(range(12, 20))),  # Maestro
)


def find_emails(text: str) -> list[Detection]:
    """E-mail addresses."""
    return [Detection(m.start(), m.end(), "EMAIL") for m in _EMAIL.finditer(text)]


def find_phone_numbers(text: str, regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> list[Detection]:
    """Phone numbers that libphonenumber finds valid, in international or any of ``regions``' national formats."""
    import phonenumbers

    found: dict[tuple[int, int], Detection] = {}
    for region in regions or (None,):
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            found.setdefault((match.start, match.end), Detection(match.start, match.end, "PHONE"))
    return sorted(found.values(), key=lambda d: (d.start, d.end))


def find_ibans(text: str) -> list[Detection]:
    """IBANs whose country format and check digits python-stdnum validates."""
    from stdnum import iban

    found = []
    for match in _IBAN.finditer(text):
        # The pattern may run on into a following word written in capitals
        # ("... 0130 00 TODAY"): keep the longest prefix, ending at a group boundary, that validates.
        candidate = match.group()
        for end in sorted({len(candidate), *(i for i, ch in enumerate(candidate) if ch == " ")}, reverse=True):
            if iban.is_valid(candidate[:end]):
                found.append(Detection(match.start(), match.start() + end, "IBAN"))
                break
    return found


def find_card_numbers(text: str) -> list[Detection]:
    """Payment card numbers: a major network's prefix and length, and a valid Luhn checksum."""
    from stdnum import luhn

    found = []
    for match in _CARD.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if _card_network_matches(digits) and luhn.is_valid(digits):
            found.append(Detection(match.start(), match.end(), "CARD"))
    return found


def _card_network_matches(digits: str) -> bool:
    for prefixes, lengths in _CARD_NETWORKS:
        if len(digits) in lengths and any(int(digits[:len(str(r.start))]) in r for r in prefixes):
            return True
    return False


#: Detectors by name, strongest claim first: where two overlap, the earlier one wins.
DETECTORS: dict[str, Callable[[str], list[Detection]]] = {
    "iban": find_ibans,
    "card": find_card_numbers,
    "email": find_emails,
    "phone": find_phone_numbers,
}
