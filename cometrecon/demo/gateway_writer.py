"""gateway_logs/: the gateway's log, one file per UTC hour of `created_at`.

Three shapes, as an operator would have them on disk: `/api/log/self` page JSON (new-api
log objects, `other` a JSON string, `id` = id % 1024), a CSV export with the same field
names, and `cometapi logs --json` records (no `id`, no `other`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl

from cometrecon.demo.app_writer import (
    ENDPOINT_BY_MODEL_STREAM,
    ERROR_CODES,
    ERROR_MESSAGES,
    status_index,
)
from cometrecon.demo.jsontext import (
    decimal_text,
    escape,
    jbool,
    jint,
    jobj,
    jstr,
    lit,
    money_from_quota,
    or_empty,
    or_null,
    pick,
)
from cometrecon.demo.world import (
    ACCOUNT_USERNAME,
    BILLABLE_KINDS,
    CONTENT_EMAILS,
    GATEWAY_IPS,
    GROUP_NAME,
    K_INVALID,
    MODELS,
    TOKEN_NAMES,
    USER_ID,
    World,
)

KEEP = (
    "seq",
    "created_at",
    "gw_done_ms",
    "sent_ms",
    "kind",
    "model",
    "token",
    "stream",
    "status",
    "base",
    "cache_read",
    "cache_write",
    "output",
    "ttft_ms",
    "quota",
    "is_minimum",
    "email",
    "ip",
    "rid",
    "resp_hex",
    "max_output",
)
RESPONSE_PREFIX = {
    "openai_chat": "chatcmpl-",
    "openai_responses": "resp_",
    "anthropic_messages": "msg_",
    "gemini": "",
}
INVALID_MESSAGE = "max_tokens exceeds the maximum allowed for this model"
SHAPE_PAGE, SHAPE_CSV, SHAPE_CLI = "page", "csv", "cli"
CSV_COLUMNS = (
    "id",
    "user_id",
    "created_at",
    "type",
    "content",
    "username",
    "token_name",
    "model_name",
    "quota",
    "prompt_tokens",
    "completion_tokens",
    "use_time",
    "is_stream",
    "channel",
    "group",
    "ip",
    "request_id",
    "response_id",
    "other",
)


def gateway_rows(attempts: pl.DataFrame) -> pl.DataFrame:
    """The attempts that reached the gateway: consume (type 2) or error (type 5) rows."""
    return attempts.filter(pl.col("created_at").is_not_null()).select(
        *KEEP,
        type=pl.when(pl.col("kind").is_in(list(BILLABLE_KINDS))).then(2).otherwise(5),
    )


def _model(table: list[str]) -> pl.Expr:
    return pick(pl.col("model").cast(pl.Int64), table)


def _text_columns(world: World) -> dict[str, pl.Expr]:
    """Per-row text of the fields every shape shares."""
    g = decimal_text(world.group_ratio)
    consume = pl.col("type") == 2
    is_anthropic = (
        pl.col("model")
        .cast(pl.Int64)
        .is_in([i for i, m in enumerate(MODELS) if m.usage_semantic_anthropic])
    )
    contents = []
    for m in MODELS:
        text = (
            f"模型倍率 {decimal_text(m.model_ratio)}，补全倍率 {decimal_text(m.completion_ratio)}，"
            f"分组倍率 {g}，缓存倍率 {decimal_text(m.cache_ratio)}"
        )
        if m.cache_creation_ratio:
            text += f"，缓存创建倍率 {decimal_text(m.cache_creation_ratio)}"
        contents.append(text)
    email_note = [f" | low-balance alert sent to {address}" for address in CONTENT_EMAILS]
    invalid = pl.col("kind") == K_INVALID
    error_content = pl.concat_str(
        [
            lit("status_code="),
            jint(pl.col("status")),
            lit(", "),
            pl.when(invalid)
            .then(lit(INVALID_MESSAGE))
            .otherwise(pick(status_index(), ERROR_MESSAGES)),
            lit(" (request id: "),
            pl.col("rid"),
            lit(")"),
        ]
    )
    content = (
        pl.when(consume)
        .then(
            pl.concat_str(
                [_model(contents), or_empty(pl.col("email"), pick(pl.col("seq") % 2, email_note))]
            )
        )
        .otherwise(error_content)
    )
    total_ms = pl.col("gw_done_ms") - pl.col("sent_ms")
    frt = pl.when(pl.col("stream")).then(pl.col("ttft_ms")).otherwise(total_ms)
    path = pick(
        pl.col("model").cast(pl.Int64) * 2 + pl.col("stream").cast(pl.Int64),
        ENDPOINT_BY_MODEL_STREAM,
    )
    prefix = [
        f'{{"model_ratio":{decimal_text(m.model_ratio)},"group_ratio":{g},'
        f'"completion_ratio":{decimal_text(m.completion_ratio)},"cache_tokens":'
        for m in MODELS
    ]
    middle = [
        f',"cache_ratio":{decimal_text(m.cache_ratio)},"model_price":-1,"user_group_ratio":-1,"frt":'
        for m in MODELS
    ]
    tail = [
        ',"reasoning_effort":"medium"' if m.api_format == "openai_responses" else "" for m in MODELS
    ]
    anthropic_tail = pl.concat_str(
        [
            lit(',"cache_creation_tokens":'),
            jint(pl.col("cache_write")),
            lit(',"cache_creation_ratio":'),
            _model([decimal_text(m.cache_creation_ratio) for m in MODELS]),
            lit(',"usage_semantic":"anthropic"'),
        ]
    )
    other_consume = pl.concat_str(
        [
            _model(prefix),
            jint(pl.col("cache_read")),
            _model(middle),
            jint(frt),
            lit(',"total_ms":'),
            jint(total_ms),
            lit(',"request_path":"'),
            path,
            lit('"'),
            or_empty(is_anthropic, anthropic_tail),
            _model(tail),
            lit("}"),
        ]
    )
    error_code = (
        pl.when(invalid).then(lit("invalid_request")).otherwise(pick(status_index(), ERROR_CODES))
    )
    other_error = pl.concat_str(
        [
            lit('{"error_type":"comet_api_error","error_code":"'),
            error_code,
            lit('","status_code":'),
            jint(pl.col("status")),
            lit(',"request_path":"'),
            path,
            lit('"}'),
        ]
    )
    prompt_tokens = (
        pl.when(is_anthropic)
        .then(pl.col("base"))
        .otherwise(pl.col("base") + pl.col("cache_read") + pl.col("cache_write"))
    )
    response_id = (
        pl.when(consume)
        .then(
            pl.concat_str(
                [_model([RESPONSE_PREFIX[m.api_format] for m in MODELS]), pl.col("resp_hex")]
            )
        )
        .otherwise(lit(""))
    )
    return {
        "content": content,
        "other": pl.when(consume).then(other_consume).otherwise(other_error),
        "prompt_tokens": prompt_tokens,
        "use_time": total_ms // 1000,
        "total_ms": total_ms,
        "frt": frt,
        "path": path,
        "response_id": response_id,
        "token_name": pick(pl.col("token").cast(pl.Int64), TOKEN_NAMES),
        "model_name": _model([m.label for m in MODELS]),
        "ip_text": pick(pl.col("ip").cast(pl.Int64), GATEWAY_IPS),
        "channel": pl.col("model")
        .cast(pl.Int64)
        .replace_strict(
            old=list(range(len(MODELS))), new=[m.channel for m in MODELS], return_dtype=pl.Int64
        ),
    }


def _prepared(rows: pl.DataFrame, first_id: int, world: World) -> pl.DataFrame:
    ordered = rows.sort(["created_at", "gw_done_ms", "seq"])
    return ordered.with_columns(
        id=(pl.int_range(0, pl.len(), dtype=pl.Int64) + first_id) % 1024
    ).with_columns(**_text_columns(world))


def _page_item() -> pl.Expr:
    return jobj(
        [
            ("id", jint(pl.col("id"))),
            ("user_id", str(USER_ID)),
            ("created_at", jint(pl.col("created_at"))),
            ("type", jint(pl.col("type"))),
            ("content", jstr(pl.col("content"))),
            ("username", f'"{ACCOUNT_USERNAME}"'),
            ("token_name", jstr(pl.col("token_name"))),
            ("model_name", jstr(pl.col("model_name"))),
            ("quota", jint(pl.col("quota"))),
            ("prompt_tokens", jint(pl.col("prompt_tokens"))),
            ("completion_tokens", jint(pl.col("output"))),
            ("use_time", jint(pl.col("use_time"))),
            ("is_stream", jbool(pl.col("stream"))),
            ("channel", jint(pl.col("channel"))),
            ("group", f'"{GROUP_NAME}"'),
            ("ip", jstr(pl.col("ip_text"))),
            ("request_id", jstr(pl.col("rid"))),
            ("response_id", jstr(pl.col("response_id"))),
            ("other", jstr(escape(pl.col("other")))),
        ]
    )


def _cli_record(world: World) -> pl.Expr:
    consume = pl.col("type") == 2
    g = decimal_text(world.group_ratio)
    return jobj(
        [
            ("request_id", jstr(pl.col("rid"))),
            ("response_id", jstr(pl.col("response_id"))),
            ("content", jstr(pl.col("content"))),
            (
                "time",
                jstr(
                    pl.from_epoch(pl.col("created_at"), time_unit="s").dt.strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    )
                ),
            ),
            ("type", pl.when(consume).then(lit('"consume"')).otherwise(lit('"error"'))),
            ("model", jstr(pl.col("model_name"))),
            ("token_name", jstr(pl.col("token_name"))),
            ("username", f'"{ACCOUNT_USERNAME}"'),
            ("user_id", str(USER_ID)),
            ("ip", jstr(pl.col("ip_text"))),
            ("stream", jbool(pl.col("stream"))),
            ("prompt_tokens", jint(pl.col("prompt_tokens"))),
            ("completion_tokens", jint(pl.col("output"))),
            ("cache_tokens", jint(pl.col("cache_read"))),
            ("cost_usd", money_from_quota(pl.col("quota"))),
            ("quota", jint(pl.col("quota"))),
            (
                "model_ratio",
                or_null(consume, _model([decimal_text(m.model_ratio) for m in MODELS])),
            ),
            (
                "completion_ratio",
                or_null(consume, _model([decimal_text(m.completion_ratio) for m in MODELS])),
            ),
            ("group_ratio", or_null(consume, lit(g))),
            ("model_price", or_null(consume, lit("-1"))),
            (
                "cache_ratio",
                or_null(consume, _model([decimal_text(m.cache_ratio) for m in MODELS])),
            ),
            ("duration_ms", jint(pl.col("total_ms"))),
            ("first_token_ms", jint(pl.col("frt"))),
            ("endpoint", jstr(pl.col("path"))),
        ]
    )


def _write_lines(handle_path: Path, lines: pl.DataFrame, head: str = "", foot: str = "") -> None:
    with handle_path.open("wb") as handle:
        if head:
            handle.write(head.encode("utf-8"))
            handle.flush()
        lines.write_csv(handle, include_header=False, quote_style="never")
        handle.flush()
        if foot:
            handle.write(foot.encode("utf-8"))


def write_gateway_hour(
    directory: Path,
    hour_start: datetime,
    rows: pl.DataFrame,
    shape: str,
    first_id: int,
    world: World,
) -> Path:
    """Write one hour of gateway rows in `shape`; ids continue from `first_id`."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = hour_start.strftime("%Y-%m-%dT%H")
    prepared = _prepared(rows, first_id, world)
    if shape == SHAPE_CSV:
        path = directory / f"log_export_{stamp}.csv"
        prepared.select(
            "id",
            user_id=pl.lit(USER_ID, dtype=pl.Int64),
            created_at="created_at",
            type="type",
            content="content",
            username=pl.lit(ACCOUNT_USERNAME),
            token_name="token_name",
            model_name="model_name",
            quota="quota",
            prompt_tokens="prompt_tokens",
            completion_tokens="output",
            use_time="use_time",
            is_stream="stream",
            channel="channel",
            group=pl.lit(GROUP_NAME),
            ip="ip_text",
            request_id="rid",
            response_id="response_id",
            other="other",
        ).select(CSV_COLUMNS).write_csv(path)
        return path
    if shape == SHAPE_CLI:
        path = directory / f"cometapi_logs_{stamp}.jsonl"
        _write_lines(path, prepared.select(line=_cli_record(world)))
        return path
    path = directory / f"log_self_{stamp}.json"
    n = prepared.height
    items = prepared.select(
        line=pl.concat_str(
            [
                _page_item(),
                pl.when(pl.int_range(0, pl.len()) < n - 1).then(lit(",")).otherwise(lit("")),
            ]
        )
    )
    head = (
        '{"success": true, "message": "", "data": {"page": 1, '
        f'"page_size": {n}, "total": {n}, "items": [\n'
    )
    _write_lines(path, items, head, "]}}\n")
    return path
