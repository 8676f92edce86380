"""Small random incident worlds for the attribution waterfall, and their ground truth.

A world is one incident on its own UTC day, with its own labels (`w{k}-…`), tenants and
ledger file: traffic on one to three token-priced labels (and optionally one priced per
request), retries whose timed-out first attempt the gateway still billed, requests the
gateway billed under a dated alias, a usage ledger written with one convention per column
(docs/attribution.md) in a zone that is declared or not, and a FOCUS bill that adds up the
gateway's quota per hour, with optional credits and adjustments.

`write_worlds` writes several worlds into one landing folder (docs/landing-formats.md) and
returns, per incident, the amount of every cause docs/attribution.md says the waterfall must
find. The amounts are computed here, in `Decimal`, from the world itself: never from the
warehouse, never with floats. `world_truth` asserts that they close: forecast + Σ causes =
billed exactly, and that the causes of our own evidence add up to the recomputed charge.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

QUOTA_PER_USD = Decimal(500_000)
PER_MILLION = Decimal(1_000_000)
ZERO = Decimal(0)
ONE = Decimal(1)
FIRST_DAY = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW_START_HOUR, WINDOW_END_HOUR = 10, 14
BUFFER_MINUTES = 60
CATALOG_CAPTURED_AT = "2026-01-01T00:00:00Z"
SHEET_EFFECTIVE_FROM = "2026-01-01"
ALIAS_SUFFIX = "-2024-08-06"

TIMEZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York")
BUCKET_MINUTES = (15, 30, 60)
# per ledger column, its candidate conventions; the first is the default (docs/attribution.md)
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "input_tokens": (
        "excludes_cache",
        "includes_cache_reads",
        "includes_cache_writes",
        "includes_cache_reads_and_writes",
    ),
    "cached_tokens": ("reads", "reads_and_writes", "absent"),
    "output_tokens": ("reasoning_once", "reasoning_twice", "reasoning_omitted"),
    "request_count": ("logical_requests", "attempts"),
}
# the ledger column each billable dimension is read from, and the sheet prices it by
LEDGER_DIMENSIONS = {
    "input_tokens": "input",
    "cached_tokens": "input_cache_read",
    "output_tokens": "output",
    "request_count": "request",
}
ENDPOINTS = {
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
    "anthropic_messages": "/v1/messages",
    "gemini": "/v1beta/models/{model}:generateContent",
}
FOCUS_HEADER = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "BillingCurrency",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ServiceName",
    "SkuId",
    "PricingQuantity",
    "PricingUnit",
    "InvoiceId",
    "BillingAccountId",
)


def d(text: str | int) -> Decimal:
    return Decimal(text)


# ---------------------------------------------------------------- models and their prices


@dataclass(frozen=True)
class Ratios:
    """A gateway label's ratios; its list price follows (USD per 1M input = 2·model)."""

    model: Decimal
    completion: Decimal
    cache: Decimal
    cache_creation: Decimal = ZERO  # 0: the label has no cache-write price

    def usd_per_token(self) -> dict[str, Decimal]:
        unit = 2 * self.model / PER_MILLION
        rates = {
            "input": unit,
            "input_cache_read": unit * self.cache,
            "output": unit * self.completion,
        }
        if self.cache_creation:
            rates["input_cache_write"] = unit * self.cache_creation
        return rates


@dataclass(frozen=True)
class Family:
    """A model as the app knows it: its wire format, ratios and what its usage holds."""

    api_format: str
    ratios: Ratios
    reasons: bool  # output includes reasoning / thinking tokens


FAMILIES: dict[str, Family] = {
    "gpt-4o": Family("openai_chat", Ratios(d("1.25"), d(4), d("0.5")), reasons=False),
    "o4-mini": Family("openai_chat", Ratios(d("0.55"), d(4), d("0.25")), reasons=True),
    "gpt-5.1": Family("openai_responses", Ratios(d("0.625"), d(8), d("0.1")), reasons=True),
    "gpt-4.1": Family("openai_responses", Ratios(d(1), d(4), d("0.25")), reasons=False),
    "claude-sonnet-4-5": Family(
        "anthropic_messages", Ratios(d("1.5"), d(5), d("0.1"), d("1.25")), reasons=False
    ),
    "claude-haiku-4-5": Family(
        "anthropic_messages", Ratios(d("0.5"), d(5), d("0.1"), d("1.25")), reasons=False
    ),
    "gemini-2.5-flash": Family("gemini", Ratios(d("0.15"), d(8), d("0.25")), reasons=True),
    "gemini-2.5-pro": Family("gemini", Ratios(d("0.625"), d(8), d("0.25")), reasons=True),
}
PER_REQUEST_FAMILY = "imagine-fast"
PER_REQUEST_PRICE = d("0.04")  # USD per call: quota = 0.04·500000·group_ratio, an integer


@dataclass(frozen=True)
class Usage:
    """Canonical quantities of one attempt: input outside any cache, cache reads and
    writes, output (reasoning included) and the reasoning part of the output."""

    base: int
    cache_read: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.base + other.base,
            self.cache_read + other.cache_read,
            self.cache_write + other.cache_write,
            self.output + other.output,
            self.reasoning + other.reasoning,
        )


