"""The demo scenario: fixed catalog facts plus the parameters drawn from the seed.

Everything the generator needs to know before it writes a byte lives here: the
incident, the models and their gateway ratios, the tenants and tokens, the injected
causes and their seed-drawn sizes, and the traffic span and rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from ingest.usage_ledger import CONVENTIONS

QUOTA_PER_USD = 500_000
MS_PER_HOUR = 3_600_000

# Fixed-point scales for exact per-request quota arithmetic (see quota.py).
WEIGHT_SCALE = 10_000  # completion/cache/cache-creation ratios
MODEL_RATIO_SCALE = 10_000
GROUP_RATIO_SCALE = 100

# Default traffic: the checklist's example incident day.
DEFAULT_TRAFFIC_END = datetime(2026, 5, 11, 12, tzinfo=UTC)
DEFAULT_TRAFFIC_HOURS = 6
# Benchmarks: at most this many app attempts per hour file before the span grows.
MAX_ATTEMPTS_PER_HOUR = 100_000
# Mean attempts per logical request, used only to size the traffic for `attempts=N`.
MEAN_ATTEMPTS_PER_REQUEST = 1.02

# Relative traffic by UTC hour (European business day) and a weekend damping.
HOURLY_WEIGHT = (
    0.22,
    0.18,
    0.16,
    0.15,
    0.18,
    0.30,
    0.50,
    0.70,
    0.95,
    1.05,
    1.00,
    0.95,
    0.90,
    0.92,
    0.95,
    0.90,
    0.80,
    0.70,
    0.60,
    0.50,
    0.42,
    0.35,
    0.30,
    0.25,
)
WEEKEND_WEIGHT = 0.6


@dataclass(frozen=True)
class IncidentSpec:
    incident_id: str = "INC-2026-05-11-001"
    start: datetime = datetime(2026, 5, 11, 8, tzinfo=UTC)
    end: datetime = datetime(2026, 5, 11, 10, tzinfo=UTC)
    finance_timezone: str = "Europe/Berlin"
    buffer_minutes: int = 60
    owner: str = "platform-sre-oncall"
    finance_reviewer: str = "finops-reviewer"
    tolerance_percent: Decimal = Decimal("1.0")
    tolerance_abs_usd: Decimal = Decimal("5.00")
    provider: str = "CometAPI"

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp()) * 1000

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp()) * 1000


@dataclass(frozen=True)
class ModelSpec:
    """A model label, its gateway ratios (list prices follow from them) and its traffic shape."""

    label: str
    api_format: str
    endpoint: str
    stream_endpoint: str
    token_name: str
    model_ratio: Decimal
    completion_ratio: Decimal
    cache_ratio: Decimal
    cache_creation_ratio: Decimal  # 0 when the model has no cache-write price
    share: float
    base_median: float  # input tokens outside any cache
    base_sigma: float
    cache_prob: float
    cache_median: float
    write_prob: float
    write_median: float
    output_median: float
    output_sigma: float
    reasoning_prob: float  # share of requests whose output includes reasoning/thoughts
    reasoning_lo: float
    reasoning_hi: float
    tokens_per_second: float
    stream_prob: float
    channel: int

    @property
    def usage_semantic_anthropic(self) -> bool:
        return self.api_format == "anthropic_messages"

    # USD per 1M tokens at list price (group ratio 1): 1 quota = $0.002 / 1K tokens.
    @property
    def input_price(self) -> Decimal:
        return 2 * self.model_ratio

    @property
    def output_price(self) -> Decimal:
        return 2 * self.model_ratio * self.completion_ratio

    @property
    def cache_read_price(self) -> Decimal:
        return 2 * self.model_ratio * self.cache_ratio

    @property
    def cache_write_price(self) -> Decimal:
        return 2 * self.model_ratio * self.cache_creation_ratio


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        label="gpt-4o-mini",
        api_format="openai_chat",
        endpoint="/v1/chat/completions",
        stream_endpoint="/v1/chat/completions",
        token_name="prod-chat",
        model_ratio=Decimal("0.075"),
        completion_ratio=Decimal("4"),
        cache_ratio=Decimal("0.5"),
        cache_creation_ratio=Decimal("0"),
        share=0.36,
        base_median=900,
        base_sigma=0.8,
        cache_prob=0.35,
        cache_median=1536,
        write_prob=0.0,
        write_median=0,
        output_median=220,
        output_sigma=0.7,
        reasoning_prob=0.0,
        reasoning_lo=0.0,
        reasoning_hi=0.0,
        tokens_per_second=95,
        stream_prob=0.4,
        channel=7,
    ),
    ModelSpec(
        label="gpt-4.1",
        api_format="openai_chat",
        endpoint="/v1/chat/completions",
        stream_endpoint="/v1/chat/completions",
        token_name="prod-search",
        model_ratio=Decimal("1"),
        completion_ratio=Decimal("4"),
        cache_ratio=Decimal("0.25"),
        cache_creation_ratio=Decimal("0"),
        share=0.14,
        base_median=3000,
        base_sigma=0.7,
        cache_prob=0.4,
        cache_median=2048,
        write_prob=0.0,
        write_median=0,
        output_median=380,
        output_sigma=0.6,
        reasoning_prob=0.0,
        reasoning_lo=0.0,
        reasoning_hi=0.0,
        tokens_per_second=75,
        stream_prob=0.2,
        channel=12,
    ),
    ModelSpec(
        label="gpt-5.1",
        api_format="openai_responses",
        endpoint="/v1/responses",
        stream_endpoint="/v1/responses",
        token_name="prod-agents",
        model_ratio=Decimal("0.625"),
        completion_ratio=Decimal("8"),
        cache_ratio=Decimal("0.1"),
        cache_creation_ratio=Decimal("0"),
        share=0.16,
        base_median=5000,
        base_sigma=0.7,
        cache_prob=0.5,
        cache_median=8000,
        write_prob=0.0,
        write_median=0,
        output_median=1600,
        output_sigma=0.6,
        reasoning_prob=1.0,
        reasoning_lo=0.3,
        reasoning_hi=0.8,
        tokens_per_second=80,
        stream_prob=0.3,
        channel=19,
    ),
    ModelSpec(
        label="claude-sonnet-4-5",
        api_format="anthropic_messages",
        endpoint="/v1/messages",
        stream_endpoint="/v1/messages",
        token_name="prod-agents",
        model_ratio=Decimal("1.5"),
        completion_ratio=Decimal("5"),
        cache_ratio=Decimal("0.1"),
        cache_creation_ratio=Decimal("1.25"),
        share=0.18,
        base_median=1500,
        base_sigma=0.9,
        cache_prob=0.5,
        cache_median=8000,
        write_prob=0.25,
        write_median=4000,
        output_median=700,
        output_sigma=0.7,
        reasoning_prob=0.0,
        reasoning_lo=0.0,
        reasoning_hi=0.0,
        tokens_per_second=60,
        stream_prob=0.5,
        channel=23,
    ),
    ModelSpec(
        label="gemini-2.5-flash",
        api_format="gemini",
        endpoint="/v1beta/models/gemini-2.5-flash:generateContent",
        stream_endpoint="/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        token_name="prod-chat",
        model_ratio=Decimal("0.15"),
        completion_ratio=Decimal("8"),
        cache_ratio=Decimal("0.25"),
        cache_creation_ratio=Decimal("0"),
        share=0.16,
        base_median=1500,
        base_sigma=0.7,
        cache_prob=0.2,
        cache_median=2048,
        write_prob=0.0,
        write_median=0,
        output_median=600,
        output_sigma=0.7,
        reasoning_prob=0.7,
        reasoning_lo=0.3,
        reasoning_hi=0.7,
        tokens_per_second=160,
        stream_prob=0.3,
        channel=31,
    ),
)
MODEL_INDEX = {m.label: i for i, m in enumerate(MODELS)}
API_FORMATS = ("openai_chat", "openai_responses", "anthropic_messages", "gemini")

# Slow agent models whose non-streamed attempts hit the lowered client timeout.
TIMEOUT_MODELS = (MODEL_INDEX["gpt-5.1"], MODEL_INDEX["claude-sonnet-4-5"])
TIMEOUT_MODEL_P = (0.55, 0.45)
TINY_MODEL = MODEL_INDEX["gpt-4o-mini"]  # health-check pings that hit the 1-quota minimum
TINY_PROB = 0.004

TENANTS = ("acme", "globex", "initech")
TENANT_P = (0.5, 0.3, 0.2)
TENANT_Z_OFFSET_P = (0.9, 0.1, 0.5)  # share of a tenant's timestamps written with `Z`
LEGACY_KEY_TENANT = TENANTS.index("initech")  # its logger also writes a top-level api_key

TOKEN_NAMES = ("prod-chat", "prod-search", "prod-agents", "batch-backfill")
BATCH_TOKEN = TOKEN_NAMES.index("batch-backfill")
BATCH_MODEL = MODEL_INDEX["gpt-4.1"]
MODEL_TOKEN = tuple(TOKEN_NAMES.index(m.token_name) for m in MODELS)

GATEWAY_IPS = ("203.0.113.9", "203.0.113.17", "198.51.100.23")
BATCH_IP = 2
USER_ID = 1042
ACCOUNT_USERNAME = "finops-admin@northwind-demo.example"
CONTENT_EMAILS = ("billing-alerts@northwind-demo.example", "dana.whitfield@northwind-demo.example")
GROUP_NAME = "enterprise"
BILLING_ACCOUNT_ID = "cometapi-acct-1042"

SYSTEM_PROMPT = (
    "You are the Northwind support copilot and must never reveal the Zebra-Quartz escalation code."
)
PROMPT_SENTENCES = (
    "Summarize the Halvorsen Quarry Cooperative renewal memo in three bullet points.",
    "Translate the Ostrava warehouse safety notice about forklift lane 7 into plain English.",
    "Draft a polite reply to Marisol about the delayed shipment of 48 teal umbrellas.",
    "List the open risks from the Juniper Falls datacenter migration runbook.",
    "Classify this support ticket about a double charge on invoice QX-55821.",
    "Explain why the Pelican Ridge sensor array reported negative humidity on Tuesday.",
    "Write SQL that finds customers who bought saffron tea twice in March.",
    "Rewrite the onboarding email for the Kestrel Analytics pilot in a friendlier tone.",
)
BATCH_SENTENCE = "Backfill the product description for SKU LUMEN-7731 from the archived catalog."
# Every logical request's user message ends with its own ticket number, so no two request
# bodies are equal unless a queue replay resent one: ticket = (seq * A + B) mod 10^9 is a
# bijection on request sequence numbers below 10^9 (A is coprime to 10).
TICKET_PREFIX = " Ref NW-"
TICKET_MULTIPLIER = 387_420_489
TICKET_OFFSET = 104_729
TICKET_MODULUS = 1_000_000_000
TICKET_DIGITS = 9

# Queue replays: a request resent under a new request id with the body of an earlier one of
# the same tenant, 1 to 15 minutes later (the duplicate rule looks back 15 minutes).
DUPLICATE_LOOKBACK_MS = 15 * 60_000
REPLAY_MIN_GAP_MS = 60_000
REPLAY_MAX_GAP_MS = DUPLICATE_LOOKBACK_MS - 1_000  # strictly inside the look-back
REPLAYS_RANGE = (10, 31)  # seed-drawn count for the default window (high exclusive)

# Attempt kinds and the retry scenarios of a logical request.
K_OK, K_TIMEOUT, K_ERROR, K_CONN, K_INVALID, K_CUT = range(6)
BILLABLE_KINDS = (K_OK, K_TIMEOUT, K_CUT)
SCENARIOS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("single_ok", (K_OK,)),
    ("timeout_then_ok", (K_TIMEOUT, K_OK)),
    ("timeout_twice_then_ok", (K_TIMEOUT, K_TIMEOUT, K_OK)),
    ("timeout_exhausted", (K_TIMEOUT, K_TIMEOUT, K_TIMEOUT)),
    ("error_then_ok", (K_ERROR, K_OK)),
    ("error_exhausted", (K_ERROR, K_ERROR, K_ERROR)),
    ("connection_then_ok", (K_CONN, K_OK)),
    ("invalid_request", (K_INVALID,)),
    ("stream_cut", (K_CUT,)),
)
SCENARIO_NAMES = tuple(name for name, _ in SCENARIOS)
N_ATTEMPTS_BY_SCENARIO = tuple(len(kinds) for _, kinds in SCENARIOS)
TIMEOUT_SCENARIOS = tuple(i for i, (_, kinds) in enumerate(SCENARIOS) if K_TIMEOUT in kinds)
FAILED_SCENARIOS = tuple(i for i, (_, kinds) in enumerate(SCENARIOS) if kinds[-1] != K_OK)

# The checklist's example window counts.
DEFAULT_WINDOW_REQUESTS = 12_450
DEFAULT_WINDOW_RETRIED = 317
DEFAULT_WINDOW_FAILED = 42

ERROR_STATUSES = (429, 500, 503, 504, 524)
ERROR_STATUS_P = (0.5, 0.15, 0.15, 0.1, 0.1)
RETRYABLE_STATUSES = [429, 500, 503, 504, 524]
NON_RETRYABLE_STATUSES = [400, 401, 403]

STALE_CANDIDATES = (
    ("gpt-5.1", "output"),
    ("gpt-5.1", "input"),
    ("claude-sonnet-4-5", "output"),
    ("claude-sonnet-4-5", "input"),
    ("gpt-4.1", "output"),
)
STALE_FACTORS = ("0.7", "0.75", "0.8", "0.85", "0.9")
GROUP_RATIOS = ("0.75", "0.8", "0.85", "0.9")


# The ledger's column conventions (docs/attribution.md, step 4): per column its candidates,
# the first being the default on a tie; the same list a ledger sidecar is checked against.
LEDGER_CONVENTIONS: dict[str, tuple[str, ...]] = CONVENTIONS


@dataclass(frozen=True)
class LedgerConvention:
    """What each ledger column holds, in terms of the canonical quantities of the ledgered
    (final successful) attempts of a bucket: B input outside caches, R cache reads, W cache
    writes, O output incl. reasoning, Z its reasoning part, N their count, A every app
    attempt of the bucket's tenant and label.

    The demo's own ledger is the default: input B+R+W, cached R, output O, requests N.
    """

    input_tokens: str = "includes_cache_reads_and_writes"
    cached_tokens: str = "reads"
    output_tokens: str = "reasoning_once"
    request_count: str = "logical_requests"

    def __post_init__(self) -> None:
        for column, candidates in LEDGER_CONVENTIONS.items():
            value = getattr(self, column)
            if value not in candidates:
                raise ValueError(
                    f"ledger convention {column}={value!r}: expected one of {', '.join(candidates)}"
                )

    @classmethod
    def parse(cls, spec: str) -> LedgerConvention:
        """`input_tokens=excludes_cache,output_tokens=reasoning_twice` (any subset; the
        columns not named keep the default)."""
        values: dict[str, str] = {}
        for item in spec.split(","):
            if not item.strip():
                continue
            column, sep, value = item.partition("=")
            column, value = column.strip(), value.strip()
            if not sep or column not in LEDGER_CONVENTIONS:
                raise ValueError(
                    f"ledger convention {item.strip()!r}: expected COLUMN=VALUE with COLUMN one "
                    f"of {', '.join(LEDGER_CONVENTIONS)}"
                )
            if column in values:
                raise ValueError(f"ledger convention names {column} twice")
            values[column] = value
        return cls(**values)

    @classmethod
    def coerce(cls, value: LedgerConvention | Mapping[str, str] | str | None) -> LedgerConvention:
        if value is None:
            return cls()
        if isinstance(value, LedgerConvention):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        unknown = set(value) - set(LEDGER_CONVENTIONS)
        if unknown:
            raise ValueError(f"ledger convention: unknown columns {sorted(unknown)}")
        return cls(**dict(value))

    def as_dict(self) -> dict[str, str]:
        return {column: getattr(self, column) for column in LEDGER_CONVENTIONS}

    # The flags of docs/attribution.md's cause table.
    @property
    def input_includes_reads(self) -> bool:  # a
        return self.input_tokens in ("includes_cache_reads", "includes_cache_reads_and_writes")

    @property
    def input_includes_writes(self) -> bool:  # b
        return self.input_tokens in ("includes_cache_writes", "includes_cache_reads_and_writes")

    @property
    def cached_holds_reads(self) -> bool:  # c_r
        return self.cached_tokens in ("reads", "reads_and_writes")

    @property
    def cached_holds_writes(self) -> bool:  # c_w
        return self.cached_tokens == "reads_and_writes"

    @property
    def reasoning_factor(self) -> int:  # d: +1 twice, 0 once, -1 omitted
        return {"reasoning_once": 0, "reasoning_twice": 1, "reasoning_omitted": -1}[
            self.output_tokens
        ]

    @property
    def counts_attempts(self) -> bool:
        return self.request_count == "attempts"


DEFAULT_LEDGER_CONVENTION = LedgerConvention()


@dataclass(frozen=True)
class World:
    """The scenario for one seed: fixed facts plus every seed-drawn parameter."""

    seed: int
    attempts_requested: int | None
    incident: IncidentSpec
    traffic_start: datetime
    traffic_end: datetime
    hour_rate: float  # expected logical requests in an hour of weight 1
    window_requests: int
    window_scenario_counts: dict[str, int]
    group_ratio: Decimal
    stale_model: str
    stale_dimension: str
    stale_old_rate: Decimal
    change_at: datetime
    timeout_seconds: int
    old_timeout_seconds: int
    timeout_deploy_id: str
    adjustment_usd: Decimal
    correction_usd: Decimal
    batch_requests: int
    api_keys: dict[str, str] = field(default_factory=dict)
    queue_replays: int = 0  # window requests resent with an earlier request's body
    # How the ledger is written (none of these changes a random draw): its column
    # conventions, whether its sidecar declares them, whether the rate sheet prices cache
    # reads (`input_cache_read` at the verified rate).
    ledger_convention: LedgerConvention = DEFAULT_LEDGER_CONVENTION
    convention_declared: bool = False
    sheet_prices_cache_reads: bool = False
    # Skewed keys (the benchmark's worst case for joins on repeated keys): every app
    # request comes from one tenant, asks for one label and carries one templated prompt,
    # so a tenant's requests share a handful of payload hashes. Draws stay the same.
    skewed_keys: bool = False

    @property
    def change_at_ms(self) -> int:
        return int(self.change_at.timestamp()) * 1000

    @property
    def traffic_start_ms(self) -> int:
        return int(self.traffic_start.timestamp()) * 1000

    @property
    def traffic_hours(self) -> int:
        return int((self.traffic_end - self.traffic_start).total_seconds()) // 3600

    def hour_weight(self, hour_start: datetime) -> float:
        weight = HOURLY_WEIGHT[hour_start.hour]
        return weight * (WEEKEND_WEIGHT if hour_start.weekday() >= 5 else 1.0)

    def in_window(self, hour_start: datetime) -> bool:
        return self.incident.start <= hour_start < self.incident.end

    def scenario_probabilities(self, after_change: bool) -> npt.NDArray[np.float64]:
        """Scenario mix outside the window, in the proportions of the window's plan."""
        counts = np.array(
            [self.window_scenario_counts.get(n, 0) for n in SCENARIO_NAMES], dtype=np.float64
        )
        if counts.sum() == 0:
            counts = np.array(_default_plan_midpoints(), dtype=np.float64)
        if not after_change:
            moved = counts[list(TIMEOUT_SCENARIOS)].sum()
            counts[list(TIMEOUT_SCENARIOS)] = 0.0
            counts[0] += moved
        probabilities: npt.NDArray[np.float64] = counts / counts.sum()
        return probabilities


