"""The answer key for the checklist's tables: usage validation, contract, onsets, remediation.

Computed from the generator's own attempt frames and constants while they are written,
never from the warehouse. Definitions follow the marts they check:

- `usage_validation`: for the logical requests first sent in [start, end) (a request's
  attempts go with it wherever they fall) and the gateway records billed in [start, end).
- `contract_disagreements`: the [item_kind, item] pairs where what the demo writes (endpoint
  paths, auth headers, request body fields, usage keys, error envelopes, retries) is not what
  the contract snapshot it writes documents.
- `onsets`: when each injected capture-gap cause really began and the change behind it.
- `remediation`: the checklist items the material causes (|amount| >= 0.01 USD) call for.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from cometrecon.demo.app_writer import app_lines, request_body, with_format
from cometrecon.demo.billing_writer import FocusRow
from cometrecon.demo.static_writers import CHANGE_COLUMNS, change_rows, contract_document
from cometrecon.demo.world import (
    API_FORMATS,
    BILLABLE_KINDS,
    DUPLICATE_LOOKBACK_MS,
    K_CUT,
    K_TIMEOUT,
    MODELS,
    TOKEN_NAMES,
    World,
)

MATERIAL_USD = Decimal("0.01")
JOB_CHANGE_KINDS = ("job", "cron", "schedule", "backfill", "batch")
AUTH_HEADER_NAMES = ("authorization", "x-api-key", "x-goog-api-key", "api-key")
# One representative app attempt per combination of what shapes its JSON line.
SHAPE_KEYS = (
    "model",
    "stream",
    "kind",
    "status",
    "has_cache_read",
    "has_reasoning",
    "legacy_key",
)
USAGE_ROOT = {"gemini": "usageMetadata"}  # every other format's usage sits under `usage`
REMEDIATION_ITEMS = (
    "replace_stale_rate_source",
    "add_parser_regression_test",
    "add_deployment_guard",
    "add_retry_budget",
    "add_reporting_alert",
    "prepare_support_packet",
)
USAGE_VALIDATION_CHECKS = (
    "successful_requests",
    "failed_requests",
    "retried_requests",
    "duplicate_client_requests",
    "scheduled_jobs_in_window",
    "request_ids_only_in_gateway_log",
    "request_ids_only_in_app_log",
    "streams_logged_only_at_start",
    "requests_crossing_window_boundary",
    "billed_records_without_charge_line",
)
CAUSE_CLASS = {
    "timezone_shift": "time_window_mismatch",
    "window_boundary": "time_window_mismatch",
    "stale_rate": "pricing_source_mismatch",
    "rate_missing_from_sheet": "pricing_source_mismatch",
    "cached_tokens_priced_as_input": "field_interpretation_gap",
    "cache_reads_omitted": "field_interpretation_gap",
    "cache_writes_priced_as_input": "field_interpretation_gap",
    "cache_writes_priced_as_cache_reads": "field_interpretation_gap",
    "cache_writes_omitted": "field_interpretation_gap",
    "reasoning_tokens_double_counted": "field_interpretation_gap",
    "reasoning_tokens_omitted": "field_interpretation_gap",
    "attempts_counted_as_requests": "field_interpretation_gap",
    "retry_amplification": "usage_capture_gap",
    "stream_after_disconnect": "usage_capture_gap",
    "untracked_job": "usage_capture_gap",
    "rounding": "account_specific_billing_issue",
    "minimum_charge": "account_specific_billing_issue",
    "account_discount": "account_specific_billing_issue",
    "unexplained_residual": "unknown",
}
PROVIDER_CLASSES = ("account_specific_billing_issue", "unknown")


def iso_ms(epoch_ms: int) -> str:
    """UTC ISO-8601 with milliseconds and `Z`."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


