"""app_requests/: the application's own attempt log, one JSON line per attempt.

Each line carries what a real middleware log would: timestamps with mixed offsets
(`Z` or the finance timezone's local offset), the provider usage object exactly as the
API format returns it (null when none arrived), the error envelope, and the raw request
headers and body, which hold the planted secrets and prompt text that must never land.
"""

from __future__ import annotations

import gzip
import io
from typing import IO

import polars as pl

from cometrecon.demo.jsontext import jbool, jint, jobj, jstr, lit, or_empty, or_null, pick
from cometrecon.demo.world import (
    API_FORMATS,
    ERROR_STATUSES,
    K_CONN,
    K_CUT,
    K_ERROR,
    K_INVALID,
    K_OK,
    K_TIMEOUT,
    MODELS,
    PROMPT_SENTENCES,
    SYSTEM_PROMPT,
    TENANTS,
    TICKET_DIGITS,
    TICKET_PREFIX,
    TOKEN_NAMES,
    World,
)

ISO_Z = "%Y-%m-%dT%H:%M:%S%.3fZ"
ISO_OFFSET = "%Y-%m-%dT%H:%M:%S%.3f%:z"

ERROR_MESSAGES = (
    "当前分组上游负载已饱和，请稍后再试",
    "upstream provider returned an internal error",
    "no available channel for this model in group enterprise",
    "upstream request timed out",
    "a timeout occurred while waiting for the upstream provider",
)
ERROR_CODES = (
    "rate_limit_exceeded",
    "upstream_error",
    "model_not_available",
    "gateway_timeout",
    "upstream_timeout",
)
FORMAT_OF_MODEL = tuple(API_FORMATS.index(m.api_format) for m in MODELS)
ENDPOINT_BY_MODEL_STREAM = tuple(
    endpoint for m in MODELS for endpoint in (m.endpoint, m.stream_endpoint)
)


def status_index() -> pl.Expr:
    return pl.col("status").replace_strict(
        old=list(ERROR_STATUSES),
        new=list(range(len(ERROR_STATUSES))),
        default=0,
        return_dtype=pl.Int64,
    )


def timestamp(column: str, finance_timezone: str) -> pl.Expr:
    moment = pl.from_epoch(pl.col(column), time_unit="ms").dt.replace_time_zone("UTC")
    return (
        pl.when(pl.col("z_offset"))
        .then(moment.dt.strftime(ISO_Z))
        .otherwise(moment.dt.convert_time_zone(finance_timezone).dt.strftime(ISO_OFFSET))
    )


def _usage() -> pl.Expr:
    b, cr, cw = pl.col("base"), pl.col("cache_read"), pl.col("cache_write")
    out, reasoning = pl.col("output"), pl.col("reasoning")
    prompt = b + cr + cw
    chat = jobj(
        [
            ("prompt_tokens", jint(prompt)),
            ("completion_tokens", jint(out)),
            ("total_tokens", jint(prompt + out)),
            ("prompt_tokens_details", jobj([("cached_tokens", jint(cr)), ("audio_tokens", "0")])),
            (
                "completion_tokens_details",
                jobj(
                    [
                        ("reasoning_tokens", jint(reasoning)),
                        ("audio_tokens", "0"),
                        ("accepted_prediction_tokens", "0"),
                        ("rejected_prediction_tokens", "0"),
                    ]
                ),
            ),
        ]
    )
    responses = jobj(
        [
            ("input_tokens", jint(prompt)),
            ("input_tokens_details", jobj([("cached_tokens", jint(cr))])),
            ("output_tokens", jint(out)),
            ("output_tokens_details", jobj([("reasoning_tokens", jint(reasoning))])),
            ("total_tokens", jint(prompt + out)),
        ]
    )
    anthropic = jobj(
        [
            ("input_tokens", jint(b)),
            ("cache_creation_input_tokens", jint(cw)),
            ("cache_read_input_tokens", jint(cr)),
            (
                "cache_creation",
                jobj([("ephemeral_5m_input_tokens", jint(cw)), ("ephemeral_1h_input_tokens", "0")]),
            ),
            ("output_tokens", jint(out)),
            ("service_tier", '"standard"'),
        ]
    )
    gemini = pl.concat_str(
        [
            lit('{"promptTokenCount": '),
            jint(prompt),
            or_empty(cr > 0, pl.concat_str([lit(', "cachedContentTokenCount": '), jint(cr)])),
            lit(', "candidatesTokenCount": '),
            jint(out - reasoning),
            or_empty(
                reasoning > 0, pl.concat_str([lit(', "thoughtsTokenCount": '), jint(reasoning)])
            ),
            lit(', "totalTokenCount": '),
            jint(prompt + out),
            lit("}"),
        ]
    )
    fmt = pl.col("fmt")
    by_format = (
        pl.when(fmt == 0)
        .then(chat)
        .when(fmt == 1)
        .then(responses)
        .when(fmt == 2)
        .then(anthropic)
        .otherwise(gemini)
    )
    return or_null(pl.col("kind") == K_OK, by_format)


