"""Oversized fields fail validation, and the error names the field and the limit."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from events.examples import EXAMPLES
from events.subjects import model_for_subject

EMOJI = "\N{GRINNING FACE}"
TOO_MANY_UUIDS = [str(uuid.UUID(int=i)) for i in range(1_001)]

OVERSIZED: list[tuple[str, str, object, str]] = [
    ("message.sent", "source", "x" * 65, "64"),
    ("message.sent", "user_agent", "x" * 1_025, "1024"),
    ("message.sent", "model", "x" * 201, "200"),
    ("message.sent", "token_count", 10_000_001, "10000000"),
    ("file.changed", "file_path", "x" * 4_097, "4096"),
    ("file.changed", "file_path", "é" * 2_049, "4096 bytes"),
    ("file.changed", "file_path", EMOJI * 1_025, "4096 bytes"),
    ("file.changed", "mime_type", "x" * 256, "255"),
    ("agent.executed", "model", "x" * 201, "200"),
    ("agent.executed", "error", "x" * 10_001, "10000"),
    ("agent.executed", "name", "x" * 201, "200"),
    ("conversation.created", "title", "x" * 1_001, "1000"),
    ("conversation.created", "description", "x" * 10_001, "10000"),
    ("conversation.created", "ai_provider", "x" * 101, "100"),
    ("conversation.created", "tags", ["t"] * 101, "100"),
    ("conversation.created", "tags", ["x" * 101], "100"),
    ("conversation.updated", "related_conversations", TOO_MANY_UUIDS, "1000"),
    ("conversation.updated", "summary", "x" * 20_001, "20000"),
    ("agent.configured", "name", "x" * 201, "200"),
    ("setting.changed", "key", "k" * 257, "256"),
    ("setting.changed", "value", "x" * 65_536, "65536"),
    ("setting.changed", "value", {"blob": ["y" * 1_000] * 66}, "65536"),
    ("audit.user_login", "event_data", {"blob": "x" * 32_768}, "32768"),
    ("audit.user_login", "error", "x" * 10_001, "10000"),
]


@pytest.mark.parametrize(
    ("subject", "field", "value", "limit"),
    OVERSIZED,
    ids=[f"{s}-{f}-{len(str(v))}" for s, f, v, _ in OVERSIZED],
)
def test_an_oversized_field_is_rejected_naming_the_field_and_the_limit(
    subject: str, field: str, value: object, limit: str
) -> None:
    model = model_for_subject(subject)
    assert model is not None
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**EXAMPLES[subject], field: value})
    [error] = caught.value.errors()
    assert error["loc"][0] == field
    message = str(caught.value)
    assert field in message
    assert limit in message


@pytest.mark.parametrize(
    ("subject", "field", "value"),
    [
        ("message.sent", "source", ""),
        ("file.changed", "file_path", ""),
        ("agent.configured", "name", ""),
        ("setting.changed", "key", ""),
        ("message.sent", "token_count", -1),
        ("file.changed", "file_size", -1),
        ("agent.executed", "duration_ms", -1),
    ],
)
def test_an_empty_or_negative_field_is_rejected(subject: str, field: str, value: object) -> None:
    model = model_for_subject(subject)
    assert model is not None
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**EXAMPLES[subject], field: value})
    assert caught.value.errors()[0]["loc"] == (field,)


@pytest.mark.parametrize(
    ("subject", "field", "value"),
    [
        ("message.sent", "token_count", 10_000_000),
        ("file.changed", "file_path", "x" * 4_096),
        ("setting.changed", "value", "x" * 65_534),
        ("audit.user_login", "event_data", {"b": "x" * (32_768 - 8)}),
    ],
)
def test_a_field_exactly_at_its_limit_is_accepted(subject: str, field: str, value: object) -> None:
    model = model_for_subject(subject)
    assert model is not None
    event = model.model_validate({**EXAMPLES[subject], field: value})
    assert getattr(event, field) == value
