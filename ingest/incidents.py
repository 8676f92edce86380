"""incidents/: incident definitions (YAML): the window, its timezone, owners and tolerance."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ingest.fields import Field, StreamTable
from ingest.readers import Format, RejectedFile, load_yaml_document, records_from_python
from ingest.sanitize import CREDENTIAL_KEYS, redact_sql
from ingest.source import SourceFile

STREAM = "incidents"

TABLE = StreamTable(
    content_keys=CREDENTIAL_KEYS,
    table="incidents",
    description="One row per incident definition.",
    fields=(
        Field("incident_id", "text", path="incident_id", required=True),
        Field("start_utc", "timestamptz", path="start_utc", required=True),
        Field("end_utc", "timestamptz", path="end_utc", required=True),
        Field(
            "finance_timezone",
            "text",
            path="finance_timezone",
            checks=(("{v} in (select name from pg_timezone_names())", "'unknown timezone name'"),),
        ),
        Field(
            "buffer_minutes",
            "int",
            path="buffer_minutes",
            checks=(("{v} between 0 and 10080", "'buffer_minutes out of range'"),),
        ),
        Field("owner", "text", source=redact_sql('r."owner"')),
        Field("finance_reviewer", "text", source=redact_sql('r."finance_reviewer"')),
        Field(
            "tolerance_percent",
            "decimal",
            path="tolerance_percent",
            checks=(("{v} >= 0", "'negative tolerance'"),),
        ),
        Field(
            "tolerance_abs_usd",
            "decimal",
            path="tolerance_abs_usd",
            checks=(("{v} >= 0", "'negative tolerance'"),),
        ),
        Field("provider", "text", path="provider"),
        Field("notes", "text", source=redact_sql('r."notes"')),
    ),
    record_checks=(("end_utc > start_utc", "end_utc", "'end_utc is not after start_utc'"),),
)
TABLES = (TABLE,)


def records(source: SourceFile) -> Iterator[tuple[StreamTable, pa.Table]]:
    if source.detected.format not in (Format.YAML, Format.JSON_DOCUMENT):
        raise RejectedFile(
            f"incidents expects a YAML definition, found {source.detected.format.value}"
        )
    documents = load_yaml_document(source.path, source.detected.gzipped)
    incidents = []
    for document in documents:
        if isinstance(document, dict) and isinstance(document.get("incidents"), list):
            incidents.extend(document["incidents"])
        else:
            incidents.append(document)
    if not incidents:
        raise RejectedFile("incident YAML holds no definition")
    yield TABLE, records_from_python(incidents)
