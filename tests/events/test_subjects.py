from __future__ import annotations

import pytest

from events.audit_types import PRODUCER_AUDIT_TYPES, SYSTEM_AUDIT_TYPES, AuditEventType
from events.examples import EXAMPLES
from events.models import AuditReported
from events.schema import schema_file_for
from events.subjects import (
    DLQ_SUBJECTS,
    EVENT_SUBJECTS,
    FAMILIES,
    SUBJECT_MODELS,
    Family,
    audit_subject,
    audit_type_for_subject,
    dlq_subject,
    model_for_subject,
)
from tests.helpers import matches


def test_an_audit_subject_is_the_snake_case_of_its_type() -> None:
    assert audit_subject(AuditEventType.USER_LOGIN) == "audit.user_login"
    assert audit_subject(AuditEventType.API_ERROR) == "audit.api_error"


@pytest.mark.parametrize("audit_type", PRODUCER_AUDIT_TYPES)
def test_every_producer_audit_type_has_a_subject(audit_type: AuditEventType) -> None:
    assert SUBJECT_MODELS[audit_subject(audit_type)] is AuditReported
    assert audit_type_for_subject(audit_subject(audit_type)) is audit_type


@pytest.mark.parametrize("audit_type", sorted(SYSTEM_AUDIT_TYPES))
def test_system_audit_types_are_not_accepted_from_producers(audit_type: AuditEventType) -> None:
    assert audit_subject(audit_type) not in SUBJECT_MODELS
    assert model_for_subject(audit_subject(audit_type)) is None
    assert audit_type_for_subject(audit_subject(audit_type)) is None


@pytest.mark.parametrize("subject", ["nope", "audit.nope", "audit", "message.sent.extra", ""])
def test_an_unknown_subject_has_no_model(subject: str) -> None:
    assert model_for_subject(subject) is None
    assert audit_type_for_subject(subject) is None


def test_a_non_audit_subject_has_no_audit_type() -> None:
    assert audit_type_for_subject("message.sent") is None


@pytest.mark.parametrize("subject", sorted(SUBJECT_MODELS))
def test_every_subject_is_captured_by_the_events_stream(subject: str) -> None:
    assert sum(matches(subject, pattern) for pattern in EVENT_SUBJECTS) == 1


@pytest.mark.parametrize("subject", sorted(SUBJECT_MODELS))
def test_every_dead_letter_subject_is_captured_by_the_dlq_stream(subject: str) -> None:
    assert dlq_subject(subject) == f"dlq.{subject}"
    assert any(matches(dlq_subject(subject), pattern) for pattern in DLQ_SUBJECTS)
    assert not any(matches(dlq_subject(subject), pattern) for pattern in EVENT_SUBJECTS)


def test_every_subject_family_has_an_example() -> None:
    families = {schema_file_for(subject) for subject in SUBJECT_MODELS}
    assert {schema_file_for(subject) for subject in EXAMPLES} == families
    assert set(EXAMPLES) <= set(SUBJECT_MODELS)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_each_consumer_takes_its_own_subjects_and_no_other_familys(family: Family) -> None:
    for subject in SUBJECT_MODELS:
        assert matches(subject, family.consumer_filter) == (subject in family.models), subject


def test_the_families_have_distinct_names() -> None:
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)
