"""Destination numbers: parsed to E.164, refused by line type and country, always masked."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from webapp.errors import AppError, NumberTypeNotAllowed, PhoneExtension
from webapp.phone.numbers import mask, mask_e164, parse_destination

ALLOWED = frozenset({"US", "GB", "DE"})


@pytest.mark.parametrize(
    ("text", "default", "e164", "masked"),
    [
        ("+14155552671", None, "+14155552671", "+1 415 ***-**71"),
        ("(415) 555-2671", "US", "+14155552671", "+1 415 ***-**71"),
        ("+44 20 7183 8750", None, "+442071838750", "+44 20 **** **50"),
        ("0151 23456789", "DE", "+4915123456789", "+49 1512 *****89"),
    ],
)
def test_numbers_are_normalised_and_masked(text: str, default: str | None, e164: str, masked: str) -> None:
    destination = parse_destination(text, ALLOWED, default)
    assert (destination.e164, destination.masked) == (e164, masked)
    assert e164 not in repr(destination)  # not even a traceback shows the full number
    assert mask_e164(e164) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+59171234567", "+591 71****67"),  # Bolivian mobile: formatted as one group
        ("+35057123456", "+350 57****56"),  # Gibraltar mobile: the same
        ("+6837012", "+683 ****"),  # Niue: four digits, all hidden (were +683 **12)
        ("+50051234", "+500 ****4"),  # the Falklands: five digits, four hidden (were +500 ***34)
    ],
)
def test_a_number_formatted_as_one_group_is_masked_too(text: str, masked: str) -> None:
    destination = parse_destination(text, frozenset({"BO", "GI", "NU", "FK"}))
    assert destination.masked == masked
    assert mask_e164(destination.e164) == masked


def test_an_extension_is_not_the_masked_numbers_end() -> None:
    assert mask(phonenumbers.parse("+1 415 555 2671 ext 99")) == "+1 415 ***-**71"


@pytest.mark.parametrize("text", ["+1 415 555 2671 ext 99", "+1 415 555 2671 x9", "+44 20 7183 8750;ext=12"])
def test_a_number_with_an_extension_is_refused_as_never_dialled(text: str) -> None:
    # The providers dial E.164, which has no extension: the call would ring someone else.
    with pytest.raises(AppError) as refused:
        parse_destination(text, ALLOWED)
    assert refused.value.code == "invalid_phone_number"
    # One fixed sentence, which the page has in each of its languages (built ones it had not).
    assert refused.value.message == PhoneExtension.message and "extension" in PhoneExtension.message


@pytest.mark.parametrize("text", ["+19005550123", "+448712345678", "+447012345678"])
def test_a_kind_of_number_never_dialled_is_refused_in_the_pages_words(text: str) -> None:
    with pytest.raises(AppError) as refused:
        parse_destination(text, frozenset({"US", "GB"}))
    assert refused.value.code == "number_type_not_allowed"
    assert refused.value.message == NumberTypeNotAllowed.message


def test_no_countrys_numbers_show_through_the_mask() -> None:
    # Every region's example mobile and landline: at least four digits hidden (all of a number of
    # four), whatever the country's format groups.
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
            digits = len(str(example.national_number))
            masked = mask_e164(e164)
            assert masked.count("*") >= min(4, digits), (region, kind, masked)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "invalid_phone_number"),
        ("hello", "invalid_phone_number"),
        ("+1415", "invalid_phone_number"),
        ("+1 415 555 2671 555 2671 555 2671 5", "invalid_phone_number"),
        ("+19005550123", "number_type_not_allowed"),  # US premium rate (900)
        ("+448712345678", "number_type_not_allowed"),  # UK premium rate (0871)
        ("+448431234567", "number_type_not_allowed"),  # UK shared cost (0843)
        ("+447012345678", "number_type_not_allowed"),  # UK personal number (070)
        ("+445512345678", "number_type_not_allowed"),  # UK UAN (055)
        ("+33612345678", "country_not_allowed"),  # a French mobile, France not allowed
    ],
)
def test_refusals(text: str, code: str) -> None:
    with pytest.raises(AppError) as refused:
        parse_destination(text, ALLOWED)
    assert refused.value.code == code