@dataclass(frozen=True)
class Model:
    """A label the gateway bills: by its ratios, or per request at `price_per_request`."""

    name: str
    api_format: str
    ratios: Ratios | None
    price_per_request: Decimal | None = None
    in_catalog: bool = True

    @property
    def list_rates(self) -> dict[str, Decimal]:
        """USD per token (per call for `request`) at list price, group ratio left out."""
        if self.ratios is None:
            assert self.price_per_request is not None
            return {"request": self.price_per_request}
        return self.ratios.usd_per_token()

    def billable(self, usage: Usage) -> dict[str, int]:
        """A call's billable quantities: its tokens, or one request when priced per call."""
        if self.ratios is None:
            return {"request": 1}
        return {
            "input": usage.base,
            "input_cache_read": usage.cache_read,
            "input_cache_write": usage.cache_write,
            "output": usage.output,
        }

    def list_cost(self, usage: Usage) -> Decimal:
        rates = self.list_rates
        return _sum(q * rates.get(dim, ZERO) for dim, q in self.billable(usage).items())

    def exact_quota(self, usage: Usage, group_ratio: Decimal) -> Decimal:
        """new-api's unrounded quota: (input + reads·cache + writes·creation + output·completion)
        · model_ratio · group_ratio, or model_price · 500000 · group_ratio."""
        if self.ratios is None:
            assert self.price_per_request is not None
            return self.price_per_request * QUOTA_PER_USD * group_ratio
        r = self.ratios
        weighted = (
            usage.base
            + usage.cache_read * r.cache
            + usage.cache_write * r.cache_creation
            + usage.output * r.completion
        )
        return weighted * r.model * group_ratio


@dataclass(frozen=True)
class Label:
    """A label the app requests: its model, the internal rate sheet's rates for it (USD per
    unit, only the dimensions the sheet prices) and the dated label the gateway bills some
    of its requests as."""

    model: Model
    sheet: tuple[tuple[str, Decimal], ...]
    billed_as: Model | None = None
    reasons: bool = False  # its output holds reasoning / thinking tokens

    @property
    def name(self) -> str:
        return self.model.name

    def sheet_rate(self, dimension: str) -> Decimal | None:
        return dict(self.sheet).get(dimension)

    def verified_rate(self, dimension: str) -> Decimal:
        """The catalog's rate; where the catalog has none, the sheet's; else 0."""
        catalog = self.model.list_rates if self.model.in_catalog else {}
        if dimension in catalog:
            return catalog[dimension]
        sheet = self.sheet_rate(dimension)
        return ZERO if sheet is None else sheet


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class LabelParams:
    family: str
    # sheet rate = verified rate × factor, for input, cache read and output (1 = up to date)
    sheet_factors: tuple[Decimal, Decimal, Decimal] = (ONE, ONE, ONE)
    sheet_prices_cache_reads: bool = True


@dataclass(frozen=True)
class Convention:
    input_tokens: str = "excludes_cache"
    cached_tokens: str = "reads"
    output_tokens: str = "reasoning_once"
    request_count: str = "logical_requests"

    def as_dict(self) -> dict[str, str]:
        return {
            "input_tokens": self.input_tokens,
            "cached_tokens": self.cached_tokens,
            "output_tokens": self.output_tokens,
            "request_count": self.request_count,
        }


@dataclass(frozen=True)
class WorldParams:
    """Everything a world is drawn from; `seed` draws the traffic itself."""

    labels: tuple[LabelParams, ...]
    convention: Convention = Convention()
    convention_declared: bool = False
    timezone: str = "UTC"
    timezone_declared: bool = True
    bucket_minutes: int = 60
    requests: int = 60
    retries: int = 0
    group_ratio: Decimal = ONE
    one_tenant: bool = False
    one_label: bool = False
    alias: str = "none"  # "none", "listed" (the catalog lists the dated label), "unlisted"
    per_request_sheet_factor: Decimal | None = None  # None: no label priced per request
    credit: Decimal = ZERO  # USD, > 0: a FOCUS Credit line of −credit
    credit_refunded: bool = False  # the gateway logs matching type-6 refunds
    adjustment: Decimal = ZERO  # USD, > 0: a FOCUS Adjustment line nobody explains
    sent_before_window: int = 0  # requests sent before the window, billed in it
    billed_after_window: int = 0  # requests sent in the window, billed after it
    seed: int = 0

    def __post_init__(self) -> None:
        offset = utc_offset_minutes(self.timezone, FIRST_DAY)
        if not self.timezone_declared and offset % self.bucket_minutes:
            raise ValueError(
                f"an undeclared {self.timezone} ({offset} min) cannot be found in steps of"
                f" {self.bucket_minutes} minutes"
            )
        for column, value in self.convention.as_dict().items():
            if value not in CONVENTIONS[column]:
                raise ValueError(f"{column}: unknown convention {value}")


# ---------------------------------------------------------------- the world


@dataclass(frozen=True)
class Attempt:
    number: int
    cometapi_request_id: str
    sent_at: datetime
    billed_at: datetime  # the gateway's created_at
    usage: Usage  # what the gateway billed (and, when not timed out, what the app got)
    billed_as: Model
    timed_out: bool  # the app saw no response: no usage, status null or 504


@dataclass(frozen=True)
class Request:
    request_id: str
    label: Label
    tenant: str
    attempts: tuple[Attempt, ...]  # the last one succeeded

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]


