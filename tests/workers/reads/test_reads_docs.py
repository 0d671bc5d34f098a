"""The reads service in the AsyncAPI document (`make docs`): a channel per endpoint whose
message is the endpoint's request model, as the committed docs/asyncapi.json has it."""

from __future__ import annotations

import json
from pathlib import Path

from workers.reads.api import ENDPOINTS

DOC = Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json"


def test_the_committed_asyncapi_document_has_every_endpoint_and_its_request_schema() -> None:
    doc = json.loads(DOC.read_text())
    for endpoint in ENDPOINTS:
        subject = f"reads.{endpoint.name}"
        assert subject in doc["channels"], f"{subject} missing: run `make docs`"
        message = doc["components"]["messages"][f"{subject}:SubscribeMessage"]
        schema = doc["components"]["schemas"][message["payload"]["$ref"].rsplit("/", 1)[1]]
        want = endpoint.request.model_json_schema()
        assert set(schema["properties"]) == set(want["properties"]), subject
        assert schema.get("required", []) == want.get("required", []), subject
