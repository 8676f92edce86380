"""gateway_logs/: the gateway's per-request log (new-api log objects).

Three shapes arrive: `/api/log/self` pages, `cometapi logs --json` records and CSV
exports naming either shape's fields. All land in one table; `record_shape` says which.
The log `id` is `id % 1024` and never a key: rows join on `request_id`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.fields import Field, Nested, StreamTable, sql_quote, token_count
from ingest.readers import (
    PARALLEL_BATCH_ROWS,
    Format,
    RejectedFile,
    csv_records,
    json_lines,
    open_text_bytes,
)
from ingest.sanitize import redact_sql
from ingest.source import SourceFile

STREAM = "gateway_logs"
LOG_TYPE_NAMES = ("unknown", "topup", "consume", "manage", "system", "error", "refund")


def _either(other_key: str, flat_key: str) -> str:
    return f'coalesce(o."{other_key}", r."{flat_key}")'


_LOG_TYPE = (
    'case lower(trim(r."type")) '
    + " ".join(f"when '{name}' then '{code}'" for code, name in enumerate(LOG_TYPE_NAMES))
    + ' else r."type" end'
)
_CREATED_AT = (
    "case when regexp_full_match(trim(r.\"created_at\"), '[0-9]+') "
    "then strftime(to_timestamp(trim(r.\"created_at\")::BIGINT), '%Y-%m-%dT%H:%M:%SZ') "
    'else coalesce(r."created_at", r."time") end'
)
_OTHER_STATUS = (
    "case when nullif(trim(r.\"other\"), '') is null then 'absent' "
    "when _o_type = 'OBJECT' then 'valid' else 'invalid' end"
)

_FIELDS: tuple[Field, ...] = (
    Field("log_id_mod_1024", "int", path="id"),
    Field(
        "created_at",
        "timestamptz",
        source=_CREATED_AT,
        required=True,
        checks=(
            (
                "{v} between '2000-01-01'::TIMESTAMPTZ and '2100-01-01'::TIMESTAMPTZ",
                "'created_at out of range (unix milliseconds instead of seconds?)'",
            ),
        ),
    ),
    Field(
        "log_type",
        "int",
        source=_LOG_TYPE,
        required=True,
        checks=(("{v} between 0 and 6", "'unknown log type'"),),
    ),
    Field("content", "text", source=redact_sql('r."content"')),
    Field("user_id", "int", path="user_id"),
    Field("token_name", "text", path="token_name"),
    Field("model_name", "text", source='coalesce(r."model_name", r."model")'),
    Field("quota", "int", path="quota", required=True),
    token_count("prompt_tokens", "prompt_tokens"),
    token_count("completion_tokens", "completion_tokens"),
    Field("use_time_seconds", "int", path="use_time"),
    Field("is_stream", "bool", source='coalesce(r."is_stream", r."stream")'),
    Field("channel_id", "int", path="channel"),
    Field("group_name", "text", path="group"),
    Field("request_id", "text", path="request_id"),
    Field("response_id", "text", path="response_id"),
    Field(
        "record_shape",
        "text",
        source="case when r.\"created_at\" is not null then 'new_api_log' else 'cli_record' end",
    ),
    Field("other_status", "text", source=_OTHER_STATUS),
    Field("other_extra_json", "json", source=redact_sql("_other_extra")),
    Field(
        "cache_tokens",
        "int",
        source=_either("cache_tokens", "cache_tokens"),
        checks=(("{v} >= 0", "'negative token count'"),),
    ),
    token_count("cache_creation_tokens", "o:cache_creation_tokens"),
    token_count("cache_creation_tokens_5m", "o:cache_creation_tokens_5m"),
    token_count("cache_creation_tokens_1h", "o:cache_creation_tokens_1h"),
    Field("model_ratio", "decimal", source=_either("model_ratio", "model_ratio")),
    Field("completion_ratio", "decimal", source=_either("completion_ratio", "completion_ratio")),
    Field("group_ratio", "decimal", source=_either("group_ratio", "group_ratio")),
    Field("cache_ratio", "decimal", source=_either("cache_ratio", "cache_ratio")),
    Field("cache_creation_ratio", "decimal", path="o:cache_creation_ratio"),
    Field("model_price", "decimal", source=_either("model_price", "model_price")),
    Field("user_group_ratio", "decimal", path="o:user_group_ratio"),
    Field("usage_semantic", "text", path="o:usage_semantic"),
    Field("upstream_model_name", "text", path="o:upstream_model_name"),
    Field("is_model_mapped", "bool", path="o:is_model_mapped"),
    Field("reasoning_effort", "text", path="o:reasoning_effort"),
    Field("request_path", "text", source=_either("request_path", "endpoint")),
    Field("first_response_ms", "int", source=_either("frt", "first_token_ms")),
    Field("total_ms", "int", source=_either("total_ms", "duration_ms")),
    Field("reported_cost_usd", "decimal", path="cost_usd"),
)
_OTHER = Nested("o", 'r."other"')
# `other` keys with columns of their own; `admin_info` never reaches users' logs
_OTHER_KEYS_LANDED = (
    *StreamTable(table="gateway_logs", fields=_FIELDS, nested=(_OTHER,)).structure("o"),
    "admin_info",
)
# the rest of `other` (e.g. an async task's `task_id`, `pre_consumed`, `quota_delta`) is
# kept as JSON: null when every key has a column, as in nearly every row
_OTHER_EXTRA = (
    "case when _o_type = 'OBJECT' then nullif(json_merge_patch(r.\"other\", "
    + sql_quote(json.dumps(dict.fromkeys(_OTHER_KEYS_LANDED), separators=(",", ":")))
    + ")::VARCHAR, '{}') end"
)

TABLE = StreamTable(
    table="gateway_logs",
    description="One row per gateway log entry (consume, error, refund, ...).",
    redact_text=False,
    strict_text=True,
    nested=(_OTHER,),
    derived=(("_other_extra", _OTHER_EXTRA),),
    fields=_FIELDS,
)
TABLES = (TABLE,)


def _document_size(path: Path, gzipped: bool) -> int:
    """Bytes of the (uncompressed) document; gzip keeps the size mod 2**32 in its trailer."""
    size = path.stat().st_size
    if not gzipped:
        return size
    with path.open("rb") as handle:
        handle.seek(-4, 2)
        trailer = int.from_bytes(handle.read(4), "little")
    return max(trailer, size)


# Where a document keeps its log items: a bare list, `data.items` (`/api/log/self`),
# `data` as a list, or `items`. DuckDB parses the document once and hands back each item
# as JSON text: no Python object per item, memory about the document's size.
_ITEM_LOCATIONS = (
    ("json", "json", "records = false, columns = {'json': 'JSON[]'}"),
    ("data.items", "data.items", "records = true, columns = {'data': 'STRUCT(items JSON[])'}"),
    ("data", "data", "records = true, columns = {'data': 'JSON[]'}"),
    ("items", "items", "records = true, columns = {'items': 'JSON[]'}"),
)


# DuckDB holds a JSON document whole while it parses it (several times the document's
# size): one document at a time, so two files landing at once never hold two.
_ONE_DOCUMENT_AT_A_TIME = threading.Lock()

_RECORD_KEYS = re.compile(rb'^\{\s*"(request_id|created_at|time|id|type)"')


def _document_items(con: duckdb.DuckDBPyConnection, path: Path, gzipped: bool) -> pa.Table:
    """Items of a log page or a list of log records, one record per item."""
    with open_text_bytes(path, gzipped) as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    if not head:
        raise RejectedFile("empty file")
    locations = _ITEM_LOCATIONS[:1] if head.startswith(b"[") else _ITEM_LOCATIONS[1:]
    max_size = max(_document_size(path, gzipped) + 1024, 1 << 20)
    # Probing runs on its own cursor: a failed probe must not abort the file's transaction.
    # Each location is tried by reading its items straight out (one parse of the
    # document); only when none come out is the document asked whether the location
    # holds a list at all (an empty page lands no rows, a missing list is rejected).
    with _ONE_DOCUMENT_AT_A_TIME, con.cursor() as probe:
        for _, items, options in locations:
            document = (
                f"from read_json(?, format = 'unstructured', {options}, maximum_object_size = ?) "
                f"where {items} is not null"
            )
            try:
                found = probe.sql(
                    f"select unnest(range(1, len({items}) + 1))::BIGINT as _row_number, "
                    f"unnest({items})::VARCHAR as _line {document}",
                    params=[str(path), max_size],
                ).to_arrow_table(PARALLEL_BATCH_ROWS)
                if found.num_rows:
                    return found
                holds_a_list = probe.execute(f"select count(*) {document}", [str(path), max_size])
                if holds_a_list.fetchall()[0][0]:
                    return found  # an empty list: a page without items
            except duckdb.InvalidInputException as error:
                message = str(error).splitlines()[0]
                if "transform error" in message.lower():
                    continue  # the items are elsewhere in this document
                raise RejectedFile(f"malformed JSON document: {message}") from error
            except duckdb.Error as error:
                message = str(error).splitlines()[0]
                raise RejectedFile(f"cannot read JSON document: {message}") from error
    raise RejectedFile(
        "JSON document holds no log items (expected data.items, data, items or a list)"
    )


def _is_single_record(path: Path, gzipped: bool) -> bool:
    with open_text_bytes(path, gzipped) as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    return bool(_RECORD_KEYS.match(head)) and b'"data"' not in head and b'"items"' not in head


def records(source: SourceFile) -> Iterator[tuple[StreamTable, pa.Table]]:
    path, detected, stats, con = source.path, source.detected, source.stats, source.con
    if detected.format is Format.JSON_LINES:
        for batch in json_lines(path, detected.gzipped, stats):
            yield TABLE, batch
    elif detected.format is Format.JSON_DOCUMENT and _is_single_record(path, detected.gzipped):
        # a one-line `cometapi logs --json` file is one record, not a page
        for batch in json_lines(path, detected.gzipped, stats):
            yield TABLE, batch
    elif detected.format is Format.JSON_DOCUMENT:
        yield TABLE, _document_items(con, path, detected.gzipped)
    elif detected.format is Format.CSV:
        for batch in csv_records(path, detected.gzipped):
            yield TABLE, batch
    else:
        raise RejectedFile(
            f"gateway_logs expects log pages, log records or a CSV export, found {detected.format.value}"
        )