def _error(world: World) -> pl.Expr:
    kind = pl.col("kind")
    rid = pl.col("rid").fill_null("")
    timeout = (
        '{"error": {"message": "Request timed out after '
        f'{world.timeout_seconds}s (client read timeout)", "type": "client_timeout", '
        '"param": "", "code": "timeout"}}'
    )
    conn = (
        '{"error": {"message": "Connection reset by peer before response headers were received", '
        '"type": "connection_error", "param": "", "code": ""}}'
    )
    upstream = pl.concat_str(
        [
            lit('{"error": {"message": "'),
            pick(status_index(), ERROR_MESSAGES),
            lit(" (request id: "),
            rid,
            lit(')", "type": "comet_api_error", "param": "", "code": "'),
            pick(status_index(), ERROR_CODES),
            lit('"}}'),
        ]
    )
    invalid = pl.concat_str(
        [
            lit('{"error": {"message": "max_tokens: '),
            jint(pl.col("max_output")),
            lit(" exceeds the maximum allowed for this model (request id: "),
            rid,
            lit(
                ')", "type": "comet_api_error", "param": "max_tokens", "code": "invalid_request"}}'
            ),
        ]
    )
    return (
        pl.when(kind == K_TIMEOUT)
        .then(lit(timeout))
        .when(kind == K_CONN)
        .then(lit(conn))
        .when(kind == K_ERROR)
        .then(upstream)
        .when(kind == K_INVALID)
        .then(invalid)
        .otherwise(lit("null"))
    )


def _headers(world: World) -> pl.Expr:
    key = pick(pl.col("token").cast(pl.Int64), [world.api_keys[t] for t in TOKEN_NAMES])
    bearer = pl.concat_str(
        [
            lit('{"Authorization": "Bearer '),
            key,
            lit(
                '", "Content-Type": "application/json", "User-Agent": "northwind-llm-client/2.3.1"}'
            ),
        ]
    )
    anthropic = pl.concat_str(
        [
            lit('{"x-api-key": "'),
            key,
            lit('", "anthropic-version": "2023-06-01", "content-type": "application/json"}'),
        ]
    )
    return pl.when(pl.col("fmt") == 2).then(anthropic).otherwise(bearer)


def request_body() -> pl.Expr:
    """The JSON request body of an attempt (needs `fmt`, see `with_format`).

    The user message is the planted prompt sentence followed by the request's ticket
    number, so every logical request's body is unique; its retries repeat it exactly, and
    a queue replay carries the sentence and ticket of the request it resends.
    """
    model = jstr(pick(pl.col("model").cast(pl.Int64), [m.label for m in MODELS]))
    sentence = jstr(
        pl.concat_str(
            [
                pick(pl.col("sentence").cast(pl.Int64), PROMPT_SENTENCES),
                lit(TICKET_PREFIX),
                pl.col("ticket").cast(pl.String).str.zfill(TICKET_DIGITS),
            ]
        )
    )
    stream = jbool(pl.col("stream"))
    max_output = jint(pl.col("max_output"))
    system = f'"{SYSTEM_PROMPT}"'
    chat = jobj(
        [
            ("model", model),
            ("stream", stream),
            ("max_tokens", max_output),
            (
                "messages",
                pl.concat_str(
                    [
                        lit(f'[{{"role": "system", "content": {system}}}, '),
                        lit('{"role": "user", "content": '),
                        sentence,
                        lit("}]"),
                    ]
                ),
            ),
        ],
        tail=or_empty(pl.col("stream"), lit(', "stream_options": {"include_usage": true}')),
    )
    responses = jobj(
        [
            ("model", model),
            ("stream", stream),
            ("max_output_tokens", max_output),
            ("reasoning", '{"effort": "medium"}'),
            ("instructions", system),
            ("input", sentence),
        ]
    )
    anthropic = jobj(
        [
            ("model", model),
            ("stream", stream),
            ("max_tokens", max_output),
            ("system", system),
            (
                "messages",
                pl.concat_str([lit('[{"role": "user", "content": '), sentence, lit("}]")]),
            ),
        ]
    )
    gemini = jobj(
        [
            ("systemInstruction", f'{{"parts": [{{"text": {system}}}]}}'),
            (
                "contents",
                pl.concat_str(
                    [lit('[{"role": "user", "parts": [{"text": '), sentence, lit("}]}]")]
                ),
            ),
            (
                "generationConfig",
                pl.concat_str(
                    [
                        lit('{"maxOutputTokens": '),
                        max_output,
                        lit(', "thinkingConfig": {"thinkingBudget": 1024}}'),
                    ]
                ),
            ),
        ]
    )
    fmt = pl.col("fmt")
    return (
        pl.when(fmt == 0)
        .then(chat)
        .when(fmt == 1)
        .then(responses)
        .when(fmt == 2)
        .then(anthropic)
        .otherwise(gemini)
    )


