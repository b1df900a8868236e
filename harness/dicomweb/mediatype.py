"""Media type syntax shared by Content-Type and Accept (RFC 9110 §8.3.1, §5.6.6 parameters).

Sans-IO: strings in, tuples out. Quoted strings may hold ``;`` and ``,`` (the DICOMweb
``type="application/dicom"`` parameter always is quoted), so splitting is done by a small
scanner that honours quotes and backslash escapes instead of ``str.split``.
"""

from __future__ import annotations

import re

# RFC 9110 §5.6.2 token characters
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class MediaTypeError(ValueError):
    """A media type or parameter list that does not follow RFC 9110 §8.3.1."""


def split_quoted(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside double quotes; keeps the quotes in the pieces."""
    pieces: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif in_quotes and ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == '"':
            current.append(ch)
            in_quotes = not in_quotes
        elif ch == sep and not in_quotes:
            pieces.append("".join(current))
            current = []
        else:
            current.append(ch)
    if in_quotes:
        raise MediaTypeError(f"unterminated quoted string in {text!r}")
    pieces.append("".join(current))
    return pieces


def unquote(value: str) -> str:
    """Value of a parameter: a token as is, a quoted-string without quotes and escapes."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def quote_if_needed(value: str) -> str:
    """Token stays bare; anything else (``application/dicom`` holds ``/``) is quoted."""
    if _TOKEN.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_media_type(text: str) -> tuple[str, str, list[tuple[str, str]]]:
    """``'multipart/related; type="application/dicom"'`` -> ``("multipart", "related", [("type", ...)])``.

    Type, subtype and parameter names are lower-cased (RFC 9110 §8.3.1: case-insensitive);
    values keep their case. Empty parameters (``a; ; b``, a trailing ``;``) are tolerated.
    """
    head, *raw_params = split_quoted(text, ";")
    full = head.strip().lower()
    if full == "*":  # seen in the wild (Java clients) for */*
        full = "*/*"
    main, slash, sub = full.partition("/")
    if not slash or not _TOKEN.match(main) or not _TOKEN.match(sub):
        raise MediaTypeError(f"not a media type: {head.strip()!r}")
    if main == "*" and sub != "*":
        raise MediaTypeError(f"wildcard type with a subtype: {head.strip()!r}")
    params: list[tuple[str, str]] = []
    for raw in raw_params:
        if not raw.strip():
            continue
        name, eq, value = raw.partition("=")
        name = name.strip().lower()
        if not eq or not _TOKEN.match(name):
            raise MediaTypeError(f"bad parameter {raw.strip()!r} in {text!r}")
        params.append((name, unquote(value)))
    return main, sub, params


def format_media_type(type_: str, params: list[tuple[str, str]] | None = None) -> str:
    """``format_media_type("multipart/related", [("type", "application/dicom")])``."""
    text = type_
    for name, value in params or ():
        if not _TOKEN.match(name):
            raise MediaTypeError(f"bad parameter name {name!r}")
        if any(c in value for c in "\r\n\0"):
            raise MediaTypeError(f"control character in parameter {name!r}")
        text += f"; {name}={quote_if_needed(value)}"
    return text
