"""Vectorised generation of logical requests, their attempts, and the untracked batch job.

One call generates every logical request first sent in one UTC hour and expands it into
attempts (numpy only, no Python loop per row). The result is a polars frame with one
row per attempt holding the facts every writer and the ground truth need: timings in
epoch milliseconds, the attempt kind, the canonical billable dimensions the gateway
bills (`base` = input outside caches, `cache_read`, `cache_write`, `output`), and the
charged quota.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from cometrecon.demo.quota import QuotaTable
from cometrecon.demo.world import (
    BATCH_IP,
    BATCH_MODEL,
    BATCH_TOKEN,
    ERROR_STATUS_P,
    ERROR_STATUSES,
    K_CONN,
    K_CUT,
    K_ERROR,
    K_INVALID,
    K_OK,
    K_TIMEOUT,
    LEGACY_KEY_TENANT,
    MODEL_INDEX,
    MODEL_TOKEN,
    MODELS,
    MS_PER_HOUR,
    PROMPT_SENTENCES,
    SCENARIOS,
    TENANT_P,
    TENANT_Z_OFFSET_P,
    TENANTS,
    TICKET_MODULUS,
    TICKET_MULTIPLIER,
    TICKET_OFFSET,
    TIMEOUT_MODEL_P,
    TIMEOUT_MODELS,
    TIMEOUT_SCENARIOS,
    TINY_MODEL,
    TINY_PROB,
    World,
)

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

N_ATTEMPTS = np.array([len(kinds) for _, kinds in SCENARIOS], dtype=np.int64)
KIND_TABLE = np.array(
    [list(kinds) + [-1] * (3 - len(kinds)) for _, kinds in SCENARIOS], dtype=np.int8
)
SCENARIO_STREAM_CUT = [name for name, _ in SCENARIOS].index("stream_cut")
MAX_TOKENS = 200_000


def _model_param(name: str) -> F64:
    return np.array([float(getattr(m, name)) for m in MODELS], dtype=np.float64)


SHARE = _model_param("share") / _model_param("share").sum()
BASE_MEDIAN = _model_param("base_median")
BASE_SIGMA = _model_param("base_sigma")
CACHE_PROB = _model_param("cache_prob")
CACHE_MEDIAN = _model_param("cache_median")
WRITE_PROB = _model_param("write_prob")
WRITE_MEDIAN = _model_param("write_median")
OUTPUT_MEDIAN = _model_param("output_median")
OUTPUT_SIGMA = _model_param("output_sigma")
REASONING_PROB = _model_param("reasoning_prob")
REASONING_LO = _model_param("reasoning_lo")
REASONING_HI = _model_param("reasoning_hi")
TOKENS_PER_SECOND = np.array([int(m.tokens_per_second) for m in MODELS], dtype=np.int64)
STREAM_PROB = _model_param("stream_prob")
OPENAI_CACHE_BLOCKS = np.array(
    [m.api_format in ("openai_chat", "openai_responses") for m in MODELS], dtype=np.bool_
)
DEFAULT_MAX_OUTPUT = np.array(
    [4096 if m.api_format in ("anthropic_messages", "openai_responses") else 1024 for m in MODELS],
    dtype=np.int64,
)
MODEL_TOKEN_ARRAY = np.array(MODEL_TOKEN, dtype=np.int8)


def _lognormal(rng: np.random.Generator, median: F64, sigma: F64, lo: int, hi: int) -> I64:
    draw = rng.lognormal(np.log(np.maximum(median, 1.0)), sigma)
    return np.clip(np.round(draw), lo, hi).astype(np.int64)


def draw_scenarios(rng: np.random.Generator, world: World, first_sent: I64) -> npt.NDArray[np.int8]:
    """Scenario per logical request outside the window, from the window's mix."""
    after = first_sent >= world.change_at_ms
    cumulative_after = np.cumsum(world.scenario_probabilities(True))
    cumulative_before = np.cumsum(world.scenario_probabilities(False))
    u = rng.random(first_sent.size)
    pick_after = np.searchsorted(cumulative_after, u, side="right")
    pick_before = np.searchsorted(cumulative_before, u, side="right")
    chosen = np.where(after, pick_after, pick_before)
    return np.minimum(chosen, len(SCENARIOS) - 1).astype(np.int8)


