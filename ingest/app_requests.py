"""app_requests/: the application's own log, one JSON object per attempt.

Content and credentials are never selected. What lands instead: header names, request
body field names, and salted SHA-256 fingerprints of the payload and the credential.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from ingest.fields import OFFSET_PATTERN, Field, Nested, StreamTable, token_count
from ingest.readers import (
    Format,
    RejectedFile,
    json_lines,
    load_json_document,
    records_from_python,
)
from ingest.sanitize import redact_sql
from ingest.source import SourceFile

STREAM = "app_requests"
API_FORMATS = ("openai_chat", "openai_responses", "anthropic_messages", "gemini")

_HEADERS = 'coalesce(r."request_headers", r."headers")'
_CREDENTIAL_HEADER = (
    "list_filter(json_keys(_headers), lambda k: lower(k) in "
    "('authorization', 'x-api-key', 'x-goog-api-key', 'api-key'))[1]"
)
_CREDENTIAL = (
    "nullif(regexp_replace(trim(coalesce("
    f"json_extract_string(_headers, '$.\"' || {_CREDENTIAL_HEADER} || '\"'), "
    "r.\"api_key\", r.\"authorization\")), '(?i)^bearer\\s+', ''), '')"
)
_PAYLOAD = (
    'coalesce(r."request_body", case when coalesce(r."messages", r."prompt", r."input", '
    'r."contents", r."system") is not null then json_object(\'model\', r."model", '
    "'messages', r.\"messages\", 'prompt', r.\"prompt\", 'input', r.\"input\", "
    "'contents', r.\"contents\", 'system', r.\"system\") end)"
)
_ERROR = 'coalesce(json_extract(r."error", \'$.error\'), r."error")'

USAGE_SHAPE = """case
    when u is null then null
    when u."promptTokenCount" is not null or u."candidatesTokenCount" is not null
      or u."totalTokenCount" is not null then 'gemini'
    when u."prompt_tokens" is not null or u."completion_tokens" is not null then 'openai_chat'
    when u."cache_creation_input_tokens" is not null or u."cache_read_input_tokens" is not null
      or u."cache_creation" is not null then 'anthropic_messages'
    when u."input_tokens_details" is not null or u."output_tokens_details" is not null
      then 'openai_responses'
    when u."input_tokens" is not null or u."output_tokens" is not null then 'input_output'
    else 'unrecognised'
