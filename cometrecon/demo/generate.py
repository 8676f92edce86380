"""Write a demo landing folder and its ground truth, hour by hour with bounded memory."""

from __future__ import annotations

import contextlib
import gzip
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl

from cometrecon.demo.app_writer import logical_request_id, write_app_lines
from cometrecon.demo.attempts import (
    draw_scenarios,
    first_sent_times,
    generate_batch,
    generate_hour,
)
from cometrecon.demo.billing_writer import (
    BillingAccumulator,
    focus_rows,
    write_balance,
    write_billing_usage,
    write_focus,
)
from cometrecon.demo.checklist import ChecklistAccumulator, checklist_truth
from cometrecon.demo.gateway_writer import (
    SHAPE_CLI,
    SHAPE_CSV,
    SHAPE_PAGE,
    gateway_rows,
    write_gateway_hour,
)
from cometrecon.demo.ground_truth import GroundTruthAccumulator, compute
from cometrecon.demo.jsontext import dumps
from cometrecon.demo.ledger import finalize, ledger_part, write_ledger
from cometrecon.demo.quota import QuotaTable
from cometrecon.demo.replays import QueueReplays
from cometrecon.demo.static_writers import (
    write_changes,
    write_contract,
    write_incident,
    write_pricing,
)
from cometrecon.demo.world import (
    MS_PER_HOUR,
    SCENARIO_NAMES,
    LedgerConvention,
    World,
    build_world,
)

BATCH_SEQ0 = 9_000_000_000  # gateway sequence numbers of the untracked job
CHUNK_REQUESTS = 40_000  # logical requests generated at once (bounds memory at any rate)


@dataclass(frozen=True)
class DemoSummary:
    """What `write_demo` wrote."""

    out_dir: Path
    landing_dir: Path
    ground_truth_path: Path
    seed: int
    logical_requests: int
    app_attempts: int
    gateway_rows: int
    window_logical_requests: int
    forecast_usd: Decimal
    billed_usd: Decimal
    files: int


def gateway_shape(world: World, hour_start: datetime) -> str:
    """Page JSON by default; one in-window hour as a CSV export; CLI records after the buffer."""
    incident = world.incident
    if hour_start >= incident.end + timedelta(minutes=incident.buffer_minutes):
        return SHAPE_CLI
    if hour_start == incident.start + timedelta(hours=1):
        return SHAPE_CSV
    return SHAPE_PAGE


