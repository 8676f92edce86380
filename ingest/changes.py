"""changes/: deploys, feature flags and configuration changes (CSV)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ingest.fields import Field, StreamTable
from ingest.readers import Format, RejectedFile, csv_records
from ingest.sanitize import CREDENTIAL_KEYS, redact_sql
from ingest.source import SourceFile

STREAM = "changes"

TABLE = StreamTable(
    content_keys=CREDENTIAL_KEYS,
    table="changes",
    description="One row per recorded change.",
    fields=(
        Field("changed_at", "timestamptz", path="changed_at", required=True),
        Field("kind", "text", path="kind"),
        Field("change_key", "text", path="key"),
        Field("old_value", "text", source=redact_sql('r."old_value"')),
        Field("new_value", "text", source=redact_sql('r."new_value"')),
        Field("deploy_id", "text", path="deploy_id"),
        Field("description", "text", source=redact_sql('r."description"')),
    ),
)
TABLES = (TABLE,)


def records(source: SourceFile) -> Iterator[tuple[StreamTable, pa.Table]]:
    if source.detected.format is not Format.CSV:
        raise RejectedFile(
            f"changes expects a CSV change log, found {source.detected.format.value}"
        )
    for batch in csv_records(source.path, source.detected.gzipped):
        yield TABLE, batch