@dataclass(frozen=True)
class World:
    index: int
    params: WorldParams
    labels: tuple[Label, ...]
    requests: tuple[Request, ...]

    @property
    def prefix(self) -> str:
        return f"w{self.index}-"

    @property
    def day(self) -> datetime:
        return FIRST_DAY + timedelta(days=self.index)

    @property
    def window(self) -> tuple[datetime, datetime]:
        return (
            self.day.replace(hour=WINDOW_START_HOUR),
            self.day.replace(hour=WINDOW_END_HOUR),
        )

    @property
    def incident_id(self) -> str:
        return f"INC-WORLD-{self.index:02d}"

    @property
    def ledger_source(self) -> str:
        return f"worlds.ledger_w{self.index}"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.params.timezone)

    @property
    def attempts(self) -> Iterator[tuple[Request, Attempt]]:
        for request in self.requests:
            for attempt in request.attempts:
                yield request, attempt

    @property
    def models(self) -> list[Model]:
        """Every label the gateway bills in this world."""
        seen: dict[str, Model] = {}
        for label in self.labels:
            seen[label.name] = label.model
            if label.billed_as is not None:
                seen[label.billed_as.name] = label.billed_as
        return list(seen.values())

    def in_window(self, instant: datetime) -> bool:
        start, end = self.window
        return start <= instant < end


def utc_offset_minutes(timezone: str, instant: datetime) -> int:
    offset = instant.astimezone(ZoneInfo(timezone)).utcoffset()
    assert offset is not None
    return int(offset.total_seconds()) // 60


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, ZERO)


def _make_labels(index: int, params: WorldParams) -> tuple[Label, ...]:
    prefix = f"w{index}-"
    labels = []
    for position, label_params in enumerate(params.labels):
        family = FAMILIES[label_params.family]
        model = Model(prefix + label_params.family, family.api_format, family.ratios)
        verified = model.list_rates
        f_input, f_cache, f_output = label_params.sheet_factors
        sheet = [("input", verified["input"] * f_input), ("output", verified["output"] * f_output)]
        if label_params.sheet_prices_cache_reads:
            sheet.append(("input_cache_read", verified["input_cache_read"] * f_cache))
        if "input_cache_write" in verified:  # priced by the sheet, never by the ledger
            sheet.append(("input_cache_write", verified["input_cache_write"]))
        alias = None
        if position == 0 and params.alias != "none":
            r = family.ratios
            alias = Model(
                model.name + ALIAS_SUFFIX,
                family.api_format,
                Ratios(r.model * 2, r.completion * d("0.75"), r.cache, r.cache_creation),
                in_catalog=params.alias == "listed",
            )
        labels.append(Label(model, tuple(sheet), alias, family.reasons))
    if params.per_request_sheet_factor is not None:
        model = Model(
            prefix + PER_REQUEST_FAMILY, "openai_chat", None, price_per_request=PER_REQUEST_PRICE
        )
        sheet_rate = PER_REQUEST_PRICE * params.per_request_sheet_factor
        labels.append(Label(model, (("request", sheet_rate),), reasons=True))
    return tuple(labels)


def _draw_usage(rng: random.Random, label: Label) -> Usage:
    base = 300 + int(rng.lognormvariate(math.log(6_000), 0.9))
    cache_read = rng.randint(1_000, 40_000) if rng.random() < 0.6 else 0
    writes = "input_cache_write" in label.model.list_rates
    cache_write = rng.randint(500, 15_000) if writes and rng.random() < 0.5 else 0
    output = rng.randint(100, 4_000)
    reasoning = rng.randint(0, output) if label.reasons and rng.random() < 0.7 else 0
    return Usage(base, cache_read, cache_write, output, reasoning)


def _traffic_buckets(index: int, params: WorldParams) -> list[tuple[datetime, datetime]]:
    """The ledger buckets (in UTC) whose true start lies in the window, each clipped to it:
    traffic sent there is in the window exactly when its bucket is."""
    day = FIRST_DAY + timedelta(days=index)
    start, end = day.replace(hour=WINDOW_START_HOUR), day.replace(hour=WINDOW_END_HOUR)
    step = timedelta(minutes=params.bucket_minutes)
    offset = timedelta(minutes=utc_offset_minutes(params.timezone, start))
    # local bucket starts are multiples of the bucket size on the local clock
    first_local = (start + offset).replace(minute=0)
    bucket = first_local - offset
    buckets = []
    while bucket < end:
        if bucket >= start:
            buckets.append((bucket, min(bucket + step, end)))
        bucket += step
    return buckets


