"""The handler table against the families' table: a subject without a handler fails here, not
in production as a dead letter for every event on it."""

from __future__ import annotations

import pytest

from events.subjects import SUBJECT_MODELS
from workers.handlers import BATCH_HANDLERS, HANDLERS


@pytest.mark.parametrize("subject", sorted(SUBJECT_MODELS))
def test_every_subject_has_exactly_one_handler(subject: str) -> None:
    assert (subject in HANDLERS) + (subject in BATCH_HANDLERS) == 1


def test_no_handler_waits_on_a_subject_no_family_has() -> None:
    assert (set(HANDLERS) | set(BATCH_HANDLERS)) - set(SUBJECT_MODELS) == set()
