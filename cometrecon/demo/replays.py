"""Queue replays: window requests resent with the exact body of an earlier request.

A client queue that replays a message sends it again under a new request id. The demo
plants a seed-drawn number of them (`World.queue_replays`) without adding a request, so
every count, token and charge stays as it was: it picks existing single-attempt
successful requests first sent inside the incident window and gives each the body of an
earlier request of the same tenant, first sent 1 to 15 minutes before it, with the same
model (hence API format), stream flag and max output, so the body can be copied exactly
(its prompt sentence and ticket number). The first replay of the window resends a
request first sent just before the window opens, so the look-back crosses the edge.

Requests are generated in time order, chunk by chunk; a look-back of the last 15 minutes
of logical requests (a few small columns per request) carries partners across chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from cometrecon.demo.world import (
    DUPLICATE_LOOKBACK_MS,
    REPLAY_MAX_GAP_MS,
    REPLAY_MIN_GAP_MS,
    SCENARIO_NAMES,
    World,
)

SINGLE_OK = SCENARIO_NAMES.index("single_ok")
# What the body is made of besides the message: equal keys make the body copyable.
BODY_KEY = ("tenant", "model", "stream", "max_output")
CANDIDATE_SLACK = 16  # extra candidates drawn beyond 4 per replay, for conflicts
PAIR_SCHEMA = {"request_seq": pl.Int64, "replay_of_seq": pl.Int64, "gap_ms": pl.Int64}
RECENT_SCHEMA = {
    "req_seq": pl.Int64,
    "first_sent": pl.Int64,
    "tenant": pl.Int8,
    "model": pl.Int8,
    "stream": pl.Boolean,
    "max_output": pl.Int64,
    "sentence": pl.Int8,
    "ticket": pl.Int64,
    "used": pl.Boolean,
}


def _hour_ms(hour_start: datetime) -> int:
    return int(hour_start.timestamp()) * 1000


@dataclass
class QueueReplays:
    """Places the window's replays chunk by chunk; `pairs` lists what it placed."""

    world: World
    rng: np.random.Generator
    hour_quota: dict[int, int]  # window hour start (ms) -> replays still to place in it
    straddle_pending: bool = True
    recent: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=RECENT_SCHEMA))
    placed: list[pl.DataFrame] = field(default_factory=list)

    @classmethod
    def plan(cls, world: World, seed: int, window_split: dict[datetime, int]) -> QueueReplays:
        """Split `world.queue_replays` over the window hours in proportion to their requests."""
        rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
        hours = sorted(window_split)
        counts = np.array([window_split[h] for h in hours], dtype=np.float64)
        quota: dict[int, int] = {}
        if world.queue_replays and counts.sum() > 0:
            split = rng.multinomial(world.queue_replays, counts / counts.sum())
            quota = {_hour_ms(h): int(k) for h, k in zip(hours, split, strict=True)}
        return cls(world=world, rng=rng, hour_quota=quota)

    @property
    def pairs(self) -> pl.DataFrame:
        """(request_seq, replay_of_seq, gap_ms) of every replay placed, in placing order."""
        if not self.placed:
            return pl.DataFrame(schema=PAIR_SCHEMA)
        return pl.concat(self.placed)

    def apply(self, frame: pl.DataFrame, hour_ms: int, requests_left: int) -> pl.DataFrame:
        """Give this chunk's replays their partners' bodies; `requests_left` counts this chunk."""
        if hour_ms >= self.world.incident.end_ms:
            return frame
        requests = frame.filter((pl.col("attempt") == 1) & (pl.col("tenant") >= 0)).select(
            "req_seq",
            "scenario",
            pl.col("sent_ms").alias("first_sent"),
            *BODY_KEY,
            "sentence",
            "ticket",
            used=pl.lit(False),
        )
        pool = pl.concat([self.recent, requests.drop("scenario")])
        left = self.hour_quota.get(hour_ms, 0)
        k = 0
        if left and requests.height:
            share = min(1.0, requests.height / max(requests_left, 1))
            k = left if share >= 1.0 else int(self.rng.binomial(left, share))
            self.hour_quota[hour_ms] = left - k
        if k:
            wanted = k
            start = self.world.incident.start_ms
            candidates = requests.filter(
                (pl.col("scenario") == SINGLE_OK)
                & (pl.col("first_sent") >= start)
                & (pl.col("first_sent") < self.world.incident.end_ms)
            ).drop("scenario")
            chosen: list[pl.DataFrame] = []
            if self.straddle_pending:
                self.straddle_pending = False
                early = candidates.filter(pl.col("first_sent") < start + REPLAY_MAX_GAP_MS)
                first = self._pick(pool, early, 1, partner_before=start)
                chosen.append(first)
                pool = _mark_used(pool, first)
                k -= first.height
            if k:
                used = pool.filter(pl.col("used")).select("req_seq")
                rest = candidates.join(used, on="req_seq", how="anti").sort("req_seq")
                picked = self._pick(pool, rest, k, partner_before=None)
                chosen.append(picked)
                pool = _mark_used(pool, picked)
            pairs = pl.concat(chosen)
            # too few candidates here (tiny windows): a later chunk of the hour may place them
            self.hour_quota[hour_ms] += wanted - pairs.height
            frame = _copy_bodies(frame, pairs)
            self.placed.append(
                pairs.select(
                    request_seq="req_seq", replay_of_seq="req_seq_p", gap_ms="gap_ms"
                ).cast(pl.Int64)  # every pair column is Int64
            )
        newest = pool["first_sent"].max()
        if isinstance(newest, int):
            pool = pool.filter(pl.col("first_sent") >= newest - DUPLICATE_LOOKBACK_MS)
        self.recent = pool
        return frame

    def _pick(
        self, pool: pl.DataFrame, candidates: pl.DataFrame, k: int, partner_before: int | None
    ) -> pl.DataFrame:
        """Up to `k` (replay, partner) pairs: distinct partners, no replay is a partner."""
        m = min(candidates.height, 4 * k + CANDIDATE_SLACK)
        order = self.rng.permutation(candidates.height)[:m]
        sample = candidates[order].with_columns(rank=pl.int_range(0, m, dtype=pl.Int64))
        gap = pl.col("first_sent") - pl.col("first_sent_p")
        in_range = (gap >= REPLAY_MIN_GAP_MS) & (gap <= REPLAY_MAX_GAP_MS)
        if partner_before is not None:
            in_range = in_range & (pl.col("first_sent_p") < partner_before)
        matches = (
            sample.drop("used")
            .join(pool.filter(~pl.col("used")).drop("used"), on=list(BODY_KEY), suffix="_p")
            .filter(in_range)
            .with_columns(gap_ms=gap)
            .sort("rank", "req_seq_p")
        )
        matches = (
            matches.with_columns(u=pl.Series(self.rng.random(matches.height)))
            .sort("rank", "u")
            .unique("rank", keep="first", maintain_order=True)
            .unique("req_seq_p", keep="first", maintain_order=True)
        )
        partners = matches.select(req_seq=pl.col("req_seq_p"))
        return (
            matches.join(partners, on="req_seq", how="anti")
            .sort("rank")
            .head(k)
            .select("req_seq", "req_seq_p", "sentence_p", "ticket_p", "gap_ms")
        )


def _mark_used(pool: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    taken = pl.concat([pairs["req_seq"], pairs["req_seq_p"]])
    return pool.with_columns(used=pl.col("used") | pl.col("req_seq").is_in(taken.implode()))


def _copy_bodies(frame: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Every attempt of each replay carries its partner's sentence and ticket."""
    if pairs.height == 0:
        return frame
    seq = pl.col("req_seq")
    replays = pairs["req_seq"].to_list()
    return frame.with_columns(
        sentence=seq.replace_strict(
            replays, pairs["sentence_p"].to_list(), default=pl.col("sentence"), return_dtype=pl.Int8
        ),
        ticket=seq.replace_strict(
            replays, pairs["ticket_p"].to_list(), default=pl.col("ticket"), return_dtype=pl.Int64
        ),
    )
