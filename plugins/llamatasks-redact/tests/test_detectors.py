"""Each detector finds valid numbers and addresses, and leaves look-alikes that fail validation alone."""

from __future__ import annotations

import pytest
from llamatasks_redact.detectors import (
    find_card_numbers,
    find_emails,
    find_ibans,
    find_phone_numbers,
)


def spans(found: list, text: str) -> list[str]:
    return [text[d.start:d.end] for d in found]


@pytest.mark.parametrize(("text", "expected"), [
    ("Write to jane.doe@example.com.", ["jane.doe@example.com"]),
    ("cc: a.b+tag@mail.example.co.uk, x_y@sub-domain.org", ["a.b+tag@mail.example.co.uk", "x_y@sub-domain.org"]),
    ("<ops@example.io>", ["ops@example.io"]),
    ("user@localhost, @handle, name@, a@b, a@@b.com, example.com", []),
])
def test_emails(text: str, expected: list[str]) -> None:
    assert spans(find_emails(text), text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Call +44 20 7946 0958 today", ["+44 20 7946 0958"]),
    ("Office: (415) 555-2671.", ["(415) 555-2671"]),
    ("Paris: +33 1 42 68 53 00", ["+33 1 42 68 53 00"]),
    ("Berlin 030 901820", ["030 901820"]),
    ("Order 12345, room 42, +1 555 0100 and 999", []),  # too short, and +1 555 0100 is not a valid number
])
def test_phone_numbers(text: str, expected: list[str]) -> None:
    assert spans(find_phone_numbers(text), text) == expected


def test_national_phone_formats_need_their_region() -> None:
    text = "Ring 020 7946 0958 or +44 20 7946 0958"
    assert spans(find_phone_numbers(text, regions=["GB"]), text) == ["020 7946 0958", "+44 20 7946 0958"]
    assert spans(find_phone_numbers(text, regions=[]), text) == ["+44 20 7946 0958"]  # international only


@pytest.mark.parametrize(("text", "expected"), [
    ("IBAN DE89 3704 0044 0532 0130 00.", ["DE89 3704 0044 0532 0130 00"]),
    ("GB82WEST12345698765432", ["GB82WEST12345698765432"]),
    ("fr14 2004 1010 0505 0001 3m02 606", ["fr14 2004 1010 0505 0001 3m02 606"]),
    ("pay DE89 3704 0044 0532 0130 00 TODAY", ["DE89 3704 0044 0532 0130 00"]),  # the capitalised word stays
    ("DE89 3704 0044 0532 0130 01", []),  # check digits wrong
    ("GB82 WEST 1234 5698 7654 33", []),  # one digit too many for a British IBAN
    ("XX89 3704 0044 0532 0130 00", []),  # no such country
])
def test_ibans(text: str, expected: list[str]) -> None:
    assert spans(find_ibans(text), text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Visa 4111 1111 1111 1111 exp 12/29", ["4111 1111 1111 1111"]),
    ("MC 5555-5555-5555-4444", ["5555-5555-5555-4444"]),
    ("Amex 378282246310005", ["378282246310005"]),
    ("Mastercard 2-series 2223003122003222", ["2223003122003222"]),
    ("Discover 6011111111111117", ["6011111111111117"]),
    ("4111 1111 1111 1112", []),  # Luhn checksum fails
    ("1234 5678 9012 3452", []),  # Luhn-valid, but no card network issues 1...
    ("3782822463100003", []),  # Luhn-valid, American Express prefix, but 16 digits (Amex has 15)
    ("phone +44 20 7946 0958, order 2024-0001", []),
])
def test_card_numbers(text: str, expected: list[str]) -> None:
    assert spans(find_card_numbers(text), text) == expected
