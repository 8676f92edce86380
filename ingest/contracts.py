"""contracts/: API-contract snapshots (YAML). Unknown keys are kept in `document_json`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ingest.fields import Field, StreamTable
from ingest.readers import Format, RejectedFile, load_yaml_document, records_from_python
from ingest.sanitize import CREDENTIAL_KEYS
from ingest.source import SourceFile

STREAM = "contracts"

CONTRACT_TABLE = StreamTable(
    content_keys=CREDENTIAL_KEYS,
    table="api_contracts",
    description="One row per captured API-contract snapshot.",
    fields=(
        Field("provider", "text", path="provider", required=True),
        Field("source_url", "text", path="source_url"),
        Field("captured_at", "timestamptz", path="captured_at"),
        Field("auth_header", "text", path="auth_header"),
        Field("auth_scheme", "text", path="auth_scheme"),
        Field("request_id_header", "text", path="request_id_header"),
        Field("error_shape_json", "json", path="error_shape"),
        Field("retryable_statuses_json", "json", path="retryable_statuses"),
        Field("non_retryable_statuses_json", "json", path="non_retryable_statuses"),
        Field("document_json", "json", source="_line"),
    ),
)

ENDPOINT_TABLE = StreamTable(
    content_keys=CREDENTIAL_KEYS,
    table="api_contract_endpoints",
    description="One row per endpoint of a contract snapshot.",
    fields=(
        Field("provider", "text", path="provider"),
        Field("contract_captured_at", "timestamptz", path="captured_at"),
        Field("path", "text", path="path", required=True),
        Field("api_format", "text", path="api_format"),
        Field("request_fields_json", "json", path="request_fields"),
        Field("response_usage_fields_json", "json", path="response_usage_fields"),
    ),
)
TABLES = (CONTRACT_TABLE, ENDPOINT_TABLE)


def records(source: SourceFile) -> Iterator[tuple[StreamTable, pa.Table]]:
    if source.detected.format not in (Format.YAML, Format.JSON_DOCUMENT):
        raise RejectedFile(
            f"contracts expects a YAML snapshot, found {source.detected.format.value}"
        )
    documents = load_yaml_document(source.path, source.detected.gzipped)
    contracts = [d for d in documents if isinstance(d, dict)]
    if not contracts:
        raise RejectedFile("contract YAML holds no mapping")
    yield CONTRACT_TABLE, records_from_python(contracts)
    endpoints: list[dict[str, Any]] = []
    for contract in contracts:
        for endpoint in contract.get("endpoints") or []:
            row = (
                dict(endpoint)
                if isinstance(endpoint, dict)
                else {"__csv_error__": "endpoint is not a mapping"}
            )
            row["provider"] = contract.get("provider")
            row["captured_at"] = contract.get("captured_at")
            endpoints.append(row)
    if endpoints:
        yield ENDPOINT_TABLE, records_from_python(endpoints)
