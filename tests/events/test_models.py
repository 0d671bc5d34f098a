from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from events.examples import EXAMPLES
from events.models import (
    AgentExecuted,
    AuditReported,
    ConversationUpdated,
    Event,
    FileChanged,
    MessageSent,
    SettingChanged,
)
from events.subjects import model_for_subject


def payload(subject: str, **changes: object) -> dict[str, Any]:
    """The example of `subject` with `changes`; a change to None removes the field."""
    data = {**EXAMPLES[subject], **changes}
    return {k: v for k, v in data.items() if v is not None}


def model_of(subject: str) -> type[Event]:
    model = model_for_subject(subject)
    assert model is not None
    return model


def rejection(subject: str, **changes: object) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        model_of(subject).model_validate(payload(subject, **changes))
    return caught.value


@pytest.mark.parametrize("subject", sorted(EXAMPLES))
def test_each_example_validates_against_its_model(subject: str) -> None:
    event = model_of(subject).model_validate(EXAMPLES[subject])
    assert str(event.event_id) == EXAMPLES[subject]["event_id"]


@pytest.mark.parametrize("subject", sorted(EXAMPLES))
def test_each_example_survives_a_json_round_trip(subject: str) -> None:
    model = model_of(subject)
    event = model.model_validate(EXAMPLES[subject])
    assert model.model_validate_json(event.model_dump_json()) == event


def test_unknown_extra_fields_are_ignored() -> None:
    event = MessageSent.model_validate(payload("message.sent", client_build="2025.11.3"))
    assert "client_build" not in event.model_dump()
    assert not hasattr(event, "client_build")


def test_unknown_extra_fields_in_nested_parts_are_ignored() -> None:
    memory = {"facts": {}, "embedding_hint": [0.1, 0.2]}
    event = AgentExecuted.model_validate(payload("agent.executed", memory=memory))
    assert event.memory is not None
    assert "embedding_hint" not in event.memory.model_dump()


def test_a_naive_timestamp_is_rejected() -> None:
    error = rejection("message.sent", occurred_at="2025-11-26T09:30:00")
    assert error.errors()[0]["loc"] == ("occurred_at",)
    assert error.errors()[0]["type"] == "timezone_aware"


def test_a_numeric_timestamp_is_rejected() -> None:
    error = rejection("message.sent", occurred_at=1764149400)
    assert "occurred_at must be an RFC 3339 string" in str(error)


def test_a_timestamp_with_an_offset_is_accepted() -> None:
    event = MessageSent.model_validate(
        payload("message.sent", occurred_at="2025-11-26T10:30:00.120+01:00")
    )
    assert event.occurred_at.utcoffset() is not None
    assert event.occurred_at.isoformat() == "2025-11-26T10:30:00.120000+01:00"


@pytest.mark.parametrize("field", ["event_id", "tenant_id", "conversation_id", "user_id"])
@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", "e5ab31b8-978b-4fc1-a8da-7d33a2d2418"])
def test_a_bad_uuid_is_rejected(field: str, bad: str) -> None:
    error = rejection("message.sent", **{field: bad})
    assert error.errors()[0]["loc"] == (field,)


def test_a_bad_ip_address_is_rejected() -> None:
    assert rejection("message.sent", ip_address="300.1.2.3").errors()[0]["loc"] == ("ip_address",)


def test_an_ipv6_address_is_accepted() -> None:
    event = MessageSent.model_validate(payload("message.sent", ip_address="2001:db8::42"))
    assert str(event.ip_address) == "2001:db8::42"


def test_a_rename_without_previous_path_is_rejected() -> None:
    error = rejection("file.changed", change="renamed")
    assert "previous_path is required when change is renamed" in str(error)


def test_a_rename_with_previous_path_is_accepted() -> None:
    data = payload("file.changed", change="renamed", previous_path="src/billing/totals.py")
    assert FileChanged.model_validate(data).previous_path == "src/billing/totals.py"


def test_file_changed_requires_a_workspace_session() -> None:
    error = rejection("file.changed", workspace_session_id=None)
    assert error.errors()[0]["loc"] == ("workspace_session_id",)


def test_setting_changed_requires_a_user() -> None:
    assert rejection("setting.changed", user_id=None).errors()[0]["loc"] == ("user_id",)