def _default_plan_midpoints() -> list[int]:
    plan = {
        "timeout_exhausted": 5,
        "error_exhausted": 7,
        "stream_cut": 14,
        "timeout_twice_then_ok": 25,
        "error_then_ok": 55,
        "connection_then_ok": 12,
    }
    plan["invalid_request"] = DEFAULT_WINDOW_FAILED - 5 - 7 - 14
    plan["timeout_then_ok"] = DEFAULT_WINDOW_RETRIED - 5 - 7 - 25 - 55 - 12
    plan["single_ok"] = (
        DEFAULT_WINDOW_REQUESTS - DEFAULT_WINDOW_RETRIED - 14 - plan["invalid_request"]
    )
    return [plan[n] for n in SCENARIO_NAMES]


def _window_plan(rng: np.random.Generator, window_requests: int) -> dict[str, int]:
    """Exact scenario counts for the logical requests first sent inside the window."""
    tf = int(rng.integers(3, 9))
    ef = int(rng.integers(4, 11))
    cut = int(rng.integers(10, 19))
    inv = DEFAULT_WINDOW_FAILED - tf - ef - cut
    t2 = int(rng.integers(15, 36))
    e1 = int(rng.integers(40, 71))
    c1 = int(rng.integers(8, 17))
    t1 = DEFAULT_WINDOW_RETRIED - tf - ef - t2 - e1 - c1
    plan = {
        "timeout_then_ok": t1,
        "timeout_twice_then_ok": t2,
        "timeout_exhausted": tf,
        "error_then_ok": e1,
        "error_exhausted": ef,
        "connection_then_ok": c1,
        "invalid_request": inv,
        "stream_cut": cut,
    }
    if window_requests != DEFAULT_WINDOW_REQUESTS:
        scale = window_requests / DEFAULT_WINDOW_REQUESTS
        plan = {k: round(v * scale) for k, v in plan.items()}
        while sum(plan.values()) > window_requests:  # tiny windows: shed the largest
            biggest = max(plan, key=lambda k: plan[k])
            plan[biggest] -= 1
    plan["single_ok"] = window_requests - sum(plan.values())
    return {n: plan[n] for n in SCENARIO_NAMES}


