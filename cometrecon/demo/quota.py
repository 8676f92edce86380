"""The new-api text quota formula, exactly, in integers (per row) and Decimal (sums).

quota = round_half_away_from_zero(
    (base + cache_tokens × cache_ratio + cache_creation_tokens × cache_creation_ratio
     + completion_tokens × completion_ratio) × model_ratio × group_ratio)
with a minimum of 1 quota when the result is ≤ 0 (the ratios are never 0 here).
`base` is the input outside any cache: prompt − cache − cache_creation for OpenAI
semantics, prompt itself for `usage_semantic = "anthropic"`; both equal the canonical
`input` dimension, which is what the generator stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from cometrecon.demo.world import (
    GROUP_RATIO_SCALE,
    MODEL_RATIO_SCALE,
    MODELS,
    QUOTA_PER_USD,
    WEIGHT_SCALE,
    ModelSpec,
)

I64 = npt.NDArray[np.int64]
DENOMINATOR = WEIGHT_SCALE * MODEL_RATIO_SCALE * GROUP_RATIO_SCALE
TOKENS_PER_MILLION = Decimal(1_000_000)


def _scaled(value: Decimal, scale: int, what: str) -> int:
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value} is not exact at scale {scale}")
    return int(scaled)


@dataclass(frozen=True)
class QuotaTable:
    """Per-model integer ratios for vectorised exact quota."""

    model_ratio: I64
    completion: I64
    cache: I64
    cache_creation: I64
    group: int

    @classmethod
    def build(cls, group_ratio: Decimal) -> QuotaTable:
        def column(values: list[int]) -> I64:
            return np.array(values, dtype=np.int64)

        return cls(
            model_ratio=column(
                [_scaled(m.model_ratio, MODEL_RATIO_SCALE, "model_ratio") for m in MODELS]
            ),
            completion=column(
                [_scaled(m.completion_ratio, WEIGHT_SCALE, "completion_ratio") for m in MODELS]
            ),
            cache=column([_scaled(m.cache_ratio, WEIGHT_SCALE, "cache_ratio") for m in MODELS]),
            cache_creation=column(
                [
                    _scaled(m.cache_creation_ratio, WEIGHT_SCALE, "cache_creation_ratio")
                    for m in MODELS
                ]
            ),
            group=_scaled(group_ratio, GROUP_RATIO_SCALE, "group_ratio"),
        )

    def quota(
        self, model: npt.NDArray[np.int8], base: I64, cache: I64, write: I64, output: I64
    ) -> tuple[I64, npt.NDArray[np.bool_]]:
        """Charged quota per row and whether the row hit the 1-quota minimum."""
        weighted = (
            base * WEIGHT_SCALE
            + cache * self.cache[model]
            + write * self.cache_creation[model]
            + output * self.completion[model]
        )
        numerator = weighted * self.model_ratio[model] * self.group
        if numerator.size and int(numerator.max()) > (1 << 61):
            raise OverflowError("token counts too large for exact integer quota")
        rounded = (2 * numerator + DENOMINATOR) // (2 * DENOMINATOR)  # half away from zero (≥ 0)
        is_minimum = rounded <= 0
        return np.where(is_minimum, 1, rounded).astype(np.int64), is_minimum


def exact_quota(
    spec: ModelSpec, group_ratio: Decimal, base: int, cache: int, write: int, output: int
) -> Decimal:
    """Unrounded quota of token totals (linear, so it also sums rows exactly)."""
    weighted = (
        base
        + cache * spec.cache_ratio
        + write * spec.cache_creation_ratio
        + output * spec.completion_ratio
    )
    return weighted * spec.model_ratio * group_ratio


def list_cost(spec: ModelSpec, base: int, cache: int, write: int, output: int) -> Decimal:
    """USD at verified list prices (USD per 1M tokens) of token totals per dimension."""
    micro = (
        base * spec.input_price
        + cache * spec.cache_read_price
        + write * spec.cache_write_price
        + output * spec.output_price
    )
    return micro / TOKENS_PER_MILLION


def usd_from_quota(quota: int | Decimal) -> Decimal:
    return Decimal(quota) / QUOTA_PER_USD