def build_world(index: int, params: WorldParams) -> World:
    """Draw a world's traffic from its parameters (deterministic in `params.seed`)."""
    rng = random.Random(params.seed * 1000 + index)
    labels = _make_labels(index, params)
    prefix = f"w{index}-"
    tenants = [prefix + name for name in ("acme", "globex", "initech")]
    if params.one_tenant:
        tenants = tenants[:1]
    buckets = _traffic_buckets(index, params)
    weights = [rng.uniform(0.1, 3.0) for _ in buckets]
    alias_share = rng.uniform(0.3, 1.0)
    retried = set(rng.sample(range(params.requests), min(params.retries, params.requests)))
    day = FIRST_DAY + timedelta(days=index)
    start, end = day.replace(hour=WINDOW_START_HOUR), day.replace(hour=WINDOW_END_HOUR)
    send_times: list[tuple[datetime, timedelta | None]] = []
    for _ in range(params.requests):
        bucket_start, bucket_end = rng.choices(buckets, weights)[0]
        room = int((bucket_end - bucket_start).total_seconds()) - 240
        send_times.append((bucket_start + timedelta(seconds=rng.randint(0, room)), None))
    for _ in range(params.sent_before_window):
        send_times.append(
            (
                start - timedelta(seconds=rng.randint(20, 90)),
                timedelta(seconds=rng.randint(95, 180)),
            )
        )
    for _ in range(params.billed_after_window):
        send_times.append(
            (end - timedelta(seconds=rng.randint(20, 90)), timedelta(seconds=rng.randint(95, 180)))
        )
    requests = []
    for number, (sent_at, duration) in enumerate(send_times):
        label = labels[0] if params.one_label else rng.choice(labels)
        billed_as = label.model
        if label.billed_as is not None and rng.random() < alias_share:
            billed_as = label.billed_as
        rid = f"{prefix}req-{number:04d}"
        attempts = []
        if number in retried and duration is None:
            timeout = rng.randint(20, 60)
            attempts.append(
                Attempt(
                    1,
                    f"{prefix}cid-{number:04d}-1",
                    sent_at,
                    sent_at + timedelta(seconds=timeout + rng.randint(1, 30)),
                    _draw_usage(rng, label),
                    billed_as,
                    timed_out=True,
                )
            )
            sent_at += timedelta(seconds=timeout + 1)
        took = duration or timedelta(seconds=rng.randint(2, 40))
        attempts.append(
            Attempt(
                len(attempts) + 1,
                f"{prefix}cid-{number:04d}-{len(attempts) + 1}",
                sent_at,
                sent_at + took,
                _draw_usage(rng, label),
                billed_as,
                timed_out=False,
            )
        )
        requests.append(Request(rid, label, rng.choice(tenants), tuple(attempts)))
    return World(index, params, labels, tuple(requests))


# ---------------------------------------------------------------- the ledger


@dataclass
class Bucket:
    """One ledger row: a bucket × tenant × requested label, with the canonical quantities
    of the attempts it should hold (final successful attempts, N) and every attempt (A)."""

    local_start: datetime  # naive clock time in the ledger's zone
    utc_start: datetime
    tenant: str
    label: Label
    totals: Usage = field(default_factory=lambda: Usage(0))
    requests: int = 0  # N
    attempts: int = 0  # A

    @property
    def as_read(self) -> datetime:
        """The bucket as a spreadsheet reads it: the clock time taken as UTC."""
        return self.local_start.replace(tzinfo=UTC)

    def ledger_columns(self, convention: Convention) -> dict[str, int]:
        """The row's quantity columns as the ledger's parser wrote them."""
        t = self.totals
        reads = convention.input_tokens in (
            "includes_cache_reads",
            "includes_cache_reads_and_writes",
        )
        writes = convention.input_tokens in (
            "includes_cache_writes",
            "includes_cache_reads_and_writes",
        )
        cached = {"reads": t.cache_read, "reads_and_writes": t.cache_read + t.cache_write}
        twice = {"reasoning_once": 0, "reasoning_twice": 1, "reasoning_omitted": -1}
        return {
            "input_tokens": t.base + reads * t.cache_read + writes * t.cache_write,
            "cached_tokens": cached.get(convention.cached_tokens, 0),
            "output_tokens": t.output + twice[convention.output_tokens] * t.reasoning,
            "request_count": self.requests
            if convention.request_count == "logical_requests"
            else self.attempts,
        }

    def at_sheet_rates(self, convention: Convention) -> Decimal:
        columns = self.ledger_columns(convention)
        return _sum(
            q * (self.label.sheet_rate(LEDGER_DIMENSIONS[column]) or ZERO)
            for column, q in columns.items()
        )


def _local_bucket_start(instant: datetime, zone: ZoneInfo, minutes: int) -> datetime:
    local = instant.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    return local.replace(minute=local.minute - local.minute % minutes)


def ledger_buckets(world: World) -> list[Bucket]:
    minutes = world.params.bucket_minutes
    buckets: dict[tuple[datetime, str, str], Bucket] = {}

    def bucket_of(request: Request, attempt: Attempt) -> Bucket:
        local = _local_bucket_start(attempt.sent_at, world.zone, minutes)
        key = (local, request.tenant, request.label.name)
        if key not in buckets:
            utc = local.replace(tzinfo=world.zone).astimezone(UTC)
            buckets[key] = Bucket(local, utc, request.tenant, request.label)
        return buckets[key]

    for request, attempt in world.attempts:
        bucket_of(request, attempt).attempts += 1
    for request in world.requests:
        bucket = bucket_of(request, request.final)
        bucket.requests += 1
        bucket.totals += request.final.usage
    return sorted(buckets.values(), key=lambda b: (b.local_start, b.tenant, b.label.name))