end"""

TABLE = StreamTable(
    table="app_requests",
    description="One row per attempt from the application's request log.",
    redact_text=False,
    strict_text=True,
    derived=(
        ("_headers", _HEADERS),
        ("_payload", f"json({_PAYLOAD})::VARCHAR"),
        ("_credential", _CREDENTIAL),
    ),
    nested=(Nested("u", 'coalesce(json_extract(r."usage", \'$.usageMetadata\'), r."usage")'),),
    fields=(
        Field("request_id", "text", path="request_id", required=True),
        Field(
            "attempt",
            "int",
            path="attempt",
            required=True,
            checks=(("{v} >= 1", "'attempt must be 1 or more'"),),
        ),
        Field("sent_at", "timestamptz", path="sent_at", required=True),
        Field(
            "sent_at_offset",
            "text",
            source=f"regexp_extract(trim(r.\"sent_at\"), '{OFFSET_PATTERN}')",
        ),
        Field("completed_at", "timestamptz", path="completed_at"),
        Field(
            "completed_at_offset",
            "text",
            source=f"regexp_extract(trim(r.\"completed_at\"), '{OFFSET_PATTERN}')",
        ),
        Field("endpoint", "text", path="endpoint"),
        Field(
            "api_format",
            "text",
            path="api_format",
            required=True,
            checks=((f"{{v}} in {API_FORMATS}", "'unknown api_format ' || \"_raw_api_format\""),),
        ),
        Field("model", "text", path="model", required=True),
        Field("tenant", "text", path="tenant"),
        Field(
            "http_status",
            "int",
            path="http_status",
            checks=(("{v} between 100 and 599", "'not an HTTP status'"),),
        ),
        Field("is_stream", "bool", path="stream"),
        Field("client_disconnected", "bool", path="client_disconnected"),
        Field("cometapi_request_id", "text", path="cometapi_request_id"),
        # the usage object's keys and nesting, values replaced by their JSON types: the
        # counts are in the token columns, and the shapes repeat (cheap to store)
        Field(
            "usage_structure_json",
            "json",
            path="usage",
            path_transform="json_structure({value})",
            checks=(("json_type({v}) = 'OBJECT'", "'usage is not a JSON object'"),),
        ),
        Field("usage_shape", "text", source=USAGE_SHAPE),
        # openai_chat
        token_count("usage_prompt_tokens", "u:prompt_tokens"),
        token_count("usage_completion_tokens", "u:completion_tokens"),
        token_count("usage_total_tokens", "u:total_tokens"),
        token_count("usage_prompt_cached_tokens", "u:prompt_tokens_details.cached_tokens"),
        token_count("usage_prompt_audio_tokens", "u:prompt_tokens_details.audio_tokens"),
        token_count(
            "usage_completion_reasoning_tokens", "u:completion_tokens_details.reasoning_tokens"
        ),
        # openai_responses and anthropic_messages
        token_count("usage_input_tokens", "u:input_tokens"),
        token_count("usage_output_tokens", "u:output_tokens"),
        token_count("usage_input_cached_tokens", "u:input_tokens_details.cached_tokens"),
        token_count("usage_output_reasoning_tokens", "u:output_tokens_details.reasoning_tokens"),
        token_count("usage_cache_creation_input_tokens", "u:cache_creation_input_tokens"),
        token_count("usage_cache_read_input_tokens", "u:cache_read_input_tokens"),
        token_count("usage_cache_creation_5m_tokens", "u:cache_creation.ephemeral_5m_input_tokens"),
        token_count("usage_cache_creation_1h_tokens", "u:cache_creation.ephemeral_1h_input_tokens"),
        # gemini usageMetadata
        token_count("usage_prompt_token_count", "u:promptTokenCount"),
        token_count("usage_cached_content_token_count", "u:cachedContentTokenCount"),
        token_count("usage_candidates_token_count", "u:candidatesTokenCount"),
        token_count("usage_thoughts_token_count", "u:thoughtsTokenCount"),
        token_count("usage_tool_use_prompt_token_count", "u:toolUsePromptTokenCount"),
        token_count("usage_total_token_count", "u:totalTokenCount"),
        # error envelope, without free text beyond a redacted message
        Field("error_type", "text", source=f"json_extract_string({_ERROR}, '$.type')"),
        Field("error_code", "text", source=f"json_extract_string({_ERROR}, '$.code')"),
        Field(
            "error_message",
            "text",
            source=redact_sql(f"left(json_extract_string({_ERROR}, '$.message'), 500)"),
        ),
        Field("error_json", "json", path="error"),
        Field(
            "error_shape",
            "list",
            source=(
                "case when json_type(r.\"error\") = 'OBJECT' then list_sort(list_concat("
                'json_keys(r."error"), list_transform(coalesce(json_keys(json_extract(r."error", \'$.error\')), []), '
                "lambda k: 'error.' || k))) end"
            ),
        ),
        # fingerprints and names, never values
        Field(
            "request_header_names",
            "list",
            source="list_sort(list_transform(json_keys(_headers), lambda k: lower(k)))",
        ),
        Field("request_field_names", "list", source="list_sort(json_keys(_payload))"),
        Field(
            "credential_fingerprint",
            "text",
            source="case when _credential is not null then sha256($salt || _credential) end",
        ),
        Field(
            "payload_fingerprint",
            "text",
            source="case when _payload is not null then sha256($salt || _payload) end",
        ),
    ),
    record_checks=(
        (
            "completed_at is null or sent_at is null or completed_at >= sent_at",
            "completed_at",
            "'completed_at is before sent_at'",
        ),
        (
            "usage_structure_json is null or usage_shape <> 'unrecognised'",
            "usage_structure_json",
            "'usage object has no token fields this tool knows'",
        ),
        (
            "usage_shape is null or usage_shape = api_format or api_format is null "
            "or (usage_shape = 'input_output' and api_format in ('openai_responses', 'anthropic_messages'))",
            "usage_structure_json",
            "'usage object is shaped like ' || usage_shape || ' but api_format is ' || api_format",
        ),
    ),
)

TABLES = (TABLE,)


def records(source: SourceFile) -> Iterator[tuple[StreamTable, pa.Table]]:
    path, detected, stats = source.path, source.detected, source.stats
    if detected.format not in (Format.JSON_LINES, Format.JSON_DOCUMENT):
        raise RejectedFile(f"app_requests expects JSON lines, found {detected.format.value}")
    if detected.format is Format.JSON_DOCUMENT:
        document = load_json_document(path, detected.gzipped)
        items = document if isinstance(document, list) else [document]
        yield TABLE, records_from_python(items)
        return
    for batch in json_lines(path, detected.gzipped, stats):
        yield TABLE, batch
