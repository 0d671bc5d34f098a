"""Write one JSON Schema per subject family, and an index of subject -> schema file.

python -m events.schema OUT_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from events.envelope import Event
from events.subjects import AUDIT_PREFIX, SUBJECT_MODELS

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
INDEX_FILE = "index.json"


def schema_file_for(subject: str) -> str:
    """`message.sent` -> `message.sent.json`; every `audit.*` subject -> `audit.json`."""
    family = AUDIT_PREFIX if subject.startswith(f"{AUDIT_PREFIX}.") else subject
    return f"{family}.json"


def write_schemas(out_dir: Path) -> list[Path]:
    """Write the schemas and `index.json` into `out_dir` (made if missing); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = {subject: schema_file_for(subject) for subject in sorted(SUBJECT_MODELS)}
    models: dict[str, type[Event]] = {}
    for subject, file_name in index.items():
        models.setdefault(file_name, SUBJECT_MODELS[subject])
    written = [
        _write_json(out_dir / name, {"$schema": JSON_SCHEMA_DIALECT, **model.model_json_schema()})
        for name, model in sorted(models.items())
    ]
    written.append(_write_json(out_dir / INDEX_FILE, index))
    return written


def _write_json(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m events.schema", description="Write the events' JSON Schemas."
    )
    parser.add_argument("out_dir", type=Path, help="directory to write into (made if missing)")
    args = parser.parse_args(argv)
    for path in write_schemas(args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
