"""Destination numbers for phone callbacks: parsed, normalised, checked and masked.

Parsing and the line-type database come from ``phonenumbers`` (Google's libphonenumber):
toll fraud lives in premium-rate and shared-cost ranges that change by country and year,
which no regular expression of ours would keep up with. A number is only ever stored,
logged or shown masked; the full E.164 form goes to the provider and nowhere else.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from ..errors import CountryNotAllowed, InvalidPhoneNumber, NumberTypeNotAllowed, PhoneExtension

# Lines nobody answers for a callback, or that bill the caller: never dialled. (Refused in one
# sentence for all, which the page has in every language: "this kind of number".)
REFUSED_TYPES = frozenset({
    PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.UAN,
    PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.PAGER, PhoneNumberType.VOICEMAIL,
    PhoneNumberType.UNKNOWN,
})  # fmt: skip
MAX_INPUT_CHARS = 32
HIDDEN_DIGITS = 4  # a masked number hides at least this many of its digits


@dataclass(frozen=True)
class Destination:
    """A number we may dial: E.164 for the provider, masked for everyone else."""

    e164: str
    country: str  # ISO 3166-1 alpha-2
    masked: str

    def __repr__(self) -> str:
        """Never the full number, not even in a traceback."""
        return f"Destination({self.masked!r}, {self.country})"


def parse_number(text: object, default_country: str | None = None) -> tuple[Destination, int]:
    """Parse ``text`` (E.164, or national with ``default_country``): the number and its line type.

    Raises ``InvalidPhoneNumber`` (400) when it is not a complete, valid number (or not text),
    or has an extension.
    """
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_INPUT_CHARS:
        raise InvalidPhoneNumber()
    text = text.strip()
    try:
        number = phonenumbers.parse(text, default_country)
    except NumberParseException as exc:
        raise InvalidPhoneNumber() from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber()
    if number.extension:
        raise PhoneExtension()
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    destination = Destination(
        e164=e164, country=phonenumbers.region_code_for_number(number) or "", masked=mask(number)
    )
    return destination, phonenumbers.number_type(number)


def check_destination(destination: Destination, kind: int, allowed_countries: frozenset[str]) -> None:
    """Refuse a line type we never dial (403 ``number_type_not_allowed``) or a country we may not (403)."""
    if kind in REFUSED_TYPES:
        raise NumberTypeNotAllowed()
    if destination.country not in allowed_countries:
        raise CountryNotAllowed()


def parse_destination(
    text: str, allowed_countries: frozenset[str], default_country: str | None = None
) -> Destination:
    """Parse ``text`` and check it may be called (both steps above)."""
    destination, kind = parse_number(text, default_country)
    check_destination(destination, kind, allowed_countries)
    return destination


def mask(number: phonenumbers.PhoneNumber) -> str:
    """``+1 415 ***-**71``: the country code, the first group and the last two digits.

    At least ``HIDDEN_DIGITS`` stay hidden: where the first group is most of the number (a
    Bolivian mobile formats as ``+591 71234567``, one group) only its first digits show, and the
    shortest numbers show fewer of their last ones (the Falklands' five digits ``+500 ****4``,
    Niue's four ``+683 ****``). An extension (never dialled: ``parse_number`` refuses one) is
    left out: its digits are not the number's last two.
    """
    number = copy.copy(number)
    number.extension = None
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    code, _, national = international.partition(" ")
    first, rest = _split_first_group(national)
    digits = sum(c.isdigit() for c in national)
    lead = 0  # digits shown at the start of ``rest``
    if sum(c.isdigit() for c in first) > digits - HIDDEN_DIGITS - 2:
        first, rest = "", national
        lead = max(0, min(3, digits - HIDDEN_DIGITS - 2))
    digits_left = sum(c.isdigit() for c in rest)
    tail = max(0, min(2, digits - HIDDEN_DIGITS))  # digits shown at the end: none of a 4-digit number's
    seen, masked = 0, []
    for char in rest:
        if char.isdigit():
            seen += 1
            masked.append(char if seen <= lead or seen > digits_left - tail else "*")
        else:
            masked.append(char)
    return " ".join(part for part in (code, first, "".join(masked)) if part)


def mask_e164(e164: str) -> str:
    """The masked form of a stored E.164 number (``+*** **`` when it no longer parses)."""
    try:
        return mask(phonenumbers.parse(e164, None))
    except NumberParseException:
        return re.sub(r"\d(?=\d{2})", "*", e164)


def _split_first_group(national: str) -> tuple[str, str]:
    """The national number's first group (area code) and the rest, without the separator."""
    match = re.match(r"^(\(?\d+\)?)[\s-]?(.*)$", national)
    return (match.group(1), match.group(2)) if match else ("", national)