def convention_amounts(bucket: Bucket, convention: Convention) -> dict[str, Decimal]:
    """docs/attribution.md step 4, one aligned bucket, at its label's verified rates."""
    label, t = bucket.label, bucket.totals
    rate_in, rate_cr = label.verified_rate("input"), label.verified_rate("input_cache_read")
    rate_cw, rate_out = label.verified_rate("input_cache_write"), label.verified_rate("output")
    a = convention.input_tokens in ("includes_cache_reads", "includes_cache_reads_and_writes")
    b = convention.input_tokens in ("includes_cache_writes", "includes_cache_reads_and_writes")
    c_r = convention.cached_tokens in ("reads", "reads_and_writes")
    c_w = convention.cached_tokens == "reads_and_writes"
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    if a:
        amounts["cached_tokens_priced_as_input"] += t.cache_read * (
            rate_cr - rate_in - c_r * rate_cr
        )
    elif not c_r:
        amounts["cache_reads_omitted"] += t.cache_read * rate_cr
    if b:
        amounts["cache_writes_priced_as_input"] += t.cache_write * (
            rate_cw - rate_in - c_w * rate_cr
        )
    elif c_w:
        amounts["cache_writes_priced_as_cache_reads"] += t.cache_write * (rate_cw - rate_cr)
    else:
        amounts["cache_writes_omitted"] += t.cache_write * rate_cw
    if convention.output_tokens == "reasoning_twice":
        amounts["reasoning_tokens_double_counted"] -= t.reasoning * rate_out
    elif convention.output_tokens == "reasoning_omitted":
        amounts["reasoning_tokens_omitted"] += t.reasoning * rate_out
    if convention.request_count == "attempts":
        amounts["attempts_counted_as_requests"] += (bucket.requests - bucket.attempts) * (
            label.verified_rate("request")
        )
    return amounts


# ---------------------------------------------------------------- the gateway and the bill


@dataclass(frozen=True)
class GatewayCharge:
    request: Request
    attempt: Attempt
    exact_quota: Decimal
    quota: int


def gateway_charges(world: World) -> list[GatewayCharge]:
    charges = []
    for request, attempt in world.attempts:
        exact = attempt.billed_as.exact_quota(attempt.usage, world.params.group_ratio)
        quota = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert quota >= 1, f"{attempt.cometapi_request_id}: below the 1-quota minimum"
        charges.append(GatewayCharge(request, attempt, exact, quota))
    return charges


@dataclass(frozen=True)
class FocusLine:
    billed_cost: Decimal
    period_start: datetime
    category: str  # Usage, Credit, Adjustment
    sku: str


def focus_lines(world: World) -> list[FocusLine]:
    """One Usage line per hour × billed label (the hour's quota / 500000, exact), then the
    credit and the adjustment, both inside the window."""
    hourly: dict[tuple[datetime, str], int] = defaultdict(int)
    for charge in gateway_charges(world):
        hour = charge.attempt.billed_at.replace(minute=0, second=0, microsecond=0)
        hourly[(hour, charge.attempt.billed_as.name)] += charge.quota
    lines = [
        FocusLine(Decimal(quota) / QUOTA_PER_USD, hour, "Usage", label)
        for (hour, label), quota in sorted(hourly.items())
    ]
    noon = world.day.replace(hour=12)
    if world.params.credit:
        lines.append(FocusLine(-world.params.credit, noon, "Credit", ""))
    if world.params.adjustment:
        lines.append(FocusLine(world.params.adjustment, noon, "Adjustment", ""))
    return lines


# ---------------------------------------------------------------- the ground truth


CONVENTION_CAUSES = (
    "cached_tokens_priced_as_input",
    "cache_reads_omitted",
    "cache_writes_priced_as_input",
    "cache_writes_priced_as_cache_reads",
    "cache_writes_omitted",
    "reasoning_tokens_double_counted",
    "reasoning_tokens_omitted",
    "attempts_counted_as_requests",
)


@dataclass(frozen=True)
class Truth:
    forecast: Decimal
    billed: Decimal
    recomputed: Decimal
    causes: dict[str, Decimal]  # only the non-zero ones
    confidence: dict[str, str]  # the label docs/attribution.md gives some of them


def expected_confidence(params: WorldParams, causes: Iterable[str]) -> dict[str, str]:
    """The labels docs/attribution.md states outright: declared is `verified`, read from
    the evidence is `inferred`; a credit is `verified` when the gateway's refunds match it;
    an alias priced from the gateway's ratios (the catalog lacks it) is `inferred`."""
    declared = {True: "verified", False: "inferred"}
    rules = {
        "timezone_shift": declared[params.timezone_declared],
        "credit_or_refund": declared[params.credit_refunded],
        "alias_mismatch": declared[params.alias != "unlisted"],
    } | {cause: declared[params.convention_declared] for cause in CONVENTION_CAUSES}
    return {cause: rules[cause] for cause in causes if cause in rules}