@dataclass
class ChecklistAccumulator:
    """What the checklist's answer key needs from the attempt frames, chunk by chunk."""

    world: World
    counts: Counter[str] = field(default_factory=Counter)
    bodies: list[pl.DataFrame] = field(default_factory=list)
    shapes: list[pl.DataFrame] = field(default_factory=list)
    error_statuses: list[pl.DataFrame] = field(default_factory=list)
    billed_hours: list[pl.DataFrame] = field(default_factory=list)
    app_tokens: set[int] = field(default_factory=set)
    billing_tokens: set[int] = field(default_factory=set)
    job_first_sent_ms: int | None = None

    def add_attempts(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        start, end = self.world.incident.start_ms, self.world.incident.end_ms
        app = pl.col("tenant") >= 0
        kind = pl.col("kind")
        # every attempt of a logical request is in the same frame as its first one
        first_sent = pl.when(app).then(pl.col("sent_ms").min().over("req_seq"))
        frame = frame.with_columns(
            first_sent=first_sent.otherwise(pl.col("sent_ms")),
            has_cache_read=pl.col("cache_read") > 0,
            has_reasoning=pl.col("reasoning") > 0,
        )
        window_request = app & pl.col("first_sent").is_between(start, end, closed="left")
        gateway_record = pl.col("created_at").is_not_null()
        billable = kind.is_in(list(BILLABLE_KINDS)) & gateway_record
        sent_in = pl.col("sent_ms").is_between(start, end, closed="left")
        billed_in = (pl.col("created_at") * 1000).is_between(start, end, closed="left")
        billed_in = billed_in.fill_null(False)
        # the app log marks timed-out and cut streams `client_disconnected`; it always
        # writes `completed_at`
        disconnected = kind.is_in([K_TIMEOUT, K_CUT])
        counters = frame.select(
            request_ids_only_in_gateway_log=(billable & billed_in & ~app).sum(),
            request_ids_only_in_app_log=(window_request & ~gateway_record).sum(),
            streams_logged_only_at_start=(window_request & pl.col("stream") & disconnected).sum(),
            requests_crossing_window_boundary=(billable & (sent_in != billed_in)).sum(),
        ).row(0, named=True)
        for name, value in counters.items():
            self.counts[name] += int(value or 0)

        self.app_tokens.update(frame.filter(app)["token"].unique().to_list())
        in_window = frame.filter(billable & billed_in)
        self.billing_tokens.update(in_window["token"].unique().to_list())
        if in_window.height:
            self.billed_hours.append(
                in_window.group_by(
                    hour=pl.col("created_at") // 3600, model=pl.col("model").cast(pl.Int64)
                ).agg(rows=pl.len().cast(pl.Int64))
            )
        job_first = frame.filter(~app & billable)["sent_ms"].min()
        if isinstance(job_first, int):
            self.job_first_sent_ms = min(job_first, self.job_first_sent_ms or job_first)

        recent = (pl.col("attempt") == 1) & pl.col("first_sent").is_between(
            start - DUPLICATE_LOOKBACK_MS, end, closed="left"
        )
        firsts = with_format(frame.filter(app & recent))
        if firsts.height:
            self.bodies.append(
                firsts.select("req_seq", "tenant", "first_sent", body=request_body())
            )
        window = frame.filter(window_request)
        if window.height:
            self.shapes.append(window.unique(subset=list(SHAPE_KEYS), keep="first").sort("seq"))
            errors = window.filter(pl.col("status") >= 400)
            self.error_statuses.append(
                errors.group_by("status").agg(
                    attempts=pl.len().cast(pl.Int64),
                    retried=(pl.col("attempt") < pl.col("n_attempts")).sum().cast(pl.Int64),
                )
            )

    # ---- usage validation -------------------------------------------------------------

    def duplicate_requests(self) -> pl.DataFrame:
        """(request_seq, earlier_seq) of window requests whose first-attempt body repeats
        that of an earlier, different request of the same tenant at most 15 minutes before:
        each request against the latest one strictly before it with the same tenant and
        body (an as-of join, so a body every request shares costs no more than a unique one)."""
        if not self.bodies:
            return pl.DataFrame(schema={"request_seq": pl.Int64, "earlier_seq": pl.Int64})
        bodies = pl.concat(self.bodies).sort("first_sent")
        start, end = self.world.incident.start_ms, self.world.incident.end_ms
        later = bodies.filter(pl.col("first_sent").is_between(start, end, closed="left"))
        earlier = bodies.select(
            "tenant", "body", req_seq_e="req_seq", first_sent_e="first_sent"
        ).with_columns(first_sent=pl.col("first_sent_e"))
        return (
            later.join_asof(
                earlier,
                on="first_sent",
                by=["tenant", "body"],
                strategy="backward",
                allow_exact_matches=False,
                check_sortedness=False,  # sorted by first_sent above
            )
            .filter(pl.col("first_sent") - pl.col("first_sent_e") <= DUPLICATE_LOOKBACK_MS)
            .select(request_seq="req_seq", earlier_seq="req_seq_e")
            .sort("request_seq", "earlier_seq")
        )

    def usage_validation(self, counts: dict[str, object], focus: list[FocusRow]) -> dict[str, int]:
        incident = self.world.incident
        buffered_start = incident.start.timestamp() - incident.buffer_minutes * 60
        buffered_end = incident.end.timestamp() + incident.buffer_minutes * 60
        job_changes = sum(
            1
            for row in change_rows(self.world)
            if row[CHANGE_COLUMNS.index("kind")] in JOB_CHANGE_KINDS
            and buffered_start
            <= datetime.fromisoformat(row[CHANGE_COLUMNS.index("changed_at")]).timestamp()
            < buffered_end
        )
        job_tokens = self.billing_tokens - self.app_tokens
        charge_lines = pl.DataFrame(
            {
                "hour": [int(r.charge_period_start.timestamp()) // 3600 for r in focus],
                "label": [r.sku for r in focus],
                "usage": [r.category == "Usage" and not r.charge_class for r in focus],
            },
            schema={"hour": pl.Int64, "label": pl.String, "usage": pl.Boolean},
        ).filter("usage")
        untied = 0
        if self.billed_hours:
            billed = pl.concat(self.billed_hours).with_columns(
                label=pl.col("model").replace_strict(
                    old=list(range(len(MODELS))),
                    new=[m.label for m in MODELS],
                    return_dtype=pl.String,
                )
            )
            untied = int(billed.join(charge_lines, on=["hour", "label"], how="anti")["rows"].sum())
        values = {
            "successful_requests": _int(counts["successful_requests"]),
            "failed_requests": _int(counts["failed_requests"]),
            "retried_requests": _int(counts["retried_requests"]),
            "duplicate_client_requests": self.duplicate_requests()["request_seq"].n_unique(),
            "scheduled_jobs_in_window": len(job_tokens) + job_changes,
            "request_ids_only_in_gateway_log": self.counts["request_ids_only_in_gateway_log"],
            "request_ids_only_in_app_log": self.counts["request_ids_only_in_app_log"],
            "streams_logged_only_at_start": self.counts["streams_logged_only_at_start"],
            "requests_crossing_window_boundary": self.counts["requests_crossing_window_boundary"],
            "billed_records_without_charge_line": untied,
        }
        return {name: values[name] for name in USAGE_VALIDATION_CHECKS}

    def job_token_names(self) -> list[str]:
        return sorted(TOKEN_NAMES[t] for t in self.billing_tokens - self.app_tokens)

    # ---- contract ---------------------------------------------------------------------

    def contract_disagreements(self) -> list[list[str]]:
        """[item_kind, item] of what the demo writes that its contract snapshot does not say."""
        document: Any = contract_document()
        endpoints: list[dict[str, Any]] = document["endpoints"]
        documented_auth: dict[str, set[str]] = {}
        documented_fields: set[tuple[str, str]] = set()
        documented_usage: set[tuple[str, str]] = set()
        patterns: list[re.Pattern[str]] = []
        for endpoint in endpoints:
            fmt = endpoint["api_format"]
            headers = [document["auth_header"], *endpoint.get("auth_header_alternatives", [])]
            documented_auth.setdefault(fmt, set()).update(h.lower() for h in headers)
            documented_fields |= {(fmt, f.split(".")[0]) for f in endpoint["request_fields"]}
            documented_usage |= {(fmt, f) for f in endpoint["response_usage_fields"]}
            path = re.sub(r"\{[^}]+\}", "[^/:]+", endpoint["path"]).replace(".", r"\.")
            patterns.append(re.compile(f"^{path}$"))
        envelope = sorted({"error", *(f"error.{k}" for k in document["error_shape"]["error"])})

        found: set[tuple[str, str]] = set()
        shapes = pl.concat(self.shapes) if self.shapes else pl.DataFrame()
        lines = app_lines(shapes, self.world)["line"].to_list() if shapes.height else []
        for line in lines:  # one per distinct line shape, not per attempt
            attempt = json.loads(line)
            fmt = attempt["api_format"]
            endpoint = attempt["endpoint"]
            path = endpoint.split("?")[0]  # a query string is not part of the path
            if not any(p.search(path) for p in patterns):
                found.add(("endpoint_path", path))
            for header in (h.lower() for h in attempt["request_headers"]):
                if header in AUTH_HEADER_NAMES and header not in documented_auth.get(fmt, set()):
                    found.add(("auth_header", f"{fmt}: {header}"))
            for name in attempt["request_body"]:
                if (fmt, name) not in documented_fields:
                    found.add(("request_field", f"{fmt}: {name}"))
            usage = attempt["usage"]
            if isinstance(usage, dict):
                root = USAGE_ROOT.get(fmt, "usage")
                for key, value in usage.items():
                    paths = (
                        [f"{root}.{key}.{sub}" for sub in value]
                        if isinstance(value, dict)
                        else [f"{root}.{key}"]
                    )
                    found |= {
                        ("response_usage_field", f"{fmt}: {p}")
                        for p in paths
                        if (fmt, p) not in documented_usage
                    }
            status, error = attempt["http_status"], attempt["error"]
            if status is not None and status >= 400 and isinstance(error, dict):
                inner = error.get("error")
                shape = sorted(
                    [*error, *(f"error.{k}" for k in inner)]
                    if isinstance(inner, dict)
                    else list(error)
                )
                if shape != envelope:
                    found.add(("error_envelope", "error body of HTTP error responses"))

        retryable = set(document["retryable_statuses"])
        not_retryable = set(document["non_retryable_statuses"])
        if self.error_statuses:
            statuses = (
                pl.concat(self.error_statuses)
                .group_by("status")
                .agg(pl.col("attempts", "retried").sum())
            )
            found |= {
                ("retry_policy", f"HTTP {status}")
                for status, retried in statuses.select("status", "retried").iter_rows()
                if (status in not_retryable and retried > 0)
                or (status in retryable and retried == 0)
            }
        if not set(API_FORMATS) >= set(documented_auth):
            raise RuntimeError("contract documents an API format the demo does not know")
        return [list(pair) for pair in sorted(found)]


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer count, got {value!r}")
    return value


def _material(amounts: dict[str, Decimal], cause: str) -> bool:
    return abs(amounts.get(cause, Decimal(0))) >= MATERIAL_USD


def onsets(
    world: World, acc: ChecklistAccumulator, amounts: dict[str, Decimal]
) -> dict[str, dict[str, str | None]]:
    """When each material capture-gap cause with a known start began, and its trigger."""
    found: dict[str, dict[str, str | None]] = {}
    if _material(amounts, "retry_amplification"):
        found["retry_amplification"] = {
            "true_onset_utc": iso_ms(world.change_at_ms),
            "trigger_changed_setting": "llm_client.timeout_seconds",
            "trigger_deploy_id": world.timeout_deploy_id,
        }
    if _material(amounts, "untracked_job") and acc.job_first_sent_ms is not None:
        found["untracked_job"] = {
            "true_onset_utc": iso_ms(acc.job_first_sent_ms),
            "trigger_changed_setting": None,
            "trigger_deploy_id": None,
        }
    return found


def remediation(
    amounts: dict[str, Decimal], found_onsets: dict[str, dict[str, str | None]]
) -> list[str]:
    """The remediation items (fct_remediation_plan's rules) the material causes call for."""
    material = {cause for cause in amounts if _material(amounts, cause)}
    classes = {CAUSE_CLASS[cause] for cause in material}
    calls = {
        "replace_stale_rate_source": bool(material & {"stale_rate", "alias_mismatch"}),
        "add_parser_regression_test": "field_interpretation_gap" in classes,
        "add_deployment_guard": any(
            onset["trigger_changed_setting"] is not None for onset in found_onsets.values()
        ),
        "add_retry_budget": "retry_amplification" in material,
        "add_reporting_alert": bool(found_onsets),
        "prepare_support_packet": bool(classes & set(PROVIDER_CLASSES)),
    }
    return sorted(item for item in REMEDIATION_ITEMS if calls[item])


def checklist_truth(
    world: World,
    acc: ChecklistAccumulator,
    counts: dict[str, object],
    attribution: list[dict[str, object]],
    focus: list[FocusRow],
    replay_pairs: pl.DataFrame,
) -> dict[str, object]:
    """The ground-truth keys for the checklist tables."""
    usage_validation = acc.usage_validation(counts, focus)
    flagged = acc.duplicate_requests()["request_seq"].unique().sort().to_list()
    placed = replay_pairs["request_seq"].sort().to_list()
    # one templated prompt makes every request of the skewed world a repeat of another
    if flagged != placed and not world.skewed_keys:
        raise RuntimeError(
            f"duplicate requests {flagged} are not the queue replays placed {placed}"
        )
    amounts = {str(a["cause"]): Decimal(str(a["amount_usd"])) for a in attribution}
    found_onsets = onsets(world, acc, amounts)
    return {
        "usage_validation": usage_validation,
        "contract_disagreements": acc.contract_disagreements(),
        "onsets": found_onsets,
        "remediation": remediation(amounts, found_onsets),
    }