def logical_request_id(request_seq: pl.Expr, world: World) -> pl.Expr:
    """The app log's `request_id` of a logical request sequence number: the traffic's first
    day in it, so demos of different days (the benchmark's history) never share an id."""
    prefix = f"req-{world.traffic_start:%Y%m%d}-"
    return pl.concat_str([lit(prefix), jint(request_seq).str.zfill(9)])


def with_format(attempts: pl.DataFrame) -> pl.DataFrame:
    """The app attempts (batch-job rows, tenant -1, are not) with their API format index."""
    return attempts.filter(pl.col("tenant") >= 0).with_columns(
        fmt=pl.col("model")
        .cast(pl.Int64)
        .replace_strict(
            old=list(range(len(MODELS))), new=list(FORMAT_OF_MODEL), return_dtype=pl.Int64
        )
    )


def app_lines(attempts: pl.DataFrame, world: World) -> pl.DataFrame:
    """One JSON text per app attempt (batch-job rows, tenant -1, are not app attempts)."""
    frame = with_format(attempts)
    kind = pl.col("kind")
    model_idx = pl.col("model").cast(pl.Int64)
    key = pick(pl.col("token").cast(pl.Int64), [world.api_keys[t] for t in TOKEN_NAMES])
    line = jobj(
        [
            ("request_id", jstr(logical_request_id(pl.col("req_seq"), world))),
            ("attempt", jint(pl.col("attempt"))),
            ("sent_at", jstr(timestamp("sent_ms", world.incident.finance_timezone))),
            ("completed_at", jstr(timestamp("app_done_ms", world.incident.finance_timezone))),
            (
                "endpoint",
                jstr(
                    pick(model_idx * 2 + pl.col("stream").cast(pl.Int64), ENDPOINT_BY_MODEL_STREAM)
                ),
            ),
            ("api_format", jstr(pick(pl.col("fmt"), API_FORMATS))),
            ("model", jstr(pick(model_idx, [m.label for m in MODELS]))),
            ("tenant", jstr(pick(pl.col("tenant").cast(pl.Int64), TENANTS))),
            ("http_status", or_null(pl.col("status") > 0, jint(pl.col("status")))),
            ("stream", jbool(pl.col("stream"))),
            ("client_disconnected", jbool((kind == K_TIMEOUT) | (kind == K_CUT))),
            ("cometapi_request_id", or_null(pl.col("rid").is_not_null(), jstr(pl.col("rid")))),
            ("usage", _usage()),
            ("error", _error(world)),
            ("request_headers", _headers(world)),
            ("request_body", request_body()),
        ],
        tail=or_empty(pl.col("legacy_key"), pl.concat_str([lit(', "api_key": "'), key, lit('"')])),
    )
    return frame.select(line=line)


def write_app_lines(handle: IO[bytes] | gzip.GzipFile, attempts: pl.DataFrame, world: World) -> int:
    """Append one JSON line per app attempt to an open binary file."""
    lines = app_lines(attempts, world)
    if lines.height:
        buffer = io.BytesIO()
        lines.write_csv(buffer, include_header=False, quote_style="never")
        handle.write(buffer.getvalue())
        handle.flush()
    return lines.height