def ticket_numbers(request_seq: I64) -> I64:
    """The ticket number each logical request's message carries: unique per request."""
    ticket: I64 = (request_seq * TICKET_MULTIPLIER + TICKET_OFFSET) % TICKET_MODULUS
    return ticket


def first_sent_times(rng: np.random.Generator, hour_start_ms: int, n: int) -> I64:
    return hour_start_ms + np.sort(rng.integers(0, MS_PER_HOUR, n)).astype(np.int64)


def _durations(ttft: I64, output: I64, tps: I64) -> I64:
    return ttft + (output * 1000) // tps


def generate_hour(
    rng: np.random.Generator,
    world: World,
    quota_table: QuotaTable,
    first_sent: I64,
    scenario: npt.NDArray[np.int8],
    request_seq0: int,
    attempt_seq0: int,
) -> pl.DataFrame:
    """All attempts of the logical requests whose first attempt is sent at `first_sent`."""
    n = first_sent.size
    timeout_ms = world.timeout_seconds * 1000

    model = rng.choice(len(MODELS), size=n, p=SHARE).astype(np.int8)
    tenant = rng.choice(len(TENANTS), size=n, p=np.array(TENANT_P)).astype(np.int8)
    stream = rng.random(n) < STREAM_PROB[model]
    times_out = np.isin(scenario, TIMEOUT_SCENARIOS)
    model[times_out] = rng.choice(
        np.array(TIMEOUT_MODELS), size=int(times_out.sum()), p=np.array(TIMEOUT_MODEL_P)
    ).astype(np.int8)
    stream[times_out] = False
    stream[scenario == SCENARIO_STREAM_CUT] = True
    tiny = (scenario == 0) & (model == TINY_MODEL) & (rng.random(n) < TINY_PROB)
    stream[tiny] = False

    base = _lognormal(rng, BASE_MEDIAN[model], BASE_SIGMA[model], 1, 120_000)
    cache = np.where(
        rng.random(n) < CACHE_PROB[model],
        _lognormal(rng, CACHE_MEDIAN[model], np.full(n, 0.5), 128, 150_000),
        0,
    )
    cache = np.where(OPENAI_CACHE_BLOCKS[model], (cache // 128) * 128, cache)
    write = np.where(
        rng.random(n) < WRITE_PROB[model],
        _lognormal(rng, WRITE_MEDIAN[model], np.full(n, 0.6), 1024, 60_000),
        0,
    )
    base = np.where(tiny, rng.integers(2, 4, n), base)
    cache = np.where(tiny, 0, cache)
    write = np.where(tiny, 0, write)
    sentence = rng.integers(0, len(PROMPT_SENTENCES), n).astype(np.int8)
    if world.skewed_keys:
        model[:] = MODEL_INDEX[world.stale_model]
        tenant[:] = 0
        sentence[:] = 0
    z_offset = rng.random(n) < np.array(TENANT_Z_OFFSET_P)[tenant]
    strict_cap = first_sent >= world.change_at_ms - 120_000

    # Expand logical requests into attempts.
    n_attempts = N_ATTEMPTS[scenario]
    rep = np.repeat(np.arange(n), n_attempts)
    total = rep.size
    group_start = np.cumsum(n_attempts) - n_attempts
    attempt = np.arange(total, dtype=np.int64) - group_start[rep] + 1
    kind = KIND_TABLE[scenario[rep], attempt - 1]
    m = model[rep]
    tps = TOKENS_PER_SECOND[m]
    is_stream = stream[rep]

    ttft = rng.integers(250, 1201, total).astype(np.int64)
    output = _lognormal(rng, OUTPUT_MEDIAN[m], OUTPUT_SIGMA[m], 1, 16_000)
    output = np.where(kind == K_CUT, np.minimum(output * 2, 16_000), output)
    output = np.where(tiny[rep], 1, output)
    duration = _durations(ttft, output, tps)
    # Non-streamed successes finish inside the client timeout in force when sent.
    cap = np.where(strict_cap[rep], timeout_ms - 500, 58_000)
    capped = (kind == K_OK) & ~is_stream & (duration > cap)
    output = np.where(capped, np.maximum(1, ((cap - ttft) * tps) // 1000), output)
    # Timed-out attempts ran on at the gateway past the client timeout, up to 60 s.
    target = rng.integers(timeout_ms + 300, 60_001, total)
    output = np.where(kind == K_TIMEOUT, np.maximum(1, ((target - ttft) * tps) // 1000), output)
    duration = _durations(ttft, output, tps)

    has_reasoning = rng.random(total) < REASONING_PROB[m]
    fraction = rng.uniform(REASONING_LO[m], REASONING_HI[m])
    reasoning = np.where(has_reasoning, np.floor(output * fraction), 0).astype(np.int64)

    net = rng.integers(5, 61, total)
    error_ms = rng.integers(150, 3001, total)
    invalid_ms = rng.integers(40, 251, total)
    conn_ms = rng.integers(20, 3001, total)
    cut_fraction = rng.uniform(0.15, 0.85, total)
    timeout_extra = rng.integers(0, 26, total)
    status_pick = rng.choice(np.array(ERROR_STATUSES), size=total, p=np.array(ERROR_STATUS_P))
    backoff = 1000 * (2 ** (attempt - 1)) + rng.integers(0, 1001, total)
    email = rng.random(total) < 0.015
    ip = rng.integers(0, 2, total)
    hexes = rng.integers(0, 65536, size=(total, 6))

    billable = (kind == K_OK) | (kind == K_TIMEOUT) | (kind == K_CUT)
    gateway_ms = np.select(
        [billable, kind == K_ERROR, kind == K_INVALID], [duration, error_ms, invalid_ms], -1
    ).astype(np.int64)
    app_ms = np.select(
        [
            kind == K_OK,
            kind == K_TIMEOUT,
            kind == K_CUT,
            kind == K_ERROR,
            kind == K_INVALID,
            kind == K_CONN,
        ],
        [
            duration + net,
            timeout_ms + timeout_extra,
            (duration * cut_fraction).astype(np.int64),
            error_ms + net,
            invalid_ms + net,
            conn_ms,
        ],
        0,
    ).astype(np.int64)
    step = app_ms + backoff
    cumulative = np.cumsum(step)
    before_group = (cumulative[group_start] - step[group_start])[rep]
    sent = first_sent[rep] + cumulative - step - before_group
    gateway_done = np.where(gateway_ms >= 0, sent + gateway_ms, -1)
    status = np.select(
        [(kind == K_OK) | (kind == K_CUT), kind == K_ERROR, kind == K_INVALID],
        [200, status_pick, 400],
        0,
    ).astype(np.int64)

    zero = np.zeros(total, dtype=np.int64)
    base_a = np.where(billable, base[rep], zero)
    cache_a = np.where(billable, cache[rep], zero)
    write_a = np.where(billable, write[rep], zero)
    output_a = np.where(billable, output, zero)
    reasoning_a = np.where(billable, reasoning, zero)
    quota, is_minimum = quota_table.quota(m, base_a, cache_a, write_a, output_a)
    quota = np.where(billable, quota, 0)
    is_minimum = is_minimum & billable

    frame = pl.DataFrame(
        {
            "seq": np.arange(attempt_seq0, attempt_seq0 + total, dtype=np.int64),
            "req_seq": (request_seq0 + rep).astype(np.int64),
            "attempt": attempt,
            "n_attempts": n_attempts[rep],
            "scenario": scenario[rep],
            "kind": kind,
            "model": m,
            "token": MODEL_TOKEN_ARRAY[m],
            "tenant": tenant[rep],
            "stream": is_stream,
            "sentence": sentence[rep],
            "ticket": (
                np.zeros(total, dtype=np.int64)
                if world.skewed_keys
                else ticket_numbers((request_seq0 + rep).astype(np.int64))
            ),
            "z_offset": z_offset[rep],
            "legacy_key": tenant[rep] == LEGACY_KEY_TENANT,
            "sent_ms": sent,
            "app_done_ms": sent + app_ms,
            "gw_done_ms": gateway_done,
            "status": status,
            "base": base_a,
            "cache_read": cache_a,
            "cache_write": write_a,
            "output": output_a,
            "reasoning": reasoning_a,
            "ttft_ms": ttft,
            "max_output": np.where(kind == K_INVALID, MAX_TOKENS, DEFAULT_MAX_OUTPUT[m]),
            "quota": quota,
            "is_minimum": is_minimum,
            "email": email,
            "ip": ip.astype(np.int8),
        }
    )
    return with_ids(frame, hexes)


def generate_batch(
    rng: np.random.Generator, world: World, quota_table: QuotaTable, seq0: int
) -> pl.DataFrame:
    """The untracked backfill job: billed by the gateway, absent from every app log."""
    n = world.batch_requests
    start = world.incident.start_ms + 15 * 60_000
    end = world.incident.end_ms - 25 * 60_000
    sent = np.sort(rng.integers(start, end, n)).astype(np.int64)
    model = np.full(n, BATCH_MODEL, dtype=np.int8)
    base = _lognormal(rng, np.full(n, 6000.0), np.full(n, 0.3), 500, 60_000)
    output = _lognormal(rng, np.full(n, 700.0), np.full(n, 0.4), 50, 8_000)
    ttft = rng.integers(250, 1201, n).astype(np.int64)
    duration = _durations(ttft, output, TOKENS_PER_SECOND[model])
    zero = np.zeros(n, dtype=np.int64)
    quota, is_minimum = quota_table.quota(model, base, zero, zero, output)
    frame = pl.DataFrame(
        {
            "seq": np.arange(seq0, seq0 + n, dtype=np.int64),
            "req_seq": np.full(n, -1, dtype=np.int64),
            "attempt": np.ones(n, dtype=np.int64),
            "n_attempts": np.ones(n, dtype=np.int64),
            "scenario": np.zeros(n, dtype=np.int8),
            "kind": np.full(n, K_OK, dtype=np.int8),
            "model": model,
            "token": np.full(n, BATCH_TOKEN, dtype=np.int8),
            "tenant": np.full(n, -1, dtype=np.int8),
            "stream": np.zeros(n, dtype=np.bool_),
            "sentence": np.zeros(n, dtype=np.int8),
            "ticket": np.zeros(n, dtype=np.int64),
            "z_offset": np.ones(n, dtype=np.bool_),
            "legacy_key": np.zeros(n, dtype=np.bool_),
            "sent_ms": sent,
            "app_done_ms": sent + duration,
            "gw_done_ms": sent + duration,
            "status": np.full(n, 200, dtype=np.int64),
            "base": base,
            "cache_read": zero,
            "cache_write": zero,
            "output": output,
            "reasoning": zero,
            "ttft_ms": ttft,
            "max_output": np.full(n, 1024, dtype=np.int64),
            "quota": quota,
            "is_minimum": is_minimum,
            "email": np.zeros(n, dtype=np.bool_),
            "ip": np.full(n, BATCH_IP, dtype=np.int8),
        }
    )
    return with_ids(frame, rng.integers(0, 65536, size=(n, 6)))


_HEX4 = pl.Series("hex4", [f"{i:04x}" for i in range(65536)], dtype=pl.String)


def _hex(matrix: npt.NDArray[np.int64], columns: range) -> pl.Series:
    parts = [_HEX4.gather(matrix[:, c]) for c in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + part
    return joined


def with_ids(frame: pl.DataFrame, hexes: npt.NDArray[np.int64]) -> pl.DataFrame:
    """Add the X-Cometapi-Request-Id (`rid`, null when no gateway response) and response id."""
    sent = pl.from_epoch(pl.col("sent_ms"), time_unit="ms")
    rid = pl.concat_str(
        [
            sent.dt.strftime("%Y%m%d%H%M%S"),
            (pl.col("sent_ms") % 1000).cast(pl.String).str.zfill(3),
            pl.col("seq").cast(pl.String).str.zfill(10),
            pl.col("rid_hex"),
        ]
    )
    return (
        frame.with_columns(rid_hex=_hex(hexes, range(0, 2)), resp_hex=_hex(hexes, range(2, 6)))
        .with_columns(
            rid=pl.when(pl.col("kind") == K_CONN)
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(rid),
            created_at=pl.when(pl.col("gw_done_ms") >= 0)
            .then(pl.col("gw_done_ms") // 1000)
            .otherwise(pl.lit(None, dtype=pl.Int64)),
        )
        .drop("rid_hex")
    )