@pytest.mark.parametrize(
    "checksum",
    [
        "2F1A8AC0BE10707CA756F8FC5BEE857E4D45A49E6BAB38AE17A2275F95D410D0",  # uppercase
        "2f1a8ac0be10707ca756f8fc5bee857e4d45a49e6bab38ae17a2275f95d410d",  # 63 chars
        "2f1a8ac0be10707ca756f8fc5bee857e4d45a49e6bab38ae17a2275f95d410d00",  # 65 chars
        "zf1a8ac0be10707ca756f8fc5bee857e4d45a49e6bab38ae17a2275f95d410d0",  # not hex
    ],
)
def test_a_checksum_that_is_not_lowercase_sha256_hex_is_rejected(checksum: str) -> None:
    assert rejection("file.changed", checksum=checksum).errors()[0]["loc"] == ("checksum",)


@pytest.mark.parametrize("field", ["file_path", "previous_path"])
def test_a_path_with_nul_is_rejected(field: str) -> None:
    paths = {"file_path": "b.py", "previous_path": "a.py", field: "a\x00b"}
    error = rejection("file.changed", change="renamed", **paths)
    assert f"{field} must not contain NUL" in str(error)


def test_a_string_with_a_lone_surrogate_is_rejected() -> None:
    error = rejection("file.changed", file_path="src/\ud800.py")
    assert error.errors()[0]["loc"] == ("file_path",)
    assert error.errors()[0]["type"] == "string_unicode"


def test_a_json_value_with_a_lone_surrogate_is_rejected() -> None:
    error = rejection("setting.changed", value={"theme": "\udc00"})
    assert "value is not valid UTF-8" in str(error)


def test_a_path_of_4096_bytes_is_accepted() -> None:
    path = "é" * 2048
    assert FileChanged.model_validate(payload("file.changed", file_path=path)).file_path == path


def test_a_setting_key_of_256_four_byte_characters_is_accepted() -> None:
    key = "\N{GRINNING FACE}" * 256
    assert SettingChanged.model_validate(payload("setting.changed", key=key)).key == key


def test_a_setting_value_with_nan_is_rejected() -> None:
    raw = json.dumps(payload("setting.changed")).replace("true", "NaN")
    with pytest.raises(ValidationError, match="value holds NaN or Infinity"):
        SettingChanged.model_validate_json(raw)


def test_a_setting_change_defaults_to_a_null_value_not_deleted() -> None:
    event = SettingChanged.model_validate(payload("setting.changed", value=None))
    assert (event.value, event.deleted) == (None, False)


def test_a_conversation_update_knows_which_fields_were_given() -> None:
    data = payload("conversation.updated", title=None, summary=None, related_conversations=None)
    event = ConversationUpdated.model_validate({**data, "description": None})
    assert "title" not in event.model_fields_set
    assert "description" in event.model_fields_set


def test_an_api_error_report_carries_status_code_and_error() -> None:
    data = payload("audit.user_login", status_code=503, error="upstream timed out")
    event = AuditReported.model_validate(data)
    assert (event.status_code, event.error) == (503, "upstream timed out")


def test_invalid_utf8_bytes_are_rejected() -> None:
    raw = json.dumps(payload("message.sent", content="@@")).encode().replace(b"@@", b"\xff\xfe")
    with pytest.raises(ValidationError) as caught:
        MessageSent.model_validate_json(raw)
    assert caught.value.errors()[0]["type"] == "json_invalid"


@pytest.mark.parametrize("raw", [b'{"event_id": "019abf7f', b"{,}", b"", b"not json"])
def test_malformed_json_is_rejected(raw: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        MessageSent.model_validate_json(raw)
    assert caught.value.errors()[0]["type"] == "json_invalid"


def test_json_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(ValidationError):
        MessageSent.model_validate_json(b"[]")


def test_huge_content_is_accepted_intact() -> None:
    content = ('Ünïcode line with `code` and "quotes"\n' * 60_000)[: 2 * 1024 * 1024]
    raw = json.dumps(payload("message.sent", content=content)).encode()
    assert len(raw) > 2 * 1024 * 1024
    assert MessageSent.model_validate_json(raw).content == content


@pytest.mark.parametrize("subject", sorted(EXAMPLES))
def test_events_are_frozen(subject: str) -> None:
    event = model_of(subject).model_validate(EXAMPLES[subject])
    with pytest.raises(ValidationError, match="frozen"):
        event.source = "someone-else"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("subject", "part"), [("agent.executed", "memory"), ("agent.configured", "config")]
)
def test_nested_parts_are_frozen(subject: str, part: str) -> None:
    nested = getattr(model_of(subject).model_validate(EXAMPLES[subject]), part)
    assert isinstance(nested, BaseModel)
    field = next(iter(type(nested).model_fields))
    with pytest.raises(ValidationError, match="frozen"):
        setattr(nested, field, None)