def _api_key(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "sk-" + "".join(alphabet[i] for i in rng.integers(0, len(alphabet), 40))


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def build_world(
    seed: int,
    attempts: int | None = None,
    start: datetime | None = None,
    days: int | None = None,
) -> World:
    """Draw the scenario for `seed`; `attempts`, `start` and `days` only shape the traffic."""
    if attempts is not None and attempts < 1:
        raise ValueError("attempts must be a positive number of app attempts")
    if days is not None and days < 1:
        raise ValueError("days must be at least 1")
    if start is not None and start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    incident = IncidentSpec()
    world_seq, key_seq = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(world_seq)

    # Traffic span: whole UTC hours, ending at the default end unless `start` is given.
    if days is not None:
        hours = 24 * days
    elif attempts is not None:
        hours = max(DEFAULT_TRAFFIC_HOURS, math.ceil(attempts / MAX_ATTEMPTS_PER_HOUR))
    else:
        hours = DEFAULT_TRAFFIC_HOURS
    if start is not None:
        traffic_start = _floor_hour(start)
    else:
        traffic_start = DEFAULT_TRAFFIC_END - timedelta(hours=hours)
    traffic_end = traffic_start + timedelta(hours=hours)

    weights = {
        h: HOURLY_WEIGHT[h.hour] * (WEEKEND_WEIGHT if h.weekday() >= 5 else 1.0)
        for h in (traffic_start + timedelta(hours=i) for i in range(hours))
    }
    window_weight = sum(w for h, w in weights.items() if incident.start <= h < incident.end)
    window_covered = traffic_start <= incident.start and incident.end <= traffic_end
    if attempts is None:
        default_window_weight = HOURLY_WEIGHT[8] + HOURLY_WEIGHT[9]
        hour_rate = DEFAULT_WINDOW_REQUESTS / default_window_weight
    else:
        hour_rate = attempts / MEAN_ATTEMPTS_PER_REQUEST / sum(weights.values())
    if window_covered and attempts is None:
        window_requests = DEFAULT_WINDOW_REQUESTS
    else:
        window_requests = round(hour_rate * window_weight)

    plan = _window_plan(rng, window_requests)
    group_ratio = Decimal(GROUP_RATIOS[int(rng.integers(0, len(GROUP_RATIOS)))])
    stale_model, stale_dimension = STALE_CANDIDATES[int(rng.integers(0, len(STALE_CANDIDATES)))]
    factor = Decimal(STALE_FACTORS[int(rng.integers(0, len(STALE_FACTORS)))])
    spec = MODELS[MODEL_INDEX[stale_model]]
    verified = spec.input_price if stale_dimension == "input" else spec.output_price
    stale_old_rate = (verified * factor).quantize(Decimal("0.001")).normalize()
    change_minute = int(rng.integers(50, 58))
    change_at = datetime(2026, 5, 11, 7, change_minute, tzinfo=UTC)
    deploy_id = f"deploy-{int(rng.integers(8800, 8900))}"
    adjustment = Decimal(int(rng.integers(150, 901))) / 100
    correction = -Decimal(int(rng.integers(100, 601))) / 100
    batch = int(rng.integers(180, 321))
    if window_requests != DEFAULT_WINDOW_REQUESTS:
        batch = round(batch * window_requests / DEFAULT_WINDOW_REQUESTS)
    if not window_covered:
        batch = 0
    # drawn last, so every parameter above is the same as before replays existed
    replays = int(rng.integers(*REPLAYS_RANGE))
    if window_requests != DEFAULT_WINDOW_REQUESTS:
        replays = round(replays * window_requests / DEFAULT_WINDOW_REQUESTS)
    if not window_covered:
        replays = 0

    key_rng = np.random.default_rng(key_seq)
    api_keys = {name: _api_key(key_rng) for name in TOKEN_NAMES}
    return World(
        seed=seed,
        attempts_requested=attempts,
        incident=incident,
        traffic_start=traffic_start,
        traffic_end=traffic_end,
        hour_rate=hour_rate,
        window_requests=window_requests if window_covered else 0,
        window_scenario_counts=plan if window_covered else {},
        group_ratio=group_ratio,
        stale_model=stale_model,
        stale_dimension=stale_dimension,
        stale_old_rate=stale_old_rate,
        change_at=change_at,
        timeout_seconds=15,
        old_timeout_seconds=60,
        timeout_deploy_id=deploy_id,
        adjustment_usd=adjustment,
        correction_usd=correction,
        batch_requests=batch,
        api_keys=api_keys,
        queue_replays=replays,
    )
