"""JSON from outside the app: orjson's reading, and a lone surrogate kept as U+FFFD."""

from __future__ import annotations

import pytest

from webapp.json_input import parse_json


def test_a_document_reads_as_orjson_reads_it() -> None:
    document = b'{"a": [1, -2.5, true, null, "\\u00e9 \\ud83d\\ude00"], "big": 12345678901234567890123}'
    assert parse_json(document) == {"a": [1, -2.5, True, None, "é 😀"], "big": 1.2345678901234568e22}


def test_a_lone_surrogate_becomes_a_replacement_character_and_the_rest_is_kept() -> None:
    """A sender that cuts a text inside an emoji writes half its pair: orjson refuses the document."""
    document = (
        b'{"summary": "Asked about pricing \\ud83d", "lines": [{"text": "\\ude00 ok"}], "\\ud800key": 7,'
        b' "big": 18446744073709551616, "max": 18446744073709551615}'
    )
    assert parse_json(document) == {
        "summary": "Asked about pricing \ufffd",
        "lines": [{"text": "\ufffd ok"}],
        "\ufffdkey": 7,
        "big": 1.8446744073709552e19,  # past 64 bits: a float, as orjson reads it
        "max": 18446744073709551615,
    }
    assert "\ufffd" in parse_json('"\\ud83d"')  # str in, as bytes


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"{",
        b'{"a": NaN, "s": "\\ud83d"}',
        b'{"a": Infinity, "s": "\\ud83d"}',
        b'{"a": 1e999, "s": "\\ud83d"}',
        b'{"a": 1e999}',
        b'"\\ud83d',
        b'"\xff\xfe \\ud83d"',  # not UTF-8
        b"[" * 100_000 + b'"\\ud83d"' + b"]" * 100_000,  # too deep for either reader
    ],
)
def test_what_orjson_refuses_for_any_other_reason_is_still_refused(document: bytes) -> None:
    with pytest.raises(ValueError):
        parse_json(document)


def test_a_deeply_nested_document_with_a_lone_surrogate_is_refused_not_overflowed() -> None:
    """Found by fuzzing a webhook: the standard library read it, then replacing its surrogate
    recursed past Python's limit (a 500 with a RecursionError)."""
    document = '{"org_id": "\\ud800", "data": {"a": ' + "[" * 700 + "]" * 700 + "}}"
    with pytest.raises(ValueError):
        parse_json(document)
