"""Media type and parameter syntax (RFC 9110 §8.3.1, §5.6.4 quoted strings)."""

from __future__ import annotations

import pytest

from harness.dicomweb.mediatype import (
    MediaTypeError,
    format_media_type,
    parse_media_type,
    quote_if_needed,
    split_quoted,
    unquote,
)

CASES = [
    ('multipart/related; type="application/dicom"; boundary=x',
     ("multipart", "related", [("type", "application/dicom"), ("boundary", "x")])),
    ("Application/DICOM+JSON", ("application", "dicom+json", [])),
    ('a/b; p="x\\"y;z"', ("a", "b", [("p", 'x"y;z')])),
    ("a/b ; P = v ;", ("a", "b", [("p", "v")])),
    ("*", ("*", "*", [])),
]


@pytest.mark.parametrize(("text", "parsed"), CASES)
def test_parse(text, parsed):
    assert parse_media_type(text) == parsed


@pytest.mark.parametrize("text", ["", "a", "a/", "/b", "*/b", "a/b c", 'a/b; p="open', "a/b; p", "a/b; =v"])
def test_parse_rejects(text):
    with pytest.raises(MediaTypeError):
        parse_media_type(text)


def test_format_round_trip():
    params = [("type", "application/dicom"), ("transfer-syntax", "1.2.840.10008.1.2.1"), ("q", 'a"b')]
    text = format_media_type("multipart/related", params)
    assert text == 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.1; q="a\\"b"'
    assert parse_media_type(text) == ("multipart", "related", params)


@pytest.mark.parametrize(("name", "value"), [("bad name", "v"), ("p", "line\r\nbreak")])
def test_format_refuses_unsafe(name, value):
    with pytest.raises(MediaTypeError):
        format_media_type("a/b", [(name, value)])


def test_split_and_quote_helpers():
    assert split_quoted('a, "b,c", d', ",") == ["a", ' "b,c"', " d"]
    assert unquote(' "x\\\\y" ') == "x\\y" and unquote("tok") == "tok"
    assert quote_if_needed("1.2.3") == "1.2.3" and quote_if_needed("a b") == '"a b"'