def world_truth(world: World) -> Truth:
    """Every step of docs/attribution.md computed from the world, asserted to close."""
    convention = world.params.convention
    causes: dict[str, Decimal] = defaultdict(Decimal)
    buckets = ledger_buckets(world)

    # 1-2: the ledger as read, then aligned to true UTC, at sheet rates
    forecast = _sum(b.at_sheet_rates(convention) for b in buckets if world.in_window(b.as_read))
    aligned = [b for b in buckets if world.in_window(b.utc_start)]
    causes["timezone_shift"] = _sum(b.at_sheet_rates(convention) for b in aligned) - forecast

    # 3-4: verified against sheet rates, then the ledger's semantics, per aligned bucket
    for bucket in aligned:
        for column, quantity in bucket.ledger_columns(convention).items():
            dimension = LEDGER_DIMENSIONS[column]
            sheet, verified = (
                bucket.label.sheet_rate(dimension),
                bucket.label.verified_rate(dimension),
            )
            if sheet is None:
                causes["rate_missing_from_sheet"] += quantity * verified
            else:
                causes["stale_rate"] += quantity * (verified - sheet)
        for cause, amount in convention_amounts(bucket, convention).items():
            causes[cause] += amount

    # 3: alias re-pricing of the ledgered attempts sent in the window
    for request in world.requests:
        final = request.final
        if world.in_window(final.sent_at) and final.billed_as is not request.label.model:
            at_requested = _sum(
                q * request.label.verified_rate(dim)
                for dim, q in request.label.model.billable(final.usage).items()
            )
            causes["alias_mismatch"] += final.billed_as.list_cost(final.usage) - at_requested

    # 5: billed attempts the ledger omits, then the window's edges, at the billed label's rates
    for request, attempt in world.attempts:
        cost = attempt.billed_as.list_cost(attempt.usage)
        sent_in, billed_in = world.in_window(attempt.sent_at), world.in_window(attempt.billed_at)
        if attempt is not request.final and sent_in:
            causes["retry_amplification"] += cost
        if billed_in and not sent_in:
            causes["window_boundary"] += cost
        if sent_in and not billed_in:
            causes["window_boundary"] -= cost
    recomputed = _sum(
        a.billed_as.list_cost(a.usage) for _, a in world.attempts if world.in_window(a.billed_at)
    )
    own_evidence = forecast + _sum(causes.values())
    assert own_evidence == recomputed, f"{world.incident_id}: {own_evidence} != {recomputed}"

    # 6: the provider's side
    in_window = [c for c in gateway_charges(world) if world.in_window(c.attempt.billed_at)]
    exact_usd = _sum(c.exact_quota for c in in_window) / QUOTA_PER_USD
    gateway_usd = Decimal(sum(c.quota for c in in_window)) / QUOTA_PER_USD
    causes["rounding"] = gateway_usd - exact_usd
    causes["account_discount"] = exact_usd - recomputed
    causes["credit_or_refund"] = -world.params.credit
    causes["unexplained_residual"] = world.params.adjustment

    billed = _sum(
        line.billed_cost for line in focus_lines(world) if world.in_window(line.period_start)
    )
    closing = forecast + _sum(causes.values())
    assert closing == billed, f"{world.incident_id}: forecast + causes {closing} != billed {billed}"
    non_zero = {cause: amount for cause, amount in causes.items() if amount != 0}
    return Truth(
        forecast, billed, recomputed, non_zero, expected_confidence(world.params, non_zero)
    )


# ---------------------------------------------------------------- writing the landing folder


def _text(value: Decimal) -> str:
    """A decimal as plain text, never in exponent notation."""
    text = format(value.normalize(), "f")
    return text


_DECIMAL_MARK = "\u0000decimal:"