class _GatewayFlusher:
    """Holds gateway rows until their `created_at` hour is complete, then writes it."""

    def __init__(self, landing: Path, world: World, billing: BillingAccumulator) -> None:
        self.directory = landing / "gateway_logs"
        self.world = world
        self.billing = billing
        self.pending: list[pl.DataFrame] = []
        self.next_id = 0
        self.rows_written = 0

    def add(self, rows: pl.DataFrame) -> None:
        if rows.height:
            self.pending.append(rows)

    def flush_through(self, hour_index: int | None) -> None:
        """Write every complete hour up to and including `hour_index` (None: all)."""
        if not self.pending:
            return
        pending = pl.concat(self.pending)
        hour_of = pl.col("created_at") // 3600
        ready = pending if hour_index is None else pending.filter(hour_of <= hour_index)
        rest = pending.filter(hour_of > hour_index) if hour_index is not None else None
        self.pending = [rest] if rest is not None and rest.height else []
        if ready.height == 0:
            return
        hours: list[int] = sorted((ready["created_at"] // 3600).unique().to_list())
        for hour in hours:
            hour_start = datetime.fromtimestamp(hour * 3600, tz=UTC)
            body = ready.filter(hour_of == hour)
            write_gateway_hour(
                self.directory,
                hour_start,
                body,
                gateway_shape(self.world, hour_start),
                self.next_id,
                self.world,
            )
            self.billing.add_hour(hour_start, body)
            self.next_id += body.height
            self.rows_written += body.height


def write_demo(
    out_dir: Path,
    seed: int = 42,
    attempts: int | None = None,
    *,
    start: datetime | None = None,
    days: int | None = None,
    ledger_convention: LedgerConvention | Mapping[str, str] | str | None = None,
    declare_convention: bool = False,
    sheet_prices_cache_reads: bool = False,
    skewed_keys: bool = False,
) -> DemoSummary:
    """Write `out_dir/landing/<stream>/...` and `out_dir/ground_truth.json`.

    Deterministic for (seed, attempts, start, days). `attempts=None` writes the
    checklist's example incident (12,450 logical requests in the window); `attempts=N`
    writes about N app attempts, spread over more hours when N is large. An existing
    `out_dir/landing` is replaced.

    `ledger_convention` says what each ledger column holds (a `LedgerConvention`, a
    mapping or `input_tokens=excludes_cache,...`; columns not named keep the demo's
    default), `declare_convention` writes it into the ledger's sidecar, and
    `sheet_prices_cache_reads` adds an `input_cache_read` row per model to the rate sheet
    at the verified rate. None of them changes any other file or random draw.
    `skewed_keys` sends every app request from one tenant, for one label, with one
    templated prompt (the benchmark's skewed case; the ground truth is not checked there).
    """
    convention = LedgerConvention.coerce(ledger_convention)
    out_dir = Path(out_dir)
    landing = out_dir / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    landing.mkdir(parents=True)
    world = replace(
        build_world(seed, attempts, start, days),
        ledger_convention=convention,
        convention_declared=declare_convention,
        sheet_prices_cache_reads=sheet_prices_cache_reads,
        skewed_keys=skewed_keys,
    )
    quota_table = QuotaTable.build(world.group_ratio)
    traffic_rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    batch_rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))

    write_incident(landing, world)
    write_changes(landing, world)
    write_contract(landing)
    write_pricing(landing, world)

    accumulator = GroundTruthAccumulator(world)
    checklist = ChecklistAccumulator(world)
    billing = BillingAccumulator()
    flusher = _GatewayFlusher(landing, world, billing)
    ledger_parts: list[pl.DataFrame] = []

    if world.batch_requests:
        batch = generate_batch(batch_rng, world, quota_table, BATCH_SEQ0)
        accumulator.add_attempts(batch)
        checklist.add_attempts(batch)
        flusher.add(gateway_rows(batch))

    hours = [world.traffic_start + timedelta(hours=i) for i in range(world.traffic_hours)]
    window = [h for h in hours if world.in_window(h)]
    plan = np.zeros(0, dtype=np.int8)
    window_split: dict[datetime, int] = {}
    if world.window_requests and window:
        counts = [world.window_scenario_counts[name] for name in SCENARIO_NAMES]
        plan = traffic_rng.permutation(
            np.repeat(np.arange(len(SCENARIO_NAMES), dtype=np.int8), counts)
        )
        weights = np.array([world.hour_weight(h) for h in window])
        split = traffic_rng.multinomial(world.window_requests, weights / weights.sum())
        window_split = {h: int(n) for h, n in zip(window, split, strict=True)}
    replays = QueueReplays.plan(world, seed, window_split)

    request_seq = attempt_seq = 0
    plan_offset = 0
    for hour_start in hours:
        hour_ms = int(hour_start.timestamp()) * 1000
        if hour_start in window_split:
            n = window_split[hour_start]
            first_sent = first_sent_times(traffic_rng, hour_ms, n)
            scenario = plan[plan_offset : plan_offset + n]
            plan_offset += n
        else:
            n = int(traffic_rng.poisson(world.hour_rate * world.hour_weight(hour_start)))
            first_sent = first_sent_times(traffic_rng, hour_ms, n)
            scenario = draw_scenarios(traffic_rng, world, first_sent)
        accumulator.add_logical(world.in_window(hour_start), scenario)
        if n:
            # the first hour is gzip'd, as operators often ship rotated logs
            compressed = hour_start == hours[0]
            app_path = (
                landing
                / "app_requests"
                / (f"app_requests_{hour_start:%Y-%m-%dT%H}.jsonl" + (".gz" if compressed else ""))
            )
            app_path.parent.mkdir(parents=True, exist_ok=True)
            with (
                app_path.open("wb") as raw_handle,
                (
                    gzip.GzipFile(filename="", fileobj=raw_handle, mode="wb", mtime=0)
                    if compressed
                    else contextlib.nullcontext(raw_handle)
                ) as handle,
            ):
                for lo in range(0, n, CHUNK_REQUESTS):
                    frame = generate_hour(
                        traffic_rng,
                        world,
                        quota_table,
                        first_sent[lo : lo + CHUNK_REQUESTS],
                        scenario[lo : lo + CHUNK_REQUESTS],
                        request_seq,
                        attempt_seq,
                    )
                    frame = replays.apply(frame, hour_ms, n - lo)
                    request_seq += min(CHUNK_REQUESTS, n - lo)
                    attempt_seq += frame.height
                    write_app_lines(handle, frame, world)
                    accumulator.add_attempts(frame)
                    checklist.add_attempts(frame)
                    ledger_parts.append(ledger_part(frame))
                    flusher.add(gateway_rows(frame))
        flusher.flush_through(hour_ms // MS_PER_HOUR)
    flusher.flush_through(None)

    ledger = finalize(ledger_parts, world)
    write_ledger(landing, ledger, world)
    focus = focus_rows(world, billing)
    write_focus(landing, world, focus)
    write_balance(landing, billing)
    write_billing_usage(landing, billing)

    truth = compute(world, accumulator, ledger, focus)
    truth_counts, attribution = truth["counts"], truth["attribution"]
    injected = truth["injected"]
    assert isinstance(truth_counts, dict) and isinstance(attribution, list)
    assert isinstance(injected, dict)
    pairs = replays.pairs
    injected["queue_replays"] = {
        "planned": world.queue_replays,
        "count": pairs.height,
        "rule": (
            "a later logical request of the same tenant whose first attempt's request body "
            "equals an earlier request's, first sent at most 15 minutes after it"
        ),
        "pairs": pairs.select(
            request_id=logical_request_id(pl.col("request_seq"), world),
            replay_of=logical_request_id(pl.col("replay_of_seq"), world),
            gap_ms="gap_ms",
        ).to_dicts(),
    }
    injected["scheduled_job_token_names"] = checklist.job_token_names()
    truth.update(checklist_truth(world, checklist, truth_counts, attribution, focus, pairs))
    files = sorted(p for p in landing.rglob("*") if p.is_file())
    truth["landing_files"] = [
        {"path": p.relative_to(landing).as_posix(), "bytes": p.stat().st_size} for p in files
    ]
    ground_truth_path = out_dir / "ground_truth.json"
    ground_truth_path.write_text(dumps(truth), encoding="utf-8")

    paths = truth["paths"]
    assert isinstance(paths, dict)
    return DemoSummary(
        out_dir=out_dir,
        landing_dir=landing,
        ground_truth_path=ground_truth_path,
        seed=seed,
        logical_requests=accumulator.logical_total,
        app_attempts=attempt_seq,
        gateway_rows=flusher.rows_written,
        window_logical_requests=sum(accumulator.window_scenarios.values()),
        forecast_usd=Decimal(paths["forecast"]),
        billed_usd=Decimal(paths["billed"]),
        files=len(files),
    )
