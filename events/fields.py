"""Field types whose limits pydantic cannot spell alone: bytes, serialized size, RFC 3339.

Every error names the field and the limit, so a dead letter's reason says what to fix.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, ValidationInfo

MAX_PATH_CHARS = 4096
MAX_PATH_BYTES = 4096
MAX_SETTING_KEY_CHARS = 256
MAX_SETTING_KEY_BYTES = 1024
MAX_SETTING_VALUE_BYTES = 64 * 1024
MAX_AUDIT_DATA_BYTES = 32 * 1024

_J = TypeVar("_J")


def _utf8(value: str, field: str | None) -> bytes:
    # pydantic rejects a lone surrogate in a str field, but not inside a JsonValue.
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{field} is not valid UTF-8 (it holds a lone surrogate)") from None


def max_utf8_bytes(limit: int) -> AfterValidator:
    """A str whose UTF-8 encoding is at most `limit` bytes (it goes into a store key)."""

    def check(value: str, info: ValidationInfo) -> str:
        size = len(_utf8(value, info.field_name))
        if size > limit:
            raise ValueError(f"{info.field_name} is {size} bytes UTF-8; the limit is {limit} bytes")
        return value

    return AfterValidator(check)


def max_json_bytes(limit: int) -> AfterValidator:
    """A JSON value whose compact UTF-8 serialization is at most `limit` bytes (and finite)."""

    def check(value: _J, info: ValidationInfo) -> _J:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:
            raise ValueError(
                f"{info.field_name} holds NaN or Infinity, not valid in JSON"
            ) from None
        size = len(_utf8(text, info.field_name))
        if size > limit:
            raise ValueError(
                f"{info.field_name} serializes to {size} bytes JSON; the limit is {limit} bytes"
            )
        return value

    return AfterValidator(check)


def _no_nul(value: str, info: ValidationInfo) -> str:
    if "\x00" in value:
        raise ValueError(f"{info.field_name} must not contain NUL")
    return value


_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_text(value: object, info: ValidationInfo) -> object:
    # pydantic would read a number (even a numeric string) as Unix seconds *or* milliseconds,
    # guessing by size: only a date and a time, in that order, are accepted.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        if _DATE_TIME.match(value):
            return value
        raise ValueError(
            f"{info.field_name} must be an RFC 3339 date-time with an offset, "
            f"e.g. 2026-11-26T09:30:00Z, not {value[:40]!r}"
        )
    raise ValueError(
        f"{info.field_name} must be an RFC 3339 string with an offset, not {type(value).__name__}"
    )


FilePath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PATH_CHARS,
        description=f"At most {MAX_PATH_BYTES} bytes UTF-8; no NUL.",
    ),
    AfterValidator(_no_nul),
    max_utf8_bytes(MAX_PATH_BYTES),
]
"""A path in a workspace: 1..4096 chars, at most 4096 bytes UTF-8, no NUL."""

SettingKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_SETTING_KEY_CHARS,
        description=f"At most {MAX_SETTING_KEY_BYTES} bytes UTF-8.",
    ),
    max_utf8_bytes(MAX_SETTING_KEY_BYTES),
]
"""A setting's key: 1..256 chars, at most 1024 bytes UTF-8."""

Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
"""An RFC 3339 timestamp with an offset (`Z` or `+02:00`); naive or numeric ones are rejected."""