def _json(value: Any) -> str:
    """JSON with `Decimal` values written as exact JSON numbers."""

    def mark(item: Any) -> Any:
        if isinstance(item, Decimal):
            return _DECIMAL_MARK + _text(item)
        if isinstance(item, dict):
            return {k: mark(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [mark(v) for v in item]
        return item

    text = json.dumps(mark(value), ensure_ascii=False)
    return re.sub(r'"\\u0000decimal:([-0-9.]+)"', r"\1", text)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _app_usage(api_format: str, usage: Usage) -> dict[str, Any]:
    """The provider's usage object for an attempt, in its own wire format."""
    b, r, w, o, z = usage.base, usage.cache_read, usage.cache_write, usage.output, usage.reasoning
    if api_format == "openai_chat":
        return {
            "prompt_tokens": b + r,
            "completion_tokens": o,
            "total_tokens": b + r + o,
            "prompt_tokens_details": {"cached_tokens": r},
            "completion_tokens_details": {"reasoning_tokens": z},
        }
    if api_format == "openai_responses":
        return {
            "input_tokens": b + r,
            "input_tokens_details": {"cached_tokens": r},
            "output_tokens": o,
            "output_tokens_details": {"reasoning_tokens": z},
            "total_tokens": b + r + o,
        }
    if api_format == "anthropic_messages":
        return {
            "input_tokens": b,
            "output_tokens": o,
            "cache_creation_input_tokens": w,
            "cache_read_input_tokens": r,
        }
    return {
        "promptTokenCount": b + r,
        "cachedContentTokenCount": r,
        "candidatesTokenCount": o - z,
        "thoughtsTokenCount": z,
        "totalTokenCount": b + r + o,
    }


def _app_record(request: Request, attempt: Attempt) -> dict[str, Any]:
    model = request.label.model
    timed_out = attempt.timed_out
    status = 504 if int(request.request_id[-1]) % 2 else None
    return {
        "request_id": request.request_id,
        "attempt": attempt.number,
        "sent_at": attempt.sent_at.isoformat(),
        "completed_at": (
            attempt.sent_at + timedelta(seconds=20) if timed_out else attempt.billed_at
        ).isoformat(),
        "endpoint": ENDPOINTS[model.api_format].format(model=model.name),
        "api_format": model.api_format,
        "model": model.name,
        "tenant": request.tenant,
        "http_status": status if timed_out else 200,
        "stream": False,
        "client_disconnected": False,
        "cometapi_request_id": attempt.cometapi_request_id,
        "usage": None if timed_out else _app_usage(model.api_format, attempt.usage),
        "error": (
            {
                "error": {
                    "message": "upstream timeout",
                    "type": "timeout",
                    "param": None,
                    "code": "504",
                }
            }
            if timed_out
            else None
        ),
        "request_headers": {"Content-Type": "application/json"},
        "request_body": {"model": model.name, "max_tokens": 4096},
    }


def _gateway_item(world: World, charge: GatewayCharge, item_id: int) -> dict[str, Any]:
    attempt, model = charge.attempt, charge.attempt.billed_as
    usage, g = attempt.usage, world.params.group_ratio
    anthropic = model.api_format == "anthropic_messages"
    other: dict[str, Any]
    if model.ratios is None:
        assert model.price_per_request is not None
        other = {"model_ratio": 0, "group_ratio": g, "completion_ratio": 0, "cache_tokens": 0}
        other |= {"cache_ratio": 0, "model_price": model.price_per_request}
        content = f"模型价格 {_text(model.price_per_request)}，分组倍率 {_text(g)}"
    else:
        r = model.ratios
        other = {
            "model_ratio": r.model,
            "group_ratio": g,
            "completion_ratio": r.completion,
            "cache_tokens": usage.cache_read,
            "cache_ratio": r.cache,
            "model_price": -1,
        }
        if anthropic:
            other |= {
                "cache_creation_tokens": usage.cache_write,
                "cache_creation_ratio": r.cache_creation,
                "usage_semantic": "anthropic",
            }
        content = f"模型倍率 {_text(r.model)}，补全倍率 {_text(r.completion)}，分组倍率 {_text(g)}"
    other |= {
        "user_group_ratio": -1,
        "request_path": ENDPOINTS[model.api_format].format(model=model.name),
        "total_ms": int((attempt.billed_at - attempt.sent_at).total_seconds() * 1000),
    }
    prompt = usage.base if anthropic else usage.base + usage.cache_read + usage.cache_write
    return {
        "id": item_id % 1024,
        "user_id": 4242,
        "created_at": int(attempt.billed_at.timestamp()),
        "type": 2,
        "content": content,
        "username": "worlds@example.com",
        "token_name": f"{charge.request.tenant}-key",
        "model_name": model.name,
        "quota": charge.quota,
        "prompt_tokens": prompt,
        "completion_tokens": usage.output,
        "use_time": int((attempt.billed_at - attempt.sent_at).total_seconds()),
        "is_stream": False,
        "channel": 3,
        "group": "default",
        "ip": "203.0.113.7",
        "request_id": attempt.cometapi_request_id,
        "response_id": f"resp-{attempt.cometapi_request_id}",
        "other": _json(other),
    }


def _refund_item(world: World, item_id: int) -> dict[str, Any]:
    refunded_at = world.day.replace(hour=12, minute=20)
    return {
        "id": item_id % 1024,
        "user_id": 4242,
        "created_at": int(refunded_at.timestamp()),
        "type": 6,
        "content": f"退款 {_text(world.params.credit)} USD",
        "username": "worlds@example.com",
        "token_name": "",
        "model_name": "",
        "quota": int(world.params.credit * QUOTA_PER_USD),
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "use_time": 0,
        "is_stream": False,
        "channel": 0,
        "group": "default",
        "ip": "",
        "request_id": f"{world.prefix}refund-1",
        "other": "",
    }


def write_gateway_page(folder: Path, world: World) -> None:
    charges = sorted(gateway_charges(world), key=lambda c: c.attempt.billed_at)
    items = [_gateway_item(world, c, 100 * world.index + n) for n, c in enumerate(charges)]
    if world.params.credit and world.params.credit_refunded:
        items.append(_refund_item(world, 100 * world.index + len(items)))
    page = {
        "success": True,
        "message": "",
        "data": {"page": 1, "page_size": len(items), "total": len(items), "items": items},
    }
    (folder / f"log_self_w{world.index}.json").write_text(json.dumps(page, ensure_ascii=False))


def write_app_requests(folder: Path, world: World) -> None:
    lines = [json.dumps(_app_record(r, a)) for r, a in world.attempts]
    (folder / f"app_w{world.index}.jsonl").write_text("\n".join(lines) + "\n")


def write_ledger(folder: Path, world: World) -> None:
    params = world.params
    absent = params.convention.cached_tokens == "absent"
    columns = ["bucket_start", "bucket_minutes", "tenant", "model", "input_tokens"]
    columns += [] if absent else ["cached_tokens"]
    columns += ["output_tokens", "request_count", "ledger_source"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for bucket in ledger_buckets(world):
        quantities = bucket.ledger_columns(params.convention)
        if not any(quantities.values()):
            continue
        writer.writerow(
            {
                "bucket_start": bucket.local_start.strftime("%Y-%m-%d %H:%M:%S"),
                "bucket_minutes": params.bucket_minutes,
                "tenant": bucket.tenant,
                "model": bucket.label.name,
                "ledger_source": world.ledger_source,
                **quantities,
            }
        )
    stem = f"ledger_w{world.index}"
    (folder / f"{stem}.csv").write_text(buffer.getvalue())
    sidecar: dict[str, Any] = {}
    if params.timezone_declared:
        sidecar["timezone"] = params.timezone
    if params.convention_declared:
        sidecar["convention"] = params.convention.as_dict()
    if sidecar:
        (folder / f"{stem}.sidecar.json").write_text(json.dumps(sidecar))


def write_focus(folder: Path, world: World) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FOCUS_HEADER)
    for line in focus_lines(world):
        cost = _text(line.billed_cost)
        writer.writerow(
            [
                cost,
                cost,
                cost,
                "USD",
                _iso(line.period_start),
                _iso(line.period_start + timedelta(hours=1)),
                line.category,
                "",
                "CometAPI",
                line.sku,
                "1" if line.category == "Usage" else "",
                "Hour" if line.category == "Usage" else "",
                f"INV-W{world.index}",
                "acct-worlds",
            ]
        )
    (folder / f"focus_w{world.index}.csv").write_text(buffer.getvalue())


def write_incident(folder: Path, world: World) -> None:
    start, end = world.window
    (folder / f"incident_w{world.index}.yaml").write_text(
        f"incident_id: {world.incident_id}\n"
        f"start_utc: {_iso(start)}\n"
        f"end_utc: {_iso(end)}\n"
        f"finance_timezone: {world.params.timezone}\n"
        f"buffer_minutes: {BUFFER_MINUTES}\n"
        "owner: platform-oncall\n"
        "finance_reviewer: finops-lead\n"
        "tolerance_percent: 1.0\n"
        "tolerance_abs_usd: 0.01\n"
        "provider: CometAPI\n"
        f"notes: attribution world {world.index}\n"
    )


def _catalog_entry(model: Model) -> dict[str, Any]:
    per_million = {dim: rate * PER_MILLION for dim, rate in model.list_rates.items()}
    pricing: dict[str, Any] = {
        "currency": "USD / M Tokens",
        "input": per_million.get("input"),
        "output": per_million.get("output"),
        "per_request": model.price_per_request,
        "per_second": None,
    }
    if "input_cache_read" in per_million:
        pricing["cache_read"] = per_million["input_cache_read"]
    if "input_cache_write" in per_million:
        pricing["cache_write"] = per_million["input_cache_write"]
    return {"id": model.name, "pricing": pricing}


def write_pricing(folder: Path, worlds: list[World]) -> None:
    models = [m for world in worlds for m in world.models if m.in_catalog]
    (folder / "catalog_worlds.json").write_text(
        _json({"data": [_catalog_entry(m) for m in models]})
    )
    (folder / "catalog_worlds.capture.json").write_text(
        json.dumps(
            {
                "source_url": "https://api.cometapi.com/api/models",
                "captured_at": CATALOG_CAPTURED_AT,
                "captured_by": "attribution-worlds",
                "account_context": "acct-worlds",
            }
        )
    )
    rows = ["model,dimension,rate,unit_size,currency,effective_from,rate_source"]
    for world in worlds:
        for label in world.labels:
            for dimension, rate in label.sheet:
                unit = 1 if dimension == "request" else 1_000_000
                rows.append(
                    f"{label.name},{dimension},{_text(rate * unit)},{unit},USD,"
                    f"{SHEET_EFFECTIVE_FROM},finance sheet w{world.index}"
                )
    (folder / "rate_sheet_worlds.csv").write_text("\n".join(rows) + "\n")


def write_worlds(landing: Path, worlds: list[World]) -> dict[str, dict[str, Decimal]]:
    """Write the worlds into one landing folder; per incident, its expected causes."""
    indexes = [w.index for w in worlds]
    assert len(set(indexes)) == len(indexes), "each world needs its own index (day, labels)"
    folders = {
        name: landing / name
        for name in (
            "gateway_logs",
            "app_requests",
            "usage_ledger",
            "billing",
            "pricing",
            "incidents",
        )
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    write_pricing(folders["pricing"], worlds)
    expected = {}
    for world in worlds:
        write_gateway_page(folders["gateway_logs"], world)
        write_app_requests(folders["app_requests"], world)
        write_ledger(folders["usage_ledger"], world)
        write_focus(folders["billing"], world)
        write_incident(folders["incidents"], world)
        expected[world.incident_id] = world_truth(world).causes
    return expected


def describe(world: World) -> str:
    """The world's parameters, one line per group, for a failure message."""
    p = world.params
    labels = ", ".join(
        f"{lp.family}(sheet×{'/'.join(_text(f) for f in lp.sheet_factors)}"
        f"{'' if lp.sheet_prices_cache_reads else ', no cache_read row'})"
        for lp in p.labels
    )
    retries = sum(len(r.attempts) - 1 for r in world.requests)
    return (
        f"{world.incident_id} (w{world.index}, {_iso(world.window[0])}): labels {labels}"
        f"{', per-request sheet×' + _text(p.per_request_sheet_factor) if p.per_request_sheet_factor else ''}\n"
        f"  ledger: tz {p.timezone} {'declared' if p.timezone_declared else 'undeclared'},"
        f" {p.bucket_minutes} min, convention {p.convention.as_dict()}"
        f" {'declared' if p.convention_declared else 'undeclared'}\n"
        f"  traffic: {len(world.requests)} requests, {retries} retries, seed {p.seed},"
        f" one_tenant {p.one_tenant}, one_label {p.one_label}, alias {p.alias},"
        f" before/after window {p.sent_before_window}/{p.billed_after_window}\n"
        f"  bill: group_ratio {_text(p.group_ratio)}, credit {_text(p.credit)}"
        f" (refunded {p.credit_refunded}), adjustment {_text(p.adjustment)}"
    )
